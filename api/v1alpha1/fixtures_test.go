package v1alpha1

import (
	"encoding/json"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func ptr[T any](v T) *T { return &v }

func dur(s string) *DurationString { d := DurationFromString(s); return &d }

func ios(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }

func ioi(i int) *intstr.IntOrString { v := intstr.FromInt32(int32(i)); return &v }

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "app",
			Image: "example.invalid/app:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		}}},
	}
}

func meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default"}
}

// canaryRollout is a valid replica-based canary Rollout.
func canaryRollout() *Rollout {
	return &Rollout{
		TypeMeta:   metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout"},
		ObjectMeta: meta("web"),
		Spec: RolloutSpec{
			Replicas: ptr(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: podTemplate("web"),
			Strategy: RolloutStrategy{Canary: &CanaryStrategy{
				CanaryService: "web-canary",
				Steps: []CanaryStep{
					{SetWeight: ptr(int32(20))},
					{Pause: &RolloutPause{Duration: dur("30s")}},
					{SetWeight: ptr(int32(50))},
					{Pause: &RolloutPause{}},
				},
				Analysis: &RolloutAnalysisBackground{RolloutAnalysis: RolloutAnalysis{
					Templates: []AnalysisTemplateRef{{TemplateName: "success-rate"}},
					Args:      []AnalysisRunArgument{{Name: "service", Value: "web"}},
				}},
			}},
		},
	}
}

// trafficRollout is a valid canary Rollout with Istio traffic routing and
// one step of every kind.
func trafficRollout() *Rollout {
	r := canaryRollout()
	c := r.Spec.Strategy.Canary
	c.StableService = "web-stable"
	c.TrafficRouting = &RolloutTrafficRouting{
		Istio:         &IstioTrafficRouting{VirtualService: &IstioVirtualService{Name: "web", Routes: []string{"primary"}}},
		ManagedRoutes: []MangedRoutes{{Name: "header"}, {Name: "mirror"}},
		Plugins:       map[string]json.RawMessage{"example/plugin": json.RawMessage(`{"key":"value"}`)},
	}
	c.DynamicStableScale = true
	c.Steps = []CanaryStep{
		{SetCanaryScale: &SetCanaryScale{Replicas: ptr(int32(1))}},
		{SetHeaderRoute: &SetHeaderRoute{Name: "header", Match: []HeaderRoutingMatch{{HeaderName: "version", HeaderValue: &StringMatch{Exact: "2"}}}}},
		{SetMirrorRoute: &SetMirrorRoute{Name: "mirror", Percentage: ptr(int32(50)), Match: []RouteMatch{{
			Method:  &StringMatch{Exact: "GET"},
			Path:    &StringMatch{Prefix: "/"},
			Headers: map[string]StringMatch{"agent": {Regex: "fire.*"}},
		}}}},
		{SetWeight: ptr(int32(10))},
		{Pause: &RolloutPause{Duration: dur("60")}},
		{Analysis: &RolloutAnalysis{
			Templates: []AnalysisTemplateRef{{TemplateName: "smoke", ClusterScope: ptr(true)}},
			Args: []AnalysisRunArgument{
				{Name: "hash", ValueFrom: &ArgumentValueFrom{PodTemplateHashValue: ptr(Latest)}},
				{Name: "region", ValueFrom: &ArgumentValueFrom{FieldRef: &FieldRef{FieldPath: "metadata.labels['region']"}}},
			},
			DryRun:               []DryRun{{MetricName: "*"}},
			MeasurementRetention: []MeasurementRetention{{MetricName: "*", Limit: 20}},
		}},
		{Experiment: &RolloutExperimentStep{
			Duration: dur("5m"),
			Templates: []RolloutExperimentTemplate{
				{Name: "baseline", SpecRef: StableSpecRef, Service: &TemplateService{}},
				{Name: "canary", SpecRef: CanarySpecRef, Weight: ptr(int32(5))},
			},
			Analyses: []RolloutExperimentStepAnalysisTemplateRef{{Name: "compare", TemplateName: "mann-whitney"}},
		}},
		{Plugin: &PluginStep{Name: "example/step", Config: json.RawMessage(`{"a":1}`)}},
		{SetWeight: ptr(int32(100))},
	}
	return r
}

// blueGreenRollout is a valid blue/green Rollout.
func blueGreenRollout() *Rollout {
	return &Rollout{
		TypeMeta:   metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout"},
		ObjectMeta: meta("shop"),
		Spec: RolloutSpec{
			Replicas: ptr(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop"}},
			Template: podTemplate("shop"),
			Strategy: RolloutStrategy{BlueGreen: &BlueGreenStrategy{
				ActiveService:         "shop",
				PreviewService:        "shop-preview",
				AutoPromotionEnabled:  ptr(false),
				PreviewReplicaCount:   ptr(int32(1)),
				PrePromotionAnalysis:  &RolloutAnalysis{Templates: []AnalysisTemplateRef{{TemplateName: "smoke"}}},
				PostPromotionAnalysis: &RolloutAnalysis{Templates: []AnalysisTemplateRef{{TemplateName: "smoke"}}},
				AntiAffinity:          &AntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: &PreferredDuringSchedulingIgnoredDuringExecution{Weight: 50}},
			}},
		},
	}
}

// workloadRefRollout uses an existing Deployment's pod template.
func workloadRefRollout() *Rollout {
	r := blueGreenRollout()
	r.Spec.Template = corev1.PodTemplateSpec{}
	r.Spec.Selector = nil
	r.Spec.WorkloadRef = &ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "shop", ScaleDown: ScaleDownProgressively}
	return r
}

