package migration

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vanedev/vane/internal/testenv"
	"github.com/vanedev/vane/internal/testenv/vaneproc"
)

const (
	waitSetup = 60 * time.Second
	// watchAfterSettled is how long the new controller is watched once it has looked at every
	// rollout and run.
	watchAfterSettled = 5 * time.Second
)

// The rollouts both scenarios migrate, in the state the first controller leaves them.
const (
	healthy   = "healthy"               // canary, updated once and completed
	paused    = "gradual-rollout"       // seed gradual-rollout.yaml, updated, waiting at pause {} (step 1)
	aborted   = "aborted"               // canary aborted at its pause {} (stable and canary Services)
	bluegreen = "bluegreen"             // blue/green waiting for promotion, new version on the preview
	workload  = "rollouts-demo-rollout" // seed rollouts-demo-bluegreen-workloadref.yaml, the same
	analyzed  = "analysis"              // canary waiting at pause {} with a background web analysis running
	promoted  = "promoted"              // blue/green just promoted, its previous version kept for scaleDownDelaySeconds
	timed     = "timed"                 // canary in the middle of a 30s pause
)

var allRollouts = []string{healthy, paused, aborted, bluegreen, workload, analyzed, promoted, timed}

// timedPause is the pause of rollout timed: the migration happens in the middle of it.
const timedPause = 30 * time.Second

// TestArgoToVane: Argo Rollouts' controller brings eight rollouts to the states a team has in
// flight when it switches; then Argo is stopped, Vane's CRDs and RBAC are installed over
// Argo's and Vane's controller is started. Vane must create and delete no ReplicaSet, replace
// no pod, change no Service selector and leave every rollout exactly as Argo left it (status
// included); then, driven by Vane's CLI, it carries each one on to Healthy.
func TestArgoToVane(t *testing.T) {
	env := testenv.Get(t)
	argo := requireArgo(t, env)
	vaneproc.Build(t, env.RepoRoot)
	f := &fixture{t: t, env: env, dyn: dynamicClient(t, env), ns: env.Namespace(t)}
	web := sharedStandIn()

	applyCRDs(t, env, argo.crds)
	argoCtl := startArgo(t, env, argo, f.ns)
	plugin := cli{f, argo.plugin}
	prepare(f, plugin, web)
	f.waitQuiet()
	argoCtl.stop()

	vaneCtl := migrate(f, web, "Argo", "Vane", filepath.Join(env.RepoRoot, "config", "crd", "bases"), func() *process {
		p := startVane(t, env, f.ns)
		waitVaneSettled(t, p, len(allRollouts), 1)
		return p
	})
	carryOn(f, "Vane", cli{f, vaneproc.Build(t, env.RepoRoot)}, vaneCtl)
	compareControllers(t)
}

// TestVaneToArgo is the way back: Vane brings the same rollouts to the same states, is stopped,
// Argo's CRDs are applied over Vane's and Argo's controller is started. Argo must find nothing
// to change, then, driven by its kubectl plugin, carry each rollout on to Healthy.
func TestVaneToArgo(t *testing.T) {
	env := testenv.Get(t)
	argo := requireArgo(t, env)
	f := &fixture{t: t, env: env, dyn: dynamicClient(t, env), ns: env.Namespace(t)}
	web := sharedStandIn()

	applyCRDs(t, env, filepath.Join(env.RepoRoot, "config", "crd", "bases"))
	vaneCtl := startVane(t, env, f.ns)
	prepare(f, cli{f, vaneproc.Build(t, env.RepoRoot)}, web)
	f.waitQuiet()
	vaneCtl.stop()

	argoCtl := migrate(f, web, "Vane", "Argo", argo.crds, func() *process {
		p := startArgo(t, env, argo, f.ns)
		var runs []string
		for name := range f.runs() {
			runs = append(runs, name)
		}
		waitArgoSettled(t, p, f.ns, allRollouts, runs)
		return p
	})
	carryOn(f, "Argo", cli{f, argo.plugin}, argoCtl)
	compareControllers(t)
}

