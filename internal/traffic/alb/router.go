// Package alb routes canary traffic with the AWS Load Balancer Controller, as Argo Rollouts'
// ALB router does: on each Ingress the Rollout names (trafficRouting.alb.ingress or
// ingresses) it writes the actions.<root service> annotation (under annotationPrefix,
// alb.ingress.kubernetes.io by default), a forward action that splits traffic between the
// canary, an Experiment's Services and the stable Service at servicePort; a header route is
// an actions.<route> and a conditions.<route> annotation and a path "/*" to the route's
// action. The annotations it manages are listed, per Rollout, in the
// rollouts.argoproj.io/managed-alb-annotations annotation. With ping-pong the stable and
// canary are the ping and pong Services, as status.canary.stablePingPong says.
//
// The Ingresses are the user's: they are read as unstructured data and written as merge
// patches from the object as read, with an optimistic lock; the router changes their
// annotations and, for header routes, the paths of their rules, and keeps everything else.
//
// With a Verifier (Argo's --aws-verify-target-group), VerifyWeight also asks AWS whether the
// load balancer behind each Ingress forwards the weights (see verify.go).
package alb

import (
	"context"
	"fmt"
	"maps"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// Type is the router's name in conditions and events.
const Type = "ALB"

const (
	// DefaultAnnotationPrefix is annotationPrefix when unset.
	DefaultAnnotationPrefix = "alb.ingress.kubernetes.io"
	// ManagedAnnotations lists, by Rollout name, the annotations each Rollout manages on the
	// Ingress (Argo's bookkeeping annotation).
	ManagedAnnotations = "rollouts.argoproj.io/managed-alb-annotations"
)

var (
	albPath    = common.TrafficRoutingPath + ".alb"
	ingressGVK = schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}
)

// Router edits the annotations of ALB Ingresses.
type Router struct {
	c        client.Client
	verifier Verifier
	tagKey   string
	report   Report
}

// Option configures a Router.
type Option func(*Router)

// WithVerifier has VerifyWeight check the weights on AWS target groups through v (nil: the
// Ingresses' annotations only).
func WithVerifier(v Verifier) Option { return func(r *Router) { r.verifier = v } }

// WithResourceIDTag sets the target group tag that names the Ingress, Service and port a
// target group is for (DefaultResourceIDTag when empty).
func WithResourceIDTag(key string) Option {
	return func(r *Router) {
		if key != "" {
			r.tagKey = key
		}
	}
}

