package common

import (
	"context"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Get reads the object gvk ns/name as unstructured data; found is false when it does not
// exist. An API the server does not serve is a NotFound Error naming field (the Rollout field
// naming the object) whose message says to install crds.
func Get(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, ns, name, field, crds string) (obj *unstructured.Unstructured, found bool, err error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	err = c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u)
	switch {
	case apierrors.IsNotFound(err):
		return nil, false, nil
	case meta.IsNoMatchError(err):
		e := Missing(gvk.Kind, ns, name, field)
		e.Message = fmt.Sprintf("the API server does not serve %s %s: install %s", gvk.GroupVersion(), gvk.Kind, crds)
		return nil, false, e
	case err != nil:
		return nil, false, fmt.Errorf("reading %s %s/%s: %w", gvk.Kind, ns, name, err)
	}
	return u, true, nil
}

// GetExisting is Get for an object that must exist: a missing one is a NotFound Error naming
// field.
func GetExisting(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, ns, name, field, crds string) (*unstructured.Unstructured, error) {
	u, found, err := Get(ctx, c, gvk, ns, name, field, crds)
	if err == nil && !found {
		err = Missing(gvk.Kind, ns, name, field)
	}
	return u, err
}

// Patch writes what changed from orig to obj as a merge patch with an optimistic lock, and
// nothing when nothing changed. A change the API server refuses is an Invalid Error on spec.
func Patch(ctx context.Context, c client.Client, orig, obj *unstructured.Unstructured) error {
	if apiequality.Semantic.DeepEqual(orig.Object, obj.Object) {
		return nil
	}
	if err := c.Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsInvalid(err) {
			return Invalidf(obj.GetKind(), obj.GetNamespace(), obj.GetName(), "spec", "the API server refused the change: %v", err)
		}
		return fmt.Errorf("updating %s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}
