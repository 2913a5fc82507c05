package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"
)

func TestParseRequest(t *testing.T) {
	tests := map[string]struct {
		method, url, body string
		want              request
	}{
		"get":               {"GET", "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/app", "", request{"rollouts", "ns", "app", "Get"}},
		"list":              {"GET", "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts?limit=500", "", request{"rollouts", "ns", "N/A", "List"}},
		"cluster-wide list": {"GET", "/apis/apps/v1/replicasets", "", request{"replicasets", "", "N/A", "List"}},
		"watch":             {"GET", "/api/v1/services?watch=true", "", request{"services", "", "", "Watch"}},
		"watch of one":      {"GET", "/api/v1/namespaces/ns/pods?watch=true&fieldSelector=metadata.name%3Dp", "", request{"pods", "ns", "p", "Watch"}},
		"status patch":      {"PATCH", "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/app/status", "", request{"rollouts", "ns", "app", "Patch"}},
		"update":            {"PUT", "/api/v1/namespaces/ns/services/svc", "", request{"services", "ns", "svc", "Update"}},
		"delete":            {"DELETE", "/apis/apps/v1/namespaces/ns/replicasets/rs", "", request{"replicasets", "ns", "N/A", "Delete"}},
		"create: name of the body": {"POST", "/apis/argoproj.io/v1alpha1/namespaces/ns/analysisruns",
			`{"metadata":{"name":"run-1"}}`, request{"analysisruns", "ns", "run-1", "Create"}},
		"create of an event": {"POST", "/api/v1/namespaces/ns/events", `{"metadata":{"name":"e"}}`, request{"events", "ns", "N/A", "Create"}},
		"namespace get":      {"GET", "/api/v1/namespaces/ns", "", request{"namespaces", "", "ns", "Get"}},
		"discovery":          {"GET", "/apis/argoproj.io/v1alpha1", "", request{"v1alpha1", "", "", "Get"}},
		"unknown method":     {"OPTIONS", "/api/v1/pods", "", request{"Unknown", "Unknown", "Unknown", "Unknown"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
			r.GetBody = func() (_ io.ReadCloser, _ error) { return io.NopCloser(strings.NewReader(tc.body)), nil }
			if d := cmp.Diff(tc.want, parseRequest(r)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// CountRequests keeps the config's own wrapper, and counts with the status code (0: no response).
func TestCountRequests(t *testing.T) {
	cfg := &rest.Config{}
	wrapped := false
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { wrapped = true; return rt }
	CountRequests(cfg)
	rt := cfg.WrapTransport(roundTripper(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == "/api/v1/namespaces/cnt/pods/down" {
			return nil, errors.New("connection refused")
		}
		return &http.Response{StatusCode: http.StatusConflict}, nil
	}))
	for _, path := range []string{"/api/v1/namespaces/cnt/pods/p", "/api/v1/namespaces/cnt/pods/p", "/api/v1/namespaces/cnt/pods/down"} {
		_, _ = rt.RoundTrip(httptest.NewRequest("GET", path, nil))
	}
	got := map[string]float64{
		"409": value(k8sRequests.WithLabelValues("pods", "cnt", "p", "Get", "409")),
		"0":   value(k8sRequests.WithLabelValues("pods", "cnt", "down", "Get", "0")),
	}
	if d := cmp.Diff(map[string]float64{"409": 2, "0": 1}, got); d != "" || !wrapped {
		t.Errorf("counts by status code (-want +got):\n%s; the config's own wrapper ran: %v", d, wrapped)
	}
}
