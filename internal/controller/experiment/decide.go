package experiment

import (
	"time"

	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

// The decisions of a reconcile that depend on nothing but the Experiment and the clock, as Argo
// Rollouts takes them (experiments/experiment.go, utils/experiment/experiment.go).

// terminating reports whether the experiment is ending, read from its status as it is stored:
// terminate was asked for, it completed, a template failed or errored, a run failed, errored
// or was inconclusive, or every run required for completion succeeded. An ending experiment
// starts nothing, scales its ReplicaSets to zero and terminates its runs.
func terminating(ex *v1alpha1.Experiment) bool {
	if ex.Spec.Terminate || ex.Status.Phase.Completed() {
		return true
	}
	for _, ts := range ex.Status.TemplateStatuses {
		if ts.Status == v1alpha1.TemplateStatusFailed || ts.Status == v1alpha1.TemplateStatusError {
			return true
		}
	}
	for _, run := range ex.Status.AnalysisRuns {
		switch run.Phase {
		case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseInconclusive:
			return true
		}
	}
	return requiredSuccessful(ex.Spec.Analyses, ex.Status.AnalysisRuns)
}

// hasRequired reports whether an analysis is required for completion.
func hasRequired(analyses []v1alpha1.ExperimentAnalysisTemplateRef) bool {
	for _, a := range analyses {
		if a.RequiredForCompletion {
			return true
		}
	}
	return false
}

// requiredSuccessful reports whether there is a run required for completion and every such
// run is Successful.
func requiredSuccessful(analyses []v1alpha1.ExperimentAnalysisTemplateRef, runs []v1alpha1.ExperimentAnalysisRunStatus) bool {
	required := false
	for _, a := range analyses {
		if !a.RequiredForCompletion {
			continue
		}
		required = true
		if rs := findRunStatus(runs, a.Name); rs == nil || rs.Phase != v1alpha1.AnalysisPhaseSuccessful {
			return false
		}
	}
	return required
}

// duration returns the experiment's spec.duration (ok false without one, or when it does not
// parse: validation rules that out).
func duration(ex *v1alpha1.Experiment) (time.Duration, bool) {
	if ex.Spec.Duration == nil || ex.Spec.Duration.IsZero() {
		return 0, false
	}
	d, err := ex.Spec.Duration.Duration()
	return d, err == nil
}

// passedDuration reports whether the experiment has been available for longer than its
// duration, and when the duration ends (zero without a duration or before availableAt).
func passedDuration(ex *v1alpha1.Experiment, now time.Time) (bool, time.Time) {
	d, ok := duration(ex)
	if !ok || ex.Status.AvailableAt == nil {
		return false, time.Time{}
	}
	end := ex.Status.AvailableAt.Add(d)
	return now.After(end), end
}

// desiredReplicas is how many pods a template should run: none once the experiment is ending
// or the template's own status completed, else its replicas (1 by default).
func desiredReplicas(ex *v1alpha1.Experiment, t *v1alpha1.TemplateSpec) int32 {
	if terminating(ex) {
		return 0
	}
	if ts := findTemplateStatus(ex.Status.TemplateStatuses, t.Name); ts != nil && templateCompleted(ts.Status) {
		return 0
	}
	return t.EffectiveReplicas()
}

// templateCompleted reports whether a template status is final (Successful, Failed, Error).
func templateCompleted(s v1alpha1.TemplateStatusCode) bool {
	switch s {
	case v1alpha1.TemplateStatusSuccessful, v1alpha1.TemplateStatusFailed, v1alpha1.TemplateStatusError:
		return true
	}
	return false
}

// judgeTemplate gives a template its status from its counts, unless it completed already: at
// its desired replicas it is Running, or Successful once the duration passed or the experiment
// is ending; short of them it is Progressing, Failed once progressDeadlineSeconds passed since
// its last transition, or Successful when the experiment is ending.
func judgeTemplate(ts *v1alpha1.TemplateStatus, desired int32, passed, ending bool, deadlineSeconds int32, now time.Time) {
	if templateCompleted(ts.Status) {
		return
	}
	if desired == ts.AvailableReplicas {
		ts.Status = v1alpha1.TemplateStatusRunning
		if passed || ending {
			ts.Status = v1alpha1.TemplateStatusSuccessful
		}
		return
	}
	from := now
	if ts.LastTransitionTime != nil {
		from = ts.LastTransitionTime.Time
	}
	switch {
	case now.After(from.Add(time.Duration(deadlineSeconds) * time.Second)):
		ts.Status, ts.Message = v1alpha1.TemplateStatusFailed, sprintf(fmtDeadline, ts.Name, deadlineSeconds)
	case ending:
		ts.Status = v1alpha1.TemplateStatusSuccessful
	default:
		ts.Status = v1alpha1.TemplateStatusProgressing
	}
}

// templateOrder ranks template statuses from best to worst.
var templateOrder = map[v1alpha1.TemplateStatusCode]int{
	v1alpha1.TemplateStatusSuccessful:  0,
	v1alpha1.TemplateStatusRunning:     1,
	v1alpha1.TemplateStatusProgressing: 2,
	v1alpha1.TemplateStatusError:       3,
	v1alpha1.TemplateStatusFailed:      4,
}

// runOrder ranks run phases from best to worst as Argo's experiments do (Running is better
// than Pending there; an empty phase counts as Successful).
var runOrder = map[v1alpha1.AnalysisPhase]int{
	v1alpha1.AnalysisPhaseSuccessful:   0,
	v1alpha1.AnalysisPhaseRunning:      1,
	v1alpha1.AnalysisPhasePending:      2,
	v1alpha1.AnalysisPhaseInconclusive: 3,
	v1alpha1.AnalysisPhaseError:        4,
	v1alpha1.AnalysisPhaseFailed:       5,
}

// assessTemplates returns the phase the templates give the experiment, from the worst of them
// (a template without a status counts as Progressing), with that template's message:
// Progressing is Pending, the others keep their name.
func assessTemplates(templates []v1alpha1.TemplateSpec, statuses []v1alpha1.TemplateStatus) (v1alpha1.AnalysisPhase, string) {
	worst, msg := v1alpha1.TemplateStatusSuccessful, ""
	for _, t := range templates {
		ts := findTemplateStatus(statuses, t.Name)
		if ts == nil {
			if templateOrder[v1alpha1.TemplateStatusProgressing] > templateOrder[worst] {
				worst = v1alpha1.TemplateStatusProgressing
			}
			continue
		}
		if templateOrder[ts.Status] > templateOrder[worst] {
			worst, msg = ts.Status, ts.Message
		}
	}
	if worst == v1alpha1.TemplateStatusProgressing {
		return v1alpha1.AnalysisPhasePending, msg
	}
	return v1alpha1.AnalysisPhase(worst), msg
}

// assessAnalyses returns the phase the runs give the experiment: Successful ("Required
// AnalysisRuns completed") once every required run succeeded and no run is worse than
// Successful, else the worst run phase with its message (Pending reads Running; no analysis
// is Successful).
func assessAnalyses(analyses []v1alpha1.ExperimentAnalysisTemplateRef, runs []v1alpha1.ExperimentAnalysisRunStatus) (v1alpha1.AnalysisPhase, string) {
	worst, msg := v1alpha1.AnalysisPhaseSuccessful, ""
	for _, a := range analyses {
		rs := ptr.Deref(findRunStatus(runs, a.Name), v1alpha1.ExperimentAnalysisRunStatus{})
		if runOrder[rs.Phase] > runOrder[worst] {
			worst, msg = rs.Phase, rs.Message
		}
	}
	if requiredSuccessful(analyses, runs) && runOrder[v1alpha1.AnalysisPhaseRunning] > runOrder[worst] {
		return v1alpha1.AnalysisPhaseSuccessful, msgRequiredCompleted
	}
	if worst == v1alpha1.AnalysisPhasePending {
		worst = v1alpha1.AnalysisPhaseRunning
	}
	return worst, msg
}

// verdict is what the templates and the runs say of a pending or running experiment.
type verdict struct {
	templates, runs       v1alpha1.AnalysisPhase
	templatesMsg, runsMsg string
}

// experimentPhase combines the verdicts: templates that completed successfully hand over to
// the runs when those completed or some are required (else the experiment is Successful);
// templates that failed or errored give their phase. While the templates run, a run that
// failed, errored or was inconclusive ends the experiment with its phase and message, so do
// required runs that all succeeded; otherwise the templates' phase stands (Pending, Running).
func experimentPhase(analyses []v1alpha1.ExperimentAnalysisTemplateRef, runs []v1alpha1.ExperimentAnalysisRunStatus, v verdict) (v1alpha1.AnalysisPhase, string) {
	if v.templates.Completed() {
		if v.templates == v1alpha1.AnalysisPhaseSuccessful && (v.runs.Completed() || hasRequired(analyses)) {
			return v.runs, v.runsMsg
		}
		return v.templates, v.templatesMsg
	}
	if v.runs.Completed() && v.runs != v1alpha1.AnalysisPhaseSuccessful {
		return v.runs, v.runsMsg
	}
	if requiredSuccessful(analyses, runs) {
		return v.runs, v.runsMsg
	}
	return v.templates, v.templatesMsg
}

// wakeTime is when the experiment needs a look without anything changing (zero: never): when
// its duration ends, or when a template short of its replicas reaches its progress deadline;
// an ending experiment waits for nothing here (its scale-down deadlines are scheduled apart).
// st is the status the reconcile computed.
func wakeTime(ex *v1alpha1.Experiment, st v1alpha1.ExperimentStatus, now time.Time) time.Time {
	e := *ex
	e.Status = st
	if terminating(&e) {
		return time.Time{}
	}
	var at time.Time
	earliest := func(t time.Time) {
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	if passed, end := passedDuration(&e, now); !end.IsZero() && !passed {
		earliest(end)
	}
	deadline := time.Duration(ex.Spec.EffectiveProgressDeadlineSeconds()) * time.Second
	for i := range ex.Spec.Templates {
		t := &ex.Spec.Templates[i]
		ts := findTemplateStatus(st.TemplateStatuses, t.Name)
		if ts == nil || (ts.Status != v1alpha1.TemplateStatusProgressing && ts.Status != v1alpha1.TemplateStatusRunning) {
			continue
		}
		if ts.AvailableReplicas != desiredReplicas(&e, t) && ts.LastTransitionTime != nil {
			earliest(ts.LastTransitionTime.Add(deadline))
		}
	}
	return at
}

// findTemplateStatus returns the status of the named template (nil when there is none).
func findTemplateStatus(statuses []v1alpha1.TemplateStatus, name string) *v1alpha1.TemplateStatus {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}

// setTemplateStatus replaces the template's status, or appends it.
func setTemplateStatus(st *v1alpha1.ExperimentStatus, ts v1alpha1.TemplateStatus) {
	if cur := findTemplateStatus(st.TemplateStatuses, ts.Name); cur != nil {
		*cur = ts
		return
	}
	st.TemplateStatuses = append(st.TemplateStatuses, ts)
}

// findRunStatus returns the status of the named analysis (nil when there is none).
func findRunStatus(runs []v1alpha1.ExperimentAnalysisRunStatus, name string) *v1alpha1.ExperimentAnalysisRunStatus {
	for i := range runs {
		if runs[i].Name == name {
			return &runs[i]
		}
	}
	return nil
}

// setRunStatus replaces the analysis's status, or appends it.
func setRunStatus(st *v1alpha1.ExperimentStatus, rs v1alpha1.ExperimentAnalysisRunStatus) {
	if cur := findRunStatus(st.AnalysisRuns, rs.Name); cur != nil {
		*cur = rs
		return
	}
	st.AnalysisRuns = append(st.AnalysisRuns, rs)
}
