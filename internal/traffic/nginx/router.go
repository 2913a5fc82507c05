// Package nginx routes canary traffic with ingress-nginx: for each stable Ingress it keeps a
// canary Ingress, <rollout>-<stable ingress>-canary (the name Argo Rollouts gives it, so that
// a Rollout moved from Argo adopts its Ingress), cloned from the stable one with its backends
// pointed at the canary Service and the canary annotations (canary: "true", canary-weight, and
// for a header route canary-by-header*) under the configured annotation prefix.
//
// Ingresses are a built-in API, read as client-go's typed objects. The router never writes a
// stable Ingress, and writes the canary Ingresses it owns as merge patches from the object as
// read (their labels, other metadata and anything client-go's types do not know are kept).
package nginx

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// Type is the router's name in conditions and events.
const Type = "Nginx"

const (
	// DefaultAnnotationPrefix is annotationPrefix when unset.
	DefaultAnnotationPrefix = "nginx.ingress.kubernetes.io"
	// HeaderRouteAnnotation on a canary Ingress names the managed route whose header match the
	// canary-by-header annotations carry.
	HeaderRouteAnnotation = "vane.dev/header-route"
	// ingressClassAnnotation is the class annotation older Ingresses use instead of
	// spec.ingressClassName; the canary Ingress must have the same class.
	ingressClassAnnotation = "kubernetes.io/ingress.class"
	canarySuffix           = "-canary"
)

var nginxPath = common.TrafficRoutingPath + ".nginx"

// headerKeys are the annotations (after the prefix) a header route sets.
var headerKeys = []string{"canary-by-header", "canary-by-header-value", "canary-by-header-pattern"}

// Router edits canary Ingresses.
type Router struct {
	c client.Client
}

// New checks the Rollout's nginx settings and returns a router writing through c.
func New(ro *v1alpha1.Rollout, c client.Client) (*Router, error) {
	if _, err := stableIngresses(ro); err != nil {
		return nil, err
	}
	return &Router{c: c}, nil
}

// Type returns "Nginx".
func (r *Router) Type() string { return Type }

// CanaryIngressName is the canary Ingress of stableIngress: <rollout>-<stableIngress>-canary,
// its prefix cut to fit 253 characters.
func CanaryIngressName(rollout, stableIngress string) string {
	prefix := rollout + "-" + stableIngress
	if len(prefix) > 253-len(canarySuffix) {
		prefix = prefix[:253-len(canarySuffix)]
	}
	return prefix + canarySuffix
}

type stableRef struct{ name, field string }

func stableIngresses(ro *v1alpha1.Rollout) ([]stableRef, error) {
	_, tr, err := common.Canary(ro)
	if err != nil {
		return nil, err
	}
	n := tr.Nginx
	if n == nil {
		return nil, common.RolloutInvalidf(ro, nginxPath, "not set")
	}
	if n.StableIngress != "" && len(n.StableIngresses) > 0 {
		return nil, common.RolloutInvalidf(ro, nginxPath, "set stableIngress or stableIngresses, not both")
	}
	if n.StableIngress != "" {
		return []stableRef{{n.StableIngress, nginxPath + ".stableIngress"}}, nil
	}
	if len(n.StableIngresses) == 0 {
		return nil, common.RolloutInvalidf(ro, nginxPath+".stableIngress", "name the stable Ingress")
	}
	out := make([]stableRef, len(n.StableIngresses))
	for i, s := range n.StableIngresses {
		if s == "" {
			return nil, common.RolloutInvalidf(ro, fmt.Sprintf("%s.stableIngresses[%d]", nginxPath, i), "name the stable Ingress")
		}
		out[i] = stableRef{s, fmt.Sprintf("%s.stableIngresses[%d]", nginxPath, i)}
	}
	return out, nil
}

func prefixOf(n *v1alpha1.NginxTrafficRouting) string {
	if n.AnnotationPrefix != "" {
		return n.AnnotationPrefix
	}
	return DefaultAnnotationPrefix
}

