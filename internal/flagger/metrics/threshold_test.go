package metrics

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

func rangeOf(min, max *float64) *flaggerv1.ThresholdRange {
	return &flaggerv1.ThresholdRange{Min: min, Max: max}
}

func TestValueHalt(t *testing.T) {
	tests := map[string]struct {
		metric flaggerv1.CanaryMetric
		val    float64
		want   string
	}{
		"threshold is a maximum":            {flaggerv1.CanaryMetric{Name: "errors", Threshold: ptr(5.0)}, 5.001, "Halt podinfo.test advancement errors 5.00 > 5"},
		"at the threshold passes":           {flaggerv1.CanaryMetric{Name: "errors", Threshold: ptr(5.0)}, 5, ""},
		"no threshold is 0":                 {flaggerv1.CanaryMetric{Name: "errors"}, 0.004, "Halt podinfo.test advancement errors 0.00 > 0"},
		"zero passes without threshold":     {flaggerv1.CanaryMetric{Name: "errors"}, 0, ""},
		"negative passes without threshold": {flaggerv1.CanaryMetric{Name: "errors"}, -3, ""},
		"under min":                         {flaggerv1.CanaryMetric{Name: "rps", ThresholdRange: rangeOf(ptr(10.5), nil)}, 10.25, "Halt podinfo.test advancement rps 10.25 < 10.5"},
		"over max":                          {flaggerv1.CanaryMetric{Name: "rps", ThresholdRange: rangeOf(ptr(1.0), ptr(100.0))}, 100.5, "Halt podinfo.test advancement rps 100.50 > 100"},
		"within range":                      {flaggerv1.CanaryMetric{Name: "rps", ThresholdRange: rangeOf(ptr(1.0), ptr(100.0))}, 100, ""},
		"range wins over threshold":         {flaggerv1.CanaryMetric{Name: "rps", Threshold: ptr(1.0), ThresholdRange: rangeOf(nil, ptr(100.0))}, 50, ""},
		"empty range passes anything":       {flaggerv1.CanaryMetric{Name: "rps", ThresholdRange: rangeOf(nil, nil)}, 1e9, ""},
		"min is checked before max":         {flaggerv1.CanaryMetric{Name: "rps", ThresholdRange: rangeOf(ptr(10.0), ptr(5.0))}, 7, "Halt podinfo.test advancement rps 7.00 < 10"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, valueHalt(testCanary(), tc.metric, tc.val)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSuccessRateHalt(t *testing.T) {
	tests := map[string]struct {
		metric flaggerv1.CanaryMetric
		val    float64
		want   string
	}{
		"threshold is a minimum":  {flaggerv1.CanaryMetric{Threshold: ptr(99.0)}, 98.765, "Halt podinfo.test advancement success rate 98.77% < 99%"},
		"at the threshold passes": {flaggerv1.CanaryMetric{Threshold: ptr(99.0)}, 99, ""},
		"no threshold passes":     {flaggerv1.CanaryMetric{}, 0, ""},
		"under min":               {flaggerv1.CanaryMetric{ThresholdRange: rangeOf(ptr(99.5), nil)}, 99.4, "Halt podinfo.test advancement success rate 99.40% < 99.5%"},
		"over max":                {flaggerv1.CanaryMetric{ThresholdRange: rangeOf(nil, ptr(50.0))}, 100, "Halt podinfo.test advancement success rate 100.00% > 50%"},
		"within range":            {flaggerv1.CanaryMetric{Threshold: ptr(100.0), ThresholdRange: rangeOf(ptr(90.0), nil)}, 95, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, successRateHalt(testCanary(), tc.metric, tc.val)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDurationHalt(t *testing.T) {
	tests := map[string]struct {
		metric flaggerv1.CanaryMetric
		val    time.Duration
		want   string
	}{
		"threshold is a maximum in ms":     {flaggerv1.CanaryMetric{Threshold: ptr(500.0)}, 501 * time.Millisecond, "Halt podinfo.test advancement request duration 501ms > 500ms"},
		"at the threshold passes":          {flaggerv1.CanaryMetric{Threshold: ptr(500.0)}, 500 * time.Millisecond, ""},
		"fractions of a ms are dropped":    {flaggerv1.CanaryMetric{Threshold: ptr(1.9)}, 1500 * time.Microsecond, "Halt podinfo.test advancement request duration 1.5ms > 1ms"},
		"no threshold fails any duration":  {flaggerv1.CanaryMetric{}, time.Millisecond, "Halt podinfo.test advancement request duration 1ms > 0s"},
		"no threshold passes zero":         {flaggerv1.CanaryMetric{}, 0, ""},
		"under min":                        {flaggerv1.CanaryMetric{ThresholdRange: rangeOf(ptr(10.0), nil)}, 9 * time.Millisecond, "Halt podinfo.test advancement request duration 9ms < 10ms"},
		"over max, in seconds":             {flaggerv1.CanaryMetric{ThresholdRange: rangeOf(nil, ptr(1000.0))}, 1500 * time.Millisecond, "Halt podinfo.test advancement request duration 1.5s > 1s"},
		"within range, threshold not used": {flaggerv1.CanaryMetric{Threshold: ptr(1.0), ThresholdRange: rangeOf(ptr(10.0), ptr(1000.0))}, 999 * time.Millisecond, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, durationHalt(testCanary(), tc.metric, tc.val)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
