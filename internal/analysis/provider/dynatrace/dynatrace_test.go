package dynatrace

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
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
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/credentials"
)

const token = "dt0c01.SAMPLEKEY0123.SECRETPART0123456789abcdefghijklmnopqrstuvwxyz"

// reply is one answer of the stand-in.
type reply struct {
	status int
	body   string
	delay  time.Duration
	header map[string]string
}

// recorded is what the stand-in saw of a request.
type recorded struct {
	Method, Path, Auth, Accept string
	Query                      map[string]string
	Body                       string
}

// standIn is a loopback Dynatrace environment: it records each request and answers with the
// replies in turn (the last one again when they run out).
type standIn struct {
	srv     *httptest.Server
	mu      sync.Mutex
	replies []reply
	got     []recorded
}

func newStandIn(t *testing.T, replies ...reply) *standIn {
	s := &standIn{replies: replies}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := recorded{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Accept: r.Header.Get("Accept"),
			Query: map[string]string{}, Body: string(body)}
		for k := range r.URL.Query() {
			rec.Query[k] = r.URL.Query().Get(k)
		}
		s.mu.Lock()
		s.got = append(s.got, rec)
		a := s.replies[min(len(s.got), len(s.replies))-1]
		s.mu.Unlock()
		if a.delay > 0 {
			select {
			case <-time.After(a.delay):
			case <-r.Context().Done():
				return
			}
		}
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *standIn) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.got...)
}

func secret(ns, name string, data map[string]string) *corev1.Secret {
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		sec.Data[k] = []byte(v)
	}
	return sec
}

// newProvider returns a Provider whose controller namespace is "argo-rollouts".
func newProvider(secrets ...*corev1.Secret) *Provider {
	c := fake.NewClientBuilder()
	for _, s := range secrets {
		c = c.WithObjects(s)
	}
	return New(credentials.Store{Reader: c.Build(), Namespace: "argo-rollouts"})
}

func metric(cfg string) *v1alpha1.Metric {
	return &v1alpha1.Metric{Name: "errors", Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{PluginName: json.RawMessage(cfg)}}}
}

var run = &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "run"}}

// series is a metrics query answer of one metric with the given series (JSON objects).
func series(data ...string) string {
	return `{"totalCount":` + strconv.Itoa(len(data)) + `,"nextPageKey":null,"resolution":"Inf","result":[{"metricId":"builtin:service.errors.total.rate:splitBy(\"dt.entity.service\")","dataPointCountRatio":1.0E-6,"dimensionCountRatio":1.0E-4,"data":[` +
		strings.Join(data, ",") + `]}]}`
}

func point(service, value string) string {
	return `{"dimensions":["` + service + `"],"dimensionMap":{"dt.entity.service":"` + service + `"},"timestamps":[1772366400000],"values":[` + value + `]}`
}

const selector = `builtin:service.errors.total.rate:filter(eq("dt.entity.service","SERVICE-1")):splitBy("dt.entity.service")`

