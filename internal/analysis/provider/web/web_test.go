package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/auth/authtest"
)

func metric(w v1alpha1.WebMetric) *v1alpha1.Metric {
	return &v1alpha1.Metric{Name: "m", Provider: v1alpha1.MetricProvider{Web: &w}}
}

func TestMeasure(t *testing.T) {
	var got struct {
		method, auth, contentType, body string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.method, got.auth, got.contentType, got.body = r.Method, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)
		switch r.URL.Path {
		case "/":
			_, _ = io.WriteString(w, `{"color": "blue", "status": "ok", "rate": 0.97, "checks": [{"ok": true}, {"ok": false}]}`)
		case "/down":
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		case "/text":
			_, _ = io.WriteString(w, "ok")
		case "/slow":
			time.Sleep(1500 * time.Millisecond)
			_, _ = io.WriteString(w, `{}`)
		case "/limit":
			_, _ = io.WriteString(w, `"`+strings.Repeat("x", maxBody-2)+`"`)
		case "/huge", "/huge-chunked":
			if r.URL.Path == "/huge" {
				w.Header().Set("Content-Length", strconv.Itoa(maxBody+3))
			}
			_, _ = io.WriteString(w, `"`+strings.Repeat("x", maxBody+1)+`"`)
		}
	}))
	defer srv.Close()
	p := New()
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		w       v1alpha1.WebMetric
		value   any
		display string
		err     string
	}{
		// a string is stored JSON-encoded, as Argo stores it (a measurement of "ok" reads `"ok"`)
		{name: "string by jsonPath", w: v1alpha1.WebMetric{URL: srv.URL + "/", JSONPath: "{$.status}"}, value: "ok", display: `"ok"`},
		{name: "number", w: v1alpha1.WebMetric{URL: srv.URL + "/", JSONPath: "{$.rate}"}, value: 0.97, display: "0.97"},
		{name: "several matches make a list", w: v1alpha1.WebMetric{URL: srv.URL + "/", JSONPath: "{$.checks[*].ok}"},
			value: []any{true, false}, display: "[true,false]"},
		{name: "whole answer by default", w: v1alpha1.WebMetric{URL: srv.URL + "/"}, display: `{"checks":[{"ok":true},{"ok":false}],"color":"blue","rate":0.97,"status":"ok"}`},
		{name: "missing key", w: v1alpha1.WebMetric{URL: srv.URL + "/", JSONPath: "{$.nope}"}, err: "nope is not found"},
		{name: "non-2xx is an error", w: v1alpha1.WebMetric{URL: srv.URL + "/down"}, err: `answered 503 Service Unavailable: "database unavailable"`},
		{name: "not JSON", w: v1alpha1.WebMetric{URL: srv.URL + "/text"}, err: "the answer is not JSON"},
		{name: "timeout", w: v1alpha1.WebMetric{URL: srv.URL + "/slow", TimeoutSeconds: 1}, err: "within 1s (timeoutSeconds)"},
		{name: "refused", w: v1alpha1.WebMetric{URL: "http://127.0.0.1:1/"}, err: "connection refused"},
		{name: "bad jsonPath", w: v1alpha1.WebMetric{URL: srv.URL + "/", JSONPath: "{$.status"}, err: "jsonPath"},
		{name: "an answer of the largest size", w: v1alpha1.WebMetric{URL: srv.URL + "/limit"}, display: `"` + strings.Repeat("x", maxBody-2) + `"`},
		{name: "a larger answer, by its Content-Length", w: v1alpha1.WebMetric{URL: srv.URL + "/huge"},
			err: "the answer of " + srv.URL + "/huge is larger than 10 MiB, the most a web metric reads"},
		{name: "a larger answer, read up to the limit", w: v1alpha1.WebMetric{URL: srv.URL + "/huge-chunked"},
			err: "the answer of " + srv.URL + "/huge-chunked is larger than 10 MiB, the most a web metric reads"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := p.Measure(ctx, nil, metric(tc.w))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.value != nil && !reflect.DeepEqual(res.Value, tc.value) {
				t.Errorf("value %#v, want %#v", res.Value, tc.value)
			}
			if res.Display != tc.display {
				t.Errorf("display %q, want %q", res.Display, tc.display)
			}
			if res.Phase != "" {
				t.Errorf("phase %q: the conditions judge web results", res.Phase)
			}
		})
	}

	// headers, methods and bodies
	_, err := p.Measure(ctx, nil, metric(v1alpha1.WebMetric{URL: srv.URL + "/", Method: "POST", Body: "plain",
		Headers: []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: "Bearer t0k"}}}))
	if err != nil || got.method != "POST" || got.auth != "Bearer t0k" || got.body != "plain" {
		t.Errorf("POST with a body and a header: %+v, %v", got, err)
	}
	_, err = p.Measure(ctx, nil, metric(v1alpha1.WebMetric{URL: srv.URL + "/", Method: "PUT", JSONBody: json.RawMessage(`{"a":1}`)}))
	if err != nil || got.method != "PUT" || got.contentType != "application/json" || got.body != `{"a":1}` {
		t.Errorf("PUT with a JSON body: %+v, %v", got, err)
	}
}

