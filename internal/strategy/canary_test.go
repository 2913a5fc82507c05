package strategy

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/vanedev/vane/api/v1alpha1"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func weight(w int32) v1alpha1.CanaryStep { return v1alpha1.CanaryStep{SetWeight: &w} }
func pauseFor(d string) v1alpha1.CanaryStep {
	ds := v1alpha1.DurationFromString(d)
	return v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{Duration: &ds}}
}
func pauseForever() v1alpha1.CanaryStep { return v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{}} }

func rollout(replicas int32, steps []v1alpha1.CanaryStep, st v1alpha1.RolloutStatus) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		Spec: v1alpha1.RolloutSpec{Replicas: &replicas,
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps}}},
		Status: st,
	}
}

func ready(n int32) Pods { return Pods{Spec: n, Current: n, Available: n} }

var demoSteps = []v1alpha1.CanaryStep{weight(20), pauseForever(), weight(60), pauseFor("10s")}

// updating is the status of a rollout of demoSteps moving from stable "s" to new "n".
func updating(idx int32, mod func(*v1alpha1.RolloutStatus)) v1alpha1.RolloutStatus {
	st := v1alpha1.RolloutStatus{StableRS: "s", CurrentPodHash: "n", CurrentStepHash: "steps", CurrentStepIndex: &idx}
	if mod != nil {
		mod(&st)
	}
	return st
}

