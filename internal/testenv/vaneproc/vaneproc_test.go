package vaneproc

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func shell(t *testing.T) string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	return sh
}

// TestKillAndStartAgain: a process started twice with the same options writes one log; Kill
// ends it with SIGKILL, Stop with SIGTERM; RSS reads its memory while it runs.
func TestKillAndStartAgain(t *testing.T) {
	o := Options{Name: "sleeper", Bin: shell(t), Args: []string{"-c", `echo "started $$"; trap 'echo term; exit 0' TERM; while :; do sleep 0.05; done`}}
	p := Start(t, o)
	deadline := time.Now().Add(5 * time.Second)
	for len(p.LogLines("started")) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if rss, err := p.RSS(); err != nil || rss <= 0 {
		t.Errorf("RSS of a running process: %d, %v", rss, err)
	}
	p.Kill()
	exited, state := p.Exited()
	if !exited || state.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("after Kill: exited %v, %v", exited, state)
	}
	p = Start(t, p.Options())
	for len(p.LogLines("started")) < 2 && time.Now().Before(deadline.Add(5*time.Second)) {
		time.Sleep(20 * time.Millisecond)
	}
	if killed := p.Stop(5 * time.Second); killed {
		t.Errorf("Stop needed SIGKILL for a process that exits on SIGTERM")
	}
	got := map[string]int{"started": len(p.LogLines("started")), "term": len(p.LogLines("term"))}
	if d := cmp.Diff(map[string]int{"started": 2, "term": 1}, got); d != "" {
		t.Errorf("log lines of both runs (-want +got):\n%s\n%s", d, p.Tail(1000))
	}
}

func TestMetricsSum(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Join([]string{
			`# HELP workqueue_depth depth`,
			`workqueue_depth{name="rollout"} 3`,
			`workqueue_depth{name="analysisrun"} 2`,
			`controller_runtime_reconcile_total{controller="rollout",result="success"} 10`,
			`controller_runtime_reconcile_total{controller="rollout",result="error"} 1`,
			`up 1`,
		}, "\n")))
	}))
	defer srv.Close()
	m, err := Scrape(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		metric string
		labels []string
		want   float64
	}{
		"every series":       {metric: "workqueue_depth", want: 5},
		"one label":          {metric: "workqueue_depth", labels: []string{`name="rollout"`}, want: 3},
		"two labels":         {metric: "controller_runtime_reconcile_total", labels: []string{`controller="rollout"`, `result="error"`}, want: 1},
		"no labels":          {metric: "up", want: 1},
		"no such series":     {metric: "workqueue_depth", labels: []string{`name="experiment"`}, want: 0},
		"no prefix matching": {metric: "workqueue", want: 0},
	} {
		t.Run(name, func(t *testing.T) {
			if got := m.Sum(tc.metric, tc.labels...); got != tc.want {
				t.Errorf("Sum(%s, %v) = %v, want %v", tc.metric, tc.labels, got, tc.want)
			}
		})
	}
}
