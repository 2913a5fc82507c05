package strategy

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vanedev/vane/api/v1alpha1"
)

func pluginStep(name string) v1alpha1.CanaryStep {
	return v1alpha1.CanaryStep{Plugin: &v1alpha1.PluginStep{Name: name, Config: json.RawMessage(`{"async":true}`)}}
}

// pluginStatus is the status of operation op of the plugin step at idx.
func pluginStatus(idx int32, op v1alpha1.StepPluginOperation, phase v1alpha1.StepPluginPhase) v1alpha1.StepPluginStatus {
	return v1alpha1.StepPluginStatus{Index: idx, Name: "acme/check", Operation: op, Phase: phase}
}

// backedOff is a Running or Error Run status last updated at, to be run again backoff later.
func backedOff(s v1alpha1.StepPluginStatus, at time.Time, backoff string) v1alpha1.StepPluginStatus {
	t := metav1.NewTime(at)
	b := v1alpha1.DurationFromString(backoff)
	s.UpdatedAt, s.Backoff, s.Executions = &t, &b, 1
	return s
}

func withStatuses(statuses ...v1alpha1.StepPluginStatus) func(*v1alpha1.RolloutStatus) {
	return func(st *v1alpha1.RolloutStatus) { st.Canary.StepPluginStatuses = statuses }
}

func withPhase(p v1alpha1.RolloutPhase) func(*v1alpha1.RolloutStatus) {
	return func(st *v1alpha1.RolloutStatus) { st.Phase = p }
}

const (
	opRun, opAbort, opTerminate = v1alpha1.StepPluginOperationRun, v1alpha1.StepPluginOperationAbort, v1alpha1.StepPluginOperationTerminate
	spRunning, spOK, spFailed   = v1alpha1.StepPluginPhaseRunning, v1alpha1.StepPluginPhaseSuccessful, v1alpha1.StepPluginPhaseFailed
	spError                     = v1alpha1.StepPluginPhaseError
)

// TestPlanStepPlugins: the plugin calls of a reconcile, decided from the rollout as read as
// Argo's stepPluginContext.reconcile decides them.
func TestPlanStepPlugins(t *testing.T) {
	// plugin steps at 0 and 2
	steps := []v1alpha1.CanaryStep{pluginStep("acme/check"), weight(50), pluginStep("acme/check"), pauseForever()}
	idx := func(i int32) *int32 { return &i }
	progressing := withPhase(v1alpha1.RolloutPhaseProgressing)
	for name, tc := range map[string]struct {
		status v1alpha1.RolloutStatus
		want   StepPluginCalls
	}{
		"progressing at a plugin step: run it": {status: updating(2, all(progressing,
			withStatuses(pluginStatus(0, opRun, spOK)))), want: StepPluginCalls{Run: idx(2)}},
		"paused at a plugin step: nothing": {status: updating(2, all(withPhase(v1alpha1.RolloutPhasePaused),
			withStatuses(pluginStatus(0, opRun, spOK))))},
		"at a step that is no plugin step: nothing": {status: updating(1, all(progressing, withStatuses(pluginStatus(0, opRun, spOK))))},
		"the steps are done: nothing":               {status: updating(4, all(progressing, withStatuses(pluginStatus(0, opRun, spOK))))},
		"aborted: every step that ran, last first": {status: updating(0, all(abortedAt(t0),
			withStatuses(pluginStatus(0, opRun, spOK), pluginStatus(2, opRun, spRunning)))), want: StepPluginCalls{Abort: []int32{2, 0}}},
		"aborted: a step aborted already is not asked again": {status: updating(0, all(abortedAt(t0),
			withStatuses(pluginStatus(0, opRun, spOK), pluginStatus(2, opRun, spFailed), pluginStatus(0, opAbort, spOK)))),
			want: StepPluginCalls{Abort: []int32{2}}},
		"aborted: a status naming no plugin step is left alone": {status: updating(0, all(abortedAt(t0),
			withStatuses(pluginStatus(1, opRun, spOK), pluginStatus(9, opRun, spOK))))},
		"aborted while promoted full: the abort comes first": {status: updating(0, all(abortedAt(t0),
			func(st *v1alpha1.RolloutStatus) { st.PromoteFull = true }, withStatuses(pluginStatus(2, opRun, spRunning)))),
			want: StepPluginCalls{Abort: []int32{2}}},
		"promoted full: the running step is terminated": {status: updating(2, all(progressing,
			func(st *v1alpha1.RolloutStatus) { st.PromoteFull = true },
			withStatuses(pluginStatus(0, opRun, spOK), pluginStatus(2, opRun, spRunning)))), want: StepPluginCalls{Terminate: idx(2)}},
		"fully promoted: the running step is terminated": {status: updating(4, all(
			func(st *v1alpha1.RolloutStatus) { st.StableRS = "n" }, withStatuses(pluginStatus(2, opRun, spRunning)))),
			want: StepPluginCalls{Terminate: idx(2)}},
		"fully promoted, terminated already: nothing": {status: updating(4, all(func(st *v1alpha1.RolloutStatus) { st.StableRS = "n" },
			withStatuses(pluginStatus(2, opRun, spRunning), pluginStatus(2, opTerminate, spOK))))},
		"retried at a first plugin step that completed: cleared and run again": {status: updating(0, all(progressing,
			withStatuses(pluginStatus(0, opRun, spOK), pluginStatus(2, opRun, spFailed), pluginStatus(0, opAbort, spOK)))),
			want: StepPluginCalls{Clear: true, Run: idx(0)}},
		"a first plugin step under way: not cleared": {status: updating(0, all(progressing,
			withStatuses(backedOff(pluginStatus(0, opRun, spRunning), t0, "30s")))), want: StepPluginCalls{Run: idx(0)}},
		"the status of another revision: nothing (the engine drops it)": {status: updating(2, all(progressing,
			func(st *v1alpha1.RolloutStatus) { st.CurrentPodHash = "old" }, withStatuses(pluginStatus(2, opRun, spRunning))))},
		"the status of other steps: nothing (the engine drops it)": {status: updating(2, all(progressing,
			func(st *v1alpha1.RolloutStatus) { st.CurrentStepHash = "old" }, withStatuses(pluginStatus(2, opRun, spRunning))))},
	} {
		t.Run(name, func(t *testing.T) {
			in := Input{Rollout: rollout(5, steps, tc.status), NewHash: "n", StepsHash: "steps", Now: t0}
			if d := cmp.Diff(tc.want, PlanStepPlugins(in)); d != "" {
				t.Errorf("-want +got:\n%s", d)
			}
		})
	}
	retried := updating(0, all(progressing, withStatuses(pluginStatus(2, opRun, spOK))))
	got := PlanStepPlugins(Input{Rollout: rollout(5, []v1alpha1.CanaryStep{weight(20), pauseForever(), pluginStep("acme/check")}, retried),
		NewHash: "n", StepsHash: "steps"})
	if d := cmp.Diff(StepPluginCalls{Clear: true}, got); d != "" {
		t.Errorf("retried at a first step that is no plugin step: -want +got:\n%s", d)
	}
}

