package strategy

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Run is an AnalysisRun of the current update as the controller found it.
type Run struct {
	// Name of the AnalysisRun.
	Name string
	// Phase of the run ("" until the AnalysisRun controller picked it up).
	Phase v1alpha1.AnalysisPhase
	// Message is the run's verdict (which metric failed, with what value, against which
	// condition).
	Message string
}

// Runs are the AnalysisRuns the rollout's status records for the current update
// (status.canary.currentBackgroundAnalysisRunStatus, currentStepAnalysisRunStatus,
// status.blueGreen.prePromotionAnalysisRunStatus, postPromotionAnalysisRunStatus), as found.
// A nil run has not been started (or is gone).
type Runs struct {
	Background *Run
	// Step is the run of the analysis step at StepIndex.
	Step      *Run
	StepIndex int32
	// PrePromotion and PostPromotion are the blue/green runs.
	PrePromotion, PostPromotion *Run
}

// AnalysisPlan says which AnalysisRuns the update needs now. The controller starts each
// wanted run the status does not record yet (and records it), and terminates every other run
// of the rollout that is still running: a background run once the update completes, a step's
// run once the step was skipped, every run on abort.
type AnalysisPlan struct {
	// Background: spec.strategy.canary.analysis runs (the update is in progress, at or past
	// startingStep).
	Background bool
	// RestartBackground: the recorded background run was inconclusive and the rollout was
	// promoted: a new background run replaces it.
	RestartBackground bool
	// Step is the index of the analysis step whose run must exist (nil: none).
	Step *int32
	// PrePromotion and PostPromotion: the blue/green runs.
	PrePromotion, PostPromotion bool
}

// verdict is what a completed run means for the update.
type verdict int

const (
	verdictWait verdict = iota
	verdictPass
	verdictAbort
	verdictPause
)

// judge reads a run. Failed and Error abort the update; Inconclusive pauses it with
// InconclusiveAnalysisRun until someone promotes (the run then passes) or aborts.
func (p *Plan) judge(run *Run, what string, now time.Time) verdict {
	return judgeRun(&p.Status, run, what, now, &p.Events)
}

// judgeRun is judge for any engine: st is the status the engine builds, events its events.
// An inconclusive run pauses the rollout (InconclusiveAnalysisRun, controllerPause); the pause
// is over once the condition is gone while controllerPause is still set and no other pause
// holds the rollout (promote removes every pause condition).
func judgeRun(st *v1alpha1.RolloutStatus, run *Run, what string, now time.Time, events *[]Event) verdict {
	if run == nil {
		return verdictWait
	}
	switch run.Phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		return verdictPass
	case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError:
		*events = append(*events, Event{Warning: true, Reason: "AnalysisRun" + string(run.Phase),
			Message: describeRun(what, run)})
		st.Abort = true
		return verdictAbort
	case v1alpha1.AnalysisPhaseInconclusive:
		if findPause(st.PauseConditions, v1alpha1.PauseReasonInconclusiveAnalysis) != nil {
			return verdictPause
		}
		if st.ControllerPause && len(st.PauseConditions) == 0 {
			return verdictPass // paused for it, and promoted
		}
		st.PauseConditions = append(st.PauseConditions, v1alpha1.PauseCondition{
			Reason: v1alpha1.PauseReasonInconclusiveAnalysis, StartTime: metav1.NewTime(now)})
		st.ControllerPause = true
		*events = append(*events, Event{Warning: true, Reason: "AnalysisRunInconclusive", Message: describeRun(what, run)},
			Event{Reason: "RolloutPaused", Message: "Rollout is paused (InconclusiveAnalysisRun): promote to go on, abort to roll back"})
		return verdictPause
	}
	return verdictWait
}

func describeRun(what string, run *Run) string {
	msg := fmt.Sprintf("%s %s %s", what, run.Name, strings.ToLower(string(run.Phase)))
	if run.Message != "" {
		msg += ": " + run.Message
	}
	return msg
}

