package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// vaneCLI runs the vane binary with the test cluster's kubeconfig and namespace.
type vaneCLI struct {
	t   *testing.T
	bin string
	env *testenv.Env
	ns  string
}

// run returns stdout+stderr and the exit code.
func (c vaneCLI) run(args ...string) (string, int) {
	c.t.Helper()
	full := append([]string{"--kubeconfig", c.env.Kubeconfig, "-n", c.ns}, args...)
	cmd := exec.Command(c.bin, full...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), exit.ExitCode()
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return out.String(), 0
}

// ok runs a verb that must succeed and print want.
func (c vaneCLI) ok(want string, args ...string) string {
	c.t.Helper()
	out, code := c.run(args...)
	if code != 0 || !strings.Contains(out, want) {
		c.t.Fatalf("vane %s: exit %d, output:\n%s\nwant %q", strings.Join(args, " "), code, out, want)
	}
	return out
}

func newCLI(t *testing.T) (vaneCLI, *testenv.Env, string) {
	env := withController(t)
	if env.Kubeconfig == "" {
		t.Fatal("the test cluster has no kubeconfig file for the CLI")
	}
	ns := env.Namespace(t)
	return vaneCLI{t: t, bin: buildVane(t, env), env: env, ns: ns}, env, ns
}

// TestCLIVerbsDriveARollout runs every verb as a process, the way Argo's kubectl plugin is used
// (optional nouns included), and checks the rollout's resulting state.
func TestCLIVerbsDriveARollout(t *testing.T) {
	cli, env, ns := newCLI(t)
	newSimpleRollout(t, env, ns, nil)

	cli.ok(`rollout "app" image updated`, "set", "image", "app", "podtatohead=app:2")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1, Sets: "app:1=4/4 app:2=1/1"})
	out := cli.ok("Status:          ॥ Paused", "get", "rollout", "app")
	for _, want := range []string{"Step:          1/4", "SetWeight:     20", "app:1 (stable)", "app:2 (canary)", "Desired:       4", "ReplicaSet"} {
		if !strings.Contains(out, want) {
			t.Errorf("get rollout: no %q in\n%s", want, out)
		}
	}
	cli.ok("Paused - CanaryPauseStep", "status", "app", "--watch=false")

	cli.ok("rollout 'app' promoted", "promote", "rollout", "app")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 3, Sets: "app:1=2/2 app:2=2/2"})

	cli.ok("rollout 'app' aborted", "abort", "app")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Degraded", Step: 0, Sets: "app:1=4/4"})
	if out, code := cli.run("status", "app", "-t", "30s"); code != 1 || !strings.Contains(out, "Degraded - RolloutAborted") {
		t.Errorf("status of an aborted rollout: exit %d (want 1), output:\n%s", code, out)
	}

	cli.ok("rollout 'app' retried", "retry", "rollout", "app")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1})
	if out, code := cli.run("status", "app", "--timeout", "2s"); code != 2 || !strings.Contains(out, "timed out") {
		t.Errorf("status of a paused rollout with a timeout: exit %d (want 2), output:\n%s", code, out)
	}

	cli.ok("rollout 'app' fully promoted", "promote", "app", "--full")
	if out, code := cli.run("status", "app", "-t", "60s"); code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "Healthy") {
		t.Errorf("status while promoting fully: exit %d (want 0), output:\n%s", code, out)
	}
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Stable: "app:2", Sets: "app:2=4/4", Step: 4})

	cli.ok("rollout 'app' paused", "pause", "app")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: anyStep, Message: "manually paused"})
	cli.ok("rollout 'app' promoted", "promote", "app")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: anyStep})
	if out, code := cli.run("promote", "app"); code != 1 || !strings.Contains(out, "is not paused and has no step left") {
		t.Errorf("promote of a healthy rollout: exit %d, output:\n%s", code, out)
	}

	cli.ok("rollout 'app' restarts in 1h0m0s", "restart", "app", "--in", "1h")
	ro := &v1alpha1.Rollout{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app"}, ro); err != nil {
		t.Fatal(err)
	}
	if ro.Spec.RestartAt == nil || time.Until(ro.Spec.RestartAt.Time) < 50*time.Minute {
		t.Errorf("restart --in 1h wrote restartAt %v", ro.Spec.RestartAt)
	}

	cli.ok("rollout 'app' rolled back to revision 1", "undo", "app")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1, Sets: "app:1=1/1 app:2=4/4"})

	out = cli.ok("app", "list", "rollouts")
	if !strings.Contains(out, "NAME  STRATEGY  STATUS  STEP  SET-WEIGHT  READY  DESIRED  UP-TO-DATE  AVAILABLE") ||
		!strings.Contains(out, "Canary    Paused  1/4   20") {
		t.Errorf("list rollouts:\n%s", out)
	}
}

