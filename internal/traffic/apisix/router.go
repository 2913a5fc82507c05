// Package apisix routes canary traffic with Apache APISIX, as Argo Rollouts' APISIX router
// does: it sets the weights of the canary and the stable backend in the rules of the
// ApisixRoute (apisix.apache.org/v2) the Rollout names (trafficRouting.apisix.route: the rules
// listed in rules, or the rule named after the route), and for a setHeaderRoute step keeps an
// ApisixRoute named after the managed route, a copy of the Rollout's whose rules send requests
// with the step's headers to the canary Service alone.
//
// ApisixRoutes are read as unstructured data (only APISIX's CRDs are needed); their spec is
// decoded into the views of views.go, edited there and encoded back into the object as read,
// so members the router does not edit (plugins, timeouts, a backend's port) are kept as they
// were.
package apisix

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// Type is the router's name in conditions and events.
const Type = "Apisix"

// APIVersion is the ApisixRoute version the router edits, Argo Rollouts'.
const APIVersion = "apisix.apache.org/v2"

const (
	kind = "ApisixRoute"
	crds = "APISIX's CRDs (apisixroutes.apisix.apache.org v2)"
)

var (
	gvk        = schema.FromAPIVersionAndKind(APIVersion, kind)
	apisixPath = common.TrafficRoutingPath + ".apisix"
)

// Router edits ApisixRoutes.
type Router struct {
	c client.Client
}

// New checks the Rollout's apisix settings and returns a router writing through c.
func New(ro *v1alpha1.Rollout, c client.Client) (*Router, error) {
	_, tr, err := common.Canary(ro)
	if err != nil {
		return nil, err
	}
	a := tr.Apisix
	switch {
	case a == nil:
		return nil, common.RolloutInvalidf(ro, apisixPath, "not set")
	case a.Route == nil || a.Route.Name == "":
		return nil, common.RolloutInvalidf(ro, apisixPath+".route.name", "name the ApisixRoute")
	}
	seen := map[string]bool{}
	for i, name := range a.Route.Rules {
		field := fmt.Sprintf("%s.route.rules[%d]", apisixPath, i)
		switch {
		case name == "":
			return nil, common.RolloutInvalidf(ro, field, "name the rule")
		case seen[name]:
			return nil, common.RolloutInvalidf(ro, field, "rule %q is listed twice", name)
		}
		seen[name] = true
	}
	return &Router{c: c}, nil
}

// Type returns "Apisix".
func (r *Router) Type() string { return Type }

// ruleNames are the rules of the ApisixRoute the router edits: route.rules, or the one named
// after the route.
func ruleNames(ro *v1alpha1.Rollout) []string {
	rt := ro.Spec.Strategy.Canary.TrafficRouting.Apisix.Route
	if len(rt.Rules) > 0 {
		return rt.Rules
	}
	return []string{rt.Name}
}

// loaded is the Rollout's ApisixRoute as read, the copy being changed, its spec, and where the
// configured rules and their canary and stable backends are.
type loaded struct {
	orig, obj *unstructured.Unstructured
	spec      routeSpec
	rules     []ruleRef
}

// ruleRef is a configured rule: its position in spec.http and those of its backends.
type ruleRef struct {
	index, canary, stable int
}

// load reads the Rollout's ApisixRoute and finds every configured rule and its canary and
// stable backends; any of them missing is an Invalid Error.
func (r *Router) load(ctx context.Context, ro *v1alpha1.Rollout) (*loaded, error) {
	name := ro.Spec.Strategy.Canary.TrafficRouting.Apisix.Route.Name
	u, err := common.GetExisting(ctx, r.c, gvk, ro.Namespace, name, apisixPath+".route.name", crds)
	if err != nil {
		return nil, err
	}
	l := &loaded{orig: u, obj: u.DeepCopy()}
	if err := common.ReadMember(kind, u, "spec", &l.spec); err != nil {
		return nil, err
	}
	c := ro.Spec.Strategy.Canary
	for _, rn := range ruleNames(ro) {
		ref := ruleRef{index: -1}
		for i := range l.spec.HTTP {
			if l.spec.HTTP[i].Name == rn {
				ref.index = i
				break
			}
		}
		if ref.index < 0 {
			return nil, common.Invalidf(kind, ro.Namespace, name, "spec.http", "no rule is named %q", rn)
		}
		bs := l.spec.HTTP[ref.index].Backends
		ref.canary, ref.stable = findBackend(bs, c.CanaryService), findBackend(bs, c.StableService)
		for _, b := range []struct {
			i          int
			role, name string
		}{{ref.canary, "canary", c.CanaryService}, {ref.stable, "stable", c.StableService}} {
			if b.i < 0 {
				return nil, common.Invalidf(kind, ro.Namespace, name, fmt.Sprintf("spec.http[%d].backends", ref.index),
					"rule %q has no backend to the %s Service %q", rn, b.role, b.name)
			}
		}
		l.rules = append(l.rules, ref)
	}
	return l, nil
}

func findBackend(bs []backend, svc string) int {
	for i, b := range bs {
		if b.ServiceName == svc {
			return i
		}
	}
	return -1
}

// SetWeight gives the canary backend of every configured rule weight (out of
// maxTrafficWeight) and the stable backend the rest. Additional destinations (an
// Experiment's) are ignored, as Argo's APISIX router ignores them.
func (r *Router) SetWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, _ []v1alpha1.WeightDestination) error {
	l, err := r.load(ctx, ro)
	if err != nil {
		return err
	}
	w := common.Split(ro, weight, nil)
	for _, ref := range l.rules {
		bs := l.spec.HTTP[ref.index].Backends
		bs[ref.canary].Weight, bs[ref.stable].Weight = ptr64(int64(w.Canary)), ptr64(int64(w.Stable))
	}
	if err := common.WriteMember(l.obj, "spec", l.spec); err != nil {
		return err
	}
	return common.Patch(ctx, r.c, l.orig, l.obj)
}

func ptr64(v int64) *int64 { return &v }

// VerifyWeight reports whether every configured rule carries the weights.
func (r *Router) VerifyWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, _ []v1alpha1.WeightDestination) (bool, error) {
	l, err := r.load(ctx, ro)
	if err != nil {
		return false, err
	}
	w := common.Split(ro, weight, nil)
	for _, ref := range l.rules {
		bs := l.spec.HTTP[ref.index].Backends
		if !hasWeight(bs[ref.canary], w.Canary) || !hasWeight(bs[ref.stable], w.Stable) {
			return false, nil
		}
	}
	return true, nil
}

func hasWeight(b backend, w int32) bool { return b.Weight != nil && *b.Weight == int64(w) }

// UpdateHash has nothing to do: the Services carry the hashes.
func (r *Router) UpdateHash(context.Context, *v1alpha1.Rollout, string, string, []v1alpha1.WeightDestination) error {
	return nil
}

// SetMirrorRoute is not something Argo's APISIX router does (nor Vane's).
func (r *Router) SetMirrorRoute(_ context.Context, ro *v1alpha1.Rollout, mr *v1alpha1.SetMirrorRoute) error {
	if mr == nil {
		return nil
	}
	return common.Unsupportedf(ro, "spec.strategy.canary.steps[].setMirrorRoute", "the APISIX router routes by weight and header, as Argo's does; it does not mirror")
}
