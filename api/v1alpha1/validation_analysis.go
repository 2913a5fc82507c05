package v1alpha1

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateAnalysisTemplate checks an AnalysisTemplate.
func ValidateAnalysisTemplate(t *AnalysisTemplate) field.ErrorList {
	return validateAnalysisTemplateSpec(&t.Spec, field.NewPath("spec"))
}

// ValidateClusterAnalysisTemplate checks a ClusterAnalysisTemplate.
func ValidateClusterAnalysisTemplate(t *ClusterAnalysisTemplate) field.ErrorList {
	return validateAnalysisTemplateSpec(&t.Spec, field.NewPath("spec"))
}

func validateAnalysisTemplateSpec(spec *AnalysisTemplateSpec, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(spec.Metrics) == 0 && len(spec.Templates) == 0 {
		allErrs = append(allErrs, field.Required(p.Child("metrics"), "a template needs at least one metric (or templates to take metrics from)"))
	}
	for i, t := range spec.Templates {
		if t.TemplateName == "" {
			allErrs = append(allErrs, field.Required(p.Child("templates").Index(i).Child("templateName"), "name the AnalysisTemplate (or ClusterAnalysisTemplate with clusterScope: true) to include"))
		}
	}
	names, errs := validateMetrics(spec.Metrics, p.Child("metrics"))
	allErrs = append(allErrs, errs...)
	allErrs = append(allErrs, validateArguments(spec.Args, p.Child("args"), false)...)
	// Referenced templates add metrics that are not known here.
	if len(spec.Templates) > 0 {
		names = nil
	}
	allErrs = append(allErrs, validateDryRunAndRetention(spec.DryRun, spec.MeasurementRetention, names, p)...)
	return allErrs
}

// ValidateAnalysisRun checks an AnalysisRun. Unlike a template, a run must
// have metrics and every argument must have a value (or valueFrom).
func ValidateAnalysisRun(r *AnalysisRun) field.ErrorList {
	p := field.NewPath("spec")
	var allErrs field.ErrorList
	if len(r.Spec.Metrics) == 0 {
		allErrs = append(allErrs, field.Required(p.Child("metrics"), "an AnalysisRun needs at least one metric"))
	}
	names, errs := validateMetrics(r.Spec.Metrics, p.Child("metrics"))
	allErrs = append(allErrs, errs...)
	allErrs = append(allErrs, validateArguments(r.Spec.Args, p.Child("args"), true)...)
	allErrs = append(allErrs, validateDryRunAndRetention(r.Spec.DryRun, r.Spec.MeasurementRetention, names, p)...)
	if ttl := r.Spec.TTLStrategy; ttl != nil {
		tp := p.Child("ttlStrategy")
		allErrs = append(allErrs, validateNonNegativePtr(ttl.SecondsAfterCompletion, tp.Child("secondsAfterCompletion"))...)
		allErrs = append(allErrs, validateNonNegativePtr(ttl.SecondsAfterFailure, tp.Child("secondsAfterFailure"))...)
		allErrs = append(allErrs, validateNonNegativePtr(ttl.SecondsAfterSuccess, tp.Child("secondsAfterSuccess"))...)
	}
	return allErrs
}

// validateMetrics checks a list of metrics and returns their names.
func validateMetrics(metrics []Metric, p *field.Path) (sets.Set[string], field.ErrorList) {
	var allErrs field.ErrorList
	names := sets.New[string]()
	for i := range metrics {
		m := &metrics[i]
		mp := p.Index(i)
		switch {
		case strings.TrimSpace(m.Name) == "":
			allErrs = append(allErrs, field.Required(mp.Child("name"), "every metric needs a name"))
		case names.Has(m.Name):
			allErrs = append(allErrs, field.Duplicate(mp.Child("name"), m.Name))
		}
		names.Insert(m.Name)
		allErrs = append(allErrs, validateMetric(m, mp)...)
	}
	return names, allErrs
}

