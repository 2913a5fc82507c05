package strategy

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/vanedev/vane/api/v1alpha1"
)

// ReasonPaused is the reason of the Progressing condition of a paused rollout (Argo's
// RolloutPausedReason): such a rollout does not time out.
const ReasonPaused = "RolloutPaused"

// fmtTimedOut is Argo's ReplicaSetTimeOutMessage (utils/conditions).
const fmtTimedOut = "ReplicaSet %q has timed out progressing."

// ProgressInput is what JudgeProgress judges: data the controller read or made in this
// reconcile. Time is Now; the engine reads no clock.
type ProgressInput struct {
	// Spec is the rollout's spec.
	Spec *v1alpha1.RolloutSpec
	// Generation is the rollout's metadata.generation.
	Generation int64
	// Read is the status as read, with the generation the pause bookkeeping observed.
	Read *v1alpha1.RolloutStatus
	// Status is the status after the plan and the pause bookkeeping: counts, step, stable
	// ReplicaSet, selectors, abort, and the Progressing and Paused conditions as they stand
	// before the progress conditions are computed.
	Status *v1alpha1.RolloutStatus
	// Now is the reconcile's time.
	Now time.Time
	// ScaleDownPending: a ReplicaSet neither new nor stable still has a scale-down deadline
	// (Argo's isWaitingForReplicaSetScaleDown); the deadline does not run meanwhile.
	ScaleDownPending bool
	// NewRS is the new ReplicaSet's name, which the timeout message names.
	NewRS string
}

// Progress is the verdict on an update's progress (Argo's rollout/sync.go and
// utils/conditions): the controller applies it to the status, its conditions and events.
type Progress struct {
	// Completed: the new ReplicaSet is the stable one (Argo's RolloutCompleted).
	Completed bool
	// Healthy: every pod runs the new template and is available, the spec's generation is
	// observed, and the strategy is done (Argo's RolloutHealthy).
	Healthy bool
	// Progressing: the status moved since it was read (Argo's RolloutProgressing); progress
	// restarts the deadline.
	Progressing bool
	// Indefinite: the rollout waits at a pause, analysis or experiment step, or is paused,
	// which does not count against the deadline (Argo's isIndefiniteStep).
	Indefinite bool
	// TimedOut: the Progressing condition as it stands says the deadline passed (Argo's
	// RolloutTimedOut).
	TimedOut bool
	// DeadlineExceeded: neither healthy nor progressing, timed out, and waiting for nothing
	// that stops the deadline (an indefinite step, a pending scale-down): the Progressing
	// condition becomes ProgressDeadlineExceeded (unless the rollout just became unhealthy).
	DeadlineExceeded bool
	// Abort: spec.progressDeadlineAbort aborts the update, which made no progress for
	// progressDeadlineSeconds by the Progressing condition as read (Argo's
	// evaluateProgressDeadlineAbort).
	Abort bool
	// Message is Argo's `ReplicaSet "<name>" has timed out progressing.`, what the
	// ProgressDeadlineExceeded condition and the abort say.
	Message string
}

// JudgeProgress decides what Argo's persistRolloutStatus decides about progress: whether the
// update completed, is healthy, progressed, timed out, and whether the progress deadline
// aborts it.
func JudgeProgress(in ProgressInput) Progress {
	spec, read, st := in.Spec, in.Read, in.Status
	p := Progress{
		Completed:   Completed(st),
		Healthy:     healthy(spec, in.Generation, read, st),
		Progressing: progressing(spec, read, st),
		Indefinite:  indefinite(spec, read, st),
		TimedOut:    timedOut(spec, progressingCondition(st), in.Now),
		Message:     fmt.Sprintf(fmtTimedOut, in.NewRS),
	}
	holds := p.Indefinite || in.ScaleDownPending
	p.DeadlineExceeded = !p.Healthy && !p.Progressing && !holds && p.TimedOut
	p.Abort = spec.ProgressDeadlineAbort && !read.Abort && !st.Abort && !p.Completed && !p.Progressing && !holds &&
		timedOut(spec, progressingCondition(read), in.Now)
	return p
}

// Completed: the new ReplicaSet is the stable one (Argo's conditions.RolloutCompleted).
func Completed(st *v1alpha1.RolloutStatus) bool {
	return st.StableRS != "" && st.StableRS == st.CurrentPodHash
}

