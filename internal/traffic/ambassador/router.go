// Package ambassador routes canary traffic with Ambassador Edge Stack / Emissary-ingress
// Mappings, as Argo Rollouts' Ambassador router does: for each Mapping the Rollout names
// (trafficRouting.ambassador.mappings, which route to the stable Service without a weight) it
// keeps a canary Mapping, <mapping>-canary, whose spec is the stable Mapping's with the stable
// Service swapped for the canary Service in spec.service and the canary's weight in
// spec.weight; Ambassador sends the Mapping without a weight what the canary leaves. The
// canary Mappings are created when the canary first gets weight and deleted once it has none.
//
// Mappings are read as unstructured data (only Ambassador's CRDs are needed); the router
// decodes the two members it edits into the view below, and writes every other member of the
// stable Mapping's spec into the canary's as it was.
package ambassador

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// Type is the router's name in conditions and events.
const Type = "Ambassador"

// DefaultAPIVersion is the Mapping API the router uses unless told otherwise, Argo Rollouts'
// default (--ambassador-api-version). getambassador.io/v3alpha1 (Emissary 2 and 3) serves the
// same kind, Mapping; x.getambassador.io/v3alpha1 serves AmbassadorMapping.
const DefaultAPIVersion = "getambassador.io/v2"

// canarySuffix ends a canary Mapping's name; the name before it is cut to 246 characters.
const canarySuffix = "-canary"

var ambassadorPath = common.TrafficRoutingPath + ".ambassador"

// mappingSpec is the spec of a Mapping, as far as the router reads it.
type mappingSpec struct {
	Service string        `json:"service,omitzero"`
	Weight  *int64        `json:"weight,omitzero"`
	Fields  common.Fields `json:"-"`
}

// Router keeps canary Mappings.
type Router struct {
	c   client.Client
	gvk schema.GroupVersionKind
}

// New checks the Rollout's ambassador settings and returns a router editing Mappings of
// apiVersion ("" for DefaultAPIVersion) through c.
func New(ro *v1alpha1.Rollout, c client.Client, apiVersion string) (*Router, error) {
	cs, tr, err := common.Canary(ro)
	if err != nil {
		return nil, err
	}
	a := tr.Ambassador
	if a == nil {
		return nil, common.RolloutInvalidf(ro, ambassadorPath, "not set")
	}
	if len(a.Mappings) == 0 {
		return nil, common.RolloutInvalidf(ro, ambassadorPath+".mappings", "list at least one Mapping")
	}
	seen := map[string]bool{}
	for i, m := range a.Mappings {
		field := fmt.Sprintf("%s.mappings[%d]", ambassadorPath, i)
		switch {
		case m == "":
			return nil, common.RolloutInvalidf(ro, field, "name the Mapping")
		case seen[m]:
			return nil, common.RolloutInvalidf(ro, field, "Mapping %q is listed twice", m)
		}
		seen[m] = true
	}
	if total := cs.EffectiveMaxTrafficWeight(); total != 100 {
		return nil, common.Unsupportedf(ro, common.TrafficRoutingPath+".maxTrafficWeight",
			"is %d: an Ambassador Mapping's weight is a percentage, so ambassador needs the default 100", total)
	}
	gvk, err := mappingGVK(apiVersion)
	if err != nil {
		return nil, err
	}
	return &Router{c: c, gvk: gvk}, nil
}