// TestMeasure checks the request the Metrics API v2 reference documents (GET
// /api/v2/metrics/query, metricSelector, from, resolution, the Api-Token header) and the value
// of the answers it documents, through conditions.
func TestMeasure(t *testing.T) {
	const cond = "default(result, 0) < 0.05"
	for name, tc := range map[string]struct {
		replies      []reply
		cond         string
		wantPhase    v1alpha1.AnalysisPhase
		wantDisplay  string
		wantMeta     map[string]string
		wantErr      string
		wantRequests int
	}{
		"one series": {replies: []reply{{status: 200, body: series(point("SERVICE-1", "0.0125"))}},
			wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantDisplay: "0.0125", wantRequests: 1,
			wantMeta: map[string]string{"metricId": `builtin:service.errors.total.rate:splitBy("dt.entity.service")`, "dimensions": `[{"dt.entity.service":"SERVICE-1"}]`}},
		"one series over the threshold": {replies: []reply{{status: 200, body: series(point("SERVICE-1", "0.3"))}},
			wantPhase: v1alpha1.AnalysisPhaseFailed, wantDisplay: "0.3", wantRequests: 1},
		"several series: a list": {replies: []reply{{status: 200, body: series(point("SERVICE-1", "0.01"), point("SERVICE-2", "null"), point("SERVICE-3", "0.02"))}},
			cond: "all(result, {# < 0.05})", wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantDisplay: "[0.01,0.02]", wantRequests: 1,
			wantMeta: map[string]string{"dimensions": `[{"dt.entity.service":"SERVICE-1"},{"dt.entity.service":"SERVICE-3"}]`}},
		"the last value that is not a gap": {replies: []reply{{status: 200, body: series(`{"dimensions":[],"dimensionMap":{},"timestamps":[1,2,3],"values":[0.5,0.04,null]}`)}},
			wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantDisplay: "0.04", wantRequests: 1, wantMeta: map[string]string{"dimensions": `[{}]`}},
		"no series: nil": {replies: []reply{{status: 200, body: series()}},
			wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantDisplay: "[]", wantRequests: 1},
		"only gaps: nil": {replies: []reply{{status: 200, body: series(point("SERVICE-1", "null"))}},
			wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantDisplay: "null", wantRequests: 1},
		"no metric: nil": {replies: []reply{{status: 200, body: `{"totalCount":0,"nextPageKey":null,"result":[]}`}},
			wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantDisplay: "[]", wantRequests: 1},
		"warnings are kept": {replies: []reply{{status: 200, body: `{"totalCount":1,"resolution":"Inf","warnings":["The lens of the selector was capped"],"result":[{"metricId":"m","data":[{"dimensions":[],"dimensionMap":{},"timestamps":[1],"values":[0.01]}],"warnings":["The metric has no data in part of the timeframe"]}]}`}},
			wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantDisplay: "0.01", wantRequests: 1,
			wantMeta: map[string]string{"warnings": "The lens of the selector was capped; The metric has no data in part of the timeframe"}},
		"two metrics": {replies: []reply{{status: 200, body: `{"totalCount":2,"result":[{"metricId":"a","data":[]},{"metricId":"b","data":[]}]}`}},
			wantErr: "dynatrace: the selector gave 2 metrics (a, b): select one", wantRequests: 1},
		"a bad selector": {replies: []reply{{status: 400, body: `{"error":{"code":400,"message":"Constraints violated.","constraintViolations":[{"path":"metricSelector","message":"Token 'filtr' is not a valid transformation.","parameterLocation":"QUERY","location":null}]}}`}},
			wantErr: `answered 400 Bad Request: Constraints violated.; metricSelector: Token 'filtr' is not a valid transformation.`, wantRequests: 1},
		"a refused token": {replies: []reply{{status: 401, body: `{"error":{"code":401,"message":"Token Authentication failed"}}`}},
			wantErr: "answered 401 Unauthorized: Token Authentication failed: check the token and its metrics.read scope", wantRequests: 1},
		"a 500 is not retried": {replies: []reply{{status: 500, body: `{"error":{"code":500,"message":"Internal error"}}`}},
			wantErr: "answered 500 Internal Server Error: Internal error", wantRequests: 1},
		"a 503 page, three times": {replies: []reply{{status: 503, body: "<html>Service Unavailable</html>"}},
			wantErr: `answered 503 Service Unavailable: "<html>Service Unavailable</html>" (after 3 attempts)`, wantRequests: 3},
		"429, then the answer": {replies: []reply{{status: 429, body: `{"error":{"code":429,"message":"Too Many Requests"}}`, header: map[string]string{"Retry-After": "1"}},
			{status: 200, body: series(point("SERVICE-1", "0.01"))}},
			wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantDisplay: "0.01", wantRequests: 2},
		"a malformed answer": {replies: []reply{{status: 200, body: `{"result":[{"metricId":"m","data":[{"values":["x"]}]}]}`}},
			wantErr: "dynatrace: the answer is not a metrics query result", wantRequests: 1},
		"an answer without result": {replies: []reply{{status: 200, body: `{"totalCount":0}`}},
			wantErr: `dynatrace: the answer has no result: "{\"totalCount\":0}"`, wantRequests: 1},
	} {
		t.Run(name, func(t *testing.T) {
			api := newStandIn(t, tc.replies...)
			p := newProvider(secret("argo-rollouts", "dynatrace", map[string]string{TokenKey: token + "\n"}))
			cfg := `{"address":"` + api.srv.URL + `/","query":` + quote(selector) + `,"from":"now-10m"}`
			res, err := p.Measure(context.Background(), run, metric(cfg))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			case err != nil && (strings.Contains(err.Error(), "SECRETPART") || provider.IsPermanent(err)):
				t.Errorf("error %q shows the token or is permanent", err)
			case tc.wantErr == "":
				c := cond
				if tc.cond != "" {
					c = tc.cond
				}
				if out := condition.Evaluate(c, "", res.Value); out.Phase != tc.wantPhase || res.Display != tc.wantDisplay {
					t.Errorf("phase %s (%s) display %s; want %s %s", out.Phase, out.Reason, res.Display, tc.wantPhase, tc.wantDisplay)
				}
				for k, v := range tc.wantMeta {
					if res.Metadata[k] != v {
						t.Errorf("metadata %s = %q, want %q", k, res.Metadata[k], v)
					}
				}
			}
			want := recorded{Method: "GET", Path: QueryPath, Auth: "Api-Token " + token, Accept: "application/json",
				Query: map[string]string{"metricSelector": selector, "from": "now-10m", "resolution": "Inf"}}
			got := api.requests()
			if len(got) != tc.wantRequests {
				t.Fatalf("%d requests, want %d", len(got), tc.wantRequests)
			}
			if diff := cmp.Diff(want, got[0]); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			if res.MetricMetadata[ResolvedQueryKey] != selector || !strings.HasPrefix(res.MetricMetadata[QueryURLKey], api.srv.URL+QueryPath+"?") {
				t.Errorf("metric metadata %v", res.MetricMetadata)
			}
		})
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestOptionalParameters checks that to, entitySelector, mzSelector and resolution are sent as
// given.
func TestOptionalParameters(t *testing.T) {
	api := newStandIn(t, reply{status: 200, body: series(point("SERVICE-1", "1"))})
	p := newProvider(secret("argo-rollouts", "dynatrace", map[string]string{TokenKey: token}))
	cfg := `{"address":"` + api.srv.URL + `","query":"builtin:service.response.time:avg","from":"2026-03-01T11:00:00Z","to":"2026-03-01T12:00:00Z",
		"resolution":"1m","entitySelector":"type(SERVICE),tag(\"app:shop\")","mzSelector":"mzName(\"prod\")"}`
	if _, err := p.Measure(context.Background(), run, metric(cfg)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"metricSelector": "builtin:service.response.time:avg", "from": "2026-03-01T11:00:00Z", "to": "2026-03-01T12:00:00Z",
		"resolution": "1m", "entitySelector": `type(SERVICE),tag("app:shop")`, "mzSelector": `mzName("prod")`}
	if diff := cmp.Diff(want, api.requests()[0].Query); diff != "" {
		t.Errorf("parameters (-want +got):\n%s", diff)
	}
}

// TestTimeout checks that a Dynatrace that does not answer is given up at the metric's timeout,
// and at the caller's deadline when that is nearer.
func TestTimeout(t *testing.T) {
	for name, tc := range map[string]struct {
		timeout string
		ctx     time.Duration
	}{
		"the metric's timeout":  {timeout: "300ms", ctx: time.Minute},
		"the caller's deadline": {timeout: "1m", ctx: 300 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			api := newStandIn(t, reply{status: 200, body: series(), delay: 30 * time.Second})
			p := newProvider(secret("argo-rollouts", "dynatrace", map[string]string{TokenKey: token}))
			ctx, cancel := context.WithTimeout(context.Background(), tc.ctx)
			defer cancel()
			start := time.Now()
			_, err := p.Measure(ctx, run, metric(`{"address":"`+api.srv.URL+`","query":"m","timeout":"`+tc.timeout+`"}`))
			if err == nil || !strings.Contains(err.Error(), "dynatrace: no answer from") || time.Since(start) > 5*time.Second {
				t.Errorf("error %v after %s", err, time.Since(start))
			}
		})
	}
}

