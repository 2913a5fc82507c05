package strategy

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
)

// fzMaxReconciles bounds a replayed update: more reconciles than this is a rollout that never
// settles.
const fzMaxReconciles = 400

// fzAction is what a user does to the rollout before a reconcile, as the fuzzer's bytes say.
type fzAction int

const (
	fzNothing fzAction = iota
	fzAbort
	fzRetry
	fzPromoteFull
)

// fzUserAction draws the user's action: mostly nothing, now and then an abort, a retry of an
// aborted update or a full promotion.
func fzUserAction(r *fuzzBytes, st *v1alpha1.RolloutStatus) fzAction {
	switch a := fzAction(r.byte() % 24); {
	case a == fzAbort && !st.Abort, a == fzRetry && st.Abort, a == fzPromoteFull && !st.Abort:
		return a
	}
	return fzNothing
}

// apply does the user's action to the status, as kubectl argo rollouts abort, retry and
// promote --full patch it.
func (a fzAction) apply(st *v1alpha1.RolloutStatus) {
	switch a {
	case fzAbort:
		st.Abort = true
	case fzRetry:
		st.Abort = false
	case fzPromoteFull:
		st.PromoteFull = true
	}
}

// fzWorldSet is a ReplicaSet of a replayed update: its pods exist at once, and become available
// after the number of reconciles lag says.
type fzWorldSet struct {
	Set
	lag int
}

// scale gives the set n pods (available after lag reconciles); it reports a change.
func (s *fzWorldSet) scale(n int32, lag int) bool {
	if n == s.Pods.Spec {
		return false
	}
	s.Pods.Spec, s.Pods.Current = n, n
	s.Pods.Available = min(s.Pods.Available, n)
	s.lag = lag
	if lag == 0 {
		s.Pods.Available = n
	}
	return true
}

// tick makes the set's pods available once their lag is over; it reports a change.
func (s *fzWorldSet) tick() bool {
	if s.Pods.Available == s.Pods.Spec {
		return false
	}
	if s.lag > 0 {
		s.lag--
		return true // the ReplicaSet's status moves: another reconcile comes
	}
	s.Pods.Available = s.Pods.Spec
	return true
}

// fzReplayableCanary makes a canary Rollout one whose update needs no one: the steps that wait
// for a person, a run or an Experiment (indefinite pauses, analysis, experiment) and the
// background analysis are taken out, and the rollout is not paused. It reports whether the
// rollout is still valid.
func fzReplayableCanary(ro *v1alpha1.Rollout) bool {
	c := ro.Spec.Strategy.Canary
	ro.Spec.Paused, ro.Spec.ProgressDeadlineAbort, c.Analysis = false, false, nil
	var steps []v1alpha1.CanaryStep
	for _, s := range c.Steps {
		if s.Analysis != nil || s.Experiment != nil || s.Plugin != nil || (s.Pause != nil && s.Pause.Duration == nil) {
			continue
		}
		steps = append(steps, s)
	}
	c.Steps = steps
	return len(v1alpha1.ValidateRollout(ro)) == 0
}

// FuzzCanaryReplay plays an update of any valid canary Rollout from its stable ReplicaSet to
// the end, reconcile after reconcile, as the controller would: pods become available at once
// or some reconciles later, the router applies each weight, timed pauses run out, and the
// user may abort, retry or promote in full, all as the fuzzer's bytes say. The steps that
// wait for a person or a run are taken out (fzReplayableCanary). Every plan passes
// FuzzCanary's checks, and once nothing moves any more (no change, no requeue) the update must
// be complete (new ReplicaSet stable at spec.replicas, every step done, every other
// ReplicaSet at 0) or, when the user's last action was an abort, back on the stable
// ReplicaSet with no traffic to the canary. It must settle within fzMaxReconciles.
func FuzzCanaryReplay(f *testing.F) {
	for _, js := range fzCanarySeeds(f) {
		for _, st := range fzStates() {
			f.Add(js, st)
		}
	}
	f.Fuzz(func(t *testing.T, spec, world []byte) {
		ro, ok := fzDecode(spec)
		if !ok || ro.Spec.Strategy.Canary == nil || !fzReplayableCanary(ro) {
			return
		}
		fzReplayCanary(t, ro, &fuzzBytes{b: world})
	})
}

// fzCanaryWorld is a canary update being replayed.
type fzCanaryWorld struct {
	ro     *v1alpha1.Rollout
	sets   []*fzWorldSet
	now    time.Time
	routed bool
	// trace tells each reconcile, for a failure's message
	trace []string
}

// record adds a reconcile to the trace.
func (w *fzCanaryWorld) record(a fzAction, p Plan) {
	counts := map[string]Pods{}
	for _, s := range w.sets {
		counts[s.Hash] = s.Pods
	}
	w.trace = append(w.trace, fmt.Sprintf("%s action %d: pods %v -> replicas %v weight %d router %d requeue %s events %v",
		w.now.Format(time.TimeOnly), a, counts, p.Replicas, p.Weight, p.RouterWeight, p.RequeueAfter, p.Events))
}

// fatalf fails t with the trace.
func (w *fzCanaryWorld) fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Fatalf(format+"\nstatus: %s\ntrace:\n%s", append(args, fzDescribe(w.ro.Status), strings.Join(w.trace, "\n"))...)
}

