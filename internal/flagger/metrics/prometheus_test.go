package metrics

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// TestPrometheusAuth checks the Authorization a MetricTemplate's Secret gives its queries.
func TestPrometheusAuth(t *testing.T) {
	tests := map[string]struct {
		data       map[string]string
		noSecret   bool
		wantHeader map[string]string
		want       string
	}{
		"token": {
			data:       map[string]string{"token": "tok-123", "username": "ignored", "password": "ignored"},
			wantHeader: map[string]string{"Authorization": "Bearer tok-123"},
		},
		"basic": {
			data:       map[string]string{"username": "admin", "password": "pa55"},
			wantHeader: map[string]string{"Authorization": "Basic YWRtaW46cGE1NQ=="},
		},
		"empty token sends nothing": {
			data: map[string]string{"token": "", "username": "admin", "password": "pa55"}, wantHeader: map[string]string{},
		},
		"empty password sends nothing": {
			data: map[string]string{"username": "admin", "password": ""}, wantHeader: map[string]string{},
		},
		"no secretRef sends nothing": {noSecret: true, wantHeader: map[string]string{}},
		"no username": {
			data: map[string]string{"password": "hunter2"},
			want: "Metric template prom.test provider prometheus error: prometheus credentials does not contain a username",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			prom := newStandIn(t, 200, vector("1"), "Authorization")
			p := flaggerv1.MetricProvider{Type: "prometheus", Address: prom.URL, SecretRef: &flaggerv1.LocalObjectReference{Name: "creds"}}
			if tc.noSecret {
				p.SecretRef = nil
			}
			reader := fakeReader(t, metricTemplate("test", "prom", p, `sum(up{job="{{ target }}"})`), secret("test", "creds", tc.data))
			c := &Checker{Reader: reader}
			metric := flaggerv1.CanaryMetric{Name: "up", Threshold: ptr(1.0), TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "prom"}}
			got, err := c.Check(context.Background(), testCanary(metric), "kubernetes")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("halt (-want +got):\n%s", diff)
			}
			var want []request
			if tc.wantHeader != nil {
				want = []request{{Method: "GET", Path: "/api/v1/query", Query: map[string][]string{"query": {`sum(up{job="podinfo"})`}}, Header: tc.wantHeader}}
			}
			if diff := cmp.Diff(want, prom.received()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPrometheusInsecure checks insecureSkipVerify against a loopback TLS server with a
// certificate the client does not trust.
func TestPrometheusInsecure(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(vector("1")))
	}))
	t.Cleanup(srv.Close)
	tests := map[string]struct {
		insecure *bool
		client   *http.Client
		want     string
	}{
		"verified":                 {want: "x509: certificate signed by unknown authority"},
		"insecureSkipVerify false": {insecure: ptr(false), want: "x509: certificate signed by unknown authority"},
		"insecureSkipVerify":       {insecure: ptr(true)},
		"insecureSkipVerify with the caller's transport": {
			insecure: ptr(true), client: &http.Client{Transport: &http.Transport{}},
		},
		"insecureSkipVerify with a transport it cannot change": {
			insecure: ptr(true), client: &http.Client{Transport: roundTripper(http.DefaultTransport.RoundTrip)},
			want: "insecureSkipVerify needs an *http.Transport, the controller's client has a metrics.roundTripper",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := flaggerv1.MetricProvider{Type: "prometheus", Address: srv.URL, InsecureSkipVerify: tc.insecure}
			reader := fakeReader(t, metricTemplate("test", "tls", p, "vector(1)"))
			c := &Checker{Reader: reader, Client: tc.client}
			metric := flaggerv1.CanaryMetric{Name: "one", Threshold: ptr(1.0), TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "tls"}}
			got, err := c.Check(context.Background(), testCanary(metric), "kubernetes")
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("halt %q, want one with %q", got, tc.want)
			}
		})
	}
}

var inf = math.Inf(1)

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestPromValue(t *testing.T) {
	tests := map[string]struct {
		body    string
		want    float64
		wantErr string
	}{
		"one sample":             {body: vector("42.5"), want: 42.5},
		"infinity":               {body: vector("+Inf"), want: inf},
		"empty vector":           {body: `{"status":"success","data":{"resultType":"vector","result":[]}}`, wantErr: "no values found"},
		"NaN":                    {body: vector("NaN"), wantErr: "no values found"},
		"a sample without value": {body: `{"data":{"result":[{"value":[1]}]}}`, wantErr: "no values found"},
		"a number, not a string": {body: `{"data":{"result":[{"value":[1,2]}]}}`, wantErr: "no values found"},
		"not a number":           {body: vector("abc"), wantErr: `strconv.ParseFloat: parsing "abc": invalid syntax`},
		"a scalar answer": {
			body:    `{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}`,
			wantErr: `error unmarshaling result: json: cannot unmarshal number into Go struct field .data.result of type struct { Value []interface {} "json:\"value\"" }, '{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}'`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := promValue([]byte(tc.body))
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tc.wantErr, gotErr); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
		})
	}
}
