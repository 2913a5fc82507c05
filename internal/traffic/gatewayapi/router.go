package gatewayapi

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// Type is the router's name in conditions and events.
const Type = "GatewayAPI"

// maxRules is the most rules an HTTPRoute may have (the CRD's maxItems).
const maxRules = 16

var httpRouteGVK = gatewayv1.SchemeGroupVersion.WithKind("HTTPRoute")

// Router edits HTTPRoutes.
type Router struct {
	c client.Client
}

// New checks the Rollout's plugin configuration and returns a router that edits HTTPRoutes
// through c. HTTPRoutes are read as unstructured data: c's scheme need not know them.
func New(ro *v1alpha1.Rollout, c client.Client) (*Router, error) {
	if _, err := ParseConfig(ro); err != nil {
		return nil, err
	}
	return &Router{c: c}, nil
}

// Type returns "GatewayAPI".
func (r *Router) Type() string { return Type }

// loaded is an HTTPRoute as read, the copy being changed (its labels) and its spec.
type loaded struct {
	ref  route
	orig *unstructured.Unstructured
	obj  *unstructured.Unstructured
	spec routeSpec
}

func (l *loaded) invalid(field, format string, args ...any) error {
	return common.Invalidf("HTTPRoute", l.orig.GetNamespace(), l.orig.GetName(), field, format, args...)
}

