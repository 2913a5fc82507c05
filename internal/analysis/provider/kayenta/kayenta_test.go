package kayenta

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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// standIn is a loopback Kayenta: its canary configurations, the execution it starts, and the
// status of that execution (statuses in turn, the last one again when they run out).
type standIn struct {
	srv      *httptest.Server
	mu       sync.Mutex
	configs  string
	start    string
	statuses []string
	delay    time.Duration
	requests []string
	body     map[string]any
	polls    int
}

func newStandIn(t *testing.T, s *standIn) *standIn {
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
		if s.delay > 0 {
			time.Sleep(s.delay)
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/canaryConfig":
			_, _ = io.WriteString(w, s.configs)
		case r.Method == http.MethodPost && r.URL.Path == "/canary/cfg-42":
			raw, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(raw, &s.body); err != nil {
				t.Errorf("body %s", raw)
			}
			_, _ = io.WriteString(w, s.start)
		case r.Method == http.MethodGet && r.URL.Path == "/canary/exec-7":
			s.polls++
			_, _ = io.WriteString(w, s.statuses[min(s.polls, len(s.statuses))-1])
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"Not Found"}`)
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

const configs = `[{"id":"cfg-1","name":"other","updatedTimestamp":1,"applications":["shop"]},{"id":"cfg-42","name":"shop-canary","updatedTimestamp":2,"updatedTimestampIso":"2026-01-01T00:00:00Z","applications":["shop"]}]`

func metric(mutate func(*v1alpha1.Metric)) *v1alpha1.Metric {
	m := &v1alpha1.Metric{Name: "judge", Interval: v1alpha1.DurationPtr(v1alpha1.DurationFromString("1h")),
		Provider: v1alpha1.MetricProvider{Kayenta: &v1alpha1.KayentaMetric{
			Application: "shop", CanaryConfigName: "shop-canary", MetricsAccountName: "prom", ConfigurationAccountName: "configs", StorageAccountName: "gcs",
			Threshold: v1alpha1.KayentaThreshold{Pass: 90, Marginal: 75},
			Scopes: []v1alpha1.KayentaScope{{Name: "default",
				ControlScope:    v1alpha1.ScopeDetail{Scope: "app=shop and hash=stable", Region: "eu", Step: 60},
				ExperimentScope: v1alpha1.ScopeDetail{Scope: "app=shop and hash=canary", Region: "eu", Step: 60}}}}}}
	if mutate != nil {
		mutate(m)
	}
	return m
}

var run = &v1alpha1.AnalysisRun{Status: v1alpha1.AnalysisRunStatus{StartedAt: &metav1.Time{Time: now.Add(-20 * time.Minute)}}}

// TestJudgement runs a measurement from its start to its score, against the answers Kayenta's
// API gives (canary configurations, {canaryExecutionId}, and the execution's status).
func TestJudgement(t *testing.T) {
	done := func(score string) string {
		return `{"complete":true,"status":"succeeded","result":{"judgeResult":{"judgeName":"NetflixACAJudge-v1.0","score":{"score":` + score + `,"classification":"Pass"}}}}`
	}
	for name, tc := range map[string]struct {
		statuses    []string
		polls       int
		wantPhase   v1alpha1.AnalysisPhase
		wantDisplay string
		wantErr     string
	}{
		"passes":             {statuses: []string{`{"complete":false,"status":"running"}`, done("95.5")}, polls: 2, wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantDisplay: "95"},
		"marginal":           {statuses: []string{done("80")}, polls: 1, wantPhase: v1alpha1.AnalysisPhaseInconclusive, wantDisplay: "80"},
		"fails":              {statuses: []string{done("42")}, polls: 1, wantPhase: v1alpha1.AnalysisPhaseFailed, wantDisplay: "42"},
		"exactly pass":       {statuses: []string{done("90")}, polls: 1, wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantDisplay: "90"},
		"no complete status": {statuses: []string{`{"status":"running"}`}, polls: 1, wantErr: "kayenta: the canary execution exec-7 has no complete status"},
		"complete without a score": {statuses: []string{`{"complete":true,"status":"terminal","exception":{"details":{"errors":["metrics account prom not found"]}}}`}, polls: 1,
			wantErr: "kayenta: the canary execution exec-7 completed without a score (status terminal: metrics account prom not found)"},
		"a malformed status": {statuses: []string{`[]`}, polls: 1, wantErr: "is not what Kayenta answers"},
	} {
		t.Run(name, func(t *testing.T) {
			k := newStandIn(t, &standIn{configs: configs, start: `{"canaryExecutionId":"exec-7"}`, statuses: tc.statuses})
			p := New(clocktesting.NewFakePassiveClock(now))
			m := metric(func(m *v1alpha1.Metric) { m.Provider.Kayenta.Address = k.srv.URL + "/" })
			res, err := p.Measure(context.Background(), run, m)
			if err != nil {
				t.Fatal(err)
			}
			if res.Phase != v1alpha1.AnalysisPhaseRunning || res.Metadata[ExecutionIDKey] != "exec-7" || res.ResumeAfter != ResumeDelay {
				t.Fatalf("start: %+v", res)
			}
			meas := &v1alpha1.Measurement{Phase: res.Phase, Metadata: res.Metadata}
			for i := range tc.polls {
				res, err = p.Resume(context.Background(), run, m, meas)
				if i < tc.polls-1 && (err != nil || res.Phase != v1alpha1.AnalysisPhaseRunning || res.ResumeAfter != ResumeDelay) {
					t.Fatalf("poll %d: %+v %v", i, res, err)
				}
			}
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case res.Phase != tc.wantPhase || res.Display != tc.wantDisplay:
				t.Errorf("phase %s value %q (%s), want %s %q", res.Phase, res.Display, res.Message, tc.wantPhase, tc.wantDisplay)
			}
			wantRequests := []string{
				"GET /canaryConfig?application=shop&configurationAccountName=configs",
				"POST /canary/cfg-42?application=shop&configurationAccountName=configs&metricsAccountName=prom&storageAccountName=gcs",
			}
			for range tc.polls {
				wantRequests = append(wantRequests, "GET /canary/exec-7")
			}
			if diff := cmp.Diff(wantRequests, k.requests); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

// TestScopes checks the canary execution request: the scopes' windows (the interval before
// the measurement, since the run started with lookback, or as given) and the thresholds.
func TestScopes(t *testing.T) {
	scope := func(s, start, end string) map[string]any {
		m := map[string]any{"scope": s, "location": "eu", "step": float64(60)}
		if start != "" {
			m["start"], m["end"] = start, end
		}
		return m
	}
	want := func(start, end string) map[string]any {
		return map[string]any{"thresholds": map[string]any{"pass": float64(90), "marginal": float64(75)}, "scopes": map[string]any{"default": map[string]any{
			"controlScope": scope("app=shop and hash=stable", start, end), "experimentScope": scope("app=shop and hash=canary", start, end)}}}
	}
	for name, tc := range map[string]struct {
		mutate  func(*v1alpha1.Metric)
		want    map[string]any
		wantErr string
	}{
		"the interval before now": {want: want("2026-03-01T11:00:00Z", "2026-03-01T12:00:00Z")},
		"since the run started":   {mutate: func(m *v1alpha1.Metric) { m.Provider.Kayenta.Lookback = true }, want: want("2026-03-01T11:40:00Z", "2026-03-01T12:00:00Z")},
		"as given": {mutate: func(m *v1alpha1.Metric) {
			s := &m.Provider.Kayenta.Scopes[0]
			s.ControlScope.Start, s.ControlScope.End = "2026-02-28T00:00:00Z", "2026-02-28T01:00:00Z"
			s.ExperimentScope.Start, s.ExperimentScope.End = "2026-02-28T00:00:00Z", "2026-02-28T01:00:00Z"
		}, want: want("2026-02-28T00:00:00Z", "2026-02-28T01:00:00Z")},
		"no interval": {mutate: func(m *v1alpha1.Metric) { m.Interval = nil }, wantErr: "kayenta.scopes[0] has no start: give the metric an interval"},
		"a start in one scope": {mutate: func(m *v1alpha1.Metric) { m.Provider.Kayenta.Scopes[0].ControlScope.Start = "2026-02-28T00:00:00Z" },
			wantErr: "kayenta.scopes[0]: set start in both controlScope and experimentScope, or in neither"},
	} {
		t.Run(name, func(t *testing.T) {
			k := newStandIn(t, &standIn{configs: configs, start: `{"canaryExecutionId":"exec-7"}`})
			m := metric(func(m *v1alpha1.Metric) {
				m.Provider.Kayenta.Address = k.srv.URL
				if tc.mutate != nil {
					tc.mutate(m)
				}
			})
			_, err := New(clocktesting.NewFakePassiveClock(now)).Measure(context.Background(), run, m)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !provider.IsPermanent(err) || len(k.requests) != 0 {
					t.Errorf("error %v (permanent %v), %d requests; want %q", err, provider.IsPermanent(err), len(k.requests), tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, k.body); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFailures checks a configuration Kayenta does not have, an answer without an execution
// id, an error page and a Kayenta that does not answer in time.
func TestFailures(t *testing.T) {
	for name, tc := range map[string]struct {
		standIn *standIn
		timeout time.Duration
		wantErr string
	}{
		"no such configuration": {standIn: &standIn{configs: `[{"id":"cfg-1","name":"other"}]`}, wantErr: `kayenta: no canary configuration "shop-canary" for application "shop" (1 found)`},
		"no execution id":       {standIn: &standIn{configs: configs, start: `{}`}, wantErr: "kayenta: the answer has no canaryExecutionId"},
		"an error page":         {standIn: &standIn{configs: `<html>502</html>`}, wantErr: "kayenta: the answer of GET"},
		"a slow Kayenta":        {standIn: &standIn{configs: configs, delay: 500 * time.Millisecond}, timeout: 100 * time.Millisecond, wantErr: "kayenta: no answer from"},
	} {
		t.Run(name, func(t *testing.T) {
			k := newStandIn(t, tc.standIn)
			p := New(clocktesting.NewFakePassiveClock(now))
			p.Timeout = tc.timeout
			_, err := p.Measure(context.Background(), run, metric(func(m *v1alpha1.Metric) { m.Provider.Kayenta.Address = k.srv.URL }))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}