// prepare creates the rollouts and brings each to the state it is migrated in, with the first
// controller and its CLI.
func prepare(f *fixture, c cli, web *standIn) {
	t := f.t
	f.create("manifests", manifests(t, f.env, web.srv.URL))
	for _, name := range allRollouts {
		f.wait(name, "Healthy at its first version", waitSetup, true, view.completed)
	}
	c.setImage(healthy, "app", "app:2")
	c.setImage(paused, "gradual-rollout", "argoproj/rollouts-demo:yellow")
	c.setImage(aborted, "app", "app:2")
	c.setImage(analyzed, "app", "app:2")
	c.setImage(bluegreen, "app", "app:2")
	c.setImage(promoted, "app", "app:2")
	f.setDeploymentImage("rollouts-demo", "argoproj/rollouts-demo:green")
	f.wait(healthy, "Healthy at app:2", waitSetup, true, func(v view) bool { return v.completed() && v.Sets[v.Stable].image == "app:2" })
	f.wait(paused, "paused at step 1", waitSetup, true, func(v view) bool { return v.pausedAt(1) })
	f.wait(aborted, "paused at step 1", waitSetup, true, func(v view) bool { return v.pausedAt(1) })
	c.do("abort", aborted)
	f.wait(aborted, "aborted", waitSetup, true, view.aborted)
	f.wait(bluegreen, "previewing", waitSetup, true, view.previewing)
	f.wait(workload, "previewing", waitSetup, true, view.previewing)
	v, _ := f.wait(analyzed, "paused at step 1 with a background run", waitSetup, true, func(v view) bool {
		return v.pausedAt(1) && v.BackgroundRun != "" && v.BackgroundPhase == "Running"
	})
	f.wait(promoted, "previewing", waitSetup, true, view.previewing)
	c.do("promote", promoted)
	f.wait(promoted, "promoted, the previous version kept", waitSetup, true, func(v view) bool {
		if !v.completed() || len(v.Sets) != 2 {
			return false
		}
		for h, r := range v.Sets {
			if h != v.Stable && (r.replicas != v.Replicas || r.deadline.IsZero()) {
				return false
			}
		}
		return true
	})
	c.setImage(timed, "app", "app:2")
	f.wait(timed, "paused at step 1", waitSetup, true, func(v view) bool { return v.pausedAt(1) && !v.PauseStart.IsZero() })
	// the run has measured at least once
	deadline := time.Now().Add(waitSetup)
	for {
		run := f.runs()[v.BackgroundRun]
		if run != nil && measurements(run) > 0 && runPhase(run) == "Running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background run %s never measured", v.BackgroundRun)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, name := range allRollouts {
		t.Logf("before the migration: %s: %s", name, f.view(name))
	}
}

