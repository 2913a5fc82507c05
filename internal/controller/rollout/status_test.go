package rollout

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	kit "github.com/vanedev/vane/internal/reconcile"
)

// Every expected reason and message in this file is Argo Rollouts' (v1.10.1): the constants of
// utils/conditions/conditions.go, assembled as rollout/sync.go (calculateRolloutConditions,
// checkPausedConditions, evaluateProgressDeadlineAbort, sendStateChangeEvents),
// rollout/controller.go (createInvalidRolloutCondition) and utils/rollout
// (CalculateRolloutPhase) assemble them.

var st0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// cond is a condition as the tests compare it (times apart).
type cond struct {
	Type    v1alpha1.RolloutConditionType
	Status  corev1.ConditionStatus
	Reason  string
	Message string
}

func (c cond) at(update time.Time) v1alpha1.RolloutCondition {
	return v1alpha1.RolloutCondition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message,
		LastUpdateTime: metav1.NewTime(update), LastTransitionTime: metav1.NewTime(update)}
}

func conds(update time.Time, cs ...cond) []v1alpha1.RolloutCondition {
	var out []v1alpha1.RolloutCondition
	for _, c := range cs {
		out = append(out, c.at(update))
	}
	return out
}

// The conditions of the tests, with Argo's reasons and messages.
var (
	progressingH2   = cond{v1alpha1.RolloutProgressing, "True", "ReplicaSetUpdated", `ReplicaSet "app-h2" is progressing.`}
	createdH2       = cond{v1alpha1.RolloutProgressing, "True", "NewReplicaSetCreated", `Created new replica set "app-h2"`}
	progressedH1    = cond{v1alpha1.RolloutProgressing, "True", "NewReplicaSetAvailable", `ReplicaSet "app-h1" has successfully progressed.`}
	progressedH2    = cond{v1alpha1.RolloutProgressing, "True", "NewReplicaSetAvailable", `ReplicaSet "app-h2" has successfully progressed.`}
	pausedProg      = cond{v1alpha1.RolloutProgressing, "Unknown", "RolloutPaused", "Rollout is paused"}
	resumedProg     = cond{v1alpha1.RolloutProgressing, "Unknown", "RolloutResumed", "Rollout is resumed"}
	retryProg       = cond{v1alpha1.RolloutProgressing, "Unknown", "RolloutRetry", "Retrying Rollout after abort"}
	abortedProg     = cond{v1alpha1.RolloutProgressing, "False", "RolloutAborted", "Rollout aborted update to revision 2"}
	timedOutH2      = cond{v1alpha1.RolloutProgressing, "False", "ProgressDeadlineExceeded", `ReplicaSet "app-h2" has timed out progressing.`}
	notAvailableRS  = cond{v1alpha1.RolloutProgressing, "True", "ReplicaSetNotAvailable", "Rollout does not have minimum availability"}
	pausedTrue      = cond{v1alpha1.RolloutPaused, "True", "RolloutPaused", "Rollout is paused"}
	pausedFalse     = cond{v1alpha1.RolloutPaused, "False", "RolloutPaused", "Rollout is paused"}
	available       = cond{v1alpha1.RolloutAvailable, "True", "AvailableReason", "Rollout has minimum availability"}
	notAvailable    = cond{v1alpha1.RolloutAvailable, "False", "AvailableReason", "Rollout does not have minimum availability"}
	healthy         = cond{v1alpha1.RolloutHealthy, "True", "RolloutHealthy", "Rollout is healthy"}
	notHealthy      = cond{v1alpha1.RolloutHealthy, "False", "RolloutHealthy", "Rollout is not healthy"}
	completedTrue   = cond{v1alpha1.RolloutCompleted, "True", "RolloutCompleted", "RolloutCompleted"}
	completedFalse  = cond{v1alpha1.RolloutCompleted, "False", "RolloutCompleted", "RolloutCompleted"}
	quotaExceeded   = cond{v1alpha1.RolloutReplicaFailure, "True", "FailedCreate", `pods "app-h2-x" is forbidden: exceeded quota`}
	healthyH1Conds  = []cond{progressedH1, available, healthy, completedTrue}
	updatingH2Conds = []cond{available, completedFalse, notHealthy, progressingH2}
)