func validateMetric(m *Metric, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	allErrs = append(allErrs, validateDuration(m.Interval, p.Child("interval"), true)...)
	allErrs = append(allErrs, validateDuration(m.InitialDelay, p.Child("initialDelay"), false)...)

	allErrs = append(allErrs, validateLimit(m.Count, p.Child("count"), 0)...)
	allErrs = append(allErrs, validateLimit(m.FailureLimit, p.Child("failureLimit"), DisabledLimit)...)
	allErrs = append(allErrs, validateLimit(m.InconclusiveLimit, p.Child("inconclusiveLimit"), 0)...)
	allErrs = append(allErrs, validateLimit(m.ConsecutiveErrorLimit, p.Child("consecutiveErrorLimit"), 0)...)
	allErrs = append(allErrs, validateLimit(m.ConsecutiveSuccessLimit, p.Child("consecutiveSuccessLimit"), 0)...)

	if count, ok := resolvedInt(m.Count); ok && count > 0 {
		if count > 1 && m.Interval == nil {
			allErrs = append(allErrs, field.Required(p.Child("interval"), fmt.Sprintf("an interval is required when count is more than 1 (count is %d)", count)))
		}
		if fl, ok := resolvedInt(m.FailureLimit); ok && fl > count {
			allErrs = append(allErrs, field.Invalid(p.Child("failureLimit"), fl, fmt.Sprintf("must not be greater than count (%d)", count)))
		}
		if il, ok := resolvedInt(m.InconclusiveLimit); ok && il > count {
			allErrs = append(allErrs, field.Invalid(p.Child("inconclusiveLimit"), il, fmt.Sprintf("must not be greater than count (%d)", count)))
		}
		if cs, ok := resolvedInt(m.ConsecutiveSuccessLimit); ok && cs > count {
			allErrs = append(allErrs, field.Invalid(p.Child("consecutiveSuccessLimit"), cs, fmt.Sprintf("must not be greater than count (%d)", count)))
		}
	}
	allErrs = append(allErrs, validateProvider(&m.Provider, p.Child("provider"))...)
	return allErrs
}

// providerNames returns the providers set in mp; each plugin entry counts.
func providerNames(mp *MetricProvider) []string {
	names := setFields(map[string]bool{
		"prometheus": mp.Prometheus != nil,
		"kayenta":    mp.Kayenta != nil,
		"web":        mp.Web != nil,
		"datadog":    mp.Datadog != nil,
		"wavefront":  mp.Wavefront != nil,
		"newRelic":   mp.NewRelic != nil,
		"job":        mp.Job != nil,
		"cloudWatch": mp.CloudWatch != nil,
		"graphite":   mp.Graphite != nil,
		"influxdb":   mp.Influxdb != nil,
		"skywalking": mp.SkyWalking != nil,
	})
	for _, name := range sets.List(sets.KeySet(mp.Plugin)) {
		names = append(names, "plugin "+name)
	}
	return names
}

