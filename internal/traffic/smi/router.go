// Package smi routes canary traffic with an SMI TrafficSplit (split.smi-spec.io): the router
// creates and owns a TrafficSplit for the root Service whose backends are the canary and the
// stable Service (and the additional destinations) with their weights.
//
// The object is read as unstructured data (only its CRD is needed); its spec is decoded into
// the small views below, edited there and encoded back into the object as read, so members
// the router does not write (spec.matches, a backend's other members) are kept as they were.
package smi

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// splitSpec is the spec of a TrafficSplit, as far as the router writes it.
type splitSpec struct {
	Service  string        `json:"service,omitzero"`
	Backends []backend     `json:"backends,omitzero"`
	Fields   common.Fields `json:"-"`
}

// backend is one of a TrafficSplit's backends; Weight is a quantity ("20") in v1alpha1, an
// integer later.
type backend struct {
	Service string          `json:"service,omitzero"`
	Weight  json.RawMessage `json:"weight,omitzero"`
	Fields  common.Fields   `json:"-"`
}

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

// get reads the Rollout's TrafficSplit and its spec: nil when there is none, an error when it
// belongs to something else or is malformed.
func (r *Router) get(ctx context.Context, ro *v1alpha1.Rollout) (*unstructured.Unstructured, *splitSpec, error) {
	name := Name(ro)
	u, found, err := common.Get(ctx, r.c, r.gvk(), ro.Namespace, name, smiPath+".trafficSplitName", "the SMI CRDs")
	switch {
	case err != nil || !found:
		return nil, nil, err
	case !common.ControlledBy(u, ro):
		return nil, nil, common.Conflictf("TrafficSplit", ro.Namespace, name, "exists and is not controlled by Rollout %q", ro.Name)
	}
	spec := &splitSpec{}
	if err := common.ReadMember("TrafficSplit", u, "spec", spec); err != nil {
		return nil, nil, err
	}
	return u, spec, nil
}

func (r *Router) weightValue(w int32) json.RawMessage {
	if r.version == "v1alpha1" {
		return json.RawMessage(strconv.Quote(strconv.Itoa(int(w))))
	}
	return json.RawMessage(strconv.Itoa(int(w)))
}

// readWeight reads a backend's weight: an integer, or a quantity string of one.
func readWeight(raw json.RawMessage) (int64, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		i, err := strconv.ParseInt(s, 10, 64)
		return i, err == nil
	}
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return int64(f), true
	}
	return 0, false
}

// wantBackends lists the services of the backends and their weights: the canary, the stable,
// then the additional destinations.
func wantBackends(ro *v1alpha1.Rollout, w common.Weights) []v1alpha1.WeightDestination {
	c := ro.Spec.Strategy.Canary
	return append([]v1alpha1.WeightDestination{{ServiceName: c.CanaryService, Weight: w.Canary}, {ServiceName: c.StableService, Weight: w.Stable}},
		w.Additional...)
}

// backends returns the backends with the weights, each keeping what the backend of its
// service in have carries besides; backends of other services are dropped.
func (r *Router) backends(ro *v1alpha1.Rollout, w common.Weights, have []backend) []backend {
	var out []backend
	for _, want := range wantBackends(ro, w) {
		b := backend{Service: want.ServiceName}
		for _, h := range have {
			if h.Service == want.ServiceName {
				b = h
				break
			}
		}
		b.Weight = r.weightValue(want.Weight)
		out = append(out, b)
	}
	return out
}

// SetWeight creates or updates the TrafficSplit.
func (r *Router) SetWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, additional []v1alpha1.WeightDestination) error {
	if _, _, err := common.Canary(ro); err != nil {
		return err
	}
	cur, spec, err := r.get(ctx, ro)
	if err != nil {
		return err
	}
	w := common.Split(ro, weight, additional)
	if cur == nil {
		return r.create(ctx, ro, &splitSpec{Service: rootService(ro), Backends: r.backends(ro, w, nil)})
	}
	spec.Service, spec.Backends = rootService(ro), r.backends(ro, w, spec.Backends)
	obj := cur.DeepCopy()
	if err := common.WriteMember(obj, "spec", spec); err != nil {
		return err
	}
	return common.Patch(ctx, r.c, cur, obj)
}

// create creates the Rollout's TrafficSplit with spec, owned by the Rollout.
func (r *Router) create(ctx context.Context, ro *v1alpha1.Rollout, spec *splitSpec) error {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
	u.SetGroupVersionKind(r.gvk())
	u.SetNamespace(ro.Namespace)
	u.SetName(Name(ro))
	u.SetOwnerReferences([]metav1.OwnerReference{common.OwnerReference(ro)})
	if err := common.WriteMember(u, "spec", spec); err != nil {
		return err
	}
	if err := r.c.Create(ctx, u); err != nil {
		if apierrors.IsInvalid(err) {
			return common.Invalidf("TrafficSplit", ro.Namespace, Name(ro), "spec", "the API server refused it: %v", err)
		}
		return fmt.Errorf("creating TrafficSplit %s/%s: %w", ro.Namespace, Name(ro), err)
	}
	return nil
}

// VerifyWeight reports whether the TrafficSplit exists with the weights, and no other backend.
func (r *Router) VerifyWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, additional []v1alpha1.WeightDestination) (bool, error) {
	cur, spec, err := r.get(ctx, ro)
	if err != nil || cur == nil {
		return false, err
	}
	want := map[string]int64{}
	for _, b := range wantBackends(ro, common.Split(ro, weight, additional)) {
		want[b.ServiceName] = int64(b.Weight)
	}
	if len(spec.Backends) != len(want) {
		return false, nil
	}
	for _, b := range spec.Backends {
		got, ok := readWeight(b.Weight)
		if wt, known := want[b.Service]; !known || !ok || got != wt {
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
