// Package promtest runs a real Prometheus server for tests (the `prometheus` binary of Debian's
// package, installed by hack/prometheus/install.sh) and serves metrics for it to scrape.
// Everything listens on 127.0.0.1, on free ports, and stops when the test ends.
//
// Tests that need Prometheus are skipped under `go test -short`; otherwise a missing binary
// fails them with the command that installs it.
package promtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BinaryEnv names a prometheus binary to use instead of the one on PATH.
const BinaryEnv = "VANE_PROMETHEUS"

// Binary returns the path of the prometheus binary, or an error saying how to install it.
func Binary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", BinaryEnv, p, err)
		}
		return p, nil
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		return "", fmt.Errorf("the prometheus binary is not installed (not on PATH, %s unset): run `hack/prometheus/install.sh` (installs Debian's prometheus package)", BinaryEnv)
	}
	return p, nil
}

// Server is a running Prometheus.
type Server struct {
	// URL is the server's address, http://127.0.0.1:PORT.
	URL  string
	cmd  *exec.Cmd
	log  string
	mu   sync.Mutex
	done chan struct{}
}

// Start starts Prometheus scraping the given host:port targets every scrapeInterval, with its
// data in a temporary folder, and waits until it is ready. It stops when t ends.
func Start(t testing.TB, scrapeInterval time.Duration, targets ...string) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real Prometheus server; skipped by -short")
	}
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf("global:\n  scrape_interval: %s\n  evaluation_interval: %s\nscrape_configs:\n", promDuration(scrapeInterval), promDuration(scrapeInterval))
	if len(targets) > 0 {
		quoted := make([]string, len(targets))
		for i, tg := range targets {
			quoted[i] = fmt.Sprintf("%q", tg)
		}
		cfg += fmt.Sprintf("  - job_name: test\n    scrape_interval: %s\n    static_configs:\n      - targets: [%s]\n",
			promDuration(scrapeInterval), strings.Join(quoted, ", "))
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), log: filepath.Join(dir, fmt.Sprintf("prometheus-%d.log", attempt)), done: make(chan struct{})}
		logf, err := os.Create(s.log)
		if err != nil {
			t.Fatal(err)
		}
		s.cmd = exec.Command(bin,
			"--config.file="+cfgPath,
			"--storage.tsdb.path="+filepath.Join(dir, fmt.Sprintf("data-%d", attempt)),
			fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
			"--storage.tsdb.retention.time=1h",
		)
		s.cmd.Stdout, s.cmd.Stderr = logf, logf
		if err := s.cmd.Start(); err != nil {
			_ = logf.Close()
			t.Fatalf("starting %s: %v", bin, err)
		}
		go func() { _ = s.cmd.Wait(); _ = logf.Close(); close(s.done) }()
		t.Cleanup(s.Stop)
		if lastErr = s.waitReady(30 * time.Second); lastErr == nil {
			return s
		}
		s.Stop()
	}
	t.Fatalf("prometheus did not start: %v", lastErr)
	return nil
}

func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("prometheus exited: %s", s.LogTail())
		default:
		}
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("prometheus not ready after %s: %s", timeout, s.LogTail())
}

// Stop stops the server (SIGTERM, then SIGKILL after 10 s). Stopping twice is fine.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// LogTail returns the end of the server's log.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// WaitForData waits until query returns at least one sample (the first scrapes are in).
func (s *Server) WaitForData(t testing.TB, query string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		n, body, err := s.count(query)
		if err == nil && n > 0 {
			return
		}
		last = fmt.Sprintf("%v %s", err, body)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("prometheus has no data for %s after %s (last answer: %s); log: %s", query, timeout, last, s.LogTail())
}

func (s *Server) count(query string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/query?query="+url.QueryEscape(query), nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	var r struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, string(b), err
	}
	return len(r.Data.Result), string(b), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Exporter serves gauges in Prometheus' text format on 127.0.0.1, for a Prometheus to scrape.
type Exporter struct {
	srv *httptest.Server
	mu  sync.Mutex
	// gauges by series, e.g. `http_requests_total{code="200"}`
	gauges map[string]float64
}

// NewExporter starts an exporter; it stops when t ends.
func NewExporter(t testing.TB) *Exporter {
	t.Helper()
	e := &Exporter{gauges: map[string]float64{}}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		series := make([]string, 0, len(e.gauges))
		for s := range e.gauges {
			series = append(series, s)
		}
		sort.Strings(series)
		for _, s := range series {
			fmt.Fprintf(w, "%s %v\n", s, e.gauges[s])
		}
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// Target is the exporter's host:port, for a scrape configuration.
func (e *Exporter) Target() string { return strings.TrimPrefix(e.srv.URL, "http://") }

// Set sets a series (a metric name with optional labels, e.g. `requests{code="500"}`) to v.
func (e *Exporter) Set(series string, v float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gauges[series] = v
}
