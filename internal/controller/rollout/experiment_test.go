package rollout

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vanedev/vane/api/v1alpha1"
	kit "github.com/vanedev/vane/internal/reconcile"
)

// expRollout is the rollout "app" at revision 3, with an experiment step (Argo's documented
// baseline/canary, the canary with metadata, a weight and an analysis with each kind of
// argument) as its second step.
func expRollout() *v1alpha1.Rollout {
	step := &v1alpha1.RolloutExperimentStep{
		Duration:              ptr.To(v1alpha1.DurationFromString("1h")),
		ScaleDownDelaySeconds: ptr.To[int32](5),
		DryRun:                []v1alpha1.DryRun{{MetricName: "latency"}},
		AnalysisRunMetadata:   v1alpha1.AnalysisRunMetadata{Labels: map[string]string{"team": "colors"}},
		Templates: []v1alpha1.RolloutExperimentTemplate{
			{Name: "baseline", SpecRef: v1alpha1.StableSpecRef},
			{Name: "canary", SpecRef: v1alpha1.CanarySpecRef, Replicas: ptr.To[int32](2), Weight: ptr.To[int32](5),
				Metadata: v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "exp"}, Annotations: map[string]string{"note": "x"}}},
		},
		Analyses: []v1alpha1.RolloutExperimentStepAnalysisTemplateRef{{Name: "compare", TemplateName: "mann-whitney", RequiredForCompletion: true,
			Args: []v1alpha1.AnalysisRunArgument{
				{Name: "baseline-hash", Value: "{{templates.baseline.podTemplateHash}}"},
				{Name: "stable", ValueFrom: &v1alpha1.ArgumentValueFrom{PodTemplateHashValue: ptr.To(v1alpha1.Stable)}},
				{Name: "latest", ValueFrom: &v1alpha1.ArgumentValueFrom{PodTemplateHashValue: ptr.To(v1alpha1.Latest)}},
				{Name: "name", ValueFrom: &v1alpha1.ArgumentValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.labels['app']"}}},
			}}},
	}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns", UID: "uid-app", Labels: map[string]string{"app": "web"},
			Annotations: map[string]string{v1alpha1.RevisionAnnotation: "3"}},
		Spec: v1alpha1.RolloutSpec{ProgressDeadlineSeconds: ptr.To[int32](300), Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			Steps: []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](20)}, {Experiment: step}}}}},
		Status: v1alpha1.RolloutStatus{StableRS: "s1", CurrentPodHash: "n1"},
	}
}

// expReplicaSet is a ReplicaSet of the rollout with hash and image.
func expReplicaSet(hash, image string) *appsv1.ReplicaSet {
	labels := map[string]string{"app": "web", v1alpha1.PodTemplateHashLabel: hash}
	return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "app-" + hash, Namespace: "ns", Labels: labels},
		Spec: appsv1.ReplicaSetSpec{MinReadySeconds: 7, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}}}}}
}