// migrate installs the next controller's CRDs over the current ones and starts it (start
// returns once it has looked at every rollout and run), and reports every difference: what
// the CRDs alone changed, what the controller changed while it was watched, what differs at
// the end, and the events it emitted.
func migrate(f *fixture, web *standIn, from, to, crds string, start func() *process) *process {
	t := f.t
	before, _ := capture(t, f.dyn, f.ns)
	recordPrepared(f, from, before)
	applyCRDs(t, f.env, crds)
	afterCRDs, rvs := capture(t, f.dyn, f.ns)
	if d := diffState(before, afterCRDs); len(d) > 0 {
		d, notes := splitNotes(d)
		logNotes(t, "installing "+to+"'s CRDs", notes)
		t.Errorf("installing %s's CRDs over the other's changed stored objects (no controller running):\n  %s", to, strings.Join(d, "\n  "))
	}
	runBefore := f.runs()
	obs := observe(t, f.dyn, f.ns, afterCRDs, rvs)
	started := time.Now()
	p := start()
	// the running background analysis goes on: the new controller measures it
	deadline := time.Now().Add(20 * time.Second)
	for web.hitsSince(started) == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if web.hitsSince(started) == 0 {
		t.Errorf("%s did not measure the running background analysis within 20s of its start", to)
	}
	time.Sleep(watchAfterSettled)
	seen := obs.result()
	after, _ := capture(t, f.dyn, f.ns)
	final := diffState(afterCRDs, after)

	t.Logf("watch events seen while %s took over: %s", to, obs.summary())
	if writes := p.LogLines(`"msg":"status"`); len(writes) > 0 {
		t.Logf("status writes %s logged while watched:\n  %s", to, strings.Join(writes, "\n  "))
	}
	seen, notes := splitNotes(seen)
	logNotes(t, to+" (while watched)", notes)
	final, notes = splitNotes(final)
	logNotes(t, to+" (at the end)", notes)
	var churn, other []string
	for _, l := range seen {
		if isChurn(l) {
			churn = append(churn, l)
		} else {
			other = append(other, l)
		}
	}
	if len(churn) > 0 {
		t.Errorf("%s created, deleted or replaced objects when it took over (time since its start):\n  %s", to, strings.Join(churn, "\n  "))
	}
	if len(other) > 0 {
		t.Errorf("%s changed objects it took over (every change seen, time since its start):\n  %s", to, strings.Join(other, "\n  "))
	}
	if len(final) > 0 {
		t.Errorf("%s %.0fs after its start, differences with the state it took over:\n  %s", to, time.Since(started).Seconds(), strings.Join(final, "\n  "))
	}
	for _, name := range allRollouts {
		t.Logf("after the migration to %s: %s: %s", to, name, f.view(name))
	}
	checkTakeoverEvents(f, to, started)
	checkMeasurements(f, to, runBefore, f.runs())
	return p
}

