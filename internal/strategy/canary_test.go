package strategy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
			want:     want{Replicas: map[string]int32{"n": 2, "s": 4}, StepIndex: 4, StableRS: "s"},
		},
		"first revision goes straight to full size and stable": {
			rollout: rollout(5, demoSteps, v1alpha1.RolloutStatus{}),
			sets:    []Set{{Hash: "n", Role: RoleNew}},
			want:    want{Replicas: map[string]int32{"n": 5}, StepIndex: 4, StableRS: "n"},
		},
		"new template starts at step 0 and surges the canary": {
			rollout: rollout(5, demoSteps, v1alpha1.RolloutStatus{StableRS: "s", CurrentPodHash: "s", CurrentStepHash: "steps", CurrentStepIndex: ptr32(4)}),
			sets:    []Set{{Hash: "n", Role: RoleNew}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			// 25% of 5: one pod above and one below the desired size
			want: want{Replicas: map[string]int32{"n": 1, "s": 4}, StepIndex: 0, StableRS: "s"},
		},
		"setWeight reached moves on to the pause, which pauses": {
			rollout: rollout(5, demoSteps, updating(0, nil)),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(4)}},
			want: want{Replicas: map[string]int32{"n": 1, "s": 4}, StepIndex: 1, StableRS: "s",
				Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonCanaryPauseStep}, ControllerPause: true,
				Reasons: []string{"RolloutStepCompleted", "RolloutPaused"}},
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
			want: want{Replicas: map[string]int32{"n": 3, "s": 3}, StepIndex: 2, StableRS: "s",
				Reasons: []string{"RolloutStepCompleted"}},
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
			want: want{Replicas: map[string]int32{"n": 5, "s": 1}, StepIndex: 4, StableRS: "s",
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
			want: want{Replicas: map[string]int32{"n": 2, "s": 4}, StepIndex: 2, StableRS: "s", Aborted: true,
				Reasons: []string{"RolloutAborted"}},
		},
		"retry restarts the steps": {
			rollout: rollout(5, demoSteps, updating(2, func(st *v1alpha1.RolloutStatus) { at := metav1.NewTime(t0); st.AbortedAt = &at })),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: Pods{}}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			want:    want{Replicas: map[string]int32{"n": 1, "s": 4}, StepIndex: 0, StableRS: "s", Reasons: []string{"RolloutRetried"}},
		},
		"promote full skips the remaining steps": {
			rollout: rollout(5, demoSteps, updating(1, func(st *v1alpha1.RolloutStatus) {
				st.PromoteFull = true
				st.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.NewTime(t0)}}
			})),
			sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(4)}},
			want: want{Replicas: map[string]int32{"n": 3, "s": 3}, StepIndex: 4, StableRS: "s"},
		},
		"back to the stable template mid-update skips the steps": {
			rollout: rollout(5, demoSteps, updating(2, func(st *v1alpha1.RolloutStatus) { st.CurrentPodHash = "n" })),
			sets:    []Set{{Hash: "s", Role: RoleNew, Pods: ready(2)}, {Hash: "n", Role: RoleOther, Pods: ready(3)}},
			want:    want{Replicas: map[string]int32{"s": 4, "n": 2}, StepIndex: 4, StableRS: "s"},
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
		"aborted": {status: moving, counts: Counts{5, 0, 5, 5}, problem: Abort("2"),
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
