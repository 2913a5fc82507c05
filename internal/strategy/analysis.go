package strategy

import (
	"fmt"
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
func (p *Plan) judge(run *Run, now time.Time) verdict {
	return judgeRun(&p.Status, run, now, &p.Events)
}

// judgeRun is judge for any engine: st is the status the engine builds, events its events.
// An inconclusive run pauses the rollout (InconclusiveAnalysisRun, controllerPause); the pause
// is over once the condition is gone while controllerPause is still set and no other pause
// holds the rollout (promote removes every pause condition). The run's own phase change is
// announced by runChangeEvents.
func judgeRun(st *v1alpha1.RolloutStatus, run *Run, now time.Time, events *[]Event) verdict {
	if run == nil {
		return verdictWait
	}
	switch run.Phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		return verdictPass
	case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError:
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
		*events = append(*events,
			Event{Reason: "RolloutPaused", Message: "Rollout is paused (InconclusiveAnalysisRun): promote to go on, abort to roll back"})
		return verdictPause
	}
	return verdictWait
}

// runChange is one of the update's current runs (nil: none) with the record the status read
// had of it.
type runChange struct {
	kind string // Argo's rollout-type label: Background, Step, PrePromotion, PostPromotion
	prev *v1alpha1.RolloutAnalysisRunStatus
	run  *Run
}

// runChangeEvents is Argo's reconcileAnalysisRunStatusChanges: an event
// AnalysisRun<Phase> (Warning for Failed and Error) for each current run whose phase is not
// the one its record had, saying `<kind> Analysis Run '<name>' Status New: '<phase>'
// Previous: '<recorded phase>'` (NoPreviousStatus without a record). A run just created has
// no phase yet and no event. Vane adds the run's verdict after Argo's text.
func runChangeEvents(changes ...runChange) []Event {
	var out []Event
	for _, c := range changes {
		r := c.run
		if r == nil || r.Phase == "" || c.prev != nil && (c.prev.Name != r.Name || c.prev.Status == r.Phase) {
			continue
		}
		prev := "NoPreviousStatus"
		if c.prev != nil {
			prev = string(c.prev.Status)
		}
		msg := fmt.Sprintf("%s Analysis Run '%s' Status New: '%s' Previous: '%s'", c.kind, r.Name, r.Phase, prev)
		if r.Message != "" && r.Phase.Completed() {
			msg += ": " + r.Message
		}
		out = append(out, Event{Warning: r.Phase == v1alpha1.AnalysisPhaseFailed || r.Phase == v1alpha1.AnalysisPhaseError,
			Reason: "AnalysisRun" + string(r.Phase), Message: msg})
	}
	return out
}

// currentCanaryRuns is Argo's reconcileAnalysisRuns for a canary, before the engine plays
// the update: once the update is fully promoted, aborted, promoted in full, a fast rollback or
// the rollout's first revision (all as read), it has no current run: the status forgets them
// and the controller terminates those still running. Otherwise it announces the phase changes
// of the background run and of the step's run (while its analysis step is current or the
// rollout holds).
func (p *Plan) currentCanaryRuns(in Input, runs *Runs) {
	read, st := &in.Rollout.Status, &p.Status
	if read.StableRS == read.CurrentPodHash || read.Abort || read.PromoteFull || in.FastRollback || read.StableRS == "" {
		st.Canary.CurrentBackgroundAnalysisRunStatus, st.Canary.CurrentStepAnalysisRunStatus = nil, nil
		*runs = Runs{}
		return
	}
	step := runs.Step
	if step != nil && len(read.PauseConditions) == 0 && !currentAnalysisStep(in.Rollout, runs.StepIndex) {
		step = nil
	}
	p.Events = append(p.Events, runChangeEvents(
		runChange{"Step", read.Canary.CurrentStepAnalysisRunStatus, step},
		runChange{"Background", read.Canary.CurrentBackgroundAnalysisRunStatus, runs.Background})...)
}

// currentAnalysisStep: the step the status read is at is the analysis step idx.
func currentAnalysisStep(r *v1alpha1.Rollout, idx int32) bool {
	steps := r.Spec.Strategy.Canary.Steps
	cur := r.Status.CurrentStepIndex
	return cur != nil && *cur == idx && int(idx) < len(steps) && steps[idx].Analysis != nil
}

// forgetPassedStepRun drops the record of a step's run once the rollout neither waits for it
// nor holds (Argo records the step's run only while its step is current).
func (p *Plan) forgetPassedStepRun() {
	if st := &p.Status; p.Analysis.Step == nil && len(st.PauseConditions) == 0 && !st.Abort {
		st.Canary.CurrentStepAnalysisRunStatus = nil
	}
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
	p.judge(run, in.Now)
}

// analysisStep plays an analysis step: it wants the step's run, and completes when the run is
// Successful (or Inconclusive and promoted). A failed run aborts the update.
func (p *Plan) analysisStep(runs Runs, idx int32, now time.Time) bool {
	p.Analysis.Step = ptr32(idx)
	var run *Run
	if runs.Step != nil && runs.StepIndex == idx {
		run = runs.Step
	}
	if p.judge(run, now) != verdictPass {
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
