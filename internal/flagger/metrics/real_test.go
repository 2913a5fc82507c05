package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/analysis/provider/prometheus/promtest"
)

// The series the exporter serves. podinfo answers only 2xx, broken only 5xx: their success
// rates are exactly 100 and 0 whatever the scrape timing.
const (
	podinfoOK     = `http_request_duration_seconds_count{kubernetes_namespace="test",kubernetes_pod_name="podinfo-5d8f9c7b6-x2x7z",status="200"}`
	podinfoErrors = `http_request_duration_seconds_count{kubernetes_namespace="test",kubernetes_pod_name="podinfo-5d8f9c7b6-x2x7z",status="503"}`
	brokenOK      = `http_request_duration_seconds_count{kubernetes_namespace="test",kubernetes_pod_name="broken-7c9d8b5f4-q8w2e",status="200"}`
	brokenErrors  = `http_request_duration_seconds_count{kubernetes_namespace="test",kubernetes_pod_name="broken-7c9d8b5f4-q8w2e",status="500"}`
	latency       = `app_latency_ms{namespace="test",app="podinfo",env="prod"}`
)

// recorder is a loopback reverse proxy to a Prometheus that records the queries it forwards.
type recorder struct {
	*httptest.Server
	mu      sync.Mutex
	queries []string
}

func newRecorder(t *testing.T, target string) *recorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.queries = append(r.queries, req.URL.Query().Get("query"))
		r.mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) sent() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.queries...)
}

// startTraffic makes the exporter's request counters grow until the test ends.
func startTraffic(t *testing.T, exp *promtest.Exporter) {
	t.Helper()
	exp.Set(podinfoErrors, 40)
	exp.Set(brokenOK, 1000)
	exp.Set(latency, 250)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for n := 1.0; ; n++ {
			exp.Set(podinfoOK, 5000+10*n)
			exp.Set(brokenErrors, 3000+10*n)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// TestRealPrometheus runs template metrics, built-in metrics and inline queries against a real
// Prometheus scraping a loopback exporter.
func TestRealPrometheus(t *testing.T) {
	exp := promtest.NewExporter(t)
	startTraffic(t, exp)
	prom := promtest.Start(t, time.Second, exp.Target())
	prom.WaitForData(t, `sum(rate(http_request_duration_seconds_count{status=~"200|500"}[1m])) > 0`, 60*time.Second)
	prom.WaitForData(t, `count_over_time(http_request_duration_seconds_count{status="500"}[1m]) > 2`, 60*time.Second)

	t.Run("template", func(t *testing.T) { testRealTemplates(t, prom.URL) })
	t.Run("builtin", func(t *testing.T) { testRealBuiltins(t, prom.URL) })
	t.Run("available", func(t *testing.T) { testRealAvailable(t, prom.URL) })
}

func testRealTemplates(t *testing.T, promURL string) {
	const query = `max(app_latency_ms{namespace="{{ namespace }}", app="{{ target }}", env="{{ variables.env }}"})`
	reader := fakeReader(t,
		metricTemplate("test", "latency", flaggerv1.MetricProvider{Type: "prometheus", Address: promURL}, query),
		metricTemplate("metrics", "latency-auth", flaggerv1.MetricProvider{Type: "prometheus", Address: promURL,
			SecretRef: &flaggerv1.LocalObjectReference{Name: "prom-auth"}}, query),
		secret("metrics", "prom-auth", map[string]string{"token": "s3cr3t-token"}),
	)
	prod := map[string]string{"env": "prod"}
	ref := &flaggerv1.CrossNamespaceObjectReference{Name: "latency"}
	tests := map[string]struct {
		metric flaggerv1.CanaryMetric
		want   string
	}{
		"passes under max": {
			metric: flaggerv1.CanaryMetric{Name: "latency", TemplateRef: ref, TemplateVariables: prod, ThresholdRange: &flaggerv1.ThresholdRange{Max: ptr(500.0)}},
		},
		"passes within range": {
			metric: flaggerv1.CanaryMetric{Name: "latency", TemplateRef: ref, TemplateVariables: prod, ThresholdRange: &flaggerv1.ThresholdRange{Min: ptr(200.0), Max: ptr(250.0)}},
		},
		"fails on max": {
			metric: flaggerv1.CanaryMetric{Name: "latency", TemplateRef: ref, TemplateVariables: prod, ThresholdRange: &flaggerv1.ThresholdRange{Max: ptr(100.0)}},
			want:   "Halt podinfo.test advancement latency 250.00 > 100",
		},
		"fails on min": {
			metric: flaggerv1.CanaryMetric{Name: "latency", TemplateRef: ref, TemplateVariables: prod, ThresholdRange: &flaggerv1.ThresholdRange{Min: ptr(300.5)}},
			want:   "Halt podinfo.test advancement latency 250.00 < 300.5",
		},
		"fails on threshold": {
			metric: flaggerv1.CanaryMetric{Name: "latency", TemplateRef: ref, TemplateVariables: prod, Threshold: ptr(99.0)},
			want:   "Halt podinfo.test advancement latency 250.00 > 99",
		},
		"no data": {
			metric: flaggerv1.CanaryMetric{Name: "latency", TemplateRef: ref, TemplateVariables: map[string]string{"env": "staging"}, Threshold: ptr(1000.0)},
			want:   "Halt advancement no values found for custom metric: latency: no values found",
		},
		"template in another namespace, with a token": {
			metric: flaggerv1.CanaryMetric{Name: "latency", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "latency-auth", Namespace: "metrics"},
				TemplateVariables: prod, ThresholdRange: &flaggerv1.ThresholdRange{Max: ptr(100.0)}},
			want: "Halt podinfo.test advancement latency 250.00 > 100",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := &Checker{Reader: reader, MetricsServer: "http://127.0.0.1:1"}
			got, err := c.Check(context.Background(), testCanary(tc.metric), "kubernetes")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("halt (-want +got):\n%s", diff)
			}
		})
	}
}