// load reads the configured routes (those only selects); any missing or malformed one is an
// error, before anything is changed.
func (r *Router) load(ctx context.Context, ro *v1alpha1.Rollout, cfg Config, only func(route) bool) ([]*loaded, error) {
	ns := cfg.namespace(ro)
	var out []*loaded
	for _, rt := range cfg.routes() {
		if only != nil && !only(rt) {
			continue
		}
		u, err := common.GetExisting(ctx, r.c, httpRouteGVK, ns, rt.name, rt.field, "the Gateway API CRDs")
		if err != nil {
			return nil, err
		}
		l := &loaded{ref: rt, orig: u, obj: u.DeepCopy()}
		if err := common.ReadMember("HTTPRoute", u, "spec", &l.spec); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// save writes the routes that changed, each with an optimistic lock, once all are checked.
func (r *Router) save(ctx context.Context, ls []*loaded) error {
	var changed []*loaded
	for _, l := range ls {
		if err := common.WriteMember(l.obj, "spec", l.spec); err != nil {
			return err
		}
		if apiequality.Semantic.DeepEqual(l.orig.Object, l.obj.Object) {
			continue
		}
		if n := len(l.spec.Rules); n > maxRules {
			return l.invalid("spec.rules", "would have %d rules with the managed routes; an HTTPRoute holds at most %d", n, maxRules)
		}
		changed = append(changed, l)
	}
	for _, l := range changed {
		if err := common.Patch(ctx, r.c, l.orig, l.obj); err != nil {
			return err
		}
	}
	return nil
}

// services is the rollout's canary and stable Service and their namespace.
type services struct {
	canary, stable, ns string
}

func servicesOf(ro *v1alpha1.Rollout) services {
	c := ro.Spec.Strategy.Canary
	return services{canary: c.CanaryService, stable: c.StableService, ns: ro.Namespace}
}

// refersTo reports whether b is the Service name in namespace ns, seen from a route in routeNS.
func refersTo(b backendRef, routeNS, name, ns string) bool {
	if b.Name != name {
		return false
	}
	if g := ptr.Deref(b.Group, ""); g != "" && g != "core" {
		return false
	}
	if b.Kind != nil && *b.Kind != "Service" {
		return false
	}
	refNS := routeNS
	if b.Namespace != nil && *b.Namespace != "" {
		refNS = *b.Namespace
	}
	return refNS == ns
}

func findRef(refs []backendRef, routeNS, name, ns string) int {
	for i := range refs {
		if refersTo(refs[i], routeNS, name, ns) {
			return i
		}
	}
	return -1
}

var managedSuffix = regexp.MustCompile(`^-[0-9]+$`)

// managedRoute returns the managed route a rule belongs to (by its name: the managed route's
// name, or that name and "-<n>" for the rules copied from the route's further rules) and
// that number.
func managedRoute(tr *v1alpha1.RolloutTrafficRouting, r *rule) (name string, n int, ok bool) {
	if r.Name == nil {
		return "", 0, false
	}
	rn := *r.Name
	for _, m := range tr.ManagedRoutes {
		if rn == m.Name {
			return m.Name, 0, true
		}
		if rest, found := strings.CutPrefix(rn, m.Name); found && managedSuffix.MatchString(rest) {
			n, _ := strconv.Atoi(rest[1:])
			return m.Name, n, true
		}
	}
	return "", 0, false
}

func ruleName(managed string, n int) *string {
	if n == 0 {
		return ptr.To(managed)
	}
	return ptr.To(fmt.Sprintf("%s-%d", managed, n))
}

// source is a user rule that splits traffic between the canary and the stable Service.
type source struct {
	index          int
	canary, stable int
}

// sources lists the user rules (not managed ones) with backendRefs to both Services. None is
// an error naming the route and, when there is one, the rule that lacks the canary or the
// stable Service.
func sources(l *loaded, tr *v1alpha1.RolloutTrafficRouting, s services) ([]source, error) {
	var out []source
	partial := -1
	ns := l.orig.GetNamespace()
	for i := range l.spec.Rules {
		r := &l.spec.Rules[i]
		if _, _, ok := managedRoute(tr, r); ok {
			continue
		}
		ci := findRef(r.BackendRefs, ns, s.canary, s.ns)
		si := findRef(r.BackendRefs, ns, s.stable, s.ns)
		switch {
		case ci >= 0 && si >= 0:
			out = append(out, source{index: i, canary: ci, stable: si})
		case (ci >= 0 || si >= 0) && partial < 0:
			partial = i
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	if partial >= 0 {
		missing, present := s.canary, s.stable
		if findRef(l.spec.Rules[partial].BackendRefs, ns, s.canary, s.ns) >= 0 {
			missing, present = s.stable, s.canary
		}
		return nil, l.invalid(fmt.Sprintf("spec.rules[%d].backendRefs", partial),
			"has a backendRef to Service %q but none to Service %q; a rule must route to both the canary and the stable Service", present, missing)
	}
	return nil, l.invalid("spec.rules[].backendRefs",
		"no rule has backendRefs to both the canary Service %q and the stable Service %q (namespace %q)", s.canary, s.stable, s.ns)
}

// SetWeight sends weight (out of maxTrafficWeight) to the canary Service, their weights to the
// additional destinations (an Experiment's Services) and the rest to the stable Service, in
// every rule of every configured route that routes to both, including the managed mirror
// rules. The additional destinations status.canary.weights recorded that are no longer given
// are taken out of those rules, as Argo's Gateway API plugin does; one whose Service does not
// exist (any more) is left out, as the plugin skips it.
func (r *Router) SetWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, additional []v1alpha1.WeightDestination) error {
	cfg, err := ParseConfig(ro)
	if err != nil {
		return err
	}
	_, tr, _ := common.Canary(ro)
	s := servicesOf(ro)
	add, ports, err := r.destinations(ctx, ro, additional)
	if err != nil {
		return err
	}
	x := weighing{w: common.Split(ro, weight, add), ports: ports, stale: staleDestinations(ro, add)}
	ls, err := r.load(ctx, ro, cfg, nil)
	if err != nil {
		return err
	}
	for _, l := range ls {
		if _, err := sources(l, tr, s); err != nil {
			return err
		}
		for i := range l.spec.Rules {
			x.weigh(&l.spec.Rules[i], l.orig.GetNamespace(), s)
		}
		if key, value, ok := cfg.inProgressLabel(); ok {
			setLabel(l.obj, key, value, x.w.Canary > 0 || x.w.Stable < x.w.Total)
		}
	}
	return r.save(ctx, ls)
}

// destinations returns the additional destinations whose Service exists, with the port a new
// backendRef to each takes: the Service's port named "http", else its first (Argo's Gateway
// API plugin's choice).
func (r *Router) destinations(ctx context.Context, ro *v1alpha1.Rollout, additional []v1alpha1.WeightDestination) (
	[]v1alpha1.WeightDestination, map[string]*int32, error) {
	var out []v1alpha1.WeightDestination
	ports := map[string]*int32{}
	for _, a := range additional {
		svc := &corev1.Service{}
		err := r.c.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: a.ServiceName}, svc)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading Service %s/%s: %w", ro.Namespace, a.ServiceName, err)
		}
		out = append(out, a)
		for i, p := range svc.Spec.Ports {
			if p.Name == "http" || i == 0 {
				ports[a.ServiceName] = ptr.To(p.Port)
			}
			if p.Name == "http" {
				break
			}
		}
	}
	return out, ports, nil
}

// staleDestinations are the Services of the additional destinations status.canary.weights
// recorded that add no longer has (never the canary or the stable Service).
func staleDestinations(ro *v1alpha1.Rollout, add []v1alpha1.WeightDestination) map[string]bool {
	out := map[string]bool{}
	if w := ro.Status.Canary.Weights; w != nil {
		for _, a := range w.Additional {
			out[a.ServiceName] = true
		}
	}
	for _, a := range add {
		delete(out, a.ServiceName)
	}
	s := servicesOf(ro)
	delete(out, s.canary)
	delete(out, s.stable)
	return out
}

// weighing is what SetWeight writes into each rule: the weights, the ports of new additional
// backendRefs, and the additional destinations to take out.
type weighing struct {
	w     common.Weights
	ports map[string]*int32
	stale map[string]bool
}

