package v1alpha1

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// effective is every defaulted value of a Rollout, read through the accessors.
type effective struct {
	Replicas, ProgressDeadline, RevisionHistory, SuccessfulRuns, UnsuccessfulRuns int32
	MaxSurge, MaxUnavailable                                                      string
	ScaleDownDelay, AbortScaleDownDelay, MinPodsPerRS, MaxTrafficWeight, Starting int32
	AutoPromotion                                                                 bool
}

func effectiveOf(r *Rollout) effective {
	e := effective{
		Replicas:         r.Spec.EffectiveReplicas(),
		ProgressDeadline: r.Spec.EffectiveProgressDeadlineSeconds(),
		RevisionHistory:  r.Spec.EffectiveRevisionHistoryLimit(),
		SuccessfulRuns:   r.Spec.EffectiveSuccessfulRunHistoryLimit(),
		UnsuccessfulRuns: r.Spec.EffectiveUnsuccessfulRunHistoryLimit(),
	}
	if c := r.Spec.Strategy.Canary; c != nil {
		ms, mu := c.EffectiveMaxSurge(), c.EffectiveMaxUnavailable()
		e.MaxSurge, e.MaxUnavailable = ms.String(), mu.String()
		e.ScaleDownDelay = c.EffectiveScaleDownDelaySeconds()
		e.AbortScaleDownDelay = c.EffectiveAbortScaleDownDelaySeconds()
		e.MinPodsPerRS = c.EffectiveMinPodsPerReplicaSet()
		e.MaxTrafficWeight = c.EffectiveMaxTrafficWeight()
		if c.Analysis != nil {
			e.Starting = c.Analysis.EffectiveStartingStep()
		}
	}
	if b := r.Spec.Strategy.BlueGreen; b != nil {
		mu := b.EffectiveMaxUnavailable()
		e.MaxUnavailable = mu.String()
		e.ScaleDownDelay = b.EffectiveScaleDownDelaySeconds()
		e.AbortScaleDownDelay = b.EffectiveAbortScaleDownDelaySeconds()
		e.AutoPromotion = b.EffectiveAutoPromotionEnabled()
	}
	return e
}

func TestRolloutDefaults(t *testing.T) {
	tests := map[string]struct {
		r    *Rollout
		want effective
	}{
		"empty canary": {
			r: &Rollout{Spec: RolloutSpec{Strategy: RolloutStrategy{Canary: &CanaryStrategy{}}}},
			want: effective{Replicas: 1, ProgressDeadline: 600, RevisionHistory: 10, SuccessfulRuns: 5, UnsuccessfulRuns: 5,
				MaxSurge: "25%", MaxUnavailable: "25%", ScaleDownDelay: 30, AbortScaleDownDelay: 30, MinPodsPerRS: 1, MaxTrafficWeight: 100},
		},
		"canary with everything set": {
			r: &Rollout{Spec: RolloutSpec{
				Replicas: ptr(int32(0)), ProgressDeadlineSeconds: ptr(int32(60)), RevisionHistoryLimit: ptr(int32(0)),
				Analysis: &AnalysisRunStrategy{SuccessfulRunHistoryLimit: ptr(int32(1)), UnsuccessfulRunHistoryLimit: ptr(int32(2))},
				Strategy: RolloutStrategy{Canary: &CanaryStrategy{
					MaxSurge: ioi(1), MaxUnavailable: ios("10%"), ScaleDownDelaySeconds: ptr(int32(0)),
					AbortScaleDownDelaySeconds: ptr(int32(0)), MinPodsPerReplicaSet: ptr(int32(2)),
					TrafficRouting: &RolloutTrafficRouting{MaxTrafficWeight: ptr(int32(1000))},
					Analysis:       &RolloutAnalysisBackground{StartingStep: ptr(int32(2))},
				}},
			}},
			want: effective{Replicas: 0, ProgressDeadline: 60, RevisionHistory: 0, SuccessfulRuns: 1, UnsuccessfulRuns: 2,
				MaxSurge: "1", MaxUnavailable: "10%", ScaleDownDelay: 0, AbortScaleDownDelay: 0, MinPodsPerRS: 2, MaxTrafficWeight: 1000, Starting: 2},
		},
		"trafficRouting without maxTrafficWeight": {
			r: &Rollout{Spec: RolloutSpec{Strategy: RolloutStrategy{Canary: &CanaryStrategy{TrafficRouting: &RolloutTrafficRouting{}}}}},
			want: effective{Replicas: 1, ProgressDeadline: 600, RevisionHistory: 10, SuccessfulRuns: 5, UnsuccessfulRuns: 5,
				MaxSurge: "25%", MaxUnavailable: "25%", ScaleDownDelay: 30, AbortScaleDownDelay: 30, MinPodsPerRS: 1, MaxTrafficWeight: 100},
		},
		"empty blue/green": {
			r: &Rollout{Spec: RolloutSpec{Strategy: RolloutStrategy{BlueGreen: &BlueGreenStrategy{}}}},
			want: effective{Replicas: 1, ProgressDeadline: 600, RevisionHistory: 10, SuccessfulRuns: 5, UnsuccessfulRuns: 5,
				MaxUnavailable: "25%", ScaleDownDelay: 30, AbortScaleDownDelay: 30, AutoPromotion: true},
		},
		"blue/green without auto-promotion": {
			r: &Rollout{Spec: RolloutSpec{Strategy: RolloutStrategy{BlueGreen: &BlueGreenStrategy{
				AutoPromotionEnabled: ptr(false), ScaleDownDelaySeconds: ptr(int32(5)), MaxUnavailable: ioi(0),
			}}}},
			want: effective{Replicas: 1, ProgressDeadline: 600, RevisionHistory: 10, SuccessfulRuns: 5, UnsuccessfulRuns: 5,
				MaxUnavailable: "0", ScaleDownDelay: 5, AbortScaleDownDelay: 30, AutoPromotion: false},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := tc.r.DeepCopy()
			if diff := cmp.Diff(tc.want, effectiveOf(tc.r)); diff != "" {
				t.Errorf("effective values (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tc.r); diff != "" {
				t.Errorf("accessors changed the object:\n%s", diff)
			}
		})
	}
}