// mappingGVK is the Mapping kind of apiVersion: Mapping in getambassador.io, AmbassadorMapping
// in x.getambassador.io.
func mappingGVK(apiVersion string) (schema.GroupVersionKind, error) {
	if apiVersion == "" {
		apiVersion = DefaultAPIVersion
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil || gv.Version == "" {
		return schema.GroupVersionKind{}, fmt.Errorf("the Ambassador API version %q is not <group>/<version> (such as %s)", apiVersion, DefaultAPIVersion)
	}
	switch gv.Group {
	case "getambassador.io":
		return gv.WithKind("Mapping"), nil
	case "x.getambassador.io":
		return gv.WithKind("AmbassadorMapping"), nil
	}
	return schema.GroupVersionKind{}, fmt.Errorf("the Ambassador API version %q is not of getambassador.io or x.getambassador.io", apiVersion)
}

// Type returns "Ambassador".
func (r *Router) Type() string { return Type }

// CanaryMappingName is the canary Mapping of the Mapping mapping: <mapping>-canary, the
// Mapping's name cut to 246 characters (Argo's name for it, so that a Rollout moved from Argo
// adopts its canary Mappings).
func CanaryMappingName(mapping string) string {
	return mapping[:min(len(mapping), 246)] + canarySuffix
}

// pair is a Mapping the Rollout names and its canary Mapping.
type pair struct {
	stable     *unstructured.Unstructured
	spec       mappingSpec
	canarySvc  string                     // spec.service of the canary Mapping
	canary     *unstructured.Unstructured // nil when there is none
	canarySpec mappingSpec
}

// load reads every Mapping the Rollout names and its canary Mapping, and checks them all
// before anything changes.
func (r *Router) load(ctx context.Context, ro *v1alpha1.Rollout) ([]*pair, error) {
	kind := r.gvk.Kind
	crds := fmt.Sprintf("Ambassador's CRDs (%s %s)", r.gvk.GroupVersion(), kind)
	var out []*pair
	for i, name := range ro.Spec.Strategy.Canary.TrafficRouting.Ambassador.Mappings {
		u, err := common.GetExisting(ctx, r.c, r.gvk, ro.Namespace, name, fmt.Sprintf("%s.mappings[%d]", ambassadorPath, i), crds)
		if err != nil {
			return nil, err
		}
		p := &pair{stable: u}
		if err := common.ReadMember(kind, u, "spec", &p.spec); err != nil {
			return nil, err
		}
		if w := p.spec.Weight; w != nil && *w != 0 {
			return nil, common.Invalidf(kind, ro.Namespace, name, "spec.weight",
				"is %d: the Mapping the Rollout names must not set a weight (it takes what the canary Mapping leaves)", *w)
		}
		c := ro.Spec.Strategy.Canary
		svc, ok := canaryService(p.spec.Service, c.StableService, c.CanaryService, ro.Namespace)
		if !ok {
			return nil, common.Invalidf(kind, ro.Namespace, name, "spec.service",
				"is %q, not the stable Service %q (of namespace %q)", p.spec.Service, c.StableService, ro.Namespace)
		}
		p.canarySvc = svc
		if err := r.loadCanary(ctx, ro, p, CanaryMappingName(name), crds); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// loadCanary reads the canary Mapping of p, if there is one: one another owner controls is a
// Conflict; one without a controller (Argo's) is adopted.
func (r *Router) loadCanary(ctx context.Context, ro *v1alpha1.Rollout, p *pair, name, crds string) error {
	u, found, err := common.Get(ctx, r.c, r.gvk, ro.Namespace, name, ambassadorPath+".mappings", crds)
	if err != nil || !found {
		return err
	}
	if ref := metav1.GetControllerOf(u); ref != nil && ref.UID != ro.UID {
		return common.Conflictf(r.gvk.Kind, ro.Namespace, name, "the canary Mapping of %q exists and is controlled by %s %q, not by Rollout %q",
			p.stable.GetName(), ref.Kind, ref.Name, ro.Name)
	}
	p.canary = u
	return common.ReadMember(r.gvk.Kind, u, "spec", &p.canarySpec)
}

// canaryService returns spec.service of a Mapping to the stable Service (written
// [scheme://]name[.namespace[.svc...]][:port]) with the canary Service's name in its place; ok
// is false when it does not name the stable Service of namespace ns.
func canaryService(svc, stable, canary, ns string) (string, bool) {
	scheme, rest := "", svc
	if i := strings.Index(svc, "://"); i >= 0 {
		scheme, rest = svc[:i+3], svc[i+3:]
	}
	host, port := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host, port = rest[:i], rest[i:]
	}
	name, domain, dotted := strings.Cut(host, ".")
	if name != stable || stable == "" {
		return "", false
	}
	if dotted {
		if n, _, _ := strings.Cut(domain, "."); n != ns {
			return "", false
		}
		domain = "." + domain
	}
	return scheme + canary + domain + port, true
}

// SetWeight gives every canary Mapping weight (a percentage), creating those that do not
// exist. At weight 0 a canary Mapping that still has weight is set to 0 and one already at 0
// is deleted, so that the weight reaches Ambassador before the Mapping goes (Argo waits five
// seconds in between; here the next reconcile deletes it). Additional destinations (an
// Experiment's) are ignored, as Argo's Ambassador router ignores them.
func (r *Router) SetWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, _ []v1alpha1.WeightDestination) error {
	ps, err := r.load(ctx, ro)
	if err != nil {
		return err
	}
	w := int64(common.Split(ro, weight, nil).Canary)
	for _, p := range ps {
		switch {
		case p.canary == nil && w == 0:
		case p.canary != nil && w == 0 && weightOf(p.canarySpec) == 0:
			if err := r.delete(ctx, p.canary); err != nil {
				return err
			}
		default:
			if err := r.write(ctx, ro, p, w); err != nil {
				return err
			}
		}
	}
	return nil
}

func weightOf(s mappingSpec) int64 {
	if s.Weight == nil {
		return 0
	}
	return *s.Weight
}

// write creates or updates the canary Mapping of p: the stable Mapping's spec with the canary
// Service and weight w, owned by the Rollout; an existing one keeps its other metadata.
func (r *Router) write(ctx context.Context, ro *v1alpha1.Rollout, p *pair, w int64) error {
	spec := p.spec
	spec.Service, spec.Weight = p.canarySvc, &w
	if p.canary == nil {
		u := &unstructured.Unstructured{Object: map[string]any{}}
		u.SetGroupVersionKind(r.gvk)
		u.SetNamespace(ro.Namespace)
		u.SetName(CanaryMappingName(p.stable.GetName()))
		u.SetOwnerReferences([]metav1.OwnerReference{common.OwnerReference(ro)})
		if err := common.WriteMember(u, "spec", spec); err != nil {
			return err
		}
		if err := r.c.Create(ctx, u); err != nil {
			if apierrors.IsInvalid(err) {
				return common.Invalidf(r.gvk.Kind, u.GetNamespace(), u.GetName(), "spec", "the API server refused it: %v", err)
			}
			return fmt.Errorf("creating %s %s/%s: %w", r.gvk.Kind, u.GetNamespace(), u.GetName(), err)
		}
		return nil
	}
	obj := p.canary.DeepCopy()
	if err := common.WriteMember(obj, "spec", spec); err != nil {
		return err
	}
	if metav1.GetControllerOf(obj) == nil {
		obj.SetOwnerReferences(append(obj.GetOwnerReferences(), common.OwnerReference(ro)))
	}
	return common.Patch(ctx, r.c, p.canary, obj)
}

// delete deletes a canary Mapping as it was read (a newer version of it is not deleted).
func (r *Router) delete(ctx context.Context, u *unstructured.Unstructured) error {
	uid, rv := u.GetUID(), u.GetResourceVersion()
	err := r.c.Delete(ctx, u, client.Preconditions{UID: &uid, ResourceVersion: &rv})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s %s/%s: %w", r.gvk.Kind, u.GetNamespace(), u.GetName(), err)
	}
	return nil
}

