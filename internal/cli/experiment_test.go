package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/controller"
)

// fakeClient is a fake cluster with Vane's scheme; Experiments and AnalysisRuns have a status
// subresource, as Vane's CRDs.
func fakeClient(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	s, err := controller.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.Experiment{}, &v1alpha1.AnalysisRun{}, &v1alpha1.Rollout{}).Build()
}

func testOptions(c client.Client) (*Options, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &Options{Client: c, Namespace: "default", Out: &out, Err: &errOut, Clock: clocktesting.NewFakeClock(now),
		Server: "https://127.0.0.1:6443"}, &out, &errOut
}

func newExp(phase v1alpha1.AnalysisPhase, msg string) *v1alpha1.Experiment {
	return &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "example", Namespace: "default", UID: "ex", CreationTimestamp: ago(3 * time.Minute)},
		Spec: v1alpha1.ExperimentSpec{Duration: ptr.To(v1alpha1.DurationFromString("20m")),
			Templates: []v1alpha1.TemplateSpec{{Name: "orange"}, {Name: "purple"}}},
		Status: v1alpha1.ExperimentStatus{Phase: phase, Message: msg, AvailableAt: ptr.To(ago(2 * time.Minute))},
	}
}

// templateSet is the ReplicaSet <experiment>-<template> with its pods, ready of them ready.
func templateSet(ex *v1alpha1.Experiment, tmpl string, replicas, ready int32) ReplicaSetInfo {
	info := replicaSet("x", "argoproj/rollouts-demo:"+tmpl, 0, replicas, ready, 3*time.Minute)
	rs := info.RS
	rs.Name, rs.Namespace, rs.UID = ex.Name+"-"+tmpl, ex.Namespace, types.UID(ex.Name+"-rs-"+tmpl)
	rs.Annotations = map[string]string{templateAnnotation: tmpl, "experiment.argoproj.io/name": ex.Name}
	rs.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(ex, v1alpha1.GroupVersion.WithKind("Experiment"))}
	for i, p := range info.Pods {
		p.Name, p.Namespace = rs.Name+"-"+string(rune('a'+i)), ex.Namespace
		p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}
	}
	return info
}

func experimentRun(ex *v1alpha1.Experiment, analysis string, phase v1alpha1.AnalysisPhase, ok, failed int32, created time.Duration) AnalysisRunInfo {
	run := &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Name: ex.Name + "-" + analysis, Namespace: ex.Namespace, UID: types.UID(ex.Name + "-run-" + analysis),
			CreationTimestamp: ago(created),
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(ex, v1alpha1.GroupVersion.WithKind("Experiment"))}},
		Status: v1alpha1.AnalysisRunStatus{Phase: phase, MetricResults: []v1alpha1.MetricResult{{Name: "status", Successful: ok, Failed: failed}}},
	}
	return AnalysisRunInfo{Run: run}
}

func experimentCases() map[string]*ExperimentInfo {
	running := newExp(v1alpha1.AnalysisPhaseRunning, "")
	failed := newExp(v1alpha1.AnalysisPhaseFailed, `metric "status" failed: result "nok" does not satisfy result == "ok"`)
	scaled := templateSet(failed, "purple", 1, 1)
	scaled.RS.Annotations[v1alpha1.ScaleDownDeadlineAnnotation] = now.Add(20 * time.Second).Format(time.RFC3339)
	jobRun := experimentRun(running, "job", v1alpha1.AnalysisPhaseRunning, 0, 0, 30*time.Second)
	jobRun.Jobs = []*batchv1.Job{{ObjectMeta: metav1.ObjectMeta{Name: "example-job-1", CreationTimestamp: ago(20 * time.Second)}}}
	return map[string]*ExperimentInfo{
		// Pending: no phase yet, nothing created
		"experiment-pending": {Experiment: newExp("", "")},
		// Running: orange's pod not ready yet, purple's ready; a run measuring, one with a Job
		"experiment-running": {Experiment: running,
			ReplicaSets: []ReplicaSetInfo{templateSet(running, "orange", 1, 0), templateSet(running, "purple", 2, 2)},
			Runs: []AnalysisRunInfo{jobRun, experimentRun(running, "purple", v1alpha1.AnalysisPhaseRunning, 3, 0, time.Minute),
				experimentRun(running, "orange", v1alpha1.AnalysisPhaseSuccessful, 2, 0, 2*time.Minute)}},
		// Failed: the message is the failed run's; purple waits for its scale-down deadline
		"experiment-failed": {Experiment: failed,
			ReplicaSets: []ReplicaSetInfo{templateSet(failed, "orange", 0, 0), scaled},
			Runs:        []AnalysisRunInfo{experimentRun(failed, "purple", v1alpha1.AnalysisPhaseFailed, 1, 2, time.Minute)}},
	}
}

