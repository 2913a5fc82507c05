// Package istio routes canary traffic with Istio VirtualServices: host-level splitting (the
// route destinations are the canary and stable Services) or subset-level splitting (one host,
// the destinations are the canary and stable subsets of a DestinationRule whose subsets the
// router points at the pod-template hashes). It edits HTTP, TLS and TCP routes, and adds the
// managed HTTP routes of setHeaderRoute and setMirrorRoute steps at the top of the route list.
//
// The objects are read as unstructured data (only their CRDs are needed); their specs are
// decoded into the small views of views.go, edited there, and encoded back into the object as
// read, so every member the router does not edit is written back as it was.
package istio

import (
	"context"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// Type is the router's name in conditions and events.
const Type = "Istio"

// DefaultAPIVersion is the version of networking.istio.io the router reads and writes (Argo
// Rollouts' default).
const DefaultAPIVersion = "v1alpha3"

// Group is Istio's networking API group.
const Group = "networking.istio.io"

const crds = "Istio's CRDs"

// Router edits VirtualServices and a DestinationRule.
type Router struct {
	c       client.Client
	version string
}

// New checks the Rollout's istio settings and returns a router writing through c with
// networking.istio.io/version ("" for DefaultAPIVersion).
func New(ro *v1alpha1.Rollout, c client.Client, version string) (*Router, error) {
	if _, err := virtualServices(ro); err != nil {
		return nil, err
	}
	if version == "" {
		version = DefaultAPIVersion
	}
	return &Router{c: c, version: version}, nil
}

// Type returns "Istio".
func (r *Router) Type() string { return Type }

func (r *Router) gvk(kind string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: Group, Version: r.version, Kind: kind}
}

// loadedVS is a VirtualService as read and its spec, being edited.
type loadedVS struct {
	ref  vsRef
	orig *unstructured.Unstructured
	spec vsSpec
}

func (l *loadedVS) invalid(field, format string, args ...any) error {
	return common.Invalidf("VirtualService", l.orig.GetNamespace(), l.orig.GetName(), field, format, args...)
}

// loadAll reads every VirtualService the Rollout names; a missing or malformed one is an
// error, before anything is changed.
func (r *Router) loadAll(ctx context.Context, ro *v1alpha1.Rollout) ([]*loadedVS, error) {
	refs, err := virtualServices(ro)
	if err != nil {
		return nil, err
	}
	var out []*loadedVS
	for _, ref := range refs {
		u, err := common.GetExisting(ctx, r.c, r.gvk("VirtualService"), ref.ns, ref.name, ref.field, crds)
		if err != nil {
			return nil, err
		}
		l := &loadedVS{ref: ref, orig: u}
		if err := common.ReadMember("VirtualService", u, "spec", &l.spec); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// save writes spec into a copy of orig and patches what changed.
func (r *Router) save(ctx context.Context, orig *unstructured.Unstructured, spec any) error {
	obj := orig.DeepCopy()
	if err := common.WriteMember(obj, "spec", spec); err != nil {
		return err
	}
	return common.Patch(ctx, r.c, orig, obj)
}

func (r *Router) saveAll(ctx context.Context, ls []*loadedVS) error {
	for _, l := range ls {
		if err := r.save(ctx, l.orig, l.spec); err != nil {
			return err
		}
	}
	return nil
}

// SetWeight sets the weights of the named routes of every VirtualService, and of the managed
// mirror routes (they route as the weighted route does).
func (r *Router) SetWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, additional []v1alpha1.WeightDestination) error {
	_, tr, err := common.Canary(ro)
	if err != nil {
		return err
	}
	ls, err := r.loadAll(ctx, ro)
	if err != nil {
		return err
	}
	rl, w := rolesOf(ro), common.Split(ro, weight, additional)
	for _, l := range ls {
		ts, err := targets(l, tr)
		if err != nil {
			return err
		}
		for _, t := range ts {
			ds := l.spec.route(t)
			if err := rl.check(l, *ds, t.field()); err != nil {
				return err
			}
			*ds = rl.weigh(*ds, w)
		}
		for i := range l.spec.HTTP {
			if h := &l.spec.HTTP[i]; isManaged(tr, h.Name) && h.Mirror != nil {
				h.Route = rl.weigh(h.Route, w)
			}
		}
	}
	return r.saveAll(ctx, ls)
}

// VerifyWeight reports whether the named routes of every VirtualService carry the weights.
func (r *Router) VerifyWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, additional []v1alpha1.WeightDestination) (bool, error) {
	_, tr, err := common.Canary(ro)
	if err != nil {
		return false, err
	}
	ls, err := r.loadAll(ctx, ro)
	if err != nil {
		return false, err
	}
	rl, w := rolesOf(ro), common.Split(ro, weight, additional)
	for _, l := range ls {
		ts, err := targets(l, tr)
		if err != nil {
			return false, err
		}
		for _, t := range ts {
			ds := *l.spec.route(t)
			if err := rl.check(l, ds, t.field()); err != nil {
				return false, err
			}
			if !rl.weighs(ds, w) {
				return false, nil
			}
		}
	}
	return true, nil
}

// UpdateHash points the DestinationRule's canary and stable subsets at the pods of the hashes
// (an empty hash takes the label off, so that the subset selects every pod of the Service).
func (r *Router) UpdateHash(ctx context.Context, ro *v1alpha1.Rollout, canaryHash, stableHash string, _ []v1alpha1.WeightDestination) error {
	_, tr, err := common.Canary(ro)
	if err != nil {
		return err
	}
	dr := tr.Istio.DestinationRule
	if dr == nil {
		return nil
	}
	name, ns := splitName(dr.Name, ro.Namespace)
	orig, err := common.GetExisting(ctx, r.c, r.gvk("DestinationRule"), ns, name, istioPath+".destinationRule.name", crds)
	if err != nil {
		return err
	}
	var spec drSpec
	if err := common.ReadMember("DestinationRule", orig, "spec", &spec); err != nil {
		return err
	}
	for _, want := range []struct{ name, hash, field string }{
		{dr.CanarySubsetName, canaryHash, "canarySubsetName"}, {dr.StableSubsetName, stableHash, "stableSubsetName"}} {
		i := slices.IndexFunc(spec.Subsets, func(s subset) bool { return s.Name == want.name })
		if i < 0 {
			return common.Invalidf("DestinationRule", ns, name, "spec.subsets",
				"has no subset named %q (the Rollout's destinationRule.%s)", want.name, want.field)
		}
		sub := &spec.Subsets[i]
		if want.hash == "" {
			delete(sub.Labels, v1alpha1.PodTemplateHashLabel)
			continue
		}
		if sub.Labels == nil {
			sub.Labels = map[string]string{}
		}
		sub.Labels[v1alpha1.PodTemplateHashLabel] = want.hash
	}
	return r.save(ctx, orig, spec)
}

// RemoveManagedRoutes removes every managed HTTP route from every VirtualService.
func (r *Router) RemoveManagedRoutes(ctx context.Context, ro *v1alpha1.Rollout) error {
	_, tr, err := common.Canary(ro)
	if err != nil {
		return err
	}
	ls, err := r.loadAll(ctx, ro)
	if err != nil {
		return err
	}
	for _, l := range ls {
		if l.spec.HTTP = slices.DeleteFunc(l.spec.HTTP, func(h httpRoute) bool { return isManaged(tr, h.Name) }); len(l.spec.HTTP) == 0 {
			l.spec.HTTP = nil
		}
	}
	return r.saveAll(ctx, ls)
}
