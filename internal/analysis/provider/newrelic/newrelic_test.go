package newrelic

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

const apiKey = "NRAK-0123456789ABCDEF"

type reply struct {
	status int
	body   string
	delay  time.Duration
}

// standIn is a loopback NerdGraph endpoint.
type standIn struct {
	srv     *httptest.Server
	mu      sync.Mutex
	replies []reply
	keys    []string
	bodies  []map[string]any
}

func newStandIn(t *testing.T, replies ...reply) *standIn {
	s := &standIn{replies: replies}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/graphql" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s %s %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("body %s", raw)
		}
		s.mu.Lock()
		s.keys, s.bodies = append(s.keys, r.Header.Get("API-Key")), append(s.bodies, body)
		a := s.replies[min(len(s.keys), len(s.replies))-1]
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

func profile(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "argo-rollouts", Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func newProvider(secrets ...*corev1.Secret) *Provider {
	c := fake.NewClientBuilder()
	for _, s := range secrets {
		c = c.WithObjects(s)
	}
	return New(credentials.Store{Reader: c.Build(), Namespace: "argo-rollouts"})
}

func results(rows string) string {
	return `{"data":{"actor":{"account":{"nrql":{"results":` + rows + `}}}}}`
}

// TestMeasure checks the NerdGraph request (the Api-Key header, the account, the NRQL query
// and its timeout) and the result of NerdGraph's answers, through conditions of Argo's docs.
func TestMeasure(t *testing.T) {
	const nrql = "FROM Transaction SELECT percentage(count(*), WHERE httpResponseCode != 500) as successRate where appName = 'shop'"
	for name, tc := range map[string]struct {
		replies      []reply
		timeout      *int64
		cond         string
		wantPhase    v1alpha1.AnalysisPhase
		wantDisplay  string
		wantErr      string
		wantRequests int
	}{
		"one row": {replies: []reply{{200, results(`[{"successRate":99.2}]`), 0}}, cond: "result.successRate >= 95",
			wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantDisplay: `{"successRate":99.2}`, wantRequests: 1},
		"a function name with a dot": {replies: []reply{{200, results(`[{"average.duration":0.42}]`), 0}}, cond: "result['average.duration'] < 0.5",
			wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantDisplay: `{"average.duration":0.42}`, wantRequests: 1},
		"several rows (FACET)": {replies: []reply{{200, results(`[{"facet":"GET /a","count":3},{"facet":"GET /b","count":12}]`), 0}}, cond: "all(result, {.count < 10})",
			wantPhase: v1alpha1.AnalysisPhaseFailed, wantDisplay: `[{"count":3,"facet":"GET /a"},{"count":12,"facet":"GET /b"}]`, wantRequests: 1},
		"a timeout of 30s": {replies: []reply{{200, results(`[{"successRate":90}]`), 0}}, timeout: new(int64(30)), cond: "result.successRate >= 95",
			wantPhase: v1alpha1.AnalysisPhaseFailed, wantDisplay: `{"successRate":90}`, wantRequests: 1},
		"no rows":            {replies: []reply{{200, results(`[]`), 0}}, wantErr: "newrelic: no results returned from the NRQL query", wantRequests: 1},
		"an empty row":       {replies: []reply{{200, results(`[{}]`), 0}}, wantErr: "newrelic: no results returned from the NRQL query", wantRequests: 1},
		"a GraphQL error":    {replies: []reply{{200, `{"data":{"actor":{"account":{"nrql":null}}},"errors":[{"message":"NRQL Syntax Error: Error at line 1","path":["actor","account","nrql"]}]}`, 0}}, wantErr: "newrelic: the query failed: NRQL Syntax Error: Error at line 1", wantRequests: 1},
		"a refused key":      {replies: []reply{{401, `{"errors":[{"message":"Invalid API key"}]}`, 0}}, wantErr: "newrelic: the query failed: Invalid API key", wantRequests: 1},
		"a malformed answer": {replies: []reply{{200, `{"data":{"actor":`, 0}}, wantErr: "newrelic: the answer is not a NerdGraph answer", wantRequests: 1},
		"a 502 page":         {replies: []reply{{502, "bad gateway", 0}}, wantErr: `answered 502 Bad Gateway: "bad gateway" (after 3 attempts)`, wantRequests: 3},
		"429 then rows": {replies: []reply{{429, `{"errors":[{"message":"rate limited"}]}`, 0}, {200, results(`[{"successRate":99}]`), 0}}, cond: "result.successRate >= 95",
			wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantDisplay: `{"successRate":99}`, wantRequests: 2},
	} {
		t.Run(name, func(t *testing.T) {
			api := newStandIn(t, tc.replies...)
			p := newProvider(profile("newrelic-prod", map[string]string{APIKeyKey: apiKey, AccountIDKey: "1234567", NerdGraphURLKey: api.srv.URL + "/graphql"}))
			m := &v1alpha1.Metric{Provider: v1alpha1.MetricProvider{NewRelic: &v1alpha1.NewRelicMetric{Profile: "newrelic-prod", Query: nrql, Timeout: tc.timeout}}}
			res, err := p.Measure(context.Background(), nil, m)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			case tc.wantErr == "":
				if out := condition.Evaluate(tc.cond, "", res.Value); out.Phase != tc.wantPhase || res.Display != tc.wantDisplay {
					t.Errorf("phase %s (%s) display %s; want %s %s", out.Phase, out.Reason, res.Display, tc.wantPhase, tc.wantDisplay)
				}
			}
			if res.MetricMetadata[ResolvedQueryKey] != nrql {
				t.Errorf("metadata %v", res.MetricMetadata)
			}
			if len(api.keys) != tc.wantRequests || api.keys[0] != apiKey {
				t.Fatalf("%d requests, keys %q", len(api.keys), api.keys)
			}
			timeout := float64(5)
			if tc.timeout != nil {
				timeout = float64(*tc.timeout)
			}
			wantVars := map[string]any{"accountId": float64(1234567), "query": nrql, "timeout": timeout}
			if diff := cmp.Diff(wantVars, api.bodies[0]["variables"]); diff != "" || !strings.Contains(api.bodies[0]["query"].(string), "nrql(query: $query, timeout: $timeout)") {
				t.Errorf("variables (-want +got):\n%s query %v", diff, api.bodies[0]["query"])
			}
		})
	}
}

