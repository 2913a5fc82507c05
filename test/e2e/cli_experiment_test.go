package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// cliExpManifest is an Experiment of one template (blue, one pod) with extra spec lines.
func cliExpManifest(name, spec string) string {
	return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata:
  name: %s
spec:
%s  templates:
  - name: blue
    selector:
      matchLabels: {app: %s, color: blue}
    template:
      metadata:
        labels: {app: %s, color: blue}
      spec:
        containers:
        - name: app
          image: argoproj/rollouts-demo:blue
`, name, spec, name, name)
}

// cliExpFile writes content to a file of the test and returns its path.
func cliExpFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// cliExpWait waits until ok says the experiment is as wanted and returns it.
func cliExpWait(t *testing.T, env *testenv.Env, ns, name, what string, ok func(*v1alpha1.Experiment) bool) *v1alpha1.Experiment {
	t.Helper()
	ex := &v1alpha1.Experiment{}
	waitUntil(t, 60*time.Second, "experiment "+name+": "+what, func() (bool, string) {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, ex); err != nil {
			return false, err.Error()
		}
		return ok(ex), fmt.Sprintf("phase %q, message %q, runs %+v", ex.Status.Phase, ex.Status.Message, ex.Status.AnalysisRuns)
	})
	return ex
}

func cliExpPhase(phase v1alpha1.AnalysisPhase) func(*v1alpha1.Experiment) bool {
	return func(ex *v1alpha1.Experiment) bool { return ex.Status.Phase == phase }
}

// cliExpLines fails unless every pattern (a regular expression) matches a line of out.
func cliExpLines(t *testing.T, what, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(`(?m)` + p).MatchString(out) {
			t.Errorf("%s: no line matches %q in\n%s", what, p, out)
		}
	}
}

// TestCLIExperimentVerbs drives an experiment and analysis runs with the CLI as processes,
// the way Argo's kubectl plugin is used: create -f, get experiment, list experiments, create
// analysisrun from a template with -a, terminate analysisrun, terminate experiment, and the
// errors of each for bad input.
func TestCLIExperimentVerbs(t *testing.T) {
	t.Parallel()
	cli, env, ns := newCLI(t)
	app := newColorServer(t, "blue", "ok")
	webTemplate(t, env, ns, "check", 1000)
	analyses := fmt.Sprintf("  analyses:\n  - name: watch\n    templateName: check\n    args: [{name: host, value: %q}]\n", app.host())
	file := cliExpFile(t, "exp.yaml", cliExpManifest("cli-exp", "  scaleDownDelaySeconds: 0\n"+analyses))
	cli.ok("experiment.argoproj.io/cli-exp created", "create", "-f", file)

	cliExpWait(t, env, ns, "cli-exp", "Running", cliExpPhase(v1alpha1.AnalysisPhaseRunning))
	waitRun(t, env, ns, "cli-exp-watch", 30*time.Second, "2 measurements", func(r *v1alpha1.AnalysisRun) bool {
		return metricResult(r, "status").Successful >= 2
	})
	out := cli.ok("Name:            cli-exp", "get", "experiment", "cli-exp")
	cliExpLines(t, "get experiment", out,
		`^Status: +◌ Running$`, `^Images: +argoproj/rollouts-demo:blue \(Σ:blue\)$`,
		`^NAME +KIND +STATUS +AGE +INFO$`, `^Σ cli-exp +Experiment +◌ Running +\d+s$`,
		`^├──⧉ cli-exp-blue +ReplicaSet +✔ Healthy +\d+s$`, `^│  └──□ cli-exp-blue-\w+ +Pod +✔ Running +\d+s +ready:1/1$`,
		`^└──α cli-exp-watch +AnalysisRun +◌ Running +\d+s +✔ \d+$`)
	out = cli.ok("cli-exp", "list", "experiments")
	cliExpLines(t, "list experiments", out, `^NAME +STATUS +DURATION +REMAINING +AGE$`, `^cli-exp +Running +- +- +\d+s$`)
	cliExpLines(t, "list exp -A", cli.ok("cli-exp", "list", "exp", "-A"), `^NAMESPACE +NAME +STATUS`, `^`+ns+` +cli-exp +Running`)

	// an ad-hoc run from the template, then terminated: Successful on what it measured
	cli.ok("analysisrun.argoproj.io/adhoc created", "create", "analysisrun", "--from", "check", "-a", "host="+app.host(), "--name", "adhoc")
	run := waitRun(t, env, ns, "adhoc", 30*time.Second, "a measurement", func(r *v1alpha1.AnalysisRun) bool {
		return metricResult(r, "status").Successful >= 1
	})
	if *run.Spec.Args[0].Value != app.host() || *run.Spec.Args[1].Value != "none" || len(run.OwnerReferences) != 0 {
		t.Errorf("adhoc run: args %+v, owners %v", run.Spec.Args, run.OwnerReferences)
	}
	cli.ok("analysisRun 'adhoc' terminated", "terminate", "analysisrun", "adhoc")
	if done := waitPhase(t, env, ns, "adhoc", 15*time.Second, v1alpha1.AnalysisPhaseSuccessful); done.Status.Message != "Run Terminated" {
		t.Errorf("terminated run: message %q", done.Status.Message)
	}

	cli.ok("experiment 'cli-exp' terminated", "terminate", "experiment", "cli-exp")
	cliExpWait(t, env, ns, "cli-exp", "Successful", cliExpPhase(v1alpha1.AnalysisPhaseSuccessful))
	waitPhase(t, env, ns, "cli-exp-watch", 15*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	scaledDown := regexp.MustCompile(`(?m)^├──⧉ cli-exp-blue +ReplicaSet +• ScaledDown`)
	runDone := regexp.MustCompile(`(?m)^└──α cli-exp-watch +AnalysisRun +✔ Successful +\d+s +✔ \d+$`)
	waitUntil(t, 15*time.Second, "get experiment showing the end", func() (bool, string) {
		out, _ := cli.run("get", "exp", "cli-exp")
		return scaledDown.MatchString(out) && runDone.MatchString(out) && strings.Contains(out, "Status:          ✔ Successful"), out
	})
	cliExpLines(t, "list after terminate", cli.ok("cli-exp", "list", "experiment"), `^cli-exp +Successful +- +- +\d+s$`)
	cliExpBadInput(t, cli, ns)
}

// cliExpBadInput: each mistake is an error naming the object, file, field or flag at fault
// (exit 1), never a crash.
func cliExpBadInput(t *testing.T, cli vaneCLI, ns string) {
	t.Helper()
	service := cliExpFile(t, "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n")
	invalid := cliExpFile(t, "invalid.yaml", cliExpManifest("invalid", "  duration: soon\n"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "experiment", "nope"}, `experiment "nope" not found in namespace "` + ns + `"`},
		{[]string{"terminate", "experiment", "nope"}, `experiment "nope" not found in namespace "` + ns + `"`},
		{[]string{"terminate", "analysisrun", "nope"}, `analysisrun "nope" not found in namespace "` + ns + `"`},
		{[]string{"retry", "experiment", "nope"}, `experiment "nope" not found in namespace "` + ns + `"`},
		{[]string{"create", "-f", service}, service + ":1: cannot create v1 Service: vane create takes Rollout, Experiment, AnalysisRun"},
		{[]string{"create", "-f", invalid}, invalid + ":1: Experiment/invalid: spec.duration: Invalid value"},
		{[]string{"create", "-f", "/nowhere.yaml"}, "reading /nowhere.yaml"},
		{[]string{"create", "-f", invalid, "-f", service, "-w"}, invalid + ":1: Experiment/invalid"},
		{[]string{"create", "analysisrun", "--from", "check"}, `argument "host" of AnalysisTemplate check has no value: pass it with -a host=VALUE`},
		{[]string{"create", "analysisrun", "--from", "nope"}, `--from nope (namespace "` + ns + `"): reading AnalysisTemplate nope`},
		{[]string{"create", "analysisrun", "--from-cluster-template", "nope", "-a", "host=x"}, `--from-cluster-template nope: reading ClusterAnalysisTemplate nope`},
		{[]string{"create", "analysisrun", "--from", "check", "-a", "host"}, `--argument "host": expected NAME=VALUE`},
		{[]string{"create", "analysisrun", "--from", "check", "-a", "host=x", "--name", "Bad_Name"}, `creating AnalysisRun Bad_Name: AnalysisRun.argoproj.io "Bad_Name" is invalid: metadata.name`},
		{[]string{"create", "analysisrun", "-a", "host=x"}, "no template: give one with --from, --from-cluster-template or --from-file"},
		{[]string{"create"}, "create needs -f FILE"},
	} {
		out, code := cli.run(tc.args...)
		if code != 1 || !strings.Contains(out, tc.want) || strings.Contains(out, "panic") {
			t.Errorf("vane %s: exit %d, output:\n%s\nwant %q", strings.Join(tc.args, " "), code, out, tc.want)
		}
	}
}

// TestCLIExperimentRetryAndWatch: retry experiment clears the status of a finished experiment,
// which then runs again from Pending (a new availableAt) to Successful; `get experiment -w`,
// its output not a terminal, prints a frame for each change all along.
func TestCLIExperimentRetryAndWatch(t *testing.T) {
	t.Parallel()
	cli, env, ns := newCLI(t)
	cli.ok("experiment.argoproj.io/timed created", "create", "-f",
		cliExpFile(t, "timed.yaml", cliExpManifest("timed", "  duration: 2s\n  scaleDownDelaySeconds: 1\n")))
	first := cliExpWait(t, env, ns, "timed", "Successful", cliExpPhase(v1alpha1.AnalysisPhaseSuccessful))

	watch := startWatch(t, cli, "get", "experiment", "timed", "-w")
	waitUntil(t, 10*time.Second, "the first frame", func() (bool, string) {
		return strings.Contains(watch.output(), "✔ Successful"), watch.output()
	})
	cli.ok("experiment 'timed' retried", "retry", "experiment", "timed")
	again := cliExpWait(t, env, ns, "timed", "a second run to Successful", func(ex *v1alpha1.Experiment) bool {
		return ex.Status.Phase == v1alpha1.AnalysisPhaseSuccessful && ex.Status.AvailableAt != nil &&
			ex.Status.AvailableAt.After(first.Status.AvailableAt.Time)
	})
	waitUntil(t, 10*time.Second, "the watch following the second run", func() (bool, string) {
		out := watch.output()
		i := strings.Index(out, "◌ Running")
		return i > 0 && strings.Contains(out[i:], "✔ Successful"), out
	})
	frames := strings.Count(watch.stop(), "Name:            timed")
	if frames < 3 {
		t.Errorf("%d frames, want one per change (Successful, then again Pending or Running, then Successful)", frames)
	}
	if len(again.Status.TemplateStatuses) != 1 || again.Status.TemplateStatuses[0].Status != v1alpha1.TemplateStatusSuccessful {
		t.Errorf("templates after the second run: %+v", again.Status.TemplateStatuses)
	}
}

// watchProcess is a `vane ... -w` running in the background, its output collected.
type watchProcess struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{} // closed once the process has exited
}

func (w *watchProcess) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(p)
}

func (w *watchProcess) output() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.String()
}

// stop interrupts the process (as Ctrl-C does), waits for it and returns its output.
func (w *watchProcess) stop() string {
	_ = w.cmd.Process.Signal(os.Interrupt)
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
	return w.output()
}

func startWatch(t *testing.T, cli vaneCLI, args ...string) *watchProcess {
	t.Helper()
	w := &watchProcess{done: make(chan struct{})}
	w.cmd = exec.Command(cli.bin, append([]string{"--kubeconfig", cli.env.Kubeconfig, "-n", cli.ns}, args...)...)
	w.cmd.Stdout, w.cmd.Stderr = w, w
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = w.cmd.Wait(); close(w.done) }()
	t.Cleanup(func() { w.stop() })
	return w
}