// New checks the Rollout's alb settings and returns a router writing through c.
func New(ro *v1alpha1.Rollout, c client.Client, opts ...Option) (*Router, error) {
	if _, err := ingresses(ro); err != nil {
		return nil, err
	}
	r := &Router{c: c, tagKey: DefaultResourceIDTag}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Type returns "ALB".
func (r *Router) Type() string { return Type }

// ingressRef is an Ingress the Rollout names, and the Rollout field naming it.
type ingressRef struct{ name, field string }

// ingresses checks the Rollout's alb settings and returns the Ingresses it names.
func ingresses(ro *v1alpha1.Rollout) ([]ingressRef, error) {
	c, tr, err := common.Canary(ro)
	if err != nil {
		return nil, err
	}
	a := tr.ALB
	if a == nil {
		return nil, common.RolloutInvalidf(ro, albPath, "not set")
	}
	if s := a.StickinessConfig; s != nil && s.Enabled && (s.DurationSeconds < 1 || s.DurationSeconds > maxStickiness) {
		return nil, common.RolloutInvalidf(ro, albPath+".stickinessConfig.durationSeconds",
			"TargetGroupStickinessConfig's duration must be between 1 and %d seconds (7 days)", maxStickiness)
	}
	if a.ServicePort < 1 || a.ServicePort > 65535 {
		return nil, common.RolloutInvalidf(ro, albPath+".servicePort", "must be a port number between 1 and 65535")
	}
	if stable, canary := services(ro); stable == "" || canary == "" {
		return nil, common.RolloutInvalidf(ro, "spec.strategy.canary.stableService", "set stableService and canaryService (or pingPong)")
	}
	if a.RootService == "" && c.StableService == "" {
		return nil, common.RolloutInvalidf(ro, albPath+".rootService", "set rootService (or stableService)")
	}
	switch {
	case a.Ingress != "" && len(a.Ingresses) > 0:
		return nil, common.RolloutInvalidf(ro, albPath, "set ingress or ingresses, not both")
	case a.Ingress != "":
		return []ingressRef{{a.Ingress, albPath + ".ingress"}}, nil
	case len(a.Ingresses) == 0:
		return nil, common.RolloutInvalidf(ro, albPath+".ingress", "name the Ingress")
	}
	out := make([]ingressRef, len(a.Ingresses))
	for i, n := range a.Ingresses {
		f := fmt.Sprintf("%s.ingresses[%d]", albPath, i)
		if n == "" {
			return nil, common.RolloutInvalidf(ro, f, "name the Ingress")
		}
		out[i] = ingressRef{n, f}
	}
	return out, nil
}

// services are the stable and canary Services: with ping-pong, the ping and pong Services as
// status.canary.stablePingPong has them (pong is stable until ping is), as Argo's ALB router
// prefers them; otherwise stableService and canaryService.
func services(ro *v1alpha1.Rollout) (stable, canary string) {
	c := ro.Spec.Strategy.Canary
	if pp := c.PingPong; pp != nil {
		if ro.Status.Canary.StablePingPong == v1alpha1.PPPing {
			return pp.PingService, pp.PongService
		}
		return pp.PongService, pp.PingService
	}
	return c.StableService, c.CanaryService
}

// rootService is the Service whose action the router writes: rootService, or stableService.
func rootService(ro *v1alpha1.Rollout) string {
	c := ro.Spec.Strategy.Canary
	if c.TrafficRouting.ALB.RootService != "" {
		return c.TrafficRouting.ALB.RootService
	}
	return c.StableService
}

// key is the annotation kind ("actions" or "conditions") of name under the prefix.
func key(ro *v1alpha1.Rollout, kind, name string) string {
	prefix := ro.Spec.Strategy.Canary.TrafficRouting.ALB.AnnotationPrefix
	if prefix == "" {
		prefix = DefaultAnnotationPrefix
	}
	return prefix + "/" + kind + "." + name
}

// ingress is one Ingress as read and as the router is changing it.
type ingress struct {
	ref       ingressRef
	orig, obj *unstructured.Unstructured
	ann       map[string]string
	spec      ingressSpec
}

// load reads every Ingress the Rollout names, before anything changes.
func (r *Router) load(ctx context.Context, ro *v1alpha1.Rollout) ([]*ingress, error) {
	refs, err := ingresses(ro)
	if err != nil {
		return nil, err
	}
	out := make([]*ingress, 0, len(refs))
	for _, ref := range refs {
		u, err := common.GetExisting(ctx, r.c, ingressGVK, ro.Namespace, ref.name, ref.field, "")
		if err != nil {
			return nil, err
		}
		ing := &ingress{ref: ref, orig: u, obj: u.DeepCopy(), ann: maps.Clone(u.GetAnnotations())}
		if ing.ann == nil {
			ing.ann = map[string]string{}
		}
		if err := common.ReadMember("Ingress", u, "spec", &ing.spec); err != nil {
			return nil, err
		}
		if _, err := readManaged(ing.ann); err != nil {
			return nil, common.Invalidf("Ingress", u.GetNamespace(), u.GetName(), `metadata.annotations["`+ManagedAnnotations+`"]`,
				"is not a JSON object of annotation lists: %v", err)
		}
		out = append(out, ing)
	}
	return out, nil
}

// save writes the changes of every Ingress (none when nothing changed).
func (r *Router) save(ctx context.Context, ings []*ingress) error {
	for _, ing := range ings {
		if len(ing.ann) == 0 {
			ing.obj.SetAnnotations(nil)
		} else {
			ing.obj.SetAnnotations(ing.ann)
		}
		if err := common.WriteMember(ing.obj, "spec", &ing.spec); err != nil {
			return err
		}
		if err := common.Patch(ctx, r.c, ing.orig, ing.obj); err != nil {
			return err
		}
	}
	return nil
}

// SetWeight writes the root Service's action on every Ingress: weight to the canary, the
// additional destinations theirs, the rest to the stable Service. Each Ingress must route a
// path to the root Service.
func (r *Router) SetWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, additional []v1alpha1.WeightDestination) error {
	ings, err := r.load(ctx, ro)
	if err != nil {
		return err
	}
	root := rootService(ro)
	k := key(ro, "actions", root)
	value := weightedAction(ro, common.Split(ro, weight, additional))
	for _, ing := range ings {
		if !ing.spec.hasService(root) {
			return common.Invalidf("Ingress", ro.Namespace, ing.ref.name, "spec.rules[].http.paths[].backend.service.name",
				"no path goes to the root Service %q", root)
		}
		ing.ann[k] = value
		if err := mark(ing.ann, ro.Name, true, k); err != nil {
			return err
		}
	}
	return r.save(ctx, ings)
}