// weigh sets the weights of a rule that routes to both Services (others are left alone): the
// canary's, the stable's and the additional destinations' (a new one copies the canary's
// backendRef, with its Service's port), and takes the stale destinations out.
func (x weighing) weigh(r *rule, routeNS string, s services) {
	ci := findRef(r.BackendRefs, routeNS, s.canary, s.ns)
	si := findRef(r.BackendRefs, routeNS, s.stable, s.ns)
	if ci < 0 || si < 0 {
		return
	}
	r.BackendRefs[ci].Weight = ptr.To(x.w.Canary)
	r.BackendRefs[si].Weight = ptr.To(x.w.Stable)
	r.BackendRefs = slices.DeleteFunc(r.BackendRefs, func(b backendRef) bool {
		return x.stale[b.Name] && refersTo(b, routeNS, b.Name, s.ns)
	})
	ci = findRef(r.BackendRefs, routeNS, s.canary, s.ns)
	for _, a := range x.w.Additional {
		if ai := findRef(r.BackendRefs, routeNS, a.ServiceName, s.ns); ai >= 0 {
			r.BackendRefs[ai].Weight = ptr.To(a.Weight)
			continue
		}
		extra := r.BackendRefs[ci]
		extra.Name, extra.Weight = a.ServiceName, ptr.To(a.Weight)
		if p := x.ports[a.ServiceName]; p != nil {
			extra.Port = p
		}
		r.BackendRefs = append(r.BackendRefs, extra)
	}
}

// setLabel puts label key=value on obj, or takes it off.
func setLabel(obj *unstructured.Unstructured, key, value string, on bool) {
	labels := obj.GetLabels()
	if _, has := labels[key]; (!on && !has) || (on && labels[key] == value) {
		return
	}
	if on {
		if labels == nil {
			labels = map[string]string{}
		}
		labels[key] = value
	} else {
		delete(labels, key)
	}
	if len(labels) == 0 {
		labels = nil
	}
	obj.SetLabels(labels)
}

// VerifyWeight reports whether every configured route carries the weights and, where a
// Gateway controller reports on the route, whether each one has accepted this generation of it
// with its references resolved. Routes no controller reports on are judged by their spec.
func (r *Router) VerifyWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, additional []v1alpha1.WeightDestination) (bool, error) {
	cfg, err := ParseConfig(ro)
	if err != nil {
		return false, err
	}
	_, tr, _ := common.Canary(ro)
	s := servicesOf(ro)
	w := common.Split(ro, weight, additional)
	ls, err := r.load(ctx, ro, cfg, nil)
	if err != nil {
		return false, err
	}
	for _, l := range ls {
		srcs, err := sources(l, tr, s)
		if err != nil {
			return false, err
		}
		for _, src := range srcs {
			if !weighs(l.spec.Rules[src.index].BackendRefs, src, l.orig.GetNamespace(), s, w) {
				return false, nil
			}
		}
		if ok, err := accepted(l.orig); !ok || err != nil {
			return false, err
		}
	}
	return true, nil
}

// weighs reports whether the backendRefs of a source rule carry the weights (a backendRef
// without a weight has 1).
func weighs(refs []backendRef, src source, routeNS string, s services, w common.Weights) bool {
	if ptr.Deref(refs[src.canary].Weight, 1) != w.Canary || ptr.Deref(refs[src.stable].Weight, 1) != w.Stable {
		return false
	}
	for _, a := range w.Additional {
		ai := findRef(refs, routeNS, a.ServiceName, s.ns)
		if ai < 0 || ptr.Deref(refs[ai].Weight, 1) != a.Weight {
			return false
		}
	}
	return true
}

// accepted reports whether every parent status a controller wrote accepts the route's current
// generation with resolved references.
func accepted(hr *unstructured.Unstructured) (bool, error) {
	var st routeStatus
	if err := common.ReadMember("HTTPRoute", hr, "status", &st); err != nil {
		return false, err
	}
	for _, p := range st.Parents {
		for _, t := range []gatewayv1.RouteConditionType{gatewayv1.RouteConditionAccepted, gatewayv1.RouteConditionResolvedRefs} {
			c := findCondition(p.Conditions, string(t))
			if c == nil {
				if t == gatewayv1.RouteConditionAccepted {
					return false, nil
				}
				continue
			}
			if c.ObservedGeneration < hr.GetGeneration() || c.Status != "True" {
				return false, nil
			}
		}
	}
	return true, nil
}

func findCondition(cs []condition, t string) *condition {
	for i := range cs {
		if cs[i].Type == t {
			return &cs[i]
		}
	}
	return nil
}

// UpdateHash has nothing to do: the Services carry the hashes.
func (r *Router) UpdateHash(context.Context, *v1alpha1.Rollout, string, string, []v1alpha1.WeightDestination) error {
	return nil
}