// TestAccount checks the profile Secret: the default name, the region's endpoint, the proxy's
// and the errors, which never show the key.
func TestAccount(t *testing.T) {
	for name, tc := range map[string]struct {
		secret       *corev1.Secret
		profile      string
		wantEndpoint string
		wantErr      string
	}{
		"the default profile, us": {secret: profile("newrelic", map[string]string{APIKeyKey: apiKey, AccountIDKey: "1"}), wantEndpoint: "https://api.newrelic.com/graphql"},
		"eu":                      {secret: profile("newrelic", map[string]string{APIKeyKey: apiKey, AccountIDKey: "1", RegionKey: "EU"}), wantEndpoint: "https://api.eu.newrelic.com/graphql"},
		"a proxy": {secret: profile("nr", map[string]string{APIKeyKey: apiKey, AccountIDKey: "1", RegionKey: "eu", NerdGraphURLKey: "https://proxy.internal/graphql", "base-url-rest": "https://proxy.internal/v2"}),
			profile: "nr", wantEndpoint: "https://proxy.internal/graphql"},
		"an unknown region": {secret: profile("newrelic", map[string]string{APIKeyKey: apiKey, AccountIDKey: "1", RegionKey: "ap"}),
			wantErr: `the Secret argo-rollouts/newrelic: region "ap" is not us or eu`},
		"no key": {secret: profile("newrelic", map[string]string{AccountIDKey: "1"}), wantErr: `the Secret argo-rollouts/newrelic has no "personal-api-key"`},
		"an account that is not a number": {secret: profile("newrelic", map[string]string{APIKeyKey: apiKey, AccountIDKey: "acme"}),
			wantErr: "the Secret argo-rollouts/newrelic: account-id is not a number"},
		"no such profile": {secret: profile("newrelic", nil), profile: "nr-eu", wantErr: "the Secret argo-rollouts/nr-eu does not exist"},
	} {
		t.Run(name, func(t *testing.T) {
			acct, err := newProvider(tc.secret).account(context.Background(), tc.profile)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.wantErr || acct.endpoint != tc.wantEndpoint || strings.Contains(got, apiKey) {
				t.Errorf("endpoint %q error %q; want %q %q", acct.endpoint, got, tc.wantEndpoint, tc.wantErr)
			}
		})
	}
}

// TestSlowNerdGraph checks that a NerdGraph that does not answer is given up at the caller's
// deadline.
func TestSlowNerdGraph(t *testing.T) {
	api := newStandIn(t, reply{200, results(`[{"x":1}]`), 30 * time.Second})
	p := newProvider(profile("newrelic", map[string]string{APIKeyKey: apiKey, AccountIDKey: "1", NerdGraphURLKey: api.srv.URL + "/graphql"}))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond) // the controller's bound, shorter than NRQL's
	defer cancel()
	start := time.Now()
	_, err := p.Measure(ctx, nil, &v1alpha1.Metric{Provider: v1alpha1.MetricProvider{NewRelic: &v1alpha1.NewRelicMetric{Query: "SELECT 1"}}})
	if err == nil || !strings.Contains(err.Error(), "newrelic: no answer from") || time.Since(start) > 2*time.Second {
		t.Errorf("error %v after %s", err, time.Since(start))
	}
}