// promQL is a built-in query as Flagger sends it, for namespace test.
func promQL(format, name string) string { return fmt.Sprintf(format, name, name) }

const (
	httpSuccessRateQL = ` sum( rate( http_request_duration_seconds_count{ kubernetes_namespace="test", kubernetes_pod_name=~"%s-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)", status!~"5.*" }[1m] ) ) / sum( rate( http_request_duration_seconds_count{ kubernetes_namespace="test", kubernetes_pod_name=~"%s-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)" }[1m] ) ) * 100`
	httpDurationQL    = ` histogram_quantile( 0.99, sum( rate( http_request_duration_seconds_bucket{ kubernetes_namespace="test", kubernetes_pod_name=~"podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)" }[30s] ) ) by (le) )`
	istioSuccessQL    = ` sum( rate( istio_requests_total{ reporter="destination", destination_workload_namespace="test", destination_workload=~"podinfo", response_code!~"5.*" }[1m] ) ) / sum( rate( istio_requests_total{ reporter="destination", destination_workload_namespace="test", destination_workload=~"podinfo" }[1m] ) ) * 100`
	istioDurationQL   = ` histogram_quantile( 0.99, sum( rate( istio_request_duration_milliseconds_bucket{ reporter="destination", destination_workload_namespace="test", destination_workload=~"podinfo" }[1m] ) ) by (le) )`
	nginxSuccessQL    = ` sum( rate( nginx_ingress_controller_requests{ namespace="test", ingress="podinfo-ing", canary!="", status!~"5.*" }[1m] ) ) / sum( rate( nginx_ingress_controller_requests{ namespace="test", ingress="podinfo-ing", canary!="" }[1m] ) ) * 100`
	nginxDurationQL   = ` sum( rate( nginx_ingress_controller_ingress_upstream_latency_seconds_sum{ namespace="test", ingress="podinfo-ing", canary!="" }[1m] ) ) / sum( rate( nginx_ingress_controller_ingress_upstream_latency_seconds_count{ namespace="test", ingress="podinfo-ing", canary!="" }[1m] ) ) * 1000`
)

