package gatewayapi

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// Router edits HTTPRoutes.
type Router struct {
	c client.Client
}

// New checks the Rollout's plugin configuration and returns a router that edits HTTPRoutes
// through c, whose scheme must know gateway.networking.k8s.io/v1.
func New(ro *v1alpha1.Rollout, c client.Client) (*Router, error) {
	if _, err := ParseConfig(ro); err != nil {
		return nil, err
	}
	if !c.Scheme().Recognizes(gatewayv1.SchemeGroupVersion.WithKind("HTTPRoute")) {
		return nil, fmt.Errorf("the client's scheme does not know %s HTTPRoute (add it with traffic.AddToScheme)", gatewayv1.SchemeGroupVersion)
	}
	return &Router{c: c}, nil
}

// Type returns "GatewayAPI".
func (r *Router) Type() string { return Type }

// loaded is an HTTPRoute as read, and the copy being changed.
type loaded struct {
	ref  route
	orig *gatewayv1.HTTPRoute
	obj  *gatewayv1.HTTPRoute
}

func (l *loaded) invalid(field, format string, args ...any) error {
	return common.Invalidf("HTTPRoute", l.obj.Namespace, l.obj.Name, field, format, args...)
}

// load reads the configured routes (those only selects); any missing one is an error, before
// anything is changed.
func (r *Router) load(ctx context.Context, ro *v1alpha1.Rollout, cfg Config, only func(route) bool) ([]*loaded, error) {
	ns := cfg.namespace(ro)
	var out []*loaded
	for _, rt := range cfg.routes() {
		if only != nil && !only(rt) {
			continue
		}
		hr := &gatewayv1.HTTPRoute{}
		err := r.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: rt.name}, hr)
		switch {
		case apierrors.IsNotFound(err):
			return nil, common.Missing("HTTPRoute", ns, rt.name, rt.field)
		case meta.IsNoMatchError(err):
			e := common.Missing("HTTPRoute", ns, rt.name, rt.field)
			e.Message = "the API server does not serve HTTPRoutes (gateway.networking.k8s.io/v1): install the Gateway API CRDs"
			return nil, e
		case err != nil:
			return nil, fmt.Errorf("reading HTTPRoute %s/%s: %w", ns, rt.name, err)
		}
		out = append(out, &loaded{ref: rt, orig: hr, obj: hr.DeepCopy()})
	}
	return out, nil
}

