package v1alpha1

// Defaults.
//
// Vane never writes defaults into stored objects: the API server does not
// default these fields (the CRDs carry no `default:` values) and there is no
// mutating webhook, so what a user applied is what is stored and what
// `kubectl get -o yaml` shows. The controller reads every optional field
// through the accessor methods in this file, which return the value that is
// in effect: the field when it is set, otherwise the documented default.
// The constants are exported so that docs, tests and the controller agree on
// one number.
//
// The defaults are those documented by Argo Rollouts v1.8.

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// Rollout defaults.
const (
	// DefaultReplicas is spec.replicas when unset.
	DefaultReplicas int32 = 1
	// DefaultProgressDeadlineSeconds is spec.progressDeadlineSeconds when unset.
	DefaultProgressDeadlineSeconds int32 = 600
	// DefaultRevisionHistoryLimit is spec.revisionHistoryLimit when unset.
	DefaultRevisionHistoryLimit int32 = 10
	// DefaultSuccessfulRunHistoryLimit is spec.analysis.successfulRunHistoryLimit when unset.
	DefaultSuccessfulRunHistoryLimit int32 = 5
	// DefaultUnsuccessfulRunHistoryLimit is spec.analysis.unsuccessfulRunHistoryLimit when unset.
	DefaultUnsuccessfulRunHistoryLimit int32 = 5
	// DefaultWorkloadRefScaleDown is spec.workloadRef.scaleDown when unset.
	DefaultWorkloadRefScaleDown = ScaleDownNever

	// DefaultMaxSurge is canary maxSurge when unset.
	DefaultMaxSurge = "25%"
	// DefaultMaxUnavailable is canary (and blue/green) maxUnavailable when unset.
	DefaultMaxUnavailable = "25%"
	// DefaultScaleDownDelaySeconds is scaleDownDelaySeconds (blue/green, and
	// canary with trafficRouting) when unset.
	DefaultScaleDownDelaySeconds int32 = 30
	// DefaultAbortScaleDownDelaySeconds is abortScaleDownDelaySeconds when unset.
	DefaultAbortScaleDownDelaySeconds int32 = 30
	// DefaultMinPodsPerReplicaSet is canary minPodsPerReplicaSet when unset.
	DefaultMinPodsPerReplicaSet int32 = 1
	// DefaultMaxTrafficWeight is trafficRouting.maxTrafficWeight when unset.
	DefaultMaxTrafficWeight int32 = 100
	// DefaultStartingStep is canary analysis.startingStep when unset.
	DefaultStartingStep int32 = 0

	// DefaultAutoPromotionEnabled is blueGreen autoPromotionEnabled when unset.
	DefaultAutoPromotionEnabled = true
	// DefaultAutoPromotionSeconds is blueGreen autoPromotionSeconds when unset.
	DefaultAutoPromotionSeconds int32 = 0
)

// Analysis defaults.
const (
	// DefaultConsecutiveErrorLimit is a metric's consecutiveErrorLimit when unset.
	DefaultConsecutiveErrorLimit int32 = 4
	// DefaultFailureLimit is a metric's failureLimit when unset.
	DefaultFailureLimit int32 = 0
	// DefaultInconclusiveLimit is a metric's inconclusiveLimit when unset.
	DefaultInconclusiveLimit int32 = 0
	// DefaultConsecutiveSuccessLimit is a metric's consecutiveSuccessLimit
	// when unset (0: the feature is off).
	DefaultConsecutiveSuccessLimit int32 = 0
	// DefaultMeasurementRetention is how many measurements of a metric are
	// kept when no measurementRetention entry applies.
	DefaultMeasurementRetention int32 = 10
	// DisabledLimit is the value of failureLimit that turns the limit off
	// (inconclusiveLimit has no such value: Argo requires it to be >= 0).
	DisabledLimit int32 = -1

	// DefaultWebMetricMethod is web.method when unset.
	DefaultWebMetricMethod = WebMetricMethodGet
	// DefaultWebMetricTimeoutSeconds is web.timeoutSeconds when unset.
	DefaultWebMetricTimeoutSeconds int64 = 10
	// DefaultWebMetricJSONPath is web.jsonPath when unset.
	DefaultWebMetricJSONPath = "{$}"
	// DefaultDatadogInterval is datadog.interval when unset.
	DefaultDatadogInterval = "5m"
	// DefaultDatadogAPIVersion is datadog.apiVersion when unset.
	DefaultDatadogAPIVersion = "v1"
	// DefaultDatadogRequestTimeout is datadog.requestTimeout when unset.
	DefaultDatadogRequestTimeout = "10s"
	// DefaultNewRelicTimeoutSeconds is newRelic.timeout when unset.
	DefaultNewRelicTimeoutSeconds int64 = 5
)

