package e2e

// More analysis end to end, on the local control plane with the Vane controller: a
// ClusterAnalysisTemplate next to an AnalysisTemplate in one analysis step (one run with the
// metrics of both), a metric's initialDelay, and inconclusiveLimit. The expected values are
// Argo Rollouts v1.10.1's: the file and function are named at each test. The same runs and
// rollout, run under Argo's own controller (rollouts-controller v1.10.1, `make argo-tools`) on a
// local cluster, gave these values.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// amWebMetric is a web metric on http://<host>/ reading {$.status}: a measurement is Successful
// on "ok", Failed on "nok", Inconclusive on anything else (both conditions set: Argo's
// analysis/analysis.go evaluates the failure condition, then the success one, else
// Inconclusive). count 0 leaves count unset.
func amWebMetric(name, host string, count int32) v1alpha1.Metric {
	m := v1alpha1.Metric{Name: name, Interval: ptr.To(v1alpha1.DurationFromString("1s")),
		SuccessCondition: `result == "ok"`, FailureCondition: `result == "nok"`,
		Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://" + host + "/", JSONPath: "{$.status}"}}}
	if count > 0 {
		m.Count = ptr.To(intstr.FromInt32(count))
	}
	return m
}

// amCreateRun creates an AnalysisRun of metrics in ns.
func amCreateRun(t *testing.T, env *testenv.Env, ns, name string, metrics ...v1alpha1.Metric) error {
	t.Helper()
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: v1alpha1.AnalysisRunSpec{Metrics: metrics}}
	return env.Client.Create(context.Background(), run)
}

func amStatus(run *v1alpha1.AnalysisRun) string {
	b, _ := json.MarshalIndent(run.Status, "", "  ")
	return string(b)
}

// TestAnalysisClusterTemplateWithTemplate: an analysis step naming a ClusterAnalysisTemplate
// (clusterScope: true) and an AnalysisTemplate starts one run with the metrics of both and the
// shared argument once (Argo: rollout/analysis.go newAnalysisRunFromRollout and
// getAnalysisTemplatesFromRefs, utils/analysis/helpers.go NewAnalysisRunFromTemplates,
// FlattenTemplates). Argo's flattenMetrics puts the namespaced templates' metrics first, then
// the cluster templates', whatever the order of the step's list; the step lists the cluster
// template first to see that. The run is Successful once both metrics are (2 measurements of
// the cluster one, 1 of the other), and the update goes on to the next step.
func TestAnalysisClusterTemplateWithTemplate(t *testing.T) {
	t.Parallel()
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	app := newColorServer(t, "red", "ok")
	hostMetric := func(name string, count int32) v1alpha1.Metric { return amWebMetric(name, "{{args.host}}", count) }
	clusterName := "e2e-cluster-check-" + ns // cluster-scoped: one per test namespace
	cat := &v1alpha1.ClusterAnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: clusterName}, Spec: v1alpha1.AnalysisTemplateSpec{
		Args: []v1alpha1.Argument{{Name: "host"}}, Metrics: []v1alpha1.Metric{hostMetric("cluster-status", 2)}}}
	must(t, "ClusterAnalysisTemplate", env.Client.Create(ctx, cat))
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), cat) })
	at := &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: "ns-check", Namespace: ns}, Spec: v1alpha1.AnalysisTemplateSpec{
		Args: []v1alpha1.Argument{{Name: "host"}}, Metrics: []v1alpha1.Metric{hostMetric("ns-status", 1)}}}
	must(t, "AnalysisTemplate", env.Client.Create(ctx, at))

	applyManifests(t, env, ns, "examples/seeds/keptn-podtatohead-rollout.yaml", func(ro *v1alpha1.Rollout) {
		ro.Name = "app"
		ro.Spec.Template.Spec.Containers[0].Image = "app:1"
		step := &v1alpha1.RolloutAnalysis{
			Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: clusterName, ClusterScope: ptr.To(true)}, {TemplateName: "ns-check"}},
			Args:      []v1alpha1.AnalysisRunArgument{{Name: "host", Value: app.host()}},
		}
		ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](25)}, {Analysis: step},
			{SetWeight: ptr.To[int32](50)}, {Pause: &v1alpha1.RolloutPause{}}}
	})
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 4, Stable: "app:1", Sets: "app:1=4/4"})
	setImage(t, env, ns, "app", "app:2")
	// the step's run is Successful: on to 50% (2 and 2 of 4 pods) and the pause
	ro := waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 3, Stable: "app:1", Sets: "app:1=2/2 app:2=2/2"})
	h2 := rsHashOfImage(t, env, ns, "app:2")
	name := fmt.Sprintf("app-%s-2-1", h2)
	runs := rolloutRuns(t, env, ns)
	run, ok := runs[name]
	if !ok {
		t.Fatalf("no run %s; runs: %v", name, slices.Sorted(maps.Keys(runs)))
	}
	if len(runs) != 1 {
		t.Errorf("%d runs, want the one run of the step: %v", len(runs), runs)
	}
	assertRunIdentity(t, &run, ro, name, h2, "2", "Step", "1")
	var metrics []string
	for _, m := range run.Spec.Metrics {
		metrics = append(metrics, m.Name)
	}
	slices.Sort(metrics)
	if want := []string{"cluster-status", "ns-status"}; !slices.Equal(metrics, want) {
		t.Errorf("the run's metrics %v, want those of both templates %v", metrics, want)
	}
	metrics = nil
	for _, m := range run.Spec.Metrics {
		metrics = append(metrics, m.Name)
	}
	// Argo's flattenMetrics: the AnalysisTemplates' metrics, then the ClusterAnalysisTemplates'
	if want := []string{"ns-status", "cluster-status"}; !slices.Equal(metrics, want) {
		t.Errorf("the run's metrics are in the order %v; Argo's order is %v (namespaced templates first, then cluster templates: utils/analysis/helpers.go flattenMetrics)", metrics, want)
	}
	if a := run.Spec.Args; len(a) != 1 || a[0].Name != "host" || ptr.Deref(a[0].Value, "") != app.host() {
		t.Errorf("the run's args %+v, want host=%s once", a, app.host())
	}
	if run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || run.Status.RunSummary != (v1alpha1.RunSummary{Count: 2, Successful: 2}) {
		t.Errorf("run %s: phase %s, summary %+v; want Successful, 2 metrics Successful", name, run.Status.Phase, run.Status.RunSummary)
	}
	if mr := metricResult(&run, "cluster-status"); mr.Phase != v1alpha1.AnalysisPhaseSuccessful || mr.Count != 2 || mr.Successful != 2 {
		t.Errorf("cluster-status: %+v, want 2 successful measurements", mr)
	}
	if mr := metricResult(&run, "ns-status"); mr.Phase != v1alpha1.AnalysisPhaseSuccessful || mr.Count != 1 || mr.Successful != 1 {
		t.Errorf("ns-status: %+v, want 1 successful measurement", mr)
	}
}

