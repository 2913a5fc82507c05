package analysisrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
)

// stub is a provider whose answers the test sets.
type stub struct {
	mu      sync.Mutex
	answer  func(m *v1alpha1.Metric) (provider.Result, error)
	calls   int
	resumed int
	stopped int
	last    v1alpha1.Metric
}

func (s *stub) Measure(_ context.Context, _ *v1alpha1.AnalysisRun, m *v1alpha1.Metric) (provider.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.last = *m
	return s.answer(m)
}

func (s *stub) Resume(context.Context, *v1alpha1.AnalysisRun, *v1alpha1.Metric, *v1alpha1.Measurement) (provider.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resumed++
	return provider.Result{Phase: v1alpha1.AnalysisPhaseRunning, ResumeAfter: 5 * time.Second}, nil
}

func (s *stub) Terminate(context.Context, *v1alpha1.AnalysisRun, *v1alpha1.Metric, *v1alpha1.Measurement) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped++
	return nil
}

func value(v any) func(*v1alpha1.Metric) (provider.Result, error) {
	return func(*v1alpha1.Metric) (provider.Result, error) {
		b, _ := json.Marshal(v)
		d := string(b)
		if s, ok := v.(string); ok {
			d = s
		}
		return provider.Result{Value: v, Display: d}, nil
	}
}

type fixture struct {
	t      *testing.T
	c      client.Client
	clk    *clocktesting.FakeClock
	rec    *record.FakeRecorder
	web    *stub
	r      *Reconciler
	key    types.NamespacedName
	events []string
}

var start = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, run *v1alpha1.AnalysisRun, objs ...client.Object) *fixture {
	t.Helper()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	if run.Namespace == "" {
		run.Namespace = "ns"
	}
	if run.Name == "" {
		run.Name = "run"
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&v1alpha1.AnalysisRun{}).
		WithObjects(append(objs, run)...).Build()
	f := &fixture{t: t, c: c, clk: clocktesting.NewFakeClock(start), rec: record.NewFakeRecorder(1000),
		web: &stub{answer: value("ok")}, key: client.ObjectKeyFromObject(run)}
	f.r = f.newReconciler()
	return f
}

// newReconciler builds a reconciler on the same cluster and clock, like a restarted controller.
func (f *fixture) newReconciler() *Reconciler {
	return New(f.c, f.c, f.rec, WithClock(f.clk), WithProvider("web", f.web), WithProvider("job", f.web))
}

// reconcile runs one reconcile and returns its result.
func (f *fixture) reconcile() reconcile.Result {
	f.t.Helper()
	res, err := f.r.Reconcile(context.Background(), reconcile.Request{NamespacedName: f.key})
	if err != nil {
		f.t.Fatalf("reconcile: %v", err)
	}
	for {
		select {
		case e := <-f.rec.Events:
			f.events = append(f.events, e)
			continue
		default:
		}
		break
	}
	return res
}

// runFor reconciles, advancing the clock to each requested requeue, until the run completes
// or d has passed.
func (f *fixture) runFor(d time.Duration) *v1alpha1.AnalysisRun {
	f.t.Helper()
	end := f.clk.Now().Add(d)
	for i := 0; i < 1000; i++ {
		res := f.reconcile()
		run := f.get()
		if run.Status.Phase.Completed() || res.RequeueAfter == 0 && !res.Requeue {
			return run
		}
		if f.clk.Now().Add(res.RequeueAfter).After(end) {
			f.clk.SetTime(end)
			f.reconcile()
			return f.get()
		}
		f.clk.Step(res.RequeueAfter)
	}
	f.t.Fatal("too many reconciles")
	return nil
}

func (f *fixture) get() *v1alpha1.AnalysisRun {
	f.t.Helper()
	run := &v1alpha1.AnalysisRun{}
	if err := f.c.Get(context.Background(), f.key, run); err != nil {
		f.t.Fatal(err)
	}
	return run
}

func webRun(metrics ...v1alpha1.Metric) *v1alpha1.AnalysisRun {
	return &v1alpha1.AnalysisRun{Spec: v1alpha1.AnalysisRunSpec{Metrics: metrics}}
}

