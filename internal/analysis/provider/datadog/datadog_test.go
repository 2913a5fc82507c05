package datadog

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
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider/credentials"
)

const (
	apiKey = "dd-api-k3y-0123456789"
	appKey = "dd-app-k3y-9876543210"
)

// now is the stand-in clock's time: the window of a 5m query is [now-300, now].
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// answer is one reply of the stand-in.
type answer struct {
	status int
	body   string
	delay  time.Duration
	header map[string]string
}

// standIn is a loopback Datadog API: it records each request and replies with the answers in
// turn (the last one again when they run out).
type standIn struct {
	srv     *httptest.Server
	mu      sync.Mutex
	answers []answer
	got     []recorded
}

type recorded struct {
	method, path string
	query        map[string]string
	apiKey       string
	appKey       string
	contentType  string
	body         map[string]any
}

func newStandIn(t *testing.T, answers ...answer) *standIn {
	s := &standIn{answers: answers}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		rec := recorded{method: r.Method, path: r.URL.Path, query: map[string]string{}, apiKey: r.Header.Get("DD-API-KEY"),
			appKey: r.Header.Get("DD-APPLICATION-KEY"), contentType: r.Header.Get("Content-Type")}
		for k := range r.URL.Query() {
			rec.query[k] = r.URL.Query().Get(k)
		}
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &rec.body); err != nil {
				t.Errorf("request body is not JSON: %s", raw)
			}
		}
		s.mu.Lock()
		s.got = append(s.got, rec)
		a := s.answers[min(len(s.got), len(s.answers))-1]
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
		w.Header().Set("Content-Type", "application/json")
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

// newProvider returns a Provider whose controller namespace is "argo-rollouts", with the
// given Secrets and no DD_* variables.
func newProvider(secrets ...*corev1.Secret) *Provider {
	c := fake.NewClientBuilder()
	for _, s := range secrets {
		c = c.WithObjects(s)
	}
	p := New(credentials.Store{Reader: c.Build(), Namespace: "argo-rollouts"}, clocktesting.NewFakePassiveClock(now))
	p.LookupEnv = func(string) (string, bool) { return "", false }
	return p
}

func metric(d v1alpha1.DatadogMetric) *v1alpha1.Metric {
	return &v1alpha1.Metric{Name: "errors", Provider: v1alpha1.MetricProvider{Datadog: &d}}
}

var run = &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "run"}}

