package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider/prometheus/promtest"
	"github.com/vanedev/vane/internal/testenv"
)

// metricsController runs `vane controller` for one instance id and namespace, one rollout
// reconciled at a time, its metrics on a free loopback port; it returns that host:port.
func metricsController(t *testing.T, env *testenv.Env, id, ns string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	logPath := filepath.Join(t.TempDir(), "controller.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(buildVane(t, env), "controller", "--kubeconfig", env.Kubeconfig, "--namespace", ns,
		"--instance-id", id, "--workers", "1", "--metrics-bind-address", addr, "--health-probe-bind-address", "0", "-v", "1")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("controller log:\n%s", tail(string(b), 4000))
		}
	})
	return addr
}

// scrape reads the controller's /metrics: each sample by its series as exposed (labels sorted
// by name), of the series whose labels include every one of with.
func scrape(t *testing.T, addr string, with ...string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil // not serving yet
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
lines:
	for _, line := range strings.Split(string(b), "\n") {
		i := strings.LastIndexByte(line, ' ')
		if line == "" || line[0] == '#' || i < 0 {
			continue
		}
		for _, w := range with {
			if !strings.Contains(line[:i], w) {
				continue lines
			}
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// scrapeUntil scrapes until the samples of want's series are want (the controller's cache has
// the state the test waits for), and returns that scrape; it fails with the difference.
func scrapeUntil(t *testing.T, addr, what string, want map[string]float64, with ...string) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		got := scrape(t, addr, with...)
		d := cmp.Diff(want, pick(got, want))
		if d == "" {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s (-want +got):\n%s", what, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func dump(m map[string]float64) string {
	lines := make([]string, 0, len(m))
	for k, v := range m {
		lines = append(lines, fmt.Sprintf("%s %v", k, v))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// pick returns the samples of got whose series is a key of want (the test's subset).
func pick(got, want map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k := range want {
		if v, ok := got[k]; ok {
			out[k] = v
		}
	}
	return out
}

// rolloutSeries are the cache-read series of rollout app in ns at a phase (Argo's phase label)
// with its replica counts, canary step and weight.
func rolloutSeries(ns, phase string, desired, updated, available, unavailable, step, weight float64) map[string]float64 {
	id := fmt.Sprintf(`{name="app",namespace=%q}`, ns)
	want := map[string]float64{
		fmt.Sprintf(`rollout_info{name="app",namespace=%q,phase=%q,strategy="canary",traffic_router=""}`, ns, phase): 1,
		"rollout_info_replicas_desired" + id: desired, "rollout_info_replicas_updated" + id: updated,
		"rollout_info_replicas_available" + id: available, "rollout_info_replicas_unavailable" + id: unavailable,
		"vane_rollout_canary_step" + id: step, "vane_rollout_canary_step_count" + id: 3, "vane_rollout_canary_set_weight" + id: weight,
	}
	for _, p := range []string{"Completed", "Progressing", "Paused", "Timeout", "Error", "Abort"} {
		key := fmt.Sprintf(`rollout_phase{name="app",namespace=%q,phase=%q,strategy="canary"}`, ns, p)
		want[key] = 0
		if p == phase {
			want[key] = 1
		}
	}
	return want
}

// TestMetrics runs a controller process with a real Prometheus scraping it, and a canary (50%,
// an analysis step whose Prometheus metric succeeds, an indefinite pause) through a completed
// update and an aborted one. At each phase the scraped series say what the rollout does; every
// query of the Grafana dashboard then has data in Prometheus; once the controller has seen the
// rollout deleted, none of its series are left.
func TestMetrics(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	const id = "metrics-test"
	addr := metricsController(t, env, id, ns)
	prom := promtest.Start(t, time.Second, addr)
	start := time.Now()
	at := &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: "ok", Namespace: ns}, Spec: v1alpha1.AnalysisTemplateSpec{
		Metrics: []v1alpha1.Metric{{Name: "ok", SuccessCondition: "result[0] == 1", Count: ptr.To(intstrOf(1)),
			Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Address: prom.URL, Query: "vector(1)"}}}}}}
	must(t, "AnalysisTemplate", env.Client.Create(ctx, at))
	applyManifests(t, env, ns, "examples/seeds/keptn-podtatohead-rollout.yaml", func(ro *v1alpha1.Rollout) {
		ro.Name = "app"
		ro.Labels = map[string]string{v1alpha1.InstanceIDLabel: id}
		ro.Spec.Template.Spec.Containers[0].Image = "app:1"
		ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](50)},
			{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "ok"}}}},
			{Pause: &v1alpha1.RolloutPause{}}}
	})
	inNS := fmt.Sprintf("namespace=%q", ns)
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 3, Stable: "app:1", Sets: "app:1=4/4"})
	completed := rolloutSeries(ns, "Completed", 4, 4, 4, 0, 3, 100)
	scrapeUntil(t, addr, "healthy at revision 1", completed, inNS)
	prom.WaitForData(t, fmt.Sprintf(`rollout_info{%s,phase="Completed"}`, inNS), waitLong)

	setImage(t, env, ns, "app", "app:2")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 2, Stable: "app:1", Sets: "app:1=2/2 app:2=2/2"})
	paused := rolloutSeries(ns, "Paused", 4, 2, 4, 0, 2, 50)
	got := scrapeUntil(t, addr, "paused at step 2", paused, inNS)
	checkAnalysisSeries(t, got, ns)
	// the dashboard's in-progress panels need Prometheus to have seen the pause
	prom.WaitForData(t, fmt.Sprintf(`rollout_info{%s,phase="Paused"}`, inNS), waitLong)
	t.Logf("scrape while paused at step 2:\n%s", dump(got))

	promote(t, env, ns, "app", false)
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 3, Stable: "app:2", Sets: "app:2=4/4"})
	scrapeUntil(t, addr, "healthy at revision 2", completed, inNS)

	setImage(t, env, ns, "app", "app:3")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 2, Stable: "app:2"})
	abort(t, env, ns, "app")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Degraded", Stable: "app:2", Sets: "app:2=4/4", Message: "RolloutAborted"})
	aborted := rolloutSeries(ns, "Abort", 4, 0, 4, 0, 0, 0) // status.currentStepIndex is 0 once aborted
	aborted[fmt.Sprintf(`rollout_events_total{name="app",namespace=%q,reason="RolloutAborted",type="Warning"}`, ns)] = 1
	got = scrapeUntil(t, addr, "aborted", aborted, inNS)
	prom.WaitForData(t, fmt.Sprintf(`rollout_info{%s,phase="Abort"}`, inNS), waitLong)
	t.Logf("scrape once aborted:\n%s", dump(got))

	checkDashboard(t, env, prom, ns, start)
	checkDeletedSeries(t, env, addr, ns, id)
}