// Experiment defaults.
const (
	// DefaultExperimentProgressDeadlineSeconds is an Experiment's
	// progressDeadlineSeconds when unset.
	DefaultExperimentProgressDeadlineSeconds int32 = 600
	// DefaultExperimentScaleDownDelaySeconds is an Experiment's
	// scaleDownDelaySeconds when unset.
	DefaultExperimentScaleDownDelaySeconds int32 = 30
	// DefaultExperimentTemplateReplicas is a template's replicas when unset.
	DefaultExperimentTemplateReplicas int32 = 1
)

func int32Or(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// EffectiveReplicas returns spec.replicas, or DefaultReplicas.
func (s *RolloutSpec) EffectiveReplicas() int32 { return int32Or(s.Replicas, DefaultReplicas) }

// EffectiveProgressDeadlineSeconds returns spec.progressDeadlineSeconds, or
// DefaultProgressDeadlineSeconds.
func (s *RolloutSpec) EffectiveProgressDeadlineSeconds() int32 {
	return int32Or(s.ProgressDeadlineSeconds, DefaultProgressDeadlineSeconds)
}

// EffectiveRevisionHistoryLimit returns spec.revisionHistoryLimit, or
// DefaultRevisionHistoryLimit.
func (s *RolloutSpec) EffectiveRevisionHistoryLimit() int32 {
	return int32Or(s.RevisionHistoryLimit, DefaultRevisionHistoryLimit)
}

// EffectiveSuccessfulRunHistoryLimit returns
// spec.analysis.successfulRunHistoryLimit, or DefaultSuccessfulRunHistoryLimit.
func (s *RolloutSpec) EffectiveSuccessfulRunHistoryLimit() int32 {
	if s.Analysis == nil {
		return DefaultSuccessfulRunHistoryLimit
	}
	return int32Or(s.Analysis.SuccessfulRunHistoryLimit, DefaultSuccessfulRunHistoryLimit)
}

// EffectiveUnsuccessfulRunHistoryLimit returns
// spec.analysis.unsuccessfulRunHistoryLimit, or DefaultUnsuccessfulRunHistoryLimit.
func (s *RolloutSpec) EffectiveUnsuccessfulRunHistoryLimit() int32 {
	if s.Analysis == nil {
		return DefaultUnsuccessfulRunHistoryLimit
	}
	return int32Or(s.Analysis.UnsuccessfulRunHistoryLimit, DefaultUnsuccessfulRunHistoryLimit)
}

// EffectiveScaleDown returns workloadRef.scaleDown, or DefaultWorkloadRefScaleDown.
func (o *ObjectRef) EffectiveScaleDown() string {
	if o.ScaleDown == "" {
		return DefaultWorkloadRefScaleDown
	}
	return o.ScaleDown
}

func intOrStringOr(p *intstr.IntOrString, def string) intstr.IntOrString {
	if p == nil {
		return intstr.FromString(def)
	}
	return *p
}

// EffectiveMaxSurge returns canary maxSurge, or DefaultMaxSurge.
func (c *CanaryStrategy) EffectiveMaxSurge() intstr.IntOrString {
	return intOrStringOr(c.MaxSurge, DefaultMaxSurge)
}

// EffectiveMaxUnavailable returns canary maxUnavailable, or DefaultMaxUnavailable.
func (c *CanaryStrategy) EffectiveMaxUnavailable() intstr.IntOrString {
	return intOrStringOr(c.MaxUnavailable, DefaultMaxUnavailable)
}

// EffectiveScaleDownDelaySeconds returns canary scaleDownDelaySeconds, or
// DefaultScaleDownDelaySeconds. It only matters with trafficRouting.
func (c *CanaryStrategy) EffectiveScaleDownDelaySeconds() int32 {
	return int32Or(c.ScaleDownDelaySeconds, DefaultScaleDownDelaySeconds)
}

// EffectiveAbortScaleDownDelaySeconds returns canary
// abortScaleDownDelaySeconds, or DefaultAbortScaleDownDelaySeconds.
func (c *CanaryStrategy) EffectiveAbortScaleDownDelaySeconds() int32 {
	return int32Or(c.AbortScaleDownDelaySeconds, DefaultAbortScaleDownDelaySeconds)
}

// EffectiveMinPodsPerReplicaSet returns canary minPodsPerReplicaSet, or
// DefaultMinPodsPerReplicaSet.
func (c *CanaryStrategy) EffectiveMinPodsPerReplicaSet() int32 {
	return int32Or(c.MinPodsPerReplicaSet, DefaultMinPodsPerReplicaSet)
}

// EffectiveMaxTrafficWeight returns trafficRouting.maxTrafficWeight, or
// DefaultMaxTrafficWeight (also without trafficRouting).
func (c *CanaryStrategy) EffectiveMaxTrafficWeight() int32 {
	if c.TrafficRouting == nil {
		return DefaultMaxTrafficWeight
	}
	return int32Or(c.TrafficRouting.MaxTrafficWeight, DefaultMaxTrafficWeight)
}

// EffectiveStartingStep returns the background analysis startingStep, or
// DefaultStartingStep.
func (a *RolloutAnalysisBackground) EffectiveStartingStep() int32 {
	return int32Or(a.StartingStep, DefaultStartingStep)
}

// EffectiveAutoPromotionEnabled returns autoPromotionEnabled, or
// DefaultAutoPromotionEnabled.
func (b *BlueGreenStrategy) EffectiveAutoPromotionEnabled() bool {
	if b.AutoPromotionEnabled == nil {
		return DefaultAutoPromotionEnabled
	}
	return *b.AutoPromotionEnabled
}

// EffectiveMaxUnavailable returns blue/green maxUnavailable, or DefaultMaxUnavailable.
func (b *BlueGreenStrategy) EffectiveMaxUnavailable() intstr.IntOrString {
	return intOrStringOr(b.MaxUnavailable, DefaultMaxUnavailable)
}

// EffectiveScaleDownDelaySeconds returns blue/green scaleDownDelaySeconds, or
// DefaultScaleDownDelaySeconds.
func (b *BlueGreenStrategy) EffectiveScaleDownDelaySeconds() int32 {
	return int32Or(b.ScaleDownDelaySeconds, DefaultScaleDownDelaySeconds)
}

// EffectiveAbortScaleDownDelaySeconds returns blue/green
// abortScaleDownDelaySeconds, or DefaultAbortScaleDownDelaySeconds.
func (b *BlueGreenStrategy) EffectiveAbortScaleDownDelaySeconds() int32 {
	return int32Or(b.AbortScaleDownDelaySeconds, DefaultAbortScaleDownDelaySeconds)
}

// IsArgPlaceholder reports whether s is an unresolved argument reference
// such as "{{args.limit}}". Int-or-string metric fields may hold one until
// the AnalysisRun resolves its arguments.
func IsArgPlaceholder(s string) bool {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{{") || !strings.HasSuffix(s, "}}") {
		return false
	}
	inner := strings.TrimSpace(s[2 : len(s)-2])
	return strings.HasPrefix(inner, "args.") && len(inner) > len("args.") && !strings.ContainsAny(inner, "{}")
}

