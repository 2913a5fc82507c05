package prometheus

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/condition"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/auth"
	"github.com/vanedev/vane/internal/analysis/provider/auth/authtest"
	"github.com/vanedev/vane/internal/analysis/provider/prometheus/promtest"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		body    string
		value   any
		display string
		err     string
	}{
		{name: "vector", status: 200, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.1,"0.95"]}]}}`,
			value: []float64{0.95}, display: "[0.95]"},
		{name: "vector of two", status: 200, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"NaN"]}]}}`,
			display: "[1,NaN]"},
		{name: "empty vector", status: 200, body: `{"status":"success","data":{"resultType":"vector","result":[]}}`, value: []float64{}, display: "[]"},
		{name: "scalar", status: 200, body: `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"42"]}}`, value: 42.0, display: "42"},
		{name: "matrix is flattened", status: 200, body: `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"2"]]},{"metric":{},"values":[[1,"3"]]}]}}`,
			value: []float64{1, 2, 3}, display: "[1,2,3]"},
		{name: "string", status: 200, body: `{"status":"success","data":{"resultType":"string","result":[1,"hello"]}}`, value: "hello", display: "hello"},
		{name: "bad query", status: 400, body: `{"status":"error","errorType":"bad_data","error":"parse error: unexpected end of input"}`,
			err: "the query failed (HTTP 400, bad_data): parse error: unexpected end of input"},
		{name: "not the API", status: 502, body: `<html>bad gateway</html>`, err: `HTTP 502, not an API answer: "<html>bad gateway</html>"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := parse(tc.status, []byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.value != nil && !reflect.DeepEqual(res.Value, tc.value) {
				t.Errorf("value %#v, want %#v", res.Value, tc.value)
			}
			if res.Display != tc.display {
				t.Errorf("display %q, want %q", res.Display, tc.display)
			}
		})
	}
	res, _ := parse(200, []byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}`))
	if v := res.Value.([]float64); !math.IsNaN(v[0]) {
		t.Errorf("NaN sample: %v", v)
	}
}