// pair is one stable Ingress and its canary Ingress (nil when it does not exist yet).
type pair struct {
	stable *networkingv1.Ingress
	canary *networkingv1.Ingress
}

// state is what the canary Ingresses carry: the weight and the active header route.
type state struct {
	weight int32
	// header is the managed route name and its canary-by-header* annotations (after the
	// prefix); empty name: none
	headerRoute string
	header      map[string]string
}

// load reads every stable Ingress and its canary, checking the stable ones route to the stable
// Service and that the canary ones are this Rollout's, before anything changes.
func (r *Router) load(ctx context.Context, ro *v1alpha1.Rollout) ([]pair, error) {
	refs, err := stableIngresses(ro)
	if err != nil {
		return nil, err
	}
	stableSvc := ro.Spec.Strategy.Canary.StableService
	var out []pair
	for _, ref := range refs {
		stable := &networkingv1.Ingress{}
		err := r.c.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: ref.name}, stable)
		if apierrors.IsNotFound(err) {
			return nil, common.Missing("Ingress", ro.Namespace, ref.name, ref.field)
		}
		if err != nil {
			return nil, fmt.Errorf("reading Ingress %s/%s: %w", ro.Namespace, ref.name, err)
		}
		if !routesTo(stable, stableSvc) {
			return nil, common.Invalidf("Ingress", stable.Namespace, stable.Name, "spec.rules[].http.paths[].backend.service.name",
				"no backend is the stable Service %q", stableSvc)
		}
		p := pair{stable: stable}
		name := CanaryIngressName(ro.Name, ref.name)
		canary := &networkingv1.Ingress{}
		err = r.c.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: name}, canary)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("reading Ingress %s/%s: %w", ro.Namespace, name, err)
		case !common.ControlledBy(canary, ro):
			return nil, common.Conflictf("Ingress", canary.Namespace, canary.Name,
				"the canary Ingress of %q exists and is not controlled by Rollout %q", ref.name, ro.Name)
		default:
			p.canary = canary
		}
		out = append(out, p)
	}
	return out, nil
}

func routesTo(ing *networkingv1.Ingress, svc string) bool {
	if b := ing.Spec.DefaultBackend; b != nil && b.Service != nil && b.Service.Name == svc {
		return true
	}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			if p.Backend.Service != nil && p.Backend.Service.Name == svc {
				return true
			}
		}
	}
	return false
}

// current reads the state a canary Ingress carries.
func current(canary *networkingv1.Ingress, prefix string) state {
	st := state{}
	if canary == nil {
		return st
	}
	if w, err := strconv.ParseInt(canary.Annotations[prefix+"/canary-weight"], 10, 32); err == nil {
		st.weight = int32(w)
	}
	if name := canary.Annotations[HeaderRouteAnnotation]; name != "" {
		st.headerRoute, st.header = name, map[string]string{}
		for _, k := range headerKeys {
			if v, ok := canary.Annotations[prefix+"/"+k]; ok {
				st.header[k] = v
			}
		}
	}
	return st
}

// desired builds the canary Ingress of stable for st, on top of the existing one.
func desired(ro *v1alpha1.Rollout, stable, existing *networkingv1.Ingress, st state) *networkingv1.Ingress {
	out := &networkingv1.Ingress{}
	if existing != nil {
		out = existing.DeepCopy()
	} else {
		out.Name = CanaryIngressName(ro.Name, stable.Name)
		out.Namespace = ro.Namespace
		out.OwnerReferences = []metav1.OwnerReference{common.OwnerReference(ro)}
	}
	out.Annotations = canaryAnnotations(ro.Spec.Strategy.Canary, stable, st)
	out.Spec = canarySpec(ro.Spec.Strategy.Canary, stable)
	return out
}

