package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// argoExample is Argo Rollouts' documented Experiment (docs/features/experiment.md), kept by
// the experiment package's tests with the pod-template hashes Argo's own code gives it.
const argoExample = "internal/controller/experiment/testdata/example-experiment.yaml"

// loadExperiment reads an Experiment from a YAML file of the repository, into ns.
func loadExperiment(t *testing.T, env *testenv.Env, ns, path string) *v1alpha1.Experiment {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.RepoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	ex := &v1alpha1.Experiment{}
	if err := yaml.UnmarshalStrict(b, ex); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	ex.Namespace = ns
	return ex
}

// expTemplate is an experiment template of one pod with a port, labelled color=<name>.
func expTemplate(name string) v1alpha1.TemplateSpec {
	labels := map[string]string{"app": "exp", "color": name}
	return v1alpha1.TemplateSpec{
		Name:     name,
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "argoproj/rollouts-demo:" + name,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		},
	}
}

// newExperiment is an experiment in ns with the templates, scaled down 1 s after it ends.
func newExperiment(ns, name string, templates ...string) *v1alpha1.Experiment {
	ex := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.ExperimentSpec{ScaleDownDelaySeconds: ptr.To[int32](1)}}
	for _, tmpl := range templates {
		ex.Spec.Templates = append(ex.Spec.Templates, expTemplate(tmpl))
	}
	return ex
}

func createExperiment(t *testing.T, env *testenv.Env, ex *v1alpha1.Experiment) {
	t.Helper()
	if err := env.Client.Create(context.Background(), ex); err != nil {
		t.Fatalf("creating Experiment %s: %v", ex.Name, err)
	}
}

func getExperiment(t *testing.T, env *testenv.Env, ns, name string) *v1alpha1.Experiment {
	t.Helper()
	ex := &v1alpha1.Experiment{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, ex); err != nil {
		t.Fatal(err)
	}
	return ex
}

