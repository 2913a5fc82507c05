package analysis

import (
	"fmt"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
)

// ErrorRetryInterval is the longest wait before measuring again after a measurement error (a
// metric with a shorter interval retries at its interval).
const ErrorRetryInterval = 10 * time.Second

// NextMeasurement says when metric m, whose result so far is r, is to be measured next, in a
// run that started at started. ok is false when no new measurement is due any more: the metric
// completed, a measurement is still in progress, or the metric is measured once and was. The
// time comes only from the status (measurement times and the run's start), so a restarted
// controller picks up where the last one stopped.
func NextMeasurement(m *v1alpha1.Metric, l Limits, r *v1alpha1.MetricResult, started time.Time) (at time.Time, ok bool, err error) {
	if r.Phase.Completed() {
		return time.Time{}, false, nil
	}
	var interval *time.Duration
	if m.Interval != nil {
		d, err := m.Interval.Duration()
		if err != nil {
			return time.Time{}, false, fmt.Errorf("interval: %w", err)
		}
		interval = &d
	}
	n := len(r.Measurements)
	if n == 0 && r.Count == 0 && r.Error == 0 {
		delay := time.Duration(0)
		if m.InitialDelay != nil {
			if delay, err = m.InitialDelay.Duration(); err != nil {
				return time.Time{}, false, fmt.Errorf("initialDelay: %w", err)
			}
		}
		return started.Add(delay), true, nil
	}
	if n == 0 {
		// measurements taken but none kept (measurementRetention 0): measure at the interval from
		// the run's start, as well as it can be told
		if interval == nil {
			return time.Time{}, false, nil
		}
		return started, true, nil
	}
	last := r.Measurements[n-1]
	if !last.Phase.Completed() {
		return time.Time{}, false, nil
	}
	finished := started
	if last.FinishedAt != nil {
		finished = last.FinishedAt.Time
	}
	if last.Phase == v1alpha1.AnalysisPhaseError {
		wait := ErrorRetryInterval
		if interval != nil && *interval < wait {
			wait = *interval
		}
		return finished.Add(wait), true, nil
	}
	if l.Count != nil && r.Count >= *l.Count {
		return time.Time{}, false, nil
	}
	if interval == nil {
		return time.Time{}, false, nil
	}
	return finished.Add(*interval), true, nil
}

// Record adds a completed or in-progress measurement to a metric's result, or replaces the
// in-progress one it completes, and updates the counters. Only completed measurements count.
func Record(r *v1alpha1.MetricResult, m v1alpha1.Measurement) {
	if n := len(r.Measurements); n > 0 && !r.Measurements[n-1].Phase.Completed() {
		r.Measurements[n-1] = m
	} else {
		r.Measurements = append(r.Measurements, m)
	}
	switch m.Phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		r.Count++
		r.Successful++
		r.ConsecutiveError = 0
		r.ConsecutiveSuccess++
	case v1alpha1.AnalysisPhaseFailed:
		r.Count++
		r.Failed++
		r.ConsecutiveError = 0
		r.ConsecutiveSuccess = 0
	case v1alpha1.AnalysisPhaseInconclusive:
		r.Count++
		r.Inconclusive++
		r.ConsecutiveError = 0
		r.ConsecutiveSuccess = 0
	case v1alpha1.AnalysisPhaseError:
		r.Error++
		r.ConsecutiveError++
	}
}

// Trim keeps the last limit measurements of r (at least one, so that the latest outcome can
// always be explained; an in-progress measurement is never dropped).
func Trim(r *v1alpha1.MetricResult, limit int32) {
	keep := int(max(limit, 1))
	if len(r.Measurements) > keep {
		r.Measurements = append([]v1alpha1.Measurement(nil), r.Measurements[len(r.Measurements)-keep:]...)
	}
}
