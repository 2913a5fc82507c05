// Package smi routes canary traffic with an SMI TrafficSplit (split.smi-spec.io): the router
// creates and owns a TrafficSplit for the root Service whose backends are the canary and the
// stable Service (and the additional destinations) with their weights. The object is handled
// as unstructured data: only its CRD is needed.
package smi

import (
	"context"
	"fmt"
	"strconv"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// Type is the router's name in conditions and events.
const Type = "SMI"

// Group is the SMI traffic split API group.
const Group = "split.smi-spec.io"

// DefaultAPIVersion is the TrafficSplit version the router writes (Argo Rollouts' default).
// In v1alpha1 a backend's weight is a quantity (written as a string); later versions use an
// integer.
const DefaultAPIVersion = "v1alpha1"

var smiPath = common.TrafficRoutingPath + ".smi"

// Router keeps a TrafficSplit.
type Router struct {
	c       client.Client
	version string
}

// New returns a router writing TrafficSplits of split.smi-spec.io/version ("" for
// DefaultAPIVersion) through c.
func New(ro *v1alpha1.Rollout, c client.Client, version string) (*Router, error) {
	if _, tr, err := common.Canary(ro); err != nil {
		return nil, err
	} else if tr.SMI == nil {
		return nil, common.RolloutInvalidf(ro, smiPath, "not set")
	}
	if version == "" {
		version = DefaultAPIVersion
	}
	return &Router{c: c, version: version}, nil
}

// Type returns "SMI".
func (r *Router) Type() string { return Type }

// Name is the TrafficSplit of the Rollout: trafficSplitName, or the Rollout's name.
func Name(ro *v1alpha1.Rollout) string {
	if s := ro.Spec.Strategy.Canary.TrafficRouting.SMI; s.TrafficSplitName != "" {
		return s.TrafficSplitName
	}
	return ro.Name
}

// rootService is the Service clients call: rootService, or the stable Service.
func rootService(ro *v1alpha1.Rollout) string {
	if s := ro.Spec.Strategy.Canary.TrafficRouting.SMI; s.RootService != "" {
		return s.RootService
	}
	return ro.Spec.Strategy.Canary.StableService
}

func (r *Router) gvk() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: Group, Version: r.version, Kind: "TrafficSplit"}
}

// get reads the Rollout's TrafficSplit: nil when there is none, an error when it belongs to
// something else.
func (r *Router) get(ctx context.Context, ro *v1alpha1.Rollout) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(r.gvk())
	name := Name(ro)
	err := r.c.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: name}, u)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case meta.IsNoMatchError(err):
		e := common.Missing("TrafficSplit", ro.Namespace, name, smiPath+".trafficSplitName")
		e.Message = fmt.Sprintf("the API server does not serve %s TrafficSplit: install the SMI CRDs", r.gvk().GroupVersion())
		return nil, e
	case err != nil:
		return nil, fmt.Errorf("reading TrafficSplit %s/%s: %w", ro.Namespace, name, err)
	case !common.ControlledBy(u, ro):
		return nil, common.Conflictf("TrafficSplit", ro.Namespace, name, "exists and is not controlled by Rollout %q", ro.Name)
	}
	return u, nil
}

func (r *Router) weightValue(w int32) any {
	if r.version == "v1alpha1" {
		return strconv.Itoa(int(w))
	}
	return int64(w)
}

func readWeight(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case float64:
		return int64(n), true
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		return i, err == nil
	}
	return 0, false
}

func (r *Router) backends(ro *v1alpha1.Rollout, w common.Weights) []any {
	c := ro.Spec.Strategy.Canary
	out := []any{
		map[string]any{"service": c.CanaryService, "weight": r.weightValue(w.Canary)},
		map[string]any{"service": c.StableService, "weight": r.weightValue(w.Stable)},
	}
	for _, a := range w.Additional {
		out = append(out, map[string]any{"service": a.ServiceName, "weight": r.weightValue(a.Weight)})
	}
	return out
}

