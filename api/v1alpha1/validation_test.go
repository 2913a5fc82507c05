package v1alpha1

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validateObject(obj runtime.Object) field.ErrorList {
	switch o := obj.(type) {
	case *Rollout:
		return ValidateRollout(o)
	case *AnalysisTemplate:
		return ValidateAnalysisTemplate(o)
	case *ClusterAnalysisTemplate:
		return ValidateClusterAnalysisTemplate(o)
	case *AnalysisRun:
		return ValidateAnalysisRun(o)
	case *Experiment:
		return ValidateExperiment(o)
	}
	panic("unknown kind")
}

func TestValidObjects(t *testing.T) {
	tests := map[string]runtime.Object{
		"replica canary":        canaryRollout(),
		"traffic-routed canary": trafficRollout(),
		"blue/green":            blueGreenRollout(),
		"workloadRef":           workloadRefRollout(),
		"workloadRef, empty template object and selector": func() runtime.Object {
			r := workloadRefRollout()
			r.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop"}}
			return r
		}(),
		"canary with no steps": func() runtime.Object {
			r := canaryRollout()
			r.Spec.Strategy.Canary.Steps = nil
			return r
		}(),
		"istio destinationRule without services": func() runtime.Object {
			r := canaryRollout()
			r.Spec.Strategy.Canary.CanaryService = ""
			r.Spec.Strategy.Canary.TrafficRouting = &RolloutTrafficRouting{Istio: &IstioTrafficRouting{
				VirtualService:  &IstioVirtualService{Name: "web"},
				DestinationRule: &IstioDestinationRule{Name: "web", CanarySubsetName: "canary", StableSubsetName: "stable"},
			}}
			return r
		}(),
		"setWeight up to maxTrafficWeight": func() runtime.Object {
			r := trafficRollout()
			r.Spec.Strategy.Canary.TrafficRouting.MaxTrafficWeight = ptr(int32(1000))
			r.Spec.Strategy.Canary.Steps = []CanaryStep{{SetWeight: ptr(int32(750))}}
			return r
		}(),
		"analysis template":         analysisTemplate(),
		"cluster analysis template": clusterAnalysisTemplate(),
		"template made of templates": &AnalysisTemplate{Spec: AnalysisTemplateSpec{
			Templates: []AnalysisTemplateRef{{TemplateName: "a"}, {TemplateName: "b", ClusterScope: ptr(true)}},
			DryRun:    []DryRun{{MetricName: "from-a"}},
		}},
		"analysis run": analysisRun(),
		"experiment":   experiment(),
	}
	for name, obj := range tests {
		t.Run(name, func(t *testing.T) {
			if errs := validateObject(obj); len(errs) > 0 {
				t.Errorf("valid object rejected: %v", errs)
			}
		})
	}
}

type invalidCase struct {
	obj   runtime.Object
	field string // exact field path of the expected error
	msg   string // substring of the expected error
}

func rollout(base func() *Rollout, mutate func(*Rollout)) runtime.Object {
	r := base()
	mutate(r)
	return r
}

func canary(mutate func(*CanaryStrategy)) runtime.Object {
	return rollout(canaryRollout, func(r *Rollout) { mutate(r.Spec.Strategy.Canary) })
}

func traffic(mutate func(*CanaryStrategy)) runtime.Object {
	return rollout(trafficRollout, func(r *Rollout) { mutate(r.Spec.Strategy.Canary) })
}

func blueGreen(mutate func(*BlueGreenStrategy)) runtime.Object {
	return rollout(blueGreenRollout, func(r *Rollout) { mutate(r.Spec.Strategy.BlueGreen) })
}

func template(mutate func(*AnalysisTemplateSpec)) runtime.Object {
	t := analysisTemplate()
	mutate(&t.Spec)
	return t
}

func run(mutate func(*AnalysisRunSpec)) runtime.Object {
	r := analysisRun()
	mutate(&r.Spec)
	return r
}

func exp(mutate func(*ExperimentSpec)) runtime.Object {
	e := experiment()
	mutate(&e.Spec)
	return e
}