// canaryAnnotations are the annotations of the canary Ingress of stable for st: the class
// annotation, the additional and canary annotations, the weight and the header route.
func canaryAnnotations(c *v1alpha1.CanaryStrategy, stable *networkingv1.Ingress, st state) map[string]string {
	n := c.TrafficRouting.Nginx
	prefix := prefixOf(n)
	ann := map[string]string{}
	if class, ok := stable.Annotations[ingressClassAnnotation]; ok {
		ann[ingressClassAnnotation] = class
	}
	for k, v := range n.AdditionalIngressAnnotations {
		ann[prefix+"/"+k] = v
	}
	maps.Copy(ann, n.CanaryIngressAnnotations)
	ann[prefix+"/canary"] = "true"
	ann[prefix+"/canary-weight"] = strconv.Itoa(int(st.weight))
	if total := c.EffectiveMaxTrafficWeight(); total != 100 {
		ann[prefix+"/canary-weight-total"] = strconv.Itoa(int(total))
	}
	if st.headerRoute != "" {
		for _, k := range headerKeys {
			delete(ann, prefix+"/"+k)
		}
		for k, v := range st.header {
			ann[prefix+"/"+k] = v
		}
		ann[HeaderRouteAnnotation] = st.headerRoute
	}
	return ann
}

// canarySpec is the spec of the canary Ingress of stable: its class, and its backends to the
// stable Service pointed at the canary Service.
func canarySpec(c *v1alpha1.CanaryStrategy, stable *networkingv1.Ingress) networkingv1.IngressSpec {
	spec := networkingv1.IngressSpec{IngressClassName: stable.Spec.IngressClassName}
	if b := stable.Spec.DefaultBackend; b != nil && b.Service != nil && b.Service.Name == c.StableService {
		spec.DefaultBackend = b.DeepCopy()
		spec.DefaultBackend.Service.Name = c.CanaryService
	}
	for _, rule := range stable.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		var paths []networkingv1.HTTPIngressPath
		for _, p := range rule.HTTP.Paths {
			if p.Backend.Service == nil || p.Backend.Service.Name != c.StableService {
				continue
			}
			p = *p.DeepCopy()
			p.Backend.Service.Name = c.CanaryService
			paths = append(paths, p)
		}
		if len(paths) > 0 {
			spec.Rules = append(spec.Rules, networkingv1.IngressRule{Host: rule.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}})
		}
	}
	return spec
}

// apply moves every canary Ingress to the state change makes of its current one (its
// annotations and spec; its other metadata is kept). create is false for changes that need no
// canary Ingress where there is none.
func (r *Router) apply(ctx context.Context, ro *v1alpha1.Rollout, create bool, change func(*state)) error {
	pairs, err := r.load(ctx, ro)
	if err != nil {
		return err
	}
	prefix := prefixOf(ro.Spec.Strategy.Canary.TrafficRouting.Nginx)
	for _, p := range pairs {
		if p.canary == nil && !create {
			continue
		}
		st := current(p.canary, prefix)
		change(&st)
		want := desired(ro, p.stable, p.canary, st)
		if p.canary == nil {
			if err := r.c.Create(ctx, want); err != nil {
				return fmt.Errorf("creating Ingress %s/%s: %w", want.Namespace, want.Name, err)
			}
			continue
		}
		if maps.Equal(want.Annotations, p.canary.Annotations) && equalSpec(want, p.canary) {
			continue
		}
		// a merge patch from the Ingress as read: what client-go's types do not know is not sent
		patch := client.MergeFromWithOptions(p.canary, client.MergeFromWithOptimisticLock{})
		if err := r.c.Patch(ctx, want, patch); err != nil {
			return fmt.Errorf("updating Ingress %s/%s: %w", want.Namespace, want.Name, err)
		}
	}
	return nil
}

func equalSpec(a, b *networkingv1.Ingress) bool {
	return apiequality.Semantic.DeepEqual(a.Spec, b.Spec)
}