func webcheck(mut ...func(*v1alpha1.Metric)) v1alpha1.Metric {
	m := v1alpha1.Metric{Name: "webcheck", SuccessCondition: `result == "ok"`,
		Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://{{args.host}}/", JSONPath: "{$.status}"}}}
	for _, f := range mut {
		f(&m)
	}
	return m
}

func interval(s string) func(*v1alpha1.Metric) {
	return func(m *v1alpha1.Metric) { m.Interval = ptr.To(v1alpha1.DurationFromString(s)) }
}

func count(n int32) func(*v1alpha1.Metric) {
	return func(m *v1alpha1.Metric) { m.Count = ptr.To(intstr.FromInt32(n)) }
}

func failureLimit(n int32) func(*v1alpha1.Metric) {
	return func(m *v1alpha1.Metric) { m.FailureLimit = ptr.To(intstr.FromInt32(n)) }
}

func hostArg(run *v1alpha1.AnalysisRun) *v1alpha1.AnalysisRun {
	run.Spec.Args = append(run.Spec.Args, v1alpha1.Argument{Name: "host", Value: ptr.To("colorapi:8080")})
	return run
}

func TestCountAndInterval(t *testing.T) {
	f := newFixture(t, hostArg(webRun(webcheck(interval("10s"), count(3)))))
	res := f.reconcile()
	run := f.get()
	if run.Status.Phase != v1alpha1.AnalysisPhaseRunning || run.Status.StartedAt == nil || len(run.Status.MetricResults) != 1 {
		t.Fatalf("after the first reconcile: %+v", run.Status)
	}
	if mr := run.Status.MetricResults[0]; mr.Count != 1 || mr.Phase != v1alpha1.AnalysisPhaseRunning || mr.Measurements[0].Value != "ok" {
		t.Errorf("first measurement: %+v", mr)
	}
	if f.web.last.Provider.Web.URL != "http://colorapi:8080/" {
		t.Errorf("the provider got %q: arguments are substituted", f.web.last.Provider.Web.URL)
	}
	if res.RequeueAfter < 10*time.Second || res.RequeueAfter > 11*time.Second {
		t.Errorf("next reconcile in %v, want the 10s interval", res.RequeueAfter)
	}
	f.clk.Step(5 * time.Second) // too early: nothing is measured
	f.reconcile()
	if f.web.calls != 1 {
		t.Errorf("%d measurements before the interval passed", f.web.calls)
	}
	run = f.runFor(time.Minute)
	mr := run.Status.MetricResults[0]
	if run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || mr.Count != 3 || mr.Successful != 3 || f.web.calls != 3 {
		t.Errorf("after the count: phase %s, %+v, %d calls", run.Status.Phase, mr, f.web.calls)
	}
	if got := mr.Measurements[2].FinishedAt.Sub(mr.Measurements[1].FinishedAt.Time); got < 10*time.Second || got > 11*time.Second {
		t.Errorf("measurements %v apart, want the interval", got)
	}
	if run.Status.RunSummary != (v1alpha1.RunSummary{Count: 1, Successful: 1}) || run.Status.CompletedAt == nil {
		t.Errorf("summary %+v completedAt %v", run.Status.RunSummary, run.Status.CompletedAt)
	}
	if !hasEvent(f.events, "Normal AnalysisRunSuccessful") || !hasEvent(f.events, "Normal MetricSuccessful") {
		t.Errorf("events %v", f.events)
	}
}

func hasEvent(events []string, prefix string) bool {
	for _, e := range events {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

// TestExplainedFailure is the seed's webcheck: failureLimit 1, the app answers "nok".
func TestExplainedFailure(t *testing.T) {
	f := newFixture(t, hostArg(webRun(webcheck(interval("5"), failureLimit(1)))))
	f.web.answer = value("nok")
	run := f.runFor(time.Minute)
	want := `metric "webcheck" failed: result "nok" does not satisfy result == "ok" (2 failures, limit 1)`
	if run.Status.Phase != v1alpha1.AnalysisPhaseFailed || run.Status.Message != want {
		t.Errorf("run %s %q, want Failed %q", run.Status.Phase, run.Status.Message, want)
	}
	mr := run.Status.MetricResults[0]
	if mr.Message != want || mr.Failed != 2 || mr.Measurements[1].Message != `result "nok" does not satisfy result == "ok"` {
		t.Errorf("metric result %+v", mr)
	}
	if !hasEvent(f.events, "Warning AnalysisRunFailed analysis failed: "+want) || !hasEvent(f.events, "Warning MetricFailed "+want) {
		t.Errorf("events %v", f.events)
	}
	if f.web.calls != 2 {
		t.Errorf("%d measurements, want 2 (the run stops at the verdict)", f.web.calls)
	}
}

func TestIndefiniteUntilTerminated(t *testing.T) {
	f := newFixture(t, hostArg(webRun(webcheck(interval("1s")))))
	run := f.runFor(10 * time.Second)
	if run.Status.Phase != v1alpha1.AnalysisPhaseRunning || f.web.calls < 10 {
		t.Fatalf("an indefinite metric: phase %s after %d measurements", run.Status.Phase, f.web.calls)
	}
	if n := len(run.Status.MetricResults[0].Measurements); n != 10 {
		t.Errorf("%d measurements kept, want the default retention 10", n)
	}
	run.Spec.Terminate = true
	if err := f.c.Update(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	calls := f.web.calls
	f.reconcile()
	run = f.get()
	if run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || run.Status.Message != "Run Terminated" || f.web.calls != calls {
		t.Errorf("terminated: %s %q, %d new measurements", run.Status.Phase, run.Status.Message, f.web.calls-calls)
	}
}

func TestRestartLosesNothing(t *testing.T) {
	f := newFixture(t, hostArg(webRun(webcheck(interval("10s"), count(4), func(m *v1alpha1.Metric) {
		m.InitialDelay = ptr.To(v1alpha1.DurationFromString("20s"))
	}))))
	if res := f.reconcile(); res.RequeueAfter < 20*time.Second || f.web.calls != 0 {
		t.Fatalf("initialDelay: requeue %v, %d calls", res.RequeueAfter, f.web.calls)
	}
	f.clk.Step(20 * time.Second)
	f.reconcile()
	f.clk.Step(10 * time.Second)
	f.reconcile()
	// a new controller: only the status tells it where things stand
	f.r = f.newReconciler()
	f.clk.Step(3 * time.Second)
	if res := f.reconcile(); f.web.calls != 2 || res.RequeueAfter > 7*time.Second+time.Second {
		t.Errorf("restarted controller: %d calls, requeue %v", f.web.calls, res.RequeueAfter)
	}
	run := f.runFor(time.Minute)
	if run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || f.web.calls != 4 {
		t.Errorf("phase %s after %d measurements", run.Status.Phase, f.web.calls)
	}
}

func TestErrorsAndLimits(t *testing.T) {
	f := newFixture(t, hostArg(webRun(webcheck(interval("1s")))))
	f.web.answer = func(*v1alpha1.Metric) (provider.Result, error) {
		return provider.Result{}, errors.New("connection refused")
	}
	run := f.runFor(time.Minute)
	want := `metric "webcheck" errored: connection refused (5 errors in a row, limit 4)`
	if run.Status.Phase != v1alpha1.AnalysisPhaseError || run.Status.Message != want || f.web.calls != 5 {
		t.Errorf("run %s %q after %d calls, want Error %q", run.Status.Phase, run.Status.Message, f.web.calls, want)
	}
	mr := run.Status.MetricResults[0]
	if mr.Count != 0 || mr.Error != 5 || mr.ConsecutiveError != 5 {
		t.Errorf("counters %+v", mr)
	}
}

func TestErrorWhileRunningIsExplained(t *testing.T) {
	f := newFixture(t, hostArg(webRun(webcheck(interval("1s")))))
	f.web.answer = func(*v1alpha1.Metric) (provider.Result, error) { return provider.Result{}, errors.New("timeout") }
	f.reconcile()
	run := f.get()
	if mr := run.Status.MetricResults[0]; mr.Phase != v1alpha1.AnalysisPhaseRunning || mr.Message != "measurement error (1 in a row, limit 4): timeout" {
		t.Errorf("metric %s %q", mr.Phase, mr.Message)
	}
	if want := `metric "webcheck": measurement error (1 in a row, limit 4): timeout`; run.Status.Message != want {
		t.Errorf("run message %q, want %q", run.Status.Message, want)
	}
}

func TestMultipleMetricsWorstWinsAndStopsTheOthers(t *testing.T) {
	other := webcheck(interval("1s"))
	other.Name = "forever"
	job := v1alpha1.Metric{Name: "slow-job", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{}}}
	job.Provider.Job.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c", Image: "i"}}
	f := newFixture(t, hostArg(webRun(webcheck(count(1)), other, job)))
	f.web.answer = func(m *v1alpha1.Metric) (provider.Result, error) {
		switch m.Name {
		case "webcheck":
			return value("nok")(m)
		case "slow-job":
			return provider.Result{Phase: v1alpha1.AnalysisPhaseRunning, ResumeAfter: 5 * time.Second}, nil
		}
		return value("ok")(m)
	}
	f.reconcile()
	run := f.get()
	if run.Status.Phase != v1alpha1.AnalysisPhaseFailed {
		t.Fatalf("phase %s", run.Status.Phase)
	}
	phases := map[string]v1alpha1.AnalysisPhase{}
	for _, r := range run.Status.MetricResults {
		phases[r.Name] = r.Phase
	}
	if phases["webcheck"] != v1alpha1.AnalysisPhaseFailed || phases["forever"] != v1alpha1.AnalysisPhaseSuccessful || phases["slow-job"] != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("metric phases %v", phases)
	}
	if f.web.stopped != 1 {
		t.Errorf("the job in progress was stopped %d times, want 1", f.web.stopped)
	}
	if run.Status.RunSummary != (v1alpha1.RunSummary{Count: 3, Successful: 2, Failed: 1}) {
		t.Errorf("summary %+v", run.Status.RunSummary)
	}
}

func TestDryRun(t *testing.T) {
	run := hostArg(webRun(webcheck(count(1))))
	run.Spec.DryRun = []v1alpha1.DryRun{{MetricName: "webcheck"}}
	f := newFixture(t, run)
	f.web.answer = value("nok")
	got := f.runFor(time.Minute)
	if got.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || !got.Status.MetricResults[0].DryRun ||
		got.Status.DryRunSummary == nil || got.Status.DryRunSummary.Failed != 1 || got.Status.RunSummary.Count != 0 {
		t.Errorf("dry run: %+v", got.Status)
	}
	if !strings.Contains(got.Status.Message, `dry-run metric "webcheck" failed`) {
		t.Errorf("message %q", got.Status.Message)
	}
}

// TestUnconfiguredPluginErrorsAtOnce: a metric plugin the argo-rollouts-config ConfigMap does
// not list errors the metric at once, naming the plugin.
func TestUnconfiguredPluginErrorsAtOnce(t *testing.T) {
	plugin := v1alpha1.Metric{Name: "sample", Interval: ptr.To(v1alpha1.DurationFromString("1m")),
		Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"argoproj-labs/sample-prometheus": json.RawMessage(`{"query":"up"}`)}}}
	f := newFixture(t, webRun(plugin))
	f.reconcile()
	run := f.get()
	if run.Status.Phase != v1alpha1.AnalysisPhaseError ||
		!strings.Contains(run.Status.Message, `metric "sample" errored: metric provider plugin "argoproj-labs/sample-prometheus": not configured: the ConfigMap `) ||
		!strings.HasSuffix(run.Status.Message, "/argo-rollouts-config does not exist (not retried)") {
		t.Errorf("phase %s %q", run.Status.Phase, run.Status.Message)
	}
}

