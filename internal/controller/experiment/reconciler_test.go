package experiment

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
)

type fixture struct {
	t   *testing.T
	c   client.Client
	clk *clocktesting.FakeClock
	rec *record.FakeRecorder
	r   *Reconciler
	ex  *v1alpha1.Experiment
}

// webTemplate is an AnalysisTemplate with one web metric on {{args.host}}.
func webTemplate(name string) *v1alpha1.AnalysisTemplate {
	return &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: v1alpha1.AnalysisTemplateSpec{
		Args: []v1alpha1.Argument{{Name: "host"}},
		Metrics: []v1alpha1.Metric{{Name: name, Count: ptr.To(intstr.FromInt32(1)), SuccessCondition: `result == "ok"`,
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://{{args.host}}/", JSONPath: "{$.status}"}}}},
	}}
}

// newFixture stores ex (Argo's documented example unless edit changes it) and the example's
// AnalysisTemplates in a fake cluster.
func newFixture(t *testing.T, edit func(*v1alpha1.Experiment)) *fixture {
	t.Helper()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	ex := example(t)
	if edit != nil {
		edit(ex)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).
		WithStatusSubresource(&v1alpha1.Experiment{}, &v1alpha1.AnalysisRun{}, &appsv1.ReplicaSet{}).
		WithObjects(ex, webTemplate("http-benchmark"), webTemplate("compare")).Build()
	f := &fixture{t: t, c: c, clk: clocktesting.NewFakeClock(t0), rec: record.NewFakeRecorder(1000)}
	f.r = New(c, c, f.rec, WithClock(f.clk))
	f.ex = f.get()
	return f
}

func (f *fixture) get() *v1alpha1.Experiment {
	f.t.Helper()
	ex := &v1alpha1.Experiment{}
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "example-experiment"}, ex); err != nil {
		f.t.Fatal(err)
	}
	return ex
}

// reconcile runs one reconcile; it returns the result and the events it recorded.
func (f *fixture) reconcile() (reconcile.Result, []string) {
	f.t.Helper()
	res, err := f.r.Reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKey{Namespace: "ns", Name: "example-experiment"}})
	if err != nil {
		f.t.Fatalf("reconcile: %v", err)
	}
	var events []string
	for len(f.rec.Events) > 0 {
		events = append(events, <-f.rec.Events)
	}
	f.ex = f.get()
	return res, events
}

func (f *fixture) rs(name string) *appsv1.ReplicaSet {
	f.t.Helper()
	rs := &appsv1.ReplicaSet{}
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: name}, rs); err != nil {
		f.t.Fatal(err)
	}
	return rs
}

// pods gives a ReplicaSet n available pods.
func (f *fixture) pods(name string, n int32) {
	f.t.Helper()
	rs := f.rs(name)
	rs.Status = appsv1.ReplicaSetStatus{Replicas: n, ReadyReplicas: n, AvailableReplicas: n}
	if err := f.c.Status().Update(context.Background(), rs); err != nil {
		f.t.Fatal(err)
	}
}