func TestCanary(t *testing.T) {
	type want struct {
		Replicas        map[string]int32
		StepIndex       int32
		StableRS        string
		Pauses          []v1alpha1.PauseReason
		ControllerPause bool
		Completed       bool
		Aborted         bool
		RequeueAfter    time.Duration
		Reasons         []string
	}
	tests := map[string]struct {
		rollout  *v1alpha1.Rollout
		sets     []Set
		now      time.Time
		rollback bool
		want     want
	}{
		"rollback inside the window skips the steps": {
			rollout:  rollout(5, demoSteps, v1alpha1.RolloutStatus{StableRS: "s", CurrentPodHash: "s", CurrentStepHash: "steps", CurrentStepIndex: ptr32(4)}),
			rollback: true,
			sets:     []Set{{Hash: "n", Role: RoleNew}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			// Argo scales the stable down first (one pod: maxUnavailable), the canary next time
			want: want{Replicas: map[string]int32{"n": 0, "s": 4}, StepIndex: 4, StableRS: "s"},
		},
		"first revision goes straight to full size and stable": {
			rollout: rollout(5, demoSteps, v1alpha1.RolloutStatus{}),
			sets:    []Set{{Hash: "n", Role: RoleNew}},
			want: want{Replicas: map[string]int32{"n": 5}, StepIndex: 4, StableRS: "n", Completed: true,
				Reasons: []string{"RolloutCompleted"}},
		},
		"new template starts at step 0 and surges the canary": {
			rollout: rollout(5, demoSteps, v1alpha1.RolloutStatus{StableRS: "s", CurrentPodHash: "s", CurrentStepHash: "steps", CurrentStepIndex: ptr32(4)}),
			sets:    []Set{{Hash: "n", Role: RoleNew}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			// 20% of 5 is 1 canary and 4 stable pods: the stable goes first, within maxUnavailable
			want: want{Replicas: map[string]int32{"n": 0, "s": 4}, StepIndex: 0, StableRS: "s"},
		},
		"setWeight reached moves on to the pause, which pauses": {
			rollout: rollout(5, demoSteps, updating(0, nil)),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(4)}},
			want: want{Replicas: map[string]int32{"n": 1, "s": 4}, StepIndex: 1, StableRS: "s",
				Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonCanaryPauseStep}, ControllerPause: true,
				Reasons: []string{"RolloutStepCompleted", "RolloutPaused"}},
		},
		"a step the engine cannot play holds the rollout, never skipped": {
			rollout: rollout(5, []v1alpha1.CanaryStep{weight(20), {Plugin: &v1alpha1.PluginStep{Name: "p"}}, weight(60)},
				updating(1, nil)),
			sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(4)}},
			want: want{Replicas: map[string]int32{"n": 1, "s": 4}, StepIndex: 1, StableRS: "s"},
		},
		"setWeight not reached while the canary is unavailable": {
			rollout: rollout(5, demoSteps, updating(0, nil)),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: Pods{Spec: 1, Current: 1}}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			want:    want{Replicas: map[string]int32{"n": 1, "s": 4}, StepIndex: 0, StableRS: "s"},
		},
		"indefinite pause waits": {
			rollout: rollout(5, demoSteps, updating(1, func(st *v1alpha1.RolloutStatus) {
				st.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.NewTime(t0)}}
				st.ControllerPause = true
			})),
			now:  t0.Add(time.Hour),
			sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(4)}},
			want: want{Replicas: map[string]int32{"n": 1, "s": 4}, StepIndex: 1, StableRS: "s",
				Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonCanaryPauseStep}, ControllerPause: true},
		},
		"promote (pause condition removed) goes on to the next weight": {
			rollout: rollout(5, demoSteps, updating(1, func(st *v1alpha1.RolloutStatus) { st.ControllerPause = true })),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(4)}},
			// 60% of 5: 3 and 2; the stable shrinks first (maxUnavailable 1), the canary grows next
			want: want{Replicas: map[string]int32{"n": 1, "s": 3}, StepIndex: 2, StableRS: "s",
				Reasons: []string{"RolloutStepCompleted"}},
		},
		"a pause skipped by moving the step index does not skip the next pause": {
			// Argo CD's "skip current step" moved the index past pause 1 and cleared its condition
			rollout: rollout(5, demoSteps, updating(2, func(st *v1alpha1.RolloutStatus) { st.ControllerPause = true })),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(3)}, {Hash: "s", Role: RoleStable, Pods: ready(2)}},
			want: want{Replicas: map[string]int32{"n": 3, "s": 2}, StepIndex: 3, StableRS: "s",
				Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonCanaryPauseStep}, ControllerPause: true, RequeueAfter: 10 * time.Second,
				Reasons: []string{"RolloutStepCompleted", "RolloutPaused"}},
		},
		"abort of a rollout that is not updating is dropped": {
			rollout: rollout(5, demoSteps, v1alpha1.RolloutStatus{StableRS: "n", CurrentPodHash: "n", CurrentStepHash: "steps",
				CurrentStepIndex: ptr32(4), Abort: true, PromoteFull: true}),
			sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(5)}},
			want: want{Replicas: map[string]int32{"n": 5}, StepIndex: 4, StableRS: "n"},
		},
		"timed pause not over asks to come back": {
			rollout: rollout(5, demoSteps, updating(3, func(st *v1alpha1.RolloutStatus) {
				st.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.NewTime(t0)}}
				st.ControllerPause = true
			})),
			now:  t0.Add(4 * time.Second),
			sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(3)}, {Hash: "s", Role: RoleStable, Pods: ready(2)}},
			want: want{Replicas: map[string]int32{"n": 3, "s": 2}, StepIndex: 3, StableRS: "s", RequeueAfter: 6 * time.Second,
				Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonCanaryPauseStep}, ControllerPause: true},
		},
		"timed pause over ends the steps and scales to 100%": {
			rollout: rollout(5, demoSteps, updating(3, func(st *v1alpha1.RolloutStatus) {
				st.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.NewTime(t0)}}
				st.ControllerPause = true
			})),
			now:  t0.Add(10 * time.Second),
			sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(3)}, {Hash: "s", Role: RoleStable, Pods: ready(2)}},
			want: want{Replicas: map[string]int32{"n": 3, "s": 1}, StepIndex: 4, StableRS: "s",
				Reasons: []string{"RolloutResumed", "RolloutStepCompleted"}},
		},
		"all steps done and new fully available: completed": {
			rollout: rollout(5, demoSteps, updating(4, nil)),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(5)}, {Hash: "s", Role: RoleStable, Pods: Pods{}}},
			want:    want{Replicas: map[string]int32{"n": 5, "s": 0}, StepIndex: 4, StableRS: "n", Completed: true, Reasons: []string{"RolloutCompleted"}},
		},
		"abort sends pods back to stable": {
			rollout: rollout(5, demoSteps, updating(2, func(st *v1alpha1.RolloutStatus) { st.Abort = true })),
			now:     t0,
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(3)}, {Hash: "s", Role: RoleStable, Pods: ready(2)}},
			// the stable grows back first (maxSurge 2); the steps start over from 0 (Argo)
			want: want{Replicas: map[string]int32{"n": 3, "s": 4}, StepIndex: 0, StableRS: "s", Aborted: true,
				Reasons: []string{"RolloutAborted"}},
		},
		"retry restarts the steps": {
			rollout: rollout(5, demoSteps, updating(2, func(st *v1alpha1.RolloutStatus) { at := metav1.NewTime(t0); st.AbortedAt = &at })),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: Pods{}}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			want:    want{Replicas: map[string]int32{"n": 0, "s": 4}, StepIndex: 0, StableRS: "s", Reasons: nil},
		},
		"promote full skips the remaining steps": {
			rollout: rollout(5, demoSteps, updating(1, func(st *v1alpha1.RolloutStatus) {
				st.PromoteFull = true
				st.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.NewTime(t0)}}
			})),
			sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(4)}},
			want: want{Replicas: map[string]int32{"n": 1, "s": 3}, StepIndex: 4, StableRS: "s"},
		},
		"back to the stable template mid-update skips the steps": {
			rollout: rollout(5, demoSteps, updating(2, func(st *v1alpha1.RolloutStatus) { st.CurrentPodHash = "n" })),
			sets:    []Set{{Hash: "s", Role: RoleNew, Pods: ready(2)}, {Hash: "n", Role: RoleOther, Pods: ready(3)}},
			// the older ReplicaSet keeps its pods until the stable is back at full size
			want: want{Replicas: map[string]int32{"s": 4, "n": 3}, StepIndex: 4, StableRS: "s", Reasons: []string{"SkipSteps"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			newHash := tc.sets[0].Hash
			p, err := Canary(Input{Rollout: tc.rollout, NewHash: newHash, StepsHash: "steps", Sets: tc.sets, Now: tc.now,
				FastRollback: tc.rollback})
			if err != nil {
				t.Fatal(err)
			}
			got := want{Replicas: p.Replicas, StepIndex: *p.Status.CurrentStepIndex, StableRS: p.Status.StableRS,
				ControllerPause: p.Status.ControllerPause, Completed: p.Completed, Aborted: p.Status.AbortedAt != nil,
				RequeueAfter: p.RequeueAfter}
			for _, c := range p.Status.PauseConditions {
				got.Pauses = append(got.Pauses, c.Reason)
			}
			for _, e := range p.Events {
				got.Reasons = append(got.Reasons, e.Reason)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPhase(t *testing.T) {
	type want struct {
		Phase   v1alpha1.RolloutPhase
		Message string
	}
	done := v1alpha1.RolloutStatus{StableRS: "n", CurrentPodHash: "n"}
	moving := v1alpha1.RolloutStatus{StableRS: "s", CurrentPodHash: "n"}
	paused := v1alpha1.RolloutStatus{StableRS: "s", CurrentPodHash: "n",
		PauseConditions: []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep}}}
	tests := map[string]struct {
		status  v1alpha1.RolloutStatus
		paused  bool
		counts  Counts
		problem *Problem
		want    want
	}{
		"healthy":           {status: done, counts: Counts{5, 5, 5, 5}, want: want{v1alpha1.RolloutPhaseHealthy, ""}},
		"canary step":       {status: moving, counts: Counts{6, 1, 6, 6}, want: want{v1alpha1.RolloutPhaseProgressing, "more replicas need to be updated"}},
		"becoming avail":    {status: done, counts: Counts{5, 5, 3, 3}, want: want{v1alpha1.RolloutPhaseProgressing, "updated replicas are still becoming available"}},
		"old pods":          {status: done, counts: Counts{7, 5, 7, 7}, want: want{v1alpha1.RolloutPhaseProgressing, "old replicas are pending termination"}},
		"steps left at 100": {status: moving, counts: Counts{5, 5, 5, 5}, want: want{v1alpha1.RolloutPhaseProgressing, "waiting for all steps to complete"}},
		"pause step":        {status: paused, counts: Counts{5, 1, 5, 5}, want: want{v1alpha1.RolloutPhasePaused, "CanaryPauseStep"}},
		"manual pause":      {status: moving, paused: true, counts: Counts{5, 1, 5, 5}, want: want{v1alpha1.RolloutPhasePaused, "manually paused"}},
		"aborted": {status: moving, counts: Counts{5, 0, 5, 5}, problem: Abort("2", ""),
			want: want{v1alpha1.RolloutPhaseDegraded, "RolloutAborted: Rollout aborted update to revision 2"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := rollout(5, demoSteps, tc.status)
			r.Spec.Paused = tc.paused
			ph, msg := Phase(r, &r.Status, tc.counts, tc.problem)
			if diff := cmp.Diff(tc.want, want{ph, msg}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// routedRollout is a rollout of steps whose traffic a router splits.
func routedRollout(replicas int32, steps []v1alpha1.CanaryStep, st v1alpha1.RolloutStatus, mod func(*v1alpha1.CanaryStrategy)) *v1alpha1.Rollout {
	r := rollout(replicas, steps, st)
	c := r.Spec.Strategy.Canary
	c.CanaryService, c.StableService = "canary", "stable"
	c.TrafficRouting = &v1alpha1.RolloutTrafficRouting{
		Plugins:       map[string]json.RawMessage{"argoproj-labs/gatewayAPI": json.RawMessage(`{"httpRoute":"web"}`)},
		ManagedRoutes: []v1alpha1.MangedRoutes{{Name: "mirror"}, {Name: "header"}},
	}
	if mod != nil {
		mod(c)
	}
	return r
}

// applied records the weight the router was last set to for canary hash.
func applied(w int32, hash string) func(*v1alpha1.RolloutStatus) {
	return func(st *v1alpha1.RolloutStatus) {
		st.Canary.Weights = &v1alpha1.TrafficWeights{Canary: v1alpha1.WeightDestination{Weight: w, PodTemplateHash: hash},
			Stable: v1alpha1.WeightDestination{Weight: 100 - w, PodTemplateHash: "s"}}
	}
}

func all(mods ...func(*v1alpha1.RolloutStatus)) func(*v1alpha1.RolloutStatus) {
	return func(st *v1alpha1.RolloutStatus) {
		for _, m := range mods {
			m(st)
		}
	}
}

func pausedAt(t time.Time) func(*v1alpha1.RolloutStatus) {
	return func(st *v1alpha1.RolloutStatus) {
		st.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.NewTime(t)}}
		st.ControllerPause = true
	}
}

func abortedAt(t time.Time) func(*v1alpha1.RolloutStatus) {
	return func(st *v1alpha1.RolloutStatus) {
		st.Abort = true
		if !t.IsZero() {
			at := metav1.NewTime(t)
			st.AbortedAt = &at
		}
	}
}

func deadline(s Set, d time.Time) Set { s.ScaleDownDeadline = d; return s }

func headerStep(name string, match ...v1alpha1.HeaderRoutingMatch) v1alpha1.CanaryStep {
	return v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: name, Match: match}}
}

func mirrorStep(name string, match ...v1alpha1.RouteMatch) v1alpha1.CanaryStep {
	return v1alpha1.CanaryStep{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: name, Match: match}}
}

func TestCanaryTrafficRouted(t *testing.T) {
	type want struct {
		Replicas     map[string]int32
		StepIndex    int32
		StableRS     string
		RouterWeight int32
		Waiting      bool
		Completed    bool
		RemoveRoutes bool
		// Routes are the managed routes in effect: name=+ (set) or name=- (removed)
		Routes       []string
		Deadlines    map[string]time.Time
		Pauses       int
		RequeueAfter time.Duration
		Reasons      []string
	}
	xCanary := v1alpha1.HeaderRoutingMatch{HeaderName: "X-Canary", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}}
	getAll := v1alpha1.RouteMatch{Method: &v1alpha1.StringMatch{Exact: "GET"}}
	tests := map[string]struct {
		rollout  *v1alpha1.Rollout
		sets     []Set
		verified bool
		services []string // the hashes the Services select
		now      time.Time
		want     want
	}{
		"first revision: all pods and all traffic on it at once": {
			rollout: routedRollout(5, demoSteps, v1alpha1.RolloutStatus{}, nil),
			sets:    []Set{{Hash: "n", Role: RoleNew}},
			want: want{Replicas: map[string]int32{"n": 5}, StepIndex: 4, StableRS: "n", RemoveRoutes: true, Completed: true,
				Reasons: []string{"RolloutCompleted"}},
		},
		"new template: canary scaled to its share at once, stable stays full, no traffic yet": {
			rollout: routedRollout(5, demoSteps, v1alpha1.RolloutStatus{StableRS: "s", CurrentPodHash: "s", CurrentStepHash: "steps", CurrentStepIndex: ptr32(4)}, nil),
			sets:    []Set{{Hash: "n", Role: RoleNew}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			want:    want{Replicas: map[string]int32{"n": 1, "s": 5}, StepIndex: 0, StableRS: "s"},
		},
		"canary pods not available yet: the router stays at the previous weight": {
			rollout: routedRollout(5, demoSteps, updating(0, nil), nil),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: Pods{Spec: 1, Current: 1}}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			want:    want{Replicas: map[string]int32{"n": 1, "s": 5}, StepIndex: 0, StableRS: "s"},
		},
		"canary available: the router goes to 20% and the step waits for it": {
			rollout: routedRollout(5, demoSteps, updating(0, nil), nil),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			want:    want{Replicas: map[string]int32{"n": 1, "s": 5}, StepIndex: 0, StableRS: "s", RouterWeight: 20, Waiting: true},
		},
		"weight set but the router does not report it applied: the step waits": {
			rollout: routedRollout(5, demoSteps, updating(0, applied(20, "n")), nil),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			want:    want{Replicas: map[string]int32{"n": 1, "s": 5}, StepIndex: 0, StableRS: "s", RouterWeight: 20, Waiting: true},
		},
		"weight verified: the step completes and the pause pauses": {
			rollout:  routedRollout(5, demoSteps, updating(0, applied(20, "n")), nil),
			sets:     []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			verified: true,
			want: want{Replicas: map[string]int32{"n": 1, "s": 5}, StepIndex: 1, StableRS: "s", RouterWeight: 20, Pauses: 1,
				Reasons: []string{"RolloutStepCompleted", "RolloutPaused"}},
		},
		"verified weight of an earlier canary does not count": {
			rollout:  routedRollout(5, demoSteps, updating(0, applied(20, "old")), nil),
			sets:     []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			verified: true,
			want:     want{Replicas: map[string]int32{"n": 1, "s": 5}, StepIndex: 0, StableRS: "s", RouterWeight: 20, Waiting: true},
		},
		"promoted to 60%: the canary grows to 3 first, the router stays at 20%": {
			rollout:  routedRollout(5, demoSteps, updating(1, all(applied(20, "n"), func(st *v1alpha1.RolloutStatus) { st.ControllerPause = true })), nil),
			sets:     []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			verified: true,
			want: want{Replicas: map[string]int32{"n": 3, "s": 5}, StepIndex: 2, StableRS: "s", RouterWeight: 20,
				Reasons: []string{"RolloutStepCompleted"}},
		},
		"steps done: the canary grows to full size before the router goes to 100%": {
			rollout:  routedRollout(5, demoSteps, updating(4, applied(60, "n")), nil),
			sets:     []Set{{Hash: "n", Role: RoleNew, Pods: ready(3)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			verified: true,
			want:     want{Replicas: map[string]int32{"n": 5, "s": 5}, StepIndex: 4, StableRS: "s", RouterWeight: 60},
		},
		"full size: the router goes to 100% and completion waits for it": {
			rollout:  routedRollout(5, demoSteps, updating(4, applied(60, "n")), nil),
			sets:     []Set{{Hash: "n", Role: RoleNew, Pods: ready(5)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			verified: true,
			want:     want{Replicas: map[string]int32{"n": 5, "s": 5}, StepIndex: 4, StableRS: "s", RouterWeight: 100, Waiting: true},
		},
		"100% verified: completed, routes removed, the old stable (still the status's) keeps its pods": {
			rollout:  routedRollout(5, demoSteps, updating(4, applied(100, "n")), nil),
			sets:     []Set{{Hash: "n", Role: RoleNew, Pods: ready(5)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			verified: true, now: t0,
			want: want{Replicas: map[string]int32{"n": 5, "s": 5}, StepIndex: 4, StableRS: "n", Completed: true, RemoveRoutes: true,
				Reasons: []string{"RolloutCompleted"}},
		},
		"completed: the old stable nothing refers to any more gets its deadline (scaleDownDelaySeconds)": {
			rollout:  routedRollout(5, demoSteps, v1alpha1.RolloutStatus{StableRS: "n", CurrentPodHash: "n", CurrentStepHash: "steps", CurrentStepIndex: ptr32(4)}, nil),
			sets:     []Set{{Hash: "n", Role: RoleNew, Pods: ready(5)}, {Hash: "s", Role: RoleOther, Pods: ready(5)}},
			verified: true, now: t0,
			want: want{Replicas: map[string]int32{"n": 5, "s": 5}, StepIndex: 4, StableRS: "n", RemoveRoutes: true,
				Deadlines: map[string]time.Time{"s": t0.Add(30 * time.Second)}, RequeueAfter: 30 * time.Second},
		},
		"completed with dynamicStableScale: the old stable goes at once (Argo's scaleDownOldReplicaSetsForCanary)": {
			rollout: routedRollout(5, demoSteps, v1alpha1.RolloutStatus{StableRS: "n", CurrentPodHash: "n", CurrentStepHash: "steps", CurrentStepIndex: ptr32(4)},
				func(c *v1alpha1.CanaryStrategy) { c.DynamicStableScale = true }),
			sets:     []Set{{Hash: "n", Role: RoleNew, Pods: ready(5)}, {Hash: "s", Role: RoleOther, Pods: ready(3)}},
			verified: true, now: t0,
			want: want{Replicas: map[string]int32{"n": 5, "s": 0}, StepIndex: 4, StableRS: "n", RemoveRoutes: true},
		},
		"a Service still selecting an old set keeps its pods": {
			rollout: routedRollout(5, demoSteps, v1alpha1.RolloutStatus{StableRS: "n", CurrentPodHash: "n", CurrentStepHash: "steps", CurrentStepIndex: ptr32(4)},
				func(c *v1alpha1.CanaryStrategy) { c.DynamicStableScale = true }),
			sets:     []Set{{Hash: "n", Role: RoleNew, Pods: ready(5)}, {Hash: "s", Role: RoleOther, Pods: ready(3)}},
			services: []string{"s"}, verified: true, now: t0,
			want: want{Replicas: map[string]int32{"n": 5, "s": 3}, StepIndex: 4, StableRS: "n", RemoveRoutes: true},
		},
		"after completion the old stable waits for its deadline": {
			rollout: routedRollout(5, demoSteps, v1alpha1.RolloutStatus{StableRS: "n", CurrentPodHash: "n", CurrentStepHash: "steps", CurrentStepIndex: ptr32(4)}, nil),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(5)}, deadline(Set{Hash: "s", Role: RoleOther, Pods: ready(5)}, t0.Add(10*time.Second))},
			now:     t0,
			want: want{Replicas: map[string]int32{"n": 5, "s": 5}, StepIndex: 4, StableRS: "n", RemoveRoutes: true,
				RequeueAfter: 10 * time.Second},
		},
		"the old stable scales down at its deadline": {
			rollout: routedRollout(5, demoSteps, v1alpha1.RolloutStatus{StableRS: "n", CurrentPodHash: "n", CurrentStepHash: "steps", CurrentStepIndex: ptr32(4)}, nil),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(5)}, deadline(Set{Hash: "s", Role: RoleOther, Pods: ready(5)}, t0)},
			now:     t0,
			want:    want{Replicas: map[string]int32{"n": 5, "s": 0}, StepIndex: 4, StableRS: "n", RemoveRoutes: true},
		},
		"scaleDownDelaySeconds 0 scales the old stable down once nothing refers to it": {
			rollout: routedRollout(5, demoSteps, v1alpha1.RolloutStatus{StableRS: "n", CurrentPodHash: "n", CurrentStepHash: "steps", CurrentStepIndex: ptr32(4)},
				func(c *v1alpha1.CanaryStrategy) { c.ScaleDownDelaySeconds = ptr32(0) }),
			sets:     []Set{{Hash: "n", Role: RoleNew, Pods: ready(5)}, {Hash: "s", Role: RoleOther, Pods: ready(5)}},
			verified: true,
			want:     want{Replicas: map[string]int32{"n": 5, "s": 0}, StepIndex: 4, StableRS: "n", RemoveRoutes: true},
		},
		"second update while a canary runs: the old canary keeps its pods while the weights refer to it": {
			rollout: routedRollout(5, demoSteps, updating(2, applied(60, "n")), nil),
			sets: []Set{{Hash: "m", Role: RoleNew, Revision: 3}, {Hash: "n", Role: RoleOther, Revision: 2, Pods: ready(3)},
				{Hash: "s", Role: RoleStable, Revision: 1, Pods: ready(5)}},
			now:  t0,
			want: want{Replicas: map[string]int32{"m": 1, "n": 3, "s": 5}, StepIndex: 0, StableRS: "s", Reasons: nil},
		},
		"an intermediate canary nothing refers to goes at once (Argo: it takes no traffic)": {
			rollout: routedRollout(5, demoSteps, updating(0, func(st *v1alpha1.RolloutStatus) { st.CurrentPodHash = "m"; applied(0, "m")(st) }), nil),
			sets: []Set{{Hash: "m", Role: RoleNew, Revision: 3, Pods: ready(1)}, {Hash: "n", Role: RoleOther, Revision: 2, Pods: ready(3)},
				{Hash: "s", Role: RoleStable, Revision: 1, Pods: ready(5)}},
			now:  t0,
			want: want{Replicas: map[string]int32{"m": 1, "n": 0, "s": 5}, StepIndex: 0, StableRS: "s", RouterWeight: 20, Waiting: true},
		},
		"scaleDownDelayRevisionLimit: only the newest old ReplicaSets wait": {
			rollout: routedRollout(5, demoSteps, updating(0, nil), func(c *v1alpha1.CanaryStrategy) { c.ScaleDownDelayRevisionLimit = ptr32(1) }),
			sets: []Set{{Hash: "n", Role: RoleNew, Revision: 4}, deadline(Set{Hash: "a", Role: RoleOther, Revision: 2, Pods: ready(2)}, t0.Add(time.Minute)),
				deadline(Set{Hash: "b", Role: RoleOther, Revision: 3, Pods: ready(2)}, t0.Add(time.Minute)), {Hash: "s", Role: RoleStable, Revision: 1, Pods: ready(5)}},
			now:  t0,
			want: want{Replicas: map[string]int32{"n": 1, "a": 0, "b": 2, "s": 5}, StepIndex: 0, StableRS: "s", RequeueAfter: time.Minute},
		},
		"abort: the weight goes to 0 at once, the canary keeps its pods abortScaleDownDelaySeconds": {
			rollout: routedRollout(5, demoSteps, updating(2, all(applied(60, "n"), abortedAt(time.Time{}))), nil),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(3)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			now:     t0,
			want: want{Replicas: map[string]int32{"n": 3, "s": 5}, StepIndex: 0, StableRS: "s", RemoveRoutes: true,
				Deadlines: map[string]time.Time{"n": t0.Add(30 * time.Second)}, RequeueAfter: 30 * time.Second,
				Reasons: []string{"RolloutAborted"}},
		},
		"abort: the delay starts once the stable is back at full size": {
			rollout: routedRollout(5, demoSteps, updating(2, all(applied(60, "n"), abortedAt(t0))), nil),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(3)}, {Hash: "s", Role: RoleStable, Pods: Pods{Spec: 5, Current: 5, Available: 4}}},
			now:     t0.Add(31 * time.Second), verified: true,
			want: want{Replicas: map[string]int32{"n": 3, "s": 5}, StepIndex: 0, StableRS: "s", RemoveRoutes: true},
		},
		"abort: the stable at full size, the delay starts now": {
			rollout: routedRollout(5, demoSteps, updating(2, all(applied(60, "n"), abortedAt(t0))), nil),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(3)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			now:     t0.Add(31 * time.Second), verified: true,
			want: want{Replicas: map[string]int32{"n": 3, "s": 5}, StepIndex: 0, StableRS: "s", RemoveRoutes: true,
				Deadlines: map[string]time.Time{"n": t0.Add(61 * time.Second)}, RequeueAfter: 30 * time.Second},
		},
		"abort: past the delay with weight 0 verified: the canary scales down": {
			rollout: routedRollout(5, demoSteps, updating(2, all(applied(0, "n"), abortedAt(t0))), nil),
			sets:    []Set{deadline(Set{Hash: "n", Role: RoleNew, Pods: ready(3)}, t0.Add(30*time.Second)), {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			now:     t0.Add(30 * time.Second), verified: true,
			want: want{Replicas: map[string]int32{"n": 0, "s": 5}, StepIndex: 0, StableRS: "s", RemoveRoutes: true},
		},
		// Argo's code (not its documentation) sizes the aborted canary by weight 0 at once when
		// abortScaleDownDelaySeconds is 0; only a setCanaryScale (at the first step: the steps
		// start over on abort) keeps it up (argoproj/argo-rollouts#1841)
		"abortScaleDownDelaySeconds 0: the canary goes to the aborted weight's size at once": {
			rollout: routedRollout(5, demoSteps, updating(2, all(applied(0, "n"), abortedAt(t0))), func(c *v1alpha1.CanaryStrategy) { c.AbortScaleDownDelaySeconds = ptr32(0) }),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(3)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			now:     t0.Add(time.Hour), verified: true,
			want: want{Replicas: map[string]int32{"n": 0, "s": 5}, StepIndex: 0, StableRS: "s", RemoveRoutes: true},
		},
		"abortScaleDownDelaySeconds 0 with setCanaryScale: the canary keeps its scale": {
			rollout: routedRollout(5, []v1alpha1.CanaryStep{{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptr32(2)}}, weight(40), pauseForever()},
				updating(2, all(applied(40, "n"), abortedAt(t0))), func(c *v1alpha1.CanaryStrategy) { c.AbortScaleDownDelaySeconds = ptr32(0) }),
			sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(2)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			now:  t0.Add(time.Hour), verified: true,
			want: want{Replicas: map[string]int32{"n": 2, "s": 5}, StepIndex: 0, StableRS: "s", RemoveRoutes: true},
		},
		"retry after abort clears the canary's deadline and restarts the steps": {
			rollout: routedRollout(5, demoSteps, updating(2, func(st *v1alpha1.RolloutStatus) { at := metav1.NewTime(t0); st.AbortedAt = &at }), nil),
			sets:    []Set{deadline(Set{Hash: "n", Role: RoleNew}, t0.Add(30*time.Second)), {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			want: want{Replicas: map[string]int32{"n": 1, "s": 5}, StepIndex: 0, StableRS: "s",
				Deadlines: map[string]time.Time{"n": {}}, Reasons: nil},
		},
		"dynamicStableScale: the stable keeps its pods until the router carries the weight": {
			rollout: routedRollout(10, []v1alpha1.CanaryStep{weight(30), pauseForever()}, updating(0, applied(0, "n")),
				func(c *v1alpha1.CanaryStrategy) { c.DynamicStableScale = true }),
			sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(3)}, {Hash: "s", Role: RoleStable, Pods: ready(10)}},
			want: want{Replicas: map[string]int32{"n": 3, "s": 10}, StepIndex: 0, StableRS: "s", RouterWeight: 30, Waiting: true},
		},
		"dynamicStableScale: the stable shrinks to 70% once 30% is verified": {
			rollout: routedRollout(10, []v1alpha1.CanaryStep{weight(30), pauseForever()}, updating(0, applied(30, "n")),
				func(c *v1alpha1.CanaryStrategy) { c.DynamicStableScale = true }),
			sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(3)}, {Hash: "s", Role: RoleStable, Pods: ready(10)}}, verified: true,
			want: want{Replicas: map[string]int32{"n": 3, "s": 7}, StepIndex: 1, StableRS: "s", RouterWeight: 30, Pauses: 1,
				Reasons: []string{"RolloutStepCompleted", "RolloutPaused"}},
		},
		"dynamicStableScale abort: traffic returns as fast as the stable pods are available": {
			rollout: routedRollout(10, []v1alpha1.CanaryStep{weight(30), pauseForever()}, updating(1, all(applied(30, "n"), abortedAt(t0))),
				func(c *v1alpha1.CanaryStrategy) { c.DynamicStableScale = true }),
			sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(3)}, {Hash: "s", Role: RoleStable, Pods: Pods{Spec: 10, Current: 10, Available: 8}}},
			now:  t0, verified: true,
			want: want{Replicas: map[string]int32{"n": 2, "s": 10}, StepIndex: 0, StableRS: "s", RouterWeight: 20, RemoveRoutes: true},
		},
		"dynamicStableScale abort: the canary shrinks with its traffic, no delay": {
			rollout: routedRollout(10, []v1alpha1.CanaryStep{weight(30), pauseForever()}, updating(1, all(applied(0, "n"), abortedAt(t0))),
				func(c *v1alpha1.CanaryStrategy) { c.DynamicStableScale = true }),
			sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(3)}, {Hash: "s", Role: RoleStable, Pods: ready(10)}},
			now:  t0, verified: true,
			want: want{Replicas: map[string]int32{"n": 0, "s": 10}, StepIndex: 0, StableRS: "s", RemoveRoutes: true},
		},
		"setCanaryScale: the canary runs 2 pods with no traffic": {
			rollout: routedRollout(5, []v1alpha1.CanaryStep{{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptr32(2)}}, pauseForever(), weight(40)},
				updating(0, applied(0, "n")), nil),
			sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(2)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}}, verified: true,
			want: want{Replicas: map[string]int32{"n": 2, "s": 5}, StepIndex: 1, StableRS: "s", Pauses: 1,
				Reasons: []string{"RolloutStepCompleted", "RolloutPaused"}},
		},
		"setCanaryScale holds through a later setWeight: 40% goes to 2 pods": {
			rollout: routedRollout(5, []v1alpha1.CanaryStep{{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptr32(2)}}, pauseForever(), weight(40)},
				updating(2, applied(0, "n")), nil),
			sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(2)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			want: want{Replicas: map[string]int32{"n": 2, "s": 5}, StepIndex: 2, StableRS: "s", RouterWeight: 40, Waiting: true},
		},
		"setHeaderRoute completes at once and stays in effect": {
			rollout: routedRollout(5, []v1alpha1.CanaryStep{weight(20), headerStep("header", xCanary), pauseForever()}, updating(0, applied(20, "n")), nil),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}}, verified: true,
			want: want{Replicas: map[string]int32{"n": 1, "s": 5}, StepIndex: 2, StableRS: "s", RouterWeight: 20, Pauses: 1,
				Routes: []string{"header=+"}, Reasons: []string{"RolloutStepCompleted", "RolloutStepCompleted", "RolloutPaused"}},
		},
		"a later step without match removes the header route": {
			rollout: routedRollout(5, []v1alpha1.CanaryStep{headerStep("header", xCanary), mirrorStep("mirror", getAll), headerStep("header"), pauseForever()},
				updating(3, all(applied(0, "n"), pausedAt(t0))), nil),
			sets: []Set{{Hash: "n", Role: RoleNew}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			now:  t0.Add(time.Minute),
			want: want{Replicas: map[string]int32{"n": 0, "s": 5}, StepIndex: 3, StableRS: "s", Pauses: 1,
				Routes: []string{"header=-", "mirror=+"}},
		},
		"maxTrafficWeight 1000: setWeight 5 runs 1 canary pod of 10": {
			rollout: routedRollout(10, []v1alpha1.CanaryStep{weight(5), pauseForever()}, updating(0, nil),
				func(c *v1alpha1.CanaryStrategy) { c.TrafficRouting.MaxTrafficWeight = ptr32(1000) }),
			sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(10)}},
			want: want{Replicas: map[string]int32{"n": 1, "s": 10}, StepIndex: 0, StableRS: "s", RouterWeight: 5, Waiting: true},
		},
		"promote full: straight to full size, then 100%": {
			rollout: routedRollout(5, demoSteps, updating(1, all(applied(20, "n"), pausedAt(t0), func(st *v1alpha1.RolloutStatus) { st.PromoteFull = true })), nil),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			want:    want{Replicas: map[string]int32{"n": 5, "s": 5}, StepIndex: 4, StableRS: "s", RouterWeight: 20},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := Canary(Input{Rollout: tc.rollout, NewHash: tc.sets[0].Hash, StepsHash: "steps", Sets: tc.sets, Now: tc.now,
				TrafficRouter: true, RouterWeightVerified: tc.verified, ServiceHashes: tc.services})
			if err != nil {
				t.Fatal(err)
			}
			got := want{Replicas: p.Replicas, StepIndex: *p.Status.CurrentStepIndex, StableRS: p.Status.StableRS,
				RouterWeight: p.RouterWeight, Waiting: p.WaitingForRouter, Completed: p.Completed, RemoveRoutes: p.RemoveManagedRoutes,
				Pauses: len(p.Status.PauseConditions), RequeueAfter: p.RequeueAfter}
			if len(p.ScaleDownDeadlines) > 0 {
				got.Deadlines = p.ScaleDownDeadlines
			}
			for _, h := range p.HeaderRoutes {
				got.Routes = append(got.Routes, h.Name+map[bool]string{true: "=+", false: "=-"}[len(h.Match) > 0])
			}
			for _, m := range p.MirrorRoutes {
				got.Routes = append(got.Routes, m.Name+map[bool]string{true: "=+", false: "=-"}[len(m.Match) > 0])
			}
			for _, e := range p.Events {
				if e.Reason != "TrafficWeightUpdated" { // TestRoutedDecisions covers it
					got.Reasons = append(got.Reasons, e.Reason)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if w := p.Weights; w == nil || w.Canary.Weight != p.RouterWeight || w.Canary.Weight+w.Stable.Weight != tc.rollout.Spec.Strategy.Canary.EffectiveMaxTrafficWeight() ||
				w.Canary.ServiceName != "canary" || w.Stable.ServiceName != "stable" || w.Stable.PodTemplateHash != p.Status.StableRS {
				t.Errorf("weights to record: %+v", p.Weights)
			}
		})
	}
}