// SetWeight creates or updates the TrafficSplit.
func (r *Router) SetWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, additional []v1alpha1.WeightDestination) error {
	if _, _, err := common.Canary(ro); err != nil {
		return err
	}
	cur, err := r.get(ctx, ro)
	if err != nil {
		return err
	}
	w := common.Split(ro, weight, additional)
	spec := map[string]any{"service": rootService(ro), "backends": r.backends(ro, w)}
	if cur == nil {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(r.gvk())
		u.SetNamespace(ro.Namespace)
		u.SetName(Name(ro))
		u.SetOwnerReferences([]metav1.OwnerReference{common.OwnerReference(ro)})
		u.Object["spec"] = spec
		if err := r.c.Create(ctx, u); err != nil {
			if apierrors.IsInvalid(err) {
				return common.Invalidf("TrafficSplit", ro.Namespace, Name(ro), "spec", "the API server refused it: %v", err)
			}
			return fmt.Errorf("creating TrafficSplit %s/%s: %w", ro.Namespace, Name(ro), err)
		}
		return nil
	}
	obj := cur.DeepCopy()
	obj.Object["spec"] = spec
	if apiequality.Semantic.DeepEqual(cur.Object, obj.Object) {
		return nil
	}
	if err := r.c.Patch(ctx, obj, client.MergeFromWithOptions(cur, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsInvalid(err) {
			return common.Invalidf("TrafficSplit", ro.Namespace, Name(ro), "spec", "the API server refused the change: %v", err)
		}
		return fmt.Errorf("updating TrafficSplit %s/%s: %w", ro.Namespace, Name(ro), err)
	}
	return nil
}

// VerifyWeight reports whether the TrafficSplit exists with the weights.
func (r *Router) VerifyWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, additional []v1alpha1.WeightDestination) (bool, error) {
	cur, err := r.get(ctx, ro)
	if err != nil || cur == nil {
		return false, err
	}
	w := common.Split(ro, weight, additional)
	want := map[string]int64{ro.Spec.Strategy.Canary.CanaryService: int64(w.Canary), ro.Spec.Strategy.Canary.StableService: int64(w.Stable)}
	for _, a := range w.Additional {
		want[a.ServiceName] = int64(a.Weight)
	}
	backends, _, _ := unstructured.NestedSlice(cur.Object, "spec", "backends")
	if len(backends) != len(want) {
		return false, nil
	}
	for _, b := range backends {
		m, _ := b.(map[string]any)
		svc, _ := m["service"].(string)
		got, ok := readWeight(m["weight"])
		if wt, known := want[svc]; !known || !ok || got != wt {
			return false, nil
		}
	}
	return true, nil
}

// UpdateHash has nothing to do: the Services carry the hashes.
func (r *Router) UpdateHash(context.Context, *v1alpha1.Rollout, string, string, []v1alpha1.WeightDestination) error {
	return nil
}

// SetHeaderRoute is not part of a TrafficSplit.
func (r *Router) SetHeaderRoute(_ context.Context, ro *v1alpha1.Rollout, hr *v1alpha1.SetHeaderRoute) error {
	if hr == nil {
		return nil
	}
	return common.Unsupportedf(ro, "spec.strategy.canary.steps[].setHeaderRoute", "an SMI TrafficSplit cannot route by header")
}

// SetMirrorRoute is not part of a TrafficSplit.
func (r *Router) SetMirrorRoute(_ context.Context, ro *v1alpha1.Rollout, mr *v1alpha1.SetMirrorRoute) error {
	if mr == nil {
		return nil
	}
	return common.Unsupportedf(ro, "spec.strategy.canary.steps[].setMirrorRoute", "an SMI TrafficSplit cannot mirror traffic")
}

// RemoveManagedRoutes has nothing to remove: a TrafficSplit has no managed routes.
func (r *Router) RemoveManagedRoutes(context.Context, *v1alpha1.Rollout) error { return nil }