// TestBuildExperiment: the Experiment of a step is Argo's GetExperimentFromTemplate's.
func TestBuildExperiment(t *testing.T) {
	ro := expRollout()
	stable, newRS := expReplicaSet("s1", "web:1"), expReplicaSet("n1", "web:2")
	r := &Reconciler{Settings: kit.Settings{InstanceID: "blue"}}
	ex, err := r.buildExperiment(ro, ro.Spec.Strategy.Canary.Steps[1].Experiment, 1, stable, newRS)
	if err != nil {
		t.Fatal(err)
	}
	canaryLabels := map[string]string{"app": "web", v1alpha1.PodTemplateHashLabel: "n1", "role": "exp"}
	canary := newRS.Spec.Template.DeepCopy()
	canary.Labels, canary.Annotations = canaryLabels, map[string]string{"note": "x"}
	str := func(s string) *string { return &s }
	want := &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "app-n1-3-1", Namespace: "ns",
			Labels:          map[string]string{"app": "web", v1alpha1.PodTemplateHashLabel: "n1", v1alpha1.InstanceIDLabel: "blue"},
			Annotations:     map[string]string{v1alpha1.RevisionAnnotation: "3"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))}},
		Spec: v1alpha1.ExperimentSpec{
			Duration: ptr.To(v1alpha1.DurationFromString("1h")), ProgressDeadlineSeconds: ptr.To[int32](300),
			ScaleDownDelaySeconds: ptr.To[int32](5), DryRun: []v1alpha1.DryRun{{MetricName: "latency"}},
			AnalysisRunMetadata: v1alpha1.AnalysisRunMetadata{Labels: map[string]string{"team": "colors"}},
			Templates: []v1alpha1.TemplateSpec{
				{Name: "baseline", MinReadySeconds: 7, Selector: stable.Spec.Selector, Template: stable.Spec.Template},
				{Name: "canary", Replicas: ptr.To[int32](2), MinReadySeconds: 7, Service: &v1alpha1.TemplateService{},
					Selector: &metav1.LabelSelector{MatchLabels: canaryLabels}, Template: *canary},
			},
			Analyses: []v1alpha1.ExperimentAnalysisTemplateRef{{Name: "compare", TemplateName: "mann-whitney", RequiredForCompletion: true,
				Args: []v1alpha1.Argument{{Name: "baseline-hash", Value: str("{{templates.baseline.podTemplateHash}}")},
					{Name: "stable", Value: str("s1")}, {Name: "latest", Value: str("n1")}, {Name: "name", Value: str("web")}}}},
		},
	}
	if diff := cmp.Diff(want, ex); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if newRS.Labels["role"] != "" || newRS.Spec.Template.Annotations != nil {
		t.Errorf("the new ReplicaSet changed: %v %v", newRS.Labels, newRS.Spec.Template.Annotations)
	}
}

// TestStartExperimentCollisions: a name taken by an Experiment that ended, or by someone
// else's, gets -1, -2 ...; a running Experiment of the rollout with the same spec is taken over
// (Argo's createExperimentWithCollisionHandling). Only a creation is announced.
func TestStartExperimentCollisions(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	ro := expRollout()
	stable, newRS := expReplicaSet("s1", "web:1"), expReplicaSet("n1", "web:2")
	r0 := &Reconciler{}
	want, err := r0.buildExperiment(ro, ro.Spec.Strategy.Canary.Steps[1].Experiment, 1, stable, newRS)
	if err != nil {
		t.Fatal(err)
	}
	named := func(name string, phase v1alpha1.AnalysisPhase, mod func(*v1alpha1.Experiment)) *v1alpha1.Experiment {
		ex := want.DeepCopy()
		ex.Name, ex.Status.Phase = name, phase
		if mod != nil {
			mod(ex)
		}
		return ex
	}
	notOurs := func(ex *v1alpha1.Experiment) { ex.OwnerReferences = nil }
	otherSpec := func(ex *v1alpha1.Experiment) { ex.Spec.Duration = nil }
	tests := map[string]struct {
		existing []client.Object
		want     string
		events   int
	}{
		"free name":                        {want: "app-n1-3-1", events: 1},
		"taken by one that ended":          {existing: []client.Object{named("app-n1-3-1", v1alpha1.AnalysisPhaseInconclusive, nil)}, want: "app-n1-3-1-1", events: 1},
		"taken by someone else's":          {existing: []client.Object{named("app-n1-3-1", v1alpha1.AnalysisPhaseRunning, notOurs)}, want: "app-n1-3-1-1", events: 1},
		"taken by one with another spec":   {existing: []client.Object{named("app-n1-3-1", v1alpha1.AnalysisPhaseRunning, otherSpec)}, want: "app-n1-3-1-1", events: 1},
		"ours, running, same spec: reused": {existing: []client.Object{named("app-n1-3-1", v1alpha1.AnalysisPhaseRunning, nil)}, want: "app-n1-3-1"},
		"two taken": {existing: []client.Object{named("app-n1-3-1", v1alpha1.AnalysisPhaseFailed, nil),
			named("app-n1-3-1-1", v1alpha1.AnalysisPhaseSuccessful, nil)}, want: "app-n1-3-1-2", events: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(tc.existing...).Build()
			rec := record.NewFakeRecorder(10)
			r := &Reconciler{Client: c, APIReader: c, Recorder: rec}
			s := &syncState{ro: ro.DeepCopy(), newRS: newRS, sets: []*appsv1.ReplicaSet{stable, newRS}}
			ex, err := r.startExperiment(context.Background(), s, 1)
			if err != nil {
				t.Fatal(err)
			}
			if ex.Name != tc.want {
				t.Errorf("Experiment %s, want %s", ex.Name, tc.want)
			}
			if len(rec.Events) != tc.events {
				t.Fatalf("%d events, want %d", len(rec.Events), tc.events)
			}
			if tc.events > 0 {
				if e, w := <-rec.Events, "Normal ExperimentCreated Created Experiment '"+tc.want+"'"; e != w {
					t.Errorf("event %q, want %q", e, w)
				}
			}
		})
	}
}

