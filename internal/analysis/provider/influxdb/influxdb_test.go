package influxdb

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/condition"
	"github.com/vanedev/vane/internal/analysis/provider/credentials"
)

const token = "influx-t0ken-QWERTY=="

// flux is the query of Argo's docs.
const flux = `from(bucket: "app_istio")
  |> range(start: -15m)
  |> filter(fn: (r) => r["destination_workload"] == "shop")
  |> filter(fn: (r) => r["_measurement"] == "istio:istio_requests_errors_percentage:rate1m:5xx")`

// table is an annotated CSV answer of /api/v2/query, as InfluxDB's API reference documents it,
// with two tables of double values.
const table = "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string\r\n" +
	"#group,false,false,true,true,false,false,true,true\r\n" +
	"#default,_result,,,,,,,\r\n" +
	",result,table,_start,_stop,_time,_value,_field,_measurement\r\n" +
	",,0,2026-03-01T11:45:00Z,2026-03-01T12:00:00Z,2026-03-01T11:50:00Z,0.004,rate,errors\r\n" +
	",,0,2026-03-01T11:45:00Z,2026-03-01T12:00:00Z,2026-03-01T11:55:00Z,0.006,rate,errors\r\n" +
	",,1,2026-03-01T11:45:00Z,2026-03-01T12:00:00Z,2026-03-01T11:55:00Z,0.02,rate,errors-eu\r\n" +
	"\r\n"

// longs is an answer with one long value.
const longs = "#datatype,string,long,long\r\n#group,false,false,false\r\n#default,_result,,\r\n,result,table,_value\r\n,,0,17\r\n\r\n"

// empty is the answer of a query that matches nothing.
const empty = "\r\n"

// inStream is an error reported in the CSV, after a 200.
const inStream = "#datatype,string,string\r\n#group,true,true\r\n#default,,\r\n,error,reference\r\n,runtime error: division by zero,897\r\n\r\n"

type reply struct {
	status      int
	contentType string
	body        string
	delay       time.Duration
}

// standIn is a loopback InfluxDB /api/v2/query endpoint.
type standIn struct {
	srv     *httptest.Server
	mu      sync.Mutex
	replies []reply
	auth    []string
	orgs    []string
	bodies  []map[string]any
}