// rs is a ReplicaSet of the rollout "app": hash, revision, spec.replicas, pods and available pods.
func rs(hash string, rev, spec, pods, avail int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "app-" + hash, Labels: map[string]string{v1alpha1.PodTemplateHashLabel: hash},
			Annotations: map[string]string{v1alpha1.RevisionAnnotation: fmt.Sprint(rev), v1alpha1.DesiredReplicasAnnotation: "5"}},
		Spec:   appsv1.ReplicaSetSpec{Replicas: ptr.To(spec)},
		Status: appsv1.ReplicaSetStatus{Replicas: pods, ReadyReplicas: avail, AvailableReplicas: avail},
	}
}

// statusCase is one reconcile's end: the status as read (orig), the status the engine made
// (engine changes a copy of orig), the ReplicaSets (the first one is the new one).
type statusCase struct {
	spec    func(*v1alpha1.RolloutSpec)
	orig    v1alpha1.RolloutStatus
	engine  func(*v1alpha1.RolloutStatus)
	sets    []*appsv1.ReplicaSet
	created bool
	// generation is the rollout's metadata.generation (1 when 0)
	generation int64
	// engineEvents are the events the engine emitted before the status is computed
	engineEvents kit.Events
	now          time.Time
}

type statusWant struct {
	Conditions []cond
	Phase      v1alpha1.RolloutPhase
	Message    string
	Events     []string
	Abort      bool
}

// runStatus runs updateStatus on the case: what it made, the state, and when it asks to look
// again for the progress deadline.
func runStatus(t *testing.T, tc statusCase, bg bool) (statusWant, *syncState, time.Duration) {
	t.Helper()
	spec := v1alpha1.RolloutSpec{Replicas: ptr.To[int32](5), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "app"}}}
	if bg {
		spec.Strategy.BlueGreen = &v1alpha1.BlueGreenStrategy{ActiveService: "active", PreviewService: "preview"}
	} else {
		spec.Strategy.Canary = &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](20)}, {Pause: &v1alpha1.RolloutPause{}}}}
	}
	if tc.spec != nil {
		tc.spec(&spec)
	}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app", Generation: max(tc.generation, 1)}, Spec: spec, Status: *tc.orig.DeepCopy()}
	if tc.engine != nil {
		tc.engine(&ro.Status)
	}
	now := tc.now
	if now.IsZero() {
		now = st0
	}
	s := &syncState{ro: ro, now: now, origStatus: *tc.orig.DeepCopy(), selector: spec.Selector, newRS: tc.sets[0], sets: tc.sets,
		created: tc.created, events: &tc.engineEvents}
	o := s.canaryObserved()
	if bg {
		o = s.blueGreenObserved()
	}
	recheck := s.updateStatus(o, false)
	got := statusWant{Phase: ro.Status.Phase, Message: ro.Status.Message, Abort: ro.Status.Abort}
	for _, c := range ro.Status.Conditions {
		got.Conditions = append(got.Conditions, cond{c.Type, c.Status, c.Reason, c.Message})
	}
	for _, e := range *s.events {
		kind := "Normal"
		if e.Warning {
			kind = "Warning"
		}
		got.Events = append(got.Events, kind+" "+e.Reason+": "+e.Message)
	}
	return got, s, recheck
}

// updating is the status of an update from h1 (stable) to h2 at step idx, as read after a
// reconcile that wrote it (observedGeneration 1).
func updating(idx int32, counts [4]int32, cs ...cond) v1alpha1.RolloutStatus {
	return v1alpha1.RolloutStatus{StableRS: "h1", CurrentPodHash: "h2", CurrentStepIndex: ptr.To(idx), CurrentStepHash: "steps",
		ObservedGeneration: "1", Replicas: counts[0], UpdatedReplicas: counts[1], ReadyReplicas: counts[2], AvailableReplicas: counts[2],
		Conditions: conds(st0.Add(-time.Minute), cs...)}
}

