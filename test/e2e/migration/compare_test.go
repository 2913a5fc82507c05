package migration

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// record is what one controller did in its scenario: what it prepared before it was stopped
// (the states the other controller took over) and what it did when it carried the other's
// rollouts on. The two scenarios run the same manifests and the same commands, so the second
// one to run compares Vane's records with Argo's.
type record struct {
	prepared       map[string]string   // normalize(state) before the migration
	preparedEvents map[string][]string // events on each rollout until then
	carried        map[string]string   // path -> "before -> after", what carrying on changed
	carriedEvents  map[string][]string // events on each rollout while carried on
}

var records = map[string]*record{}

func recordOf(controller string) *record {
	if records[controller] == nil {
		records[controller] = &record{}
	}
	return records[controller]
}

// rolloutEvents returns the events on each rollout recorded since since, normalized.
func rolloutEvents(f *fixture, since time.Time) map[string][]string {
	out := map[string][]string{}
	for _, e := range eventsSince(f.t, f.dyn, f.ns, since) {
		if e.kind == "Rollout" {
			out[e.name] = append(out[e.name], normalizeValue(f.ns, fmt.Sprintf("%s %s: %s", e.typ, e.reason, e.message)))
		}
	}
	for name, evs := range out {
		out[name] = mergeScaleDowns(evs)
	}
	return out
}

// scaledDown matches a ScalingReplicaSet event that scales a ReplicaSet down.
var scaledDown = regexp.MustCompile(`^Normal ScalingReplicaSet: Scaled down ReplicaSet (\S+) \(revision (\d+)\) from (\d+) to (\d+)$`)

// mergeScaleDowns writes the scale-downs of one ReplicaSet that follow each other (2 to 1, then
// 1 to 0) as one (2 to 0): how many steps a scale-down takes depends on when the other
// ReplicaSet's pods became available (the surge/unavailable budget), which differs from one
// run to the next under either controller; where it ends does not.
func mergeScaleDowns(events []string) []string {
	type step struct{ from, to int }
	chains := map[string][]step{}
	var out []string
	for _, e := range events {
		m := scaledDown.FindStringSubmatch(e)
		if m == nil {
			out = append(out, e)
			continue
		}
		from, _ := strconv.Atoi(m[3])
		to, _ := strconv.Atoi(m[4])
		key := m[1] + " (revision " + m[2] + ")"
		chains[key] = append(chains[key], step{from, to})
	}
	for key, steps := range chains {
		sort.Slice(steps, func(i, j int) bool { return steps[i].from > steps[j].from })
		merged := []step{steps[0]}
		for _, s := range steps[1:] {
			if last := &merged[len(merged)-1]; s.from == last.to {
				last.to = s.to
			} else {
				merged = append(merged, s)
			}
		}
		for _, s := range merged {
			out = append(out, fmt.Sprintf("Normal ScalingReplicaSet: Scaled down ReplicaSet %s from %d to %d", key, s.from, s.to))
		}
	}
	return out
}

// recordPrepared keeps the state the controller from brought the rollouts to.
func recordPrepared(f *fixture, from string, s state) {
	r := recordOf(from)
	r.prepared = normalize(f.ns, s)
	r.preparedEvents = rolloutEvents(f, time.Time{})
}

// recordCarriedOn keeps what the controller to changed while it carried the rollouts on from
// start, and the events it recorded.
func recordCarriedOn(f *fixture, to string, since time.Time, start state) {
	t := f.t
	end, _ := capture(t, f.dyn, f.ns)
	a, b := normalize(f.ns, start), normalize(f.ns, end)
	changes := map[string]string{}
	for k, av := range a {
		if bv, ok := b[k]; !ok {
			changes[k] = av + " -> (unset)"
		} else if bv != av {
			changes[k] = av + " -> " + bv
		}
	}
	for k, bv := range b {
		if _, ok := a[k]; !ok {
			changes[k] = "(unset) -> " + bv
		}
	}
	r := recordOf(to)
	r.carried = changes
	r.carriedEvents = rolloutEvents(f, since)
}

var (
	timeRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	uidRE  = regexp.MustCompile(`uid=\S+`)
)

func normalizeValue(ns, v string) string {
	return strings.ReplaceAll(timeRE.ReplaceAllString(v, "<time>"), ns, "<ns>")
}

// normalize flattens a state for a comparison between scenarios, without what differs from one
// run to the next: pods (their names are random), uids, generations (Argo's controller rewrites
// a Rollout with a full Update when it sets the revision annotation, which bumps
// metadata.generation), timestamps, the namespace and notes.
func normalize(ns string, s state) map[string]string {
	out := map[string]string{}
	for key, paths := range s {
		if strings.HasPrefix(key, "Pod/") {
			continue
		}
		for p, v := range paths {
			if p == "uid" || p == "generation" || p == "status.observedGeneration" || p == "startedAt" || strings.HasPrefix(p, notePrefix) {
				continue
			}
			if strings.HasPrefix(p, "owners[") {
				v = uidRE.ReplaceAllString(v, "uid=*")
			}
			out[key+" "+p] = normalizeValue(ns, v)
		}
	}
	return out
}