// VerifyWeight reports whether every canary Mapping carries the weight (at 0: none is left
// with weight).
func (r *Router) VerifyWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, _ []v1alpha1.WeightDestination) (bool, error) {
	ps, err := r.load(ctx, ro)
	if err != nil {
		return false, err
	}
	w := int64(common.Split(ro, weight, nil).Canary)
	for _, p := range ps {
		if p.canary == nil {
			if w != 0 {
				return false, nil
			}
			continue
		}
		if weightOf(p.canarySpec) != w || (w != 0 && p.canarySpec.Service != p.canarySvc) {
			return false, nil
		}
	}
	return true, nil
}

// UpdateHash has nothing to do: the Services carry the hashes.
func (r *Router) UpdateHash(context.Context, *v1alpha1.Rollout, string, string, []v1alpha1.WeightDestination) error {
	return nil
}

// SetHeaderRoute is not something Argo's Ambassador router does (nor Vane's).
func (r *Router) SetHeaderRoute(_ context.Context, ro *v1alpha1.Rollout, hr *v1alpha1.SetHeaderRoute) error {
	if hr == nil {
		return nil
	}
	return common.Unsupportedf(ro, "spec.strategy.canary.steps[].setHeaderRoute", "the Ambassador router sets weights only, as Argo's does")
}

// SetMirrorRoute is not something Argo's Ambassador router does (nor Vane's).
func (r *Router) SetMirrorRoute(_ context.Context, ro *v1alpha1.Rollout, mr *v1alpha1.SetMirrorRoute) error {
	if mr == nil {
		return nil
	}
	return common.Unsupportedf(ro, "spec.strategy.canary.steps[].setMirrorRoute", "the Ambassador router sets weights only, as Argo's does")
}

// RemoveManagedRoutes has nothing to remove: the router adds no routes.
func (r *Router) RemoveManagedRoutes(context.Context, *v1alpha1.Rollout) error { return nil }