// clearAnalysisRecords forgets the runs of an earlier update (a new revision, or a retry).
func clearAnalysisRecords(st *v1alpha1.RolloutStatus) {
	st.Canary.CurrentBackgroundAnalysisRunStatus = nil
	st.Canary.CurrentStepAnalysisRunStatus = nil
	st.BlueGreen.PrePromotionAnalysisRunStatus = nil
	st.BlueGreen.PostPromotionAnalysisRunStatus = nil
}

// startCanaryAnalysis runs before the steps of a canary plan: it retries an update whose abort
// was lifted (from the first step, with new runs), then judges the background analysis, which
// may abort the update or pause it.
func (p *Plan) startCanaryAnalysis(in Input, runs *Runs) {
	st := &p.Status
	if !st.Abort && st.AbortedAt != nil { // abort was lifted: retry the update from the first step
		st.AbortedAt = nil
		st.CurrentStepIndex = ptr32(0)
		clearAnalysisRecords(st)
		*runs = Runs{} // Argo records no event for a retry, only the Progressing condition
	}
	bg := in.Rollout.Spec.Strategy.Canary.Analysis
	if bg == nil || st.Abort || st.PromoteFull || st.StableRS == in.NewHash || in.FastRollback {
		return
	}
	if bg.StartingStep != nil && *st.CurrentStepIndex < *bg.StartingStep {
		return
	}
	p.Analysis.Background = true
	run := runs.Background
	if run != nil && run.Phase == v1alpha1.AnalysisPhaseInconclusive && findPause(st.PauseConditions, v1alpha1.PauseReasonInconclusiveAnalysis) == nil &&
		st.ControllerPause && len(st.PauseConditions) == 0 {
		// paused for it and promoted: a new background run watches the rest of the update
		p.Analysis.RestartBackground = true
		if idx := *st.CurrentStepIndex; idx >= int32(len(in.Rollout.Spec.Strategy.Canary.Steps)) ||
			in.Rollout.Spec.Strategy.Canary.Steps[idx].Pause == nil {
			st.ControllerPause = false // a pause step would take the promotion as its own
		}
		return
	}
	p.judge(run, "background analysis", in.Now)
}

// analysisStep plays an analysis step: it wants the step's run, and completes when the run is
// Successful (or Inconclusive and promoted). A failed run aborts the update.
func (p *Plan) analysisStep(runs Runs, idx int32, now time.Time) bool {
	p.Analysis.Step = ptr32(idx)
	var run *Run
	if runs.Step != nil && runs.StepIndex == idx {
		run = runs.Step
	}
	if p.judge(run, fmt.Sprintf("analysis of step %d", idx+1), now) != verdictPass {
		return false
	}
	if run.Phase == v1alpha1.AnalysisPhaseInconclusive {
		p.Status.ControllerPause = false
	}
	p.Analysis.Step = nil
	return true
}

// inconclusiveStep reports whether step idx is an analysis step whose run is inconclusive:
// its pause is the rollout's own (see forgetStalePause).
func inconclusiveStep(runs Runs, idx int32) bool {
	return runs.Step != nil && runs.StepIndex == idx && runs.Step.Phase == v1alpha1.AnalysisPhaseInconclusive
}

// AnalysisVerdict explains why analysis aborted the update: the failed run recorded in st with
// its message (which names the metric, the value and the condition), or "" when no recorded
// run failed.
func AnalysisVerdict(st *v1alpha1.RolloutStatus) string {
	for _, r := range []struct {
		what string
		rec  *v1alpha1.RolloutAnalysisRunStatus
	}{
		{"background analysis", st.Canary.CurrentBackgroundAnalysisRunStatus},
		{"step analysis", st.Canary.CurrentStepAnalysisRunStatus},
		{"pre-promotion analysis", st.BlueGreen.PrePromotionAnalysisRunStatus},
		{"post-promotion analysis", st.BlueGreen.PostPromotionAnalysisRunStatus},
	} {
		if r.rec != nil && (r.rec.Status == v1alpha1.AnalysisPhaseFailed || r.rec.Status == v1alpha1.AnalysisPhaseError) {
			return describeRun(r.what, &Run{Name: r.rec.Name, Phase: r.rec.Status, Message: r.rec.Message})
		}
	}
	return ""
}
