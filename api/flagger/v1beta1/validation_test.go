package v1beta1

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// validCanary is a complete blue/green Canary; each case breaks one thing.
func validCanary() *Canary {
	return &Canary{Spec: CanarySpec{
		TargetRef: TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "app"},
		Service:   CanaryService{Port: 8080},
		Analysis: &CanaryAnalysis{Interval: "1m", Threshold: ptr.To[int32](2), Iterations: ptr.To[int32](10),
			Webhooks: []CanaryWebhook{{Name: "gate", Type: "confirm-rollout", URL: "http://gate/check", Timeout: "30s"}},
			Metrics:  []CanaryMetric{{Name: "rate", Interval: "1m"}},
			Alerts:   []CanaryAlert{{Name: "on-call", Severity: "warn", ProviderRef: CrossNamespaceObjectReference{Name: "slack"}}},
		},
	}}
}

func TestValidateCanary(t *testing.T) {
	cases := map[string]struct {
		mutate func(*Canary)
		want   []string
	}{
		"valid":             {func(*Canary) {}, nil},
		"target kind":       {func(c *Canary) { c.Spec.TargetRef.Kind = "StatefulSet" }, []string{"spec.targetRef.kind"}},
		"target name":       {func(c *Canary) { c.Spec.TargetRef.Name = "" }, []string{"spec.targetRef.name"}},
		"autoscaler kind":   {func(c *Canary) { c.Spec.AutoscalerRef = &AutoscalerRef{APIVersion: "v2", Kind: "VPA", Name: "a"} }, []string{"spec.autoscalerRef.kind"}},
		"no port":           {func(c *Canary) { c.Spec.Service.Port = 0 }, []string{"spec.service.port"}},
		"no analysis":       {func(c *Canary) { c.Spec.Analysis = nil }, []string{"spec.analysis"}},
		"bad interval":      {func(c *Canary) { c.Spec.Analysis.Interval = "one minute" }, []string{"spec.analysis.interval"}},
		"no threshold":      {func(c *Canary) { c.Spec.Analysis.Threshold = nil }, []string{"spec.analysis.threshold"}},
		"two strategies":    {func(c *Canary) { c.Spec.Analysis.StepWeight = ptr.To[int32](10) }, []string{"spec.analysis"}},
		"no strategy":       {func(c *Canary) { c.Spec.Analysis.Iterations = nil }, []string{"spec.analysis"}},
		"webhook type":      {func(c *Canary) { c.Spec.Analysis.Webhooks[0].Type = "pre-promotion" }, []string{"spec.analysis.webhooks[0].type"}},
		"webhook url":       {func(c *Canary) { c.Spec.Analysis.Webhooks[0].URL = "" }, []string{"spec.analysis.webhooks[0].url"}},
		"webhook timeout":   {func(c *Canary) { c.Spec.Analysis.Webhooks[0].Timeout = "soon" }, []string{"spec.analysis.webhooks[0].timeout"}},
		"metric name":       {func(c *Canary) { c.Spec.Analysis.Metrics[0].Name = "" }, []string{"spec.analysis.metrics[0].name"}},
		"alert severity":    {func(c *Canary) { c.Spec.Analysis.Alerts[0].Severity = "critical" }, []string{"spec.analysis.alerts[0].severity"}},
		"alert provider":    {func(c *Canary) { c.Spec.Analysis.Alerts[0].ProviderRef.Name = "" }, []string{"spec.analysis.alerts[0].providerRef.name"}},
		"session no cookie": {func(c *Canary) { c.Spec.Analysis.SessionAffinity = &SessionAffinity{} }, []string{"spec.analysis.sessionAffinity.cookieName"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := validCanary()
			tc.mutate(c)
			var got []string
			for _, e := range ValidateCanary(c) {
				got = append(got, e.Field)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("error fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateMetricTemplateAndAlertProvider(t *testing.T) {
	cases := map[string]struct {
		errs []string
		want []string
	}{
		"metric valid":     {fields(ValidateMetricTemplate(&MetricTemplate{Spec: MetricTemplateSpec{Provider: MetricProvider{Type: "prometheus"}, Query: "up"}})), nil},
		"metric type":      {fields(ValidateMetricTemplate(&MetricTemplate{Spec: MetricTemplateSpec{Provider: MetricProvider{Type: "splunk"}, Query: "up"}})), []string{"spec.provider.type"}},
		"metric empty":     {fields(ValidateMetricTemplate(&MetricTemplate{})), []string{"spec.provider.type", "spec.query"}},
		"metric secret":    {fields(ValidateMetricTemplate(&MetricTemplate{Spec: MetricTemplateSpec{Provider: MetricProvider{Type: "datadog", SecretRef: &LocalObjectReference{}}, Query: "q"}})), []string{"spec.provider.secretRef.name"}},
		"alert valid":      {fields(ValidateAlertProvider(&AlertProvider{Spec: AlertProviderSpec{Type: "slack", Address: "https://hooks"}})), nil},
		"alert both":       {fields(ValidateAlertProvider(&AlertProvider{Spec: AlertProviderSpec{Type: "slack", Address: "https://hooks", SecretRef: &LocalObjectReference{Name: "s"}}})), nil},
		"alert type":       {fields(ValidateAlertProvider(&AlertProvider{Spec: AlertProviderSpec{Type: "email", Address: "a"}})), []string{"spec.type"}},
		"alert no address": {fields(ValidateAlertProvider(&AlertProvider{Spec: AlertProviderSpec{Type: "gchat"}})), []string{"spec.address"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.errs); diff != "" {
				t.Errorf("error fields (-want +got):\n%s", diff)
			}
		})
	}
}

// fields returns the paths of errs, in order.
func fields(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field)
	}
	return out
}
