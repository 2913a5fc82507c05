package metrics

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/vanedev/vane/api/v1alpha1"
)

// TestExistsReadsTheStore: once Start has the informers' stores, whether a reconciled object
// still exists (and is this instance's) is read from the store, without the cache's copy.
func TestExistsReadsTheStore(t *testing.T) {
	store := toolscache.NewStore(toolscache.MetaNamespaceKeyFunc)
	mine := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "mine"}}
	other := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "other",
		Labels: map[string]string{v1alpha1.InstanceIDLabel: "blue"}}}
	for _, o := range []*v1alpha1.Rollout{mine, other} {
		if err := store.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	in := newInstance(nil, "", time.Now) // no reader: a Get would panic
	in.stores = map[string]toolscache.Store{"rollout": store}
	tests := map[string]struct {
		name string
		want bool
	}{
		"in the store, this instance's":    {"mine", true},
		"in the store, another instance's": {"other", false},
		"not in the store":                 {"gone", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			key := types.NamespacedName{Namespace: "shop", Name: tc.name}
			if got := in.exists(context.Background(), "rollout", kinds["rollout"], key); got != tc.want {
				t.Errorf("exists(%s) = %v, want %v", key, got, tc.want)
			}
		})
	}
}
