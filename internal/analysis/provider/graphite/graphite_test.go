package graphite

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vanedev/vane/api/v1alpha1"
)

// standIn is a loopback Graphite render API: it records the queries and replies with the
// answers in turn (the last one again when they run out).
type standIn struct {
	srv     *httptest.Server
	mu      sync.Mutex
	answers []answer
	paths   []string
	queries []url.Values
}

type answer struct {
	status int
	body   string
	delay  time.Duration
}

func newStandIn(t *testing.T, answers ...answer) *standIn {
	s := &standIn{answers: answers}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("method %s", r.Method)
		}
		s.mu.Lock()
		s.paths, s.queries = append(s.paths, r.URL.Path), append(s.queries, r.URL.Query())
		a := s.answers[min(len(s.paths), len(s.answers))-1]
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

// query is a multi-line query as in Argo's docs: its whitespace goes.
const query = `target=summarize(
	  asPercent(sumSeries(stats.app.shop.ok.count), sumSeries(stats.app.shop.*.count)),
	  '5min', 'avg')&from=-5min`

const wantTarget = "summarize(asPercent(sumSeries(stats.app.shop.ok.count),sumSeries(stats.app.shop.*.count)),'5min','avg')"

// TestMeasure checks the render request and the result of the answers Graphite's render API
// documents ([{"target", "datapoints": [[value, timestamp], ...]}]).
func TestMeasure(t *testing.T) {
	for name, tc := range map[string]struct {
		answers      []answer
		timeout      time.Duration
		wantValue    any
		wantDisplay  string
		wantErr      string
		wantRequests int
	}{
		"values, nulls left out": {answers: []answer{{200, `[{"target":"` + wantTarget + `","tags":{"name":"x"},"datapoints":[[99.5,1772366100],[null,1772366160],[98.25,1772366220]]},{"target":"other","datapoints":[[1,1772366100]]}]`, 0}},
			wantValue: []float64{99.5, 98.25}, wantDisplay: "[99.500000,98.250000]", wantRequests: 1},
		"numeric strings":    {answers: []answer{{200, `[{"target":"t","datapoints":[["97.5",1772366100]]}]`, 0}}, wantValue: []float64{97.5}, wantDisplay: "[97.500000]", wantRequests: 1},
		"only nulls":         {answers: []answer{{200, `[{"target":"t","datapoints":[[null,1772366100]]}]`, 0}}, wantValue: []float64{}, wantDisplay: "[]", wantRequests: 1},
		"no series":          {answers: []answer{{200, `[]`, 0}}, wantErr: "graphite: no values found", wantRequests: 1},
		"no data points":     {answers: []answer{{200, `[{"target":"t","datapoints":[]}]`, 0}}, wantErr: "graphite: no values found", wantRequests: 1},
		"a malformed answer": {answers: []answer{{200, `{"error": "x"}`, 0}}, wantErr: "graphite: the answer is not a render result", wantRequests: 1},
		"a bad data point":   {answers: []answer{{200, `[{"target":"t","datapoints":[[1]]}]`, 0}}, wantErr: "is not [value, timestamp]", wantRequests: 1},
		"a bad function":     {answers: []answer{{400, "Invalid function: summarise", 0}}, wantErr: `answered 400 Bad Request: "Invalid function: summarise"`, wantRequests: 1},
		"503 then values":    {answers: []answer{{503, "busy", 0}, {200, `[{"target":"t","datapoints":[[1,1772366100]]}]`, 0}}, wantValue: []float64{1}, wantDisplay: "[1.000000]", wantRequests: 2},
		// the client may give up before a loaded machine has run the stand-in's handler: the
		// requests are not counted
		"a slow answer": {answers: []answer{{200, `[]`, 2 * time.Second}}, timeout: 200 * time.Millisecond, wantErr: "graphite: no answer from", wantRequests: -1},
	} {
		t.Run(name, func(t *testing.T) {
			api := newStandIn(t, tc.answers...)
			p := &Provider{Timeout: tc.timeout}
			m := &v1alpha1.Metric{Name: "ok", Provider: v1alpha1.MetricProvider{Graphite: &v1alpha1.GraphiteMetric{Address: api.srv.URL + "/graphite/", Query: query}}}
			res, err := p.Measure(context.Background(), nil, m)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			case tc.wantErr == "":
				if diff := cmp.Diff(tc.wantValue, res.Value); diff != "" || res.Display != tc.wantDisplay {
					t.Errorf("value (-want +got):\n%s display %q, want %q", diff, res.Display, tc.wantDisplay)
				}
			}
			if tc.wantRequests < 0 {
				return
			}
			if len(api.paths) != tc.wantRequests {
				t.Fatalf("%d requests, want %d", len(api.paths), tc.wantRequests)
			}
			want := url.Values{"target": {wantTarget}, "from": {"-5min"}, "format": {"json"}}
			if api.paths[0] != "/graphite/render" || !cmp.Equal(want, api.queries[0]) {
				t.Errorf("request %s %v, want /graphite/render %v", api.paths[0], api.queries[0], want)
			}
		})
	}
}

// TestBadConfiguration checks that an address or query that cannot work is a permanent error.
func TestBadConfiguration(t *testing.T) {
	for name, tc := range map[string]struct {
		address, query, wantErr string
	}{
		"no scheme":     {address: "graphite:8080", query: "target=x", wantErr: `graphite.address "graphite:8080" is not an http:// or https:// URL`},
		"empty address": {address: "", query: "target=x", wantErr: `graphite.address "" is not an http:// or https:// URL`},
		"a bad escape":  {address: "http://graphite", query: "target=%zz", wantErr: "graphite.query is not a query string"},
	} {
		t.Run(name, func(t *testing.T) {
			m := &v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Graphite: &v1alpha1.GraphiteMetric{Address: tc.address, Query: tc.query}}}
			_, err := New().Measure(context.Background(), nil, m)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}
