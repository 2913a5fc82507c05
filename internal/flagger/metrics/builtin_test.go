package metrics

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

func TestMetricsProviderFor(t *testing.T) {
	tests := map[string]struct {
		mesh, spec, kind string
		want             string
		wantQueries      string
	}{
		"controller's provider":                       {mesh: "kubernetes", kind: "Deployment", want: "kubernetes", wantQueries: "http"},
		"Canary's provider overrides":                 {mesh: "istio", spec: "nginx", kind: "Deployment", want: "nginx", wantQueries: "nginx"},
		"gatewayapi with a version":                   {mesh: "istio", spec: "gatewayapi:v1", kind: "DaemonSet", want: "gatewayapi:v1", wantQueries: "http"},
		"linkerd controller keeps linkerd":            {mesh: "linkerd", spec: "nginx", kind: "Deployment", want: "linkerd"},
		"crossover controller":                        {mesh: "smi:crossover", kind: "Deployment", want: "crossover", wantQueries: "istio"},
		"Service target":                              {mesh: "istio", kind: "Service", want: "istio:service", wantQueries: "istio"},
		"kubernetes Service target is not kubernetes": {mesh: "kubernetes", kind: "Service", want: "kubernetes:service", wantQueries: "istio"},
		"gatewayapi Service target":                   {mesh: "gatewayapi:v1", kind: "Service", want: "gatewayapi:v1:service", wantQueries: "http"},
		"appmesh with a version":                      {mesh: "appmesh:v1beta2", kind: "Deployment", want: "appmesh:v1beta2"},
		"gloo":                                        {mesh: "istio", spec: "gloo", kind: "Deployment", want: "gloo"},
		"unknown provider":                            {mesh: "custom", kind: "Deployment", want: "custom", wantQueries: "istio"},
	}
	names := map[string]observer{"http": httpObserver, "istio": istioObserver, "nginx": nginxObserver}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cd := testCanary()
			cd.Spec.Provider, cd.Spec.TargetRef.Kind = tc.spec, tc.kind
			got := metricsProviderFor(cd, tc.mesh)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("provider (-want +got):\n%s", diff)
			}
			ob, ok := observerFor(got)
			gotQueries := ""
			for n, o := range names {
				if ok && o == ob {
					gotQueries = n
				}
			}
			if diff := cmp.Diff(tc.wantQueries, gotQueries); diff != "" {
				t.Errorf("queries (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuiltinAnswers checks how built-in metrics read Prometheus' answers and errors, against a
// loopback stand-in.
func TestBuiltinAnswers(t *testing.T) {
	duration := flaggerv1.CanaryMetric{Name: "request-duration", Threshold: ptr(100.0)}
	successRate := flaggerv1.CanaryMetric{Name: "request-success-rate", Threshold: ptr(99.0)}
	tests := map[string]struct {
		mesh, body string
		status     int
		metric     flaggerv1.CanaryMetric
		want       string
	}{
		"kubernetes duration is in seconds": {
			mesh: "kubernetes", status: 200, body: vector("0.1234"), metric: duration,
			want: "Halt podinfo.test advancement request duration 123ms > 100ms",
		},
		"istio duration is in ms": {
			mesh: "istio", status: 200, body: vector("123.9"), metric: duration,
			want: "Halt podinfo.test advancement request duration 123ms > 100ms",
		},
		"nginx duration is in ms": {
			mesh: "nginx", status: 200, body: vector("99.99"), metric: duration,
		},
		"the last sample counts": {
			mesh: "istio", status: 200, metric: successRate,
			body: `{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"99.5"]},{"value":[1,"12.345"]}]}}`,
			want: "Halt podinfo.test advancement success rate 12.35% < 99%",
		},
		"NaN is no data": {
			mesh: "istio", status: 200, body: vector("NaN"), metric: successRate,
			want: "Halt advancement no values found for istio metric request-success-rate probably podinfo.test is not receiving traffic: running query failed: no values found",
		},
		"a matrix is no data": {
			mesh: "nginx", status: 200, metric: duration,
			body: `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"5"]]}]}}`,
			want: "Halt advancement no values found for nginx metric request-duration probably podinfo.test is not receiving traffic",
		},
		"error answer, HTTP observer": {
			mesh: "gatewayapi", status: 422, body: `{"status":"error","errorType":"execution","error":"boom"}`, metric: successRate,
			want: `Prometheus query failed: error response: {"status":"error","errorType":"execution","error":"boom"}`,
		},
		"error answer, istio observer": {
			mesh: "istio", status: 503, body: `unavailable`, metric: duration,
			want: `Prometheus query failed: running query failed: error response: unavailable`,
		},
		"answer that is not JSON": {
			mesh: "istio", status: 200, body: `<html>`, metric: successRate,
			want: `Prometheus query failed: running query failed: error unmarshaling result: invalid character '<' looking for beginning of value, '<html>'`,
		},
		"provider Vane does not route": {
			mesh: "linkerd", status: 200, body: vector("100"), metric: successRate,
			want: "Halt advancement linkerd metric request-success-rate is not supported by Vane yet",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			prom := newStandIn(t, tc.status, tc.body)
			c := &Checker{Reader: fakeReader(t), MetricsServer: prom.URL}
			got, err := c.Check(context.Background(), testCanary(tc.metric), tc.mesh)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("halt (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMetricsServer(t *testing.T) {
	prom := newStandIn(t, 200, vector("100"))
	metric := flaggerv1.CanaryMetric{Name: "request-success-rate", Threshold: ptr(99.0)}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := map[string]struct {
		ctx                       context.Context
		metricsServer, specServer string
		want, wantErr             string
		wantPath                  string
	}{
		"Canary's metrics server with a path": {
			ctx: context.Background(), metricsServer: "http://127.0.0.1:1", specServer: prom.URL + "/prom/",
			wantPath: "/prom/api/v1/query",
		},
		"controller's": {ctx: context.Background(), metricsServer: prom.URL, wantPath: "/api/v1/query"},
		"bad Canary metrics server": {
			ctx: context.Background(), metricsServer: prom.URL, specServer: "http://[::1",
			want: "Error building Prometheus client for http://[::1 prometheus address http://[::1 is not a valid URL",
		},
		"bad controller metrics server is Vane's error": {
			ctx: context.Background(), metricsServer: "http://[::1",
			wantErr: "the controller's metrics server: prometheus address http://[::1 is not a valid URL",
		},
		"canceled context is not a failed check": {
			ctx: canceled, metricsServer: prom.URL,
			wantErr: "metric checks of Canary test/podinfo: context canceled",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := len(prom.received())
			cd := testCanary(metric)
			cd.Spec.MetricsServer = tc.specServer
			c := &Checker{Reader: fakeReader(t), MetricsServer: tc.metricsServer}
			got, err := c.Check(tc.ctx, cd, "istio")
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tc.wantErr, gotErr); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("halt (-want +got):\n%s", diff)
			}
			gotPath := ""
			if reqs := prom.received(); len(reqs) > before {
				gotPath = reqs[len(reqs)-1].Path
			}
			if diff := cmp.Diff(tc.wantPath, gotPath); diff != "" {
				t.Errorf("path (-want +got):\n%s", diff)
			}
		})
	}
}
