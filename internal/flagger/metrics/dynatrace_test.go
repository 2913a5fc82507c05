package metrics

import (
	"context"
	"testing"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// TestDynatrace runs MetricTemplates of type dynatrace against a stand-in of Dynatrace's
// Metrics API v2 (GET /api/v2/metrics/query over ten metric intervals in milliseconds at
// resolution Inf, GET /api/v2/metrics?pageSize=1 for availability, the token in the
// Authorization header as "Api-Token <token>").
func TestDynatrace(t *testing.T) {
	creds := map[string]string{"dynatrace_token": "dt0c01.ABC.SECRET"}
	auth := map[string]string{"Authorization": "Api-Token dt0c01.ABC.SECRET"}
	query := func(from string) []request {
		return []request{{Method: "GET", Path: "/api/v2/metrics/query", Header: auth, Query: map[string][]string{
			"metricSelector": {"sum:errors{service:podinfo}"}, "resolution": {"Inf"}, "from": {from}, "to": {"1700000000000"},
		}}}
	}
	answer := func(data string) string {
		return `{"totalCount":1,"nextPageKey":null,"resolution":"Inf","result":[{"metricId":"builtin:service.errors.total.count","dataPointCountRatio":1.0E-6,"dimensionCountRatio":1.0E-5,"data":[` + data + `]}]}`
	}
	tests := map[string]saasCase{
		"passes, ten intervals back": {
			status: 200, interval: "1m", creds: creds, body: answer(`{"dimensions":[],"dimensionMap":{},"timestamps":[1700000000000],"values":[0.5]}`),
			wantRequests: query("1699999400000"),
		},
		"the last series over threshold": {
			status: 200, interval: "30s", creds: creds,
			body: answer(`{"dimensions":["SERVICE-1"],"dimensionMap":{"dt.entity.service":"SERVICE-1"},"timestamps":[1700000000000],"values":[0.2]},` +
				`{"dimensions":["SERVICE-2"],"dimensionMap":{"dt.entity.service":"SERVICE-2"},"timestamps":[1700000000000],"values":[4.25]}`),
			want: "Halt podinfo.test advancement errors 4.25 > 1", wantRequests: query("1699999700000"),
		},
		"a gap reads as 0": {
			status: 200, interval: "1m", creds: creds, body: answer(`{"dimensions":[],"dimensionMap":{},"timestamps":[1700000000000],"values":[null]}`),
			wantRequests: query("1699999400000"),
		},
		"no series": {
			status: 200, interval: "1m", creds: creds, body: `{"totalCount":0,"result":[{"metricId":"m","data":[]}]}`,
			want:         `Halt advancement no values found for custom metric: errors: invalid response: {"totalCount":0,"result":[{"metricId":"m","data":[]}]}: no values found`,
			wantRequests: query("1699999400000"),
		},
		"a malformed answer": {
			status: 200, interval: "1m", creds: creds, body: `{"result":"x"}`,
			want:         `Metric query failed for errors: error unmarshaling result: json: cannot unmarshal string into Go struct field Answer.result of type []dynatrace.Collection, '{"result":"x"}'`,
			wantRequests: query("1699999400000"),
		},
		"a refused token": {
			status: 401, interval: "1m", creds: creds, body: `{"error":{"code":401,"message":"Token Authentication failed"}}`,
			want:         `Metric query failed for errors: error response: {"error":{"code":401,"message":"Token Authentication failed"}}`,
			wantRequests: query("1699999400000"),
		},
		"no token": {
			status: 200, interval: "1m", creds: map[string]string{"api-token": "x"},
			want: "Metric template saas.test provider dynatrace error: dynatrace credentials does not contain dynatrace_token",
		},
		"no interval": {
			status: 200, creds: creds,
			want: `Metric template saas.test provider dynatrace error: error parsing metric interval: time: invalid duration ""`,
		},
		"available": {
			status: 200, interval: "1m", creds: creds, body: `{"totalCount":2000,"nextPageKey":"AQ","metrics":[{"metricId":"builtin:apps.other.apdex.osAndGeo"}]}`, available: true,
			wantRequests: []request{{Method: "GET", Path: "/api/v2/metrics", Header: auth, Query: map[string][]string{"pageSize": {"1"}}}},
		},
		"not available": {
			status: 403, interval: "1m", creds: creds, body: `{"error":{"code":403,"message":"Token is missing required scope."}}`, available: true,
			want:         `dynatrace in metric template saas.test not avaiable: error response: {"error":{"code":403,"message":"Token is missing required scope."}}`,
			wantRequests: []request{{Method: "GET", Path: "/api/v2/metrics", Header: auth, Query: map[string][]string{"pageSize": {"1"}}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) { runSaaSCase(t, "dynatrace", tc, "Authorization") })
	}
}

// TestDynatraceNoAddress: Dynatrace has no default address, as in Flagger.
func TestDynatraceNoAddress(t *testing.T) {
	p := flaggerv1.MetricProvider{Type: "dynatrace", SecretRef: &flaggerv1.LocalObjectReference{Name: "creds"}}
	reader := fakeReader(t, metricTemplate("test", "dt", p, "builtin:service.errors.total.count"),
		secret("test", "creds", map[string]string{"dynatrace_token": "dt0c01.ABC.SECRET"}))
	metric := flaggerv1.CanaryMetric{Name: "errors", Interval: "1m", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "dt"}}
	got, err := (&Checker{Reader: reader}).Check(context.Background(), testCanary(metric), "kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Metric template dt.test provider dynatrace error: dynatrace endpoint is not set"; got != want {
		t.Errorf("halt %q, want %q", got, want)
	}
}
