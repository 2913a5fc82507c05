package rollout

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/podhash"
)

// TestNewReplicaSetCreatedBefore: a reconcile whose cache does not show yet the ReplicaSet an
// earlier reconcile created (its create answers AlreadyExists) carries on with that one and
// does not announce it again (the chaos tests saw NewReplicaSetCreated three times for one
// ReplicaSet), nor take it for one it created.
func TestNewReplicaSetCreatedBefore(t *testing.T) {
	template := &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "app"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:2"}}}}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns", UID: "u1"},
		Spec: v1alpha1.RolloutSpec{Replicas: ptr.To[int32](3), Template: *template,
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}}}}
	hash := podhash.Template(template, nil)
	existing := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "app-" + hash, Namespace: "ns",
		Labels:          map[string]string{v1alpha1.PodTemplateHashLabel: hash},
		Annotations:     map[string]string{v1alpha1.RevisionAnnotation: "2"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "app", UID: "u1", Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), Template: *template}}
	api := fake.NewClientBuilder().WithScheme(serviceScheme(t)).WithIndex(&appsv1.ReplicaSet{}, rsOwnerIndex, indexRSOwner).
		WithObjects(ro, existing).Build()
	// the cache: every write goes to the API server, lists do not show the ReplicaSet yet
	stale := interceptor.NewClient(api, interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		if _, ok := list.(*appsv1.ReplicaSetList); ok {
			return nil
		}
		return c.List(ctx, list, opts...)
	}})
	rec := record.NewFakeRecorder(10)
	r := &Reconciler{Client: stale, APIReader: api, Recorder: rec}
	stored := &v1alpha1.Rollout{}
	if err := api.Get(context.Background(), client.ObjectKeyFromObject(ro), stored); err != nil {
		t.Fatal(err)
	}
	s := &syncState{ro: stored, orig: stored.DeepCopy(), template: template, selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "app"}}}
	if _, err := r.ensureNewReplicaSet(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if s.newRS == nil || s.newRS.Name != existing.Name || s.created {
		t.Errorf("new ReplicaSet %v, created %v: want %s, not created by this reconcile", s.newRS, s.created, existing.Name)
	}
	close(rec.Events)
	for e := range rec.Events {
		if strings.Contains(e, "NewReplicaSetCreated") {
			t.Errorf("announced again: %s", e)
		}
	}
}
