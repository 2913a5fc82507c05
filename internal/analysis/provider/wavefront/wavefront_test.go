package wavefront

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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider/credentials"
)

const token = "wf-t0ken-2468"

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type answer struct {
	status int
	body   string
	delay  time.Duration
}

// standIn is a loopback Wavefront chart API over TLS (the provider speaks https only).
type standIn struct {
	srv     *httptest.Server
	mu      sync.Mutex
	answers []answer
	auth    []string
	queries []url.Values
}

func newStandIn(t *testing.T, answers ...answer) *standIn {
	s := &standIn{answers: answers}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/api/v2/chart/api" {
			t.Errorf("request %s %s", r.Method, r.URL.Path)
		}
		s.mu.Lock()
		s.auth, s.queries = append(s.auth, r.Header.Get("Authorization")), append(s.queries, r.URL.Query())
		a := s.answers[min(len(s.auth), len(s.answers))-1]
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

func (s *standIn) address() string { return strings.TrimPrefix(s.srv.URL, "https://") }

func newProvider(s *standIn, tokens map[string]string) *Provider {
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "argo-rollouts", Name: TokensSecretName}, Data: map[string][]byte{}}
	for k, v := range tokens {
		sec.Data[k] = []byte(v)
	}
	p := New(credentials.Store{Reader: fake.NewClientBuilder().WithObjects(sec).Build(), Namespace: "argo-rollouts"}, clocktesting.NewFakePassiveClock(now))
	p.HTTP = s.srv.Client()
	return p
}

// TestMeasure checks the chart API request and the value of the answers Wavefront's API
// reference documents ({"timeseries": [{"label", "host", "tags", "data": [[seconds, value]]}]}).
func TestMeasure(t *testing.T) {
	series := func(points string) string {
		return `{"label":"istio.requestcount.count","host":"shop","tags":{"app":"shop"},"data":[` + points + `]}`
	}
	for name, tc := range map[string]struct {
		answers      []answer
		timeout      time.Duration
		wantValue    any
		wantDisplay  string
		wantMeta     map[string]string
		wantErr      string
		wantRequests int
	}{
		"one series: the closest point": {answers: []answer{{200, `{"name":"q","query":"q","granularity":1,"timeseries":[` + series("[1772366340,0.91],[1772366395,0.975],[1772366460,0.5]") + `]}`, 0}},
			wantValue: 0.975, wantDisplay: "0.97", wantMeta: map[string]string{"timestamps": "1772366395", "drift": "-5"}, wantRequests: 1},
		"two series": {answers: []answer{{200, `{"timeseries":[` + series("[1772366400,0.99]") + `,` + series("[1772366401,0.5]") + `],"warnings":"partial results"}`, 0}},
			wantValue: []float64{0.99, 0.5}, wantDisplay: "[0.99,0.50]", wantMeta: map[string]string{"timestamps": "[1772366400,1772366401]", "drift": "[0,1]", "warnings": "partial results"}, wantRequests: 1},
		"no series":          {answers: []answer{{200, `{"timeseries":[],"warnings":"no data"}`, 0}}, wantErr: "wavefront: no time series found (Wavefront warns: no data)", wantRequests: 1},
		"a malformed answer": {answers: []answer{{200, `[1,2]`, 0}}, wantErr: "wavefront: the answer is not a chart API result", wantRequests: 1},
		"a query error":      {answers: []answer{{400, `{"errorType":"QuerySyntaxError","errorMessage":"bad ts()"}`, 0}}, wantErr: `answered 400 Bad Request: "{\"errorType\":\"QuerySyntaxError\",\"errorMessage\":\"bad ts()\"}"`, wantRequests: 1},
		"429 then an answer": {answers: []answer{{429, "slow down", 0}, {200, `{"timeseries":[` + series("[1772366400,1]") + `]}`, 0}}, wantValue: 1.0, wantDisplay: "1.00",
			wantMeta: map[string]string{"timestamps": "1772366400", "drift": "0"}, wantRequests: 2},
		// the client may give up before a loaded machine has even run the stand-in's handler
		"a slow answer": {answers: []answer{{200, `{}`, 2 * time.Second}}, timeout: 200 * time.Millisecond, wantErr: "wavefront: no answer from", wantRequests: -1},
	} {
		t.Run(name, func(t *testing.T) {
			api := newStandIn(t, tc.answers...)
			p := newProvider(api, map[string]string{api.address(): token, "other.wavefront.com": "other"})
			p.Timeout = tc.timeout
			m := &v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Wavefront: &v1alpha1.WavefrontMetric{Address: api.address(), Query: `ts("istio.requestcount.count")`}}}
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
				if diff := cmp.Diff(tc.wantMeta, res.Metadata); diff != "" {
					t.Errorf("metadata (-want +got):\n%s", diff)
				}
			}
			if tc.wantRequests < 0 {
				return
			}
			if len(api.auth) != tc.wantRequests || api.auth[0] != "Bearer "+token {
				t.Fatalf("requests: %d, Authorization %q", len(api.auth), api.auth)
			}
			ms := "1772366400000"
			want := url.Values{"q": {`ts("istio.requestcount.count")`}, "s": {ms}, "e": {ms}, "p": {"1"}, "g": {"s"}, "i": {"true"}, "strict": {"false"}}
			if diff := cmp.Diff(want, api.queries[0]); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
		})
	}
}

// TestToken checks that a missing token or Secret is an error that names them, not a value.
func TestToken(t *testing.T) {
	api := newStandIn(t, answer{200, `{}`, 0})
	for name, tc := range map[string]struct {
		tokens  map[string]string
		address string
		wantErr string
	}{
		"no token for the address": {tokens: map[string]string{"other.wavefront.com": token}, address: "example.wavefront.com",
			wantErr: `wavefront: the Secret argo-rollouts/wavefront-api-tokens has no token for "example.wavefront.com"`},
		"a URL instead of a host": {tokens: map[string]string{}, address: "https://example.wavefront.com/",
			wantErr: `wavefront.address "https://example.wavefront.com/": give the host name`},
	} {
		t.Run(name, func(t *testing.T) {
			p := newProvider(api, tc.tokens)
			m := &v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Wavefront: &v1alpha1.WavefrontMetric{Address: tc.address, Query: "ts(x)"}}}
			_, err := p.Measure(context.Background(), nil, m)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), token) {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
	if len(api.auth) != 0 {
		t.Errorf("%d requests without a token", len(api.auth))
	}
}