func TestMetricDefaults(t *testing.T) {
	type limits struct {
		Failure, Inconclusive, ConsecutiveError, ConsecutiveSuccess int32
		Count                                                       *int32
		Err                                                         bool
	}
	get := func(m *Metric) limits {
		var l limits
		var errs [5]error
		l.Failure, errs[0] = m.EffectiveFailureLimit()
		l.Inconclusive, errs[1] = m.EffectiveInconclusiveLimit()
		l.ConsecutiveError, errs[2] = m.EffectiveConsecutiveErrorLimit()
		l.ConsecutiveSuccess, errs[3] = m.EffectiveConsecutiveSuccessLimit()
		l.Count, errs[4] = m.EffectiveCount()
		for _, err := range errs {
			if err != nil {
				l.Err = true
			}
		}
		return l
	}
	tests := map[string]struct {
		m    Metric
		want limits
	}{
		"nothing set: one measurement":         {Metric{}, limits{ConsecutiveError: 4, Count: ptr(int32(1))}},
		"interval only: runs until stopped":    {Metric{Interval: dur("1m")}, limits{ConsecutiveError: 4}},
		"count 0 with interval: until stopped": {Metric{Interval: dur("1m"), Count: ioi(0)}, limits{ConsecutiveError: 4}},
		"everything as numbers": {
			Metric{Count: ioi(10), FailureLimit: ioi(-1), InconclusiveLimit: ioi(2), ConsecutiveErrorLimit: ioi(0), ConsecutiveSuccessLimit: ioi(3)},
			limits{Failure: -1, Inconclusive: 2, ConsecutiveError: 0, ConsecutiveSuccess: 3, Count: ptr(int32(10))},
		},
		"numeric strings":                        {Metric{Count: ios("3"), FailureLimit: ios("1")}, limits{Failure: 1, ConsecutiveError: 4, Count: ptr(int32(3))}},
		"placeholder is an error until resolved": {Metric{FailureLimit: ios("{{args.limit}}")}, limits{ConsecutiveError: 4, Count: ptr(int32(1)), Err: true}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, get(&tc.m)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestOtherDefaults(t *testing.T) {
	check := func(name string, got, want any) {
		t.Helper()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	retention := []MeasurementRetention{{MetricName: "a", Limit: 3}, {MetricName: "*", Limit: 7}}
	check("retention by name", EffectiveMeasurementRetention("a", retention), int32(3))
	check("retention by wildcard", EffectiveMeasurementRetention("b", retention), int32(7))
	check("retention default", EffectiveMeasurementRetention("b", nil), DefaultMeasurementRetention)
	check("dry run by name", IsDryRun("a", []DryRun{{MetricName: "a"}}), true)
	check("dry run wildcard", IsDryRun("b", []DryRun{{MetricName: "*"}}), true)
	check("no dry run", IsDryRun("b", nil), false)
	w := &WebMetric{}
	check("web method", w.EffectiveMethod(), WebMetricMethodGet)
	check("web timeout", w.EffectiveTimeoutSeconds(), int64(10))
	check("web jsonPath", w.EffectiveJSONPath(), "{$}")
	d := &DatadogMetric{}
	check("datadog interval", d.EffectiveInterval().String(), "5m")
	check("datadog apiVersion", d.EffectiveAPIVersion(), "v1")
	e := &ExperimentSpec{}
	check("experiment deadline", e.EffectiveProgressDeadlineSeconds(), int32(600))
	check("experiment scale down delay", e.EffectiveScaleDownDelaySeconds(), int32(30))
	check("experiment template replicas", (&TemplateSpec{}).EffectiveReplicas(), int32(1))
	check("experiment step replicas", (&RolloutExperimentTemplate{Replicas: ptr(int32(0))}).EffectiveReplicas(), int32(0))
	check("workloadRef scaleDown", (&ObjectRef{}).EffectiveScaleDown(), "never")
	check("placeholder", IsArgPlaceholder("{{ args.x }}"), true)
	check("not a placeholder", IsArgPlaceholder("{{inputs.x}}"), false)
	check("empty placeholder", IsArgPlaceholder("{{args.}}"), false)
	n, err := ResolveIntOrString(intstr.FromString("12"))
	check("resolve numeric string", []any{n, err == nil}, []any{int32(12), true})
}
