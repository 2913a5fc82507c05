package argotools

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// pluginPath returns Argo Rollouts' kubectl plugin as `make argo-tools` builds it. A missing
// plugin fails the test.
func pluginPath(t *testing.T, env *testenv.Env) string {
	t.Helper()
	return argoBinary(t, env, "kubectl-argo-rollouts")
}

// argoPlugin runs the plugin against the test cluster in namespace ns and returns its standard
// output; a non-zero exit fails the test.
func argoPlugin(t *testing.T, env *testenv.Env, bin, ns string, args ...string) string {
	t.Helper()
	out := runPlugin(t, env, bin, ns, args...)
	t.Logf("kubectl-argo-rollouts %s\n%s", strings.Join(args, " "), out)
	return out
}

func runPlugin(t *testing.T, env *testenv.Env, bin, ns string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append(args, "--kubeconfig", env.Kubeconfig, "--namespace", ns)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl-argo-rollouts %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// pluginView is the output of `kubectl argo rollouts get rollout --no-color`: the header's
// fields ("Status", "Step", ...; "Images" has one value per line) and the tree.
type pluginView struct {
	raw     string
	fields  map[string][]string
	rollout string             // the tree's Rollout line: icon and status ("✔ Healthy")
	sets    map[string]rsEntry // by ReplicaSet name
}

type rsEntry struct {
	revision int
	status   string // icon and status: "✔ Healthy", "• ScaledDown"
	info     string // "stable", "canary", ...
	pods     int
}

var (
	revisionLine   = regexp.MustCompile(`# revision:(\d+)`)
	rolloutLine    = regexp.MustCompile(`⟳ (\S+)\s+Rollout\s+(\S+ \S+)`)
	replicaSetLine = regexp.MustCompile(`⧉ (\S+)\s+ReplicaSet\s+(\S+ \S+)\s+\S+\s*(\S*)\s*$`)
	podLine        = regexp.MustCompile(`□ (\S+)\s+Pod\s+`)
)

// parsePluginView reads the header (a 17-column key, then the value) up to the first empty
// line, then the tree.
func parsePluginView(out string) pluginView {
	v := pluginView{raw: out, fields: map[string][]string{}, sets: map[string]rsEntry{}}
	lines := strings.Split(out, "\n")
	i, key := 0, ""
	for ; i < len(lines) && lines[i] != ""; i++ {
		line := lines[i]
		if len(line) <= 17 {
			continue // "Replicas:"
		}
		if k := strings.TrimSuffix(strings.TrimSpace(line[:17]), ":"); k != "" {
			key = k
		}
		v.fields[key] = append(v.fields[key], strings.TrimSpace(line[17:]))
	}
	rev, lastRS := 0, ""
	for ; i < len(lines); i++ {
		line := lines[i]
		if m := revisionLine.FindStringSubmatch(line); m != nil {
			rev, _ = strconv.Atoi(m[1])
		} else if m := rolloutLine.FindStringSubmatch(line); m != nil {
			v.rollout = m[2]
		} else if m := replicaSetLine.FindStringSubmatch(line); m != nil {
			v.sets[m[1]] = rsEntry{revision: rev, status: m[2], info: m[3]}
			lastRS = m[1]
		} else if podLine.MatchString(line) && lastRS != "" {
			e := v.sets[lastRS]
			e.pods++
			v.sets[lastRS] = e
		}
	}
	return v
}

// field returns a header field's only value.
func (v pluginView) field(key string) string { return strings.Join(v.fields[key], "\n") }

// pluginWant is what `get rollout` must show: Argo's plugin computes it from the Rollout's
// status and ReplicaSets, so it shows what Argo's controller would have written.
type pluginWant struct {
	status, message, step, setWeight, actualWeight string
	images                                         []string
	desired, current, updated, ready, available    string
	sets                                           map[string]rsEntry
}

// checkPluginView runs `get rollout NAME --no-color` until it shows want (the plugin reads
// Pods and ReplicaSets that may lag the Rollout for a moment), and fails the test with the last
// differences after 15s.
func checkPluginView(t *testing.T, env *testenv.Env, bin, ns, name string, want pluginWant) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		out := runPlugin(t, env, bin, ns, "get", "rollout", name, "--no-color")
		problems := pluginViewProblems(parsePluginView(out), want)
		if len(problems) == 0 {
			t.Logf("kubectl-argo-rollouts get rollout %s --no-color\n%s", name, out)
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("kubectl argo rollouts get rollout:\n  %s\noutput:\n%s", strings.Join(problems, "\n  "), out)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func pluginViewProblems(v pluginView, want pluginWant) []string {
	var problems []string
	for _, f := range []struct{ key, want string }{
		{"Status", want.status}, {"Message", want.message}, {"Strategy", "Canary"}, {"Step", want.step},
		{"SetWeight", want.setWeight}, {"ActualWeight", want.actualWeight}, {"Desired", want.desired},
		{"Current", want.current}, {"Updated", want.updated}, {"Ready", want.ready}, {"Available", want.available},
	} {
		if got := v.field(f.key); got != f.want {
			problems = append(problems, fmt.Sprintf("%s: %q, want %q", f.key, got, f.want))
		}
	}
	if !slices.Equal(v.fields["Images"], want.images) {
		problems = append(problems, fmt.Sprintf("Images: %q, want %q", v.fields["Images"], want.images))
	}
	if v.rollout != want.status {
		problems = append(problems, fmt.Sprintf("tree: Rollout %q, want %q", v.rollout, want.status))
	}
	for name, w := range want.sets {
		if got, ok := v.sets[name]; !ok {
			problems = append(problems, fmt.Sprintf("tree: no ReplicaSet %s", name))
		} else if got != w {
			problems = append(problems, fmt.Sprintf("tree: ReplicaSet %s %+v, want %+v", name, got, w))
		}
	}
	if len(v.sets) != len(want.sets) {
		problems = append(problems, fmt.Sprintf("tree: %d ReplicaSets, want %d", len(v.sets), len(want.sets)))
	}
	if strings.Contains(strings.ToLower(v.raw), "error") {
		problems = append(problems, "the output mentions an error")
	}
	return problems
}

// TestArgoPluginDrivesCanary: Argo Rollouts' own kubectl plugin (v1.10.1, run as a process
// with the test cluster's kubeconfig) drives seed gradual-rollout (3 replicas: 10% -> pause ->
// 25% -> 30s -> 50% -> 30s) under Vane's controller: set image, promote, abort, retry rollout,
// promote --full, and get rollout at each stage. The expected states are Argo's: its
// controller reacts to exactly these patches (promote clears status.pauseConditions, abort sets
// status.abort, retry clears it, promote --full sets status.promoteFull), and an aborted canary
// goes back to step 0.
func TestArgoPluginDrivesCanary(t *testing.T) {
	env := withController(t)
	bin := pluginPath(t, env)
	ns := env.Namespace(t)
	const name, blue, green = "gradual-rollout", "argoproj/rollouts-demo:blue", "argoproj/rollouts-demo:green"
	applySeed(t, env, ns, "examples/seeds/gradual-rollout.yaml", nil)
	ro := waitState(t, env, ns, name, waitLong, snapshot{Phase: "Healthy", Step: 6, Stable: blue, Sets: blue + "=3/3"})
	blueRS := replicaSetOfImage(t, env, ro, blue).Name
	get := func(want pluginWant) { t.Helper(); checkPluginView(t, env, bin, ns, name, want) }
	get(pluginWant{status: "✔ Healthy", step: "6/6", setWeight: "100", actualWeight: "100",
		images: []string{blue + " (stable)"}, desired: "3", current: "3", updated: "3", ready: "3", available: "3",
		sets: map[string]rsEntry{blueRS: {revision: 1, status: "✔ Healthy", info: "stable", pods: 3}}})

	// set image: the plugin updates the Rollout's template; 10% of 3 replicas is one canary pod
	// beside the 3 stable ones (Argo's basic canary surges to 4 pods, 25%, closer to 10% than 1 of
	// 3), then the indefinite pause
	if out := argoPlugin(t, env, bin, ns, "set", "image", name, name+"="+green); !strings.Contains(out, `rollout "gradual-rollout" image updated`) {
		t.Errorf("set image printed %q", out)
	}
	ro = waitState(t, env, ns, name, waitLong, snapshot{Phase: "Paused", Step: 1, Stable: blue,
		Sets: blue + "=3/3 " + green + "=1/1", Message: "CanaryPauseStep"})
	if img := ro.Spec.Template.Spec.Containers[0].Image; img != green {
		t.Errorf("spec.template image %q after set image, want %q", img, green)
	}
	if len(ro.Status.PauseConditions) != 1 || ro.Status.PauseConditions[0].Reason != v1alpha1.PauseReasonCanaryPauseStep || !ro.Status.ControllerPause {
		t.Errorf("paused at step 1: pauseConditions %+v controllerPause %v", ro.Status.PauseConditions, ro.Status.ControllerPause)
	}
	greenRS := replicaSetOfImage(t, env, ro, green).Name
	get(pluginWant{status: "॥ Paused", message: "CanaryPauseStep", step: "1/6", setWeight: "10",
		actualWeight: "25", images: []string{blue + " (stable)", green + " (canary)"},
		desired: "3", current: "4", updated: "1", ready: "4", available: "4",
		sets: map[string]rsEntry{
			greenRS: {revision: 2, status: "✔ Healthy", info: "canary", pods: 1},
			blueRS:  {revision: 1, status: "✔ Healthy", info: "stable", pods: 3},
		}})

	// promote: the plugin clears status.pauseConditions; the controller moves on to 25% (one
	// canary pod beside 3 stable ones is exactly 25%) and the 30s pause of step 3
	if out := argoPlugin(t, env, bin, ns, "promote", name); !strings.Contains(out, "rollout 'gradual-rollout' promoted") {
		t.Errorf("promote printed %q", out)
	}
	waitState(t, env, ns, name, waitLong, snapshot{Phase: "Paused", Step: 3, Stable: blue,
		Sets: blue + "=3/3 " + green + "=1/1", Message: "CanaryPauseStep"})

	// abort: status.abort; every pod back on stable, Degraded, the steps back to 0
	if out := argoPlugin(t, env, bin, ns, "abort", name); !strings.Contains(out, "rollout 'gradual-rollout' aborted") {
		t.Errorf("abort printed %q", out)
	}
	ro = waitState(t, env, ns, name, waitLong, snapshot{Phase: "Degraded", Step: anyStep, Stable: blue, Sets: blue + "=3/3",
		Message: "RolloutAborted: Rollout aborted update to revision 2"})
	if !ro.Status.Abort || ro.Status.AbortedAt == nil || len(ro.Status.PauseConditions) != 0 {
		t.Errorf("aborted: abort %v abortedAt %v pauseConditions %+v", ro.Status.Abort, ro.Status.AbortedAt, ro.Status.PauseConditions)
	}
	if got := ro.Status.CurrentStepIndex; got == nil || *got != 0 {
		t.Errorf("aborted: status.currentStepIndex %v, want 0 (Argo restarts the steps of an aborted canary)", fmtStep(got))
	}
	get(pluginWant{status: "✖ Degraded", message: "RolloutAborted: Rollout aborted update to revision 2",
		step: "0/6", setWeight: "0", actualWeight: "0", images: []string{blue + " (stable)"},
		desired: "3", current: "3", updated: "0", ready: "3", available: "3",
		sets: map[string]rsEntry{
			greenRS: {revision: 2, status: "• ScaledDown", info: "canary"},
			blueRS:  {revision: 1, status: "✔ Healthy", info: "stable", pods: 3},
		}})

	// retry: status.abort=false; the update starts again from its first step
	if out := argoPlugin(t, env, bin, ns, "retry", "rollout", name); !strings.Contains(out, "rollout 'gradual-rollout' retried") {
		t.Errorf("retry printed %q", out)
	}
	ro = waitState(t, env, ns, name, waitLong, snapshot{Phase: "Paused", Step: 1, Stable: blue,
		Sets: blue + "=3/3 " + green + "=1/1", Message: "CanaryPauseStep"})
	if ro.Status.Abort || ro.Status.AbortedAt != nil {
		t.Errorf("retried: abort %v abortedAt %v", ro.Status.Abort, ro.Status.AbortedAt)
	}

	// promote --full: status.promoteFull; every remaining step and pause skipped
	if out := argoPlugin(t, env, bin, ns, "promote", name, "--full"); !strings.Contains(out, "rollout 'gradual-rollout' fully promoted") {
		t.Errorf("promote --full printed %q", out)
	}
	ro = waitState(t, env, ns, name, waitLong, snapshot{Phase: "Healthy", Step: 6, Stable: green, Sets: green + "=3/3"})
	if ro.Status.PromoteFull || ro.Status.Abort || len(ro.Status.PauseConditions) != 0 || ro.Status.StableRS != ro.Status.CurrentPodHash {
		t.Errorf("fully promoted: promoteFull %v abort %v pauseConditions %+v stableRS %s currentPodHash %s", ro.Status.PromoteFull,
			ro.Status.Abort, ro.Status.PauseConditions, ro.Status.StableRS, ro.Status.CurrentPodHash)
	}
	get(pluginWant{status: "✔ Healthy", step: "6/6", setWeight: "100", actualWeight: "100",
		images: []string{green + " (stable)"}, desired: "3", current: "3", updated: "3", ready: "3", available: "3",
		sets: map[string]rsEntry{
			greenRS: {revision: 2, status: "✔ Healthy", info: "stable", pods: 3},
			blueRS:  {revision: 1, status: "• ScaledDown"},
		}})
}

func fmtStep(p *int32) string {
	if p == nil {
		return "nil"
	}
	return strconv.Itoa(int(*p))
}
