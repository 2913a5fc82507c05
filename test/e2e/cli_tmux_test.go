package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vanedev/vane/internal/localcluster"
)

// TestCLIGetWatchInTerminal runs `vane get rollout -w` in a real terminal (tmux) and reads the
// screen while the rollout steps: it is redrawn in place (one frame on screen), and follows the
// rollout from the pause at 20% to the one at 50%.
func TestCLIGetWatchInTerminal(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Fatal("tmux is needed for this test: install it with hack/deps.sh")
	}
	cli, env, ns := newCLI(t)
	newSimpleRollout(t, env, ns, nil)
	session := "vane-e2e-" + ns
	socket := "-L" + session // a private tmux server
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(tmux, append([]string{socket}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	command := fmt.Sprintf("%s --kubeconfig %s -n %s get rollout app -w", cli.bin, env.Kubeconfig, ns)
	run("new-session", "-d", "-s", session, "-x", "160", "-y", "60", command)
	t.Cleanup(func() { _ = exec.Command(tmux, socket, "kill-server").Run() })
	screen := func() string { return run("capture-pane", "-p", "-t", session) }
	waitScreen := func(what string, want ...string) string {
		t.Helper()
		var s string
		for deadline := time.Now().Add(waitLong); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			s = screen()
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(s, w)
			}
			if ok {
				return s
			}
		}
		t.Fatalf("screen never showed %s; last screen:\n%s", what, s)
		return ""
	}
	waitScreen("the healthy rollout", "Status:          ✔ Healthy", "app:1 (stable)")
	cli.ok("image updated", "set", "image", "app", "*=app:2")
	waitScreen("the pause at 20%", "Status:          ॥ Paused", "Step:          1/4", "app:2 (canary)")
	cli.ok("promoted", "promote", "app")
	s := waitScreen("the pause at 50%", "Step:          3/4", "SetWeight:     50")
	if n := strings.Count(s, "Namespace:"); n != 1 {
		t.Errorf("the watch appended frames instead of redrawing: %d headers on screen:\n%s", n, s)
	}
}

// TestCLIAsKubectlPlugin: installed as kubectl-vane on PATH, `kubectl vane ...` works with
// kubectl's own flags.
func TestCLIAsKubectlPlugin(t *testing.T) {
	cli, env, ns := newCLI(t)
	newSimpleRollout(t, env, ns, nil)
	dir := t.TempDir()
	if err := os.Symlink(cli.bin, filepath.Join(dir, "kubectl-vane")); err != nil {
		t.Fatal(err)
	}
	bin, err := localcluster.DefaultBinDir(env.RepoRoot)
	if err != nil {
		t.Fatal(err)
	}
	// kubectl passes everything after the plugin name to the plugin (flags may not come before it)
	kubectl := exec.Command(filepath.Join(bin, "kubectl"), "vane", "pause", "app", "--kubeconfig", env.Kubeconfig, "-n", ns)
	kubectl.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := kubectl.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "rollout 'app' paused") {
		t.Fatalf("kubectl vane pause app: %v\n%s", err, out)
	}
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: anyStep, Message: "manually paused"})
	help, _ := exec.Command(filepath.Join(dir, "kubectl-vane"), "--help").CombinedOutput()
	if !strings.Contains(string(help), "kubectl vane [command]") {
		t.Errorf("help of kubectl-vane does not say kubectl vane:\n%s", help)
	}
}