func intstrOf(n int) intstr.IntOrString { return intstr.FromInt32(int32(n)) }

// checkAnalysisSeries: the step's run is Successful, and so is its one metric, of type
// Prometheus, not a dry run.
func checkAnalysisSeries(t *testing.T, got map[string]float64, ns string) {
	t.Helper()
	found := map[string]float64{}
	for k, v := range got {
		if v == 1 && (strings.HasPrefix(k, "analysis_run_info{") || strings.HasPrefix(k, "analysis_run_metric_phase{") ||
			strings.HasPrefix(k, "analysis_run_metric_type{")) {
			// the run's name is generated: drop it
			found[strings.Split(k, "{")[0]+"{"+strings.Join(dropName(k), ",")+"}"] = v
		}
	}
	want := map[string]float64{
		fmt.Sprintf(`analysis_run_info{namespace=%q,phase="Successful"}`, ns):                                                       1,
		fmt.Sprintf(`analysis_run_metric_type{metric="ok",namespace=%q,type="Prometheus"}`, ns):                                     1,
		fmt.Sprintf(`analysis_run_metric_phase{dry_run="false",metric="ok",namespace=%q,phase="Successful",type="Prometheus"}`, ns): 1,
	}
	if d := cmp.Diff(want, found); d != "" {
		t.Errorf("analysis series with value 1 (-want +got):\n%s", d)
	}
}