// TestCanaryTrafficRoutingNotDriven: until the reconciler drives the router, a Rollout with
// trafficRouting keeps the replica-based canary.
func TestCanaryTrafficRoutingNotDriven(t *testing.T) {
	r := routedRollout(5, demoSteps, updating(0, nil), nil)
	sets := []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(4)}}
	p, err := Canary(Input{Rollout: r, NewHash: "n", StepsHash: "steps", Sets: sets, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int32{"n": 1, "s": 4}, p.Replicas); diff != "" || *p.Status.CurrentStepIndex != 1 || p.Weights != nil {
		t.Errorf("replica-based plan expected: step %d, weights %v, replicas (-want +got):\n%s", *p.Status.CurrentStepIndex, p.Weights, diff)
	}
}

// TestCanaryEventMessages: the canary engine's events carry Argo's reasons and texts
// (utils/conditions: RolloutStepCompletedMessage, RolloutPausedMessage, RolloutResumedMessage,
// RolloutCompletedMessage, RolloutAbortedMessage; rollout/canary.go: SkipSteps); an analysis
// verdict comes after Argo's text.
func TestCanaryEventMessages(t *testing.T) {
	failed := &Run{Name: "ro-n-2", Phase: v1alpha1.AnalysisPhaseFailed, Message: `metric "m" assessed Failed`}
	tests := map[string]struct {
		rollout *v1alpha1.Rollout
		sets    []Set
		runs    Runs
		now     time.Time
		want    []Event
	}{
		"step completed, then paused": {
			rollout: rollout(5, demoSteps, updating(0, nil)),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(1), Revision: 2}, {Hash: "s", Role: RoleStable, Pods: ready(4), Revision: 1}},
			want: []Event{{Reason: "RolloutStepCompleted", Message: "Rollout step 1/4 completed (setWeight: 20)"},
				{Reason: "RolloutPaused", Message: "Rollout is paused (CanaryPauseStep)"}},
		},
		"timed pause over": {
			rollout: rollout(5, demoSteps, updating(3, pausedAt(t0))),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(3), Revision: 2}, {Hash: "s", Role: RoleStable, Pods: ready(2), Revision: 1}},
			now:     t0.Add(10 * time.Second),
			want: []Event{{Reason: "RolloutResumed", Message: "Rollout is resumed"},
				{Reason: "RolloutStepCompleted", Message: "Rollout step 4/4 completed (pause: 10s)"}},
		},
		"completed": {
			rollout: rollout(5, demoSteps, updating(4, nil)),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(5), Revision: 2}, {Hash: "s", Role: RoleStable, Pods: ready(1), Revision: 1}},
			want:    []Event{{Reason: "RolloutCompleted", Message: "Rollout completed update to revision 2 (n): Completed all 4 canary steps"}},
		},
		"completed by a full promotion": {
			rollout: rollout(5, demoSteps, updating(1, func(st *v1alpha1.RolloutStatus) { st.PromoteFull = true })),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(5), Revision: 2}, {Hash: "s", Role: RoleStable, Pods: ready(1), Revision: 1}},
			want:    []Event{{Reason: "RolloutCompleted", Message: "Rollout completed update to revision 2 (n): Full promotion requested"}},
		},
		"first revision": {
			rollout: rollout(5, demoSteps, v1alpha1.RolloutStatus{}),
			sets:    []Set{{Hash: "n", Role: RoleNew, Revision: 1}},
			want:    []Event{{Reason: "RolloutCompleted", Message: "Rollout completed update to revision 1 (n): Initial deploy"}},
		},
		"aborted": {
			rollout: rollout(5, demoSteps, updating(2, func(st *v1alpha1.RolloutStatus) { st.Abort = true })),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(3), Revision: 2}, {Hash: "s", Role: RoleStable, Pods: ready(2), Revision: 1}},
			want:    []Event{{Warning: true, Reason: "RolloutAborted", Message: "Rollout aborted update to revision 2"}},
		},
		"aborted by the background analysis": {
			rollout: withBackground(rollout(5, demoSteps, updating(0, func(st *v1alpha1.RolloutStatus) {
				st.Canary.CurrentBackgroundAnalysisRunStatus = &v1alpha1.RolloutAnalysisRunStatus{Name: "ro-n-2", Status: v1alpha1.AnalysisPhaseRunning}
			})), nil),
			sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(1), Revision: 2}, {Hash: "s", Role: RoleStable, Pods: ready(4), Revision: 1}},
			runs: Runs{Background: failed},
			want: []Event{{Warning: true, Reason: "AnalysisRunFailed", Message: `Background Analysis Run 'ro-n-2' Status New: 'Failed' Previous: 'Running': metric "m" assessed Failed`},
				{Warning: true, Reason: "RolloutAborted", Message: `Rollout aborted update to revision 2: Background analysis phase error/failed: metric "m" assessed Failed (AnalysisRun ro-n-2)`}},
		},
		"back to the stable template": {
			rollout: rollout(5, demoSteps, updating(2, nil)),
			sets:    []Set{{Hash: "s", Role: RoleNew, Pods: ready(2), Revision: 3}, {Hash: "n", Role: RoleOther, Pods: ready(3), Revision: 2}},
			want:    []Event{{Reason: "SkipSteps", Message: "Rollback to stable ReplicaSets"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := Canary(Input{Rollout: tc.rollout, NewHash: tc.sets[0].Hash, StepsHash: "steps", Sets: tc.sets, Now: tc.now, Runs: tc.runs})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, p.Events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDescribeStep: the step texts of RolloutStepCompleted are Argo's CanaryStepString.
func TestDescribeStep(t *testing.T) {
	d := v1alpha1.DurationFromString("1m")
	tests := map[string]struct {
		step v1alpha1.CanaryStep
		want string
	}{
		"setWeight":                          {weight(20), "setWeight: 20"},
		"pause with a duration":              {v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{Duration: &d}}, "pause: 1m"},
		"pause":                              {pauseForever(), "pause"},
		"analysis":                           {v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{}}, "analysis"},
		"experiment":                         {v1alpha1.CanaryStep{Experiment: &v1alpha1.RolloutExperimentStep{}}, "experiment"},
		"setCanaryScale weight":              {v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Weight: ptr32(30)}}, "setCanaryScale{weight: 30}"},
		"setCanaryScale matchTrafficWeight":  {v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{MatchTrafficWeight: true}}, "setCanaryScale{matchTrafficWeight: true}"},
		"setCanaryScale replicas":            {v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptr32(2)}}, "setCanaryScale{replicas: 2}"},
		"setHeaderRoute":                     {headerStep("header"), "setHeaderRoute: header"},
		"setMirrorRoute":                     {mirrorStep("mirror"), "setMirrorRoute: mirror"},
		"plugin":                             {v1alpha1.CanaryStep{Plugin: &v1alpha1.PluginStep{Name: "acme/step"}}, "plugin: acme/step"},
		"an empty setCanaryScale is invalid": {v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{}}, "invalid"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := describeStep(tc.step); got != tc.want {
				t.Errorf("describeStep = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCanaryArgoControllerExamples: cases of Argo's controller tests (rollout/canary_test.go, by
// their names there) played by the engine: what one reconcile scales.
func TestCanaryArgoControllerExamples(t *testing.T) {
	budget := func(r *v1alpha1.Rollout, surge, unavailable int) *v1alpha1.Rollout {
		s, u := intstr.FromInt(surge), intstr.FromInt(unavailable)
		r.Spec.Strategy.Canary.MaxSurge, r.Spec.Strategy.Canary.MaxUnavailable = &s, &u
		return r
	}
	w10 := []v1alpha1.CanaryStep{weight(10)}
	tests := map[string]struct {
		rollout *v1alpha1.Rollout
		sets    []Set
		want    map[string]int32
	}{
		"TestCanaryRolloutScaleDownStableToMatchWeight: the stable goes first": {
			rollout: budget(rollout(10, w10, v1alpha1.RolloutStatus{StableRS: "r1", CurrentPodHash: "r2", CurrentStepHash: "steps", CurrentStepIndex: ptr32(0)}), 0, 1),
			sets:    []Set{{Hash: "r2", Role: RoleNew, Revision: 2}, {Hash: "r1", Role: RoleStable, Pods: ready(10), Revision: 1}},
			want:    map[string]int32{"r2": 0, "r1": 9},
		},
		"TestCanaryRolloutScaleDownOldRs: an older ReplicaSet goes once new and stable are right": {
			rollout: budget(rollout(10, w10, v1alpha1.RolloutStatus{StableRS: "r1", CurrentPodHash: "r3", CurrentStepHash: "steps", CurrentStepIndex: ptr32(0)}), 1, 0),
			sets: []Set{{Hash: "r3", Role: RoleNew, Pods: ready(1), Revision: 3}, {Hash: "r2", Role: RoleOther, Pods: ready(1), Revision: 2},
				{Hash: "r1", Role: RoleStable, Pods: ready(9), Revision: 1}},
			want: map[string]int32{"r3": 1, "r2": 0, "r1": 9},
		},
		"TestCanaryRolloutScaleDownOldRsDontScaleDownTooMuch: newest older first, within maxUnavailable": {
			rollout: budget(rollout(4, nil, v1alpha1.RolloutStatus{StableRS: "r3", CurrentPodHash: "r3", CurrentStepHash: "steps", CurrentStepIndex: ptr32(0)}), 1, 0),
			sets: []Set{{Hash: "r3", Role: RoleNew, Pods: Pods{Spec: 5, Current: 5}, Revision: 3},
				{Hash: "r1", Role: RoleOther, Pods: ready(5), Revision: 1}, {Hash: "r2", Role: RoleOther, Pods: ready(5), Revision: 2}},
			// Argo's test: the first ReplicaSet scaled goes to 0, the second to 4
			want: map[string]int32{"r3": 5, "r2": 0, "r1": 4},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := Canary(Input{Rollout: tc.rollout, NewHash: tc.sets[0].Hash, StepsHash: "steps", Sets: tc.sets, Now: t0})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, p.Replicas); diff != "" {
				t.Errorf("replicas (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRoutedDecisions: what the routed engine decides for the router besides replicas and
// steps: the TrafficWeightUpdated event (Argo's texts) and whether the managed routes of a
// previous canary go before new ones are set.
func TestRoutedDecisions(t *testing.T) {
	type want struct {
		Events      []string
		ResetRoutes bool
		Weight      int32
	}
	sets := []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}}
	tests := map[string]struct {
		status v1alpha1.RolloutStatus
		want   want
	}{
		"first weight recorded": {
			status: updating(0, nil),
			want:   want{Events: []string{"Traffic weight updated to 20"}, Weight: 20},
		},
		"weight changed": {
			status: updating(0, applied(0, "n")),
			want:   want{Events: []string{"Traffic weight updated from 0 to 20"}, Weight: 20},
		},
		"weight unchanged: no event": {
			status: updating(0, applied(20, "n")),
			want:   want{Weight: 20},
		},
		"a new canary replaces the one the routes were set for": {
			status: updating(0, func(st *v1alpha1.RolloutStatus) { applied(20, "n")(st); st.CurrentPodHash = "old" }),
			want:   want{ResetRoutes: true, Weight: 20},
		},
		"changed steps start again without the earlier routes": {
			status: updating(0, func(st *v1alpha1.RolloutStatus) { applied(20, "n")(st); st.CurrentStepHash = "old-steps" }),
			want:   want{ResetRoutes: true, Weight: 20},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := Canary(Input{Rollout: routedRollout(5, demoSteps, tc.status, nil), NewHash: "n", StepsHash: "steps",
				Sets: sets, Now: t0, TrafficRouter: true})
			if err != nil {
				t.Fatal(err)
			}
			got := want{ResetRoutes: p.ResetManagedRoutes, Weight: p.RouterWeight}
			for _, e := range p.Events {
				if e.Reason == "TrafficWeightUpdated" {
					got.Events = append(got.Events, e.Message)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if p.Status.Canary.Weights == nil || p.Status.Canary.Weights.Canary.Weight != p.RouterWeight {
				t.Errorf("status.canary.weights %+v, want the router's weight %d", p.Status.Canary.Weights, p.RouterWeight)
			}
		})
	}
}

// TestNoStepsNoStepIndex: a canary without steps has no currentStepIndex, as Argo writes it
// (utils/replicaset GetCurrentStepIndex), with or without a traffic router, updating or done.
func TestNoStepsNoStepIndex(t *testing.T) {
	tests := map[string]struct {
		routed bool
		status v1alpha1.RolloutStatus
		sets   []Set
	}{
		"basic, updating": {status: v1alpha1.RolloutStatus{StableRS: "s", CurrentPodHash: "s"},
			sets: []Set{{Hash: "n", Role: RoleNew}, {Hash: "s", Role: RoleStable, Pods: ready(5)}}},
		"basic, done": {status: v1alpha1.RolloutStatus{StableRS: "n", CurrentPodHash: "n", CurrentStepIndex: ptr32(0)},
			sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(5)}}},
		"routed, updating": {routed: true, status: v1alpha1.RolloutStatus{StableRS: "s", CurrentPodHash: "s"},
			sets: []Set{{Hash: "n", Role: RoleNew}, {Hash: "s", Role: RoleStable, Pods: ready(5)}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := rollout(5, nil, tc.status)
			if tc.routed {
				r = routedRollout(5, nil, tc.status, nil)
			}
			p, err := Canary(Input{Rollout: r, NewHash: "n", StepsHash: "steps", Sets: tc.sets, Now: t0, TrafficRouter: tc.routed})
			if err != nil {
				t.Fatal(err)
			}
			if p.Status.CurrentStepIndex != nil {
				t.Errorf("currentStepIndex %d, want none", *p.Status.CurrentStepIndex)
			}
		})
	}
}