func invalidCases() map[string]invalidCase {
	return map[string]invalidCase{
		// Rollout: spec.
		"bad selector operator": {rollout(canaryRollout, func(r *Rollout) {
			r.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}
		}), "spec.selector.matchExpressions[0].operator", "not a valid selector operator"},
		"neither template nor workloadRef": {rollout(canaryRollout, func(r *Rollout) { r.Spec.Template = corev1.PodTemplateSpec{} }),
			"spec.template", "a pod template is required"},
		"workloadRef kind": {rollout(workloadRefRollout, func(r *Rollout) { r.Spec.WorkloadRef.Kind = "StatefulSet" }),
			"spec.workloadRef.kind", `Unsupported value: "StatefulSet"`},
		"workloadRef scaleDown": {rollout(workloadRefRollout, func(r *Rollout) { r.Spec.WorkloadRef.ScaleDown = "always" }),
			"spec.workloadRef.scaleDown", `"never", "onsuccess", "progressively"`},
		"workloadRef without name": {rollout(workloadRefRollout, func(r *Rollout) { r.Spec.WorkloadRef.Name = "" }),
			"spec.workloadRef.name", "name the workload"},
		"negative run history limit": {rollout(canaryRollout, func(r *Rollout) {
			r.Spec.Analysis = &AnalysisRunStrategy{SuccessfulRunHistoryLimit: ptr(int32(-3))}
		}), "spec.analysis.successfulRunHistoryLimit", "greater than or equal to 0"},

		// Rollout: canary.
		"trafficRouting without provider": {traffic(func(c *CanaryStrategy) { c.TrafficRouting = &RolloutTrafficRouting{} }),
			"spec.strategy.canary.trafficRouting", "name a traffic provider"},
		"maxSurge that is not a number": {canary(func(c *CanaryStrategy) { c.MaxSurge = ios("a lot") }),
			"spec.strategy.canary.maxSurge", "a whole number or a percentage"},
		"maxUnavailable above 100%": {canary(func(c *CanaryStrategy) { c.MaxUnavailable = ios("150%") }),
			"spec.strategy.canary.maxUnavailable", "not be more than 100%"},
		"setCanaryScale with two settings": {traffic(func(c *CanaryStrategy) { c.Steps[0].SetCanaryScale.MatchTrafficWeight = true }),
			"spec.strategy.canary.steps[0].setCanaryScale", "exactly one of weight, replicas or matchTrafficWeight"},
		"duplicate managed routes": {traffic(func(c *CanaryStrategy) { c.TrafficRouting.ManagedRoutes[1].Name = "header" }),
			"spec.strategy.canary.trafficRouting.managedRoutes[1].name", "Duplicate value"},
		"nginx with two kinds of ingress": {traffic(func(c *CanaryStrategy) {
			c.TrafficRouting.Nginx = &NginxTrafficRouting{StableIngress: "a", StableIngresses: []string{"b"}}
		}), "spec.strategy.canary.trafficRouting.nginx.stableIngress", "exactly one of stableIngress or stableIngresses"},
		"alb without servicePort": {traffic(func(c *CanaryStrategy) { c.TrafficRouting.ALB = &ALBTrafficRouting{Ingress: "web"} }),
			"spec.strategy.canary.trafficRouting.alb.servicePort", "between 1 and 65535"},
		"analysis without templateName": {canary(func(c *CanaryStrategy) { c.Analysis.Templates[0].TemplateName = "" }),
			"spec.strategy.canary.analysis.templates[0].templateName", "name an AnalysisTemplate"},
		"analysis without templates": {canary(func(c *CanaryStrategy) { c.Analysis.Templates = nil }),
			"spec.strategy.canary.analysis.templates", "at least one analysis template"},
		"duplicate analysis args": {canary(func(c *CanaryStrategy) { c.Analysis.Args = append(c.Analysis.Args, c.Analysis.Args[0]) }),
			"spec.strategy.canary.analysis.args[1].name", `Duplicate value: "service"`},
		"analysis arg with value and valueFrom": {canary(func(c *CanaryStrategy) {
			c.Analysis.Args[0].ValueFrom = &ArgumentValueFrom{PodTemplateHashValue: ptr(Stable)}
		}), "spec.strategy.canary.analysis.args[0].valueFrom", "set value or valueFrom, not both"},
		"podTemplateHashValue not Stable or Latest": {traffic(func(c *CanaryStrategy) {
			c.Steps[5].Analysis.Args[0].ValueFrom.PodTemplateHashValue = ptr(ValueFromPodTemplateHash("Newest"))
		}), "spec.strategy.canary.steps[5].analysis.args[0].valueFrom.podTemplateHashValue", `Unsupported value: "Newest"`},
		"negative startingStep": {canary(func(c *CanaryStrategy) { c.Analysis.StartingStep = ptr(int32(-1)) }),
			"spec.strategy.canary.analysis.startingStep", "greater than or equal to 0"},
		"experiment step duplicate template names": {traffic(func(c *CanaryStrategy) { c.Steps[6].Experiment.Templates[1].Name = "baseline" }),
			"spec.strategy.canary.steps[6].experiment.templates[1].name", `Duplicate value: "baseline"`},
		"experiment step bad specRef": {traffic(func(c *CanaryStrategy) { c.Steps[6].Experiment.Templates[0].SpecRef = "newest" }),
			"spec.strategy.canary.steps[6].experiment.templates[0].specRef", `supported values: "canary", "stable"`},
		"plugin step without name": {traffic(func(c *CanaryStrategy) { c.Steps[7].Plugin.Name = "" }),
			"spec.strategy.canary.steps[7].plugin.name", "name the step plugin"},

		// Rollout: blue/green.
		"blue/green without activeService": {blueGreen(func(b *BlueGreenStrategy) { b.ActiveService = "" }),
			"spec.strategy.blueGreen.activeService", "Required value"},
		"negative previewReplicaCount": {blueGreen(func(b *BlueGreenStrategy) { b.PreviewReplicaCount = ptr(int32(-1)) }),
			"spec.strategy.blueGreen.previewReplicaCount", "greater than or equal to 0"},
		"negative autoPromotionSeconds": {blueGreen(func(b *BlueGreenStrategy) { b.AutoPromotionSeconds = -30 }),
			"spec.strategy.blueGreen.autoPromotionSeconds", "greater than or equal to 0"},
		"negative abortScaleDownDelaySeconds": {blueGreen(func(b *BlueGreenStrategy) { b.AbortScaleDownDelaySeconds = ptr(int32(-1)) }),
			"spec.strategy.blueGreen.abortScaleDownDelaySeconds", "greater than or equal to 0"},
		"pre-promotion analysis without template name": {blueGreen(func(b *BlueGreenStrategy) { b.PrePromotionAnalysis.Templates[0].TemplateName = "" }),
			"spec.strategy.blueGreen.prePromotionAnalysis.templates[0].templateName", "name an AnalysisTemplate"},

		// AnalysisTemplate.
		"template without metrics": {template(func(s *AnalysisTemplateSpec) { s.Metrics = nil; s.DryRun = nil; s.MeasurementRetention = nil }),
			"spec.metrics", "at least one metric"},
		"metric without name": {template(func(s *AnalysisTemplateSpec) { s.Metrics[2].Name = "" }),
			"spec.metrics[2].name", "every metric needs a name"},
		"duplicate metric names": {template(func(s *AnalysisTemplateSpec) { s.Metrics[1].Name = "success-rate" }),
			"spec.metrics[1].name", `Duplicate value: "success-rate"`},
		"metric without provider": {template(func(s *AnalysisTemplateSpec) { s.Metrics[0].Provider = MetricProvider{} }),
			"spec.metrics[0].provider", "set exactly one provider"},
		"metric with two providers": {template(func(s *AnalysisTemplateSpec) {
			s.Metrics[0].Provider.Datadog = &DatadogMetric{Query: "avg:x"}
		}), "spec.metrics[0].provider", `"datadog, prometheus": set exactly one provider per metric`},
		"metric with a provider and a plugin": {template(func(s *AnalysisTemplateSpec) {
			s.Metrics[3].Provider.Web = &WebMetric{URL: "http://x"}
		}), "spec.metrics[3].provider", "set exactly one provider per metric"},
		"count above 1 without interval": {template(func(s *AnalysisTemplateSpec) { s.Metrics[0].Interval = nil }),
			"spec.metrics[0].interval", "an interval is required when count is more than 1"},
		"interval that does not parse": {template(func(s *AnalysisTemplateSpec) { s.Metrics[0].Interval = dur("1 minute") }),
			"spec.metrics[0].interval", "invalid duration"},
		"zero interval": {template(func(s *AnalysisTemplateSpec) { s.Metrics[0].Interval = ptr(DurationFromInt(0)) }),
			"spec.metrics[0].interval", "must be greater than 0"},
		"initialDelay that does not parse": {template(func(s *AnalysisTemplateSpec) { s.Metrics[0].InitialDelay = dur("soon") }),
			"spec.metrics[0].initialDelay", "invalid duration"},
		"failureLimit below -1": {template(func(s *AnalysisTemplateSpec) { s.Metrics[1].FailureLimit = ioi(-2) }),
			"spec.metrics[1].failureLimit", "greater than or equal to -1"},
		"inconclusiveLimit that is text": {template(func(s *AnalysisTemplateSpec) { s.Metrics[1].InconclusiveLimit = ios("some") }),
			"spec.metrics[1].inconclusiveLimit", "must be an integer or an {{args.NAME}} placeholder"},
		"broken placeholder": {template(func(s *AnalysisTemplateSpec) { s.Metrics[1].FailureLimit = ios("{{args.limit}") }),
			"spec.metrics[1].failureLimit", "{{args.NAME}} placeholder"},
		"negative consecutiveErrorLimit": {template(func(s *AnalysisTemplateSpec) { s.Metrics[0].ConsecutiveErrorLimit = ioi(-1) }),
			"spec.metrics[0].consecutiveErrorLimit", "greater than or equal to 0"},
		"negative count": {template(func(s *AnalysisTemplateSpec) { s.Metrics[0].Count = ios("-4") }),
			"spec.metrics[0].count", "greater than or equal to 0"},
		"failureLimit above count": {template(func(s *AnalysisTemplateSpec) { s.Metrics[0].FailureLimit = ioi(6) }),
			"spec.metrics[0].failureLimit", "must not be greater than count (5)"},
		"template arg with value and valueFrom": {template(func(s *AnalysisTemplateSpec) {
			s.Args[2].Value = ptr("x")
		}), "spec.args[2].valueFrom", "set value or valueFrom, not both"},
		"duplicate template args": {template(func(s *AnalysisTemplateSpec) { s.Args[1].Name = "service" }),
			"spec.args[1].name", `Duplicate value: "service"`},
		"secretKeyRef without key": {template(func(s *AnalysisTemplateSpec) { s.Args[2].ValueFrom.SecretKeyRef.Key = "" }),
			"spec.args[2].valueFrom.secretKeyRef.key", "name the key"},
		"valueFrom with nothing": {template(func(s *AnalysisTemplateSpec) { s.Args[2].ValueFrom = &ValueFrom{} }),
			"spec.args[2].valueFrom", "set exactly one of secretKeyRef or fieldRef"},
		"dryRun of an unknown metric": {template(func(s *AnalysisTemplateSpec) { s.DryRun[0].MetricName = "latency" }),
			"spec.dryRun[0].metricName", "no metric of this name"},
		"negative measurementRetention": {template(func(s *AnalysisTemplateSpec) { s.MeasurementRetention[0].Limit = -1 }),
			"spec.measurementRetention[0].limit", "greater than or equal to 0"},
		"web metric without url": {template(func(s *AnalysisTemplateSpec) { s.Metrics[1].Provider.Web.URL = "" }),
			"spec.metrics[1].provider.web.url", "give the URL"},
		"web body with GET": {template(func(s *AnalysisTemplateSpec) { s.Metrics[1].Provider.Web.Method = "" }),
			"spec.metrics[1].provider.web.method", "a request body needs method POST or PUT"},
		"prometheus without query": {template(func(s *AnalysisTemplateSpec) { s.Metrics[0].Provider.Prometheus.Query = " " }),
			"spec.metrics[0].provider.prometheus.query", "give the query"},
		"datadog with a bad apiVersion": {template(func(s *AnalysisTemplateSpec) {
			s.Metrics[0].Provider = MetricProvider{Datadog: &DatadogMetric{Query: "avg:x", ApiVersion: "v3"}}
		}), "spec.metrics[0].provider.datadog.apiVersion", `Unsupported value: "v3"`},
		"job without containers": {template(func(s *AnalysisTemplateSpec) { s.Metrics[2].Provider.Job.Spec.Template.Spec.Containers = nil }),
			"spec.metrics[2].provider.job.spec.template.spec.containers", "at least one container"},
		"cluster template without provider": {func() runtime.Object {
			t := clusterAnalysisTemplate()
			t.Spec.Metrics[0].Provider = MetricProvider{}
			return t
		}(), "spec.metrics[0].provider", "set exactly one provider"},

		// AnalysisRun.
		"run without metrics": {run(func(s *AnalysisRunSpec) { s.Metrics = nil }),
			"spec.metrics", "an AnalysisRun needs at least one metric"},
		"run argument without value": {run(func(s *AnalysisRunSpec) { s.Args[0].Value = nil }),
			"spec.args[0].value", `argument "service" has no value`},
		"run with negative ttl": {run(func(s *AnalysisRunSpec) { s.TTLStrategy.SecondsAfterFailure = ptr(int32(-1)) }),
			"spec.ttlStrategy.secondsAfterFailure", "greater than or equal to 0"},
		"run metric with count and no interval": {run(func(s *AnalysisRunSpec) { s.Metrics[0].Interval = nil }),
			"spec.metrics[0].interval", "an interval is required"},

		// Experiment.
		"experiment without templates": {exp(func(s *ExperimentSpec) { s.Templates = nil }),
			"spec.templates", "at least one template"},
		"experiment duplicate template names": {exp(func(s *ExperimentSpec) { s.Templates[1].Name = "baseline" }),
			"spec.templates[1].name", `Duplicate value: "baseline"`},
		"experiment template without selector": {exp(func(s *ExperimentSpec) { s.Templates[0].Selector = nil }),
			"spec.templates[0].selector", "needs a selector"},
		"experiment selector does not match": {exp(func(s *ExperimentSpec) { s.Templates[0].Template.Labels = map[string]string{"app": "x"} }),
			"spec.templates[0].template.metadata.labels", "`selector` does not match template `labels`"},
		"experiment templates with one selector": {exp(func(s *ExperimentSpec) {
			s.Templates[1].Selector = s.Templates[0].Selector
			s.Templates[1].Template.Labels = s.Templates[0].Template.Labels
		}), "spec.templates[1].selector", "must differ from the selector of template baseline"},
		"experiment duration that does not parse": {exp(func(s *ExperimentSpec) { s.Duration = dur("a while") }),
			"spec.duration", "invalid duration"},
		"experiment zero progress deadline": {exp(func(s *ExperimentSpec) { s.ProgressDeadlineSeconds = ptr(int32(0)) }),
			"spec.progressDeadlineSeconds", "must be greater than 0"},
		"experiment duplicate analysis names": {exp(func(s *ExperimentSpec) { s.Analyses = append(s.Analyses, s.Analyses[0]) }),
			"spec.analyses[1].name", `Duplicate value: "compare"`},
		"experiment analysis without template": {exp(func(s *ExperimentSpec) { s.Analyses[0].TemplateName = "" }),
			"spec.analyses[0].templateName", "name the analysis template"},
	}
}

func TestInvalidObjects(t *testing.T) {
	cases := invalidCases()
	if len(cases) < 30 {
		t.Fatalf("only %d invalid cases", len(cases))
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			errs := validateObject(tc.obj)
			for _, e := range errs {
				if e.Field == tc.field && strings.Contains(e.Error(), tc.msg) {
					return
				}
			}
			t.Errorf("want an error at %s containing %q, got:\n%s", tc.field, tc.msg, errorLines(errs))
		})
	}
}

func errorLines(errs field.ErrorList) string {
	if len(errs) == 0 {
		return "  (no errors)"
	}
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("  " + e.Error() + "\n")
	}
	return b.String()
}

// TestValidationDoesNotMutate checks that validation leaves objects alone.
func TestValidationDoesNotMutate(t *testing.T) {
	for name, obj := range map[string]runtime.Object{"rollout": trafficRollout(), "template": analysisTemplate(), "experiment": experiment()} {
		before := obj.DeepCopyObject()
		validateObject(obj)
		if !equality.Semantic.DeepEqual(before, obj) {
			t.Errorf("%s: validation changed the object", name)
		}
	}
}
