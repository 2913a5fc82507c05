package strategy

import (
	"fmt"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Counts are the pod counts a rollout reports in its status.
type Counts struct {
	Replicas, Updated, Ready, Available int32
}

// Problem is a reason the rollout cannot progress, already decided by the controller.
type Problem struct {
	// Reason is InvalidSpec, ProgressDeadlineExceeded or RolloutAborted.
	Reason string
	// Message explains it.
	Message string
}

// Phase computes Argo's status.phase and status.message for a rollout whose engine-owned status
// is st, with counts observed from its ReplicaSets and the problem (if any) that stops it.
func Phase(r *v1alpha1.Rollout, st *v1alpha1.RolloutStatus, c Counts, problem *Problem) (v1alpha1.RolloutPhase, string) {
	if problem != nil {
		return v1alpha1.RolloutPhaseDegraded, problem.Reason + ": " + problem.Message
	}
	if r.Spec.Paused {
		return v1alpha1.RolloutPhasePaused, "manually paused"
	}
	if len(st.PauseConditions) > 0 {
		return v1alpha1.RolloutPhasePaused, string(st.PauseConditions[0].Reason)
	}
	desired := r.Spec.EffectiveReplicas()
	switch {
	case c.Updated < desired:
		return v1alpha1.RolloutPhaseProgressing, "more replicas need to be updated"
	case c.Available < c.Updated:
		return v1alpha1.RolloutPhaseProgressing, "updated replicas are still becoming available"
	case st.StableRS != st.CurrentPodHash:
		return v1alpha1.RolloutPhaseProgressing, "waiting for all steps to complete"
	case c.Replicas > c.Updated:
		return v1alpha1.RolloutPhaseProgressing, "old replicas are pending termination"
	}
	return v1alpha1.RolloutPhaseHealthy, ""
}

// Abort returns the problem an aborted rollout reports; verdict (see AnalysisVerdict) says
// which analysis failed and why, when one did.
func Abort(revision, verdict string) *Problem {
	msg := fmt.Sprintf("Rollout aborted update to revision %s", revision)
	if verdict != "" {
		msg += ": " + verdict
	}
	return &Problem{Reason: "RolloutAborted", Message: msg}
}