func TestRenderExperiment(t *testing.T) {
	for name, info := range experimentCases() {
		for _, color := range []bool{false, true} {
			file := name + ".golden"
			if color {
				file = name + ".color.golden"
			}
			t.Run(file, func(t *testing.T) {
				var buf bytes.Buffer
				RenderExperiment(&buf, info, now, color)
				checkGolden(t, file, buf.String())
			})
		}
	}
}

// checkGolden compares got with testdata/file (rewritten with -update).
func checkGolden(t *testing.T, file, got string) {
	t.Helper()
	golden := filepath.Join("testdata", file)
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("output differs from %s (-want +got):\n%s", golden, diff)
	}
}

// clusterObjects are the objects of an ExperimentInfo, as a cluster holds them.
func clusterObjects(info *ExperimentInfo) []client.Object {
	objs := []client.Object{info.Experiment.DeepCopy()}
	for _, s := range info.ReplicaSets {
		objs = append(objs, s.RS.DeepCopy())
		for _, p := range s.Pods {
			objs = append(objs, p.DeepCopy())
		}
	}
	for _, r := range info.Runs {
		objs = append(objs, r.Run.DeepCopy())
	}
	return objs
}

// TestGetExperiment: get experiment reads the experiment and only what it owns, and prints
// what RenderExperiment prints; an unknown experiment names the namespace searched.
func TestGetExperiment(t *testing.T) {
	info := experimentCases()["experiment-failed"]
	other := newExp(v1alpha1.AnalysisPhaseRunning, "")
	other.Name, other.UID = "other", "other"
	objs := append(clusterObjects(info), other)
	for _, s := range []ReplicaSetInfo{templateSet(other, "purple", 1, 1)} {
		objs = append(objs, s.RS, s.Pods[0])
	}
	o, out, _ := testOptions(fakeClient(t, objs...))
	if err := GetExperiment(context.Background(), o, "example", false); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"example-orange", "example-purple-a", "Σ:purple", "α example-purple"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "other") {
		t.Errorf("another experiment's objects shown:\n%s", got)
	}
	err := GetExperiment(context.Background(), o, "nope", false)
	if err == nil || err.Error() != `experiment "nope" not found in namespace "default"` {
		t.Errorf("unknown experiment: %v", err)
	}
}

// TestGetExperimentWatch: without a terminal, -w prints a frame, then a new one only when
// something changed, until the context ends.
func TestGetExperimentWatch(t *testing.T) {
	ex := newExp(v1alpha1.AnalysisPhaseRunning, "")
	c := fakeClient(t, ex)
	o, out, _ := testOptions(c)
	clock := o.Clock.(*clocktesting.FakeClock)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- GetExperiment(ctx, o, "example", true) }()
	step := func() {
		for !clock.HasWaiters() {
			time.Sleep(time.Millisecond)
		}
		clock.Step(time.Second)
	}
	step() // same frame: not printed again
	cur := &v1alpha1.Experiment{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(ex), cur); err != nil {
		t.Fatal(err)
	}
	cur.Status.Phase = v1alpha1.AnalysisPhaseSuccessful
	if err := c.Status().Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	step()
	for !clock.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	frames := strings.Split(out.String(), "\n\nName:")
	if len(frames) != 2 || !strings.Contains(frames[0], "◌ Running") || !strings.Contains(frames[1], "✔ Successful") {
		t.Errorf("want 2 frames, Running then Successful; got:\n%s", out.String())
	}
}