// waitExperiment waits until ok says the experiment is as wanted, and returns it.
func waitExperiment(t *testing.T, env *testenv.Env, ns, name string, timeout time.Duration, what string,
	ok func(*v1alpha1.Experiment) bool) *v1alpha1.Experiment {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ex := getExperiment(t, env, ns, name)
		if ok(ex) {
			return ex
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(ex.Status, "", "  ")
			t.Fatalf("Experiment %s/%s: waited %s for %s; status:\n%s", ns, name, timeout, what, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitExperimentPhase waits for the phase and returns the experiment.
func waitExperimentPhase(t *testing.T, env *testenv.Env, ns, name string, timeout time.Duration, phase v1alpha1.AnalysisPhase) *v1alpha1.Experiment {
	t.Helper()
	return waitExperiment(t, env, ns, name, timeout, "phase "+string(phase), func(ex *v1alpha1.Experiment) bool {
		return ex.Status.Phase == phase
	})
}

// experimentEvents returns "Type Reason: message" for each event on the experiment, oldest
// first.
func experimentEvents(t *testing.T, env *testenv.Env, ns, name string) []string {
	t.Helper()
	var list corev1.EventList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(list.Items, func(i, j int) bool { return list.Items[i].FirstTimestamp.Before(&list.Items[j].FirstTimestamp) })
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "Experiment" && e.InvolvedObject.Name == name {
			out = append(out, fmt.Sprintf("%s %s: %s", e.Type, e.Reason, e.Message))
		}
	}
	return out
}

// wantExperimentEvents waits until each wanted event is on the experiment.
func wantExperimentEvents(t *testing.T, env *testenv.Env, ns, name string, want ...string) {
	t.Helper()
	waitUntil(t, 10*time.Second, "events on Experiment "+name, func() (bool, string) {
		events := experimentEvents(t, env, ns, name)
		have := map[string]bool{}
		for _, e := range events {
			have[e] = true
		}
		for _, w := range want {
			if !have[w] {
				return false, "missing " + w + " in:\n  " + strings.Join(events, "\n  ")
			}
		}
		return true, ""
	})
}

func getReplicaSet(t *testing.T, env *testenv.Env, ns, name string) *appsv1.ReplicaSet {
	t.Helper()
	rs := &appsv1.ReplicaSet{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

// waitScaledDown waits until the ReplicaSet has no pod left.
func waitScaledDown(t *testing.T, env *testenv.Env, ns, name string, timeout time.Duration) {
	t.Helper()
	waitUntil(t, timeout, "ReplicaSet "+name+" scaled to 0", func() (bool, string) {
		rs := getReplicaSet(t, env, ns, name)
		return ptr.Deref(rs.Spec.Replicas, 1) == 0 && rs.Status.Replicas == 0,
			fmt.Sprintf("replicas %d, %d pods", ptr.Deref(rs.Spec.Replicas, 1), rs.Status.Replicas)
	})
}

// TestExperimentArgoExample runs Argo's documented Experiment (two templates, purple with a
// named Service, orange with minReadySeconds 10; three analyses, compare-results required)
// with web analyses against a loopback app: ReplicaSets and Service named as Argo names them,
// with the hashes Argo computes, Pending then Running, one run per analysis, Successful
// ("Required AnalysisRuns completed") when compare-results succeeds, then everything scaled
// down after the default 30 s and the Service deleted.
func TestExperimentArgoExample(t *testing.T) {
	t.Parallel() // its own namespace: runs beside the others
	env := withController(t)
	ns := env.Namespace(t)
	app := newColorServer(t, "purple", "ok")
	webTemplate(t, env, ns, "http-benchmark", 2)
	webTemplate(t, env, ns, "compare", 6)
	ex := loadExperiment(t, env, ns, argoExample)
	for i := range ex.Spec.Analyses {
		ex.Spec.Analyses[i].Args[0].Value = ptr.To(app.host()) // "purple", "orange": hosts in Argo's cluster
	}
	ex.Spec.Analyses[2].Args = append(ex.Spec.Analyses[2].Args, v1alpha1.Argument{Name: "hash", Value: ptr.To("{{templates.purple.podTemplateHash}}")})
	createExperiment(t, env, ex)

	waitExperimentPhase(t, env, ns, ex.Name, 30*time.Second, v1alpha1.AnalysisPhaseRunning)
	done := waitExperiment(t, env, ns, ex.Name, 60*time.Second, "completion", func(e *v1alpha1.Experiment) bool { return e.Status.Phase.Completed() })
	if done.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || done.Status.Message != "Required AnalysisRuns completed" {
		b, _ := json.MarshalIndent(done.Status, "", "  ")
		t.Fatalf("ended %s %q, want Successful; status:\n%s", done.Status.Phase, done.Status.Message, b)
	}
	checkArgoExampleObjects(t, env, done)
	wantExperimentEvents(t, env, ns, ex.Name,
		"Normal ExperimentPending: Experiment transitioned from  -> Pending",
		"Normal ScalingReplicaSet: Scaled up ReplicaSet example-experiment-purple from 0 to 1",
		"Normal TemplateRunning: Template 'orange' transitioned from Progressing -> Running",
		"Normal ExperimentRunning: Experiment transitioned from Pending -> Running",
		"Normal AnalysisRunPending: AnalysisRun 'compare-results' transitioned from  -> Pending",
		"Normal ExperimentSuccessful: Experiment transitioned from Running -> Successful")
	// from Running, or from an empty phase when the experiment last looked before the run started
	if !hasEvent(experimentEvents(t, env, ns, ex.Name), "Normal AnalysisRunSuccessful: AnalysisRun 'compare-results' transitioned from ") {
		t.Errorf("no AnalysisRunSuccessful event for compare-results")
	}

	// scaled down 30 s (Argo's default scaleDownDelaySeconds) after it ended
	rs := waitReplicaSetDeadline(t, env, ns, "example-experiment-purple")
	deadline, err := time.Parse(time.RFC3339, rs.Annotations["scale-down-deadline"])
	completed := done.Status.Conditions[0].LastUpdateTime.Time
	if d := deadline.Sub(completed); err != nil || d < 29*time.Second || d > 32*time.Second {
		t.Errorf("scale-down-deadline %q (%v), completed at %v", rs.Annotations["scale-down-deadline"], err, completed)
	}
	// nothing changes while it waits (no status rewritten at each look)
	before := getExperiment(t, env, ns, ex.Name).ResourceVersion
	time.Sleep(5 * time.Second)
	if after := getExperiment(t, env, ns, ex.Name).ResourceVersion; after != before {
		t.Errorf("the experiment changed while waiting for its scale-down: resourceVersion %s -> %s", before, after)
	}
	waitScaledDown(t, env, ns, "example-experiment-purple", 45*time.Second)
	waitScaledDown(t, env, ns, "example-experiment-orange", 10*time.Second)
	waitUntil(t, 10*time.Second, "Service service-name deleted", func() (bool, string) {
		err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "service-name"}, &corev1.Service{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	waitExperiment(t, env, ns, ex.Name, 10*time.Second, "purple's status without pods nor Service", func(e *v1alpha1.Experiment) bool {
		ts := e.Status.TemplateStatuses[0]
		return ts.ServiceName == "" && ts.PodTemplateHash == "" && ts.AvailableReplicas == 0 && ts.Replicas == 0
	})
}

// checkArgoExampleObjects checks what the documented example made: its ReplicaSets, Service,
// runs and status.
func checkArgoExampleObjects(t *testing.T, env *testenv.Env, ex *v1alpha1.Experiment) {
	t.Helper()
	ns := ex.Namespace
	for name, hash := range map[string]string{"example-experiment-purple": "b456d6bc5", "example-experiment-orange": "6c5f5445f9"} {
		rs := getReplicaSet(t, env, ns, name)
		if rs.Labels[v1alpha1.PodTemplateHashLabel] != hash || rs.Spec.Selector.MatchLabels[v1alpha1.PodTemplateHashLabel] != hash ||
			!metav1.IsControlledBy(rs, ex) || rs.Annotations["experiment.argoproj.io/name"] != ex.Name {
			t.Errorf("ReplicaSet %s: labels %v, selector %v, owners %v, annotations %v", name, rs.Labels, rs.Spec.Selector, rs.OwnerReferences, rs.Annotations)
		}
	}
	if rs := getReplicaSet(t, env, ns, "example-experiment-orange"); rs.Spec.MinReadySeconds != 10 {
		t.Errorf("orange's minReadySeconds %d", rs.Spec.MinReadySeconds)
	}
	// Running when the experiment completed, Successful from the next look on (it is ending)
	purple := ex.Status.TemplateStatuses[0]
	if purple.Name != "purple" || purple.ServiceName != "service-name" || purple.PodTemplateHash != "b456d6bc5" ||
		(purple.Status != v1alpha1.TemplateStatusRunning && purple.Status != v1alpha1.TemplateStatusSuccessful) ||
		purple.AvailableReplicas != 1 || purple.UpdatedReplicas != 1 || purple.LastTransitionTime == nil {
		t.Errorf("purple's status %+v", purple)
	}
	var runs []string
	for _, r := range ex.Status.AnalysisRuns {
		runs = append(runs, r.Name+"="+r.AnalysisRun+":"+string(r.Phase))
	}
	want := "purple=example-experiment-purple:Successful orange=example-experiment-orange:Successful compare-results=example-experiment-compare-results:Successful"
	if strings.Join(runs, " ") != want {
		t.Errorf("analysisRuns %v\n want %s", runs, want)
	}
	if run := getRun(t, env, ns, "example-experiment-compare-results"); !metav1.IsControlledBy(run, ex) || *run.Spec.Args[1].Value != "b456d6bc5" {
		t.Errorf("compare-results run: owners %v, args %+v", run.OwnerReferences, run.Spec.Args)
	}
	if ex.Status.AvailableAt == nil || len(ex.Status.Conditions) != 1 || ex.Status.Conditions[0].Reason != "ExperimentCompleted" ||
		ex.Status.Conditions[0].Message != `Experiment "example-experiment" has successfully ran and completed.` {
		t.Errorf("availableAt %v, conditions %+v", ex.Status.AvailableAt, ex.Status.Conditions)
	}
}

// waitReplicaSetDeadline waits for the ReplicaSet's scale-down-deadline annotation.
func waitReplicaSetDeadline(t *testing.T, env *testenv.Env, ns, name string) *appsv1.ReplicaSet {
	t.Helper()
	var rs *appsv1.ReplicaSet
	waitUntil(t, 10*time.Second, "a scale-down deadline on "+name, func() (bool, string) {
		rs = getReplicaSet(t, env, ns, name)
		_, ok := rs.Annotations["scale-down-deadline"]
		return ok, fmt.Sprint(rs.Annotations)
	})
	return rs
}

// TestExperimentFailingAnalysis: a run that fails ends the experiment Failed with the run's
// message, as Argo does; the run still going is terminated and the ReplicaSet scaled down.
func TestExperimentFailingAnalysis(t *testing.T) {
	t.Parallel()
	env := withController(t)
	ns := env.Namespace(t)
	healthy, app := newColorServer(t, "blue", "ok"), newColorServer(t, "blue", "ok")
	webTemplate(t, env, ns, "check", 100)
	ex := newExperiment(ns, "failing", "blue")
	for _, a := range [][2]string{{"steady", healthy.host()}, {"probe", app.host()}} {
		ex.Spec.Analyses = append(ex.Spec.Analyses, v1alpha1.ExperimentAnalysisTemplateRef{Name: a[0], TemplateName: "check",
			Args: []v1alpha1.Argument{{Name: "host", Value: ptr.To(a[1])}}})
	}
	createExperiment(t, env, ex)
	waitExperiment(t, env, ns, ex.Name, 30*time.Second, "its runs", func(e *v1alpha1.Experiment) bool {
		return len(e.Status.AnalysisRuns) == 2 && e.Status.AnalysisRuns[1].AnalysisRun != ""
	})
	waitRun(t, env, ns, "failing-probe", 30*time.Second, "a measurement", func(r *v1alpha1.AnalysisRun) bool {
		return metricResult(r, "status").Count >= 1
	})
	app.set("red", "nok")
	done := waitExperimentPhase(t, env, ns, ex.Name, 30*time.Second, v1alpha1.AnalysisPhaseFailed)
	run := waitPhase(t, env, ns, "failing-probe", 5*time.Second, v1alpha1.AnalysisPhaseFailed)
	if done.Status.Message != run.Status.Message || !strings.HasPrefix(done.Status.Message, `metric "status" failed`) {
		t.Errorf("message %q, want the failed run's %q", done.Status.Message, run.Status.Message)
	}
	wantExperimentEvents(t, env, ns, ex.Name, "Warning ExperimentFailed: Experiment transitioned from Running -> Failed",
		"Normal AnalysisRunTerminating: Terminating steady (failing-steady)")
	if !hasEvent(experimentEvents(t, env, ns, ex.Name), "Warning AnalysisRunFailed: AnalysisRun 'probe' transitioned from ", ": "+run.Status.Message) {
		t.Errorf("no AnalysisRunFailed event for probe with the run's message")
	}
	waitPhase(t, env, ns, "failing-steady", 15*time.Second, v1alpha1.AnalysisPhaseSuccessful) // terminated
	waitScaledDown(t, env, ns, "failing-blue", 15*time.Second)
}

// TestExperimentDuration: an experiment with a duration is Successful once it has been
// available that long, and its ReplicaSets are scaled down after scaleDownDelaySeconds.
func TestExperimentDuration(t *testing.T) {
	t.Parallel()
	env := withController(t)
	ns := env.Namespace(t)
	ex := newExperiment(ns, "timed", "baseline", "canary")
	ex.Spec.Duration = ptr.To(v1alpha1.DurationFromString("3s"))
	createExperiment(t, env, ex)
	running := waitExperimentPhase(t, env, ns, ex.Name, 30*time.Second, v1alpha1.AnalysisPhaseRunning)
	done := waitExperimentPhase(t, env, ns, ex.Name, 30*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	took := time.Since(running.Status.AvailableAt.Time)
	if took < 3*time.Second || took > 15*time.Second {
		t.Errorf("Successful %s after availableAt, want a little over 3s", took)
	}
	for _, ts := range done.Status.TemplateStatuses {
		if ts.Status != v1alpha1.TemplateStatusSuccessful {
			t.Errorf("template %s: %s", ts.Name, ts.Status)
		}
	}
	wantExperimentEvents(t, env, ns, ex.Name, "Normal TemplateSuccessful: Template 'canary' transitioned from Running -> Successful",
		"Normal ExperimentSuccessful: Experiment transitioned from Running -> Successful")
	waitScaledDown(t, env, ns, "timed-baseline", 15*time.Second)
	waitScaledDown(t, env, ns, "timed-canary", 5*time.Second)
	if _, ok := getReplicaSet(t, env, ns, "timed-canary").Annotations["scale-down-deadline"]; !ok {
		t.Error("no scale-down-deadline annotation on a ReplicaSet scaled down after a delay")
	}
}

// TestExperimentTerminate: without a duration or a required run an experiment runs until
// terminate: true, which makes it Successful, terminates its run (Successful, "Run
// Terminated") and scales its ReplicaSet down.
func TestExperimentTerminate(t *testing.T) {
	t.Parallel()
	env := withController(t)
	ns := env.Namespace(t)
	app := newColorServer(t, "blue", "ok")
	webTemplate(t, env, ns, "check", 1000)
	ex := newExperiment(ns, "endless", "blue")
	ex.Spec.ScaleDownDelaySeconds = ptr.To[int32](0)
	ex.Spec.Analyses = []v1alpha1.ExperimentAnalysisTemplateRef{{Name: "watch", TemplateName: "check",
		Args: []v1alpha1.Argument{{Name: "host", Value: ptr.To(app.host())}}}}
	createExperiment(t, env, ex)
	waitExperiment(t, env, ns, ex.Name, 30*time.Second, "its run", func(e *v1alpha1.Experiment) bool {
		return len(e.Status.AnalysisRuns) == 1 && e.Status.AnalysisRuns[0].AnalysisRun != ""
	})
	waitRun(t, env, ns, "endless-watch", 30*time.Second, "3 measurements", func(r *v1alpha1.AnalysisRun) bool {
		return metricResult(r, "status").Count >= 3
	})
	if got := getExperiment(t, env, ns, ex.Name); got.Status.Phase != v1alpha1.AnalysisPhaseRunning {
		t.Fatalf("phase %s while its run goes on, want Running", got.Status.Phase)
	}
	cur := getExperiment(t, env, ns, ex.Name)
	cur.Spec.Terminate = true
	if err := env.Client.Update(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	done := waitExperiment(t, env, ns, ex.Name, 15*time.Second, "completion", func(e *v1alpha1.Experiment) bool { return e.Status.Phase.Completed() })
	if done.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || done.Status.Message != "" {
		t.Errorf("terminated: %s %q, want Successful", done.Status.Phase, done.Status.Message)
	}
	run := waitPhase(t, env, ns, "endless-watch", 15*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	if !run.Spec.Terminate || run.Status.Message != "Run Terminated" {
		t.Errorf("run: terminate %v, message %q", run.Spec.Terminate, run.Status.Message)
	}
	wantExperimentEvents(t, env, ns, ex.Name, "Normal AnalysisRunTerminating: Terminating watch (endless-watch)",
		"Normal ScalingReplicaSet: Scaled down ReplicaSet endless-blue from 1 to 0")
	waitScaledDown(t, env, ns, "endless-blue", 10*time.Second)
}

// TestExperimentBadInput: two templates of one name, or an analysis whose template does not
// exist, end the experiment in Error with the field path in the message, and nothing is
// created.
func TestExperimentBadInput(t *testing.T) {
	t.Parallel()
	env := withController(t)
	ns := env.Namespace(t)
	twice := newExperiment(ns, "twice", "blue", "blue")
	twice.Spec.Templates[1].Selector.MatchLabels["copy"] = "yes"
	twice.Spec.Templates[1].Template.Labels = map[string]string{"app": "exp", "color": "blue", "copy": "yes"}
	missing := newExperiment(ns, "missing", "blue")
	missing.Spec.Analyses = []v1alpha1.ExperimentAnalysisTemplateRef{{Name: "check", TemplateName: "nowhere"}}
	for _, tc := range []struct {
		ex   *v1alpha1.Experiment
		want string
	}{
		{twice, `spec.templates[1].name: Duplicate value: "blue"`},
		{missing, `spec.analyses[0].templateName: AnalysisTemplate verification failed for analysis 'check': reading AnalysisTemplate nowhere: AnalysisTemplate.argoproj.io "nowhere" not found`},
	} {
		createExperiment(t, env, tc.ex)
		got := waitExperimentPhase(t, env, ns, tc.ex.Name, 15*time.Second, v1alpha1.AnalysisPhaseError)
		if got.Status.Message != tc.want {
			t.Errorf("%s: message %q\n want %q", tc.ex.Name, got.Status.Message, tc.want)
		}
		wantExperimentEvents(t, env, ns, tc.ex.Name, "Warning ExperimentError: Experiment transitioned from  -> Error")
	}
	time.Sleep(time.Second) // a late ReplicaSet would show by now
	var sets appsv1.ReplicaSetList
	if err := env.Client.List(context.Background(), &sets, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(sets.Items) != 0 {
		t.Errorf("%d ReplicaSets created for invalid experiments", len(sets.Items))
	}
}