// compareControllers reports how Vane differs from Argo, once both scenarios have run: in the
// states it prepares (the same manifests and commands), in what it changes carrying the
// rollouts on from the same states, and in the events of both.
func compareControllers(t *testing.T) {
	v, a := records["Vane"], records["Argo"]
	if v == nil || a == nil {
		return
	}
	if v.prepared != nil && a.prepared != nil {
		if d := unknown(t, compareMaps(a.prepared, v.prepared)); len(d) > 0 {
			t.Errorf("the same manifests and commands: the states Vane prepares differ from Argo's:\n  %s", strings.Join(d, "\n  "))
		}
		compareEvents(t, "brought to the state it was migrated in", a.preparedEvents, v.preparedEvents)
	}
	if v.carried != nil && a.carried != nil {
		if d := unknown(t, compareMaps(a.carried, v.carried)); len(d) > 0 {
			t.Errorf("carried on from the same states, Vane's changes differ from Argo's:\n  %s", strings.Join(d, "\n  "))
		}
		compareEvents(t, "carried on from the same state", a.carriedEvents, v.carriedEvents)
	}
}

// knownDivergences are the differences from Argo this comparison still finds, each a part of a
// reported line, with why it is there. They are logged, not failed; anything else that differs
// fails the test.
var knownDivergences = map[string]string{
	// Argo's first reconcile of a workloadRef Rollout ends before it records the creation
	"Normal NewReplicaSetCreated: Created ReplicaSet rollouts-demo-rollout-": "workloadRef's first revision announces its ReplicaSet",
	// deliberate: Argo ignores the annotation, and its value (a digest of a status with
	// timestamps) differs from one run to the next anyway
	" annotations.vane.dev/started-from-status: Argo (none) | Vane ": "Vane marks the AnalysisRuns it starts with the status they were started from " +
		"(a run whose recording status write was lost is carried on with, not duplicated)",
}

// argoMaySkip are events Argo records in some runs and not in others, each a part of a
// reported line, with why: one Vane records and Argo skipped this time is logged, not failed.
var argoMaySkip = map[string]string{
	"Normal NewReplicaSetCreated: Created ReplicaSet ": "Argo records it only once its update of the Rollout's revision " +
		"annotation, made first, succeeded (rollout/sync.go createDesiredReplicaSet); when that update loses a conflict, " +
		"the retry finds the ReplicaSet made and records nothing",
}

// unknown returns the lines that are not known divergences, and logs those that are.
func unknown(t *testing.T, lines []string) []string {
	t.Helper()
	return unknownIn(t, lines, knownDivergences)
}

// unknownIn returns the lines no entry of known is a part of, and logs the others with why.
func unknownIn(t *testing.T, lines []string, known map[string]string) []string {
	t.Helper()
	var out []string
	for _, l := range lines {
		reason := ""
		for part, why := range known {
			if strings.Contains(l, part) {
				reason = why
			}
		}
		if reason == "" {
			out = append(out, l)
		} else {
			t.Logf("known divergence from Argo (%s): %s", reason, l)
		}
	}
	return out
}

func compareMaps(a, v map[string]string) []string {
	var diffs []string
	for k, av := range a {
		if vv, ok := v[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: Argo %s | Vane (none)", k, av))
		} else if vv != av {
			diffs = append(diffs, fmt.Sprintf("%s: Argo %s | Vane %s", k, av, vv))
		}
	}
	for k, vv := range v {
		if _, ok := a[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: Argo (none) | Vane %s", k, vv))
		}
	}
	sort.Strings(diffs)
	return diffs
}

func compareEvents(t *testing.T, what string, a, v map[string][]string) {
	t.Helper()
	for _, name := range allRollouts {
		onlyA, onlyV := multisetDiff(a[name], v[name])
		onlyA, onlyV = unknown(t, onlyA), unknownIn(t, unknown(t, onlyV), argoMaySkip)
		if len(onlyA)+len(onlyV) > 0 {
			t.Errorf("rollout %s %s: events only Argo records:\n  %s\nevents only Vane records:\n  %s",
				name, what, strings.Join(onlyA, "\n  "), strings.Join(onlyV, "\n  "))
		}
	}
}

// multisetDiff returns the elements of a not in b and of b not in a, counting repeats.
func multisetDiff(a, b []string) (onlyA, onlyB []string) {
	count := map[string]int{}
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		count[x]--
	}
	for x, n := range count {
		for ; n > 0; n-- {
			onlyA = append(onlyA, x)
		}
		for ; n < 0; n++ {
			onlyB = append(onlyB, x)
		}
	}
	sort.Strings(onlyA)
	sort.Strings(onlyB)
	return onlyA, onlyB
}

// TestMergeScaleDowns: a scale-down in steps compares equal to the same scale-down at once;
// two separate ones do not merge.
func TestMergeScaleDowns(t *testing.T) {
	in := []string{
		"Normal ScalingReplicaSet: Scaled down ReplicaSet app-a (revision 2) from 1 to 0",
		"Normal RolloutAborted: Rollout aborted update to revision 2",
		"Normal ScalingReplicaSet: Scaled down ReplicaSet app-a (revision 2) from 2 to 1",
		"Normal ScalingReplicaSet: Scaled down ReplicaSet app-b (revision 1) from 4 to 3",
		"Normal ScalingReplicaSet: Scaled down ReplicaSet app-b (revision 1) from 2 to 0",
	}
	got := mergeScaleDowns(in)
	sort.Strings(got)
	want := []string{
		"Normal RolloutAborted: Rollout aborted update to revision 2",
		"Normal ScalingReplicaSet: Scaled down ReplicaSet app-a (revision 2) from 2 to 0",
		"Normal ScalingReplicaSet: Scaled down ReplicaSet app-b (revision 1) from 2 to 0",
		"Normal ScalingReplicaSet: Scaled down ReplicaSet app-b (revision 1) from 4 to 3",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("merged:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