func newFzCanaryWorld(ro *v1alpha1.Rollout, r *fuzzBytes) *fzCanaryWorld {
	replicas := ro.Spec.EffectiveReplicas()
	steps := int32(len(ro.Spec.Strategy.Canary.Steps))
	ro.Status = v1alpha1.RolloutStatus{StableRS: "s", CurrentPodHash: "s", CurrentStepHash: "steps", CurrentStepIndex: &steps}
	w := &fzCanaryWorld{ro: ro, now: fzT0, routed: ro.Spec.Strategy.Canary.TrafficRouting != nil,
		sets: []*fzWorldSet{
			{Set: Set{Hash: "n", Role: RoleNew, Revision: 3}},
			{Set: Set{Hash: "s", Role: RoleStable, Revision: 2, Pods: Pods{replicas, replicas, replicas}}}}}
	if r.bool() { // an older ReplicaSet still running some pods
		n := int32(r.intn(int(min(replicas, 1<<10)) + 1))
		w.sets = append(w.sets, &fzWorldSet{Set: Set{Hash: "o1", Role: RoleOther, Revision: 1, Pods: Pods{n, n, n}}})
	}
	return w
}

func (w *fzCanaryWorld) input() Input {
	in := Input{Rollout: w.ro.DeepCopy(), NewHash: "n", StepsHash: "steps", Now: w.now, TrafficRouter: w.routed,
		RouterWeightVerified: true}
	for _, s := range w.sets {
		in.Sets = append(in.Sets, s.Set)
	}
	return in
}

// fzReplayCanary replays the update and checks how it ends.
func fzReplayCanary(t *testing.T, ro *v1alpha1.Rollout, r *fuzzBytes) {
	w := newFzCanaryWorld(ro, r)
	aborted := false // the update is aborted by the user's last action
	for i := 0; i < fzMaxReconciles; i++ {
		moved := false
		for _, s := range w.sets {
			moved = s.tick() || moved
		}
		a := fzUserAction(r, &w.ro.Status)
		if a != fzNothing {
			st := &w.ro.Status
			// an abort acts on an update in progress (one the controller saw already: a new
			// revision clears an abort) that is not being promoted in full
			inProgress := st.CurrentPodHash == "n" && st.StableRS != "n" && !st.PromoteFull
			aborted = a == fzAbort && inProgress || aborted && a != fzRetry
			a.apply(st)
			moved = true
		}
		p := fzCanaryDecide(t, w.input())
		w.record(a, p)
		moved = w.apply(p, r) || moved
		switch {
		case moved || p.WaitingForRouter:
			w.now = w.now.Add(time.Second)
		case p.RequeueAfter > 0:
			w.now = w.now.Add(p.RequeueAfter)
		default:
			w.checkSettled(t, aborted)
			return
		}
	}
	w.fatalf(t, "the update did not settle within %d reconciles", fzMaxReconciles)
}

// apply makes the plan happen: the status is stored, the ReplicaSets scaled, the deadlines
// annotated. It reports whether anything changed (which another reconcile follows).
func (w *fzCanaryWorld) apply(p Plan, r *fuzzBytes) bool {
	before, _ := json.Marshal(w.ro.Status)
	after, _ := json.Marshal(p.Status)
	moved := string(before) != string(after)
	w.ro.Status = p.Status
	for _, s := range w.sets {
		if n, ok := p.Replicas[s.Hash]; ok {
			moved = s.scale(n, r.intn(3)) || moved
		}
		if d, ok := p.ScaleDownDeadlines[s.Hash]; ok && !d.Equal(s.ScaleDownDeadline) {
			s.ScaleDownDeadline, moved = d, true
		}
	}
	return moved
}

// checkSettled checks the state the update rests in.
func (w *fzCanaryWorld) checkSettled(t *testing.T, aborted bool) {
	t.Helper()
	st, replicas := &w.ro.Status, w.ro.Spec.EffectiveReplicas()
	counts := map[string]int32{}
	for _, s := range w.sets {
		counts[s.Hash] = s.Pods.Spec
	}
	if aborted {
		if st.StableRS != "s" || counts["s"] != replicas || !st.Abort {
			w.fatalf(t, "an aborted update rests with stableRS %q, ReplicaSets %v, abort %t; want stable \"s\" at %d",
				st.StableRS, counts, st.Abort, replicas)
		}
		if wt := st.Canary.Weights; w.routed && wt != nil && wt.Canary.Weight != 0 {
			w.fatalf(t, "an aborted update rests with %d traffic to the canary", wt.Canary.Weight)
		}
		return
	}
	steps := int32(len(w.ro.Spec.Strategy.Canary.Steps))
	done := st.CurrentStepIndex == nil && steps == 0 || st.CurrentStepIndex != nil && *st.CurrentStepIndex == steps
	if !Completed(st) || st.StableRS != "n" || !done || st.Abort || len(st.PauseConditions) > 0 {
		w.fatalf(t, "the update rests incomplete")
	}
	for h, n := range counts {
		if want := map[bool]int32{true: replicas, false: 0}[h == "n"]; n != want {
			w.fatalf(t, "the update rests with ReplicaSets %v; want only \"n\", at %d", counts, replicas)
		}
	}
}
