package job

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vanedev/vane/api/v1alpha1"
)

const uid = "0b6e6f51-97d0-4d4e-9f3a-5f3c8a3c0c11"

func setup(t *testing.T) (*Provider, *v1alpha1.AnalysisRun, *v1alpha1.Metric, *clocktesting.FakePassiveClock) {
	t.Helper()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	clk := clocktesting.NewFakePassiveClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	p := &Provider{Client: fake.NewClientBuilder().WithScheme(scheme).Build(), Clock: clk}
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "run", Namespace: "ns", UID: types.UID(uid)}}
	m := &v1alpha1.Metric{Name: "Smoke_Test", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{
		Metadata: metav1.ObjectMeta{Labels: map[string]string{"team": "a"}, Annotations: map[string]string{"note": "x"}},
		Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "t", Image: "busybox"}}}}},
	}}}
	return p, run, m, clk
}

func TestName(t *testing.T) {
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)}}
	if got := Name(run, "Smoke_Test", 3); got != uid+".smoke-test.3" {
		t.Errorf("Name = %q", got)
	}
	long := Name(run, strings.Repeat("very-long-metric-name-", 5), 12)
	if len(long) > 63 || !strings.HasPrefix(long, uid+".very-long") || !strings.HasSuffix(long, ".12") {
		t.Errorf("long name %q (%d chars)", long, len(long))
	}
	if Name(run, strings.Repeat("a", 40)+"x", 1) == Name(run, strings.Repeat("a", 40)+"y", 1) {
		t.Error("two long metric names must not share a Job name")
	}
}

func TestLifecycle(t *testing.T) {
	p, run, m, clk := setup(t)
	ctx := context.Background()
	res, err := p.Measure(ctx, run, m)
	if err != nil {
		t.Fatal(err)
	}
	name := res.Metadata[JobNameKey]
	if res.Phase != v1alpha1.AnalysisPhaseRunning || name != uid+".smoke-test.1" {
		t.Fatalf("measure: %+v", res)
	}
	var job batchv1.Job
	if err := p.Client.Get(ctx, client.ObjectKey{Namespace: "ns", Name: name}, &job); err != nil {
		t.Fatal(err)
	}
	if job.Labels[RunUIDLabel] != uid || job.Labels["team"] != "a" || job.Annotations[MetricNameAnnotation] != "Smoke_Test" ||
		job.Annotations["note"] != "x" || !metav1.IsControlledBy(&job, run) {
		t.Errorf("job metadata %+v", job.ObjectMeta)
	}
	// measuring again after a lost status update takes the Job over
	if _, err := p.Measure(ctx, run, m); err != nil {
		t.Errorf("re-measure: %v", err)
	}
	meas := &v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseRunning, Metadata: res.Metadata, StartedAt: ptr.To(metav1.NewTime(clk.Now()))}
	if res, err = p.Resume(ctx, run, m, meas); err != nil || res.Phase != v1alpha1.AnalysisPhaseRunning {
		t.Errorf("resume while running: %+v %v", res, err)
	}
	job.Status.Failed = 1
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue},
		{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}}
	if err := p.Client.Status().Update(ctx, &job); err != nil {
		t.Fatal(err)
	}
	res, err = p.Resume(ctx, run, m, meas)
	if err != nil || res.Phase != v1alpha1.AnalysisPhaseFailed || !strings.Contains(res.Message, "BackoffLimitExceeded: Job has reached the specified backoff limit") {
		t.Errorf("resume a failed job: %+v %v", res, err)
	}
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	_ = p.Client.Status().Update(ctx, &job)
	if res, err = p.Resume(ctx, run, m, meas); err != nil || res.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("resume a complete job: %+v %v", res, err)
	}

	if err := p.Terminate(ctx, run, m, meas); err != nil {
		t.Fatal(err)
	}
	if res, err = p.Resume(ctx, run, m, meas); err != nil || res.Phase != v1alpha1.AnalysisPhaseRunning {
		t.Errorf("a job just created may be missing from a cache: %+v %v", res, err)
	}
	clk.SetTime(clk.Now().Add(time.Minute))
	if _, err = p.Resume(ctx, run, m, meas); err == nil || !strings.Contains(err.Error(), "is gone") {
		t.Errorf("a deleted job: %v", err)
	}
}

func TestGarbageCollect(t *testing.T) {
	p, run, m, _ := setup(t)
	ctx := context.Background()
	for n := int32(0); n < 12; n++ {
		run.Status.MetricResults = []v1alpha1.MetricResult{{Name: m.Name, Count: n}}
		if _, err := p.Measure(ctx, run, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.GarbageCollect(ctx, run, m, 3); err != nil {
		t.Fatal(err)
	}
	var list batchv1.JobList
	_ = p.Client.List(ctx, &list)
	var names []string
	for _, j := range list.Items {
		names = append(names, j.Name[len(uid)+1:])
	}
	if strings.Join(names, " ") != "smoke-test.10 smoke-test.11 smoke-test.12" {
		t.Errorf("kept %v, want the newest 3", names)
	}
}