func testRealBuiltins(t *testing.T, promURL string) {
	successRate := func(tr *flaggerv1.ThresholdRange, threshold *float64) flaggerv1.CanaryMetric {
		return flaggerv1.CanaryMetric{Name: "request-success-rate", ThresholdRange: tr, Threshold: threshold}
	}
	tests := map[string]struct {
		mesh, provider, target string
		ingress                bool
		metrics                []flaggerv1.CanaryMetric
		want                   string
		wantQueries            []string
	}{
		"kubernetes success rate passes": {
			mesh: "kubernetes", target: "podinfo", metrics: []flaggerv1.CanaryMetric{successRate(nil, ptr(99.0))},
			wantQueries: []string{promQL(httpSuccessRateQL, "podinfo")},
		},
		"gatewayapi success rate over max": {
			mesh: "kubernetes", provider: "gatewayapi:v1", target: "podinfo",
			metrics:     []flaggerv1.CanaryMetric{successRate(&flaggerv1.ThresholdRange{Min: ptr(99.0), Max: ptr(99.5)}, nil)},
			want:        "Halt podinfo.test advancement success rate 100.00% > 99.5%",
			wantQueries: []string{promQL(httpSuccessRateQL, "podinfo")},
		},
		"kubernetes success rate under threshold": {
			mesh: "kubernetes", target: "broken", metrics: []flaggerv1.CanaryMetric{successRate(nil, ptr(99.0))},
			want:        "Halt podinfo.test advancement success rate 0.00% < 99%",
			wantQueries: []string{promQL(httpSuccessRateQL, "broken")},
		},
		"kubernetes success rate without traffic": {
			mesh: "kubernetes", target: "idle", metrics: []flaggerv1.CanaryMetric{successRate(nil, ptr(99.0))},
			want:        "Halt advancement no values found for kubernetes metric request-success-rate probably idle.test is not receiving traffic: no values found",
			wantQueries: []string{promQL(httpSuccessRateQL, "idle")},
		},
		"gatewayapi duration without traffic, own interval": {
			mesh: "istio", provider: "gatewayapi:v1beta1", target: "podinfo",
			metrics:     []flaggerv1.CanaryMetric{{Name: "request-duration", Interval: "30s", Threshold: ptr(500.0)}},
			want:        "Halt advancement no values found for gatewayapi:v1beta1 metric request-duration probably podinfo.test is not receiving traffic",
			wantQueries: []string{httpDurationQL},
		},
		"istio, both metrics": {
			mesh: "istio", target: "podinfo", metrics: []flaggerv1.CanaryMetric{{Name: "request-duration", Threshold: ptr(500.0)}, successRate(nil, ptr(99.0))},
			want:        "Halt advancement no values found for istio metric request-duration probably podinfo.test is not receiving traffic",
			wantQueries: []string{istioDurationQL},
		},
		"unknown provider uses istio's queries": {
			mesh: "", provider: "crossover", target: "podinfo", metrics: []flaggerv1.CanaryMetric{successRate(nil, ptr(99.0))},
			want:        "Halt advancement no values found for crossover metric request-success-rate probably podinfo.test is not receiving traffic: running query failed: no values found",
			wantQueries: []string{istioSuccessQL},
		},
		"nginx success rate": {
			mesh: "nginx", target: "podinfo", ingress: true, metrics: []flaggerv1.CanaryMetric{successRate(nil, ptr(99.0))},
			want:        "Halt advancement no values found for nginx metric request-success-rate probably podinfo.test is not receiving traffic: running query failed: no values found",
			wantQueries: []string{nginxSuccessQL},
		},
		"nginx duration": {
			mesh: "istio", provider: "nginx", target: "podinfo", ingress: true, metrics: []flaggerv1.CanaryMetric{{Name: "request-duration", Threshold: ptr(500.0)}},
			want:        "Halt advancement no values found for nginx metric request-duration probably podinfo.test is not receiving traffic",
			wantQueries: []string{nginxDurationQL},
		},
		"inline query over threshold": {
			mesh: "kubernetes", target: "podinfo",
			metrics:     []flaggerv1.CanaryMetric{{Name: "latency", Query: `max(app_latency_ms{namespace="{{ namespace }}"})`, Threshold: ptr(100.0)}},
			want:        "Halt podinfo.test advancement latency 250.00 > 100",
			wantQueries: []string{`max(app_latency_ms{namespace="test"})`},
		},
		"inline query alone is not a usable metric": {
			mesh: "kubernetes", target: "podinfo",
			metrics:     []flaggerv1.CanaryMetric{{Name: "latency", Query: "max(app_latency_ms)\n\t", ThresholdRange: &flaggerv1.ThresholdRange{Max: ptr(300.0)}}},
			want:        "Metric query failed for no usable metrics template were configured",
			wantQueries: []string{`max(app_latency_ms) `},
		},
		"inline query without data": {
			mesh: "kubernetes", target: "podinfo",
			metrics:     []flaggerv1.CanaryMetric{{Name: "latency", Query: `max(app_latency_ms{env="dev"})`}},
			want:        "Halt advancement no values found for metric: latency",
			wantQueries: []string{`max(app_latency_ms{env="dev"})`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rec := newRecorder(t, promURL)
			cd := testCanary(tc.metrics...)
			cd.Spec.Provider = tc.provider
			cd.Spec.TargetRef.Name = tc.target
			if tc.ingress {
				cd.Spec.IngressRef = &flaggerv1.IngressRef{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "podinfo-ing"}
			}
			c := &Checker{Reader: fakeReader(t), MetricsServer: rec.URL}
			got, err := c.Check(context.Background(), cd, tc.mesh)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("halt (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantQueries, rec.sent()); diff != "" {
				t.Errorf("PromQL sent (-want +got):\n%s", diff)
			}
		})
	}
}