func validateProvider(mp *MetricProvider, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch names := providerNames(mp); len(names) {
	case 0:
		return field.ErrorList{field.Required(p, "set exactly one provider, e.g. prometheus, web, datadog, job or a plugin")}
	case 1:
	default:
		allErrs = append(allErrs, field.Invalid(p, strings.Join(names, ", "), "set exactly one provider per metric"))
	}
	requireQuery := func(provider, query string) {
		if strings.TrimSpace(query) == "" {
			allErrs = append(allErrs, field.Required(p.Child(provider, "query"), "give the query to run"))
		}
	}
	if mp.Prometheus != nil {
		requireQuery("prometheus", mp.Prometheus.Query)
		if mp.Prometheus.Timeout != nil && *mp.Prometheus.Timeout < 0 {
			allErrs = append(allErrs, field.Invalid(p.Child("prometheus", "timeout"), *mp.Prometheus.Timeout, "must be greater than or equal to 0"))
		}
		allErrs = append(allErrs, validateRangeQuery(mp.Prometheus.RangeQuery, p.Child("prometheus", "rangeQuery"))...)
		allErrs = append(allErrs, validateAuthentication(&mp.Prometheus.Authentication, p.Child("prometheus", "authentication"))...)
	}
	if mp.Wavefront != nil {
		requireQuery("wavefront", mp.Wavefront.Query)
	}
	if mp.NewRelic != nil {
		requireQuery("newRelic", mp.NewRelic.Query)
		if t := mp.NewRelic.Timeout; t != nil && *t < 0 {
			allErrs = append(allErrs, field.Invalid(p.Child("newRelic", "timeout"), *t, "must be greater than or equal to 0"))
		}
	}
	if mp.Graphite != nil {
		requireQuery("graphite", mp.Graphite.Query)
	}
	if mp.Influxdb != nil {
		requireQuery("influxdb", mp.Influxdb.Query)
	}
	if mp.SkyWalking != nil {
		requireQuery("skywalking", mp.SkyWalking.Query)
		allErrs = append(allErrs, validateDuration(mp.SkyWalking.Interval, p.Child("skywalking", "interval"), true)...)
	}
	if w := mp.Web; w != nil {
		wp := p.Child("web")
		if strings.TrimSpace(w.URL) == "" {
			allErrs = append(allErrs, field.Required(wp.Child("url"), "give the URL to call"))
		}
		switch w.Method {
		case "", WebMetricMethodGet, WebMetricMethodPost, WebMetricMethodPut:
		default:
			allErrs = append(allErrs, field.NotSupported(wp.Child("method"), w.Method, []string{"GET", "POST", "PUT"}))
		}
		if w.Body != "" && len(w.JSONBody) > 0 {
			allErrs = append(allErrs, field.Invalid(wp.Child("jsonBody"), field.OmitValueType{}, "set body or jsonBody, not both"))
		}
		if (w.Body != "" || len(w.JSONBody) > 0) && w.EffectiveMethod() == WebMetricMethodGet {
			allErrs = append(allErrs, field.Invalid(wp.Child("method"), string(w.EffectiveMethod()), "a request body needs method POST or PUT"))
		}
		if w.TimeoutSeconds < 0 {
			allErrs = append(allErrs, field.Invalid(wp.Child("timeoutSeconds"), w.TimeoutSeconds, "must be greater than or equal to 0"))
		}
		allErrs = append(allErrs, validateAuthentication(&w.Authentication, wp.Child("authentication"))...)
	}
	if d := mp.Datadog; d != nil {
		allErrs = append(allErrs, validateDatadog(d, p.Child("datadog"))...)
	}
	if j := mp.Job; j != nil {
		jp := p.Child("job", "spec", "template", "spec", "containers")
		if len(j.Spec.Template.Spec.Containers) == 0 {
			allErrs = append(allErrs, field.Required(jp, "the job needs at least one container"))
		}
	}
	if cw := mp.CloudWatch; cw != nil {
		cp := p.Child("cloudWatch")
		if len(cw.MetricDataQueries) == 0 {
			allErrs = append(allErrs, field.Required(cp.Child("metricDataQueries"), "give at least one metric data query"))
		}
		allErrs = append(allErrs, validateDuration(cw.Interval, cp.Child("interval"), true)...)
	}
	if k := mp.Kayenta; k != nil {
		kp := p.Child("kayenta")
		for _, f := range [][2]string{{"address", k.Address}, {"application", k.Application}, {"canaryConfigName", k.CanaryConfigName}} {
			if f[1] == "" {
				allErrs = append(allErrs, field.Required(kp.Child(f[0]), "required for kayenta"))
			}
		}
		if len(k.Scopes) == 0 {
			allErrs = append(allErrs, field.Required(kp.Child("scopes"), "give at least one scope"))
		}
		for i, sc := range k.Scopes {
			sp := kp.Child("scopes").Index(i)
			if (sc.ControlScope.Start == "") != (sc.ExperimentScope.Start == "") {
				allErrs = append(allErrs, field.Invalid(sp.Child("experimentScope", "start"), sc.ExperimentScope.Start, "set start in both controlScope and experimentScope, or in neither"))
			}
			if (sc.ControlScope.End == "") != (sc.ExperimentScope.End == "") {
				allErrs = append(allErrs, field.Invalid(sp.Child("experimentScope", "end"), sc.ExperimentScope.End, "set end in both controlScope and experimentScope, or in neither"))
			}
		}
	}
	return allErrs
}

// datadogAggregators are the aggregators of Datadog's v2 scalar queries.
var datadogAggregators = []string{"avg", "min", "max", "sum", "last", "percentile", "mean", "l2norm", "area"}