// TestAccount checks where the token and the address are found, and the errors, which never
// show the token.
func TestAccount(t *testing.T) {
	const addr = "https://abc12345.live.dynatrace.com"
	for name, tc := range map[string]struct {
		secrets     []*corev1.Secret
		cfg         Config
		wantAccount account
		wantErr     string
	}{
		"the default Secret": {secrets: []*corev1.Secret{secret("argo-rollouts", "dynatrace", map[string]string{TokenKey: token})},
			cfg: Config{Address: addr}, wantAccount: account{token, addr}},
		"the address from the Secret": {secrets: []*corev1.Secret{secret("argo-rollouts", "dynatrace", map[string]string{TokenKey: token, AddressKey: addr + "/\n"})},
			wantAccount: account{token, addr + "/"}},
		"the metric's address wins": {secrets: []*corev1.Secret{secret("argo-rollouts", "dynatrace", map[string]string{TokenKey: token, AddressKey: "https://other"})},
			cfg: Config{Address: addr}, wantAccount: account{token, addr}},
		"Flagger's key": {secrets: []*corev1.Secret{secret("argo-rollouts", "dynatrace", map[string]string{FlaggerTokenKey: token})},
			cfg: Config{Address: addr}, wantAccount: account{token, addr}},
		"secretRef in the controller's namespace": {secrets: []*corev1.Secret{secret("argo-rollouts", "dt-prod", map[string]string{TokenKey: token}), secret("shop", "dt-prod", nil)},
			cfg: Config{Address: addr, SecretRef: SecretRef{Name: "dt-prod"}}, wantAccount: account{token, addr}},
		"secretRef in the analysis' namespace": {secrets: []*corev1.Secret{secret("shop", "dt", map[string]string{TokenKey: token})},
			cfg: Config{Address: addr, SecretRef: SecretRef{Name: "dt", Namespaced: true}}, wantAccount: account{token, addr}},
		"no Secret": {cfg: Config{Address: addr}, wantErr: "the Secret argo-rollouts/dynatrace does not exist"},
		"no token": {secrets: []*corev1.Secret{secret("argo-rollouts", "dynatrace", map[string]string{AddressKey: addr})},
			wantErr: `the Secret argo-rollouts/dynatrace has no "api-token" (or "dynatrace_token")`},
		"no address": {secrets: []*corev1.Secret{secret("argo-rollouts", "dynatrace", map[string]string{TokenKey: token})},
			wantErr: "give address (the environment's URL, e.g. https://abc12345.live.dynatrace.com) in vane/dynatrace or in the Secret argo-rollouts/dynatrace"},
		"an address that is not a URL": {secrets: []*corev1.Secret{secret("argo-rollouts", "dynatrace", map[string]string{TokenKey: token, AddressKey: "abc12345.live.dynatrace.com"})},
			wantErr: `the Secret argo-rollouts/dynatrace: address: the scheme must be https (or http), not ""`},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := newProvider(tc.secrets...).account(context.Background(), "shop", tc.cfg)
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			if diff := cmp.Diff(tc.wantAccount, got, cmp.AllowUnexported(account{})); diff != "" || msg != tc.wantErr || strings.Contains(msg, token) {
				t.Errorf("error %q (want %q), account (-want +got):\n%s", msg, tc.wantErr, diff)
			}
		})
	}
}

