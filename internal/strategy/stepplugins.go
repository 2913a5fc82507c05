package strategy

import (
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/plugin/step"
)

// Step plugins (canary `steps[].plugin`) are played in two halves, as Argo Rollouts plays them
// (rollout/stepplugin.go): before the engine plans, the controller makes the plugin calls
// PlanStepPlugins decides from the rollout as read (it aborts the steps that ran when the
// rollout is aborted, terminates the step still running when it is fully promoted, runs the
// current plugin step otherwise) and hands the statuses they leave to the engine
// (Input.StepPlugins), which keeps them as status.canary.stepPluginStatuses and decides from
// them whether the current plugin step is complete, or failed and aborts the update.

// StepPluginSlack is added to a Running or Error plugin step's backoff before the rollout is
// looked at again, so that the backoff has passed when it is.
const StepPluginSlack = 5 * time.Second

// StepPluginCalls are the step plugin calls one reconcile makes, in this order, before the
// engine plans.
type StepPluginCalls struct {
	// Abort lists the steps whose plugin is asked to Abort, last run first (the rollout is
	// aborted).
	Abort []int32
	// Terminate is the step whose plugin is still Running and is asked to Terminate (the
	// rollout is fully promoted), or nil.
	Terminate *int32
	// Clear drops the statuses an earlier attempt left before Run: the rollout was retried
	// and is back at its first step (Argo's cleanStatusForRetry).
	Clear bool
	// Run is the current step, a plugin step, whose plugin is run (or checked on), or nil.
	Run *int32
}

// StepPlugins is what the step plugin calls of a reconcile left, for the engine.
type StepPlugins struct {
	// Statuses are status.canary.stepPluginStatuses after the calls.
	Statuses []v1alpha1.StepPluginStatus
	// HadError is set when a call failed (it is tried again later): no plugin step completes
	// in this reconcile.
	HadError bool
}

// PlanStepPlugins decides the step plugin calls of a reconcile from the rollout as read. None
// when the status belongs to another revision or to other steps: the engine starts the new
// update with no statuses (Argo's resetRolloutStatus).
func PlanStepPlugins(in Input) StepPluginCalls {
	r := in.Rollout
	c, st := r.Spec.Strategy.Canary, &r.Status
	if c == nil || st.CurrentPodHash != in.NewHash || st.CurrentStepHash != in.StepsHash {
		return StepPluginCalls{}
	}
	statuses := st.Canary.StepPluginStatuses
	var calls StepPluginCalls
	switch {
	case st.Abort:
		for _, idx := range step.ToAbort(statuses) {
			if pluginStepAt(c.Steps, idx) && step.Find(statuses, idx, v1alpha1.StepPluginOperationAbort) == nil {
				calls.Abort = append(calls.Abort, idx)
			}
		}
		return calls
	case st.PromoteFull || st.StableRS == st.CurrentPodHash:
		if idx := step.ToTerminate(statuses); idx != nil && pluginStepAt(c.Steps, *idx) {
			calls.Terminate = idx
		}
		return calls
	}
	if st.CurrentStepIndex == nil {
		return calls
	}
	idx := *st.CurrentStepIndex
	if !stepAt(c.Steps, idx) {
		return calls // the steps are done
	}
	// at the first step again with statuses of an earlier attempt: a retry (unless the first
	// step is a plugin step still under way)
	calls.Clear = idx == 0 && len(statuses) > 0 && (c.Steps[0].Plugin == nil || step.Completed(statuses, 0, false))
	if c.Steps[idx].Plugin != nil && st.Phase == v1alpha1.RolloutPhaseProgressing {
		calls.Run = &idx
	}
	return calls
}

// stepAt: idx is the index of a step.
func stepAt(steps []v1alpha1.CanaryStep, idx int32) bool { return idx >= 0 && int(idx) < len(steps) }

// pluginStepAt: idx is the index of a plugin step.
func pluginStepAt(steps []v1alpha1.CanaryStep, idx int32) bool {
	return stepAt(steps, idx) && steps[idx].Plugin != nil
}

// keepStepPlugins records the statuses the controller's calls left (the status as read without
// them: a controller that runs no step plugins).
func (p *Plan) keepStepPlugins(in Input) {
	if in.StepPlugins != nil {
		p.Status.Canary.StepPluginStatuses = in.StepPlugins.Statuses
	}
}

// pluginStep plays plugin step idx and reports whether it is complete: its Run Successful (or
// Failed, which aborts the update with the plugin's message), disabled, or terminated or aborted
// while Running, and no call failed in this reconcile. A Running or Error step is looked at
// again once its backoff has passed. Without step plugins (Input.StepPlugins nil) the step holds
// the rollout where it is.
func (p *Plan) pluginStep(in Input, idx int32) bool {
	if in.StepPlugins == nil {
		return false
	}
	statuses := p.Status.Canary.StepPluginStatuses
	run := step.Find(statuses, idx, v1alpha1.StepPluginOperationRun)
	switch {
	case run == nil || run.Disabled:
	case run.Phase == v1alpha1.StepPluginPhaseFailed:
		p.Status.Abort = true
		p.AbortDetail = step.FailedMessage(run)
		return false
	case run.Phase == v1alpha1.StepPluginPhaseRunning, run.Phase == v1alpha1.StepPluginPhaseError:
		p.requeueWithin(step.RequeueAfter(run, in.Now) + StepPluginSlack)
	}
	return step.Completed(statuses, idx, in.StepPlugins.HadError)
}

// requeueWithin asks to be called again after d at the latest.
func (p *Plan) requeueWithin(d time.Duration) {
	if d > 0 && (p.RequeueAfter == 0 || d < p.RequeueAfter) {
		p.RequeueAfter = d
	}
}
