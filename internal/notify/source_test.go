package notify

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/vanedev/vane/api/v1alpha1"
)

// TestMayNotify: a rollout is queued when it carries a subscription annotation (with or without
// a trigger), or when a configuration subscribes rollouts globally, or while the ConfigMaps are
// not read yet; otherwise its events and changes are not queued.
func TestMayNotify(t *testing.T) {
	plain := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "shop"}}
	annotated := plain.DeepCopy()
	annotated.Annotations = map[string]string{"notifications.argoproj.io/subscribe.slack": "ops"}
	tests := map[string]struct {
		data     map[string]string // the ConfigMap's; nil: none
		started  bool
		plain    bool
		annotate bool
	}{
		"not read yet":               {data: nil, started: false, plain: true, annotate: true},
		"no ConfigMap":               {data: nil, started: true, plain: false, annotate: true},
		"services only":              {data: map[string]string{"service.slack": "token: x"}, started: true, plain: false, annotate: true},
		"global subscriptions":       {data: map[string]string{"subscriptions": "- recipients: [slack:ops]\n"}, started: true, plain: true, annotate: true},
		"empty global subscriptions": {data: map[string]string{"subscriptions": " \n"}, started: true, plain: false, annotate: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			kube := fake.NewClientset()
			if tc.data != nil {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: "vane-system"}, Data: tc.data}
				if _, err := kube.CoreV1().ConfigMaps("vane-system").Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			n := New(Options{Namespace: "vane-system"})
			n.source = newSource(kube, "vane-system", false, nil)
			if tc.started {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if err := n.source.run(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if got := n.mayNotify(plain); got != tc.plain {
				t.Errorf("a rollout without annotations: %v, want %v", got, tc.plain)
			}
			if got := n.mayNotify(annotated); got != tc.annotate {
				t.Errorf("a rollout with a subscription annotation: %v, want %v", got, tc.annotate)
			}
		})
	}
}
