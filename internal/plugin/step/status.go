package step

import (
	"fmt"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Find returns a copy of the status of the operation of the step at index, or nil.
func Find(statuses []v1alpha1.StepPluginStatus, index int32, op v1alpha1.StepPluginOperation) *v1alpha1.StepPluginStatus {
	for i := range statuses {
		if statuses[i].Index == index && statuses[i].Operation == op {
			return statuses[i].DeepCopy()
		}
	}
	return nil
}

// Upsert puts st in place of the status of the same step and operation (or appends it) and
// reports whether its phase changed, which is when an event is due (TransitionEvent).
func Upsert(statuses []v1alpha1.StepPluginStatus, st *v1alpha1.StepPluginStatus) ([]v1alpha1.StepPluginStatus, bool) {
	if st == nil {
		return statuses, false
	}
	for i := range statuses {
		if statuses[i].Index == st.Index && statuses[i].Operation == st.Operation {
			changed := statuses[i].Phase != st.Phase
			statuses[i] = *st
			return statuses, changed
		}
	}
	return append(statuses, *st), true
}

// RequeueAfter is how long to wait before calling Run again for a Running or Error status
// (0: now).
func RequeueAfter(st *v1alpha1.StepPluginStatus, now time.Time) time.Duration {
	if st == nil || st.Backoff == nil || st.UpdatedAt == nil {
		return 0
	}
	d, err := st.Backoff.Duration()
	if err != nil {
		return 0
	}
	return max(st.UpdatedAt.Add(d).Sub(now), 0)
}

// Completed reports whether the step at index is done with as far as the canary is concerned:
// its Run Succeeded or Failed, was disabled, or was Running and has been terminated or aborted.
// A reconcile whose plugin call failed (hadError) is never completed.
func Completed(statuses []v1alpha1.StepPluginStatus, index int32, hadError bool) bool {
	if hadError {
		return false
	}
	run := Find(statuses, index, v1alpha1.StepPluginOperationRun)
	switch {
	case run == nil:
		return false
	case run.Disabled, run.Phase == v1alpha1.StepPluginPhaseSuccessful, run.Phase == v1alpha1.StepPluginPhaseFailed:
		return true
	case run.Phase == v1alpha1.StepPluginPhaseRunning:
		return Find(statuses, index, v1alpha1.StepPluginOperationTerminate) != nil ||
			Find(statuses, index, v1alpha1.StepPluginOperationAbort) != nil
	}
	return false
}

// ToTerminate returns the index of the last step whose Run is still Running once the rollout
// is fully promoted, or nil (none, or already terminated).
func ToTerminate(statuses []v1alpha1.StepPluginStatus) *int32 {
	for i := len(statuses) - 1; i >= 0; i-- {
		s := statuses[i]
		if s.Operation == v1alpha1.StepPluginOperationTerminate && s.Phase == v1alpha1.StepPluginPhaseSuccessful {
			return nil
		}
		if s.Operation == v1alpha1.StepPluginOperationRun && s.Phase == v1alpha1.StepPluginPhaseRunning {
			return &s.Index
		}
	}
	return nil
}

// ToAbort returns, last first, the indexes of the steps whose Run must be aborted when the
// rollout is aborted (every Run status; Step.Abort skips those that need nothing).
func ToAbort(statuses []v1alpha1.StepPluginStatus) []int32 {
	var out []int32
	for i := len(statuses) - 1; i >= 0; i-- {
		if statuses[i].Operation == v1alpha1.StepPluginOperationRun {
			out = append(out, statuses[i].Index)
		}
	}
	return out
}

// TransitionReason is the reason of the events of a step plugin's phase changes.
const TransitionReason = "StepPluginTransition"

// TransitionEvent is the event Argo Rollouts emits when a status's phase changed: its message,
// and whether it is a Warning (Error, Failed). ok is false when no event is due (a disabled
// step, or a successful Run: the step's completion is announced instead).
func TransitionEvent(st *v1alpha1.StepPluginStatus) (msg string, warning, ok bool) {
	if st == nil || st.Disabled || st.Operation == v1alpha1.StepPluginOperationRun && st.Phase == v1alpha1.StepPluginPhaseSuccessful {
		return "", false, false
	}
	switch st.Operation {
	case v1alpha1.StepPluginOperationAbort:
		msg = fmt.Sprintf("Step plugin %s (step %d) aborted (%s)", st.Name, st.Index+1, st.Phase)
	case v1alpha1.StepPluginOperationTerminate:
		msg = fmt.Sprintf("Step plugin %s (step %d) terminated (%s)", st.Name, st.Index+1, st.Phase)
	default:
		msg = fmt.Sprintf("Step plugin %s (step %d) transitioned to %s", st.Name, st.Index+1, st.Phase)
	}
	return msg, st.Phase == v1alpha1.StepPluginPhaseError || st.Phase == v1alpha1.StepPluginPhaseFailed, true
}

// FailedMessage is the message a rollout is aborted with when a step's Run Failed.
func FailedMessage(st *v1alpha1.StepPluginStatus) string {
	return fmt.Sprintf("Step Plugin %d (%s) failed: %s", st.Index+1, st.Name, st.Message)
}