func testRealAvailable(t *testing.T, promURL string) {
	reader := fakeReader(t, metricTemplate("test", "latency", flaggerv1.MetricProvider{Type: "prometheus", Address: promURL}, "up"),
		metricTemplate("test", "down", flaggerv1.MetricProvider{Type: "prometheus", Address: "http://127.0.0.1:1"}, "up"))
	builtin := flaggerv1.CanaryMetric{Name: "request-duration"}
	tests := map[string]struct {
		metricsServer, specServer string
		metric                    flaggerv1.CanaryMetric
		want                      string
	}{
		"metrics server online": {metricsServer: promURL, metric: builtin},
		"spec.metricsServer overrides the controller's": {
			metricsServer: "http://127.0.0.1:1", specServer: promURL, metric: builtin,
		},
		"metrics server down": {
			metricsServer: promURL, specServer: "http://127.0.0.1:1", metric: builtin,
			want: `prometheus not avaiable: running query failed: request failed: Get "http://127.0.0.1:1/api/v1/query?query=vector%281%29": dial tcp 127.0.0.1:1: connect: connection refused`,
		},
		"template online": {metricsServer: "http://127.0.0.1:1", metric: flaggerv1.CanaryMetric{Name: "lat", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "latency"}}},
		"template down": {
			metricsServer: promURL, metric: flaggerv1.CanaryMetric{Name: "lat", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "down"}},
			want: `prometheus in metric template down.test not avaiable: running query failed: request failed: Get "http://127.0.0.1:1/api/v1/query?query=vector%281%29": dial tcp 127.0.0.1:1: connect: connection refused`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cd := testCanary(tc.metric)
			cd.Spec.MetricsServer = tc.specServer
			c := &Checker{Reader: reader, MetricsServer: tc.metricsServer}
			got := ""
			if err := c.Available(context.Background(), cd); err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Available (-want +got):\n%s", diff)
			}
		})
	}
}