// TestAnalysisInitialDelay: a metric with initialDelay is not measured before the delay has
// passed since the run started (Argo: analysis/analysis.go generateMetricTasks: no task while
// status.startedAt + initialDelay is after now), while the run's other metric is measured
// meanwhile; then it is measured once and the run is Successful.
func TestAnalysisInitialDelay(t *testing.T) {
	t.Parallel()
	env := withController(t)
	ns := env.Namespace(t)
	app := newColorServer(t, "red", "ok")
	const delay = 4 * time.Second
	later := amWebMetric("later", app.host(), 1)
	later.InitialDelay = ptr.To(v1alpha1.DurationFromString("4s"))
	must(t, "AnalysisRun", amCreateRun(t, env, ns, "delayed", amWebMetric("now", app.host(), 3), later))

	measuredMeanwhile := int32(0)
	for {
		run := getRun(t, env, ns, "delayed")
		now := time.Now() // after the read: what the run shows happened before now
		if run.Status.StartedAt == nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		due := run.Status.StartedAt.Add(delay)
		if !now.Before(due) {
			break
		}
		if mr := metricResult(run, "later"); len(mr.Measurements) > 0 || mr.Count > 0 {
			t.Fatalf("metric later was measured %.1fs before its initialDelay (4s) passed; status:\n%s", due.Sub(now).Seconds(), amStatus(run))
		}
		measuredMeanwhile = metricResult(run, "now").Count
		time.Sleep(50 * time.Millisecond)
	}
	// the controller was at work on the run meanwhile: the delay alone held "later" back
	if measuredMeanwhile < 2 {
		t.Errorf("metric now was measured %d times during the 4s delay (every 1s, count 3): the controller did not look at the run", measuredMeanwhile)
	}
	run := waitPhase(t, env, ns, "delayed", 30*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	mr := metricResult(run, "later")
	if mr.Count != 1 || mr.Successful != 1 || len(mr.Measurements) != 1 || mr.Measurements[0].StartedAt == nil {
		t.Fatalf("later: %+v, want one successful measurement", mr)
	}
	if d := mr.Measurements[0].StartedAt.Sub(run.Status.StartedAt.Time); d < delay {
		t.Errorf("later's measurement started %s after the run, before its initialDelay (4s)", d)
	} else {
		t.Logf("later measured %s after the run started (initialDelay 4s)", d)
	}
	if now := metricResult(run, "now"); now.Count != 3 || now.Successful != 3 {
		t.Errorf("now: %+v, want 3 successful measurements", now)
	}
}

// TestAnalysisInconclusiveLimit: against an app whose status is neither "ok" nor "nok" (every
// measurement Inconclusive), Argo's rule (analysis/analysis.go
// assessMetricFailureInconclusiveOrError: Inconclusive when inconclusive > inconclusiveLimit,
// the limit 0 when unset; assessMetricStatus: once count measurements are taken without that,
// the metric is Successful; utils/analysis/factory.go ValidateMetric: inconclusiveLimit must be
// >= 0, a run breaking it is Error "Analysis spec invalid: ...", analysis/analysis.go
// reconcileAnalysisRun):
//
//	no limit, count 3        -> Inconclusive after 1 measurement
//	inconclusiveLimit 2, count 5 -> Inconclusive after 3 (the 4th and 5th are never taken)
//	inconclusiveLimit 2, count 2 -> Successful: 2 inconclusive measurements are not more than 2
//	inconclusiveLimit -1     -> Error: the spec is invalid
func TestAnalysisInconclusiveLimit(t *testing.T) {
	t.Parallel()
	env := withController(t)
	ns := env.Namespace(t)
	app := newColorServer(t, "red", "maybe")
	withLimit := func(m v1alpha1.Metric, limit int32) v1alpha1.Metric {
		m.InconclusiveLimit = ptr.To(intstr.FromInt32(limit))
		return m
	}
	must(t, "run default-limit", amCreateRun(t, env, ns, "default-limit", amWebMetric("status", app.host(), 3)))
	must(t, "run limit-2", amCreateRun(t, env, ns, "limit-2", withLimit(amWebMetric("status", app.host(), 5), 2)))
	must(t, "run limit-2-count-2", amCreateRun(t, env, ns, "limit-2-count-2", withLimit(amWebMetric("status", app.host(), 2), 2)))
	negErr := amCreateRun(t, env, ns, "limit-negative", withLimit(amWebMetric("status", app.host(), 3), -1))

	for _, c := range []struct {
		run                 string
		phase               v1alpha1.AnalysisPhase
		count, inconclusive int32
		summary             v1alpha1.RunSummary
	}{
		{"default-limit", v1alpha1.AnalysisPhaseInconclusive, 1, 1, v1alpha1.RunSummary{Count: 1, Inconclusive: 1}},
		{"limit-2", v1alpha1.AnalysisPhaseInconclusive, 3, 3, v1alpha1.RunSummary{Count: 1, Inconclusive: 1}},
		{"limit-2-count-2", v1alpha1.AnalysisPhaseSuccessful, 2, 2, v1alpha1.RunSummary{Count: 1, Successful: 1}},
	} {
		run := waitRun(t, env, ns, c.run, 30*time.Second, "completion", func(r *v1alpha1.AnalysisRun) bool { return r.Status.Phase.Completed() })
		mr := metricResult(run, "status")
		if run.Status.Phase != c.phase || mr.Phase != c.phase || mr.Count != c.count || mr.Inconclusive != c.inconclusive || run.Status.RunSummary != c.summary {
			t.Errorf("run %s: phase %s, metric %s after %d measurements (%d inconclusive), summary %+v;\n want %s after %d (%d inconclusive), summary %+v; status:\n%s",
				c.run, run.Status.Phase, mr.Phase, mr.Count, mr.Inconclusive, run.Status.RunSummary, c.phase, c.count, c.inconclusive, c.summary, amStatus(run))
		} else {
			t.Logf("run %s: %s after %d measurements; message %q", c.run, run.Status.Phase, mr.Count, run.Status.Message)
		}
	}

	// a negative inconclusiveLimit: Argo stores the run (its CRD has no minimum) and ends it in Error
	switch {
	case negErr != nil:
		t.Errorf("creating a run with inconclusiveLimit -1 failed (%v); Argo accepts the object and ends the run in Error: Analysis spec invalid: metrics[0]: inconclusiveLimit must be >= 0", negErr)
	default:
		run := waitRun(t, env, ns, "limit-negative", 30*time.Second, "completion", func(r *v1alpha1.AnalysisRun) bool { return r.Status.Phase.Completed() })
		if run.Status.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(run.Status.Message, "inconclusiveLimit") {
			t.Errorf("run limit-negative (inconclusiveLimit -1) ended %s (%q) after %d measurements; Argo ends it in Error: "+
				"Analysis spec invalid: metrics[0]: inconclusiveLimit must be >= 0 (utils/analysis/factory.go ValidateMetric), taking no measurement",
				run.Status.Phase, run.Status.Message, metricResult(run, "status").Count)
		}
	}
}
