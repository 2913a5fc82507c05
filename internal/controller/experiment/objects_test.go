package experiment

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/api/v1alpha1"
)

// example reads Argo's documented Experiment (testdata/example-experiment.yaml).
func example(t *testing.T) *v1alpha1.Experiment {
	t.Helper()
	b, err := os.ReadFile("testdata/example-experiment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ex := &v1alpha1.Experiment{}
	if err := yaml.UnmarshalStrict(b, ex); err != nil {
		t.Fatal(err)
	}
	ex.Namespace, ex.UID = "ns", types.UID("ex-uid")
	return ex
}

// TestNewReplicaSet: the ReplicaSets Argo makes of the documented example: <experiment>-
// <template>, the pod-template hash Argo's own code computes (b456d6bc5, 6c5f5445f9) in the
// labels, the selector and the pod labels, the experiment's annotations, 0 replicas,
// minReadySeconds, controlled by the experiment.
func TestNewReplicaSet(t *testing.T) {
	ex := example(t)
	owner := []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Experiment", Name: "example-experiment",
		UID: "ex-uid", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
	type view struct {
		Name        string
		Labels      map[string]string
		Annotations map[string]string
		Owners      []metav1.OwnerReference
		Replicas    int32
		MinReady    int32
		Selector    map[string]string
		PodLabels   map[string]string
	}
	want := map[string]view{
		"purple": {Name: "example-experiment-purple",
			Labels:      map[string]string{"app": "canary-demo", "color": "purple", "rollouts-pod-template-hash": "b456d6bc5"},
			Annotations: map[string]string{"experiment.argoproj.io/name": "example-experiment", "experiment.argoproj.io/template-name": "purple"},
			Owners:      owner, Selector: map[string]string{"app": "canary-demo", "color": "purple", "rollouts-pod-template-hash": "b456d6bc5"},
			PodLabels: map[string]string{"app": "canary-demo", "color": "purple", "rollouts-pod-template-hash": "b456d6bc5"}},
		"orange": {Name: "example-experiment-orange",
			Labels:      map[string]string{"app": "canary-demo", "color": "orange", "rollouts-pod-template-hash": "6c5f5445f9"},
			Annotations: map[string]string{"experiment.argoproj.io/name": "example-experiment", "experiment.argoproj.io/template-name": "orange"},
			Owners:      owner, MinReady: 10, Selector: map[string]string{"app": "canary-demo", "color": "orange", "rollouts-pod-template-hash": "6c5f5445f9"},
			PodLabels: map[string]string{"app": "canary-demo", "color": "orange", "rollouts-pod-template-hash": "6c5f5445f9"}},
	}
	got := map[string]view{}
	for i := range ex.Spec.Templates {
		tmpl := &ex.Spec.Templates[i]
		rs := newReplicaSet(ex, tmpl, nil)
		got[tmpl.Name] = view{rs.Name, rs.Labels, rs.Annotations, rs.OwnerReferences, *rs.Spec.Replicas, rs.Spec.MinReadySeconds,
			rs.Spec.Selector.MatchLabels, rs.Spec.Template.Labels}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// a hash label already on the template does not change the hash; the spec is not touched
	tmpl := ex.Spec.Templates[0].DeepCopy()
	tmpl.Template.Labels[v1alpha1.PodTemplateHashLabel] = "stale"
	if rs := newReplicaSet(ex, tmpl, nil); rs.Labels[v1alpha1.PodTemplateHashLabel] != "b456d6bc5" || tmpl.Template.Labels[v1alpha1.PodTemplateHashLabel] != "stale" {
		t.Errorf("hash %q, template labels %v", rs.Labels[v1alpha1.PodTemplateHashLabel], tmpl.Template.Labels)
	}
}

// TestNewService: the template's Service selects the ReplicaSet's labels, one port per
// container port, named as the template says or after the ReplicaSet; none without ports.
func TestNewService(t *testing.T) {
	ex := example(t)
	purple, orange := &ex.Spec.Templates[0], &ex.Spec.Templates[1]
	type view struct {
		Name        string
		Selector    map[string]string
		Ports       []corev1.ServicePort
		Annotations map[string]string
	}
	ports := []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 8080, TargetPort: intstr.FromInt32(8080)}}
	noPorts := orange.DeepCopy()
	noPorts.Template.Spec.Containers[0].Ports = nil
	unnamed := orange.DeepCopy()
	unnamed.Service = &v1alpha1.TemplateService{}
	cases := map[string]struct {
		t    *v1alpha1.TemplateSpec
		want *view
	}{
		"named": {purple, &view{"service-name", map[string]string{"app": "canary-demo", "color": "purple", "rollouts-pod-template-hash": "b456d6bc5"}, ports,
			map[string]string{"experiment.argoproj.io/name": "example-experiment", "experiment.argoproj.io/template-name": "purple"}}},
		"after the ReplicaSet": {unnamed, &view{"example-experiment-orange", map[string]string{"app": "canary-demo", "color": "orange", "rollouts-pod-template-hash": "6c5f5445f9"}, ports,
			map[string]string{"experiment.argoproj.io/name": "example-experiment", "experiment.argoproj.io/template-name": "orange"}}},
		"no ports": {noPorts, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			svc := newService(ex, tc.t, newReplicaSet(ex, tc.t, nil))
			var got *view
			if svc != nil {
				got = &view{svc.Name, svc.Spec.Selector, svc.Spec.Ports, svc.Annotations}
				if !metav1.IsControlledBy(svc, ex) {
					t.Errorf("owners %v", svc.OwnerReferences)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestValidate: Vane's validation with the field path, and Argo's minReadySeconds check.
func TestValidate(t *testing.T) {
	cases := map[string]struct {
		edit func(*v1alpha1.Experiment)
		want string
	}{
		"the example": {func(*v1alpha1.Experiment) {}, ""},
		"two templates, one name": {func(e *v1alpha1.Experiment) { e.Spec.Templates[1].Name = "purple" },
			`spec.templates[1].name: Duplicate value: "purple"`},
		"minReadySeconds over the deadline": {func(e *v1alpha1.Experiment) { e.Spec.Templates[1].MinReadySeconds = 31 },
			"spec.templates[1].minReadySeconds: Invalid value: 31: " + msgMinReadyTooLong},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ex := example(t)
			tc.edit(ex)
			if got := errorsMessage(validate(ex)); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestSetProgressing: the Progressing condition as Argo sets it.
func TestSetProgressing(t *testing.T) {
	type cond struct {
		Status                corev1.ConditionStatus
		Reason, Message       string
		Updated, Transitioned metav1.Time
	}
	progressingSince := *at(-10 * time.Second)
	cases := map[string]struct {
		read v1alpha1.ExperimentStatus
		next v1alpha1.ExperimentStatus
		want cond
	}{
		"a template appears": {v1alpha1.ExperimentStatus{}, v1alpha1.ExperimentStatus{Phase: pending, TemplateStatuses: []v1alpha1.TemplateStatus{{Name: "x"}}},
			cond{corev1.ConditionTrue, reasonRSUpdated, `Experiment "e" is progressing.`, *at(0), *at(0)}},
		"counts move, transition kept": {
			v1alpha1.ExperimentStatus{TemplateStatuses: []v1alpha1.TemplateStatus{{Name: "x"}}, Conditions: []v1alpha1.ExperimentCondition{
				{Type: v1alpha1.ExperimentProgressing, Status: corev1.ConditionTrue, Reason: reasonRSUpdated, LastUpdateTime: progressingSince, LastTransitionTime: progressingSince}}},
			v1alpha1.ExperimentStatus{TemplateStatuses: []v1alpha1.TemplateStatus{{Name: "x", Replicas: 1}}, Conditions: []v1alpha1.ExperimentCondition{
				{Type: v1alpha1.ExperimentProgressing, Status: corev1.ConditionTrue, Reason: reasonRSUpdated, LastUpdateTime: progressingSince, LastTransitionTime: progressingSince}}},
			cond{corev1.ConditionTrue, reasonRSUpdated, `Experiment "e" is progressing.`, *at(0), progressingSince}},
		"running": {
			v1alpha1.ExperimentStatus{AvailableAt: at(-10 * time.Second), Conditions: []v1alpha1.ExperimentCondition{
				{Type: v1alpha1.ExperimentProgressing, Status: corev1.ConditionTrue, Reason: reasonRSUpdated, LastUpdateTime: progressingSince, LastTransitionTime: progressingSince}}},
			v1alpha1.ExperimentStatus{Phase: running, AvailableAt: at(-10 * time.Second), Conditions: []v1alpha1.ExperimentCondition{
				{Type: v1alpha1.ExperimentProgressing, Status: corev1.ConditionTrue, Reason: reasonRSUpdated, LastUpdateTime: progressingSince, LastTransitionTime: progressingSince}}},
			cond{corev1.ConditionTrue, reasonRSAvailable, `Experiment "e" is running.`, *at(0), progressingSince}},
		"successful": {v1alpha1.ExperimentStatus{}, v1alpha1.ExperimentStatus{Phase: successful},
			cond{corev1.ConditionFalse, reasonCompleted, `Experiment "e" has successfully ran and completed.`, *at(0), *at(0)}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			read := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Name: "e"}, Status: tc.read}
			st := tc.next
			setProgressing(read, &st, t0)
			c := findCondition(&st, v1alpha1.ExperimentProgressing)
			if c == nil {
				t.Fatal("no Progressing condition")
			}
			got := cond{c.Status, c.Reason, c.Message, c.LastUpdateTime, c.LastTransitionTime}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
