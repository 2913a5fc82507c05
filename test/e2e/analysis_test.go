package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis"
	"github.com/vanedev/vane/internal/analysis/provider/prometheus/promtest"
	"github.com/vanedev/vane/internal/testenv"
)

// colorServer is the colorapi app of the seed, served by the test on 127.0.0.1: `/` answers
// {"color": ..., "status": "ok"|"nok"}, switchable; with a token set, a request without
// `Authorization: Bearer <token>` gets "nok"; `/broken` answers 503.
type colorServer struct {
	srv *httptest.Server
	mu  sync.Mutex
	// color and status are what `/` answers
	color, status, token string
	hits                 int
}

func newColorServer(t *testing.T, color, status string) *colorServer {
	t.Helper()
	c := &colorServer{color: color, status: status}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.hits++
		if r.URL.Path == "/broken" {
			http.Error(w, "broken on purpose", http.StatusServiceUnavailable)
			return
		}
		status := c.status
		if c.token != "" && r.Header.Get("Authorization") != "Bearer "+c.token {
			status = "nok"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"color": c.color, "status": status})
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// host is the server's host:port, the seed's `host` argument.
func (c *colorServer) host() string { return strings.TrimPrefix(c.srv.URL, "http://") }

func (c *colorServer) set(color, status string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.color, c.status = color, status
}

// applyTemplates creates the AnalysisTemplates (and Secrets) of a YAML file in ns; mutate may
// change each template first (shorter intervals, a local address).
func applyTemplates(t *testing.T, env *testenv.Env, ns, path string, mutate func(*v1alpha1.AnalysisTemplate)) {
	t.Helper()
	for _, u := range loadManifests(t, env, path) {
		var obj client.Object
		switch u.GetKind() {
		case "AnalysisTemplate":
			at := &v1alpha1.AnalysisTemplate{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, at); err != nil {
				t.Fatal(err)
			}
			if mutate != nil {
				mutate(at)
			}
			obj = at
		case "Secret":
			obj = u
		default:
			continue
		}
		obj.SetNamespace(ns)
		if err := env.Client.Create(context.Background(), obj); err != nil {
			t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

// startRun builds an AnalysisRun from the named templates with analysis.BuildRun (as the
// rollout controller will) and creates it.
func startRun(t *testing.T, env *testenv.Env, ns, name string, templates []string, args map[string]string) *v1alpha1.AnalysisRun {
	t.Helper()
	var refs []v1alpha1.AnalysisTemplateRef
	for _, tmpl := range templates {
		refs = append(refs, v1alpha1.AnalysisTemplateRef{TemplateName: tmpl})
	}
	var argv []v1alpha1.Argument
	for k, v := range args {
		argv = append(argv, v1alpha1.Argument{Name: k, Value: ptr.To(v)})
	}
	run, err := analysis.BuildRun(context.Background(), env.Client, refs, analysis.RunOptions{Name: name, Namespace: ns, Args: argv})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	return run
}

func getRun(t *testing.T, env *testenv.Env, ns, name string) *v1alpha1.AnalysisRun {
	t.Helper()
	run := &v1alpha1.AnalysisRun{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, run); err != nil {
		t.Fatal(err)
	}
	return run
}

// waitRun waits until the run exists and ok says it is as wanted, and returns it. A run an
// Experiment or Rollout has yet to create counts as not yet (Argo too starts an Experiment's
// analyses in the reconcile after the one that makes it Running).
func waitRun(t *testing.T, env *testenv.Env, ns, name string, timeout time.Duration, what string, ok func(*v1alpha1.AnalysisRun) bool) *v1alpha1.AnalysisRun {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		run := &v1alpha1.AnalysisRun{}
		err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, run)
		if err == nil && ok(run) {
			return run
		}
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(run.Status, "", "  ")
			t.Fatalf("AnalysisRun %s/%s: waited %s for %s (%v); status:\n%s", ns, name, timeout, what, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitPhase waits for a completed run and checks its phase.
func waitPhase(t *testing.T, env *testenv.Env, ns, name string, timeout time.Duration, want v1alpha1.AnalysisPhase) *v1alpha1.AnalysisRun {
	t.Helper()
	run := waitRun(t, env, ns, name, timeout, "completion", func(r *v1alpha1.AnalysisRun) bool { return r.Status.Phase.Completed() })
	if run.Status.Phase != want {
		b, _ := json.MarshalIndent(run.Status, "", "  ")
		t.Fatalf("AnalysisRun %s ended %s, want %s; status:\n%s", name, run.Status.Phase, want, b)
	}
	return run
}

func metricResult(run *v1alpha1.AnalysisRun, name string) v1alpha1.MetricResult {
	for _, r := range run.Status.MetricResults {
		if r.Name == name {
			return r
		}
	}
	return v1alpha1.MetricResult{}
}

// runEvents returns "Type Reason: message" for each event on the run.
func runEvents(t *testing.T, env *testenv.Env, ns, name string) []string {
	t.Helper()
	var list corev1.EventList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].FirstTimestamp.Before(&list.Items[j].FirstTimestamp) })
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "AnalysisRun" && e.InvolvedObject.Name == name {
			out = append(out, fmt.Sprintf("%s %s: %s", e.Type, e.Reason, e.Message))
		}
	}
	return out
}