// finish gives a run its verdict.
func (f *fixture) finish(name string, phase v1alpha1.AnalysisPhase, msg string) {
	f.t.Helper()
	run := &v1alpha1.AnalysisRun{}
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: name}, run); err != nil {
		f.t.Fatal(err)
	}
	run.Status.Phase, run.Status.Message = phase, msg
	if err := f.c.Status().Update(context.Background(), run); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) want(what string, want, got any) {
	f.t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		f.t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

// runPhases lists the analyses' statuses as "name=run:phase".
func runPhases(ex *v1alpha1.Experiment) []string {
	var out []string
	for _, r := range ex.Status.AnalysisRuns {
		out = append(out, r.Name+"="+r.AnalysisRun+":"+string(r.Phase))
	}
	return out
}

func templateCodes(ex *v1alpha1.Experiment) []string {
	var out []string
	for _, ts := range ex.Status.TemplateStatuses {
		out = append(out, ts.Name+"="+string(ts.Status))
	}
	return out
}

// toRunning brings the experiment to Running with its runs started: ReplicaSets created, scaled
// up, available.
func (f *fixture) toRunning() {
	f.t.Helper()
	f.reconcile()
	f.reconcile()
	f.pods("example-experiment-purple", 1)
	f.pods("example-experiment-orange", 1)
	f.clk.Step(2 * time.Second)
	f.reconcile()
	f.reconcile()
}

// TestLifecycleStart walks Argo's documented example to Running reconcile by reconcile:
// ReplicaSets created empty then scaled, Pending, the Service, Running once available, a run
// per analysis.
func TestLifecycleStart(t *testing.T) {
	f := newFixture(t, nil)
	_, ev := f.reconcile()
	f.want("first events", []string{
		"Normal TemplateProgressing Template 'purple' transitioned from  -> Progressing",
		"Normal TemplateProgressing Template 'orange' transitioned from  -> Progressing",
		"Normal ExperimentPending Experiment transitioned from  -> Pending",
	}, ev)
	f.want("ReplicaSets created empty", int32(0), *f.rs("example-experiment-purple").Spec.Replicas)
	f.want("analyses before availability", []string{"purple=:", "orange=:", "compare-results=:"}, runPhases(f.ex))

	_, ev = f.reconcile()
	f.want("scaled up", []string{
		"Normal ScalingReplicaSet Scaled up ReplicaSet example-experiment-purple from 0 to 1",
		"Normal ScalingReplicaSet Scaled up ReplicaSet example-experiment-orange from 0 to 1",
	}, ev)
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "service-name"}, &corev1.Service{}); err != nil {
		t.Fatalf("purple's Service: %v", err)
	}
	ts := f.ex.Status.TemplateStatuses[0]
	f.want("purple's service in the status", []string{"service-name", "b456d6bc5"}, []string{ts.ServiceName, ts.PodTemplateHash})

	f.pods("example-experiment-purple", 1)
	f.pods("example-experiment-orange", 1)
	f.clk.Step(2 * time.Second)
	_, ev = f.reconcile()
	f.want("available", []string{
		"Normal TemplateRunning Template 'purple' transitioned from Progressing -> Running",
		"Normal TemplateRunning Template 'orange' transitioned from Progressing -> Running",
		"Normal ExperimentRunning Experiment transitioned from Pending -> Running",
	}, ev)
	f.want("availableAt", t0.Add(2*time.Second), f.ex.Status.AvailableAt.Time)

	res, ev := f.reconcile()
	f.want("runs started", []string{"purple=example-experiment-purple:Pending", "orange=example-experiment-orange:Pending",
		"compare-results=example-experiment-compare-results:Pending"}, runPhases(f.ex))
	f.want("run events", 3, len(ev))
	f.want("requeued at the end of the 20m duration", 20*time.Minute+10*time.Millisecond, res.RequeueAfter)
	run := &v1alpha1.AnalysisRun{}
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "example-experiment-orange"}, run); err != nil {
		t.Fatal(err)
	}
	f.want("orange's run", []any{"orange", true}, []any{*run.Spec.Args[0].Value, metav1.IsControlledBy(run, f.ex)})
}

// TestLifecycleEnd: the documented example is Successful when its required run succeeds; its
// ReplicaSets are scaled down 30 s later, and the Service goes once no pod is available.
func TestLifecycleEnd(t *testing.T) {
	f := newFixture(t, nil)
	f.toRunning()
	f.finish("example-experiment-purple", successful, "")
	f.finish("example-experiment-orange", successful, "")
	f.finish("example-experiment-compare-results", successful, "")
	_, ev := f.reconcile()
	f.want("phase", []string{string(successful), msgRequiredCompleted}, []string{string(f.ex.Status.Phase), f.ex.Status.Message})
	f.want("last event", "Normal ExperimentSuccessful Experiment transitioned from Running -> Successful", ev[len(ev)-1])
	cond := findCondition(&f.ex.Status, v1alpha1.ExperimentProgressing)
	f.want("condition", []string{"False", reasonCompleted}, []string{string(cond.Status), cond.Reason})

	res, _ := f.reconcile()
	purple := f.rs("example-experiment-purple")
	f.want("scale-down deadline", []any{t0.Add(32 * time.Second).Format(time.RFC3339), int32(1), 30*time.Second + 10*time.Millisecond},
		[]any{purple.Annotations["scale-down-deadline"], *purple.Spec.Replicas, res.RequeueAfter})
	f.want("templates", []string{"purple=Successful", "orange=Successful"}, templateCodes(f.ex))

	f.clk.Step(31 * time.Second)
	_, ev = f.reconcile()
	f.want("scaled down", []string{
		"Normal ScalingReplicaSet Scaled down ReplicaSet example-experiment-purple from 1 to 0",
		"Normal ScalingReplicaSet Scaled down ReplicaSet example-experiment-orange from 1 to 0",
	}, ev)
	f.pods("example-experiment-purple", 0)
	f.reconcile()
	err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "service-name"}, &corev1.Service{})
	f.want("Service deleted once no pod is available", true, apierrors.IsNotFound(err))
	f.want("service name cleared", "", f.ex.Status.TemplateStatuses[0].ServiceName)
}