func TestSecretNeverShows(t *testing.T) {
	const token = "t0p-s3cr3t"
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "ns"}, Data: map[string][]byte{"token": []byte(token)}}
	m := webcheck(count(1), func(m *v1alpha1.Metric) {
		m.Provider.Web.URL = "http://{{args.host}}/?token={{args.token}}"
		m.Provider.Web.Headers = []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: "Bearer {{args.token}}"}}
	})
	run := hostArg(webRun(m))
	run.Spec.Args = append(run.Spec.Args, v1alpha1.Argument{Name: "token",
		ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "creds", Key: "token"}}})
	f := newFixture(t, run, secret)
	f.web.answer = func(m *v1alpha1.Metric) (provider.Result, error) {
		if m.Provider.Web.Headers[0].Value != "Bearer "+token {
			return provider.Result{}, fmt.Errorf("the provider did not get the secret")
		}
		// a provider that echoes what it was given
		return provider.Result{Value: "nok", Display: "nok " + m.Provider.Web.Headers[0].Value,
				MetricMetadata: map[string]string{"url": m.Provider.Web.URL}},
			fmt.Errorf("Get %q: refused", m.Provider.Web.URL)
	}
	got := f.runFor(time.Minute)
	b, _ := json.Marshal(got)
	if strings.Contains(string(b), token) {
		t.Errorf("the secret shows in the run: %s", b)
	}
	if !strings.Contains(string(b), "token=*****") || !strings.Contains(string(b), "{{args.token}}") {
		t.Errorf("want the masked value in messages and the placeholder in the spec: %s", b)
	}
	for _, e := range f.events {
		if strings.Contains(e, token) {
			t.Errorf("the secret shows in an event: %s", e)
		}
	}
	// a missing Secret is an Error naming it
	run2 := hostArg(webRun(m))
	run2.Spec.Args = append(run2.Spec.Args, v1alpha1.Argument{Name: "token",
		ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "nope", Key: "token"}}})
	f2 := newFixture(t, run2)
	f2.reconcile()
	if got := f2.get(); got.Status.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(got.Status.Message, `argument "token": reading Secret ns/nope`) {
		t.Errorf("missing secret: %s %q", got.Status.Phase, got.Status.Message)
	}
}