// TestV1 checks the v1 query: the request Datadog's API reference documents (GET
// /api/v1/query with query, from, to and both keys), and the value of its answers.
func TestV1(t *testing.T) {
	const series = `{"status":"ok","res_type":"time_series","series":[{"metric":"requests.error_rate","pointlist":[[1772366100000,0.5],[1772366400000,%s]],"scope":"app:shop"}],"from_date":1772366100000,"to_date":1772366400000}`
	for name, tc := range map[string]struct {
		answer      answer
		wantValue   any
		wantDisplay string
		wantErr     string
	}{
		"the last point":    {answer: answer{status: 200, body: strings.Replace(series, "%s", "0.0125", 1)}, wantValue: 0.0125, wantDisplay: "0.0125"},
		"a null last point": {answer: answer{status: 200, body: strings.Replace(series, "%s", "null", 1)}, wantValue: nil, wantDisplay: "null"},
		"no series":         {answer: answer{status: 200, body: `{"status":"ok","series":[]}`}, wantValue: nil, wantDisplay: "[]"},
		"a query error":     {answer: answer{status: 200, body: `{"status":"error","error":"Rule 'unknown_fn' is not recognized"}`}, wantErr: "datadog: the query failed: Rule 'unknown_fn' is not recognized"},
		"a malformed answer": {answer: answer{status: 200, body: `<html>maintenance</html>`},
			wantErr: "datadog: the answer is not a v1 query result"},
		"a point that is not a pair": {answer: answer{status: 200, body: `{"series":[{"pointlist":[[1772366400000]]}]}`},
			wantErr: "the last point of the series has 1 values"},
		"refused keys": {answer: answer{status: 403, body: `{"errors":["Forbidden"]}`},
			wantErr: `answered 403 Forbidden: "{\"errors\":[\"Forbidden\"]}": check the credentials`},
	} {
		t.Run(name, func(t *testing.T) {
			api := newStandIn(t, tc.answer)
			p := newProvider(secret("argo-rollouts", "datadog", map[string]string{APIKeyKey: apiKey, AppKeyKey: appKey, AddressKey: api.srv.URL}))
			res, err := p.Measure(context.Background(), run, metric(v1alpha1.DatadogMetric{Query: "avg:requests.error_rate{app:shop}"}))
			checkErr(t, err, tc.wantErr)
			if tc.wantErr == "" {
				if diff := cmp.Diff(tc.wantValue, res.Value); diff != "" || res.Display != tc.wantDisplay {
					t.Errorf("value (-want +got):\n%s display %q, want %q", diff, res.Display, tc.wantDisplay)
				}
			}
			want := recorded{method: "GET", path: "/api/v1/query", apiKey: apiKey, appKey: appKey, contentType: "application/json",
				query: map[string]string{"query": "avg:requests.error_rate{app:shop}", "from": "1772366100", "to": "1772366400"}}
			if diff := cmp.Diff([]recorded{want}, api.requests(), cmp.AllowUnexported(recorded{})); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

// TestV2 checks the v2 scalar query: the body Datadog's API reference documents (POST
// /api/v2/query/scalar, milliseconds, one entry per query sorted by name, the formula) and
// the value of its answers, grouped or not.
func TestV2(t *testing.T) {
	formula := v1alpha1.DatadogMetric{ApiVersion: "v2", Interval: v1alpha1.DurationPtr(v1alpha1.DurationFromString("10m")), Aggregator: "sum",
		Queries: map[string]string{"b": "sum:requests{app:shop}.as_count()", "a": "sum:errors{app:shop}.as_count()"}, Formula: "a / b"}
	single := v1alpha1.DatadogMetric{ApiVersion: "v2", Query: "max:kubernetes.containers.restarts{app:shop}"}
	for name, tc := range map[string]struct {
		metric      v1alpha1.DatadogMetric
		answer      string
		wantQueries []any
		wantFormula []any
		wantValue   any
		wantDisplay string
		wantMeta    map[string]string
		wantErr     string
	}{
		"a formula": {metric: formula, answer: `{"data":{"type":"scalar_response","attributes":{"columns":[{"name":"a / b","type":"number","values":[0.0042],"meta":{"unit":null}}]}}}`,
			wantQueries: []any{
				map[string]any{"aggregator": "sum", "data_source": "metrics", "name": "a", "query": "sum:errors{app:shop}.as_count()"},
				map[string]any{"aggregator": "sum", "data_source": "metrics", "name": "b", "query": "sum:requests{app:shop}.as_count()"}},
			wantFormula: []any{map[string]any{"formula": "a / b"}}, wantValue: 0.0042, wantDisplay: "0.0042"},
		"one query, the last value by default": {metric: single, answer: `{"data":{"type":"scalar_response","attributes":{"columns":[{"name":"query","type":"number","values":[3]}]}}}`,
			wantQueries: []any{map[string]any{"aggregator": "last", "data_source": "metrics", "name": "query", "query": "max:kubernetes.containers.restarts{app:shop}"}},
			wantFormula: []any{}, wantValue: 3.0, wantDisplay: "3"},
		"no data": {metric: single, answer: `{"data":{"type":"scalar_response","attributes":{"columns":[{"name":"query","type":"number","values":[null]}]}}}`,
			wantValue: nil, wantDisplay: "[]"},
		"grouped by a tag": {metric: single, answer: `{"data":{"type":"scalar_response","attributes":{"columns":[
				{"name":"resource_name","type":"group","values":[["GET /a"],["GET /b"],["GET /c"]]},
				{"name":"query","type":"number","values":[0.01,null,0.2]}]}}}`,
			wantValue: []float64{0.01, 0.2}, wantDisplay: "[0.01,0.2]",
			wantMeta: map[string]string{"groups": `[{"name":"GET /a","value":0.01},{"name":"GET /c","value":0.2}]`}},
		"errors at the top level": {metric: single, answer: `{"data":{"type":"scalar_response","attributes":{"columns":[]}},"errors":"query exceeded the maximum allowed time range"}`,
			wantErr: "datadog: the query failed: query exceeded the maximum allowed time range"},
		"errors in data": {metric: single, answer: `{"data":{"errors":"unknown metric"}}`, wantErr: "datadog: the query failed: unknown metric"},
		"a value that is not a number": {metric: single, answer: `{"data":{"attributes":{"columns":[{"name":"query","type":"number","values":["x"]}]}}}`,
			wantErr: `the value "x" of column "query" is not a number`},
	} {
		t.Run(name, func(t *testing.T) {
			api := newStandIn(t, answer{status: 200, body: tc.answer})
			p := newProvider(secret("argo-rollouts", "datadog", map[string]string{APIKeyKey: apiKey, AppKeyKey: appKey, AddressKey: api.srv.URL + "/"}))
			res, err := p.Measure(context.Background(), run, metric(tc.metric))
			checkErr(t, err, tc.wantErr)
			if tc.wantErr == "" {
				if diff := cmp.Diff(tc.wantValue, res.Value); diff != "" || res.Display != tc.wantDisplay {
					t.Errorf("value (-want +got):\n%s display %q, want %q", diff, res.Display, tc.wantDisplay)
				}
				if diff := cmp.Diff(tc.wantMeta, res.Metadata); diff != "" {
					t.Errorf("metadata (-want +got):\n%s", diff)
				}
			}
			reqs := api.requests()
			if len(reqs) != 1 || reqs[0].method != "POST" || reqs[0].path != "/api/v2/query/scalar" || reqs[0].apiKey != apiKey || reqs[0].appKey != appKey {
				t.Fatalf("requests %+v", reqs)
			}
			span := int64(300)
			if tc.metric.Interval != nil {
				span = 600
			}
			data := reqs[0].body["data"].(map[string]any)
			attrs := data["attributes"].(map[string]any)
			if data["type"] != "scalar_request" || attrs["to"] != float64(now.Unix()*1000) || attrs["from"] != float64((now.Unix()-span)*1000) {
				t.Errorf("request data %v", data)
			}
			if tc.wantQueries != nil {
				if diff := cmp.Diff(tc.wantQueries, attrs["queries"]); diff != "" {
					t.Errorf("queries (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.wantFormula, attrs["formulas"]); diff != "" {
					t.Errorf("formulas (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestGroupsShown checks that the metadata lists the 50 lowest and 50 highest of many groups.
func TestGroupsShown(t *testing.T) {
	var groups []group
	for i := range 150 {
		groups = append(groups, group{Name: string(rune('a'+i%26)) + string(rune('0'+i/26)), Value: float64(i)})
	}
	shown, truncated := groupsShown(groups)
	if !truncated || len(shown) != MaxGroups || shown[0].Value != 0 || shown[49].Value != 49 || shown[50].Value != 100 || shown[99].Value != 149 {
		t.Errorf("truncated %v, %d groups: first %v, 50th %v, 51st %v, last %v", truncated, len(shown), shown[0], shown[49], shown[50], shown[99])
	}
}

// TestRetriesAndTimeout checks that an answer that can pass (429, 503) is retried and one that
// cannot (500, 400) is not, and that requestTimeout bounds the call.
func TestRetriesAndTimeout(t *testing.T) {
	ok := answer{status: 200, body: `{"series":[{"pointlist":[[1772366400000,1]]}]}`}
	for name, tc := range map[string]struct {
		answers      []answer
		timeout      string
		wantRequests int
		wantErr      string
	}{
		"429 then an answer": {answers: []answer{{status: 429, body: `{"errors":["Rate limit"]}`, header: map[string]string{"Retry-After": "0"}}, ok}, wantRequests: 2},
		"503 then an answer": {answers: []answer{{status: 503, body: "upstream"}, ok}, wantRequests: 2},
		"503 every time":     {answers: []answer{{status: 503, body: "upstream"}}, wantRequests: 3, wantErr: "answered 503 Service Unavailable: \"upstream\" (after 3 attempts)"},
		"500 is not retried": {answers: []answer{{status: 500, body: `{"errors":["Internal"]}`}}, wantRequests: 1, wantErr: "answered 500 Internal Server Error"},
		"400 is not retried": {answers: []answer{{status: 400, body: `{"errors":["bad query"]}`}}, wantRequests: 1, wantErr: `answered 400 Bad Request: "{\"errors\":[\"bad query\"]}"`},
		// the client may give up before a loaded machine has run the stand-in's handler: the
		// requests are not counted
		"a slow answer": {answers: []answer{{status: 200, body: ok.body, delay: 2 * time.Second}}, timeout: "200ms", wantRequests: -1, wantErr: "datadog: no answer from"},
	} {
		t.Run(name, func(t *testing.T) {
			api := newStandIn(t, tc.answers...)
			p := newProvider(secret("argo-rollouts", "datadog", map[string]string{APIKeyKey: apiKey, AppKeyKey: appKey, AddressKey: api.srv.URL}))
			d := v1alpha1.DatadogMetric{Query: "avg:x{*}"}
			if tc.timeout != "" {
				d.RequestTimeout = v1alpha1.DurationPtr(v1alpha1.DurationFromString(tc.timeout))
			}
			start := time.Now()
			_, err := p.Measure(context.Background(), run, metric(d))
			checkErr(t, err, tc.wantErr)
			if n := len(api.requests()); tc.wantRequests >= 0 && n != tc.wantRequests {
				t.Errorf("%d requests, want %d", n, tc.wantRequests)
			}
			if tc.timeout != "" && time.Since(start) > time.Second {
				t.Errorf("took %s with requestTimeout %s", time.Since(start), tc.timeout)
			}
		})
	}
}

// TestKeys checks where the keys are looked for, as in Argo Rollouts, and that a message never
// shows them.
func TestKeys(t *testing.T) {
	api := newStandIn(t, answer{status: 200, body: `{"series":[{"pointlist":[[1772366400000,1]]}]}`})
	keysIn := func(ns, name string) *corev1.Secret {
		return secret(ns, name, map[string]string{APIKeyKey: apiKey, AppKeyKey: appKey, AddressKey: api.srv.URL})
	}
	env := map[string]string{"DD_API_KEY": apiKey, "DD_APP_KEY": appKey, "DD_ADDRESS": api.srv.URL}
	for name, tc := range map[string]struct {
		secrets []*corev1.Secret
		env     map[string]string
		ref     v1alpha1.SecretRef
		wantErr string
	}{
		"the controller's datadog Secret":        {secrets: []*corev1.Secret{keysIn("argo-rollouts", "datadog")}},
		"the environment before the Secret":      {env: env, secrets: []*corev1.Secret{secret("argo-rollouts", "datadog", map[string]string{APIKeyKey: "wrong", AppKeyKey: "wrong"})}},
		"a named Secret of the controller":       {secrets: []*corev1.Secret{keysIn("argo-rollouts", "dd-prod")}, ref: v1alpha1.SecretRef{Name: "dd-prod"}},
		"a Secret of the analysis' namespace":    {secrets: []*corev1.Secret{keysIn("shop", "dd")}, ref: v1alpha1.SecretRef{Name: "dd", Namespaced: true}},
		"a named Secret ignores the environment": {env: env, ref: v1alpha1.SecretRef{Name: "dd-prod"}, wantErr: "datadog: the Secret argo-rollouts/dd-prod does not exist"},
		"a namespaced Secret is not looked for elsewhere": {secrets: []*corev1.Secret{keysIn("argo-rollouts", "dd")}, ref: v1alpha1.SecretRef{Name: "dd", Namespaced: true},
			wantErr: "datadog: the Secret shop/dd does not exist"},
		"an incomplete environment falls back to the Secret": {env: map[string]string{"DD_API_KEY": apiKey, "DD_APP_KEY": appKey},
			secrets: []*corev1.Secret{keysIn("argo-rollouts", "datadog")}},
		"no keys anywhere": {wantErr: "datadog: no keys in DD_API_KEY, DD_APP_KEY and DD_ADDRESS, nor in the default Secret: the Secret argo-rollouts/datadog does not exist"},
		"a Secret without the app key": {secrets: []*corev1.Secret{secret("argo-rollouts", "datadog", map[string]string{APIKeyKey: apiKey})},
			wantErr: `the Secret argo-rollouts/datadog has no "app-key"`},
		"an address that is not a URL": {secrets: []*corev1.Secret{secret("argo-rollouts", "datadog", map[string]string{APIKeyKey: apiKey, AppKeyKey: appKey, AddressKey: "api.datadoghq.eu"})},
			wantErr: `datadog: the Secret argo-rollouts/datadog: the address "api.datadoghq.eu" is not an http:// or https:// URL`},
	} {
		t.Run(name, func(t *testing.T) {
			p := newProvider(tc.secrets...)
			p.LookupEnv = func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			before := len(api.requests())
			res, err := p.Measure(context.Background(), run, metric(v1alpha1.DatadogMetric{Query: "avg:x{*}", SecretRef: tc.ref}))
			checkErr(t, err, tc.wantErr)
			if tc.wantErr == "" {
				reqs := api.requests()
				if res.Value != 1.0 || len(reqs) != before+1 || reqs[len(reqs)-1].apiKey != apiKey || reqs[len(reqs)-1].appKey != appKey {
					t.Errorf("value %v, requests %+v", res.Value, reqs[before:])
				}
			}
		})
	}
}

// TestKeysNeverShow checks that an answer echoing the keys is reported without them.
func TestKeysNeverShow(t *testing.T) {
	api := newStandIn(t, answer{status: 403, body: `{"errors":["key ` + apiKey + ` with ` + appKey + ` is not valid"]}`})
	p := newProvider(secret("argo-rollouts", "datadog", map[string]string{APIKeyKey: apiKey, AppKeyKey: appKey, AddressKey: api.srv.URL}))
	_, err := p.Measure(context.Background(), run, metric(v1alpha1.DatadogMetric{Query: "avg:x{*}"}))
	if err == nil || strings.Contains(err.Error(), apiKey) || strings.Contains(err.Error(), appKey) || !strings.Contains(err.Error(), "key ***** with *****") {
		t.Errorf("error %v", err)
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("error %v, want one containing %q", err, want)
	}
}
