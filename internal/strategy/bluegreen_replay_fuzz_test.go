package strategy

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
)

// fzReplayableBlueGreen makes a blue/green Rollout one whose update needs no one: promoted
// automatically (autoPromotionSeconds may still hold it for a while), without analysis, not
// paused. It reports whether the rollout is still valid.
func fzReplayableBlueGreen(ro *v1alpha1.Rollout) bool {
	bg := ro.Spec.Strategy.BlueGreen
	ro.Spec.Paused, ro.Spec.ProgressDeadlineAbort = false, false
	bg.AutoPromotionEnabled, bg.PrePromotionAnalysis, bg.PostPromotionAnalysis = nil, nil, nil
	return len(v1alpha1.ValidateRollout(ro)) == 0
}

// FuzzBlueGreenReplay plays an update of any valid blue/green Rollout from its active and
// stable ReplicaSet to the end, reconcile after reconcile, as the controller would: the
// Services select what each plan says, pods become available at once or some reconciles
// later, timed waits run out, and the user may abort, retry or promote in full, all as the
// fuzzer's bytes say (fzReplayableBlueGreen takes out what waits for a person or a run). Every
// plan passes FuzzBlueGreen's checks, and once nothing moves any more the update must be
// complete (the new ReplicaSet stable, active, previewed, at spec.replicas, every other
// ReplicaSet at 0) or, after an abort, active on the stable ReplicaSet at spec.replicas. It
// must settle within fzMaxReconciles.
func FuzzBlueGreenReplay(f *testing.F) {
	for _, js := range fzBlueGreenSeeds(f) {
		for _, st := range fzStates() {
			f.Add(js, st)
		}
	}
	f.Fuzz(func(t *testing.T, spec, world []byte) {
		ro, ok := fzDecode(spec)
		if !ok || ro.Spec.Strategy.BlueGreen == nil || !fzReplayableBlueGreen(ro) {
			return
		}
		fzReplayBlueGreen(t, ro, &fuzzBytes{b: world})
	})
}

// fzBlueGreenWorld is a blue/green update being replayed.
type fzBlueGreenWorld struct {
	ro              *v1alpha1.Rollout
	sets            []*fzWorldSet
	active, preview string // what the Services select
	now             time.Time
	trace           []string
}

func newFzBlueGreenWorld(ro *v1alpha1.Rollout, r *fuzzBytes) *fzBlueGreenWorld {
	replicas := ro.Spec.EffectiveReplicas()
	ro.Status = v1alpha1.RolloutStatus{StableRS: "s", CurrentPodHash: "s",
		BlueGreen: v1alpha1.BlueGreenStatus{ActiveSelector: "s"}}
	w := &fzBlueGreenWorld{ro: ro, now: fzT0, active: "s", sets: []*fzWorldSet{
		{Set: Set{Hash: "n", Revision: 3}},
		{Set: Set{Hash: "s", Revision: 2, Pods: Pods{replicas, replicas, replicas}}}}}
	if ro.Spec.Strategy.BlueGreen.PreviewService != "" {
		w.preview, ro.Status.BlueGreen.PreviewSelector = "s", "s"
	}
	if r.bool() { // an older ReplicaSet still running some pods
		n := int32(r.intn(int(min(replicas, 1<<10)) + 1))
		w.sets = append(w.sets, &fzWorldSet{Set: Set{Hash: "o1", Revision: 1, Pods: Pods{n, n, n}}})
	}
	return w
}

func (w *fzBlueGreenWorld) input() BlueGreenInput {
	in := BlueGreenInput{Rollout: w.ro.DeepCopy(), NewHash: "n", ActiveHash: w.active, PreviewHash: w.preview, Now: w.now}
	for _, s := range w.sets {
		in.Sets = append(in.Sets, BlueGreenSet{Hash: s.Hash, Revision: s.Revision, Pods: s.Pods, ScaleDownDeadline: s.ScaleDownDeadline})
	}
	return in
}