// ResolveIntOrString returns the integer in v: an int, or a string holding a
// decimal integer. A placeholder such as "{{args.x}}" or any other string
// is an error.
func ResolveIntOrString(v intstr.IntOrString) (int32, error) {
	if v.Type == intstr.Int {
		return v.IntVal, nil
	}
	if IsArgPlaceholder(v.StrVal) {
		return 0, fmt.Errorf("%q is an unresolved argument", v.StrVal)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v.StrVal), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", v.StrVal)
	}
	return int32(n), nil
}

func intOrStringLimit(p *intstr.IntOrString, def int32) (int32, error) {
	if p == nil {
		return def, nil
	}
	return ResolveIntOrString(*p)
}

// EffectiveFailureLimit returns failureLimit, or DefaultFailureLimit. It is
// an error while the field holds an unresolved {{args.x}} placeholder.
func (m *Metric) EffectiveFailureLimit() (int32, error) {
	return intOrStringLimit(m.FailureLimit, DefaultFailureLimit)
}

// EffectiveInconclusiveLimit returns inconclusiveLimit, or DefaultInconclusiveLimit.
func (m *Metric) EffectiveInconclusiveLimit() (int32, error) {
	return intOrStringLimit(m.InconclusiveLimit, DefaultInconclusiveLimit)
}

// EffectiveConsecutiveErrorLimit returns consecutiveErrorLimit, or
// DefaultConsecutiveErrorLimit.
func (m *Metric) EffectiveConsecutiveErrorLimit() (int32, error) {
	return intOrStringLimit(m.ConsecutiveErrorLimit, DefaultConsecutiveErrorLimit)
}

// EffectiveConsecutiveSuccessLimit returns consecutiveSuccessLimit, or
// DefaultConsecutiveSuccessLimit.
func (m *Metric) EffectiveConsecutiveSuccessLimit() (int32, error) {
	return intOrStringLimit(m.ConsecutiveSuccessLimit, DefaultConsecutiveSuccessLimit)
}

