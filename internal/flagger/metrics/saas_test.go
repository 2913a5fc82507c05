package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// saasCase is one check of a MetricTemplate on a SaaS provider's loopback stand-in.
type saasCase struct {
	status       int
	body         string
	interval     string
	creds        map[string]string
	available    bool
	want         string
	wantRequests []request
}

func runSaaSCase(t *testing.T, typ string, tc saasCase, headers ...string) {
	t.Helper()
	api := newStandIn(t, tc.status, tc.body, headers...)
	p := flaggerv1.MetricProvider{Type: typ, Address: api.URL, SecretRef: &flaggerv1.LocalObjectReference{Name: "creds"}}
	reader := fakeReader(t, metricTemplate("test", "saas", p, `sum:errors{service:{{ target }}}`), secret("test", "creds", tc.creds))
	c := &Checker{Reader: reader, Clock: clocktesting.NewFakePassiveClock(time.Unix(1700000000, 0))}
	metric := flaggerv1.CanaryMetric{Name: "errors", Interval: tc.interval, Threshold: ptr(1.0), TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "saas"}}
	var got string
	if tc.available {
		if err := c.Available(context.Background(), testCanary(metric)); err != nil {
			got = err.Error()
		}
	} else {
		var err error
		if got, err = c.Check(context.Background(), testCanary(metric), "kubernetes"); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(tc.want, got); diff != "" {
		t.Errorf("halt (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(tc.wantRequests, api.received()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestDatadog runs MetricTemplates of type datadog against a stand-in of Datadog's API
// (GET /api/v1/query, GET /api/v1/validate, keys in the DD-API-KEY and DD-APPLICATION-KEY headers).
func TestDatadog(t *testing.T) {
	creds := map[string]string{"datadog_api_key": "api-k", "datadog_application_key": "app-k"}
	keys := map[string]string{"DD-API-KEY": "api-k", "DD-APPLICATION-KEY": "app-k"}
	query := func(from string) []request {
		return []request{{Method: "GET", Path: "/api/v1/query", Header: keys, Query: map[string][]string{
			"query": {"sum:errors{service:podinfo}"}, "from": {from}, "to": {"1700000000"},
		}}}
	}
	series := func(points string) string {
		return `{"status":"ok","res_type":"time_series","series":[{"metric":"errors","pointlist":` + points + `}],"query":"sum:errors{service:podinfo}"}`
	}
	tests := map[string]saasCase{
		"passes, ten intervals back": {
			status: 200, interval: "1m", creds: creds, body: series(`[[1699999400000.0,7.0],[1699999940000.0,0.5]]`),
			wantRequests: query("1699999400"),
		},
		"the last point over threshold": {
			status: 200, interval: "30s", creds: creds, body: series(`[[1699999700000.0,0.1],[1699999970000.0,2.5]]`),
			want: "Halt podinfo.test advancement errors 2.50 > 1", wantRequests: query("1699999700"),
		},
		"no series": {
			status: 200, interval: "1m", creds: creds, body: `{"status":"ok","series":[]}`,
			want:         `Halt advancement no values found for custom metric: errors: invalid response: {"status":"ok","series":[]}: no values found`,
			wantRequests: query("1699999400"),
		},
		"forbidden": {
			status: 403, interval: "1m", creds: creds, body: `{"errors":["Forbidden"]}`,
			want: `Metric query failed for errors: error response: {"errors":["Forbidden"]}`, wantRequests: query("1699999400"),
		},
		"no interval": {
			status: 200, creds: creds,
			want: `Metric template saas.test provider datadog error: error parsing metric interval: time: invalid duration ""`,
		},
		"no application key": {
			status: 200, interval: "1m", creds: map[string]string{"datadog_api_key": "api-k"},
			want: "Metric template saas.test provider datadog error: datadog credentials does not contain datadog_application_key",
		},
		"available": {
			status: 200, interval: "1m", creds: creds, body: `{"valid":true}`, available: true,
			wantRequests: []request{{Method: "GET", Path: "/api/v1/validate", Header: keys, Query: map[string][]string{}}},
		},
		"not available": {
			status: 403, interval: "1m", creds: creds, body: `{"errors":["Forbidden"]}`, available: true,
			want:         `datadog in metric template saas.test not avaiable: error response: {"errors":["Forbidden"]}`,
			wantRequests: []request{{Method: "GET", Path: "/api/v1/validate", Header: keys, Query: map[string][]string{}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) { runSaaSCase(t, "datadog", tc, "DD-API-KEY", "DD-APPLICATION-KEY") })
	}
}

// TestNewRelic runs MetricTemplates of type newrelic against a stand-in of New Relic's Insights
// query API (GET /v1/accounts/ID/query?nrql=..., key in the X-Query-Key header).
func TestNewRelic(t *testing.T) {
	creds := map[string]string{"newrelic_account_id": "100200", "newrelic_query_key": "nrq-key"}
	nrql := func(q string) []request {
		return []request{{Method: "GET", Path: "/v1/accounts/100200/query", Header: map[string]string{"X-Query-Key": "nrq-key"},
			Query: map[string][]string{"nrql": {q}}}}
	}
	tests := map[string]saasCase{
		"passes": {
			status: 200, interval: "1m", creds: creds, body: `{"results":[{"result":0.25}]}`,
			wantRequests: nrql("sum:errors{service:podinfo} SINCE 60 seconds ago"),
		},
		"over threshold": {
			status: 200, interval: "5m", creds: creds, body: `{"results":[{"result":3.5}]}`,
			want: "Halt podinfo.test advancement errors 3.50 > 1", wantRequests: nrql("sum:errors{service:podinfo} SINCE 300 seconds ago"),
		},
		"null result": {
			status: 200, interval: "1m", creds: creds, body: `{"results":[{"result":null}]}`,
			want:         `Halt advancement no values found for custom metric: errors: invalid response: {"results":[{"result":null}]}: no values found`,
			wantRequests: nrql("sum:errors{service:podinfo} SINCE 60 seconds ago"),
		},
		"unauthorized": {
			status: 401, interval: "1m", creds: creds, body: `{"error":"Invalid query key"}`,
			want: `Metric query failed for errors: error response: {"error":"Invalid query key"}`, wantRequests: nrql("sum:errors{service:podinfo} SINCE 60 seconds ago"),
		},
		"no account": {
			status: 200, interval: "1m", creds: map[string]string{"newrelic_query_key": "nrq-key"},
			want: "Metric template saas.test provider newrelic error: newrelic credentials does not contain the key 'newrelic_account_id'",
		},
		"available": {
			status: 200, interval: "1m", creds: creds, body: `{"results":[{"events":[]}]}`, available: true,
			wantRequests: nrql("SELECT * FROM Metric SINCE 60 seconds ago"),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) { runSaaSCase(t, "newrelic", tc, "X-Query-Key") })
	}
}

// TestNewRelicUnreachable checks that the account ID, which comes from the Secret, is not in
// the message of a request that fails.
func TestNewRelicUnreachable(t *testing.T) {
	p := flaggerv1.MetricProvider{Type: "newrelic", Address: "http://127.0.0.1:1", SecretRef: &flaggerv1.LocalObjectReference{Name: "creds"}}
	reader := fakeReader(t, metricTemplate("test", "nr", p, "SELECT count(*) FROM Transaction"),
		secret("test", "creds", map[string]string{"newrelic_account_id": "987654", "newrelic_query_key": "nrq-key"}))
	c := &Checker{Reader: reader}
	metric := flaggerv1.CanaryMetric{Name: "errors", Interval: "1m", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "nr"}}
	got, err := c.Check(context.Background(), testCanary(metric), "kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	want := `Metric query failed for errors: request failed: Get "http://127.0.0.1:1/v1/accounts/ACCOUNT/query?nrql=SELECT+count%28%2A%29+FROM+Transaction+SINCE+60+seconds+ago": dial tcp 127.0.0.1:1: connect: connection refused`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("halt (-want +got):\n%s", diff)
	}
}