// save writes the routes that changed, each with an optimistic lock.
func (r *Router) save(ctx context.Context, ls []*loaded) error {
	for _, l := range ls {
		if apiequality.Semantic.DeepEqual(l.orig, l.obj) {
			continue
		}
		if n := len(l.obj.Spec.Rules); n > maxRules {
			return l.invalid("spec.rules", "would have %d rules with the managed routes; an HTTPRoute holds at most %d", n, maxRules)
		}
		patch := client.MergeFromWithOptions(l.orig, client.MergeFromWithOptimisticLock{})
		if err := r.c.Patch(ctx, l.obj, patch); err != nil {
			if apierrors.IsInvalid(err) {
				return l.invalid("spec", "the API server refused the change: %v", err)
			}
			return fmt.Errorf("updating HTTPRoute %s/%s: %w", l.obj.Namespace, l.obj.Name, err)
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
func refersTo(b gatewayv1.BackendObjectReference, routeNS, name, ns string) bool {
	if string(b.Name) != name {
		return false
	}
	if b.Group != nil && *b.Group != "" && *b.Group != "core" {
		return false
	}
	if b.Kind != nil && *b.Kind != "Service" {
		return false
	}
	refNS := routeNS
	if b.Namespace != nil && *b.Namespace != "" {
		refNS = string(*b.Namespace)
	}
	return refNS == ns
}

func findRef(refs []gatewayv1.HTTPBackendRef, routeNS, name, ns string) int {
	for i := range refs {
		if refersTo(refs[i].BackendObjectReference, routeNS, name, ns) {
			return i
		}
	}
	return -1
}

var managedSuffix = regexp.MustCompile(`^-[0-9]+$`)

// managedRoute returns the managed route a rule belongs to (by its name: the managed route's
// name, or that name and "-<n>" for the rules copied from the route's further rules) and
// that number.
func managedRoute(tr *v1alpha1.RolloutTrafficRouting, rule *gatewayv1.HTTPRouteRule) (name string, n int, ok bool) {
	if rule.Name == nil {
		return "", 0, false
	}
	rn := string(*rule.Name)
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

func ruleName(managed string, n int) *gatewayv1.SectionName {
	if n == 0 {
		return ptr.To(gatewayv1.SectionName(managed))
	}
	return ptr.To(gatewayv1.SectionName(fmt.Sprintf("%s-%d", managed, n)))
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
	for i := range l.obj.Spec.Rules {
		rule := &l.obj.Spec.Rules[i]
		if _, _, ok := managedRoute(tr, rule); ok {
			continue
		}
		ci := findRef(rule.BackendRefs, l.obj.Namespace, s.canary, s.ns)
		si := findRef(rule.BackendRefs, l.obj.Namespace, s.stable, s.ns)
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
		rule := &l.obj.Spec.Rules[partial]
		missing, present := s.canary, s.stable
		if findRef(rule.BackendRefs, l.obj.Namespace, s.canary, s.ns) >= 0 {
			missing, present = s.stable, s.canary
		}
		return nil, l.invalid(fmt.Sprintf("spec.rules[%d].backendRefs", partial),
			"has a backendRef to Service %q but none to Service %q; a rule must route to both the canary and the stable Service", present, missing)
	}
	return nil, l.invalid("spec.rules[].backendRefs",
		"no rule has backendRefs to both the canary Service %q and the stable Service %q (namespace %q)", s.canary, s.stable, s.ns)
}

// SetWeight sends weight (out of maxTrafficWeight) to the canary Service and the rest to the
// stable Service (less the additional destinations) in every rule of every configured route
// that routes to both, including the managed mirror rules.
func (r *Router) SetWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, additional []v1alpha1.WeightDestination) error {
	cfg, err := ParseConfig(ro)
	if err != nil {
		return err
	}
	_, tr, _ := common.Canary(ro)
	s := servicesOf(ro)
	w := common.Split(ro, weight, additional)
	ls, err := r.load(ctx, ro, cfg, nil)
	if err != nil {
		return err
	}
	for _, l := range ls {
		if _, err := sources(l, tr, s); err != nil {
			return err
		}
		for i := range l.obj.Spec.Rules {
			rule := &l.obj.Spec.Rules[i]
			ci := findRef(rule.BackendRefs, l.obj.Namespace, s.canary, s.ns)
			si := findRef(rule.BackendRefs, l.obj.Namespace, s.stable, s.ns)
			if ci < 0 || si < 0 {
				continue
			}
			rule.BackendRefs[ci].Weight = ptr.To(w.Canary)
			rule.BackendRefs[si].Weight = ptr.To(w.Stable)
			for _, a := range w.Additional {
				if ai := findRef(rule.BackendRefs, l.obj.Namespace, a.ServiceName, s.ns); ai >= 0 {
					rule.BackendRefs[ai].Weight = ptr.To(a.Weight)
					continue
				}
				extra := rule.BackendRefs[ci].DeepCopy()
				extra.Name = gatewayv1.ObjectName(a.ServiceName)
				extra.Weight = ptr.To(a.Weight)
				rule.BackendRefs = append(rule.BackendRefs, *extra)
			}
		}
		if key, value, ok := cfg.inProgressLabel(); ok {
			if w.Canary > 0 || w.Stable < w.Total {
				metav1.SetMetaDataLabel(&l.obj.ObjectMeta, key, value)
			} else {
				delete(l.obj.Labels, key)
			}
		}
	}
	return r.save(ctx, ls)
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
			refs := l.obj.Spec.Rules[src.index].BackendRefs
			if ptr.Deref(refs[src.canary].Weight, 1) != w.Canary || ptr.Deref(refs[src.stable].Weight, 1) != w.Stable {
				return false, nil
			}
			for _, a := range w.Additional {
				ai := findRef(refs, l.obj.Namespace, a.ServiceName, s.ns)
				if ai < 0 || ptr.Deref(refs[ai].Weight, 1) != a.Weight {
					return false, nil
				}
			}
		}
		if !accepted(l.obj) {
			return false, nil
		}
	}
	return true, nil
}

// accepted reports whether every parent status a controller wrote accepts the route's current
// generation with resolved references.
func accepted(hr *gatewayv1.HTTPRoute) bool {
	for _, p := range hr.Status.Parents {
		for _, t := range []gatewayv1.RouteConditionType{gatewayv1.RouteConditionAccepted, gatewayv1.RouteConditionResolvedRefs} {
			c := meta.FindStatusCondition(p.Conditions, string(t))
			if c == nil {
				if t == gatewayv1.RouteConditionAccepted {
					return false
				}
				continue
			}
			if c.ObservedGeneration < hr.Generation || c.Status != metav1.ConditionTrue {
				return false
			}
		}
	}
	return true
}

// UpdateHash has nothing to do: the Services carry the hashes.
func (r *Router) UpdateHash(context.Context, *v1alpha1.Rollout, string, string, []v1alpha1.WeightDestination) error {
	return nil
}

// SetHeaderRoute adds, for each rule that splits traffic in the routes with header routes, a
// rule named after the managed route that sends requests with the step's headers (and the
// rule's own matches) to the canary Service only. A step without match removes those rules.
func (r *Router) SetHeaderRoute(ctx context.Context, ro *v1alpha1.Rollout, hr *v1alpha1.SetHeaderRoute) error {
	if hr == nil {
		return nil
	}
	headers, err := headerMatches(ro, hr.Match)
	if err != nil {
		return err
	}
	return r.editManaged(ctx, ro, "setHeaderRoute", hr.Name, len(hr.Match) > 0, func(l *loaded, src *gatewayv1.HTTPRouteRule, canary int) (gatewayv1.HTTPRouteRule, error) {
		rule := gatewayv1.HTTPRouteRule{Filters: withoutMirrors(src.Filters), Timeouts: src.Timeouts.DeepCopy()}
		for _, m := range matchesOrDefault(src.Matches) {
			m = *m.DeepCopy()
			m.Headers = upsertHeaders(m.Headers, headers)
			rule.Matches = append(rule.Matches, m)
		}
		ref := src.BackendRefs[canary].DeepCopy()
		ref.Weight = nil
		rule.BackendRefs = []gatewayv1.HTTPBackendRef{*ref}
		return rule, nil
	})
}

// SetMirrorRoute adds, for each rule that splits traffic in the routes with header routes, a
// rule named after the managed route that matches the step's requests (within the rule's own
// matches), routes them as the rule does, and mirrors percentage of them to the canary
// Service. A step without match removes those rules.
func (r *Router) SetMirrorRoute(ctx context.Context, ro *v1alpha1.Rollout, mr *v1alpha1.SetMirrorRoute) error {
	if mr == nil {
		return nil
	}
	return r.editManaged(ctx, ro, "setMirrorRoute", mr.Name, len(mr.Match) > 0, func(l *loaded, src *gatewayv1.HTTPRouteRule, canary int) (gatewayv1.HTTPRouteRule, error) {
		rule := gatewayv1.HTTPRouteRule{Filters: withoutMirrors(src.Filters), Timeouts: src.Timeouts.DeepCopy()}
		for _, base := range matchesOrDefault(src.Matches) {
			for i, m := range mr.Match {
				cm, err := combineMatch(ro, base, m, i)
				if err != nil {
					return rule, err
				}
				rule.Matches = append(rule.Matches, cm)
			}
		}
		for _, ref := range src.BackendRefs {
			rule.BackendRefs = append(rule.BackendRefs, *ref.DeepCopy())
		}
		rule.Filters = append(rule.Filters, gatewayv1.HTTPRouteFilter{
			Type: gatewayv1.HTTPRouteFilterRequestMirror,
			RequestMirror: &gatewayv1.HTTPRequestMirrorFilter{
				BackendRef: *src.BackendRefs[canary].BackendObjectReference.DeepCopy(),
				Percent:    mr.Percentage,
			},
		})
		return rule, nil
	})
}

// editManaged replaces the rules of one managed route in every route with header routes:
// removes them, and when add is set builds one per source rule.
func (r *Router) editManaged(ctx context.Context, ro *v1alpha1.Rollout, step, name string, add bool,
	build func(l *loaded, src *gatewayv1.HTTPRouteRule, canary int) (gatewayv1.HTTPRouteRule, error)) error {
	cfg, err := ParseConfig(ro)
	if err != nil {
		return err
	}
	_, tr, _ := common.Canary(ro)
	if err := common.CheckManagedRoute(ro, tr, step, name); err != nil {
		return err
	}
	ls, err := r.load(ctx, ro, cfg, func(rt route) bool { return rt.headers })
	if err != nil {
		return err
	}
	if len(ls) == 0 {
		return common.RolloutInvalidf(ro, configPath+".httpRoutes[].useHeaderRoutes",
			"%s needs a route with useHeaderRoutes: true", step)
	}
	s := servicesOf(ro)
	for _, l := range ls {
		srcs, err := sources(l, tr, s)
		if err != nil {
			return err
		}
		var added []gatewayv1.HTTPRouteRule
		if add {
			for n, src := range srcs {
				rule, err := build(l, &l.obj.Spec.Rules[src.index], src.canary)
				if err != nil {
					return err
				}
				rule.Name = ruleName(name, n)
				added = append(added, rule)
			}
		}
		l.obj.Spec.Rules = arrange(tr, removeRules(tr, l.obj.Spec.Rules, name), added)
	}
	return r.save(ctx, ls)
}

// RemoveManagedRoutes removes the rules of every managed route from every configured route.
func (r *Router) RemoveManagedRoutes(ctx context.Context, ro *v1alpha1.Rollout) error {
	cfg, err := ParseConfig(ro)
	if err != nil {
		return err
	}
	_, tr, _ := common.Canary(ro)
	ls, err := r.load(ctx, ro, cfg, nil)
	if err != nil {
		return err
	}
	for _, l := range ls {
		l.obj.Spec.Rules = removeRules(tr, l.obj.Spec.Rules, "")
	}
	return r.save(ctx, ls)
}

// removeRules drops the rules of managed route name (every managed route when name is "").
func removeRules(tr *v1alpha1.RolloutTrafficRouting, rules []gatewayv1.HTTPRouteRule, name string) []gatewayv1.HTTPRouteRule {
	out := rules[:0:0]
	for i := range rules {
		if m, _, ok := managedRoute(tr, &rules[i]); ok && (name == "" || m == name) {
			continue
		}
		out = append(out, rules[i])
	}
	return out
}

// arrange keeps the user's rules first, in their order, then the managed rules in the order of
// trafficRouting.managedRoutes.
func arrange(tr *v1alpha1.RolloutTrafficRouting, rules, added []gatewayv1.HTTPRouteRule) []gatewayv1.HTTPRouteRule {
	var user, managed []gatewayv1.HTTPRouteRule
	for _, r := range append(rules, added...) {
		if _, _, ok := managedRoute(tr, &r); ok {
			managed = append(managed, r)
		} else {
			user = append(user, r)
		}
	}
	sort.SliceStable(managed, func(i, j int) bool {
		ni, ki, _ := managedRoute(tr, &managed[i])
		nj, kj, _ := managedRoute(tr, &managed[j])
		if ni != nj {
			return common.ManagedRouteIndex(tr, ni) < common.ManagedRouteIndex(tr, nj)
		}
		return ki < kj
	})
	return append(user, managed...)
}

func matchesOrDefault(ms []gatewayv1.HTTPRouteMatch) []gatewayv1.HTTPRouteMatch {
	if len(ms) == 0 {
		return []gatewayv1.HTTPRouteMatch{{}}
	}
	return ms
}

func withoutMirrors(fs []gatewayv1.HTTPRouteFilter) []gatewayv1.HTTPRouteFilter {
	var out []gatewayv1.HTTPRouteFilter
	for _, f := range fs {
		if f.Type != gatewayv1.HTTPRouteFilterRequestMirror {
			out = append(out, *f.DeepCopy())
		}
	}
	return out
}

// upsertHeaders adds header matches, replacing those with the same name.
func upsertHeaders(have, add []gatewayv1.HTTPHeaderMatch) []gatewayv1.HTTPHeaderMatch {
	out := have[:0:0]
	for _, h := range have {
		replaced := false
		for _, a := range add {
			if strings.EqualFold(string(a.Name), string(h.Name)) {
				replaced = true
			}
		}
		if !replaced {
			out = append(out, h)
		}
	}
	return append(out, add...)
}

// headerMatch converts a string match of header name.
func headerMatch(name string, v *v1alpha1.StringMatch) (gatewayv1.HTTPHeaderMatch, bool) {
	h := gatewayv1.HTTPHeaderMatch{Name: gatewayv1.HTTPHeaderName(name)}
	switch {
	case v == nil:
		return h, false
	case v.Exact != "":
		h.Type, h.Value = ptr.To(gatewayv1.HeaderMatchExact), v.Exact
	case v.Regex != "":
		h.Type, h.Value = ptr.To(gatewayv1.HeaderMatchRegularExpression), v.Regex
	case v.Prefix != "":
		h.Type, h.Value = ptr.To(gatewayv1.HeaderMatchRegularExpression), common.PrefixRegex(v.Prefix)
	default:
		return h, false
	}
	return h, true
}

func headerMatches(ro *v1alpha1.Rollout, ms []v1alpha1.HeaderRoutingMatch) ([]gatewayv1.HTTPHeaderMatch, error) {
	var out []gatewayv1.HTTPHeaderMatch
	for i, m := range ms {
		h, ok := headerMatch(m.HeaderName, m.HeaderValue)
		if !ok || m.HeaderName == "" {
			return nil, common.RolloutInvalidf(ro, fmt.Sprintf("spec.strategy.canary.steps[].setHeaderRoute.match[%d]", i),
				"a header match needs headerName and one of exact, prefix or regex")
		}
		out = append(out, h)
	}
	return out, nil
}

// combineMatch narrows a rule's match by a mirror step's match.
func combineMatch(ro *v1alpha1.Rollout, base gatewayv1.HTTPRouteMatch, m v1alpha1.RouteMatch, i int) (gatewayv1.HTTPRouteMatch, error) {
	field := fmt.Sprintf("spec.strategy.canary.steps[].setMirrorRoute.match[%d]", i)
	out := *base.DeepCopy()
	if p := m.Path; p != nil {
		switch {
		case p.Exact != "":
			out.Path = &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchExact), Value: ptr.To(p.Exact)}
		case p.Prefix != "":
			out.Path = &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To(p.Prefix)}
		case p.Regex != "":
			out.Path = &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchRegularExpression), Value: ptr.To(p.Regex)}
		}
	}
	if mm := m.Method; mm != nil {
		if mm.Exact == "" {
			return out, common.Unsupportedf(ro, field+".method", "the Gateway API matches methods exactly only")
		}
		out.Method = ptr.To(gatewayv1.HTTPMethod(strings.ToUpper(mm.Exact)))
	}
	names := make([]string, 0, len(m.Headers))
	for n := range m.Headers {
		names = append(names, n)
	}
	sort.Strings(names)
	var hs []gatewayv1.HTTPHeaderMatch
	for _, n := range names {
		v := m.Headers[n]
		h, ok := headerMatch(n, &v)
		if !ok {
			return out, common.RolloutInvalidf(ro, field+".headers["+n+"]", "set one of exact, prefix or regex")
		}
		hs = append(hs, h)
	}
	out.Headers = upsertHeaders(out.Headers, hs)
	return out, nil
}
