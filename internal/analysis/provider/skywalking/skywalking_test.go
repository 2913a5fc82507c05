package skywalking

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
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/condition"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// query is the example of Argo's docs.
const query = `query queryData($duration: Duration!) {
  service_apdex: readMetricsValues(
    condition: { name: "service_apdex", entity: { scope: Service, serviceName: "shop", normal: true } },
    duration: $duration) {
      label values { values { value } }
    }
}`

type reply struct {
	status int
	body   string
	delay  time.Duration
}

// standIn is a loopback OAP GraphQL endpoint.
type standIn struct {
	srv     *httptest.Server
	mu      sync.Mutex
	replies []reply
	bodies  []map[string]any
}

func newStandIn(t *testing.T, replies ...reply) *standIn {
	s := &standIn{replies: replies}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/graphql" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("request %s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		var body map[string]any
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("body %s", raw)
		}
		s.mu.Lock()
		s.bodies = append(s.bodies, body)
		a := s.replies[min(len(s.bodies), len(s.replies))-1]
		s.mu.Unlock()
		if a.delay > 0 {
			select {
			case <-time.After(a.delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// TestMeasure checks the GraphQL request (the query and the $duration of the last 3 minutes)
// and the result of the answers OAP gives, through the condition of Argo's docs.
func TestMeasure(t *testing.T) {
	const apdex = `{"data":{"service_apdex":{"label":null,"values":{"values":[{"value":9950},{"value":%d}]}}}}`
	const cond = "all(result.service_apdex.values.values, {asFloat(.value) >= 9900})"
	for name, tc := range map[string]struct {
		replies      []reply
		timeout      time.Duration
		wantPhase    v1alpha1.AnalysisPhase
		wantErr      string
		wantRequests int
	}{
		"healthy":        {replies: []reply{{200, strings.Replace(apdex, "%d", "9990", 1), 0}}, wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantRequests: 1},
		"one bad minute": {replies: []reply{{200, strings.Replace(apdex, "%d", "8000", 1), 0}}, wantPhase: v1alpha1.AnalysisPhaseFailed, wantRequests: 1},
		"GraphQL errors": {replies: []reply{{200, `{"data":null,"errors":[{"message":"Validation error of type FieldUndefined"}]}`, 0}}, wantErr: "skywalking: the query failed: Validation error of type FieldUndefined", wantRequests: 1},
		"no data":        {replies: []reply{{200, `{"data":null}`, 0}}, wantErr: "skywalking: no results returned", wantRequests: 1},
		"not GraphQL":    {replies: []reply{{200, `<html></html>`, 0}}, wantErr: "skywalking: the answer is not a GraphQL answer", wantRequests: 1},
		"a 500 page":     {replies: []reply{{500, `oops`, 0}}, wantErr: `answered 500 Internal Server Error: "oops"`, wantRequests: 1},
		"503 then data":  {replies: []reply{{503, `busy`, 0}, {200, strings.Replace(apdex, "%d", "9990", 1), 0}}, wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantRequests: 2},
		// the client may give up before a loaded machine has run the stand-in's handler: the
		// requests are not counted
		"a slow answer": {replies: []reply{{200, `{}`, 2 * time.Second}}, timeout: 200 * time.Millisecond, wantErr: "skywalking: no answer from", wantRequests: -1},
	} {
		t.Run(name, func(t *testing.T) {
			api := newStandIn(t, tc.replies...)
			p := New(clocktesting.NewFakePassiveClock(now))
			p.Timeout = tc.timeout
			m := &v1alpha1.Metric{Provider: v1alpha1.MetricProvider{SkyWalking: &v1alpha1.SkyWalkingMetric{
				Address: api.srv.URL + "/", Query: query, Interval: v1alpha1.DurationPtr(v1alpha1.DurationFromString("3m"))}}}
			res, err := p.Measure(context.Background(), nil, m)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			case tc.wantErr == "":
				if out := condition.Evaluate(cond, "", res.Value); out.Phase != tc.wantPhase {
					t.Errorf("phase %s (%s), want %s; display %s", out.Phase, out.Reason, tc.wantPhase, res.Display)
				}
			}
			if tc.wantRequests < 0 {
				return
			}
			if len(api.bodies) != tc.wantRequests {
				t.Fatalf("%d requests, want %d", len(api.bodies), tc.wantRequests)
			}
			want := map[string]any{"query": query, "variables": map[string]any{
				"duration": map[string]any{"start": "2026-03-01 1157", "end": "2026-03-01 1200", "step": "MINUTE"}}}
			if diff := cmp.Diff(want, api.bodies[0]); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBadConfiguration checks that settings that cannot work are permanent errors.
func TestBadConfiguration(t *testing.T) {
	five := v1alpha1.DurationPtr(v1alpha1.DurationFromString("5m"))
	for name, tc := range map[string]struct {
		metric  v1alpha1.SkyWalkingMetric
		wantErr string
	}{
		"no interval": {metric: v1alpha1.SkyWalkingMetric{Address: "http://oap:12800", Query: query}, wantErr: "skywalking.interval: give the window"},
		"no scheme":   {metric: v1alpha1.SkyWalkingMetric{Address: "oap:12800", Query: query, Interval: five}, wantErr: `skywalking.address "oap:12800" is not an http:// or https:// URL`},
	} {
		t.Run(name, func(t *testing.T) {
			m := &v1alpha1.Metric{Provider: v1alpha1.MetricProvider{SkyWalking: &tc.metric}}
			_, err := New(clocktesting.NewFakePassiveClock(now)).Measure(context.Background(), nil, m)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}
