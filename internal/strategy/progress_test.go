package strategy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

// progressNow is the reconcile's time in these tests: the engine reads no clock.
var progressNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// progressCond is a condition last updated ago before progressNow.
func progressCond(t v1alpha1.RolloutConditionType, status corev1.ConditionStatus, reason string, ago time.Duration) v1alpha1.RolloutCondition {
	at := metav1.NewTime(progressNow.Add(-ago))
	return v1alpha1.RolloutCondition{Type: t, Status: status, Reason: reason, LastUpdateTime: at, LastTransitionTime: at}
}

// stuckUpdate is an update from s to n at its first step (setWeight 20) of 5 replicas: one
// new pod, six in all, five available, nothing moved since the status was read, and the
// Progressing condition last updated 11 minutes ago (the default deadline is 600s).
func stuckUpdate() ProgressInput {
	spec := &v1alpha1.RolloutSpec{Replicas: ptr.To[int32](5), Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
		Steps: []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](20)}, {Pause: &v1alpha1.RolloutPause{}},
			{Analysis: &v1alpha1.RolloutAnalysis{}}, {Experiment: &v1alpha1.RolloutExperimentStep{}}}}}}
	read := &v1alpha1.RolloutStatus{StableRS: "s", CurrentPodHash: "n", CurrentStepIndex: ptr.To[int32](0), CurrentStepHash: "steps",
		ObservedGeneration: "1", Replicas: 6, UpdatedReplicas: 1, ReadyReplicas: 5, AvailableReplicas: 5,
		Conditions: []v1alpha1.RolloutCondition{progressCond(v1alpha1.RolloutProgressing, "True", "ReplicaSetUpdated", 11*time.Minute)}}
	return ProgressInput{Spec: spec, Generation: 1, Read: read, Status: read.DeepCopy(), Now: progressNow, NewRS: "app-n"}
}

