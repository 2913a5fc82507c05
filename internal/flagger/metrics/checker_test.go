package metrics

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

func TestAvailable(t *testing.T) {
	prom := newStandIn(t, 200, vector("1"))
	reader := fakeReader(t,
		metricTemplate("test", "ok", flaggerv1.MetricProvider{Type: "prometheus", Address: prom.URL}, "up"),
		metricTemplate("shared", "influx", flaggerv1.MetricProvider{Type: "influxdb", Address: "http://influx:8086"}, "q"),
		metricTemplate("test", "no-secret", flaggerv1.MetricProvider{Type: "prometheus", Address: prom.URL, SecretRef: &flaggerv1.LocalObjectReference{Name: "gone"}}, "up"),
	)
	ref := func(ns, name string) *flaggerv1.CrossNamespaceObjectReference {
		return &flaggerv1.CrossNamespaceObjectReference{Namespace: ns, Name: name}
	}
	tests := map[string]struct {
		metrics     []flaggerv1.CanaryMetric
		specServer  string
		promAnswer  string
		want        string
		wantQueries int
	}{
		"builtin and template online": {
			metrics:     []flaggerv1.CanaryMetric{{Name: "request-success-rate"}, {Name: "x", TemplateRef: ref("", "ok")}},
			wantQueries: 2,
		},
		"inline queries are not checked": {metrics: []flaggerv1.CanaryMetric{{Name: "x", Query: "up"}}},
		"template missing": {
			metrics: []flaggerv1.CanaryMetric{{Name: "x", TemplateRef: ref("", "absent")}},
			want:    `metric template absent.test error: metrictemplate.flagger.app "absent" not found`,
		},
		"secret missing": {
			metrics: []flaggerv1.CanaryMetric{{Name: "x", TemplateRef: ref("test", "no-secret")}},
			want:    `metric template no-secret.test secret gone error: secrets "gone" not found`,
		},
		"provider Vane does not support": {
			metrics: []flaggerv1.CanaryMetric{{Name: "x", TemplateRef: ref("shared", "influx")}},
			want:    `metric template influx.shared provider influxdb error: metric provider influxdb is not supported by Vane yet`,
		},
		"bad Canary metrics server": {
			metrics: []flaggerv1.CanaryMetric{{Name: "request-duration"}}, specServer: "http://[::1",
			want: `error building Prometheus client for http://[::1 prometheus address http://[::1 is not a valid URL`,
		},
		"Prometheus answers something else than 1": {
			metrics: []flaggerv1.CanaryMetric{{Name: "request-duration"}}, promAnswer: vector("0"),
			want: `prometheus not avaiable: value is not 1 for query: vector(1)`, wantQueries: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			api := prom
			if tc.promAnswer != "" {
				api = newStandIn(t, 200, tc.promAnswer)
			}
			before := len(api.received())
			cd := testCanary(tc.metrics...)
			cd.Spec.MetricsServer = tc.specServer
			c := &Checker{Reader: reader, MetricsServer: api.URL}
			got := ""
			if err := c.Available(context.Background(), cd); err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantQueries, len(api.received())-before); diff != "" {
				t.Errorf("queries (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCheckOrder checks that the built-in metrics run before the template metrics, whatever
// their order in the Canary, and that a Canary without analysis passes.
func TestCheckOrder(t *testing.T) {
	builtinAPI := newStandIn(t, 200, vector("50"))
	templateAPI := newStandIn(t, 200, vector("50"))
	reader := fakeReader(t, metricTemplate("test", "t", flaggerv1.MetricProvider{Address: templateAPI.URL}, "tq"))
	tmpl := flaggerv1.CanaryMetric{Name: "tm", Threshold: ptr(10.0), TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "t"}}
	tests := map[string]struct {
		cd                        *flaggerv1.Canary
		want                      string
		wantBuiltin, wantTemplate int
	}{
		"no analysis": {cd: &flaggerv1.Canary{}},
		"builtin fails first though listed last": {
			cd:   testCanary(tmpl, flaggerv1.CanaryMetric{Name: "request-success-rate", Threshold: ptr(99.0)}),
			want: "Halt podinfo.test advancement success rate 50.00% < 99%", wantBuiltin: 1,
		},
		"template runs when builtins pass (provider type empty is prometheus)": {
			cd:   testCanary(tmpl, flaggerv1.CanaryMetric{Name: "request-success-rate", Threshold: ptr(10.0)}),
			want: "Halt podinfo.test advancement tm 50.00 > 10", wantBuiltin: 1, wantTemplate: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b, tm := len(builtinAPI.received()), len(templateAPI.received())
			c := &Checker{Reader: reader, MetricsServer: builtinAPI.URL}
			got, err := c.Check(context.Background(), tc.cd, "")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("halt (-want +got):\n%s", diff)
			}
			gotCounts := [2]int{len(builtinAPI.received()) - b, len(templateAPI.received()) - tm}
			if diff := cmp.Diff([2]int{tc.wantBuiltin, tc.wantTemplate}, gotCounts); diff != "" {
				t.Errorf("queries to the metrics server and the template's (-want +got):\n%s", diff)
			}
		})
	}
}