func newStandIn(t *testing.T, replies ...reply) *standIn {
	s := &standIn{replies: replies}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v2/query" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s %s %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("body %s", raw)
		}
		s.mu.Lock()
		s.auth, s.orgs, s.bodies = append(s.auth, r.Header.Get("Authorization")), append(s.orgs, r.URL.Query().Get("org")), append(s.bodies, body)
		a := s.replies[min(len(s.auth), len(s.replies))-1]
		s.mu.Unlock()
		if a.delay > 0 {
			select {
			case <-time.After(a.delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", a.contentType)
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func newProvider(s *corev1.Secret) *Provider {
	return New(credentials.Store{Reader: fake.NewClientBuilder().WithObjects(s).Build(), Namespace: "argo-rollouts"})
}

func profile(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "argo-rollouts", Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// TestMeasure checks the query request (org, token, Flux) and the result of the CSV answers,
// through the condition of Argo's docs.
func TestMeasure(t *testing.T) {
	const csv = "text/csv; charset=utf-8"
	for name, tc := range map[string]struct {
		replies      []reply
		timeout      time.Duration
		wantValue    any
		wantDisplay  string
		wantPhase    v1alpha1.AnalysisPhase
		wantErr      string
		wantRequests int
	}{
		"two tables of doubles": {replies: []reply{{200, csv, table, 0}}, wantValue: []any{0.004, 0.006, 0.02}, wantDisplay: "[0.004 0.006 0.02]",
			wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantRequests: 1},
		"a long":                 {replies: []reply{{200, csv, longs, 0}}, wantValue: []any{int64(17)}, wantDisplay: "[17]", wantPhase: v1alpha1.AnalysisPhaseFailed, wantRequests: 1},
		"no records":             {replies: []reply{{200, csv, empty, 0}}, wantErr: "influxdb: no results returned from the Flux query", wantRequests: 1},
		"an error in the stream": {replies: []reply{{200, csv, inStream, 0}}, wantErr: "runtime error: division by zero", wantRequests: 1},
		"a compilation error": {replies: []reply{{400, "application/json", `{"code":"invalid","message":"compilation failed: error at @1:1-1:5: undefined identifier fromm"}`, 0}},
			wantErr: "failed: HTTP 400 Bad Request: invalid compilation failed: error at @1:1-1:5: undefined identifier fromm", wantRequests: 1},
		"a refused token": {replies: []reply{{401, "application/json", `{"code":"unauthorized","message":"unauthorized access"}`, 0}},
			wantErr: "HTTP 401 Unauthorized: unauthorized unauthorized access: check the authToken and org", wantRequests: 1},
		"503 then records": {replies: []reply{{503, "application/json", `{"code":"unavailable","message":"busy"}`, 0}, {200, csv, longs, 0}},
			wantValue: []any{int64(17)}, wantDisplay: "[17]", wantPhase: v1alpha1.AnalysisPhaseFailed, wantRequests: 2},
		"503 every time": {replies: []reply{{503, "application/json", `{"code":"unavailable","message":"busy"}`, 0}}, wantErr: "HTTP 503 Service Unavailable: unavailable busy", wantRequests: 3},
		// the client may give up before a loaded machine has run the stand-in's handler: the
		// requests are not counted
		"a slow answer": {replies: []reply{{200, csv, table, 2 * time.Second}}, timeout: 200 * time.Millisecond, wantErr: "failed: no answer in time", wantRequests: -1},
	} {
		t.Run(name, func(t *testing.T) {
			db := newStandIn(t, tc.replies...)
			p := newProvider(profile("influx-prod", map[string]string{AddressKey: db.srv.URL, TokenKey: token, OrgKey: "acme"}))
			p.Timeout = tc.timeout
			m := &v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Influxdb: &v1alpha1.InfluxdbMetric{Profile: "influx-prod", Query: flux}}}
			res, err := p.Measure(context.Background(), nil, m)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), token)):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			case tc.wantErr == "":
				if diff := cmp.Diff(tc.wantValue, res.Value); diff != "" || res.Display != tc.wantDisplay {
					t.Errorf("value (-want +got):\n%s display %q, want %q", diff, res.Display, tc.wantDisplay)
				}
				if out := condition.Evaluate("result[0] <= 0.01", "", res.Value); out.Phase != tc.wantPhase {
					t.Errorf("phase %s (%s), want %s", out.Phase, out.Reason, tc.wantPhase)
				}
			}
			if tc.wantRequests < 0 {
				return
			}
			if len(db.auth) != tc.wantRequests || db.auth[0] != "Token "+token || db.orgs[0] != "acme" {
				t.Fatalf("%d requests, Authorization %q, org %q", len(db.auth), db.auth, db.orgs)
			}
			if db.bodies[0]["query"] != flux || db.bodies[0]["type"] != "flux" {
				t.Errorf("body %v", db.bodies[0])
			}
		})
	}
}

// TestProfile checks the profile Secret: its name and its keys.
func TestProfile(t *testing.T) {
	for name, tc := range map[string]struct {
		secret  *corev1.Secret
		profile string
		wantErr string
	}{
		"the default profile is influxdb": {secret: profile("influx-prod", nil), wantErr: "influxdb: the Secret argo-rollouts/influxdb does not exist"},
		"no org": {secret: profile("influxdb", map[string]string{AddressKey: "http://influx:8086", TokenKey: token}),
			wantErr: `influxdb: the Secret argo-rollouts/influxdb has no "org"`},
		"an address that is not a URL": {secret: profile("influxdb", map[string]string{AddressKey: "influx:8086", TokenKey: token, OrgKey: "acme"}),
			wantErr: `influxdb: the Secret argo-rollouts/influxdb: address "influx:8086" is not an http:// or https:// URL`},
	} {
		t.Run(name, func(t *testing.T) {
			m := &v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Influxdb: &v1alpha1.InfluxdbMetric{Profile: tc.profile, Query: flux}}}
			_, err := newProvider(tc.secret).Measure(context.Background(), nil, m)
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}
