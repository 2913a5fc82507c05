package argotools

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// argoInstanceID is the instance id Argo's reference controller runs with: it acts only on
// rollouts labelled with it, and Vane's controller (started without one) leaves those alone.
const argoInstanceID = "argo-reference"

// argoBinary returns one of Argo Rollouts' binaries; a missing one fails the test.
func argoBinary(t *testing.T, env *testenv.Env, name string) string {
	t.Helper()
	bin := filepath.Join(env.ArgoToolsDir(t), name)
	if fi, err := os.Stat(bin); err != nil || fi.Size() == 0 || fi.Mode()&0o111 == 0 {
		t.Fatalf("Argo Rollouts' %s is missing (%s); build it with `make argo-tools`", name, bin)
	}
	return bin
}

// startArgoController runs Argo Rollouts' own controller (v1.10.1) for namespace ns until the
// test ends, and returns the labels that hand a rollout to it.
func startArgoController(t *testing.T, env *testenv.Env, ns string) map[string]string {
	t.Helper()
	bin := argoBinary(t, env, "rollouts-controller")
	logf, err := os.CreateTemp("", "argotools-argo-controller-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--kubeconfig", env.Kubeconfig, "--namespaced", "--namespace", ns,
		"--instance-id", argoInstanceID, "--leader-elect=false",
		"--metricsPort", strconv.Itoa(freePort(t)), "--healthzPort", strconv.Itoa(freePort(t)),
		"--loglevel", "info", "--logformat", "text")
	cmd.Env = append(os.Environ(), "POD_NAMESPACE="+ns)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Argo's controller: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			t.Logf("Argo's controller log kept in %s", logf.Name())
			return
		}
		_ = os.Remove(logf.Name())
	})
	return map[string]string{v1alpha1.InstanceIDLabel: argoInstanceID}
}

// freePort returns a loopback TCP port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
