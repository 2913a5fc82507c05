package strategy

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Experiment is the Experiment of the current update that status.canary.currentExperiment
// names, as the controller found it.
type Experiment struct {
	// Name of the Experiment.
	Name string
	// Phase of the Experiment ("" until the Experiment controller picked it up).
	Phase v1alpha1.AnalysisPhase
	// Message explains the phase (a failed run's verdict).
	Message string
	// Templates are its templates' states (status.templateStatuses): the Service and the
	// pod-template hash each template runs behind, for the traffic router.
	Templates []v1alpha1.TemplateStatus
}

// ExperimentPlan says which Experiment the update needs now. The controller keeps the
// Experiment status.canary.currentExperiment names when it exists, else creates one for the
// step (and records its name there); it terminates every other Experiment of the rollout still
// running (Argo's reconcileExperiments and cancelExperiments).
type ExperimentPlan struct {
	// Step is the index of the experiment step whose Experiment must run (nil: none).
	Step *int32
}

// experimentDetail is Argo's text for an Experiment that aborts the update ("Experiment
// analysis phase is error/failed: <message>"); Vane names the Experiment after it, as it names
// a failed run.
func experimentDetail(ex *Experiment) string {
	msg := "Experiment analysis phase is error/failed"
	if ex.Message != "" {
		msg += ": " + ex.Message
	}
	return fmt.Sprintf("%s (Experiment %s)", msg, ex.Name)
}

// currentExperiment returns the Experiment the status st names, when the controller found it.
func currentExperiment(in Input, st *v1alpha1.RolloutStatus) *Experiment {
	if ex := in.Experiment; ex != nil && st.Canary.CurrentExperiment != "" && ex.Name == st.Canary.CurrentExperiment {
		return ex
	}
	return nil
}

// experimentStepAt reports the experiment step the update st describes is at: an update in
// progress (neither aborted, promoted in full nor complete) whose current step is an experiment.
func experimentStepAt(in Input, st *v1alpha1.RolloutStatus) (int32, bool) {
	steps := in.Rollout.Spec.Strategy.Canary.Steps
	idx := stepIndex(st)
	if st.Abort || st.PromoteFull || st.StableRS == "" || st.StableRS == in.NewHash || idx >= int32(len(steps)) {
		return 0, false
	}
	return idx, steps[idx].Experiment != nil
}

// judgeExperiment is Argo's verdict on the Experiment of the experiment step the rollout is at
// (reconcileExperiments, before the steps move): Failed or Error aborts the update,
// Inconclusive pauses it (InconclusiveExperiment) until a promote, which starts a new
// Experiment, or an abort. Either way the status no longer names it (Argo's
// SetCurrentExperiment records only an Experiment that has not ended).
func (p *Plan) judgeExperiment(in Input) {
	st := &p.Status
	ex := currentExperiment(in, st)
	if _, at := experimentStepAt(in, st); ex == nil || !at {
		return
	}
	switch ex.Phase {
	case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError:
		st.Abort = true
		st.Canary.CurrentExperiment = ""
		p.AbortDetail = experimentDetail(ex)
	case v1alpha1.AnalysisPhaseInconclusive:
		st.Canary.CurrentExperiment = ""
		if findPause(st.PauseConditions, v1alpha1.PauseReasonInconclusiveExperiment) == nil {
			st.PauseConditions = append(st.PauseConditions, v1alpha1.PauseCondition{
				Reason: v1alpha1.PauseReasonInconclusiveExperiment, StartTime: metav1.NewTime(in.Now)})
			st.ControllerPause = true
			p.Events = append(p.Events, Event{Reason: "RolloutPaused", Message: "Rollout is paused (InconclusiveExperiment)"})
		}
	}
}

// experimentStep plays an experiment step: it completes once its Experiment is Successful
// (Argo's completedCurrentCanaryStep), and the status then no longer names it.
func (p *Plan) experimentStep(in Input) bool {
	ex := currentExperiment(in, &p.Status)
	if ex == nil || ex.Phase != v1alpha1.AnalysisPhaseSuccessful {
		return false
	}
	p.Status.Canary.CurrentExperiment = ""
	return true
}

// planExperiment decides, once the steps are played, which Experiment the update needs: at an
// experiment step, the one the status names, or else a new one, once the stable ReplicaSet
// exists (Argo waits for it) and no inconclusive Experiment or analysis holds the rollout.
// Anywhere else (another step, an abort, a full promotion, a complete update) none, and the
// status names none.
func (p *Plan) planExperiment(in Input) {
	st := &p.Status
	idx, at := experimentStepAt(in, st)
	if !at {
		st.Canary.CurrentExperiment = ""
		return
	}
	if currentExperiment(in, st) == nil {
		st.Canary.CurrentExperiment = "" // gone: the controller records the one it creates
		if findPause(st.PauseConditions, v1alpha1.PauseReasonInconclusiveExperiment) != nil ||
			findPause(st.PauseConditions, v1alpha1.PauseReasonInconclusiveAnalysis) != nil || !hasSet(in, st.StableRS) {
			return
		}
	}
	p.Experiment.Step = ptr32(idx)
}

// experimentDestinations are the traffic router's additional destinations while the update's
// Experiment runs (Argo's calculateWeightDestinationsFromExperiment): one per template of the
// last experiment step at or before the current one that has a weight, to the Service and
// pod-template hash the Experiment's status gives it. None once the steps are done, nor on
// abort or full promotion, nor for a template without a Service yet.
func experimentDestinations(in Input, st *v1alpha1.RolloutStatus) []v1alpha1.WeightDestination {
	steps := in.Rollout.Spec.Strategy.Canary.Steps
	idx := stepIndex(st)
	ex := currentExperiment(in, st)
	if st.Abort || st.PromoteFull || st.StableRS == in.NewHash || idx >= int32(len(steps)) ||
		ex == nil || ex.Phase != v1alpha1.AnalysisPhaseRunning {
		return nil
	}
	var step *v1alpha1.RolloutExperimentStep
	for i := idx; i >= 0 && step == nil; i-- {
		step = steps[i].Experiment
	}
	if step == nil {
		return nil
	}
	var out []v1alpha1.WeightDestination
	for _, ts := range ex.Templates {
		for _, t := range step.Templates {
			if t.Name == ts.Name && t.Weight != nil && ts.ServiceName != "" {
				out = append(out, v1alpha1.WeightDestination{Weight: *t.Weight, ServiceName: ts.ServiceName, PodTemplateHash: ts.PodTemplateHash})
			}
		}
	}
	return out
}