// TestMeasureConfigErrors checks that a configuration that cannot work errors the metric at
// once (permanently), naming the field, before any request.
func TestMeasureConfigErrors(t *testing.T) {
	api := newStandIn(t, reply{status: 200, body: series()})
	p := newProvider(secret("argo-rollouts", "dynatrace", map[string]string{TokenKey: token}))
	for name, tc := range map[string]struct {
		metric  *v1alpha1.Metric
		wantErr string
	}{
		"no configuration": {metric: &v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"acme/x": nil}}},
			wantErr: `the metric has no provider.plugin["vane/dynatrace"]`},
		"no query": {metric: metric(`{"address":"` + api.srv.URL + `"}`),
			wantErr: "vane/dynatrace: query: give a metric selector, e.g. builtin:service.errors.total.rate:avg"},
		"an unknown field": {metric: metric(`{"address":"` + api.srv.URL + `","query":"m","metricSelector":"m"}`),
			wantErr: `vane/dynatrace: reading the configuration: json: unknown field "metricSelector"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := p.Measure(context.Background(), run, tc.metric)
			if err == nil || err.Error() != tc.wantErr || !provider.IsPermanent(err) {
				t.Errorf("error %v (permanent %v), want %q", err, provider.IsPermanent(err), tc.wantErr)
			}
		})
	}
	if n := len(api.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}
