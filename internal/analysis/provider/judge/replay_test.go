package judge

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// replay is a loopback exporter that replays recorded series to a Prometheus: its n-th scrape
// serves every series' n-th sample, and once the samples run out it serves none (Prometheus
// then marks the series stale). So each sample is one scrape, whatever the scrape's timing.
type replay struct {
	srv    *httptest.Server
	mu     sync.Mutex
	metric string
	series map[string][]float64 // by rollouts_pod_template_hash
	next   int
	done   chan struct{}
}

// newReplay serves metric with one series per pod-template hash; it stops when t ends.
func newReplay(t *testing.T, metric string, series map[string][]float64) *replay {
	t.Helper()
	r := &replay{metric: metric, series: series, done: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *replay) serve(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/metrics" {
		http.NotFound(w, req)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	hashes := make([]string, 0, len(r.series))
	for h := range r.series {
		hashes = append(hashes, h)
	}
	sort.Strings(hashes)
	served := false
	for _, h := range hashes {
		if s := r.series[h]; r.next < len(s) {
			fmt.Fprintf(w, "%s{rollouts_pod_template_hash=%q} %v\n", r.metric, h, s[r.next])
			served = true
		}
	}
	r.next++
	if !served {
		select {
		case <-r.done:
		default:
			close(r.done)
		}
	}
}

// target is the exporter's host:port.
func (r *replay) target() string { return strings.TrimPrefix(r.srv.URL, "http://") }

// wait waits until every sample was scraped.
func (r *replay) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(timeout):
		r.mu.Lock()
		defer r.mu.Unlock()
		t.Fatalf("the series were not all scraped after %s (%d scrapes)", timeout, r.next)
	}
}

// recorded reads the recorded latency series of testdata/latency.json.
func recorded(t *testing.T) map[string][]float64 {
	t.Helper()
	b, err := os.ReadFile("testdata/latency.json")
	if err != nil {
		t.Fatal(err)
	}
	var s map[string][]float64
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("testdata/latency.json: %v", err)
	}
	return s
}