// SetWeight sets canary-weight on every canary Ingress, creating those that do not exist.
// ingress-nginx splits traffic between two Services only: additional destinations (an
// Experiment's) are ignored, as Argo's nginx router ignores them (validation refuses
// experiment template weights when nginx is the only router).
func (r *Router) SetWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, _ []v1alpha1.WeightDestination) error {
	w := common.Split(ro, weight, nil)
	return r.apply(ctx, ro, true, func(st *state) { st.weight = w.Canary })
}

// VerifyWeight reports whether every canary Ingress carries the weight.
func (r *Router) VerifyWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, _ []v1alpha1.WeightDestination) (bool, error) {
	pairs, err := r.load(ctx, ro)
	if err != nil {
		return false, err
	}
	prefix := prefixOf(ro.Spec.Strategy.Canary.TrafficRouting.Nginx)
	w := common.Split(ro, weight, nil)
	for _, p := range pairs {
		if p.canary == nil || p.canary.Annotations[prefix+"/canary"] != "true" || current(p.canary, prefix).weight != w.Canary {
			return false, nil
		}
	}
	return true, nil
}

// UpdateHash has nothing to do: the Services carry the hashes.
func (r *Router) UpdateHash(context.Context, *v1alpha1.Rollout, string, string, []v1alpha1.WeightDestination) error {
	return nil
}

// SetHeaderRoute sends requests with one header to the canary through canary-by-header and
// canary-by-header-value (exact) or canary-by-header-pattern (regex, prefix); ingress-nginx
// matches a single header. A step without match removes the route.
func (r *Router) SetHeaderRoute(ctx context.Context, ro *v1alpha1.Rollout, hr *v1alpha1.SetHeaderRoute) error {
	if hr == nil {
		return nil
	}
	_, tr, _ := common.Canary(ro)
	if err := common.CheckManagedRoute(ro, tr, "setHeaderRoute", hr.Name); err != nil {
		return err
	}
	if len(hr.Match) == 0 {
		return r.apply(ctx, ro, false, func(st *state) {
			if st.headerRoute == hr.Name {
				st.headerRoute, st.header = "", nil
			}
		})
	}
	if len(hr.Match) > 1 {
		return common.Unsupportedf(ro, "spec.strategy.canary.steps[].setHeaderRoute.match", "ingress-nginx routes by one header; the step has %d", len(hr.Match))
	}
	m := hr.Match[0]
	header := map[string]string{"canary-by-header": m.HeaderName}
	switch v := m.HeaderValue; {
	case v != nil && v.Exact != "":
		header["canary-by-header-value"] = v.Exact
	case v != nil && v.Regex != "":
		header["canary-by-header-pattern"] = v.Regex
	case v != nil && v.Prefix != "":
		header["canary-by-header-pattern"] = common.PrefixRegex(v.Prefix)
	default:
		return common.RolloutInvalidf(ro, "spec.strategy.canary.steps[].setHeaderRoute.match[0].headerValue", "set one of exact, prefix or regex")
	}
	return r.apply(ctx, ro, true, func(st *state) { st.headerRoute, st.header = hr.Name, header })
}

// SetMirrorRoute is not something ingress-nginx canaries do.
func (r *Router) SetMirrorRoute(_ context.Context, ro *v1alpha1.Rollout, mr *v1alpha1.SetMirrorRoute) error {
	if mr == nil {
		return nil
	}
	return common.Unsupportedf(ro, "spec.strategy.canary.steps[].setMirrorRoute", "ingress-nginx canary Ingresses cannot mirror traffic")
}

// RemoveManagedRoutes takes the header route off the canary Ingresses (the annotations of
// additionalIngressAnnotations come back).
func (r *Router) RemoveManagedRoutes(ctx context.Context, ro *v1alpha1.Rollout) error {
	return r.apply(ctx, ro, false, func(st *state) { st.headerRoute, st.header = "", nil })
}