// TestFailedRun: a failed run fails the experiment with the run's message; the other runs are
// terminated on the next look.
func TestFailedRun(t *testing.T) {
	f := newFixture(t, nil)
	f.toRunning()
	f.finish("example-experiment-purple", failed, `metric "http-benchmark" failed`)
	_, ev := f.reconcile()
	f.want("events", []string{
		`Warning AnalysisRunFailed AnalysisRun 'purple' transitioned from Pending -> Failed: metric "http-benchmark" failed`,
		"Warning ExperimentFailed Experiment transitioned from Running -> Failed",
	}, ev)
	f.want("phase", []string{string(failed), `metric "http-benchmark" failed`}, []string{string(f.ex.Status.Phase), f.ex.Status.Message})
	_, ev = f.reconcile()
	f.want("terminations", true, strings.Contains(strings.Join(ev, "\n"),
		"Normal AnalysisRunTerminating Terminating orange (example-experiment-orange)"))
	run := &v1alpha1.AnalysisRun{}
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "example-experiment-compare-results"}, run); err != nil {
		t.Fatal(err)
	}
	f.want("compare-results terminated", true, run.Spec.Terminate)
}

// TestProgressDeadline: a template that stays short of its pods past progressDeadlineSeconds
// fails the experiment with Argo's message.
func TestProgressDeadline(t *testing.T) {
	f := newFixture(t, nil)
	f.reconcile()
	res, _ := f.reconcile()
	f.want("requeued at the deadline", 30*time.Second+10*time.Millisecond, res.RequeueAfter)
	f.clk.Step(31 * time.Second)
	_, ev := f.reconcile()
	f.want("phase", []string{string(failed), "Template 'purple' exceeded its progressDeadlineSeconds (30)"},
		[]string{string(f.ex.Status.Phase), f.ex.Status.Message})
	f.want("first event", "Warning TemplateFailed Template 'purple' transitioned from Progressing -> Failed: Template 'purple' exceeded its progressDeadlineSeconds (30)", ev[0])
}

// TestBadInput: an invalid spec or an analysis whose template is missing ends the experiment in
// Error at once, the field path in the message, and nothing is created.
func TestBadInput(t *testing.T) {
	cases := map[string]struct {
		edit    func(*v1alpha1.Experiment)
		message string
		events  []string
	}{
		"two templates, one name": {func(e *v1alpha1.Experiment) { e.Spec.Templates[1].Name = "purple" },
			`spec.templates[1].name: Duplicate value: "purple"`,
			[]string{"Warning ExperimentError Experiment transitioned from  -> Error"}},
		"a missing AnalysisTemplate": {func(e *v1alpha1.Experiment) { e.Spec.Analyses[2].TemplateName = "nowhere" },
			`spec.analyses[2].templateName: AnalysisTemplate verification failed for analysis 'compare-results': reading AnalysisTemplate nowhere: analysistemplates.argoproj.io "nowhere" not found`,
			[]string{`Warning AnalysisRunError AnalysisRun 'compare-results' transitioned from  -> Error: AnalysisTemplate verification failed for analysis 'compare-results': reading AnalysisTemplate nowhere: analysistemplates.argoproj.io "nowhere" not found`,
				"Warning ExperimentError Experiment transitioned from  -> Error"}},
		"a placeholder that does not resolve": {func(e *v1alpha1.Experiment) {
			e.Spec.Analyses[0].Args[0].Value = ptr.To("{{templates.green.podTemplateHash}}")
		},
			`spec.analyses[0]: Failed to create AnalysisRun for analysis 'purple': failed to resolve {{templates.green.podTemplateHash}}`,
			[]string{`Warning AnalysisRunError AnalysisRun 'purple' transitioned from  -> Error: Failed to create AnalysisRun for analysis 'purple': failed to resolve {{templates.green.podTemplateHash}}`,
				"Warning ExperimentError Experiment transitioned from  -> Error"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.edit)
			_, ev := f.reconcile()
			f.want("phase", []string{string(errored), tc.message}, []string{string(f.ex.Status.Phase), f.ex.Status.Message})
			f.want("events", tc.events, ev)
			for i := 0; i < 2; i++ {
				if _, ev := f.reconcile(); len(ev) > 0 {
					t.Errorf("later events: %v", ev)
				}
			}
			var sets appsv1.ReplicaSetList
			_ = f.c.List(context.Background(), &sets)
			f.want("ReplicaSets", 0, len(sets.Items))
			f.want("template statuses", 0, len(f.ex.Status.TemplateStatuses))
		})
	}
}

