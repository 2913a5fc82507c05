package controller

import (
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	jobprovider "github.com/vanedev/vane/internal/analysis/provider/job"
)

// TestCacheOptions checks what the cache keeps of each object: its selector per kind, and the
// object without its managedFields.
func TestCacheOptions(t *testing.T) {
	opts, err := cacheOptions()
	if err != nil {
		t.Fatal(err)
	}
	selectorOf := func(o client.Object) labels.Selector {
		for k, v := range opts.ByObject {
			if reflect.TypeOf(k) == reflect.TypeOf(o) {
				return v.Label
			}
		}
		return labels.Everything()
	}
	managed := []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
	tests := map[string]struct {
		obj        client.Object
		wantCached bool
	}{
		"a Rollout's ReplicaSet": {obj: &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs",
			Labels: map[string]string{v1alpha1.PodTemplateHashLabel: "abc"}, ManagedFields: managed}}, wantCached: true},
		"a Deployment's ReplicaSet": {obj: &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs",
			Labels: map[string]string{"pod-template-hash": "abc"}, ManagedFields: managed}}},
		"an AnalysisRun's Job": {obj: &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "job",
			Labels: map[string]string{jobprovider.RunUIDLabel: "uid"}, ManagedFields: managed}}, wantCached: true},
		"a CronJob's Job": {obj: &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "job",
			Labels: map[string]string{"batch.kubernetes.io/controller-uid": "uid"}, ManagedFields: managed}}},
		"a Rollout": {obj: &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "ro", ManagedFields: managed}}, wantCached: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cached := selectorOf(tc.obj).Matches(labels.Set(tc.obj.GetLabels()))
			if cached != tc.wantCached {
				t.Fatalf("cached: %t, want %t", cached, tc.wantCached)
			}
			out, err := opts.DefaultTransform(tc.obj.DeepCopyObject())
			if err != nil {
				t.Fatal(err)
			}
			got := out.(client.Object)
			if d := cmp.Diff([]metav1.ManagedFieldsEntry(nil), got.GetManagedFields()); d != "" {
				t.Errorf("managedFields kept (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.obj.GetLabels(), got.GetLabels()); d != "" {
				t.Errorf("labels changed (-want +got):\n%s", d)
			}
		})
	}
}