// TestRequest checks what is sent, against a stand-in server.
func TestRequest(t *testing.T) {
	var form map[string][]string
	var header http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		form, header = r.PostForm, r.Header
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}`)
	}))
	defer srv.Close()
	clk := clocktesting.NewFakePassiveClock(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	p := New(clk)
	m := &v1alpha1.Metric{Name: "m", Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{
		Address: srv.URL + "/", Query: "up", Timeout: ptr.To[int64](5),
		Headers: []v1alpha1.WebMetricHeader{{Key: "X-Scope-OrgID", Value: "tenant_a"}},
	}}}
	res, err := p.Measure(context.Background(), nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if form["query"][0] != "up" || form["timeout"][0] != "5s" || header.Get("X-Scope-OrgID") != "tenant_a" {
		t.Errorf("sent form %v, headers %v", form, header)
	}
	if res.MetricMetadata[ResolvedQueryKey] != "up" {
		t.Errorf("metadata %v", res.MetricMetadata)
	}
	_, err = p.Run(context.Background(), Query{Address: srv.URL, Query: "up", Range: &RangeQuery{
		Start: `now() - duration("5m")`, End: "now()", Step: "1m"}})
	if err != nil {
		t.Fatal(err)
	}
	if form["start"][0] != "1748778900.000" || form["end"][0] != "1748779200.000" || form["step"][0] != "60" {
		t.Errorf("range query sent %v", form)
	}
	for _, r := range []RangeQuery{{Start: "now()", End: `now() - duration("1m")`, Step: "1m"}, {Step: "0"}, {Start: "1 +", Step: "1m"}, {Start: "42", Step: "1m"}} {
		if _, err := p.Run(context.Background(), Query{Address: srv.URL, Query: "up", Range: &r}); err == nil {
			t.Errorf("range %+v: want an error", r)
		}
	}
	// sigv4 without credentials (the test's environment has none: see TestAuthentication)
	p.SigV4 = &auth.SigV4{LoadConfig: func(_ context.Context, region, _ string) (aws.Config, error) { return aws.Config{Region: region}, nil }}
	m.Provider.Prometheus.Authentication.Sigv4.Region = "eu-west-1"
	if _, err := p.Measure(context.Background(), nil, m); err == nil ||
		err.Error() != "prometheus: authentication.sigv4: no AWS credentials in the controller's environment" {
		t.Errorf("sigv4: %v", err)
	}
}

// TestRangeQueryField checks that a metric's rangeQuery makes a range query whose bounds come
// from the provider's clock, against a stand-in server.
func TestRangeQueryField(t *testing.T) {
	var path string
	var form map[string][]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		path, form = r.URL.Path, r.PostForm
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"2"]]}]}}`)
	}))
	defer srv.Close()
	// 2025-06-01T12:00:00Z is 1748779200
	p := New(clocktesting.NewFakePassiveClock(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)))
	type sent struct {
		Path             string
		Start, End, Step string
		Meta             string
	}
	for name, tc := range map[string]struct {
		r         v1alpha1.PrometheusRangeQueryArgs
		want      sent
		err       string // a substring of the error
		permanent bool
	}{
		"the last 5 minutes": {r: v1alpha1.PrometheusRangeQueryArgs{Start: `now() - duration("5m")`, End: "now()", Step: "1m"},
			want: sent{"/api/v1/query_range", "1748778900.000", "1748779200.000", "60", "start=2025-06-01T11:55:00Z end=2025-06-01T12:00:00Z step=1m0s"}},
		"end defaults to now": {r: v1alpha1.PrometheusRangeQueryArgs{Start: `now() - duration("1h")`, Step: "30s"},
			want: sent{"/api/v1/query_range", "1748775600.000", "1748779200.000", "30", "start=2025-06-01T11:00:00Z end=2025-06-01T12:00:00Z step=30s"}},
		"a step in seconds": {r: v1alpha1.PrometheusRangeQueryArgs{Start: `now() - duration("10m")`, End: `now() - duration("5m")`, Step: "90"},
			want: sent{"/api/v1/query_range", "1748778600.000", "1748778900.000", "90", "start=2025-06-01T11:50:00Z end=2025-06-01T11:55:00Z step=1m30s"}},
		"fixed dates": {r: v1alpha1.PrometheusRangeQueryArgs{Start: `date("2025-05-31T00:00:00Z")`, End: `date("2025-05-31T00:00:00Z") + duration("1h")`, Step: "15m"},
			want: sent{"/api/v1/query_range", "1748649600.000", "1748653200.000", "900", "start=2025-05-31T00:00:00Z end=2025-05-31T01:00:00Z step=15m0s"}},
		"an end before the start": {r: v1alpha1.PrometheusRangeQueryArgs{Start: "now()", End: `now() - duration("1m")`, Step: "1m"}, permanent: true,
			err: "prometheus: rangeQuery ends (2025-06-01T11:59:00Z) before it starts (2025-06-01T12:00:00Z)"},
		"a zero step": {r: v1alpha1.PrometheusRangeQueryArgs{Start: "now()", Step: "0s"}, permanent: true,
			err: `prometheus: rangeQuery.step "0s": give a positive duration such as 1m`},
		"a start that does not compile": {r: v1alpha1.PrometheusRangeQueryArgs{Start: "now() -", Step: "1m"}, permanent: true,
			err: `prometheus: rangeQuery.start "now() -": `},
		"a start that is not a time": {r: v1alpha1.PrometheusRangeQueryArgs{Start: "42", Step: "1m"}, permanent: true,
			err: `prometheus: rangeQuery.start "42" gives int, not a time`},
	} {
		t.Run(name, func(t *testing.T) {
			path, form = "", nil
			r := tc.r
			res, err := p.Measure(context.Background(), nil, &v1alpha1.Metric{Name: "m", Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{
				Address: srv.URL, Query: "latency_ms", RangeQuery: &r}}})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || provider.IsPermanent(err) != tc.permanent {
					t.Fatalf("error %v (permanent %v), want %q (permanent %v)", err, provider.IsPermanent(err), tc.err, tc.permanent)
				}
				if path != "" {
					t.Errorf("a bad range was sent to Prometheus: %v", form)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := sent{Path: path, Meta: res.MetricMetadata["RangeQuery"]}
			if form != nil {
				got.Start, got.End, got.Step = form["start"][0], form["end"][0], form["step"][0]
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("sent (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]float64{1, 2}, res.Value); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRealPrometheus queries a real Prometheus scraping a local exporter.
func TestRealPrometheus(t *testing.T) {
	t.Parallel()
	exp := promtest.NewExporter(t)
	exp.Set(`requests_total{code="200"}`, 95)
	exp.Set(`requests_total{code="500"}`, 5)
	exp.Set(`latency_ms`, 120)
	prom := promtest.Start(t, time.Second, exp.Target())
	prom.WaitForData(t, `requests_total`, 30*time.Second)
	p := New(clock.RealClock{})
	ctx := context.Background()
	run := func(q Query) (any, string) {
		t.Helper()
		q.Address, q.Timeout = prom.URL, 10*time.Second
		res, err := p.Run(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q.Query, err)
		}
		return res.Value, res.Display
	}

	v, d := run(Query{Query: `sum(requests_total{code="200"}) / sum(requests_total)`})
	if d != "[0.95]" || condition.Evaluate("result[0] >= 0.9", "", v).Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("success rate: %v %s", v, d)
	}
	v, d = run(Query{Query: `scalar(latency_ms)`})
	if d != "120" || v != 120.0 {
		t.Errorf("scalar: %#v %s", v, d)
	}
	v, d = run(Query{Query: `requests_total{code="404"}`})
	if d != "[]" {
		t.Errorf("no data: %#v %s", v, d)
	}
	if o := condition.Evaluate("result[0] >= 0", "", v); o.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(o.Reason, "no data") {
		t.Errorf("a condition on no data: %+v", o)
	}
	time.Sleep(2 * time.Second) // a few samples for the range
	v, _ = run(Query{Query: `latency_ms`, Range: &RangeQuery{Start: `now() - duration("30s")`, End: "now()", Step: "1s"}})
	if vals := v.([]float64); len(vals) < 2 || condition.Evaluate("all(result, # < 1000)", "", v).Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("range query: %v", v)
	}
	v, _ = run(Query{Query: `latency_ms[10s]`})
	if vals := v.([]float64); len(vals) < 2 {
		t.Errorf("range selector: %v", v)
	}
	if _, err := p.Run(ctx, Query{Address: prom.URL, Query: `sum(`}); err == nil || !strings.Contains(err.Error(), "bad_data") {
		t.Errorf("a bad query: %v", err)
	}

	prom.Stop()
	_, err := p.Run(ctx, Query{Address: prom.URL, Query: "up", Timeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "is unreachable") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("a Prometheus that is down: %v", err)
	}
}

// TestRealPrometheusRangeQuery runs metrics with rangeQuery against a real Prometheus. The
// provider's clock is pinned to a moment when the series exists, so the samples are exact.
func TestRealPrometheusRangeQuery(t *testing.T) {
	t.Parallel()
	exp := promtest.NewExporter(t)
	exp.Set(`latency_ms`, 120)
	prom := promtest.Start(t, time.Second, exp.Target())
	prom.WaitForData(t, `latency_ms`, 30*time.Second)
	// the series has a sample at or before t0, so every step from t0 on finds 120
	t0 := time.Now()
	time.Sleep(time.Until(t0.Add(2 * time.Second)))
	p := New(clocktesting.NewFakePassiveClock(t0.Add(2 * time.Second)))
	metric := func(r v1alpha1.PrometheusRangeQueryArgs) *v1alpha1.Metric {
		return &v1alpha1.Metric{Name: "latency", SuccessCondition: "all(result, # < 1000)", Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{
			Address: prom.URL, Query: "latency_ms", Timeout: ptr.To[int64](10), RangeQuery: &r}}}
	}
	for name, tc := range map[string]struct {
		r     v1alpha1.PrometheusRangeQueryArgs
		value []float64
		phase v1alpha1.AnalysisPhase
	}{
		"the last 2s at 1s steps": {r: v1alpha1.PrometheusRangeQueryArgs{Start: `now() - duration("2s")`, End: "now()", Step: "1s"}, value: []float64{120, 120, 120}},
		"end defaults to now()":   {r: v1alpha1.PrometheusRangeQueryArgs{Start: `now() - duration("2s")`, Step: "1s"}, value: []float64{120, 120, 120}},
		"half-second steps":       {r: v1alpha1.PrometheusRangeQueryArgs{Start: `now() - duration("2s")`, End: "now()", Step: "500ms"}, value: []float64{120, 120, 120, 120, 120}},
		"a step in seconds":       {r: v1alpha1.PrometheusRangeQueryArgs{Start: `now() - duration("2s")`, End: "now()", Step: "2"}, value: []float64{120, 120}},
		"an hour before any data": {r: v1alpha1.PrometheusRangeQueryArgs{Start: `now() - duration("2h")`, End: `now() - duration("1h")`, Step: "1m"}, value: []float64{}},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := p.Measure(context.Background(), nil, metric(tc.r))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.value, res.Value); diff != "" {
				t.Errorf("samples (-want +got):\n%s", diff)
			}
			if o := condition.Evaluate("all(result, # < 1000)", "", res.Value); o.Phase != v1alpha1.AnalysisPhaseSuccessful {
				t.Errorf("all(result, # < 1000): %+v", o)
			}
		})
	}

	// a sample above the limit within the range fails the condition
	exp.Set(`latency_ms`, 1500)
	prom.WaitForData(t, `latency_ms > 1000`, 30*time.Second)
	p = New(clock.RealClock{})
	res, err := p.Measure(context.Background(), nil, metric(v1alpha1.PrometheusRangeQueryArgs{Start: `now() - duration("30s")`, Step: "1s"}))
	if err != nil {
		t.Fatal(err)
	}
	vals := res.Value.([]float64)
	if !slices.Contains(vals, 120) || !slices.Contains(vals, 1500) {
		t.Errorf("the last 30s should hold both values: %v", vals)
	}
	if o := condition.Evaluate("all(result, # < 1000)", "", res.Value); o.Phase != v1alpha1.AnalysisPhaseFailed {
		t.Errorf("all(result, # < 1000) over %v: %+v", vals, o)
	}
}

