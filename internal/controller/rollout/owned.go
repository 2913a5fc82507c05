package rollout

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// ownedSet is the objects of one kind a rollout controls (its AnalysisRuns, its Experiments),
// from the cache, by name.
type ownedSet[T client.Object] struct {
	owned  []T
	byName map[string]T
}

// runSet is the rollout's AnalysisRuns; expSet its Experiments (canary).
type (
	runSet = ownedSet[*v1alpha1.AnalysisRun]
	expSet = ownedSet[*v1alpha1.Experiment]
)

// add keeps o when the rollout controls it.
func (s *ownedSet[T]) add(ro *v1alpha1.Rollout, o T) {
	if metav1.IsControlledBy(o, ro) {
		s.owned = append(s.owned, o)
		s.byName[o.GetName()] = o
	}
}

// listOwned lists, through the owner index, the objects of list's kind the rollout controls;
// items returns the list's elements (what names them in errors).
func listOwned[T client.Object](ctx context.Context, c client.Reader, ro *v1alpha1.Rollout, list client.ObjectList,
	items func() []T, what string) (*ownedSet[T], error) {
	if err := c.List(ctx, list, client.InNamespace(ro.Namespace), client.MatchingFields{ownerIndex: ro.Name}); err != nil {
		return nil, fmt.Errorf("listing the rollout's %s: %w", what, err)
	}
	s := &ownedSet[T]{byName: map[string]T{}}
	for _, o := range items() {
		s.add(ro, o)
	}
	return s, nil
}
