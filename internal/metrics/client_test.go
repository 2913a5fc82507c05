package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// TestRateLimiterWait sends requests through a client-go client with a small limit and reads how
// long they waited from rest_client_rate_limiter_duration_seconds.
func TestRateLimiterWait(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	tests := map[string]struct {
		qps           float32
		burst, sends  int
		wantCount     float64
		wantMinWaitMs float64 // the limiter's wait, summed
	}{
		"within the burst": {qps: 1, burst: 5, sends: 3, wantCount: 3},
		// 2 waits of ~500 ms; a loaded machine's slow requests eat into them, so ask for far less
		"beyond the burst: it waits": {qps: 2, burst: 1, sends: 3, wantCount: 3, wantMinWaitMs: 100},
	}
	observeRateLimiter()
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rateLimiterWait.Reset()
			rc, err := rest.RESTClientFor(&rest.Config{Host: srv.URL, QPS: tc.qps, Burst: tc.burst,
				ContentConfig: rest.ContentConfig{GroupVersion: &schema.GroupVersion{Version: "v1"},
					NegotiatedSerializer: scheme.Codecs.WithoutConversion()}, APIPath: "/api"})
			if err != nil {
				t.Fatal(err)
			}
			for range tc.sends {
				if err := rc.Get().AbsPath("/api/v1/namespaces/ns/pods/p").Do(context.Background()).Error(); err != nil {
					t.Fatal(err)
				}
			}
			got := series(t, rateLimiterWait, "rest_client_rate_limiter_duration_seconds")
			if d := cmp.Diff(tc.wantCount, got[`rest_client_rate_limiter_duration_seconds_count{verb="GET"}`]); d != "" {
				t.Errorf("requests observed (-want +got):\n%s", d)
			}
			if waited := got[`rest_client_rate_limiter_duration_seconds_sum{verb="GET"}`] * 1000; waited < tc.wantMinWaitMs {
				t.Errorf("waited %.1f ms in all, want at least %.0f ms", waited, tc.wantMinWaitMs)
			}
		})
	}
}