// healthy is Argo's conditions.RolloutHealthy: every pod runs the new template and is
// available, the generation is observed, and the strategy is done: blue/green's Services
// select the new pods, a canary ran all its steps, made the new ReplicaSet stable and has no
// old pods left.
func healthy(spec *v1alpha1.RolloutSpec, generation int64, read, st *v1alpha1.RolloutStatus) bool {
	replicas := spec.EffectiveReplicas()
	done := true
	if bg := spec.Strategy.BlueGreen; bg != nil {
		done = st.BlueGreen.ActiveSelector == st.CurrentPodHash &&
			(bg.PreviewService == "" || st.BlueGreen.PreviewSelector == st.CurrentPodHash)
	} else if c := spec.Strategy.Canary; c != nil {
		allSteps := len(c.Steps) == 0 || st.CurrentStepIndex == nil || int(*st.CurrentStepIndex) == len(c.Steps)
		done = allSteps && Completed(st) && st.Replicas == replicas
	}
	return done && st.UpdatedReplicas == replicas && st.AvailableReplicas == replicas &&
		read.ObservedGeneration == fmt.Sprint(generation)
}

// progressing is Argo's conditions.RolloutProgressing: pods updated, old pods gone, pods
// ready or available, or a step, the steps, the stable ReplicaSet or a Service selector
// changed since the status was read.
func progressing(spec *v1alpha1.RolloutSpec, read, st *v1alpha1.RolloutStatus) bool {
	moved := false
	if spec.Strategy.BlueGreen != nil {
		moved = read.BlueGreen.ActiveSelector != st.BlueGreen.ActiveSelector || read.BlueGreen.PreviewSelector != st.BlueGreen.PreviewSelector
	} else {
		stepMoved := read.CurrentStepIndex != nil && st.CurrentStepIndex != nil && *read.CurrentStepIndex != *st.CurrentStepIndex
		moved = read.StableRS != st.StableRS || stepMoved || read.CurrentStepHash != st.CurrentStepHash
	}
	return moved || st.UpdatedReplicas != read.UpdatedReplicas || st.Replicas-st.UpdatedReplicas < read.Replicas-read.UpdatedReplicas ||
		st.ReadyReplicas > read.ReadyReplicas || st.AvailableReplicas > read.AvailableReplicas
}

// indefinite is Argo's isIndefiniteStep: the canary step as read is a pause, analysis or
// experiment, or the Paused condition (as the pause bookkeeping left it) is True.
func indefinite(spec *v1alpha1.RolloutSpec, read, st *v1alpha1.RolloutStatus) bool {
	if c := spec.Strategy.Canary; c != nil && len(c.Steps) > 0 {
		idx := 0
		if read.CurrentStepIndex != nil {
			idx = int(*read.CurrentStepIndex)
		}
		if idx >= 0 && idx < len(c.Steps) { // a status patched by hand may hold any index
			if step := c.Steps[idx]; step.Pause != nil || step.Analysis != nil || step.Experiment != nil {
				return true
			}
		}
	}
	pc := findCondition(st, v1alpha1.RolloutPaused)
	return pc != nil && pc.Status == corev1.ConditionTrue
}

// timedOut is Argo's conditions.RolloutTimedOut for a Progressing condition: it says the
// deadline passed already, or was last updated more than progressDeadlineSeconds before now;
// never while it says paused or aborted, nor without one.
func timedOut(spec *v1alpha1.RolloutSpec, cond *v1alpha1.RolloutCondition, now time.Time) bool {
	if cond == nil || cond.Reason == ReasonAborted || cond.Reason == ReasonPaused {
		return false
	}
	if cond.Reason == ReasonDeadlineExceeded {
		return true
	}
	return cond.LastUpdateTime.Add(progressDeadline(spec)).Before(now)
}

// ProgressRecheck returns how long after now to look again, when the progress deadline of the
// Progressing condition in st (the status as computed) runs out (Argo's requeueStuckRollout):
// 0, never, for a healthy, timed out, paused or aborted rollout, nor at an indefinite step (p
// is the verdict the status was computed with).
func ProgressRecheck(spec *v1alpha1.RolloutSpec, st *v1alpha1.RolloutStatus, p Progress, now time.Time) time.Duration {
	cond := progressingCondition(st)
	if cond == nil || cond.Reason == ReasonDeadlineExceeded || st.Abort || spec.Paused || len(st.PauseConditions) > 0 ||
		p.Healthy || p.Indefinite {
		return 0
	}
	return max(cond.LastUpdateTime.Add(progressDeadline(spec)).Sub(now), 0) + time.Second
}

// progressDeadline is spec.progressDeadlineSeconds (or its default) as a duration.
func progressDeadline(spec *v1alpha1.RolloutSpec) time.Duration {
	return time.Duration(spec.EffectiveProgressDeadlineSeconds()) * time.Second
}

func progressingCondition(st *v1alpha1.RolloutStatus) *v1alpha1.RolloutCondition {
	return findCondition(st, v1alpha1.RolloutProgressing)
}

func findCondition(st *v1alpha1.RolloutStatus, t v1alpha1.RolloutConditionType) *v1alpha1.RolloutCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}