// validateDatadog checks a Datadog metric as Argo Rollouts does when it runs one: a query or
// queries (not both), queries and aggregator only with apiVersion v2, a formula over several
// queries, and positive durations.
func validateDatadog(d *DatadogMetric, dp *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch d.ApiVersion {
	case "", "v1", "v2":
	default:
		allErrs = append(allErrs, field.NotSupported(dp.Child("apiVersion"), d.ApiVersion, []string{"v1", "v2"}))
	}
	if d.Query == "" && len(d.Queries) == 0 {
		allErrs = append(allErrs, field.Required(dp.Child("query"), "give a query (or queries with a formula for apiVersion v2)"))
	}
	if d.Query != "" && len(d.Queries) > 0 {
		allErrs = append(allErrs, field.Invalid(dp.Child("queries"), field.OmitValueType{}, "set query or queries, not both"))
	}
	if len(d.Queries) > 0 && d.EffectiveAPIVersion() != "v2" {
		allErrs = append(allErrs, field.Invalid(dp.Child("queries"), field.OmitValueType{}, "queries need apiVersion v2"))
	}
	if d.Formula != "" && len(d.Queries) == 0 {
		allErrs = append(allErrs, field.Invalid(dp.Child("formula"), d.Formula, "a formula needs queries"))
	}
	if d.Formula == "" && len(d.Queries) > 1 {
		allErrs = append(allErrs, field.Required(dp.Child("formula"), "several queries need a formula that combines them"))
	}
	if d.Aggregator != "" {
		if d.EffectiveAPIVersion() != "v2" {
			allErrs = append(allErrs, field.Invalid(dp.Child("aggregator"), d.Aggregator, "an aggregator needs apiVersion v2"))
		} else if !slices.Contains(datadogAggregators, d.Aggregator) && !hasPlaceholder(d.Aggregator) {
			allErrs = append(allErrs, field.NotSupported(dp.Child("aggregator"), d.Aggregator, datadogAggregators))
		}
	}
	if d.SecretRef.Namespaced && strings.TrimSpace(d.SecretRef.Name) == "" {
		allErrs = append(allErrs, field.Required(dp.Child("secretRef", "name"), "a namespaced secretRef needs the name of the Secret"))
	}
	allErrs = append(allErrs, validateDuration(d.Interval, dp.Child("interval"), true)...)
	if t := d.RequestTimeout; t != nil && !hasPlaceholder(t.String()) {
		allErrs = append(allErrs, validateDuration(t, dp.Child("requestTimeout"), true)...)
	}
	return allErrs
}

// hasPlaceholder reports whether s refers to an argument, so that it is only known when the run
// resolves its arguments.
func hasPlaceholder(s string) bool { return strings.Contains(s, "{{") }

// validateRangeQuery checks a Prometheus range query: a start and a positive step are
// required (end defaults to now()). The start and end expressions are evaluated by the
// provider at each measurement.
func validateRangeQuery(r *PrometheusRangeQueryArgs, p *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var allErrs field.ErrorList
	if strings.TrimSpace(r.Start) == "" {
		allErrs = append(allErrs, field.Required(p.Child("start"), `give the start of the range, an expression such as now() - duration("1h")`))
	}
	switch step := strings.TrimSpace(r.Step); {
	case step == "":
		allErrs = append(allErrs, field.Required(p.Child("step"), "give the resolution of the range, a duration such as 1m"))
	case hasPlaceholder(step):
	default:
		d, err := DurationFromString(step).Duration()
		if err != nil || d <= 0 {
			allErrs = append(allErrs, field.Invalid(p.Child("step"), r.Step, "must be a positive duration such as 30s or 1m (or a number of seconds)"))
		}
	}
	return allErrs
}

// validateAuthentication checks a provider's authentication. Basic authentication needs a
// username and a password; OAuth2's client credentials flow needs the token URL, the client ID
// and its secret. Secret values are never quoted in an error.
func validateAuthentication(a *Authentication, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if b := a.BasicAuth; b != (BasicAuthConfig{}) {
		if strings.TrimSpace(b.Username) == "" {
			allErrs = append(allErrs, field.Required(p.Child("basicAuth", "username"), "basic authentication needs a username"))
		}
		if b.Password == "" {
			allErrs = append(allErrs, field.Required(p.Child("basicAuth", "password"), "basic authentication needs a password, e.g. {{args.NAME}} of an argument from a Secret"))
		}
	}
	if a.OAuth2.IsZero() {
		return allErrs
	}
	op := p.Child("oauth2")
	o := &a.OAuth2
	switch u := strings.TrimSpace(o.TokenURL); {
	case u == "":
		allErrs = append(allErrs, field.Required(op.Child("tokenUrl"), "give the URL of the OAuth2 token endpoint"))
	case hasPlaceholder(u):
	default:
		if parsed, err := url.Parse(u); err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			allErrs = append(allErrs, field.Invalid(op.Child("tokenUrl"), o.TokenURL, "must be an http:// or https:// URL"))
		}
	}
	if strings.TrimSpace(o.ClientID) == "" {
		allErrs = append(allErrs, field.Required(op.Child("clientId"), "give the OAuth2 client ID"))
	}
	if o.ClientSecret == "" {
		allErrs = append(allErrs, field.Required(op.Child("clientSecret"), "give the OAuth2 client secret, e.g. {{args.NAME}} of an argument from a Secret"))
	}
	return allErrs
}
