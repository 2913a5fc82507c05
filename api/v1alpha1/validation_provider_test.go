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