// TestTerminate: terminate: true on a running experiment without required runs makes it
// Successful, terminates its runs and scales its ReplicaSets down after the delay (0 here: at
// once).
func TestTerminate(t *testing.T) {
	f := newFixture(t, func(e *v1alpha1.Experiment) {
		e.Spec.Analyses[2].RequiredForCompletion = false
		e.Spec.Duration = nil
		e.Spec.ScaleDownDelaySeconds = ptr.To[int32](0)
	})
	f.reconcile()
	f.reconcile()
	f.pods("example-experiment-purple", 1)
	f.pods("example-experiment-orange", 1)
	f.reconcile()
	res, _ := f.reconcile()
	f.want("no timed look without a duration", time.Duration(0), res.RequeueAfter)
	f.ex.Spec.Terminate = true
	if err := f.c.Update(context.Background(), f.ex); err != nil {
		t.Fatal(err)
	}
	_, ev := f.reconcile()
	f.want("phase", []string{string(successful), ""}, []string{string(f.ex.Status.Phase), f.ex.Status.Message})
	f.want("replicas", int32(0), *f.rs("example-experiment-orange").Spec.Replicas)
	joined := strings.Join(ev, "\n")
	for _, want := range []string{
		"Normal ScalingReplicaSet Scaled down ReplicaSet example-experiment-orange from 1 to 0",
		"Normal AnalysisRunTerminating Terminating compare-results (example-experiment-compare-results)",
		"Normal TemplateSuccessful Template 'purple' transitioned from Running -> Successful",
		"Normal ExperimentSuccessful Experiment transitioned from Running -> Successful",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("no event %q in\n%s", want, joined)
		}
	}
}

// TestEndingFollowsRuns: an ending experiment terminates the runs still going and follows
// them to their end, so that its status says how they ended and it completes (Argo stops
// following them: a terminated experiment whose required run was going stays Running for good).
func TestEndingFollowsRuns(t *testing.T) {
	cases := map[string]struct {
		end  func(f *fixture)
		runs []string
	}{
		"the required run succeeded": {
			end:  func(f *fixture) { f.finish("example-experiment-compare-results", successful, "") },
			runs: []string{"purple", "orange"},
		},
		"terminated while the required run goes on": {
			end: func(f *fixture) {
				f.ex.Spec.Terminate = true
				if err := f.c.Update(context.Background(), f.ex); err != nil {
					f.t.Fatal(err)
				}
			},
			runs: []string{"purple", "orange", "compare-results"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.toRunning()
			tc.end(f)
			f.reconcile()
			f.reconcile()
			for _, name := range tc.runs {
				run := &v1alpha1.AnalysisRun{}
				if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "example-experiment-" + name}, run); err != nil {
					t.Fatal(err)
				}
				f.want(name+" terminated", true, run.Spec.Terminate)
				f.finish(run.Name, successful, "Run Terminated")
			}
			f.reconcile()
			f.reconcile()
			f.want("runs", []string{"purple=example-experiment-purple:Successful", "orange=example-experiment-orange:Successful",
				"compare-results=example-experiment-compare-results:Successful"}, runPhases(f.ex))
			f.want("phase", successful, f.ex.Status.Phase)
		})
	}
}

// TestRetryStartsNewRuns: an experiment run again (its status cleared, as `retry experiment`
// does) does not take back the finished runs of its first attempt: it starts
// <experiment>-<analysis>.1 runs, as Argo's CreateWithCollisionCounter names them.
func TestRetryStartsNewRuns(t *testing.T) {
	f := newFixture(t, nil)
	f.toRunning()
	for _, name := range []string{"purple", "orange", "compare-results"} {
		f.finish("example-experiment-"+name, successful, "")
	}
	f.reconcile()
	f.want("first attempt", successful, f.ex.Status.Phase)
	f.ex.Status = v1alpha1.ExperimentStatus{}
	if err := f.c.Status().Update(context.Background(), f.ex); err != nil {
		t.Fatal(err)
	}
	f.toRunning()
	f.want("runs of the retry", []string{"purple=example-experiment-purple.1:", "orange=example-experiment-orange.1:",
		"compare-results=example-experiment-compare-results.1:"}, runPhases(f.ex))
	f.want("phase", v1alpha1.AnalysisPhaseRunning, f.ex.Status.Phase)
}
