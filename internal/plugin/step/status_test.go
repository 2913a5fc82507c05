package step_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/plugin/step"
)

func status(index int32, op v1alpha1.StepPluginOperation, phase v1alpha1.StepPluginPhase) v1alpha1.StepPluginStatus {
	return v1alpha1.StepPluginStatus{Index: index, Name: "p", Operation: op, Phase: phase}
}

const (
	runOp, termOp, abortOp = v1alpha1.StepPluginOperationRun, v1alpha1.StepPluginOperationTerminate, v1alpha1.StepPluginOperationAbort
	running, ok, failed    = v1alpha1.StepPluginPhaseRunning, v1alpha1.StepPluginPhaseSuccessful, v1alpha1.StepPluginPhaseFailed
)

// TestCompleted: when the canary may leave a plugin step, as Argo Rollouts decides it.
func TestCompleted(t *testing.T) {
	for name, tc := range map[string]struct {
		statuses []v1alpha1.StepPluginStatus
		hadError bool
		want     bool
	}{
		"no status":                    {},
		"running":                      {statuses: []v1alpha1.StepPluginStatus{status(1, runOp, running)}},
		"successful":                   {statuses: []v1alpha1.StepPluginStatus{status(1, runOp, ok)}, want: true},
		"failed":                       {statuses: []v1alpha1.StepPluginStatus{status(1, runOp, failed)}, want: true},
		"running, then terminated":     {statuses: []v1alpha1.StepPluginStatus{status(1, runOp, running), status(1, termOp, ok)}, want: true},
		"running, then aborted":        {statuses: []v1alpha1.StepPluginStatus{status(1, runOp, running), status(1, abortOp, failed)}, want: true},
		"another step's":               {statuses: []v1alpha1.StepPluginStatus{status(0, runOp, ok)}},
		"disabled":                     {statuses: []v1alpha1.StepPluginStatus{{Index: 1, Operation: runOp, Disabled: true}}, want: true},
		"successful, but a call erred": {statuses: []v1alpha1.StepPluginStatus{status(1, runOp, ok)}, hadError: true},
	} {
		t.Run(name, func(t *testing.T) {
			if got := step.Completed(tc.statuses, 1, tc.hadError); got != tc.want {
				t.Errorf("Completed = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestUpsert replaces the status of the same step and operation, keeping the order, and says
// when the phase changed.
func TestUpsert(t *testing.T) {
	for name, tc := range map[string]struct {
		statuses []v1alpha1.StepPluginStatus
		st       v1alpha1.StepPluginStatus
		want     []v1alpha1.StepPluginStatus
		changed  bool
	}{
		"new": {statuses: []v1alpha1.StepPluginStatus{status(0, runOp, ok)}, st: status(1, runOp, running),
			want: []v1alpha1.StepPluginStatus{status(0, runOp, ok), status(1, runOp, running)}, changed: true},
		"same phase": {statuses: []v1alpha1.StepPluginStatus{status(1, runOp, running), status(2, runOp, running)}, st: status(1, runOp, running),
			want: []v1alpha1.StepPluginStatus{status(1, runOp, running), status(2, runOp, running)}},
		"new phase": {statuses: []v1alpha1.StepPluginStatus{status(1, runOp, running), status(2, runOp, running)}, st: status(1, runOp, failed),
			want: []v1alpha1.StepPluginStatus{status(1, runOp, failed), status(2, runOp, running)}, changed: true},
		"another operation": {statuses: []v1alpha1.StepPluginStatus{status(1, runOp, running)}, st: status(1, termOp, ok),
			want: []v1alpha1.StepPluginStatus{status(1, runOp, running), status(1, termOp, ok)}, changed: true},
	} {
		t.Run(name, func(t *testing.T) {
			got, changed := step.Upsert(tc.statuses, &tc.st)
			if d := cmp.Diff(tc.want, got); d != "" || changed != tc.changed {
				t.Errorf("changed %v (want %v); -want +got:\n%s", changed, tc.changed, d)
			}
		})
	}
}

// TestToTerminateAndAbort: on full promotion only the last Running step is terminated, once;
// on abort every run step is looked at, last first.
func TestToTerminateAndAbort(t *testing.T) {
	for name, tc := range map[string]struct {
		statuses  []v1alpha1.StepPluginStatus
		terminate *int32
		abort     []int32
	}{
		"nothing":              {},
		"last running":         {statuses: []v1alpha1.StepPluginStatus{status(0, runOp, running), status(2, runOp, running)}, terminate: ptr.To[int32](2), abort: []int32{2, 0}},
		"already terminated":   {statuses: []v1alpha1.StepPluginStatus{status(2, runOp, running), status(2, termOp, ok)}, abort: []int32{2}},
		"completed steps only": {statuses: []v1alpha1.StepPluginStatus{status(0, runOp, ok), status(1, runOp, failed)}, abort: []int32{1, 0}},
	} {
		t.Run(name, func(t *testing.T) {
			if d := cmp.Diff(tc.terminate, step.ToTerminate(tc.statuses)); d != "" {
				t.Errorf("ToTerminate -want +got:\n%s", d)
			}
			if d := cmp.Diff(tc.abort, step.ToAbort(tc.statuses)); d != "" {
				t.Errorf("ToAbort -want +got:\n%s", d)
			}
		})
	}
}

// TestMessages: the events of phase changes and the abort message, as Argo Rollouts words them.
func TestMessages(t *testing.T) {
	type event struct {
		Msg           string
		Warning, Sent bool
	}
	for name, tc := range map[string]struct {
		st   v1alpha1.StepPluginStatus
		want event
	}{
		"run successful: the step's completion says it": {st: status(1, runOp, ok)},
		"run failed":         {st: status(1, runOp, failed), want: event{"Step plugin p (step 2) transitioned to Failed", true, true}},
		"run running":        {st: status(1, runOp, running), want: event{"Step plugin p (step 2) transitioned to Running", false, true}},
		"terminated":         {st: status(0, termOp, ok), want: event{"Step plugin p (step 1) terminated (Successful)", false, true}},
		"abort errored":      {st: status(0, abortOp, v1alpha1.StepPluginPhaseError), want: event{"Step plugin p (step 1) aborted (Error)", true, true}},
		"disabled: no event": {st: v1alpha1.StepPluginStatus{Index: 0, Operation: runOp, Disabled: true}},
	} {
		t.Run(name, func(t *testing.T) {
			msg, warning, sent := step.TransitionEvent(&tc.st)
			if d := cmp.Diff(tc.want, event{msg, warning, sent}); d != "" {
				t.Errorf("-want +got:\n%s", d)
			}
		})
	}
	st := status(3, runOp, failed)
	st.Message = "the check failed"
	if got, want := step.FailedMessage(&st), "Step Plugin 4 (p) failed: the check failed"; got != want {
		t.Errorf("FailedMessage = %q, want %q", got, want)
	}
	st.UpdatedAt, st.Backoff = at(0), dur("30s")
	if got := step.RequeueAfter(&st, t0.Add(10*time.Second)); got != 20*time.Second {
		t.Errorf("RequeueAfter = %v, want 20s", got)
	}
}
