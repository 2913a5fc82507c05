package prometheus

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/condition"
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
	m.Provider.Prometheus.Authentication.Sigv4.Region = "eu-west-1"
	if _, err := p.Measure(context.Background(), nil, m); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("sigv4: %v", err)
	}
}

// TestRealPrometheus queries a real Prometheus scraping a local exporter.
func TestRealPrometheus(t *testing.T) {
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