// checkTakeoverEvents: on its start Argo's controller records one event per rollout it finds
// (RolloutAddedToInformer) and, when it has nothing to change, no other event on a Rollout or
// AnalysisRun. Events of the cluster's own controllers are left out (the local cluster's
// endpoint controllers complain about its loopback pod IPs).
func checkTakeoverEvents(f *fixture, to string, started time.Time) {
	t := f.t
	var all, got []string
	for _, e := range eventsSince(t, f.dyn, f.ns, started) {
		if e.source == "endpoint-controller" || e.source == "endpoint-slice-controller" {
			continue
		}
		all = append(all, e.String())
		if e.kind == "Rollout" || e.kind == "AnalysisRun" {
			got = append(got, fmt.Sprintf("%s/%s %s %s: %s", e.kind, e.name, e.typ, e.reason, e.message))
		}
	}
	if len(all) > 0 {
		t.Logf("events since %s started:\n  %s", to, strings.Join(all, "\n  "))
	}
	var want []string
	for _, name := range allRollouts {
		want = append(want, fmt.Sprintf("Rollout/%s Normal RolloutAddedToInformer: Rollout resource added to informer: %s/%s", name, f.ns, name))
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events on Rollouts and AnalysisRuns since %s started:\n  %s\nwant (what Argo's controller records when it starts and finds nothing to change):\n  %s",
			to, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// checkMeasurements: the measurements the new controller adds to a running run look like the
// ones before (same fields, phase and value) and the metric's counters go up by as many.
func checkMeasurements(f *fixture, to string, before, after map[string]*unstructured.Unstructured) {
	t := f.t
	for name, b := range before {
		a := after[name]
		if a == nil {
			continue
		}
		bm, am := metricResult(b), metricResult(a)
		bms, _ := bm["measurements"].([]any)
		ams, _ := am["measurements"].([]any)
		if len(bms) == 0 {
			continue
		}
		last := bms[len(bms)-1].(map[string]any)
		old := map[string]bool{}
		for _, m := range bms {
			old[fmt.Sprint(m.(map[string]any)["startedAt"])] = true
		}
		added, unlike := 0, 0
		var first map[string]any
		for _, x := range ams {
			m := x.(map[string]any)
			if old[fmt.Sprint(m["startedAt"])] {
				continue
			}
			added++
			if keys(m) != keys(last) || m["phase"] != last["phase"] || m["value"] != last["value"] {
				if unlike++; first == nil {
					first = m
				}
			}
		}
		if unlike > 0 {
			t.Errorf("run %s: %d of the %d measurements %s took differ from the one before (by the controller it took over from):\n  %s took: %s\n  before: %s",
				name, unlike, added, to, to, measurementText(first), measurementText(last))
		}
		t.Logf("run %s: %d measurements added by %s; metric result before: %v; after: %v", name, added, to, counters(bm), counters(am))
		for _, k := range []string{"count", "successful"} {
			if d := num(am[k]) - num(bm[k]); d < int64(added) {
				t.Errorf("run %s: %s went from %v to %v while %s added %d measurements", name, k, bm[k], am[k], to, added)
			}
		}
	}
}

// measurementText shows a measurement with its value quoted as stored (Go's %q).
func measurementText(m map[string]any) string {
	var out []string
	for _, k := range strings.Split(keys(m), ",") {
		out = append(out, fmt.Sprintf("%s=%q", k, fmt.Sprint(m[k])))
	}
	return strings.Join(out, " ")
}

func metricResult(u *unstructured.Unstructured) map[string]any {
	rs, _, _ := unstructured.NestedSlice(u.Object, "status", "metricResults")
	if len(rs) == 0 {
		return map[string]any{}
	}
	return rs[0].(map[string]any)
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func counters(m map[string]any) string {
	var out []string
	for k, v := range m {
		if k != "measurements" {
			out = append(out, fmt.Sprintf("%s=%v", k, v))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func num(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return 0
}

// splitNotes separates the lines about note paths (timestamps) from the differences.
func splitNotes(lines []string) (diffs, notes []string) {
	for _, l := range lines {
		if isNote(l) {
			notes = append(notes, l)
		} else {
			diffs = append(diffs, l)
		}
	}
	return diffs, notes
}

func logNotes(t *testing.T, what string, notes []string) {
	if len(notes) > 0 {
		t.Logf("notes: timestamps changed by %s:\n  %s", what, strings.Join(notes, "\n  "))
	}
}

// isChurn: a line about an object created, deleted or replaced, or a ReplicaSet rescaled, or
// a pod being deleted.
func isChurn(l string) bool {
	return strings.Contains(l, " created (uid") || strings.Contains(l, " deleted (uid") || strings.Contains(l, " replaced (uid") ||
		(strings.Contains(l, "ReplicaSet/") && strings.Contains(l, " spec.replicas:")) || strings.Contains(l, " deleting:")
}

// carryOn drives every rollout to Healthy with the new controller (to) and its CLI, then
// compares the end state and the events with those of the other scenario, where the other
// controller carried the same rollouts on from the same states.
func carryOn(f *fixture, to string, c cli, ctl *process) {
	t := f.t
	since := time.Now()
	start, _ := capture(t, f.dyn, f.ns)
	allHealthy := true
	defer func() {
		if allHealthy {
			f.waitQuiet()
			recordCarriedOn(f, to, since, start)
		}
	}()
	sets := map[string]view{}
	for _, name := range allRollouts {
		sets[name] = f.view(name)
	}

	c.do("promote", paused)
	c.do("promote", bluegreen)
	c.do("promote", workload)
	c.do("promote", analyzed)
	c.do("retry", "rollout", aborted)
	if _, ok := f.wait(aborted, "paused at step 1 again after retry", 30*time.Second, false, func(v view) bool { return v.pausedAt(1) }); ok {
		c.do("promote", aborted)
	} else {
		allHealthy = false
	}
	c.setImage(healthy, "app", "app:3")

	for _, name := range []string{paused, bluegreen, workload, analyzed, aborted} {
		v, ok := f.wait(name, "Healthy at its new version", 45*time.Second, false, view.completed)
		if !ok {
			allHealthy = false
			continue
		}
		was := sets[name]
		if v.Stable != was.PodHash {
			t.Errorf("%s: the stable ReplicaSet is %s, want the update's %s (%s)", name, v.Stable, was.PodHash, v)
		}
		for h, r := range v.Sets {
			if old, ok := was.Sets[h]; !ok || old.uid != r.uid {
				t.Errorf("%s: ReplicaSet %s (%s, rev %s) was created after the migration; the update's %s existed", name, h, r.image, r.revision, was.PodHash)
			}
		}
	}
	if v, ok := f.wait(healthy, "Healthy at app:3", 45*time.Second, false, func(v view) bool {
		return v.completed() && v.Sets[v.Stable].image == "app:3"
	}); !ok {
		allHealthy = false
	} else {
		if r := v.Sets[v.Stable]; r.revision != "3" {
			t.Errorf("%s: app:3's ReplicaSet has revision %q, want 3", healthy, r.revision)
		}
		if len(v.Sets) != 3 {
			t.Errorf("%s: %d ReplicaSets, want 3 (one per revision): %s", healthy, len(v.Sets), v)
		}
	}

	// the promoted blue/green's previous version goes at its scale-down deadline, not before
	if old, ok := previousSet(sets[promoted]); ok {
		v, ok := f.wait(promoted, "with its previous version scaled down", time.Until(old.deadline)+20*time.Second, false, func(v view) bool {
			r := v.Sets[old.hash]
			return r.replicas == 0 && r.current == 0
		})
		switch at := time.Now(); {
		case !ok:
			allHealthy = false
		case at.Before(old.deadline.Add(-time.Second)):
			t.Errorf("%s: the previous version was scaled down at %s, before its scale-down deadline %s: %s", promoted, at.Format(time.RFC3339), old.deadline.Format(time.RFC3339), v)
		case at.After(old.deadline.Add(10 * time.Second)):
			t.Errorf("%s: the previous version was scaled down at %s, long after its scale-down deadline %s", promoted, at.Format(time.RFC3339), old.deadline.Format(time.RFC3339))
		}
	} else {
		t.Errorf("%s: no previous version kept with a scale-down deadline when carried on: %s", promoted, sets[promoted])
	}

	// the timed pause ends when it would have under the first controller
	if start := sets[timed].PauseStart; !start.IsZero() {
		end := start.Add(timedPause)
		if _, ok := f.wait(timed, "Healthy after its timed pause", time.Until(end)+20*time.Second, false, view.completed); !ok {
			allHealthy = false
		} else if at := time.Now(); at.Before(end.Add(-time.Second)) || at.After(end.Add(10*time.Second)) {
			t.Errorf("%s: the %s pause that started at %s (under the first controller) ended at %s", timed, timedPause, start.Format(time.RFC3339), at.Format(time.RFC3339))
		}
	} else {
		t.Errorf("%s: not in its timed pause when carried on: %s", timed, sets[timed])
	}

	// the background run: the same run, terminated as Successful
	runName := sets[analyzed].BackgroundRun
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs := f.runs()
		run := runs[runName]
		if run != nil && runPhase(run) == "Successful" {
			if len(runs) != 1 {
				var names []string
				for n := range runs {
					names = append(names, n)
				}
				t.Errorf("AnalysisRuns after the promotion: %v, want only %s", names, runName)
			}
			break
		}
		if time.Now().After(deadline) {
			phase := "(deleted)"
			if run != nil {
				phase = runPhase(run)
			}
			t.Errorf("background run %s: phase %s 30s after the promotion, want Successful", runName, phase)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	ctl.RequireRunning()
	if t.Failed() {
		for _, name := range allRollouts {
			t.Logf("at the end: %s: %s", name, f.view(name))
		}
	}
}
