package v1beta1

import (
	"regexp"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// intervalPattern is the pattern Flagger's CRD gives intervals and timeouts (a prefix match).
var intervalPattern = regexp.MustCompile(`^[0-9]+(m|s)`)

var (
	targetKinds     = sets.New("DaemonSet", "Deployment", "Service")
	autoscalerKinds = sets.New("HorizontalPodAutoscaler", "ScaledObject")
	webhookTypes    = sets.New("", "confirm-rollout", "pre-rollout", "rollout", "confirm-promotion",
		"post-rollout", "event", "rollback", "confirm-traffic-increase")
	severities  = sets.New("", "info", "warn", "error")
	metricTypes = sets.New("prometheus", "influxdb", "datadog", "stackdriver", "cloudwatch", "newrelic", "graphite", "dynatrace")
	alertTypes  = sets.New("slack", "msteams", "discord", "rocket", "gchat")
)

// ValidateCanary checks what Flagger's CRD checks of a Canary: required fields, enums and
// patterns, and that the analysis has exactly one of iterations, stepWeight and stepWeights.
func ValidateCanary(c *Canary) field.ErrorList {
	spec := field.NewPath("spec")
	errs := validateRef(spec.Child("targetRef"), c.Spec.TargetRef.APIVersion, c.Spec.TargetRef.Kind, c.Spec.TargetRef.Name, targetKinds)
	if r := c.Spec.AutoscalerRef; r != nil {
		errs = append(errs, validateRef(spec.Child("autoscalerRef"), r.APIVersion, r.Kind, r.Name, autoscalerKinds)...)
	}
	if r := c.Spec.IngressRef; r != nil {
		errs = append(errs, validateRef(spec.Child("ingressRef"), r.APIVersion, r.Kind, r.Name, sets.New("Ingress"))...)
	}
	if r := c.Spec.RouteRef; r != nil {
		errs = append(errs, validateRef(spec.Child("routeRef"), r.APIVersion, r.Kind, r.Name, sets.New("ApisixRoute"))...)
	}
	if r := c.Spec.UpstreamRef; r != nil {
		errs = append(errs, validateRef(spec.Child("upstreamRef"), r.APIVersion, r.Kind, r.Name, sets.New("Upstream"))...)
	}
	if c.Spec.Service.Port == 0 {
		errs = append(errs, field.Required(spec.Child("service", "port"), "the Service port"))
	}
	if c.Spec.Analysis == nil {
		return append(errs, field.Required(spec.Child("analysis"), ""))
	}
	return append(errs, validateAnalysis(spec.Child("analysis"), c.Spec.Analysis)...)
}

// validateRef checks a reference's required fields and its kind against kinds.
func validateRef(p *field.Path, apiVersion, kind, name string, kinds sets.Set[string]) field.ErrorList {
	var errs field.ErrorList
	if apiVersion == "" {
		errs = append(errs, field.Required(p.Child("apiVersion"), ""))
	}
	if kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), ""))
	} else if !kinds.Has(kind) {
		errs = append(errs, field.NotSupported(p.Child("kind"), kind, sets.List(kinds)))
	}
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	return errs
}

// validateAnalysis checks the analysis and its metrics, alerts and webhooks.
func validateAnalysis(p *field.Path, a *CanaryAnalysis) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateInterval(p.Child("interval"), a.Interval, true)...)
	if a.Threshold == nil {
		errs = append(errs, field.Required(p.Child("threshold"), ""))
	}
	if n := countSet(a.Iterations != nil, a.StepWeight != nil, len(a.StepWeights) > 0); n != 1 {
		errs = append(errs, field.Invalid(p, n, "exactly one of iterations, stepWeight and stepWeights is required"))
	}
	for i, m := range a.Metrics {
		mp := p.Child("metrics").Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(mp.Child("name"), ""))
		}
		errs = append(errs, validateInterval(mp.Child("interval"), m.Interval, false)...)
		if m.TemplateRef != nil && m.TemplateRef.Name == "" {
			errs = append(errs, field.Required(mp.Child("templateRef", "name"), ""))
		}
	}
	for i, al := range a.Alerts {
		ap := p.Child("alerts").Index(i)
		if al.Name == "" {
			errs = append(errs, field.Required(ap.Child("name"), ""))
		}
		if !severities.Has(al.Severity) {
			errs = append(errs, field.NotSupported(ap.Child("severity"), al.Severity, sets.List(severities)))
		}
		if al.ProviderRef.Name == "" {
			errs = append(errs, field.Required(ap.Child("providerRef", "name"), ""))
		}
	}
	for i, w := range a.Webhooks {
		errs = append(errs, validateWebhook(p.Child("webhooks").Index(i), w)...)
	}
	if a.SessionAffinity != nil && a.SessionAffinity.CookieName == "" {
		errs = append(errs, field.Required(p.Child("sessionAffinity", "cookieName"), ""))
	}
	return errs
}

func validateWebhook(p *field.Path, w CanaryWebhook) field.ErrorList {
	var errs field.ErrorList
	if w.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	if w.URL == "" {
		errs = append(errs, field.Required(p.Child("url"), ""))
	}
	if !webhookTypes.Has(w.Type) {
		errs = append(errs, field.NotSupported(p.Child("type"), w.Type, sets.List(webhookTypes)[1:]))
	}
	return append(errs, validateInterval(p.Child("timeout"), w.Timeout, false)...)
}

// validateInterval checks a duration against Flagger's pattern; required says it must be set.
func validateInterval(p *field.Path, v string, required bool) field.ErrorList {
	switch {
	case v == "" && required:
		return field.ErrorList{field.Required(p, "")}
	case v != "" && !intervalPattern.MatchString(v):
		return field.ErrorList{field.Invalid(p, v, "must start with a number of seconds or minutes, like 30s or 1m")}
	}
	return nil
}

func countSet(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// ValidateMetricTemplate checks a MetricTemplate's provider type and required fields.
func ValidateMetricTemplate(m *MetricTemplate) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	switch t := m.Spec.Provider.Type; {
	case t == "":
		errs = append(errs, field.Required(p.Child("provider", "type"), ""))
	case !metricTypes.Has(t):
		errs = append(errs, field.NotSupported(p.Child("provider", "type"), t, sets.List(metricTypes)))
	}
	if r := m.Spec.Provider.SecretRef; r != nil && r.Name == "" {
		errs = append(errs, field.Required(p.Child("provider", "secretRef", "name"), ""))
	}
	if m.Spec.Query == "" {
		errs = append(errs, field.Required(p.Child("query"), ""))
	}
	return errs
}

// ValidateAlertProvider checks an AlertProvider's type and that it has an address or a Secret.
func ValidateAlertProvider(a *AlertProvider) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	switch t := a.Spec.Type; {
	case t == "":
		errs = append(errs, field.Required(p.Child("type"), ""))
	case !alertTypes.Has(t):
		errs = append(errs, field.NotSupported(p.Child("type"), t, sets.List(alertTypes)))
	}
	if a.Spec.Address == "" && a.Spec.SecretRef == nil {
		errs = append(errs, field.Required(p.Child("address"), "address or secretRef is required"))
	}
	if r := a.Spec.SecretRef; r != nil && r.Name == "" {
		errs = append(errs, field.Required(p.Child("secretRef", "name"), ""))
	}
	return errs
}
