package metrics

import (
	"fmt"
	"time"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// threshold is a metric's threshold; unset is 0, as in Flagger.
func threshold(m flaggerv1.CanaryMetric) float64 {
	if m.Threshold == nil {
		return 0
	}
	return *m.Threshold
}

// valueHalt compares an inline query's or a MetricTemplate's value with the metric's
// thresholdRange, or else with its threshold as a maximum; "" when the value passes.
func valueHalt(cd *flaggerv1.Canary, m flaggerv1.CanaryMetric, val float64) string {
	if tr := m.ThresholdRange; tr != nil {
		if tr.Min != nil && val < *tr.Min {
			return fmt.Sprintf("Halt %s.%s advancement %s %.2f < %v", cd.Name, cd.Namespace, m.Name, val, *tr.Min)
		}
		if tr.Max != nil && val > *tr.Max {
			return fmt.Sprintf("Halt %s.%s advancement %s %.2f > %v", cd.Name, cd.Namespace, m.Name, val, *tr.Max)
		}
		return ""
	}
	if val > threshold(m) {
		return fmt.Sprintf("Halt %s.%s advancement %s %.2f > %v", cd.Name, cd.Namespace, m.Name, val, threshold(m))
	}
	return ""
}

// successRateHalt compares request-success-rate (a percentage) with the thresholdRange, or else
// with the threshold as a minimum.
func successRateHalt(cd *flaggerv1.Canary, m flaggerv1.CanaryMetric, val float64) string {
	if tr := m.ThresholdRange; tr != nil {
		if tr.Min != nil && val < *tr.Min {
			return fmt.Sprintf("Halt %s.%s advancement success rate %.2f%% < %v%%", cd.Name, cd.Namespace, val, *tr.Min)
		}
		if tr.Max != nil && val > *tr.Max {
			return fmt.Sprintf("Halt %s.%s advancement success rate %.2f%% > %v%%", cd.Name, cd.Namespace, val, *tr.Max)
		}
		return ""
	}
	if threshold(m) > val {
		return fmt.Sprintf("Halt %s.%s advancement success rate %.2f%% < %v%%", cd.Name, cd.Namespace, val, threshold(m))
	}
	return ""
}

// millis is a threshold in milliseconds as Flagger converts it: the fraction is dropped.
func millis(v float64) time.Duration {
	return time.Duration(v) * time.Millisecond
}

// durationHalt compares request-duration with the thresholdRange, or else with the threshold
// as a maximum; thresholds are milliseconds.
func durationHalt(cd *flaggerv1.Canary, m flaggerv1.CanaryMetric, val time.Duration) string {
	if tr := m.ThresholdRange; tr != nil {
		if tr.Min != nil && val < millis(*tr.Min) {
			return fmt.Sprintf("Halt %s.%s advancement request duration %v < %v", cd.Name, cd.Namespace, val, millis(*tr.Min))
		}
		if tr.Max != nil && val > millis(*tr.Max) {
			return fmt.Sprintf("Halt %s.%s advancement request duration %v > %v", cd.Name, cd.Namespace, val, millis(*tr.Max))
		}
		return ""
	}
	if val > millis(threshold(m)) {
		return fmt.Sprintf("Halt %s.%s advancement request duration %v > %v", cd.Name, cd.Namespace, val, millis(threshold(m)))
	}
	return ""
}