func promMetric(name string) Metric {
	return Metric{
		Name:             name,
		Interval:         dur("1m"),
		Count:            ioi(5),
		SuccessCondition: "result[0] >= 0.95",
		FailureLimit:     ioi(2),
		Provider: MetricProvider{Prometheus: &PrometheusMetric{
			Address: "http://prometheus:9090",
			Query:   `sum(rate(http_requests_total{service="{{args.service}}"}[5m]))`,
		}},
	}
}

// analysisTemplate is a valid AnalysisTemplate with placeholders.
func analysisTemplate() *AnalysisTemplate {
	return &AnalysisTemplate{
		TypeMeta:   metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "AnalysisTemplate"},
		ObjectMeta: meta("success-rate"),
		Spec: AnalysisTemplateSpec{
			Args: []Argument{
				{Name: "service"},
				{Name: "limit", Value: ptr("3")},
				{Name: "token", ValueFrom: &ValueFrom{SecretKeyRef: &SecretKeyRef{Name: "creds", Key: "token"}}},
			},
			Metrics: []Metric{
				promMetric("success-rate"),
				{
					Name:                  "web",
					Interval:              ptr(DurationFromInt(5)),
					FailureLimit:          ios("{{args.limit}}"),
					InconclusiveLimit:     ioi(0),
					ConsecutiveErrorLimit: ios("{{ args.limit }}"),
					Provider: MetricProvider{Web: &WebMetric{
						Method:   WebMetricMethodPost,
						URL:      "http://{{args.service}}/health",
						JSONBody: json.RawMessage(`{"q":1}`),
						Headers:  []WebMetricHeader{{Key: "Authorization", Value: "Bearer {{args.token}}"}},
					}},
				},
				{Name: "job", Provider: MetricProvider{Job: &JobMetric{Spec: batchJobSpec()}}},
				{Name: "plugin", Provider: MetricProvider{Plugin: map[string]json.RawMessage{"example/metric": json.RawMessage(`{}`)}}},
			},
			DryRun:               []DryRun{{MetricName: "web"}},
			MeasurementRetention: []MeasurementRetention{{MetricName: "success-rate", Limit: 5}},
		},
	}
}

func clusterAnalysisTemplate() *ClusterAnalysisTemplate {
	t := analysisTemplate()
	return &ClusterAnalysisTemplate{
		TypeMeta:   metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "ClusterAnalysisTemplate"},
		ObjectMeta: metav1.ObjectMeta{Name: "success-rate"},
		Spec:       t.Spec,
	}
}

func analysisRun() *AnalysisRun {
	return &AnalysisRun{
		TypeMeta:   metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "AnalysisRun"},
		ObjectMeta: meta("web-abc123-2"),
		Spec: AnalysisRunSpec{
			Args:        []Argument{{Name: "service", Value: ptr("web")}},
			Metrics:     []Metric{promMetric("success-rate")},
			TTLStrategy: &TTLStrategy{SecondsAfterCompletion: ptr(int32(3600))},
		},
	}
}

func experiment() *Experiment {
	tmpl := func(name string) TemplateSpec {
		return TemplateSpec{
			Name:     name,
			Replicas: ptr(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name),
		}
	}
	return &Experiment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "Experiment"},
		ObjectMeta: meta("compare"),
		Spec: ExperimentSpec{
			Duration:  dur("10m"),
			Templates: []TemplateSpec{tmpl("baseline"), tmpl("canary")},
			Analyses: []ExperimentAnalysisTemplateRef{{
				Name: "compare", TemplateName: "mann-whitney", RequiredForCompletion: true,
				Args: []Argument{{Name: "baseline-hash", Value: ptr("abc")}},
			}},
		},
	}
}

func batchJobSpec() batchv1.JobSpec {
	t := podTemplate("job")
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	return batchv1.JobSpec{Template: t, BackoffLimit: ptr(int32(0))}
}
