// Package traefik routes canary traffic with Traefik: it sets the weights of the canary and
// the stable Service in the weighted TraefikService the Rollout names
// (trafficRouting.traefik.weightedTraefikServiceName), the object Argo Rollouts' Traefik
// router edits.
//
// The TraefikService is read as unstructured data (only Traefik's CRDs are needed); its spec is
// decoded into the small views below, edited there and encoded back into the object as read,
// so every member the router does not write (the services' ports, sticky sessions, other
// services of the list, members of newer Traefik versions) is kept as it was.
package traefik

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// Type is the router's name in conditions and events.
const Type = "Traefik"

const (
	// DefaultAPIVersion is the TraefikService API of Traefik v3, Argo Rollouts' default.
	DefaultAPIVersion = "traefik.io/v1alpha1"
	// V2APIVersion is the TraefikService API of Traefik v2 (Argo's --traefik-api-group
	// traefik.containo.us).
	V2APIVersion = "traefik.containo.us/v1alpha1"
)

const kind = "TraefikService"

var traefikPath = common.TrafficRoutingPath + ".traefik"

// serviceSpec is the spec of a TraefikService, as far as the router reads it.
type serviceSpec struct {
	Weighted *weighted     `json:"weighted,omitzero"`
	Fields   common.Fields `json:"-"`
}

// weighted is a TraefikService's weighted round robin.
type weighted struct {
	Services []service     `json:"services,omitzero"`
	Fields   common.Fields `json:"-"`
}

// service is one of a weighted round robin's services; Traefik gives one without a weight 1.
type service struct {
	Name      string        `json:"name"`
	Kind      string        `json:"kind,omitzero"`
	Namespace string        `json:"namespace,omitzero"`
	Weight    *int64        `json:"weight,omitzero"`
	Fields    common.Fields `json:"-"`
}

// Router edits a weighted TraefikService.
type Router struct {
	c   client.Client
	gvk schema.GroupVersionKind
}

// New checks the Rollout's traefik settings and returns a router writing TraefikServices of
// apiVersion ("" for DefaultAPIVersion; V2APIVersion for Traefik v2) through c.
func New(ro *v1alpha1.Rollout, c client.Client, apiVersion string) (*Router, error) {
	_, tr, err := common.Canary(ro)
	if err != nil {
		return nil, err
	}
	if tr.Traefik == nil {
		return nil, common.RolloutInvalidf(ro, traefikPath, "not set")
	}
	if tr.Traefik.WeightedTraefikServiceName == "" {
		return nil, common.RolloutInvalidf(ro, traefikPath+".weightedTraefikServiceName", "name the weighted TraefikService")
	}
	if apiVersion == "" {
		apiVersion = DefaultAPIVersion
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil || gv.Group == "" || gv.Version == "" {
		return nil, fmt.Errorf("the Traefik API version %q is not <group>/<version> (such as %s)", apiVersion, DefaultAPIVersion)
	}
	return &Router{c: c, gvk: gv.WithKind(kind)}, nil
}

// Type returns "Traefik".
func (r *Router) Type() string { return Type }

// loaded is the TraefikService as read, the copy being changed, its spec, and the positions of
// the canary and the stable Service in spec.weighted.services.
type loaded struct {
	orig, obj      *unstructured.Unstructured
	spec           serviceSpec
	canary, stable int
}

// load reads the Rollout's TraefikService and finds the canary and the stable Service in its
// weighted services; either missing is an Invalid Error.
func (r *Router) load(ctx context.Context, ro *v1alpha1.Rollout) (*loaded, error) {
	name := ro.Spec.Strategy.Canary.TrafficRouting.Traefik.WeightedTraefikServiceName
	u, err := common.GetExisting(ctx, r.c, r.gvk, ro.Namespace, name, traefikPath+".weightedTraefikServiceName",
		"Traefik's CRDs (traefikservices."+r.gvk.Group+")")
	if err != nil {
		return nil, err
	}
	l := &loaded{orig: u, obj: u.DeepCopy()}
	if err := common.ReadMember(kind, u, "spec", &l.spec); err != nil {
		return nil, err
	}
	if l.spec.Weighted == nil {
		return nil, common.Invalidf(kind, ro.Namespace, name, "spec.weighted",
			"is not set: the TraefikService must be a weighted one whose services are the canary and the stable Service")
	}
	c := ro.Spec.Strategy.Canary
	l.canary = find(l.spec.Weighted.Services, c.CanaryService, ro.Namespace)
	l.stable = find(l.spec.Weighted.Services, c.StableService, ro.Namespace)
	for _, s := range []struct {
		i          int
		role, name string
	}{{l.canary, "canary", c.CanaryService}, {l.stable, "stable", c.StableService}} {
		if s.i < 0 {
			return nil, common.Invalidf(kind, ro.Namespace, name, "spec.weighted.services",
				"no service is the %s Service %q (a Kubernetes Service of namespace %q)", s.role, s.name, ro.Namespace)
		}
	}
	return l, nil
}

// find returns the position of the Kubernetes Service name of namespace ns in services, or -1.
func find(services []service, name, ns string) int {
	for i, s := range services {
		if s.Name == name && (s.Kind == "" || s.Kind == "Service") && (s.Namespace == "" || s.Namespace == ns) {
			return i
		}
	}
	return -1
}

// SetWeight gives the canary Service weight (out of maxTrafficWeight) and the stable Service
// the rest. Additional destinations (an Experiment's) are ignored, as Argo's Traefik router
// ignores them.
func (r *Router) SetWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, _ []v1alpha1.WeightDestination) error {
	l, err := r.load(ctx, ro)
	if err != nil {
		return err
	}
	w := common.Split(ro, weight, nil)
	svcs := l.spec.Weighted.Services
	svcs[l.canary].Weight, svcs[l.stable].Weight = ptr64(w.Canary), ptr64(w.Stable)
	if err := common.WriteMember(l.obj, "spec", l.spec); err != nil {
		return err
	}
	return common.Patch(ctx, r.c, l.orig, l.obj)
}