func TestCanaryStatus(t *testing.T) {
	healthyH1 := v1alpha1.RolloutStatus{StableRS: "h1", CurrentPodHash: "h1", CurrentStepIndex: ptr.To[int32](2), CurrentStepHash: "steps",
		ObservedGeneration: "1", Replicas: 5, UpdatedReplicas: 5, ReadyReplicas: 5, AvailableReplicas: 5,
		Conditions: conds(st0.Add(-time.Hour), healthyH1Conds...)}
	newRevision := func(st *v1alpha1.RolloutStatus) { st.CurrentPodHash, st.CurrentStepIndex = "h2", ptr.To[int32](0) }
	pauseStep := func(st *v1alpha1.RolloutStatus) {
		st.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.NewTime(st0)}}
		st.ControllerPause = true
	}
	atPause := updating(1, [4]int32{6, 1, 6}, available, completedFalse, notHealthy, progressingH2)
	pauseStep(&atPause)
	pausedAt := updating(1, [4]int32{6, 1, 6}, available, completedFalse, notHealthy, pausedProg, pausedTrue)
	pauseStep(&pausedAt)
	promoted := updating(1, [4]int32{6, 1, 6}, available, completedFalse, notHealthy, pausedProg, pausedTrue)
	promoted.ControllerPause = true // promote took the pause condition off
	failedBackground := func(st *v1alpha1.RolloutStatus) {
		st.Abort, st.AbortedAt = true, ptr.To(metav1.NewTime(st0))
		st.Canary.CurrentBackgroundAnalysisRunStatus = &v1alpha1.RolloutAnalysisRunStatus{Name: "app-h2-2", Status: v1alpha1.AnalysisPhaseFailed,
			Message: `Metric "webcheck" assessed Failed due to failed (2) > failureLimit (1)`}
	}
	abortedMsg := `Rollout aborted update to revision 2: Background analysis phase error/failed: Metric "webcheck" assessed Failed due to failed (2) > failureLimit (1) (AnalysisRun app-h2-2)`
	abortedByAnalysis := cond{v1alpha1.RolloutProgressing, "False", "RolloutAborted", abortedMsg}
	aborted := updating(0, [4]int32{5, 0, 5}, available, completedFalse, notHealthy, pausedTrue, abortedByAnalysis)
	aborted.Abort, aborted.AbortedAt = true, ptr.To(metav1.NewTime(st0.Add(-time.Minute)))
	stuck := updating(0, [4]int32{6, 1, 5}, available, completedFalse, notHealthy)
	stuck.Conditions = append(stuck.Conditions, progressingH2.at(st0.Add(-601*time.Second)))
	timedOutMsg := `ReplicaSet "app-h2" has timed out progressing.`

	tests := map[string]struct {
		tc   statusCase
		want statusWant
	}{
		"first revision: its ReplicaSet created, made stable at once": {
			tc: statusCase{created: true, sets: []*appsv1.ReplicaSet{rs("h1", 1, 5, 0, 0)}, engine: func(st *v1alpha1.RolloutStatus) {
				st.StableRS, st.CurrentPodHash, st.CurrentStepIndex, st.CurrentStepHash = "h1", "h1", ptr.To[int32](2), "steps"
			}},
			want: statusWant{Phase: "Progressing", Message: "more replicas need to be updated", Conditions: []cond{
				{v1alpha1.RolloutProgressing, "True", "NewReplicaSetCreated", `Created new replica set "app-h1"`}, notAvailable, completedTrue},
				// Argo's first reconciles see revision 1 not completed yet, once
				Events: []string{"Normal RolloutNotCompleted: Rollout not completed, started update to revision 1 (h1)"}},
		},
		"first revision available": {
			tc: statusCase{sets: []*appsv1.ReplicaSet{rs("h1", 1, 5, 5, 5)}, orig: v1alpha1.RolloutStatus{StableRS: "h1", CurrentPodHash: "h1",
				CurrentStepIndex: ptr.To[int32](2), CurrentStepHash: "steps", ObservedGeneration: "1",
				Conditions: conds(st0, cond{v1alpha1.RolloutProgressing, "True", "NewReplicaSetCreated", `Created new replica set "app-h1"`}, notAvailable, completedTrue)}},
			want: statusWant{Phase: "Healthy", Conditions: []cond{completedTrue, healthy, progressedH1, available}},
		},
		"a new template: its ReplicaSet created": {
			tc: statusCase{orig: healthyH1, engine: newRevision, created: true,
				sets: []*appsv1.ReplicaSet{rs("h2", 2, 0, 0, 0), rs("h1", 1, 5, 5, 5)}},
			want: statusWant{Phase: "Progressing", Message: "more replicas need to be updated",
				Conditions: []cond{available, createdH2, notHealthy, completedFalse},
				Events:     []string{"Normal RolloutNotCompleted: Rollout not completed, started update to revision 2 (h2)"}},
		},
		"the canary scales up: progressing": {
			tc: statusCase{orig: updating(0, [4]int32{5, 0, 5}, available, completedFalse, notHealthy, createdH2),
				sets: []*appsv1.ReplicaSet{rs("h2", 2, 1, 1, 0), rs("h1", 1, 5, 5, 5)}},
			want: statusWant{Phase: "Progressing", Message: "more replicas need to be updated", Conditions: updatingH2Conds},
		},
		"the engine pauses at the pause step": {
			tc: statusCase{orig: updating(0, [4]int32{6, 1, 6}, updatingH2Conds...), engine: func(st *v1alpha1.RolloutStatus) {
				st.CurrentStepIndex = ptr.To[int32](1)
				pauseStep(st)
			}, sets: []*appsv1.ReplicaSet{rs("h2", 2, 1, 1, 1), rs("h1", 1, 5, 5, 5)}},
			want: statusWant{Phase: "Paused", Message: "CanaryPauseStep", Conditions: updatingH2Conds,
				Events: []string{"Normal RolloutPaused: Rollout is paused (CanaryPauseStep)"}},
		},
		"the reconcile after the pause: Paused and Progressing say so": {
			tc: statusCase{orig: atPause, sets: []*appsv1.ReplicaSet{rs("h2", 2, 1, 1, 1), rs("h1", 1, 5, 5, 5)}},
			want: statusWant{Phase: "Paused", Message: "CanaryPauseStep",
				Conditions: []cond{available, completedFalse, notHealthy, pausedProg, pausedTrue}},
		},
		"promoted: resumed, then progressing (no event: promote took the pause off)": {
			tc: statusCase{orig: promoted, engine: func(st *v1alpha1.RolloutStatus) { st.CurrentStepIndex, st.ControllerPause = ptr.To[int32](2), false },
				sets: []*appsv1.ReplicaSet{rs("h2", 2, 1, 1, 1), rs("h1", 1, 5, 5, 5)}},
			want: statusWant{Phase: "Progressing", Message: "more replicas need to be updated",
				Conditions: []cond{available, completedFalse, notHealthy, pausedFalse, progressingH2}},
		},
		"a timed pause ends": {
			tc: statusCase{orig: pausedAt, engine: func(st *v1alpha1.RolloutStatus) {
				st.CurrentStepIndex, st.PauseConditions, st.ControllerPause = ptr.To[int32](2), nil, false
			}, sets: []*appsv1.ReplicaSet{rs("h2", 2, 1, 1, 1), rs("h1", 1, 5, 5, 5)}},
			want: statusWant{Phase: "Progressing", Message: "more replicas need to be updated",
				// the step moved: progressing; the Paused condition follows on the next reconcile
				Conditions: []cond{available, completedFalse, notHealthy, pausedTrue, progressingH2},
				Events:     []string{"Normal RolloutResumed: Rollout is resumed"}},
		},
		"aborted by the background analysis: Argo's text, then the run": {
			tc: statusCase{orig: pausedAt, engine: func(st *v1alpha1.RolloutStatus) {
				failedBackground(st)
				st.PauseConditions, st.ControllerPause, st.CurrentStepIndex = nil, false, ptr.To[int32](0)
			}, sets: []*appsv1.ReplicaSet{rs("h2", 2, 1, 1, 1), rs("h1", 1, 5, 5, 5)},
				engineEvents: kit.Events{{Warning: true, Reason: "RolloutAborted", Message: "the engine's words"}}},
			want: statusWant{Phase: "Degraded", Message: "RolloutAborted: " + abortedMsg, Abort: true,
				Conditions: []cond{available, completedFalse, notHealthy, pausedTrue, abortedByAnalysis},
				Events:     []string{"Warning RolloutAborted: " + abortedMsg}},
		},
		"stays aborted: the message keeps the analysis, no new event": {
			tc:   statusCase{orig: aborted, sets: []*appsv1.ReplicaSet{rs("h2", 2, 0, 0, 0), rs("h1", 1, 5, 5, 5)}},
			want: statusWant{Phase: "Degraded", Message: "RolloutAborted: " + abortedMsg, Abort: true, Conditions: aborted2conds(abortedByAnalysis)},
		},
		"aborted by hand": {
			tc: statusCase{orig: updating(0, [4]int32{6, 1, 6}, updatingH2Conds...), engine: func(st *v1alpha1.RolloutStatus) {
				st.Abort, st.AbortedAt = true, ptr.To(metav1.NewTime(st0))
			}, sets: []*appsv1.ReplicaSet{rs("h2", 2, 1, 1, 1), rs("h1", 1, 5, 5, 5)}},
			want: statusWant{Phase: "Degraded", Message: "RolloutAborted: Rollout aborted update to revision 2", Abort: true,
				Conditions: []cond{available, completedFalse, notHealthy, abortedProg},
				Events:     []string{"Warning RolloutAborted: Rollout aborted update to revision 2"}},
		},
		"retried: RolloutRetry until it moves; Paused stays as the abort left it": {
			tc: statusCase{orig: func() v1alpha1.RolloutStatus { st := aborted.DeepCopy(); st.Abort = false; return *st }(),
				engine: func(st *v1alpha1.RolloutStatus) { st.AbortedAt = nil }, sets: []*appsv1.ReplicaSet{rs("h2", 2, 0, 0, 0), rs("h1", 1, 5, 5, 5)}},
			want: statusWant{Phase: "Progressing", Message: "more replicas need to be updated",
				Conditions: []cond{available, completedFalse, notHealthy, pausedTrue, retryProg}},
		},
		"no progress for progressDeadlineSeconds": {
			tc: statusCase{orig: stuck, sets: []*appsv1.ReplicaSet{rs("h2", 2, 1, 1, 0), rs("h1", 1, 5, 5, 5)}},
			want: statusWant{Phase: "Degraded", Message: "ProgressDeadlineExceeded: " + timedOutMsg,
				Conditions: []cond{available, completedFalse, notHealthy, timedOutH2}},
		},
		"no progress for progressDeadlineSeconds, with progressDeadlineAbort": {
			tc: statusCase{orig: stuck, spec: func(s *v1alpha1.RolloutSpec) { s.ProgressDeadlineAbort = true },
				sets: []*appsv1.ReplicaSet{rs("h2", 2, 1, 1, 0), rs("h1", 1, 5, 5, 5)}},
			want: statusWant{Phase: "Degraded", Message: "RolloutAborted: Rollout aborted update to revision 2: " + timedOutMsg, Abort: true,
				Conditions: []cond{available, completedFalse, notHealthy,
					{v1alpha1.RolloutProgressing, "False", "RolloutAborted", "Rollout aborted update to revision 2: " + timedOutMsg}},
				Events: []string{"Warning RolloutAborted: " + timedOutMsg,
					"Warning RolloutAborted: Rollout aborted update to revision 2: " + timedOutMsg}},
		},
		"the deadline does not run at a pause step": {
			tc: statusCase{orig: func() v1alpha1.RolloutStatus {
				st := stuck.DeepCopy()
				st.CurrentStepIndex = ptr.To[int32](1)
				return *st
			}(),
				spec: func(s *v1alpha1.RolloutSpec) { s.ProgressDeadlineAbort = true }, sets: []*appsv1.ReplicaSet{rs("h2", 2, 1, 1, 0), rs("h1", 1, 5, 5, 5)}},
			want: statusWant{Phase: "Progressing", Message: "more replicas need to be updated",
				Conditions: []cond{available, completedFalse, notHealthy, progressingH2}},
		},
		"a ReplicaSet cannot create pods": {
			tc: statusCase{orig: updating(0, [4]int32{5, 0, 5}, updatingH2Conds...), sets: []*appsv1.ReplicaSet{func() *appsv1.ReplicaSet {
				r := rs("h2", 2, 1, 0, 0)
				r.Status.Conditions = []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure, Status: "True",
					Reason: "FailedCreate", Message: `pods "app-h2-x" is forbidden: exceeded quota`}}
				return r
			}(), rs("h1", 1, 5, 5, 5)}},
			want: statusWant{Phase: "Progressing", Message: "more replicas need to be updated",
				Conditions: append(append([]cond{}, updatingH2Conds...), quotaExceeded)},
		},
		"promoted, old pods not gone yet": {
			tc: statusCase{orig: updating(1, [4]int32{10, 5, 10}, updatingH2Conds...), engine: func(st *v1alpha1.RolloutStatus) {
				st.StableRS, st.CurrentStepIndex = "h2", ptr.To[int32](2)
			}, sets: []*appsv1.ReplicaSet{rs("h2", 2, 5, 5, 5), rs("h1", 1, 0, 5, 5)}},
			want: statusWant{Phase: "Progressing", Message: "old replicas are pending termination",
				Conditions: []cond{available, notHealthy, progressingH2, completedTrue}},
		},
		"complete": {
			tc: statusCase{orig: func() v1alpha1.RolloutStatus {
				st := updating(2, [4]int32{10, 5, 10}, available, notHealthy, progressingH2, completedTrue)
				st.StableRS = "h2"
				return st
			}(), sets: []*appsv1.ReplicaSet{rs("h2", 2, 5, 5, 5), rs("h1", 1, 0, 0, 0)}},
			want: statusWant{Phase: "Healthy", Conditions: []cond{available, completedTrue, healthy, progressedH2}},
		},
		"a healthy rollout loses pods": {
			tc: statusCase{orig: healthyH1, sets: []*appsv1.ReplicaSet{rs("h1", 1, 5, 5, 4)}},
			want: statusWant{Phase: "Progressing", Message: "updated replicas are still becoming available",
				Conditions: []cond{completedTrue, notHealthy, notAvailableRS, notAvailable}},
		},
		"a healthy rollout paused by hand: Paused, not Healthy, still progressed": {
			tc: statusCase{orig: healthyH1, generation: 2, spec: func(s *v1alpha1.RolloutSpec) { s.Paused = true },
				sets: []*appsv1.ReplicaSet{rs("h1", 1, 5, 5, 5)}},
			want: statusWant{Phase: "Paused", Message: "manually paused",
				Conditions: []cond{progressedH1, available, completedTrue, pausedTrue, notHealthy}},
		},
		"and unpaused: Healthy again": {
			tc: statusCase{orig: func() v1alpha1.RolloutStatus {
				st := *healthyH1.DeepCopy()
				st.ObservedGeneration, st.Conditions = "2", conds(st0.Add(-time.Minute), progressedH1, available, completedTrue, pausedTrue, notHealthy)
				return st
			}(), generation: 3, sets: []*appsv1.ReplicaSet{rs("h1", 1, 5, 5, 5)}},
			want: statusWant{Phase: "Healthy", Conditions: []cond{progressedH1, available, completedTrue, pausedFalse, healthy}},
		},
		"paused by hand: no event, Paused and Progressing say so": {
			tc: statusCase{orig: func() v1alpha1.RolloutStatus { st := updating(0, [4]int32{6, 1, 6}, updatingH2Conds...); return st }(),
				spec: func(s *v1alpha1.RolloutSpec) { s.Paused = true }, sets: []*appsv1.ReplicaSet{rs("h2", 2, 1, 1, 1), rs("h1", 1, 5, 5, 5)}},
			want: statusWant{Phase: "Paused", Message: "manually paused",
				Conditions: []cond{available, completedFalse, notHealthy, pausedProg, pausedTrue}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, _, _ := runStatus(t, tc.tc, false)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// aborted2conds are the conditions of an aborted rollout that stays aborted.
func aborted2conds(abortCond cond) []cond {
	return []cond{available, completedFalse, notHealthy, pausedTrue, abortCond}
}

// TestInvalidSpec: the InvalidSpec condition, `The Rollout "<name>" is invalid: <first error>`
// (rollout/controller.go createInvalidRolloutCondition), and the phase it makes; no event, as
// in Argo.
func TestInvalidSpec(t *testing.T) {
	missing := field.Required(field.NewPath("spec", "strategy", "strategy"), "Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'")
	both := field.Invalid(field.NewPath("spec", "strategy", "strategy"), "blueGreen: true canary: true", "Multiple Strategies can not be listed")
	tests := map[string]struct {
		orig       []v1alpha1.RolloutCondition
		errs       field.ErrorList
		want       statusWant
		wantChange bool
	}{
		"one error": {
			errs: field.ErrorList{missing}, wantChange: true,
			want: statusWant{Phase: "Degraded",
				Message: `InvalidSpec: The Rollout "app" is invalid: spec.strategy.strategy: Required value: Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'`,
				Conditions: []cond{{v1alpha1.InvalidSpec, "True", "InvalidSpec",
					`The Rollout "app" is invalid: spec.strategy.strategy: Required value: Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'`}}},
		},
		"two strategies": {
			errs: field.ErrorList{both}, wantChange: true,
			want: statusWant{Phase: "Degraded",
				Message: `InvalidSpec: The Rollout "app" is invalid: spec.strategy.strategy: Invalid value: "blueGreen: true canary: true": Multiple Strategies can not be listed`,
				Conditions: []cond{{v1alpha1.InvalidSpec, "True", "InvalidSpec",
					`The Rollout "app" is invalid: spec.strategy.strategy: Invalid value: "blueGreen: true canary: true": Multiple Strategies can not be listed`}}},
		},
		"still invalid for the same reason: nothing new": {
			orig: conds(st0, cond{v1alpha1.InvalidSpec, "True", "InvalidSpec",
				`The Rollout "app" is invalid: spec.strategy.strategy: Invalid value: "blueGreen: true canary: true": Multiple Strategies can not be listed`}),
			errs: field.ErrorList{both},
			want: statusWant{Phase: "Degraded",
				Message: `InvalidSpec: The Rollout "app" is invalid: spec.strategy.strategy: Invalid value: "blueGreen: true canary: true": Multiple Strategies can not be listed`,
				Conditions: []cond{{v1alpha1.InvalidSpec, "True", "InvalidSpec",
					`The Rollout "app" is invalid: spec.strategy.strategy: Invalid value: "blueGreen: true canary: true": Multiple Strategies can not be listed`}}},
		},
		"several errors: Argo's first, Vane's others after it": {
			errs: field.ErrorList{missing, both}, wantChange: true,
			want: statusWant{Phase: "Degraded",
				Message: `InvalidSpec: The Rollout "app" is invalid: spec.strategy.strategy: Required value: Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'; spec.strategy.strategy: Invalid value: "blueGreen: true canary: true": Multiple Strategies can not be listed`,
				Conditions: []cond{{v1alpha1.InvalidSpec, "True", "InvalidSpec",
					`The Rollout "app" is invalid: spec.strategy.strategy: Required value: Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'; spec.strategy.strategy: Invalid value: "blueGreen: true canary: true": Multiple Strategies can not be listed`}}},
		},
		"an aborted rollout that became invalid stays Degraded by its abort (the first degrading condition)": {
			orig: conds(st0, abortedProg), errs: field.ErrorList{missing}, wantChange: true,
			want: statusWant{Phase: "Degraded", Message: "RolloutAborted: Rollout aborted update to revision 2",
				Conditions: []cond{abortedProg, {v1alpha1.InvalidSpec, "True", "InvalidSpec",
					`The Rollout "app" is invalid: spec.strategy.strategy: Required value: Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'`}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app"}, Status: v1alpha1.RolloutStatus{Conditions: tc.orig}}
			s := &syncState{ro: ro, now: st0, origStatus: *ro.Status.DeepCopy(), events: &kit.Events{}}
			if changed := s.invalid(validationMessage(tc.errs)); changed != tc.wantChange {
				t.Errorf("changed = %v", changed)
			}
			got := statusWant{Phase: ro.Status.Phase, Message: ro.Status.Message}
			for _, c := range ro.Status.Conditions {
				got.Conditions = append(got.Conditions, cond{c.Type, c.Status, c.Reason, c.Message})
			}
			for _, e := range *s.events {
				got.Events = append(got.Events, "Warning "+e.Reason+": "+e.Message)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestBlueGreenStatus(t *testing.T) {
	bgUpdating := func(active, preview string, counts [4]int32, cs ...cond) v1alpha1.RolloutStatus {
		st := updating(0, counts, cs...)
		st.CurrentStepIndex, st.CurrentStepHash = nil, ""
		st.BlueGreen = v1alpha1.BlueGreenStatus{ActiveSelector: active, PreviewSelector: preview}
		return st
	}
	paused := func(st v1alpha1.RolloutStatus) v1alpha1.RolloutStatus {
		st.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonBlueGreenPause, StartTime: metav1.NewTime(st0)}}
		st.ControllerPause = true
		return st
	}
	both := func() []*appsv1.ReplicaSet { return []*appsv1.ReplicaSet{rs("h2", 2, 5, 5, 5), rs("h1", 1, 5, 5, 5)} }
	preMsg := "Rollout aborted update to revision 2: Blue/green pre-promotion analysis phase error/failed: " +
		`Metric "smoke" assessed Failed due to failed (1) > failureLimit (0) (AnalysisRun app-h2-2-pre)`
	tests := map[string]struct {
		tc   statusCase
		want statusWant
	}{
		"the preview is ready: progressing, active cutover pending": {
			tc: statusCase{orig: bgUpdating("h1", "h1", [4]int32{7, 2, 5}, available, completedFalse, notHealthy, createdH2),
				engine: func(st *v1alpha1.RolloutStatus) { st.BlueGreen.PreviewSelector = "h2" }, sets: both()},
			want: statusWant{Phase: "Progressing", Message: "active service cutover pending", Conditions: updatingH2Conds},
		},
		"the reconcile after the pause for promotion": {
			tc: statusCase{orig: paused(bgUpdating("h1", "h2", [4]int32{10, 5, 5}, updatingH2Conds...)), sets: both()},
			want: statusWant{Phase: "Paused", Message: "BlueGreenPause",
				Conditions: []cond{available, completedFalse, notHealthy, pausedProg, pausedTrue}},
		},
		"switched and stable, the old pods in their scale-down delay: healthy": {
			tc: statusCase{orig: bgUpdating("h1", "h2", [4]int32{10, 5, 5}, updatingH2Conds...), engine: func(st *v1alpha1.RolloutStatus) {
				st.BlueGreen.ActiveSelector, st.StableRS = "h2", "h2"
			}, sets: both()},
			want: statusWant{Phase: "Healthy", Conditions: []cond{available, healthy, progressedH2, completedTrue}},
		},
		"the active ReplicaSet lacks available pods": {
			tc: statusCase{orig: bgUpdating("h1", "h2", [4]int32{10, 5, 5}, updatingH2Conds...),
				sets: []*appsv1.ReplicaSet{rs("h2", 2, 5, 5, 5), rs("h1", 1, 5, 5, 4)}},
			want: statusWant{Phase: "Progressing", Message: "updated replicas are still becoming available",
				Conditions: []cond{completedFalse, notHealthy, progressingH2, notAvailable}},
		},
		"aborted by the pre-promotion analysis": {
			tc: statusCase{orig: bgUpdating("h1", "h2", [4]int32{10, 5, 5}, updatingH2Conds...), engine: func(st *v1alpha1.RolloutStatus) {
				st.Abort, st.AbortedAt = true, ptr.To(metav1.NewTime(st0))
				st.BlueGreen.PrePromotionAnalysisRunStatus = &v1alpha1.RolloutAnalysisRunStatus{Name: "app-h2-2-pre", Status: v1alpha1.AnalysisPhaseFailed,
					Message: `Metric "smoke" assessed Failed due to failed (1) > failureLimit (0)`}
			}, sets: both()},
			want: statusWant{Phase: "Degraded", Message: "RolloutAborted: " + preMsg, Abort: true,
				Conditions: []cond{available, completedFalse, notHealthy, {v1alpha1.RolloutProgressing, "False", "RolloutAborted", preMsg}},
				Events:     []string{"Warning RolloutAborted: " + preMsg}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, _, _ := runStatus(t, tc.tc, true)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestConditionTimes: Argo's SetRolloutCondition keeps a condition whose status and reason do
// not change as it is (message and times), moves a changed one to the end of the list, and
// keeps its transition time when only the reason changed; progress refreshes the Progressing
// condition's update time (which the deadline counts from) but not its transition time.
func TestConditionTimes(t *testing.T) {
	before := st0.Add(-time.Hour)
	orig := updating(0, [4]int32{5, 0, 5}, available, completedFalse, notHealthy, createdH2)
	orig.Conditions = conds(before, available, completedFalse, notHealthy, createdH2)
	orig.Conditions[0].Message = "an older text"
	_, s, recheck := runStatus(t, statusCase{orig: orig, sets: []*appsv1.ReplicaSet{rs("h2", 2, 1, 1, 0), rs("h1", 1, 5, 5, 5)}}, false)
	type times struct{ Update, Transition time.Time }
	got := map[v1alpha1.RolloutConditionType]times{}
	for _, c := range s.ro.Status.Conditions {
		got[c.Type] = times{c.LastUpdateTime.Time, c.LastTransitionTime.Time}
	}
	want := map[v1alpha1.RolloutConditionType]times{
		v1alpha1.RolloutAvailable:   {before, before},
		v1alpha1.RolloutCompleted:   {before, before},
		v1alpha1.RolloutHealthy:     {before, before},
		v1alpha1.RolloutProgressing: {st0, before},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("times (-want +got):\n%s", diff)
	}
	if msg := s.ro.Status.Conditions[0].Message; msg != "an older text" {
		t.Errorf("unchanged condition's message = %q", msg)
	}
	if d := recheck; d != 601*time.Second {
		t.Errorf("progress recheck in %v, want the deadline (600s) after the refresh, and a second", d)
	}
}
