package strategy

import (
	"fmt"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Counts are the pod counts a rollout reports in its status.
type Counts struct {
	Replicas, Updated, Ready, Available int32
}

// Reasons of the Progressing condition that make a rollout Degraded (Argo's
// RolloutAbortedReason and TimedOutReason).
const (
	ReasonAborted          = "RolloutAborted"
	ReasonDeadlineExceeded = "ProgressDeadlineExceeded"
)

// Problem is a reason the rollout cannot progress, already decided by the controller.
type Problem struct {
	// Reason is InvalidSpec, ProgressDeadlineExceeded or RolloutAborted.
	Reason string
	// Message explains it.
	Message string
}

// RolloutPhase is Argo's status.phase and status.message for a rollout whose status (counts,
// conditions, pause conditions, selectors) is computed already (utils/rollout
// CalculateRolloutPhase): the first condition that is InvalidSpec, or whose reason is
// RolloutAborted or ProgressDeadlineExceeded, makes it Degraded with "<reason>: <message>";
// then spec.paused and the first pause condition make it Paused; then the first unfinished
// part of the update makes it Progressing; else it is Healthy.
func RolloutPhase(spec *v1alpha1.RolloutSpec, st *v1alpha1.RolloutStatus) (v1alpha1.RolloutPhase, string) {
	for _, c := range st.Conditions {
		if c.Type == v1alpha1.InvalidSpec {
			return v1alpha1.RolloutPhaseDegraded, fmt.Sprintf("%s: %s", v1alpha1.InvalidSpec, c.Message)
		}
		if c.Reason == ReasonAborted || c.Reason == ReasonDeadlineExceeded {
			return v1alpha1.RolloutPhaseDegraded, fmt.Sprintf("%s: %s", c.Reason, c.Message)
		}
	}
	if spec.Paused {
		return v1alpha1.RolloutPhasePaused, "manually paused"
	}
	if len(st.PauseConditions) > 0 {
		return v1alpha1.RolloutPhasePaused, string(st.PauseConditions[0].Reason)
	}
	if spec.RestartAt != nil && (st.RestartedAt == nil || !spec.RestartAt.Time.Equal(st.RestartedAt.Time)) {
		return v1alpha1.RolloutPhaseProgressing, "rollout is restarting"
	}
	if st.UpdatedReplicas < spec.EffectiveReplicas() {
		return v1alpha1.RolloutPhaseProgressing, "more replicas need to be updated"
	}
	if st.AvailableReplicas < st.UpdatedReplicas {
		return v1alpha1.RolloutPhaseProgressing, "updated replicas are still becoming available"
	}
	if msg := updatePending(spec, st); msg != "" {
		return v1alpha1.RolloutPhaseProgressing, msg
	}
	return v1alpha1.RolloutPhaseHealthy, ""
}

// updatePending is the strategy's part of RolloutPhase: what is left of the update once every
// pod runs the new template and is available ("" when nothing is).
func updatePending(spec *v1alpha1.RolloutSpec, st *v1alpha1.RolloutStatus) string {
	promoted := Completed(st)
	if bg := spec.Strategy.BlueGreen; bg != nil {
		if st.BlueGreen.ActiveSelector == "" || st.BlueGreen.ActiveSelector != st.CurrentPodHash {
			return "active service cutover pending"
		}
		if promoted {
			return ""
		}
		// switched, not stable yet: post-promotion analysis or verification is left
		if run := st.BlueGreen.PostPromotionAnalysisRunStatus; bg.PostPromotionAnalysis != nil && (run == nil || !run.Status.Completed()) {
			return "waiting for analysis to complete"
		}
		return "waiting for post-promotion verification to complete"
	}
	if c := spec.Strategy.Canary; c != nil {
		// with trafficRouting, old pods kept for scaleDownDelaySeconds are no termination
		// pending: Argo only counts them for the basic canary
		if c.TrafficRouting == nil && st.Replicas > st.UpdatedReplicas {
			return "old replicas are pending termination"
		}
		if !promoted {
			return "waiting for all steps to complete"
		}
	}
	return ""
}

// Phase computes status.phase and status.message for a rollout whose status st has no
// conditions computed yet, from counts observed from its ReplicaSets and the problem (if any)
// that stops it: the problem stands for the condition that would carry it (see RolloutPhase).
func Phase(r *v1alpha1.Rollout, st *v1alpha1.RolloutStatus, c Counts, problem *Problem) (v1alpha1.RolloutPhase, string) {
	s := st.DeepCopy()
	s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas = c.Replicas, c.Updated, c.Ready, c.Available
	s.Conditions = nil
	if problem != nil {
		t := v1alpha1.RolloutProgressing
		if problem.Reason == string(v1alpha1.InvalidSpec) {
			t = v1alpha1.InvalidSpec
		}
		s.Conditions = []v1alpha1.RolloutCondition{{Type: t, Reason: problem.Reason, Message: problem.Message}}
	}
	return RolloutPhase(&r.Spec, s)
}

// Abort returns the problem an aborted rollout reports: Argo's "Rollout aborted update to
// revision N", followed by ": " and detail when there is one (see AbortDetail).
func Abort(revision, detail string) *Problem {
	msg := fmt.Sprintf("Rollout aborted update to revision %s", revision)
	if detail != "" {
		msg += ": " + detail
	}
	return &Problem{Reason: ReasonAborted, Message: msg}
}

// AbortDetail is what Argo adds to the abort message when a failed analysis aborts the update
// (rollout/analysis.go): which analysis ("Background analysis", "Step-based analysis",
// "Blue/green pre-promotion analysis", "Blue/green post-promotion analysis") ended in
// Failed or Error, "phase error/failed", and the run's message. Vane names the run after
// Argo's text: "Background analysis phase error/failed: <message> (AnalysisRun <name>)". It
// returns "" when no run the status records failed (a user's abort). When two runs failed,
// the one Argo judges last wins: background over step, post- over pre-promotion.
func AbortDetail(st *v1alpha1.RolloutStatus) string {
	for _, r := range []struct {
		what string
		rec  *v1alpha1.RolloutAnalysisRunStatus
	}{
		{abortedByBackground, st.Canary.CurrentBackgroundAnalysisRunStatus},
		{abortedByStep, st.Canary.CurrentStepAnalysisRunStatus},
		{abortedByPostPromotion, st.BlueGreen.PostPromotionAnalysisRunStatus},
		{abortedByPrePromotion, st.BlueGreen.PrePromotionAnalysisRunStatus},
	} {
		if r.rec != nil {
			if d := failedRunDetail(r.what, &Run{Name: r.rec.Name, Phase: r.rec.Status, Message: r.rec.Message}); d != "" {
				return d
			}
		}
	}
	return ""
}

// What Argo calls each analysis in an abort message.
const (
	abortedByBackground    = "Background analysis"
	abortedByStep          = "Step-based analysis"
	abortedByPrePromotion  = "Blue/green pre-promotion analysis"
	abortedByPostPromotion = "Blue/green post-promotion analysis"
)

// failedRunDetail is AbortDetail for one run ("" unless it failed or errored).
func failedRunDetail(what string, run *Run) string {
	if run == nil || (run.Phase != v1alpha1.AnalysisPhaseFailed && run.Phase != v1alpha1.AnalysisPhaseError) {
		return ""
	}
	msg := what + " phase error/failed"
	if run.Message != "" {
		msg += ": " + run.Message
	}
	return fmt.Sprintf("%s (AnalysisRun %s)", msg, run.Name)
}
