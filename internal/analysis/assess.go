// Package analysis is Vane's analysis engine without I/O: it judges metrics and runs from the
// measurements in an AnalysisRun's status (assess.go), says when each metric is next measured
// (schedule.go), substitutes {{args.NAME}} placeholders (args.go) and builds AnalysisRuns from
// AnalysisTemplates and ClusterAnalysisTemplates (templates.go). Conditions are evaluated by the
// condition sub-package, measurements are taken by the providers under provider/, and the
// AnalysisRun controller (internal/controller/analysisrun) ties them together.
//
// The semantics are Argo Rollouts': see docs/analysis.md.
package analysis

import (
	"fmt"
	"strings"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Limits are a metric's effective count and limits, with arguments resolved.
type Limits struct {
	// Count is the number of measurements to take; nil: until the run is terminated.
	Count *int32
	// FailureLimit is the number of failed measurements tolerated (-1: no limit).
	FailureLimit int32
	// InconclusiveLimit is the number of inconclusive measurements tolerated (>= 0).
	InconclusiveLimit int32
	// ConsecutiveErrorLimit is the number of errors in a row tolerated.
	ConsecutiveErrorLimit int32
	// ConsecutiveSuccessLimit, above 0, is the number of successes in a row that make the
	// metric Successful.
	ConsecutiveSuccessLimit int32
}

// MetricLimits returns the effective limits of m, whose arguments must be substituted already.
func MetricLimits(m *v1alpha1.Metric) (Limits, error) {
	var l Limits
	var err error
	if l.Count, err = m.EffectiveCount(); err != nil {
		return l, fmt.Errorf("count: %w", err)
	}
	if l.FailureLimit, err = m.EffectiveFailureLimit(); err != nil {
		return l, fmt.Errorf("failureLimit: %w", err)
	}
	if l.InconclusiveLimit, err = m.EffectiveInconclusiveLimit(); err != nil {
		return l, fmt.Errorf("inconclusiveLimit: %w", err)
	}
	if l.InconclusiveLimit < 0 { // from an argument: validation checks the numbers it sees
		return l, fmt.Errorf("inconclusiveLimit must be >= 0 (it is %d)", l.InconclusiveLimit)
	}
	if l.ConsecutiveErrorLimit, err = m.EffectiveConsecutiveErrorLimit(); err != nil {
		return l, fmt.Errorf("consecutiveErrorLimit: %w", err)
	}
	if l.ConsecutiveSuccessLimit, err = m.EffectiveConsecutiveSuccessLimit(); err != nil {
		return l, fmt.Errorf("consecutiveSuccessLimit: %w", err)
	}
	return l, nil
}

func (l Limits) failureApplies() bool { return l.FailureLimit >= 0 }
func (l Limits) successApplies() bool { return l.ConsecutiveSuccessLimit > 0 }

// AssessMetric returns the phase of a metric given its result so far, and a message that
// explains a phase other than Successful or Running: which metric, the value that was measured,
// the condition it missed and the limit it crossed. terminating says the run is being stopped
// (spec.terminate, or another metric already failed): a metric that has not failed by then is
// Successful.
//
// The checks, in order: failures above failureLimit: Failed; consecutiveSuccessLimit successes
// in a row: Successful; inconclusive measurements above inconclusiveLimit: Inconclusive; errors
// in a row above consecutiveErrorLimit: Error; count measurements taken: Successful (Failed when
// only consecutiveSuccessLimit applies and it was not reached, Inconclusive when both limits
// apply and neither decided).
func AssessMetric(name string, l Limits, r *v1alpha1.MetricResult, terminating bool) (v1alpha1.AnalysisPhase, string) {
	if len(r.Measurements) == 0 && r.Count == 0 && r.Error == 0 {
		if terminating {
			return v1alpha1.AnalysisPhaseSuccessful, ""
		}
		return v1alpha1.AnalysisPhasePending, ""
	}
	if n := len(r.Measurements); n > 0 && !r.Measurements[n-1].Phase.Completed() {
		return v1alpha1.AnalysisPhaseRunning, ""
	}
	if l.failureApplies() && r.Failed > l.FailureLimit {
		return v1alpha1.AnalysisPhaseFailed, fmt.Sprintf("metric %q failed: %s (%s, limit %d)",
			name, lastReason(r, v1alpha1.AnalysisPhaseFailed), plural(r.Failed, "failure", "failures"), l.FailureLimit)
	}
	if l.successApplies() && r.ConsecutiveSuccess >= l.ConsecutiveSuccessLimit {
		return v1alpha1.AnalysisPhaseSuccessful, ""
	}
	if r.Inconclusive > l.InconclusiveLimit {
		return v1alpha1.AnalysisPhaseInconclusive, fmt.Sprintf("metric %q is inconclusive: %s (%s, limit %d)",
			name, lastReason(r, v1alpha1.AnalysisPhaseInconclusive),
			plural(r.Inconclusive, "inconclusive measurement", "inconclusive measurements"), l.InconclusiveLimit)
	}
	if r.ConsecutiveError > l.ConsecutiveErrorLimit {
		return v1alpha1.AnalysisPhaseError, fmt.Sprintf("metric %q errored: %s (%s in a row, limit %d)",
			name, lastReason(r, v1alpha1.AnalysisPhaseError), plural(r.ConsecutiveError, "error", "errors"), l.ConsecutiveErrorLimit)
	}
	if l.Count != nil && r.Count >= *l.Count {
		switch {
		case l.successApplies() && l.failureApplies():
			return v1alpha1.AnalysisPhaseInconclusive, fmt.Sprintf(
				"metric %q is inconclusive: %d measurements taken, without %d successes in a row nor more than %s (%d successful in a row at the end)",
				name, r.Count, l.ConsecutiveSuccessLimit, plural(l.FailureLimit, "failure", "failures"), r.ConsecutiveSuccess)
		case l.successApplies():
			return v1alpha1.AnalysisPhaseFailed, fmt.Sprintf(
				"metric %q failed: %d measurements taken without %d successes in a row (%d at the end, last: %s)",
				name, r.Count, l.ConsecutiveSuccessLimit, r.ConsecutiveSuccess, lastReason(r, ""))
		}
		return v1alpha1.AnalysisPhaseSuccessful, ""
	}
	if terminating {
		return v1alpha1.AnalysisPhaseSuccessful, ""
	}
	return v1alpha1.AnalysisPhaseRunning, ""
}

// lastReason returns the message of the most recent measurement with the given phase (any
// completed phase when phase is empty), or a short stand-in when none is kept.
func lastReason(r *v1alpha1.MetricResult, phase v1alpha1.AnalysisPhase) string {
	for i := len(r.Measurements) - 1; i >= 0; i-- {
		m := r.Measurements[i]
		if (phase == "" && m.Phase.Completed()) || m.Phase == phase {
			if m.Message != "" {
				return m.Message
			}
			if m.Value != "" {
				return fmt.Sprintf("result %s", m.Value)
			}
		}
	}
	return "no measurement details kept"
}

func plural(n int32, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// MetricState is what AssessRun needs to know of one metric.
type MetricState struct {
	Name    string
	DryRun  bool
	Phase   v1alpha1.AnalysisPhase
	Message string
}

// phaseOrder ranks phases from best to worst; a run takes its worst metric's phase.
var phaseOrder = map[v1alpha1.AnalysisPhase]int{
	v1alpha1.AnalysisPhasePending:      0,
	v1alpha1.AnalysisPhaseRunning:      1,
	v1alpha1.AnalysisPhaseSuccessful:   2,
	v1alpha1.AnalysisPhaseInconclusive: 3,
	v1alpha1.AnalysisPhaseError:        4,
	v1alpha1.AnalysisPhaseFailed:       5,
}

// Worse reports whether phase a is worse than phase b (Failed > Error > Inconclusive >
// Successful > Running > Pending).
func Worse(a, b v1alpha1.AnalysisPhase) bool { return phaseOrder[a] > phaseOrder[b] }

// RunAssessment is the verdict on a whole run.
type RunAssessment struct {
	Phase   v1alpha1.AnalysisPhase
	Message string
	// Summary counts the metrics that count; DryRun the dry-run ones (nil without any).
	Summary v1alpha1.RunSummary
	DryRun  *v1alpha1.RunSummary
}

// AssessRun judges a run from its metrics' phases: Running until every metric completed, then
// the worst phase of the metrics that are not dry-run (Successful when all are dry-run). The
// message joins the messages of the metrics in that worst phase; failed dry-run metrics are
// mentioned after it, since they do not count.
func AssessRun(metrics []MetricState) RunAssessment {
	var a RunAssessment
	worst := v1alpha1.AnalysisPhaseSuccessful
	allDone := true
	var dryNotes []string
	for _, m := range metrics {
		sum := &a.Summary
		if m.DryRun {
			if a.DryRun == nil {
				a.DryRun = &v1alpha1.RunSummary{}
			}
			sum = a.DryRun
		}
		sum.Count++
		switch m.Phase {
		case v1alpha1.AnalysisPhaseSuccessful:
			sum.Successful++
		case v1alpha1.AnalysisPhaseFailed:
			sum.Failed++
		case v1alpha1.AnalysisPhaseInconclusive:
			sum.Inconclusive++
		case v1alpha1.AnalysisPhaseError:
			sum.Error++
		}
		if !m.Phase.Completed() {
			allDone = false
			continue
		}
		if m.DryRun {
			if m.Phase != v1alpha1.AnalysisPhaseSuccessful && m.Message != "" {
				dryNotes = append(dryNotes, "dry-run "+m.Message)
			}
			continue
		}
		if Worse(m.Phase, worst) {
			worst = m.Phase
		}
	}
	if !allDone {
		a.Phase = v1alpha1.AnalysisPhaseRunning
		return a
	}
	a.Phase = worst
	var msgs []string
	if worst != v1alpha1.AnalysisPhaseSuccessful {
		for _, m := range metrics {
			if !m.DryRun && m.Phase == worst && m.Message != "" {
				msgs = append(msgs, m.Message)
			}
		}
	}
	if len(dryNotes) > 0 {
		msgs = append(msgs, strings.Join(dryNotes, "; ")+" (dry run: does not count)")
	}
	a.Message = strings.Join(msgs, "; ")
	return a
}

// Terminating reports whether a run is being stopped: spec.terminate is set, or a metric that
// is not dry-run already Failed, Errored or was Inconclusive. The remaining metrics are then
// stopped and assessed with terminating true.
func Terminating(run *v1alpha1.AnalysisRun) bool {
	if run.Spec.Terminate {
		return true
	}
	for _, r := range run.Status.MetricResults {
		switch r.Phase {
		case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseInconclusive:
			if !r.DryRun {
				return true
			}
		}
	}
	return false
}
