package metrics

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

func TestRender(t *testing.T) {
	full := testCanary()
	full.Spec.Service.Name = "podinfo-svc"
	full.Spec.IngressRef = &flaggerv1.IngressRef{Name: "podinfo-ing"}
	full.Spec.RouteRef = &flaggerv1.RouteRef{Name: "podinfo-route"}
	full.Spec.TargetRef.Name = "podinfo-app"
	tests := map[string]struct {
		cd        *flaggerv1.Canary
		interval  string
		variables map[string]string
		query     string
		want      string
		wantErr   string
	}{
		"every variable": {
			cd: full, interval: "2m", variables: map[string]string{"code": "5.*"},
			query: `{{ name }} {{ namespace }} {{ target }} {{ service }} {{ ingress }} {{ route }} [{{ interval }}] {{ variables.code }}`,
			want:  `podinfo test podinfo-app podinfo-svc podinfo-ing podinfo-route [2m] 5.*`,
		},
		"service, ingress and route default to the target": {
			cd: testCanary(), interval: "1m", query: `{{ service }}/{{ ingress }}/{{ route }}`,
			want: `podinfo/podinfo/podinfo`,
		},
		"no interval renders empty": {
			cd: testCanary(), query: `rate(x[{{ interval }}])`, want: `rate(x[])`,
		},
		"text without actions is kept, whitespace too": {
			cd: testCanary(), query: "sum(\n\trate(x[5m])\n)", want: "sum(\n\trate(x[5m])\n)",
		},
		"a missing variable": {
			cd: testCanary(), variables: map[string]string{"other": "x"}, query: `{{ variables.code }}`,
			wantErr: `template excution failed: template: tmpl:1:3: executing "tmpl" at <variables>: map has no entry for key "code"`,
		},
		"no variables at all": {
			cd: testCanary(), query: `x{a="{{ variables.code }}"}`,
			wantErr: `template excution failed: template: tmpl:1:8: executing "tmpl" at <variables>: map has no entry for key "code"`,
		},
		"an unknown function": {
			cd: testCanary(), query: `{{ pod }}`,
			wantErr: `template parsing failed: template: tmpl:1: function "pod" not defined`,
		},
		"a syntax error": {
			cd: testCanary(), query: `{{ namespace `,
			wantErr: `template parsing failed: template: tmpl:1: unclosed action`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := render(tc.query, modelFor(tc.cd, tc.interval, tc.variables))
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tc.wantErr, gotErr); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
		})
	}
}

// failingReader fails every read as an API server that cannot be reached.
type failingReader struct{ client.Reader }

func (failingReader) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return errors.New("connection refused")
}

// TestTemplateHalts covers the failures of a MetricTemplate metric that come before its query.
func TestTemplateHalts(t *testing.T) {
	prom := newStandIn(t, 200, vector("1"))
	withSecret := func(p flaggerv1.MetricProvider, name string) flaggerv1.MetricProvider {
		p.SecretRef = &flaggerv1.LocalObjectReference{Name: name}
		return p
	}
	reader := fakeReader(t,
		metricTemplate("test", "no-secret", withSecret(flaggerv1.MetricProvider{Type: "prometheus", Address: prom.URL}, "absent"), "up"),
		metricTemplate("test", "cloudwatch", flaggerv1.MetricProvider{Type: "cloudwatch", Region: "eu-west-1"}, "[]"),
		metricTemplate("test", "bad-address", flaggerv1.MetricProvider{Type: "prometheus"}, "up"),
		metricTemplate("test", "bad-query", flaggerv1.MetricProvider{Type: "prometheus", Address: prom.URL}, "{{ pod }}"),
		metricTemplate("test", "no-password", withSecret(flaggerv1.MetricProvider{Type: "prometheus", Address: prom.URL}, "creds"), "up"),
		secret("test", "creds", map[string]string{"username": "admin-user-7"}),
	)
	ref := func(name string) *flaggerv1.CrossNamespaceObjectReference {
		return &flaggerv1.CrossNamespaceObjectReference{Name: name}
	}
	tests := map[string]struct {
		reader  client.Reader
		metric  flaggerv1.CanaryMetric
		want    string
		wantErr string
	}{
		"template missing": {
			metric: flaggerv1.CanaryMetric{Name: "m", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "absent", Namespace: "other"}},
			want:   `Metric template absent.other error: metrictemplate.flagger.app "absent" not found`,
		},
		"secret missing": {
			metric: flaggerv1.CanaryMetric{Name: "m", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "no-secret", Namespace: "test"}},
			want:   `Metric template no-secret.test secret absent error: secrets "absent" not found`,
		},
		"provider Vane does not support": {
			metric: flaggerv1.CanaryMetric{Name: "m", Interval: "1m", TemplateRef: ref("cloudwatch")},
			want:   `Metric template cloudwatch.test provider cloudwatch error: metric provider cloudwatch is not supported by Vane yet`,
		},
		"provider without address": {
			metric: flaggerv1.CanaryMetric{Name: "m", TemplateRef: ref("bad-address")},
			want:   `Metric template bad-address.test provider prometheus error: prometheus address  is not a valid URL`,
		},
		"credentials without password (the username is not shown)": {
			metric: flaggerv1.CanaryMetric{Name: "m", TemplateRef: ref("no-password")},
			want:   `Metric template no-password.test provider prometheus error: prometheus credentials does not contain a password`,
		},
		"query that does not render": {
			metric: flaggerv1.CanaryMetric{Name: "m", TemplateRef: ref("bad-query")},
			want:   `Metric template bad-query.test query render error: template parsing failed: template: tmpl:1: function "pod" not defined`,
		},
		"API server unreachable is Vane's error": {
			reader:  failingReader{},
			metric:  flaggerv1.CanaryMetric{Name: "m", TemplateRef: ref("no-secret")},
			wantErr: `reading MetricTemplate test/no-secret: connection refused`,
		},
		"a metric neither built in nor with a template": {
			metric: flaggerv1.CanaryMetric{Name: "error-rate", Threshold: ptr(1.0)},
			want:   `Metric query failed for no usable metrics template were configured`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := &Checker{Reader: reader, MetricsServer: prom.URL}
			if tc.reader != nil {
				c.Reader = tc.reader
			}
			got, err := c.Check(context.Background(), testCanary(tc.metric), "kubernetes")
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
		})
	}
	if n := len(prom.received()); n != 0 {
		t.Errorf("%d queries sent, want none", n)
	}
}