// waitEvent waits for an event on the run that starts with prefix.
func waitEvent(t *testing.T, env *testenv.Env, ns, name, prefix string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		events := runEvents(t, env, ns, name)
		for _, e := range events {
			if strings.HasPrefix(e, prefix) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event %q on AnalysisRun %s; events:\n  %s", prefix, name, strings.Join(events, "\n  "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// seedWebcheck is the seed's webcheck template, measuring every second instead of 5.
func seedWebcheck(count int32) func(*v1alpha1.AnalysisTemplate) {
	return func(at *v1alpha1.AnalysisTemplate) {
		for i := range at.Spec.Metrics {
			at.Spec.Metrics[i].Interval = ptr.To(v1alpha1.DurationFromString("1s"))
			if count > 0 {
				at.Spec.Metrics[i].Count = ptr.To(intstr.FromInt32(count))
			}
		}
	}
}

// TestAnalysisWebSeed runs the seed's webcheck template (colorapi-canary.yaml: result ==
// "ok" on {$.status}, failureLimit 1) against the colorapi stand-in: Successful while it
// answers "ok", Failed with the measured value and the condition once it answers "nok" twice,
// and Successful ("Run Terminated") when an indefinite run is terminated.
func TestAnalysisWebSeed(t *testing.T) {
	t.Parallel() // its own namespace and rollouts: runs beside the others
	env := withController(t)
	ns := env.Namespace(t)
	app := newColorServer(t, "blue", "ok")
	applyTemplates(t, env, ns, "examples/seeds/colorapi-canary.yaml", seedWebcheck(3))

	t0 := time.Now()
	startRun(t, env, ns, "webcheck-ok", []string{"webcheck"}, map[string]string{"host": app.host()})
	run := waitPhase(t, env, ns, "webcheck-ok", 30*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	mr := metricResult(run, "webcheck")
	if mr.Count != 3 || mr.Successful != 3 || len(mr.Measurements) != 3 || mr.Measurements[0].Value != `"ok"` { // JSON-encoded, as Argo stores it
		t.Errorf("metric result %+v", mr)
	}
	if run.Status.RunSummary != (v1alpha1.RunSummary{Count: 1, Successful: 1}) || run.Status.StartedAt == nil || run.Status.CompletedAt == nil {
		t.Errorf("status %+v", run.Status)
	}
	if run.Spec.Metrics[0].Provider.Web.URL != "http://{{args.host}}/" {
		t.Errorf("the stored run keeps its placeholder, got %q", run.Spec.Metrics[0].Provider.Web.URL)
	}
	t.Logf("3 measurements 1s apart: Successful after %.1fs", time.Since(t0).Seconds())

	// the seed's own count-less metric runs until it fails: ok, ok, then the app turns nok
	at := &v1alpha1.AnalysisTemplate{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "webcheck"}, at); err != nil {
		t.Fatal(err)
	}
	at.Spec.Metrics[0].Count = nil
	if err := env.Client.Update(context.Background(), at); err != nil {
		t.Fatal(err)
	}
	startRun(t, env, ns, "webcheck-nok", []string{"webcheck"}, map[string]string{"host": app.host()})
	waitRun(t, env, ns, "webcheck-nok", 30*time.Second, "2 successful measurements", func(r *v1alpha1.AnalysisRun) bool {
		return metricResult(r, "webcheck").Successful >= 2
	})
	if run := getRun(t, env, ns, "webcheck-nok"); run.Status.Phase != v1alpha1.AnalysisPhaseRunning {
		t.Errorf("an indefinite metric that succeeds keeps running, got %s", run.Status.Phase)
	}
	app.set("red", "nok")
	run = waitPhase(t, env, ns, "webcheck-nok", 30*time.Second, v1alpha1.AnalysisPhaseFailed)
	want := `metric "webcheck" failed: result "nok" does not satisfy result == "ok" (2 failures, limit 1)`
	if run.Status.Message != want || metricResult(run, "webcheck").Message != want {
		t.Errorf("message %q\n want %q", run.Status.Message, want)
	}
	waitEvent(t, env, ns, "webcheck-nok", "Warning AnalysisRunFailed: analysis failed: "+want)
	waitEvent(t, env, ns, "webcheck-nok", "Warning MetricFailed: "+want)

	// terminated while healthy: Successful
	app.set("blue", "ok")
	startRun(t, env, ns, "webcheck-stopped", []string{"webcheck"}, map[string]string{"host": app.host()})
	waitRun(t, env, ns, "webcheck-stopped", 30*time.Second, "a measurement", func(r *v1alpha1.AnalysisRun) bool {
		return metricResult(r, "webcheck").Successful >= 1
	})
	run = getRun(t, env, ns, "webcheck-stopped")
	run.Spec.Terminate = true
	if err := env.Client.Update(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	run = waitPhase(t, env, ns, "webcheck-stopped", 15*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	if run.Status.Message != "Run Terminated" {
		t.Errorf("terminated run's message %q", run.Status.Message)
	}
}

// seedPrometheus starts a real Prometheus scraping an exporter whose
// apiserver_request_total{group="coordination.k8s.io",verb="PUT"} counter (the series the seed
// canary-demo-prometheus.yaml queries) grows, and waits until the seed's rate over [1h], which
// needs two samples, has data.
func seedPrometheus(t *testing.T) *promtest.Server {
	t.Helper()
	exp := promtest.NewExporter(t)
	exp.Set(`apiserver_request_total{group="coordination.k8s.io",verb="PUT"}`, 100)
	prom := promtest.Start(t, time.Second, exp.Target())
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for i := 0; ; i++ {
			exp.Set(`apiserver_request_total{group="coordination.k8s.io",verb="PUT"}`, float64(100+i*3))
			select {
			case <-done:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	prom.WaitForData(t, `rate(apiserver_request_total[1h])`, 30*time.Second)
	return prom
}

// TestAnalysisPrometheus runs the seed canary-demo-prometheus.yaml's success-rate template
// against a real Prometheus that scrapes an exporter served by the test, then a query with no
// data and a Prometheus that is down: both end in Error after consecutiveErrorLimit (4) + 1
// errors, with the reason in the message.
func TestAnalysisPrometheus(t *testing.T) {
	t.Parallel() // its own namespace and rollouts: runs beside the others
	env := withController(t)
	ns := env.Namespace(t)
	prom := seedPrometheus(t)

	applyTemplates(t, env, ns, "examples/seeds/canary-demo-prometheus.yaml", func(at *v1alpha1.AnalysisTemplate) {
		m := &at.Spec.Metrics[0]
		m.Interval = ptr.To(v1alpha1.DurationFromString("1s")) // 10s in the seed
		m.Count = ptr.To(intstr.FromInt32(3))                  // the seed's runs until the rollout ends
		m.Provider.Prometheus.Address = prom.URL               // the seed's in-cluster address
	})
	t0 := time.Now()
	startRun(t, env, ns, "success-rate", []string{"success-rate"}, nil)
	run := waitPhase(t, env, ns, "success-rate", 30*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	mr := metricResult(run, "success-rate")
	if mr.Successful != 3 || !strings.HasPrefix(mr.Measurements[0].Value, "[") {
		t.Errorf("metric result %+v", mr)
	}
	if q := mr.Metadata["ResolvedPrometheusQuery"]; !strings.Contains(q, `apiserver_request_total{group="coordination.k8s.io", verb="PUT"}`) {
		t.Errorf("resolved query %q", q)
	}
	t.Logf("seed template: Successful after %.1fs, values %s", time.Since(t0).Seconds(), mr.Measurements[2].Value)

	// no data, and a Prometheus that is down
	down := promtest.Start(t, time.Second)
	down.Stop()
	noData := &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: "no-data", Namespace: ns}, Spec: v1alpha1.AnalysisTemplateSpec{
		Args: []v1alpha1.Argument{{Name: "address"}},
		Metrics: []v1alpha1.Metric{{
			Name: "error-rate", Interval: ptr.To(v1alpha1.DurationFromString("1s")), SuccessCondition: "result[0] < 0.05",
			Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Address: "{{args.address}}",
				Query: `sum(rate(http_requests_total{code=~"5.."}[1m]))`, Timeout: ptr.To[int64](5)}},
		}},
	}}
	if err := env.Client.Create(context.Background(), noData); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	startRun(t, env, ns, "no-data", []string{"no-data"}, map[string]string{"address": prom.URL})
	startRun(t, env, ns, "prometheus-down", []string{"no-data"}, map[string]string{"address": down.URL})
	run = waitPhase(t, env, ns, "no-data", 30*time.Second, v1alpha1.AnalysisPhaseError)
	if mr := metricResult(run, "error-rate"); mr.Error != 5 || mr.Measurements[len(mr.Measurements)-1].Value != "[]" ||
		!strings.Contains(run.Status.Message, `metric "error-rate" errored: cannot evaluate result[0] < 0.05 with result []`) ||
		!strings.Contains(run.Status.Message, "the provider returned no data") || !strings.Contains(run.Status.Message, "(5 errors in a row, limit 4)") {
		t.Errorf("no data: message %q, result %+v", run.Status.Message, mr)
	}
	run = waitPhase(t, env, ns, "prometheus-down", 30*time.Second, v1alpha1.AnalysisPhaseError)
	if want := fmt.Sprintf(`metric "error-rate" errored: prometheus at %s is unreachable`, down.URL); !strings.Contains(run.Status.Message, want) ||
		!strings.Contains(run.Status.Message, "connection refused") {
		t.Errorf("down: message %q, want it to contain %q", run.Status.Message, want)
	}
	waitEvent(t, env, ns, "prometheus-down", "Warning AnalysisRunError: analysis error: ")
	t.Logf("no data and down: Error after %.1fs", time.Since(t0).Seconds())
}

// TestAnalysisJob runs Job metrics on the local control plane: a Job whose pod succeeds makes
// the measurement Successful, one whose pod fails makes it Failed; the Jobs belong to the run
// and only the retained measurements' Jobs are kept.
func TestAnalysisJob(t *testing.T) {
	t.Parallel() // its own namespace and rollouts: runs beside the others
	env := withController(t)
	ns := env.Namespace(t)
	applyTemplates(t, env, ns, "test/e2e/testdata/analysis/job-templates.yaml", nil)
	ctx := context.Background()

	t0 := time.Now()
	ok := startRun(t, env, ns, "smoke", []string{"smoke-job"}, map[string]string{"target": "colorapi.default"})
	startRun(t, env, ns, "integration", []string{"failing-job"}, nil)
	run := waitPhase(t, env, ns, "smoke", 60*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	mr := metricResult(run, "smoke")
	if mr.Count != 2 || mr.Successful != 2 || len(mr.Measurements) != 1 || mr.Measurements[0].Metadata["job-name"] == "" {
		t.Errorf("job metric %+v", mr)
	}
	t.Logf("2 successful Jobs in %.1fs", time.Since(t0).Seconds())
	var jobs batchv1.JobList
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := env.Client.List(ctx, &jobs, client.InNamespace(ns), client.MatchingLabels{"analysisrun.argoproj.io/uid": string(run.UID)}); err != nil {
			t.Fatal(err)
		}
		var live []batchv1.Job
		for _, j := range jobs.Items {
			if j.DeletionTimestamp == nil {
				live = append(live, j)
			}
		}
		if len(live) == 1 || time.Now().After(deadline) {
			if len(live) != 1 {
				t.Fatalf("%d Jobs left, want the last one (measurementRetention 1)", len(live))
			}
			j := live[0]
			if j.Name != mr.Measurements[0].Metadata["job-name"] || !metav1.IsControlledBy(&j, ok) || j.Labels["team"] != "checkout" ||
				j.Spec.Template.Spec.Containers[0].Args[1] != "http://colorapi.default/" {
				t.Errorf("job %s: owner %v, labels %v, args %v", j.Name, j.OwnerReferences, j.Labels, j.Spec.Template.Spec.Containers[0].Args)
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	run = waitPhase(t, env, ns, "integration", 60*time.Second, v1alpha1.AnalysisPhaseFailed)
	want := `metric "integration-tests" failed: job ` + string(run.UID) + `.integration-tests.1 failed`
	if !strings.HasPrefix(run.Status.Message, want) || !strings.HasSuffix(run.Status.Message, "(1 failure, limit 0)") {
		t.Errorf("message %q, want it to start with %q", run.Status.Message, want)
	}
	waitEvent(t, env, ns, "integration", "Warning AnalysisRunFailed")
}

// TestAnalysisSecretArg passes a token from a Secret to a web metric: the app gets it, and it
// shows nowhere in the run (which keeps the placeholder) nor in its events, even in an error
// message that quotes the URL carrying it.
func TestAnalysisSecretArg(t *testing.T) {
	t.Parallel() // its own namespace and rollouts: runs beside the others
	env := withController(t)
	ns := env.Namespace(t)
	const token = "s3cr3t-t0ken-e2e" // testdata/analysis/secret-webcheck.yaml
	app := newColorServer(t, "blue", "ok")
	app.token = token
	applyTemplates(t, env, ns, "test/e2e/testdata/analysis/secret-webcheck.yaml", nil)
	startRun(t, env, ns, "authenticated", []string{"authenticated-webcheck"}, map[string]string{"host": app.host()})
	run := waitPhase(t, env, ns, "authenticated", 30*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	if mr := metricResult(run, "authenticated"); mr.Successful != 2 {
		t.Errorf("the app did not get the token: %+v", mr)
	}
	leaky := metricResult(run, "leaky-url")
	if leaky.Phase != v1alpha1.AnalysisPhaseError || !leaky.DryRun || !strings.Contains(leaky.Message, "/broken?token=*****") ||
		!strings.Contains(leaky.Message, "503 Service Unavailable") {
		t.Errorf("dry-run metric with the token in its URL: %+v", leaky)
	}
	if run.Status.DryRunSummary == nil || run.Status.DryRunSummary.Error != 1 {
		t.Errorf("dryRunSummary %+v", run.Status.DryRunSummary)
	}
	waitEvent(t, env, ns, "authenticated", "Normal AnalysisRunSuccessful")
	b, _ := json.Marshal(run)
	if strings.Contains(string(b), token) {
		t.Errorf("the secret shows in the AnalysisRun:\n%s", b)
	}
	if !strings.Contains(string(b), "Bearer {{args.token}}") {
		t.Errorf("the stored run should keep the placeholder:\n%s", b)
	}
	for _, e := range runEvents(t, env, ns, "authenticated") {
		if strings.Contains(e, token) {
			t.Errorf("the secret shows in an event: %s", e)
		}
	}
	// nor in the controller's log
	if logPath := controllerLogPath(); logPath != "" {
		if b, err := os.ReadFile(logPath); err == nil && strings.Contains(string(b), token) {
			t.Errorf("the secret shows in the controller log %s", logPath)
		}
	}
}

// controllerLogPath is the log of the controller started by withController: the newest
// vane-e2e-controller-*.log in the temporary folder.
func controllerLogPath() string {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "vane-e2e-controller-*.log"))
	var newest string
	var newestAt time.Time
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.ModTime().After(newestAt) {
			newest, newestAt = m, fi.ModTime()
		}
	}
	return newest
}

// TestAnalysisTTLAndUnsupportedProvider: a run with a ttlStrategy is deleted after it
// completes, and a metric of a provider Vane does not implement errors at once, naming it.
func TestAnalysisTTLAndUnsupportedProvider(t *testing.T) {
	t.Parallel() // its own namespace and rollouts: runs beside the others
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	app := newColorServer(t, "blue", "ok")
	applyTemplates(t, env, ns, "examples/seeds/colorapi-canary.yaml", seedWebcheck(1))
	run, err := analysis.BuildRun(ctx, env.Client, []v1alpha1.AnalysisTemplateRef{{TemplateName: "webcheck"}},
		analysis.RunOptions{Name: "short-lived", Namespace: ns, Args: []v1alpha1.Argument{{Name: "host", Value: ptr.To(app.host())}}})
	if err != nil {
		t.Fatal(err)
	}
	run.Spec.TTLStrategy = &v1alpha1.TTLStrategy{SecondsAfterSuccess: ptr.To[int32](2)}
	if err := env.Client.Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	done := waitPhase(t, env, ns, "short-lived", 30*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(run), &v1alpha1.AnalysisRun{})
		if apierrors.IsNotFound(err) {
			t.Logf("deleted %.1fs after it completed (secondsAfterSuccess: 2)", time.Since(done.Status.CompletedAt.Time).Seconds())
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run is still there 15s after it completed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	plugin := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "plugin", Namespace: ns}, Spec: v1alpha1.AnalysisRunSpec{
		Metrics: []v1alpha1.Metric{{Name: "errors", Interval: ptr.To(v1alpha1.DurationFromString("5m")), SuccessCondition: "result < 0.01",
			Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"argoproj-labs/sample-prometheus": json.RawMessage(`{"query":"up"}`)}}}},
	}}
	if err := env.Client.Create(ctx, plugin); err != nil {
		t.Fatal(err)
	}
	got := waitPhase(t, env, ns, "plugin", 15*time.Second, v1alpha1.AnalysisPhaseError)
	// no argo-rollouts-config lists the plugin: the metric errors at once, naming it
	if want := `metric "errors" errored: metric provider plugin "argoproj-labs/sample-prometheus": not configured: `; !strings.HasPrefix(got.Status.Message, want) {
		t.Errorf("message %q, want %q", got.Status.Message, want)
	}
}