// TestCLIErrorsAPersonUnderstands: an unknown rollout names the namespace searched; an
// unreachable cluster names the address and kubeconfig; a bad assignment says what is expected.
func TestCLIErrorsAPersonUnderstands(t *testing.T) {
	cli, _, ns := newCLI(t)
	if out, code := cli.run("promote", "nope"); code != 1 || !strings.Contains(out, `rollout "nope" not found in namespace "`+ns+`"`) {
		t.Errorf("unknown rollout: exit %d, output %q", code, out)
	}
	if out, code := cli.run("set", "image", "nope", "app"); code != 1 || !strings.Contains(out, "expected CONTAINER=IMAGE") {
		t.Errorf("bad image assignment: exit %d, output %q", code, out)
	}
	// a user with no rights: the message says who may not do what on which resource
	out, code := cli.run("--as", "nobody", "abort", "app")
	if code != 1 || !strings.Contains(out, `forbidden: rollouts.argoproj.io "app" is forbidden: User "nobody" cannot get resource "rollouts"`) {
		t.Errorf("forbidden: exit %d, output %q", code, out)
	}
	// a kubeconfig whose server listens nowhere (port 1 on loopback)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]\n" +
		"users: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	unreachable, err := exec.Command(cli.bin, "--kubeconfig", kc, "get", "rollout", "x").CombinedOutput()
	if err == nil || !strings.Contains(string(unreachable), "cannot reach the cluster at https://127.0.0.1:1 (kubeconfig "+kc+")") {
		t.Errorf("unreachable cluster: %v, output %q", err, unreachable)
	}
}

// TestCLILint: the seed manifests are clean; a broken one gets file:document:field messages and
// a non-zero exit. lint needs no cluster.
func TestCLILint(t *testing.T) {
	env := testenv.Get(t)
	bin := buildVane(t, env)
	var seeds []string
	for _, f := range []string{"colorapi-canary.yaml", "gradual-rollout.yaml", "keptn-podtatohead-rollout.yaml",
		"canary-demo-prometheus.yaml", "rollouts-demo-bluegreen-workloadref.yaml"} {
		seeds = append(seeds, "-f", filepath.Join(env.RepoRoot, "examples", "seeds", f))
	}
	out, err := exec.Command(bin, append([]string{"lint"}, seeds...)...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "5 file(s): no problems found") {
		t.Errorf("lint of the seeds: %v\n%s", err, out)
	}
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	manifest := `apiVersion: v1
kind: Service
metadata: {name: fine}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: bad}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec: {containers: [{name: a, image: a}]}
  strategy:
    canary:
      canaryService: same
      stableService: same
      replicaProgressThreshold: {type: Pods, value: 2}
      steps: [{setWeight: 120}]
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: typo}
spec:
  metricz: []
`
	if err := os.WriteFile(broken, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "lint", "-f", broken)
	outb, err := cmd.CombinedOutput()
	got := string(outb)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("lint of a broken file: %v, want exit 1", err)
	}
	for _, want := range []string{
		// Argo's field paths (its validation's)
		broken + ":2: Rollout/bad: spec.strategy.steps[0].setWeight: Invalid value: 120: SetWeight needs to be between 0 and 100",
		broken + ":2: Rollout/bad: spec.strategy.stableService:",
		// a field Vane stores but does not act on: a warning, not a problem
		broken + ":2: Rollout/bad: warning: spec.strategy.canary.replicaProgressThreshold: stored but not acted on: ",
		broken + `:3: AnalysisTemplate: error unmarshaling JSON: while decoding JSON: json: unknown field "metricz"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("lint output lacks %q:\n%s", want, got)
		}
	}
}