// EffectiveCount returns how many measurements the metric takes. Without
// count and interval it is 1; with an interval and no count (or count 0) the
// metric runs until stopped and EffectiveCount returns nil.
func (m *Metric) EffectiveCount() (*int32, error) {
	if m.Count != nil {
		n, err := ResolveIntOrString(*m.Count)
		if err != nil {
			return nil, err
		}
		if n != 0 {
			return &n, nil
		}
	}
	if m.Interval == nil {
		one := int32(1)
		return &one, nil
	}
	return nil, nil
}

// EffectiveMeasurementRetention returns how many measurements of the named
// metric to keep given a list of retention settings: the entry naming the
// metric, else a "*" entry, else DefaultMeasurementRetention.
func EffectiveMeasurementRetention(metricName string, retention []MeasurementRetention) int32 {
	wildcard := int32(-1)
	for _, r := range retention {
		if r.MetricName == metricName {
			return r.Limit
		}
		if r.MetricName == "*" && wildcard < 0 {
			wildcard = r.Limit
		}
	}
	if wildcard >= 0 {
		return wildcard
	}
	return DefaultMeasurementRetention
}

// IsDryRun reports whether the named metric runs in dry-run mode given a
// list of dry-run settings (a "*" entry covers every metric).
func IsDryRun(metricName string, dryRun []DryRun) bool {
	for _, d := range dryRun {
		if d.MetricName == metricName || d.MetricName == "*" {
			return true
		}
	}
	return false
}

// EffectiveMethod returns web.method, or DefaultWebMetricMethod.
func (w *WebMetric) EffectiveMethod() WebMetricMethod {
	if w.Method == "" {
		return DefaultWebMetricMethod
	}
	return w.Method
}

// EffectiveTimeoutSeconds returns web.timeoutSeconds, or DefaultWebMetricTimeoutSeconds.
func (w *WebMetric) EffectiveTimeoutSeconds() int64 {
	if w.TimeoutSeconds <= 0 {
		return DefaultWebMetricTimeoutSeconds
	}
	return w.TimeoutSeconds
}

// EffectiveJSONPath returns web.jsonPath, or DefaultWebMetricJSONPath.
func (w *WebMetric) EffectiveJSONPath() string {
	if w.JSONPath == "" {
		return DefaultWebMetricJSONPath
	}
	return w.JSONPath
}

// EffectiveInterval returns datadog.interval, or DefaultDatadogInterval.
func (d *DatadogMetric) EffectiveInterval() DurationString {
	if d.Interval == nil {
		return DurationFromString(DefaultDatadogInterval)
	}
	return *d.Interval
}

// EffectiveAPIVersion returns datadog.apiVersion, or DefaultDatadogAPIVersion.
func (d *DatadogMetric) EffectiveAPIVersion() string {
	if d.ApiVersion == "" {
		return DefaultDatadogAPIVersion
	}
	return d.ApiVersion
}

// EffectiveRequestTimeout returns datadog.requestTimeout, or
// DefaultDatadogRequestTimeout.
func (d *DatadogMetric) EffectiveRequestTimeout() DurationString {
	if d.RequestTimeout == nil {
		return DurationFromString(DefaultDatadogRequestTimeout)
	}
	return *d.RequestTimeout
}

// EffectiveTimeoutSeconds returns newRelic.timeout, or
// DefaultNewRelicTimeoutSeconds.
func (n *NewRelicMetric) EffectiveTimeoutSeconds() int64 {
	if n.Timeout == nil {
		return DefaultNewRelicTimeoutSeconds
	}
	return *n.Timeout
}

// EffectiveProgressDeadlineSeconds returns the Experiment's
// progressDeadlineSeconds, or DefaultExperimentProgressDeadlineSeconds.
func (e *ExperimentSpec) EffectiveProgressDeadlineSeconds() int32 {
	return int32Or(e.ProgressDeadlineSeconds, DefaultExperimentProgressDeadlineSeconds)
}

// EffectiveScaleDownDelaySeconds returns the Experiment's
// scaleDownDelaySeconds, or DefaultExperimentScaleDownDelaySeconds.
func (e *ExperimentSpec) EffectiveScaleDownDelaySeconds() int32 {
	return int32Or(e.ScaleDownDelaySeconds, DefaultExperimentScaleDownDelaySeconds)
}

// EffectiveReplicas returns the template's replicas, or
// DefaultExperimentTemplateReplicas.
func (t *TemplateSpec) EffectiveReplicas() int32 {
	return int32Or(t.Replicas, DefaultExperimentTemplateReplicas)
}

// EffectiveReplicas returns the experiment step template's replicas, or
// DefaultExperimentTemplateReplicas.
func (t *RolloutExperimentTemplate) EffectiveReplicas() int32 {
	return int32Or(t.Replicas, DefaultExperimentTemplateReplicas)
}
