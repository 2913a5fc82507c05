package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
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
		{name: "string by jsonPath", w: v1alpha1.WebMetric{URL: srv.URL + "/", JSONPath: "{$.status}"}, value: "ok", display: "ok"},
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
		{name: "oauth2 not supported", w: v1alpha1.WebMetric{URL: srv.URL + "/", Authentication: v1alpha1.Authentication{
			OAuth2: v1alpha1.OAuth2Config{TokenURL: "http://127.0.0.1:1/token"}}}, err: "authentication"},
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
