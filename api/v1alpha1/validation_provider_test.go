package v1alpha1

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestValidateRangeQueryAndAuthentication checks every error of a prometheus or web metric's
// rangeQuery and authentication, by field path and type.
func TestValidateRangeQueryAndAuthentication(t *testing.T) {
	const prom = "spec.metrics[0].provider.prometheus"
	const web = "spec.metrics[0].provider.web"
	goodRange := PrometheusRangeQueryArgs{Start: `now() - duration("1h")`, End: "now()", Step: "1m"}
	goodOAuth2 := OAuth2Config{TokenURL: "https://auth.example.com/token", ClientID: "vane", ClientSecret: "{{args.secret}}", Scopes: []string{"metrics:read"}}
	withRange := func(r *PrometheusRangeQueryArgs) MetricProvider {
		return MetricProvider{Prometheus: &PrometheusMetric{Address: "http://prometheus:9090", Query: "up", RangeQuery: r}}
	}
	promAuth := func(o OAuth2Config) MetricProvider {
		return MetricProvider{Prometheus: &PrometheusMetric{Address: "http://prometheus:9090", Query: "up", Authentication: Authentication{OAuth2: o}}}
	}
	webAuth := func(a Authentication) MetricProvider {
		return MetricProvider{Web: &WebMetric{URL: "http://app/health", Authentication: a}}
	}
	for name, tc := range map[string]struct {
		provider MetricProvider
		want     []string // "field: type" of each error, in order
	}{
		"a range query":                         {provider: withRange(&goodRange)},
		"a range query ending now by default":   {provider: withRange(&PrometheusRangeQueryArgs{Start: goodRange.Start, Step: "30s"})},
		"a step in seconds":                     {provider: withRange(&PrometheusRangeQueryArgs{Start: goodRange.Start, Step: "60"})},
		"a step from an argument":               {provider: withRange(&PrometheusRangeQueryArgs{Start: `now() - duration("{{args.lookback}}")`, Step: "{{args.step}}"})},
		"an empty rangeQuery: start and step":   {provider: withRange(&PrometheusRangeQueryArgs{}), want: []string{prom + ".rangeQuery.start: Required value", prom + ".rangeQuery.step: Required value"}},
		"only an end":                           {provider: withRange(&PrometheusRangeQueryArgs{End: "now()"}), want: []string{prom + ".rangeQuery.start: Required value", prom + ".rangeQuery.step: Required value"}},
		"a step that does not parse":            {provider: withRange(&PrometheusRangeQueryArgs{Start: goodRange.Start, Step: "1 minute"}), want: []string{prom + ".rangeQuery.step: Invalid value"}},
		"a zero step":                           {provider: withRange(&PrometheusRangeQueryArgs{Start: goodRange.Start, Step: "0s"}), want: []string{prom + ".rangeQuery.step: Invalid value"}},
		"a negative step":                       {provider: withRange(&PrometheusRangeQueryArgs{Start: goodRange.Start, Step: "-1m"}), want: []string{prom + ".rangeQuery.step: Invalid value"}},
		"oauth2 on prometheus":                  {provider: promAuth(goodOAuth2)},
		"oauth2 on web":                         {provider: webAuth(Authentication{OAuth2: goodOAuth2})},
		"oauth2 token URL from an argument":     {provider: webAuth(Authentication{OAuth2: OAuth2Config{TokenURL: "{{args.issuer}}/token", ClientID: "vane", ClientSecret: "s"}})},
		"sigv4 is accepted (measured as Error)": {provider: webAuth(Authentication{Sigv4: Sigv4Config{Region: "eu-west-1"}})},
		"oauth2 with scopes only": {provider: promAuth(OAuth2Config{Scopes: []string{"read"}}), want: []string{
			prom + ".authentication.oauth2.tokenUrl: Required value", prom + ".authentication.oauth2.clientId: Required value", prom + ".authentication.oauth2.clientSecret: Required value"}},
		"oauth2 without a secret": {provider: webAuth(Authentication{OAuth2: OAuth2Config{TokenURL: goodOAuth2.TokenURL, ClientID: "vane"}}),
			want: []string{web + ".authentication.oauth2.clientSecret: Required value"}},
		"oauth2 token URL that is not a URL": {provider: promAuth(OAuth2Config{TokenURL: "auth.example.com/token", ClientID: "vane", ClientSecret: "s"}),
			want: []string{prom + ".authentication.oauth2.tokenUrl: Invalid value"}},
		"oauth2 token URL of another scheme": {provider: webAuth(Authentication{OAuth2: OAuth2Config{TokenURL: "ftp://auth/token", ClientID: "vane", ClientSecret: "s"}}),
			want: []string{web + ".authentication.oauth2.tokenUrl: Invalid value"}},
	} {
		t.Run(name, func(t *testing.T) {
			tmpl := analysisTemplate()
			tmpl.Spec.Metrics[0].Provider = tc.provider
			var got []string
			for _, e := range ValidateAnalysisTemplate(tmpl) {
				got = append(got, e.Field+": "+e.Type.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestValidationNeverQuotesTheClientSecret checks that an invalid oauth2 configuration is
// reported without its secret.
func TestValidationNeverQuotesTheClientSecret(t *testing.T) {
	tmpl := analysisTemplate()
	tmpl.Spec.Metrics[1].Provider.Web.Authentication.OAuth2 = OAuth2Config{TokenURL: "not a url", ClientSecret: "hunter2-s3cret"}
	errs := ValidateAnalysisTemplate(tmpl)
	if len(errs) == 0 {
		t.Fatal("want errors")
	}
	if agg := errs.ToAggregate().Error(); strings.Contains(agg, "hunter2-s3cret") {
		t.Errorf("the secret is quoted: %s", agg)
	}
}

// TestValidateProviderFields checks the errors of the provider fields Argo checks when it runs
// a metric (datadog, newRelic, kayenta) and of basic authentication, by field path and type.
func TestValidateProviderFields(t *testing.T) {
	const dd = "spec.metrics[0].provider.datadog"
	datadog := func(mutate func(*DatadogMetric)) MetricProvider {
		d := &DatadogMetric{Query: "avg:errors{app:a}"}
		mutate(d)
		return MetricProvider{Datadog: d}
	}
	scope := func(start, end string) ScopeDetail {
		return ScopeDetail{Scope: "app=a", Step: 60, Start: start, End: end}
	}
	kayenta := func(control, experiment ScopeDetail) MetricProvider {
		return MetricProvider{Kayenta: &KayentaMetric{Address: "http://kayenta:8090", Application: "a", CanaryConfigName: "c",
			Scopes: []KayentaScope{{Name: "default", ControlScope: control, ExperimentScope: experiment}}}}
	}
	basic := func(b BasicAuthConfig) MetricProvider {
		return MetricProvider{Prometheus: &PrometheusMetric{Address: "http://prometheus:9090", Query: "up", Authentication: Authentication{BasicAuth: b}}}
	}
	for name, tc := range map[string]struct {
		provider MetricProvider
		want     []string
	}{
		"datadog v1 query": {provider: datadog(func(*DatadogMetric) {})},
		"datadog v2 formula with a secretRef and a timeout": {provider: datadog(func(d *DatadogMetric) {
			d.Query, d.ApiVersion, d.Formula, d.Aggregator = "", "v2", "a / b", "sum"
			d.Queries = map[string]string{"a": "sum:errors{*}", "b": "sum:requests{*}"}
			d.SecretRef, d.RequestTimeout = SecretRef{Name: "dd", Namespaced: true}, DurationPtr(DurationFromString("30s"))
		})},
		"datadog timeout from an argument": {provider: datadog(func(d *DatadogMetric) { d.RequestTimeout = DurationPtr(DurationFromString("{{args.t}}")) })},
		"datadog zero timeout": {provider: datadog(func(d *DatadogMetric) { d.RequestTimeout = DurationPtr(DurationFromString("0s")) }),
			want: []string{dd + ".requestTimeout: Invalid value"}},
		"datadog timeout that does not parse": {provider: datadog(func(d *DatadogMetric) { d.RequestTimeout = DurationPtr(DurationFromString("ten")) }),
			want: []string{dd + ".requestTimeout: Invalid value"}},
		"datadog aggregator with v1": {provider: datadog(func(d *DatadogMetric) { d.Aggregator = "sum" }),
			want: []string{dd + ".aggregator: Invalid value"}},
		"datadog unknown aggregator": {provider: datadog(func(d *DatadogMetric) { d.ApiVersion, d.Aggregator = "v2", "median" }),
			want: []string{dd + ".aggregator: Unsupported value"}},
		"datadog two queries without a formula": {provider: datadog(func(d *DatadogMetric) {
			d.Query, d.ApiVersion, d.Queries = "", "v2", map[string]string{"a": "sum:x{*}", "b": "sum:y{*}"}
		}), want: []string{dd + ".formula: Required value"}},
		"datadog namespaced secretRef without a name": {provider: datadog(func(d *DatadogMetric) { d.SecretRef.Namespaced = true }),
			want: []string{dd + ".secretRef.name: Required value"}},
		"newRelic negative timeout": {provider: MetricProvider{NewRelic: &NewRelicMetric{Query: "SELECT 1", Timeout: new(int64(-1))}},
			want: []string{"spec.metrics[0].provider.newRelic.timeout: Invalid value"}},
		"kayenta scopes without times": {provider: kayenta(scope("", ""), scope("", ""))},
		"kayenta scopes with times":    {provider: kayenta(scope("{{args.start}}", "{{args.end}}"), scope("{{args.start}}", "{{args.end}}"))},
		"kayenta start in one scope only": {provider: kayenta(scope("2026-01-01T00:00:00Z", ""), scope("", "")),
			want: []string{"spec.metrics[0].provider.kayenta.scopes[0].experimentScope.start: Invalid value"}},
		"kayenta end in one scope only": {provider: kayenta(scope("", ""), scope("", "2026-01-01T00:00:00Z")),
			want: []string{"spec.metrics[0].provider.kayenta.scopes[0].experimentScope.end: Invalid value"}},
		"basic auth": {provider: basic(BasicAuthConfig{Username: "u", Password: "{{args.password}}"})},
		"basic auth without a password": {provider: basic(BasicAuthConfig{Username: "u"}),
			want: []string{"spec.metrics[0].provider.prometheus.authentication.basicAuth.password: Required value"}},
		"basic auth without a username": {provider: basic(BasicAuthConfig{Password: "p"}),
			want: []string{"spec.metrics[0].provider.prometheus.authentication.basicAuth.username: Required value"}},
	} {
		t.Run(name, func(t *testing.T) {
			tmpl := analysisTemplate()
			tmpl.Spec.Metrics[0].Provider = tc.provider
			var got []string
			for _, e := range ValidateAnalysisTemplate(tmpl) {
				got = append(got, e.Field+": "+e.Type.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