func TestInsecure(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}))
	defer srv.Close()
	p := New()
	if _, err := p.Measure(context.Background(), nil, metric(v1alpha1.WebMetric{URL: srv.URL, JSONPath: "{$.status}"})); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Errorf("a self-signed certificate without insecure: %v", err)
	}
	res, err := p.Measure(context.Background(), nil, metric(v1alpha1.WebMetric{URL: srv.URL, JSONPath: "{$.status}", Insecure: true}))
	if err != nil || res.Value != "ok" {
		t.Errorf("insecure: %v, %v", res, err)
	}
}

// TestOAuth2 calls an endpoint that wants a token from a local OAuth2 token endpoint.
func TestOAuth2(t *testing.T) {
	const secret = "web-s3cret"
	ts := authtest.NewTokenServer(t, "vane", secret, "health:read")
	var calls atomic.Int32
	app := httptest.NewServer(ts.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})))
	defer app.Close()
	oauth2 := func(mutate func(*v1alpha1.OAuth2Config)) v1alpha1.Authentication {
		c := v1alpha1.OAuth2Config{TokenURL: ts.URL, ClientID: "vane", ClientSecret: secret, Scopes: []string{"health:read"}}
		mutate(&c)
		return v1alpha1.Authentication{OAuth2: c}
	}
	type outcome struct {
		Value     any
		Err       string
		Permanent bool
		AppCalls  int32 // requests that reached the app
	}
	p := New()
	for name, tc := range map[string]struct {
		auth    v1alpha1.Authentication
		headers []v1alpha1.WebMetricHeader
		want    outcome
	}{
		"a token from the endpoint": {auth: oauth2(func(*v1alpha1.OAuth2Config) {}), want: outcome{Value: "ok", AppCalls: 1}},
		"the token replaces an Authorization header": {auth: oauth2(func(*v1alpha1.OAuth2Config) {}),
			headers: []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: "Bearer stale"}}, want: outcome{Value: "ok", AppCalls: 1}},
		"a wrong secret": {auth: oauth2(func(c *v1alpha1.OAuth2Config) { c.ClientSecret = "wrong-" + secret }), want: outcome{
			Err: `web: authentication.oauth2: the token endpoint ` + ts.URL + ` refused client "vane": HTTP 401 Unauthorized, invalid_client (client authentication failed): check clientId and clientSecret`}},
		"no authentication": {want: outcome{Err: `web: GET ` + app.URL + `/ answered 401 Unauthorized: "a valid bearer token is required"`}},
		"sigv4": {auth: v1alpha1.Authentication{Sigv4: v1alpha1.Sigv4Config{Region: "eu-west-1"}}, want: outcome{Permanent: true,
			Err: "web: authentication.sigv4 is only supported by the prometheus provider: use authentication.oauth2 or basicAuth, or pass a token in a header from a secret argument"}},
	} {
		t.Run(name, func(t *testing.T) {
			before := calls.Load()
			res, err := p.Measure(context.Background(), nil, metric(v1alpha1.WebMetric{URL: app.URL + "/", JSONPath: "{$.status}", Headers: tc.headers, Authentication: tc.auth}))
			got := outcome{Value: res.Value, AppCalls: calls.Load() - before}
			if err != nil {
				got.Err, got.Permanent = err.Error(), provider.IsPermanent(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if strings.Contains(got.Err, secret) {
				t.Errorf("the error gives the secret away: %s", got.Err)
			}
		})
	}
	// what reached the app: the issued token twice (never the stale header), and nothing once
	got := ts.Authorizations()
	slices.Sort(got)
	if diff := cmp.Diff([]string{"", "Bearer " + ts.Token, "Bearer " + ts.Token}, got); diff != "" {
		t.Errorf("Authorization headers the app saw (-want +got):\n%s", diff)
	}
}

// TestBasicAuth calls an endpoint that wants a user and password: basicAuth replaces an
// Authorization header; a wrong password is the endpoint's 401.
func TestBasicAuth(t *testing.T) {
	const password = "b4sic-s3cret"
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || user != "vane" || pass != password {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"status":"who are you"}`)
			return
		}
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}))
	defer app.Close()
	for name, tc := range map[string]struct {
		basic   v1alpha1.BasicAuthConfig
		want    any
		wantErr string
	}{
		"the right password": {basic: v1alpha1.BasicAuthConfig{Username: "vane", Password: password}, want: "ok"},
		"a wrong password": {basic: v1alpha1.BasicAuthConfig{Username: "vane", Password: "wrong"},
			wantErr: `web: GET ` + app.URL + `/ answered 401 Unauthorized: "{\"status\":\"who are you\"}"`},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := New().Measure(context.Background(), nil, metric(v1alpha1.WebMetric{URL: app.URL + "/", JSONPath: "{$.status}",
				Headers: []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: "Bearer stale"}}, Authentication: v1alpha1.Authentication{BasicAuth: tc.basic}}))
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if res.Value != tc.want || gotErr != tc.wantErr || strings.Contains(gotErr, password) {
				t.Errorf("value %v error %q; want %v %q", res.Value, gotErr, tc.want, tc.wantErr)
			}
		})
	}
}