func TestFieldRefFromOwningRollout(t *testing.T) {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "colorapi", Namespace: "ns", UID: "ro-uid",
		Labels: map[string]string{"app": "colorapi"}}}
	run := webRun(webcheck(count(1)))
	run.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))}
	run.Spec.Args = []v1alpha1.Argument{{Name: "host", ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.labels['app']"}}}}
	f := newFixture(t, run, ro)
	f.reconcile()
	if f.web.last.Provider.Web.URL != "http://colorapi/" {
		t.Errorf("url %q", f.web.last.Provider.Web.URL)
	}
}

func TestTTL(t *testing.T) {
	run := hostArg(webRun(webcheck(count(1))))
	run.Spec.TTLStrategy = &v1alpha1.TTLStrategy{SecondsAfterCompletion: ptr.To[int32](60), SecondsAfterSuccess: ptr.To[int32](30)}
	f := newFixture(t, run)
	res := f.reconcile()
	if f.get().Status.Phase != v1alpha1.AnalysisPhaseSuccessful || res.RequeueAfter < 30*time.Second || res.RequeueAfter > 31*time.Second {
		t.Fatalf("completed: requeue %v", res.RequeueAfter)
	}
	f.clk.Step(20 * time.Second)
	f.reconcile()
	f.get()
	f.clk.Step(11 * time.Second)
	f.reconcile()
	err := f.c.Get(context.Background(), f.key, &v1alpha1.AnalysisRun{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("after secondsAfterSuccess the run is deleted: %v", err)
	}
}

func TestInvalidRunAndInstanceID(t *testing.T) {
	f := newFixture(t, webRun(webcheck(count(1)))) // {{args.host}} is not declared
	f.reconcile()
	if run := f.get(); run.Status.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(run.Status.Message, `no value for argument "host"`) {
		t.Errorf("phase %s %q", run.Status.Phase, run.Status.Message)
	}
	run := hostArg(webRun(webcheck(count(1))))
	run.Labels = map[string]string{v1alpha1.InstanceIDLabel: "other"}
	f = newFixture(t, run)
	f.reconcile()
	if got := f.get(); got.Status.Phase != "" || f.web.calls != 0 {
		t.Errorf("a run of another instance was touched: %+v", got.Status)
	}
}

func TestJobLikeProviderInProgress(t *testing.T) {
	job := v1alpha1.Metric{Name: "job", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{}}}
	job.Provider.Job.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c", Image: "i"}}
	f := newFixture(t, webRun(job))
	f.web.answer = func(*v1alpha1.Metric) (provider.Result, error) {
		return provider.Result{Phase: v1alpha1.AnalysisPhaseRunning, Metadata: map[string]string{"job-name": "j"}, ResumeAfter: 5 * time.Second}, nil
	}
	res := f.reconcile()
	run := f.get()
	m := run.Status.MetricResults[0].Measurements[0]
	if m.Phase != v1alpha1.AnalysisPhaseRunning || m.ResumeAt == nil || m.Metadata["job-name"] != "j" || res.RequeueAfter > 6*time.Second {
		t.Fatalf("in progress: %+v, requeue %v", m, res.RequeueAfter)
	}
	f.clk.Step(5 * time.Second)
	f.reconcile()
	if f.web.resumed != 1 || f.web.calls != 1 {
		t.Errorf("resumed %d, measured %d", f.web.resumed, f.web.calls)
	}
}