// dropName returns the label pairs of a series but its name="…".
func dropName(series string) []string {
	inner := strings.TrimSuffix(series[strings.IndexByte(series, '{')+1:], "}")
	var out []string
	for _, p := range strings.Split(inner, ",") {
		if !strings.HasPrefix(p, "name=") {
			out = append(out, p)
		}
	}
	return out
}

// checkDeletedSeries deletes rollout app, then has the controller (one rollout reconcile at a
// time) reconcile a new rollout, created after the deletion: the deletion's reconcile, queued
// first, is done by then. No series of app is left.
func checkDeletedSeries(t *testing.T, env *testenv.Env, addr, ns, id string) {
	t.Helper()
	ctx := context.Background()
	must(t, "deleting the rollout", env.Client.Delete(ctx, &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}}))
	applyManifests(t, env, ns, "examples/seeds/keptn-podtatohead-rollout.yaml", func(ro *v1alpha1.Rollout) {
		ro.Name = "marker"
		ro.Labels = map[string]string{v1alpha1.InstanceIDLabel: id}
		ro.Spec.Replicas = ptr.To[int32](1)
		ro.Spec.Selector.MatchLabels = map[string]string{"app": "marker"}
		ro.Spec.Template.Labels = map[string]string{"app": "marker"}
		ro.Spec.Template.Spec.Containers[0].Image = "marker:1"
		ro.Spec.Strategy.Canary.Steps = nil
	})
	waitState(t, env, ns, "marker", waitLong, snapshot{Phase: "Healthy", Step: anyStep, Stable: "marker:1", Sets: "marker:1=1/1"})
	var ro v1alpha1.Rollout
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, &ro); err == nil {
		t.Fatal("rollout app still exists")
	}
	markerInfo := fmt.Sprintf(`rollout_info{name="marker",namespace=%q,phase="Completed",strategy="canary",traffic_router=""}`, ns)
	scrapeUntil(t, addr, "the marker rollout", map[string]float64{markerInfo: 1}, fmt.Sprintf("namespace=%q", ns))
	if left := scrape(t, addr, fmt.Sprintf("namespace=%q", ns), `name="app"`); len(left) != 0 {
		t.Errorf("series of the deleted rollout:\n%s", dump(left))
	}
}

// checkDashboard runs every query of config/grafana/vane.json over the test's time range in
// Prometheus ($namespace: the test's namespace; $__rate_interval: 1m): each must return data.
func checkDashboard(t *testing.T, env *testenv.Env, prom *promtest.Server, ns string, start time.Time) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.RepoRoot, "config/grafana/vane.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("config/grafana/vane.json: %v", err)
	}
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			q := strings.NewReplacer("$namespace", ns, "$__rate_interval", "1m").Replace(tg.Expr)
			series := waitRangeData(t, prom, q, start)
			t.Logf("panel %q: %s: %s", p.Title, q, series)
			n++
		}
	}
	if n < len(dash.Panels) {
		t.Errorf("%d queries for %d panels", n, len(dash.Panels))
	}
}

// waitRangeData polls a range query from start to now (step 1s) until it returns a series,
// and returns the label sets of the series.
func waitRangeData(t *testing.T, prom *promtest.Server, query string, start time.Time) string {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	var last string
	for {
		v := url.Values{"query": {query}, "start": {strconv.FormatInt(start.Unix(), 10)},
			"end": {strconv.FormatInt(time.Now().Unix()+1, 10)}, "step": {"1"}}
		resp, err := http.Get(prom.URL + "/api/v1/query_range?" + v.Encode())
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			var r struct {
				Status string `json:"status"`
				Data   struct {
					Result []struct {
						Metric map[string]string `json:"metric"`
					} `json:"result"`
				} `json:"data"`
			}
			if json.Unmarshal(b, &r) == nil && r.Status == "success" && len(r.Data.Result) > 0 {
				sets := make([]string, 0, len(r.Data.Result))
				for _, res := range r.Data.Result {
					sets = append(sets, fmt.Sprint(res.Metric))
				}
				return strings.Join(sets, " ")
			}
			last = string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no data for %s; last answer: %s", query, tail(last, 1000))
		}
		time.Sleep(500 * time.Millisecond)
	}
}
