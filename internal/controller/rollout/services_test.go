package rollout

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vanedev/vane/api/v1alpha1"
)

func serviceScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return scheme
}

func service(name string, selector map[string]string, managedBy string) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.ServiceSpec{Selector: selector}}
	if managedBy != "" {
		svc.Annotations = map[string]string{v1alpha1.ManagedByRolloutsAnnotation: managedBy}
	}
	return svc
}

// TestCheckServicesMessages: a Service the strategy names that is missing, or managed by
// another rollout, is InvalidSpec with Argo's texts (rollout/controller.go
// getReferencedService: field.Invalid with the lister's NotFound error; validation
// ValidateService: conditions.ServiceReferencingManagedService), checked in Argo's order.
func TestCheckServicesMessages(t *testing.T) {
	canary := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns"}, Spec: v1alpha1.RolloutSpec{
		Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{CanaryService: "canary", StableService: "stable"}}}}
	bg := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns"}, Spec: v1alpha1.RolloutSpec{
		Strategy: v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: "active", PreviewService: "preview"}}}}
	first := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "first", Namespace: "ns"}}
	tests := map[string]struct {
		rollout *v1alpha1.Rollout
		objs    []client.Object
		want    string
	}{
		"both canary Services missing: the stable one first": {
			rollout: canary,
			want:    `spec.strategy.canary.stableService: Invalid value: "stable": service "stable" not found`,
		},
		"canary Service missing": {
			rollout: canary, objs: []client.Object{service("stable", nil, "")},
			want: `spec.strategy.canary.canaryService: Invalid value: "canary": service "canary" not found`,
		},
		"preview Service missing": {
			rollout: bg, objs: []client.Object{service("active", nil, "")},
			want: `spec.strategy.blueGreen.previewService: Invalid value: "preview": service "preview" not found`,
		},
		"active Service managed by another rollout": {
			rollout: bg, objs: []client.Object{first, service("active", nil, "first"), service("preview", nil, "")},
			want: `spec.strategy.blueGreen.activeService: Invalid value: "active": Service "active" is managed by another Rollout`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(serviceScheme(t)).WithIndex(&corev1.Service{}, managedServiceIndex, indexManagedService).WithObjects(tc.objs...).Build()
			r := &Reconciler{Client: c}
			_, err := r.checkServices(context.Background(), tc.rollout)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestSwitchServiceEvents: each Service the rollout points at a hash gets Argo's SwitchService
// event (rollout/service.go switchServiceSelector), the first takeover included; a Service
// already where it should be gets none.
func TestSwitchServiceEvents(t *testing.T) {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns"}}
	tests := map[string]struct {
		svc  *corev1.Service
		want []string
	}{
		"first takeover": {svc: service("active", map[string]string{"app": "app"}, ""),
			want: []string{"Normal SwitchService Switched selector for service 'active' from '' to 'h2'"}},
		"switch": {svc: service("active", map[string]string{"app": "app", v1alpha1.PodTemplateHashLabel: "h1"}, "app"),
			want: []string{"Normal SwitchService Switched selector for service 'active' from 'h1' to 'h2'"}},
		"managed, same selector": {svc: service("active", map[string]string{"app": "app", v1alpha1.PodTemplateHashLabel: "h2"}, "app")},
		"same selector, not managed yet": {svc: service("active", map[string]string{"app": "app", v1alpha1.PodTemplateHashLabel: "h2"}, ""),
			want: []string{"Normal SwitchService Switched selector for service 'active' from 'h2' to 'h2'"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rec := record.NewFakeRecorder(10)
			c := fake.NewClientBuilder().WithScheme(serviceScheme(t)).WithIndex(&corev1.Service{}, managedServiceIndex, indexManagedService).WithObjects(tc.svc).Build()
			r := &Reconciler{Client: c, Recorder: rec}
			if _, err := r.syncServices(context.Background(), ro, map[string]string{"active": "h2"}); err != nil {
				t.Fatal(err)
			}
			close(rec.Events)
			var got []string
			for e := range rec.Events {
				got = append(got, e)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestSyncServicesReleases: the Services a rollout managed and no longer names are released
// (hash selector and managed-by annotation removed), found through the managed-by index; a
// Service another rollout manages and one nobody names are left as they are.
func TestSyncServicesReleases(t *testing.T) {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns"}}
	hashed := func(h string) map[string]string {
		return map[string]string{"app": "app", v1alpha1.PodTemplateHashLabel: h}
	}
	c := fake.NewClientBuilder().WithScheme(serviceScheme(t)).WithIndex(&corev1.Service{}, managedServiceIndex, indexManagedService).
		WithObjects(service("active", map[string]string{"app": "app"}, ""), service("old", hashed("h1"), "app"),
			service("theirs", hashed("h9"), "other"), service("plain", map[string]string{"app": "app"}, "")).Build()
	r := &Reconciler{Client: c, Recorder: record.NewFakeRecorder(10)}
	switched, err := r.syncServices(context.Background(), ro, map[string]string{"active": "h2", "missing": "h2"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]serviceSwitch{{"active", "", "h2"}}, switched, cmp.AllowUnexported(serviceSwitch{})); diff != "" {
		t.Errorf("switched (-want +got):\n%s", diff)
	}
	want := map[string]struct {
		selector map[string]string
		managed  string
	}{
		"active": {hashed("h2"), "app"},
		"old":    {map[string]string{"app": "app"}, ""},
		"theirs": {hashed("h9"), "other"},
		"plain":  {map[string]string{"app": "app"}, ""},
	}
	for name, w := range want {
		var svc corev1.Service
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: name}, &svc); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(w.selector, svc.Spec.Selector); diff != "" {
			t.Errorf("%s selector (-want +got):\n%s", name, diff)
		}
		if got := svc.Annotations[v1alpha1.ManagedByRolloutsAnnotation]; got != w.managed {
			t.Errorf("%s managed by %q, want %q", name, got, w.managed)
		}
	}
}