// TestGetExperimentWatchTerminal: on a terminal every frame replaces the previous one: the
// cursor goes up over it and the screen below is cleared.
func TestGetExperimentWatchTerminal(t *testing.T) {
	o, out, _ := testOptions(fakeClient(t, newExp(v1alpha1.AnalysisPhaseRunning, "")))
	o.Terminal = true
	clock := o.Clock.(*clocktesting.FakeClock)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- GetExperiment(ctx, o, "example", true) }()
	for i := 0; i < 2; i++ {
		for !clock.HasWaiters() {
			time.Sleep(time.Millisecond)
		}
		clock.Step(time.Second)
	}
	for !clock.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var one bytes.Buffer
	RenderExperiment(&one, &ExperimentInfo{Experiment: newExp(v1alpha1.AnalysisPhaseRunning, "")}, now, false)
	lines := strings.Count(one.String(), "\n")
	frames := strings.Split(out.String(), fmt.Sprintf("\x1b[%dA\x1b[J", lines))
	if len(frames) != 3 {
		t.Errorf("want 3 frames, each after the escape that erases the previous one; got:\n%q", out.String())
	}
}

func TestListExperiments(t *testing.T) {
	running := newExp(v1alpha1.AnalysisPhaseRunning, "")
	done := newExp(v1alpha1.AnalysisPhaseSuccessful, "")
	done.Name = "finished"
	endless := newExp("", "")
	endless.Name, endless.Namespace, endless.Spec.Duration, endless.Status.AvailableAt = "endless", "team-b", nil, nil
	var buf bytes.Buffer
	renderExperimentList(&buf, []v1alpha1.Experiment{*running, *done, *endless}, true, now)
	renderExperimentList(&buf, []v1alpha1.Experiment{*running}, false, now)
	renderExperimentList(&buf, nil, false, now)
	checkGolden(t, "list-experiments.golden", buf.String())

	o, out, _ := testOptions(fakeClient(t, running, endless))
	if err := ListExperiments(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "example  Running  20m") || strings.Contains(got, "endless") {
		t.Errorf("list in namespace default:\n%s", got)
	}
}

// TestRetryExperiment: the status is cleared, through the status subresource.
func TestRetryExperiment(t *testing.T) {
	ex := newExp(v1alpha1.AnalysisPhaseFailed, "it failed")
	ex.Status.AnalysisRuns = []v1alpha1.ExperimentAnalysisRunStatus{{Name: "a", AnalysisRun: "example-a", Phase: v1alpha1.AnalysisPhaseFailed}}
	c := fakeClient(t, ex)
	o, out, _ := testOptions(c)
	if err := RetryExperiment(context.Background(), o, []string{"example"}); err != nil {
		t.Fatal(err)
	}
	got := &v1alpha1.Experiment{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(ex), got); err != nil {
		t.Fatal(err)
	}
	if !equalZero(got.Status) || len(got.Spec.Templates) != 2 {
		t.Errorf("after retry: status %+v, %d templates", got.Status, len(got.Spec.Templates))
	}
	if out.String() != "experiment 'example' retried\n" {
		t.Errorf("output %q", out.String())
	}
	err := RetryExperiment(context.Background(), o, []string{"nope"})
	if err == nil || err.Error() != `experiment "nope" not found in namespace "default"` {
		t.Errorf("unknown experiment: %v", err)
	}
}

func equalZero(st v1alpha1.ExperimentStatus) bool {
	return cmp.Equal(st, v1alpha1.ExperimentStatus{})
}