// TestCanaryPluginStep: the engine keeps the statuses the plugin calls left and moves past a
// plugin step only once it is complete, with and without a traffic router; a failed step aborts
// the update with the plugin's message.
func TestCanaryPluginStep(t *testing.T) {
	type want struct {
		StepIndex    int32
		Aborted      bool
		AbortDetail  string
		RequeueAfter time.Duration
		Reasons      []string
		Statuses     []v1alpha1.StepPluginStatus
	}
	steps := []v1alpha1.CanaryStep{weight(20), pluginStep("acme/check"), pauseForever()}
	running := backedOff(pluginStatus(1, opRun, spRunning), t0.Add(-10*time.Second), "30s")
	erred := backedOff(pluginStatus(1, opRun, spError), t0, "30s")
	failed := pluginStatus(1, opRun, spFailed)
	failed.Message = "the change was denied"
	disabled := v1alpha1.StepPluginStatus{Index: 1, Name: "acme/check", Operation: opRun, Disabled: true}
	ok := pluginStatus(1, opRun, spOK)
	sp := func(hadError bool, statuses ...v1alpha1.StepPluginStatus) *StepPlugins {
		return &StepPlugins{Statuses: statuses, HadError: hadError}
	}
	for name, tc := range map[string]struct {
		status  v1alpha1.RolloutStatus
		plugins *StepPlugins
		want    want
	}{
		"not run yet: held": {status: updating(1, nil), plugins: sp(false), want: want{StepIndex: 1}},
		"successful: the next step": {status: updating(1, nil), plugins: sp(false, ok),
			want: want{StepIndex: 2, Reasons: []string{"RolloutStepCompleted", "RolloutPaused"}, Statuses: []v1alpha1.StepPluginStatus{ok}}},
		"running: looked at again 5s after its backoff": {status: updating(1, nil), plugins: sp(false, running),
			want: want{StepIndex: 1, RequeueAfter: 25 * time.Second, Statuses: []v1alpha1.StepPluginStatus{running}}},
		"an error: looked at again 5s after its backoff": {status: updating(1, nil), plugins: sp(false, erred),
			want: want{StepIndex: 1, RequeueAfter: 35 * time.Second, Statuses: []v1alpha1.StepPluginStatus{erred}}},
		"failed: the update is aborted with the plugin's message": {status: updating(1, nil), plugins: sp(false, failed),
			want: want{StepIndex: 0, Aborted: true, AbortDetail: "Step Plugin 2 (acme/check) failed: the change was denied",
				Reasons: []string{"RolloutAborted"}, Statuses: []v1alpha1.StepPluginStatus{failed}}},
		"disabled: complete": {status: updating(1, nil), plugins: sp(false, disabled),
			want: want{StepIndex: 2, Reasons: []string{"RolloutStepCompleted", "RolloutPaused"}, Statuses: []v1alpha1.StepPluginStatus{disabled}}},
		"running, then terminated: complete": {status: updating(1, nil), plugins: sp(false, running, pluginStatus(1, opTerminate, spOK)),
			want: want{StepIndex: 2, RequeueAfter: 25 * time.Second, Reasons: []string{"RolloutStepCompleted", "RolloutPaused"},
				Statuses: []v1alpha1.StepPluginStatus{running, pluginStatus(1, opTerminate, spOK)}}},
		"successful, but a call failed: held": {status: updating(1, nil), plugins: sp(true, ok),
			want: want{StepIndex: 1, Statuses: []v1alpha1.StepPluginStatus{ok}}},
		"no step plugins in the controller: held, the status as read": {status: updating(1, withStatuses(ok)),
			want: want{StepIndex: 1, Statuses: []v1alpha1.StepPluginStatus{ok}}},
		// the first step (setWeight) completes at once; the plugin step has not run for them
		"a new revision starts without statuses": {status: updating(1, func(st *v1alpha1.RolloutStatus) { st.CurrentPodHash = "old" }),
			plugins: sp(false, ok), want: want{StepIndex: 1, Reasons: []string{"RolloutStepCompleted"}}},
		"new steps start without statuses": {status: updating(1, func(st *v1alpha1.RolloutStatus) { st.CurrentStepHash = "old" }),
			plugins: sp(false, ok), want: want{StepIndex: 1, Reasons: []string{"RolloutStepCompleted"}}},
	} {
		for _, routed := range []bool{false, true} {
			t.Run(name+map[bool]string{false: "", true: " (traffic routed)"}[routed], func(t *testing.T) {
				in := Input{Rollout: rollout(5, steps, tc.status), NewHash: "n", StepsHash: "steps", Now: t0, StepPlugins: tc.plugins,
					Sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(4), Revision: 1}}}
				if routed {
					st := tc.status
					applied(20, "n")(&st)
					in.Rollout = routedRollout(5, steps, st, func(c *v1alpha1.CanaryStrategy) {
						c.AbortScaleDownDelaySeconds = ptr32(0) // an abort waits for nothing
					})
					in.TrafficRouter, in.RouterWeightVerified = true, true
					in.Sets[1].Pods = ready(5)
				}
				p, err := Canary(in)
				if err != nil {
					t.Fatal(err)
				}
				var reasons []string
				for _, e := range p.Events {
					if e.Reason != "TrafficWeightUpdated" {
						reasons = append(reasons, e.Reason)
					}
				}
				got := want{StepIndex: *p.Status.CurrentStepIndex, Aborted: p.Status.Abort, AbortDetail: p.AbortDetail,
					RequeueAfter: p.RequeueAfter, Reasons: reasons, Statuses: p.Status.Canary.StepPluginStatuses}
				if d := cmp.Diff(tc.want, got); d != "" {
					t.Errorf("-want +got:\n%s", d)
				}
			})
		}
	}
}

// TestCanaryPluginStepAbortMessage: the abort a failed plugin step causes is told with Argo's
// text, the plugin's message included.
func TestCanaryPluginStepAbortMessage(t *testing.T) {
	failed := pluginStatus(1, opRun, spFailed)
	failed.Message = "the change was denied"
	p, err := Canary(Input{Rollout: rollout(5, []v1alpha1.CanaryStep{weight(20), pluginStep("acme/check")}, updating(1, nil)),
		NewHash: "n", StepsHash: "steps", Now: t0, StepPlugins: &StepPlugins{Statuses: []v1alpha1.StepPluginStatus{failed}},
		Sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(1), Revision: 2}, {Hash: "s", Role: RoleStable, Pods: ready(4), Revision: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{{Warning: true, Reason: "RolloutAborted",
		Message: "Rollout aborted update to revision 2: Step Plugin 2 (acme/check) failed: the change was denied"}}
	if d := cmp.Diff(want, p.Events); d != "" {
		t.Errorf("-want +got:\n%s", d)
	}
}