// TestPruneExperiments: Argo's FilterExperimentsToDelete: Experiments whose ReplicaSet is gone
// (or that have no hash) go; of the others, the Successful ones beyond the successful history
// limit and the unsuccessful ones beyond the unsuccessful one, newest kept; running ones stay.
func TestPruneExperiments(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ro := expRollout()
	mk := func(name, hash string, age int, phase v1alpha1.AnalysisPhase) *v1alpha1.Experiment {
		ex := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns",
			CreationTimestamp: metav1.NewTime(t0.Add(-time.Duration(age) * time.Minute))}, Status: v1alpha1.ExperimentStatus{Phase: phase}}
		if hash != "" {
			ex.Labels = map[string]string{v1alpha1.PodTemplateHashLabel: hash}
		}
		return ex
	}
	tests := map[string]struct {
		okLimit, badLimit *int32
		want              []string
	}{
		"defaults keep 5 of each": {want: []string{"bad-1", "bad-2", "bad-3", "bad-4", "bad-5", "ok-1", "ok-2", "ok-3", "ok-4", "ok-5", "running"}},
		"limits of 1 and 0":       {okLimit: ptr.To[int32](1), badLimit: ptr.To[int32](0), want: []string{"ok-1", "running"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			others := []*v1alpha1.Experiment{mk("running", "n1", 100, v1alpha1.AnalysisPhaseRunning),
				mk("no-hash", "", 1, v1alpha1.AnalysisPhaseSuccessful), mk("gone", "old", 1, v1alpha1.AnalysisPhaseSuccessful)}
			for i := 1; i <= 6; i++ {
				others = append(others, mk(fmt.Sprintf("ok-%d", i), "n1", i, v1alpha1.AnalysisPhaseSuccessful),
					mk(fmt.Sprintf("bad-%d", i), "s1", i, []v1alpha1.AnalysisPhase{v1alpha1.AnalysisPhaseFailed,
						v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseInconclusive}[i%3]))
			}
			var objs []client.Object
			for _, ex := range others {
				objs = append(objs, ex)
			}
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
			r := &Reconciler{Client: c}
			ro := ro.DeepCopy()
			ro.Spec.Analysis = &v1alpha1.AnalysisRunStrategy{SuccessfulRunHistoryLimit: tc.okLimit, UnsuccessfulRunHistoryLimit: tc.badLimit}
			sets := []*appsv1.ReplicaSet{expReplicaSet("s1", "web:1"), expReplicaSet("n1", "web:2")}
			if err := r.pruneExperiments(context.Background(), ro, sets, others); err != nil {
				t.Fatal(err)
			}
			var list v1alpha1.ExperimentList
			if err := c.List(context.Background(), &list); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ex := range list.Items {
				got = append(got, ex.Name)
			}
			slices.Sort(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Experiments left (-want +got):\n%s", diff)
			}
		})
	}
}