// UpdateHash has nothing to do: the Services carry the hashes.
func (r *Router) UpdateHash(context.Context, *v1alpha1.Rollout, string, string, []v1alpha1.WeightDestination) error {
	return nil
}

// SetHeaderRoute sends requests whose headers match (exact values; several values of one
// header are alternatives) to the canary: the route's action and conditions annotations and a
// path "/*" to the action, first in each rule, the managed routes' paths ordered as
// managedRoutes. A step without match removes them.
func (r *Router) SetHeaderRoute(ctx context.Context, ro *v1alpha1.Rollout, hr *v1alpha1.SetHeaderRoute) error {
	if hr == nil {
		return nil
	}
	_, tr, _ := common.Canary(ro)
	if err := common.CheckManagedRoute(ro, tr, "setHeaderRoute", hr.Name); err != nil {
		return err
	}
	for i, m := range hr.Match {
		if v := m.HeaderValue; v == nil || v.Prefix != "" || v.Regex != "" {
			return common.Unsupportedf(ro, fmt.Sprintf("spec.strategy.canary.steps[].setHeaderRoute.match[%d].headerValue", i),
				"an ALB header route matches exact values only")
		}
	}
	ings, err := r.load(ctx, ro)
	if err != nil {
		return err
	}
	ak, ck := key(ro, "actions", hr.Name), key(ro, "conditions", hr.Name)
	add := len(hr.Match) > 0
	for _, ing := range ings {
		if add {
			ing.ann[ak], ing.ann[ck] = headerAction(ro), headerConditions(hr.Match)
			ing.spec.addActionPath(hr.Name)
		} else {
			delete(ing.ann, ak)
			delete(ing.ann, ck)
			ing.spec.removeActionPath(hr.Name)
		}
		ing.spec.sortPaths(tr.ManagedRoutes)
		if err := mark(ing.ann, ro.Name, add, ak, ck); err != nil {
			return err
		}
	}
	return r.save(ctx, ings)
}

// SetMirrorRoute is not something an ALB does.
func (r *Router) SetMirrorRoute(_ context.Context, ro *v1alpha1.Rollout, mr *v1alpha1.SetMirrorRoute) error {
	if mr == nil {
		return nil
	}
	return common.Unsupportedf(ro, "spec.strategy.canary.steps[].setMirrorRoute", "an ALB cannot mirror traffic")
}

// RemoveManagedRoutes takes every managed route's annotations and path off the Ingresses.
func (r *Router) RemoveManagedRoutes(ctx context.Context, ro *v1alpha1.Rollout) error {
	_, tr, err := common.Canary(ro)
	if err != nil || len(tr.ManagedRoutes) == 0 {
		return err
	}
	ings, err := r.load(ctx, ro)
	if err != nil {
		return err
	}
	for _, ing := range ings {
		var keys []string
		for _, mr := range tr.ManagedRoutes {
			ak, ck := key(ro, "actions", mr.Name), key(ro, "conditions", mr.Name)
			delete(ing.ann, ak)
			delete(ing.ann, ck)
			keys = append(keys, ak, ck)
			ing.spec.removeActionPath(mr.Name)
		}
		if err := mark(ing.ann, ro.Name, false, keys...); err != nil {
			return err
		}
	}
	return r.save(ctx, ings)
}