// TestRealPrometheusOAuth2 queries a real Prometheus behind a front that wants a token from a
// local OAuth2 token endpoint.
func TestRealPrometheusOAuth2(t *testing.T) {
	t.Parallel()
	const secret = "prom-s3cret"
	exp := promtest.NewExporter(t)
	exp.Set(`requests_total{code="200"}`, 99)
	exp.Set(`requests_total{code="500"}`, 1)
	prom := promtest.Start(t, time.Second, exp.Target())
	prom.WaitForData(t, `requests_total`, 30*time.Second)
	ts := authtest.NewTokenServer(t, "vane", secret, "metrics:read")
	target, err := url.Parse(prom.URL)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(ts.Require(httputil.NewSingleHostReverseProxy(target)))
	defer front.Close()

	p := New(clock.RealClock{})
	metric := func(a v1alpha1.Authentication) *v1alpha1.Metric {
		return &v1alpha1.Metric{Name: "success-rate", Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{
			Address: front.URL, Query: `sum(requests_total{code="200"}) / sum(requests_total)`, Timeout: ptr.To[int64](10), Authentication: a}}}
	}
	good := v1alpha1.OAuth2Config{TokenURL: ts.URL, ClientID: "vane", ClientSecret: secret, Scopes: []string{"metrics:read"}}
	type outcome struct {
		Display string
		Err     string
	}
	for name, tc := range map[string]struct {
		auth v1alpha1.Authentication
		want outcome
	}{
		"a token from the endpoint": {auth: v1alpha1.Authentication{OAuth2: good}, want: outcome{Display: "[0.99]"}},
		"a wrong secret": {auth: v1alpha1.Authentication{OAuth2: func() v1alpha1.OAuth2Config { c := good; c.ClientSecret = "not-" + secret; return c }()},
			want: outcome{Err: `prometheus: authentication.oauth2: the token endpoint ` + ts.URL + ` refused client "vane": HTTP 401 Unauthorized, invalid_client (client authentication failed): check clientId and clientSecret`}},
		"no authentication": {want: outcome{Err: `prometheus: HTTP 401, not an API answer: "a valid bearer token is required"`}},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := p.Measure(context.Background(), nil, metric(tc.auth))
			got := outcome{Display: res.Display}
			if err != nil {
				got.Err = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if strings.Contains(got.Err, secret) || strings.Contains(got.Err, ts.Token) {
				t.Errorf("the error gives the secret or the token away: %s", got.Err)
			}
		})
	}
	// the front saw the issued token (once, from the good metric) and one request without any
	got := ts.Authorizations()
	slices.Sort(got)
	if diff := cmp.Diff([]string{"", "Bearer " + ts.Token}, got); diff != "" {
		t.Errorf("Authorization headers Prometheus' front saw (-want +got):\n%s", diff)
	}
}