func ptr64(v int32) *int64 {
	i := int64(v)
	return &i
}

// VerifyWeight reports whether the TraefikService carries the weights (a service without a
// weight has 1, as Traefik reads it).
func (r *Router) VerifyWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, _ []v1alpha1.WeightDestination) (bool, error) {
	l, err := r.load(ctx, ro)
	if err != nil {
		return false, err
	}
	w := common.Split(ro, weight, nil)
	svcs := l.spec.Weighted.Services
	return weightOf(svcs[l.canary]) == int64(w.Canary) && weightOf(svcs[l.stable]) == int64(w.Stable), nil
}

func weightOf(s service) int64 {
	if s.Weight == nil {
		return 1
	}
	return *s.Weight
}

// UpdateHash has nothing to do: the Services carry the hashes.
func (r *Router) UpdateHash(context.Context, *v1alpha1.Rollout, string, string, []v1alpha1.WeightDestination) error {
	return nil
}

// unsupportedRoutes says why a TraefikService has no managed routes.
var unsupportedRoutes = strings.Join([]string{
	"a weighted TraefikService splits by weight only (matching requests is the IngressRoute's job, which the Rollout does not name);",
	"for header and mirror routes through Traefik, use the Gateway API router (Traefik implements the Gateway API)",
}, " ")

// SetHeaderRoute is not something a weighted TraefikService does.
func (r *Router) SetHeaderRoute(_ context.Context, ro *v1alpha1.Rollout, hr *v1alpha1.SetHeaderRoute) error {
	if hr == nil {
		return nil
	}
	return common.Unsupportedf(ro, "spec.strategy.canary.steps[].setHeaderRoute", "%s", unsupportedRoutes)
}

// SetMirrorRoute is not something a weighted TraefikService does.
func (r *Router) SetMirrorRoute(_ context.Context, ro *v1alpha1.Rollout, mr *v1alpha1.SetMirrorRoute) error {
	if mr == nil {
		return nil
	}
	return common.Unsupportedf(ro, "spec.strategy.canary.steps[].setMirrorRoute", "%s", unsupportedRoutes)
}

// RemoveManagedRoutes has nothing to remove: the router adds no routes.
func (r *Router) RemoveManagedRoutes(context.Context, *v1alpha1.Rollout) error { return nil }