// fzReplayBlueGreen replays the update and checks how it ends.
func fzReplayBlueGreen(t *testing.T, ro *v1alpha1.Rollout, r *fuzzBytes) {
	w := newFzBlueGreenWorld(ro, r)
	aborted := false // the update is aborted by the user's last action
	for i := 0; i < fzMaxReconciles; i++ {
		moved := false
		for _, s := range w.sets {
			moved = s.tick() || moved
		}
		a := fzUserAction(r, &w.ro.Status)
		if a != fzNothing {
			st := &w.ro.Status
			inProgress := st.CurrentPodHash == "n" && st.StableRS != "n" && !st.PromoteFull
			aborted = a == fzAbort && inProgress || aborted && a != fzRetry
			a.apply(st)
			moved = true
		}
		p := fzBlueGreenDecide(t, w.input())
		w.record(a, p)
		moved = w.apply(p, r) || moved
		switch {
		case moved:
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

// apply makes the plan happen: the Services select what it says, the status is stored, the
// ReplicaSets scaled, the deadlines annotated. It reports whether anything changed.
func (w *fzBlueGreenWorld) apply(p BlueGreenPlan, r *fuzzBytes) bool {
	before, _ := json.Marshal(w.ro.Status)
	after, _ := json.Marshal(p.Status)
	moved := string(before) != string(after)
	w.ro.Status = p.Status
	// an empty selector leaves the Service as it is
	if sel := p.Status.BlueGreen.ActiveSelector; sel != "" && sel != w.active {
		w.active, moved = sel, true
	}
	if sel := p.Status.BlueGreen.PreviewSelector; sel != "" && sel != w.preview && w.ro.Spec.Strategy.BlueGreen.PreviewService != "" {
		w.preview, moved = sel, true
	}
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

func (w *fzBlueGreenWorld) record(a fzAction, p BlueGreenPlan) {
	counts := map[string]Pods{}
	for _, s := range w.sets {
		counts[s.Hash] = s.Pods
	}
	w.trace = append(w.trace, fmt.Sprintf("%s action %d: pods %v active %q preview %q -> replicas %v requeue %s events %v",
		w.now.Format(time.TimeOnly), a, counts, w.active, w.preview, p.Replicas, p.RequeueAfter, p.Events))
}

func (w *fzBlueGreenWorld) fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Fatalf(format+"\nstatus: %s\ntrace:\n%s", append(args, fzDescribe(w.ro.Status), strings.Join(w.trace, "\n"))...)
}

// checkSettled checks the state the update rests in.
func (w *fzBlueGreenWorld) checkSettled(t *testing.T, aborted bool) {
	t.Helper()
	st, replicas := &w.ro.Status, w.ro.Spec.EffectiveReplicas()
	counts := map[string]int32{}
	for _, s := range w.sets {
		counts[s.Hash] = s.Pods.Spec
	}
	if aborted {
		if st.StableRS != "s" || w.active != "s" || counts["s"] != replicas || !st.Abort {
			w.fatalf(t, "an aborted update rests with stableRS %q, active %q, ReplicaSets %v, abort %t; want \"s\" active at %d",
				st.StableRS, w.active, counts, st.Abort, replicas)
		}
		return
	}
	previewed := w.ro.Spec.Strategy.BlueGreen.PreviewService == "" || w.preview == "n"
	if !Completed(st) || st.StableRS != "n" || w.active != "n" || !previewed || st.Abort || len(st.PauseConditions) > 0 {
		w.fatalf(t, "the update rests incomplete (active %q, preview %q)", w.active, w.preview)
	}
	for h, n := range counts {
		if want := map[bool]int32{true: replicas, false: 0}[h == "n"]; n != want {
			w.fatalf(t, "the update rests with ReplicaSets %v; want only \"n\", at %d", counts, replicas)
		}
	}
}