// TestJudgeProgress: the verdict on an update's progress as Argo's rollout/sync.go and
// utils/conditions decide it (RolloutCompleted, RolloutHealthy, RolloutProgressing,
// isIndefiniteStep, RolloutTimedOut, evaluateProgressDeadlineAbort).
func TestJudgeProgress(t *testing.T) {
	msg := `ReplicaSet "app-n" has timed out progressing.`
	// changes to the stuck update: of the spec, of the status as read and as made, of the
	// status as made only (what moved in this reconcile)
	spec := func(f func(*v1alpha1.RolloutSpec)) func(*ProgressInput) {
		return func(in *ProgressInput) { f(in.Spec) }
	}
	both := func(f func(*v1alpha1.RolloutStatus)) func(*ProgressInput) {
		return func(in *ProgressInput) { f(in.Read); f(in.Status) }
	}
	moved := func(f func(*v1alpha1.RolloutStatus)) func(*ProgressInput) {
		return func(in *ProgressInput) { f(in.Status) }
	}
	progressing := func(reason string, ago time.Duration) func(*v1alpha1.RolloutStatus) {
		return func(st *v1alpha1.RolloutStatus) {
			st.Conditions = []v1alpha1.RolloutCondition{progressCond(v1alpha1.RolloutProgressing, "True", reason, ago)}
		}
	}
	atStep := func(i int32) func(*v1alpha1.RolloutStatus) {
		return func(st *v1alpha1.RolloutStatus) { st.CurrentStepIndex = &i }
	}
	abortOn := spec(func(s *v1alpha1.RolloutSpec) { s.ProgressDeadlineAbort = true })
	then := func(fs ...func(*ProgressInput)) func(*ProgressInput) {
		return func(in *ProgressInput) {
			for _, f := range fs {
				f(in)
			}
		}
	}
	// the stuck update's verdict, timed out, and with progressDeadlineAbort
	stuck := Progress{TimedOut: true, DeadlineExceeded: true, Message: msg}
	aborted := Progress{TimedOut: true, DeadlineExceeded: true, Abort: true, Message: msg}
	held := Progress{TimedOut: true, Message: msg}
	moving := Progress{Progressing: true, TimedOut: true, Message: msg}
	tests := map[string]struct {
		mod  func(*ProgressInput)
		want Progress
	}{
		"stuck": {want: stuck},

		// completed: the new ReplicaSet is the stable one
		"completed and healthy": {mod: both(func(st *v1alpha1.RolloutStatus) {
			st.StableRS, st.CurrentStepIndex, st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas = "n", ptr.To[int32](4), 5, 5, 5, 5
		}), want: Progress{Completed: true, Healthy: true, TimedOut: true, Message: msg}},
		"completed, old pods left: not healthy": {mod: both(func(st *v1alpha1.RolloutStatus) {
			st.StableRS, st.CurrentStepIndex, st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas = "n", ptr.To[int32](4), 6, 5, 5, 5
		}), want: Progress{Completed: true, TimedOut: true, DeadlineExceeded: true, Message: msg}},
		"completed, generation not observed: not healthy": {mod: then(func(in *ProgressInput) { in.Generation = 2 },
			both(func(st *v1alpha1.RolloutStatus) {
				st.StableRS, st.CurrentStepIndex, st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas = "n", ptr.To[int32](4), 5, 5, 5, 5
			})), want: Progress{Completed: true, TimedOut: true, DeadlineExceeded: true, Message: msg}},
		"no stable ReplicaSet: not completed": {mod: both(func(st *v1alpha1.RolloutStatus) { st.StableRS, st.CurrentPodHash = "", "" }),
			want: stuck},
		"blue/green healthy: both Services select the new pods": {mod: then(
			spec(func(s *v1alpha1.RolloutSpec) {
				s.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: "a", PreviewService: "p"}}
			}),
			both(func(st *v1alpha1.RolloutStatus) {
				st.StableRS, st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas = "n", 5, 5, 5, 5
				st.BlueGreen.ActiveSelector, st.BlueGreen.PreviewSelector = "n", "n"
			})), want: Progress{Completed: true, Healthy: true, TimedOut: true, Message: msg}},

		// progressing: each field that moved since the status was read
		"progressing: more pods updated":             {mod: moved(func(st *v1alpha1.RolloutStatus) { st.UpdatedReplicas = 2 }), want: moving},
		"progressing: fewer pods updated":            {mod: moved(func(st *v1alpha1.RolloutStatus) { st.UpdatedReplicas = 0 }), want: moving},
		"progressing: an old pod went":               {mod: moved(func(st *v1alpha1.RolloutStatus) { st.Replicas = 5 }), want: moving},
		"progressing: a pod more ready":              {mod: moved(func(st *v1alpha1.RolloutStatus) { st.ReadyReplicas = 6 }), want: moving},
		"progressing: a pod more available":          {mod: moved(func(st *v1alpha1.RolloutStatus) { st.AvailableReplicas = 6 }), want: moving},
		"progressing: the step moved":                {mod: moved(atStep(1)), want: moving},
		"progressing: the steps changed":             {mod: moved(func(st *v1alpha1.RolloutStatus) { st.CurrentStepHash = "other" }), want: moving},
		"progressing: the stable ReplicaSet changed": {mod: moved(func(st *v1alpha1.RolloutStatus) { st.StableRS = "t" }), want: moving},
		"progressing: blue/green's active selector changed": {mod: then(
			spec(func(s *v1alpha1.RolloutSpec) {
				s.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{}}
			}),
			moved(func(st *v1alpha1.RolloutStatus) { st.BlueGreen.ActiveSelector = "n" })), want: moving},
		"progressing: blue/green's preview selector changed": {mod: then(
			spec(func(s *v1alpha1.RolloutSpec) {
				s.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{}}
			}),
			moved(func(st *v1alpha1.RolloutStatus) { st.BlueGreen.PreviewSelector = "n" })), want: moving},
		"no progress: a pod less ready": {mod: moved(func(st *v1alpha1.RolloutStatus) { st.ReadyReplicas = 4 }), want: stuck},
		"no progress: a step first recorded": {mod: then(both(func(st *v1alpha1.RolloutStatus) { st.CurrentStepIndex = nil }),
			moved(atStep(0))), want: stuck},
		"no progress: blue/green's stable ReplicaSet alone": {mod: then(
			spec(func(s *v1alpha1.RolloutSpec) {
				s.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{}}
			}),
			moved(func(st *v1alpha1.RolloutStatus) { st.StableRS = "t" })), want: stuck},

		// timed out: by the Progressing condition as it stands
		"within the deadline": {mod: both(progressing("ReplicaSetUpdated", 9*time.Minute)),
			want: Progress{Message: msg}},
		"at the deadline to the second: not yet": {mod: both(progressing("ReplicaSetUpdated", 10*time.Minute)),
			want: Progress{Message: msg}},
		"past a deadline of 30s": {mod: then(spec(func(s *v1alpha1.RolloutSpec) { s.ProgressDeadlineSeconds = ptr.To[int32](30) }),
			both(progressing("ReplicaSetUpdated", 31*time.Second))), want: stuck},
		"paused: never timed out":          {mod: both(progressing("RolloutPaused", time.Hour)), want: Progress{Message: msg}},
		"aborted: never timed out":         {mod: both(progressing("RolloutAborted", time.Hour)), want: Progress{Message: msg}},
		"ProgressDeadlineExceeded already": {mod: both(progressing("ProgressDeadlineExceeded", 0)), want: stuck},
		"no Progressing condition": {mod: both(func(st *v1alpha1.RolloutStatus) { st.Conditions = nil }),
			want: Progress{Message: msg}},

		// what stops the deadline: a pause, analysis or experiment step (as read), a pause, a
		// pending scale-down
		"at a pause step":       {mod: both(atStep(1)), want: Progress{Indefinite: true, TimedOut: true, Message: msg}},
		"at an analysis step":   {mod: both(atStep(2)), want: Progress{Indefinite: true, TimedOut: true, Message: msg}},
		"at an experiment step": {mod: both(atStep(3)), want: Progress{Indefinite: true, TimedOut: true, Message: msg}},
		"the Paused condition True": {mod: moved(func(st *v1alpha1.RolloutStatus) {
			st.Conditions = append(st.Conditions, progressCond(v1alpha1.RolloutPaused, "True", "RolloutPaused", 0))
		}), want: Progress{Indefinite: true, TimedOut: true, Message: msg}},
		"the Paused condition False": {mod: moved(func(st *v1alpha1.RolloutStatus) {
			st.Conditions = append(st.Conditions, progressCond(v1alpha1.RolloutPaused, "False", "RolloutPaused", 0))
		}), want: stuck},
		"an old ReplicaSet waits for its scale-down": {mod: func(in *ProgressInput) { in.ScaleDownPending = true }, want: held},

		// progressDeadlineAbort
		"progressDeadlineAbort: aborts": {mod: abortOn, want: aborted},
		"progressDeadlineAbort, aborted already": {mod: then(abortOn, both(func(st *v1alpha1.RolloutStatus) { st.Abort = true })),
			want: stuck},
		"progressDeadlineAbort, aborted in this reconcile": {mod: then(abortOn, moved(func(st *v1alpha1.RolloutStatus) { st.Abort = true })),
			want: stuck},
		"progressDeadlineAbort, completed": {mod: then(abortOn, both(func(st *v1alpha1.RolloutStatus) { st.StableRS = "n" })),
			want: Progress{Completed: true, TimedOut: true, DeadlineExceeded: true, Message: msg}},
		"progressDeadlineAbort, progressing": {mod: then(abortOn, moved(func(st *v1alpha1.RolloutStatus) { st.UpdatedReplicas = 2 })),
			want: moving},
		"progressDeadlineAbort, at a pause step": {mod: then(abortOn, both(atStep(1))),
			want: Progress{Indefinite: true, TimedOut: true, Message: msg}},
		"progressDeadlineAbort, at an analysis step": {mod: then(abortOn, both(atStep(2))),
			want: Progress{Indefinite: true, TimedOut: true, Message: msg}},
		"progressDeadlineAbort, at an experiment step": {mod: then(abortOn, both(atStep(3))),
			want: Progress{Indefinite: true, TimedOut: true, Message: msg}},
		"progressDeadlineAbort, an old ReplicaSet waits for its scale-down": {
			mod: then(abortOn, func(in *ProgressInput) { in.ScaleDownPending = true }), want: held},
		"progressDeadlineAbort, within the deadline": {mod: then(abortOn, both(progressing("ReplicaSetUpdated", time.Minute))),
			want: Progress{Message: msg}},
		// the condition as read decides: a resume just refreshed it
		"progressDeadlineAbort, resumed in this reconcile after the deadline": {mod: then(abortOn,
			moved(progressing("RolloutResumed", 0))), want: Progress{Abort: true, Message: msg}},
		"progressDeadlineAbort, paused as read": {mod: then(abortOn, both(progressing("RolloutPaused", time.Hour))),
			want: Progress{Message: msg}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := stuckUpdate()
			if tc.mod != nil {
				tc.mod(&in)
			}
			if diff := cmp.Diff(tc.want, JudgeProgress(in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestProgressRecheck: a rollout is looked at again when its progress deadline runs out
// (Argo's requeueStuckRollout), and a second later (stored times are whole seconds).
func TestProgressRecheck(t *testing.T) {
	spec := &v1alpha1.RolloutSpec{}
	status := func(reason string, ago time.Duration, mod func(*v1alpha1.RolloutStatus)) *v1alpha1.RolloutStatus {
		st := &v1alpha1.RolloutStatus{Conditions: []v1alpha1.RolloutCondition{
			progressCond(v1alpha1.RolloutProgressing, "True", reason, ago)}}
		if mod != nil {
			mod(st)
		}
		return st
	}
	tests := map[string]struct {
		spec   *v1alpha1.RolloutSpec
		status *v1alpha1.RolloutStatus
		p      Progress
		want   time.Duration
	}{
		"updated a minute ago": {spec: spec, status: status("ReplicaSetUpdated", time.Minute, nil), want: 9*time.Minute + time.Second},
		"a deadline of 30s": {spec: &v1alpha1.RolloutSpec{ProgressDeadlineSeconds: ptr.To[int32](30)},
			status: status("ReplicaSetUpdated", 10*time.Second, nil), want: 21 * time.Second},
		"past the deadline: at once": {spec: spec, status: status("ReplicaSetUpdated", time.Hour, nil), want: time.Second},
		"no Progressing condition":   {spec: spec, status: &v1alpha1.RolloutStatus{}},
		"timed out already":          {spec: spec, status: status("ProgressDeadlineExceeded", time.Minute, nil)},
		"aborted": {spec: spec, status: status("RolloutAborted", time.Minute,
			func(st *v1alpha1.RolloutStatus) { st.Abort = true })},
		"spec.paused": {spec: &v1alpha1.RolloutSpec{Paused: true}, status: status("RolloutPaused", time.Minute, nil)},
		"a pause condition": {spec: spec, status: status("ReplicaSetUpdated", time.Minute, func(st *v1alpha1.RolloutStatus) {
			st.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep}}
		})},
		"healthy":               {spec: spec, status: status("NewReplicaSetAvailable", time.Minute, nil), p: Progress{Healthy: true}},
		"at an indefinite step": {spec: spec, status: status("ReplicaSetUpdated", time.Minute, nil), p: Progress{Indefinite: true}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ProgressRecheck(tc.spec, tc.status, tc.p, progressNow)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
