package gatewayapi

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

var requestMirror = string(gatewayv1.HTTPRouteFilterRequestMirror)

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
	return r.editManaged(ctx, ro, "setHeaderRoute", hr.Name, len(hr.Match) > 0, func(src *rule, canary int) (rule, error) {
		out := rule{Filters: withoutMirrors(src.Filters), Timeouts: src.Timeouts}
		for _, m := range matchesOrDefault(src.Matches) {
			m.Headers = upsertHeaders(m.Headers, headers)
			out.Matches = append(out.Matches, m)
		}
		ref := src.BackendRefs[canary]
		ref.Weight = nil
		out.BackendRefs = []backendRef{ref}
		return out, nil
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
	return r.editManaged(ctx, ro, "setMirrorRoute", mr.Name, len(mr.Match) > 0, func(src *rule, canary int) (rule, error) {
		out := rule{Filters: withoutMirrors(src.Filters), Timeouts: src.Timeouts, BackendRefs: slices.Clone(src.BackendRefs)}
		for _, base := range matchesOrDefault(src.Matches) {
			for i, m := range mr.Match {
				cm, err := combineMatch(ro, base, m, i)
				if err != nil {
					return out, err
				}
				out.Matches = append(out.Matches, cm)
			}
		}
		out.Filters = append(out.Filters, filter{Type: requestMirror,
			RequestMirror: &mirrorFilter{BackendRef: src.BackendRefs[canary].object(), Percent: mr.Percentage}})
		return out, nil
	})
}

// editManaged replaces the rules of one managed route in every route with header routes:
// removes them, and when add is set builds one per source rule.
func (r *Router) editManaged(ctx context.Context, ro *v1alpha1.Rollout, step, name string, add bool,
	build func(src *rule, canary int) (rule, error)) error {
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
		var added []rule
		for n, src := range srcs {
			if !add {
				break
			}
			r, err := build(&l.spec.Rules[src.index], src.canary)
			if err != nil {
				return err
			}
			r.Name = ruleName(name, n)
			added = append(added, r)
		}
		l.spec.Rules = arrange(tr, removeRules(tr, l.spec.Rules, name), added)
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
		l.spec.Rules = removeRules(tr, l.spec.Rules, "")
	}
	return r.save(ctx, ls)
}

// removeRules drops the rules of managed route name (every managed route when name is "").
func removeRules(tr *v1alpha1.RolloutTrafficRouting, rules []rule, name string) []rule {
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
func arrange(tr *v1alpha1.RolloutTrafficRouting, rules, added []rule) []rule {
	var user, managed []rule
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

func matchesOrDefault(ms []match) []match {
	if len(ms) == 0 {
		return []match{{}}
	}
	return ms
}

func withoutMirrors(fs []filter) []filter {
	var out []filter
	for _, f := range fs {
		if f.Type != requestMirror {
			out = append(out, f)
		}
	}
	return out
}

// upsertHeaders adds header matches, replacing those with the same name.
func upsertHeaders(have, add []headerMatch) []headerMatch {
	out := have[:0:0]
	for _, h := range have {
		if !slices.ContainsFunc(add, func(a headerMatch) bool { return strings.EqualFold(a.Name, h.Name) }) {
			out = append(out, h)
		}
	}
	return append(out, add...)
}

// toHeaderMatch converts a string match of header name.
func toHeaderMatch(name string, v *v1alpha1.StringMatch) (headerMatch, bool) {
	h := headerMatch{Name: name}
	switch {
	case v == nil:
		return h, false
	case v.Exact != "":
		h.Type, h.Value = ptr.To(string(gatewayv1.HeaderMatchExact)), v.Exact
	case v.Regex != "":
		h.Type, h.Value = ptr.To(string(gatewayv1.HeaderMatchRegularExpression)), v.Regex
	case v.Prefix != "":
		h.Type, h.Value = ptr.To(string(gatewayv1.HeaderMatchRegularExpression)), common.PrefixRegex(v.Prefix)
	default:
		return h, false
	}
	return h, true
}

func headerMatches(ro *v1alpha1.Rollout, ms []v1alpha1.HeaderRoutingMatch) ([]headerMatch, error) {
	var out []headerMatch
	for i, m := range ms {
		h, ok := toHeaderMatch(m.HeaderName, m.HeaderValue)
		if !ok || m.HeaderName == "" {
			return nil, common.RolloutInvalidf(ro, fmt.Sprintf("spec.strategy.canary.steps[].setHeaderRoute.match[%d]", i),
				"a header match needs headerName and one of exact, prefix or regex")
		}
		out = append(out, h)
	}
	return out, nil
}

// pathMatchOf converts a mirror step's path match (nil when it sets none).
func pathMatchOf(p *v1alpha1.StringMatch) *pathMatch {
	var t gatewayv1.PathMatchType
	var v string
	switch {
	case p == nil:
		return nil
	case p.Exact != "":
		t, v = gatewayv1.PathMatchExact, p.Exact
	case p.Prefix != "":
		t, v = gatewayv1.PathMatchPathPrefix, p.Prefix
	case p.Regex != "":
		t, v = gatewayv1.PathMatchRegularExpression, p.Regex
	default:
		return nil
	}
	return &pathMatch{Type: ptr.To(string(t)), Value: ptr.To(v)}
}

// combineMatch narrows a rule's match by a mirror step's match.
func combineMatch(ro *v1alpha1.Rollout, base match, m v1alpha1.RouteMatch, i int) (match, error) {
	field := fmt.Sprintf("spec.strategy.canary.steps[].setMirrorRoute.match[%d]", i)
	out := base
	if p := pathMatchOf(m.Path); p != nil {
		out.Path = p
	}
	if mm := m.Method; mm != nil {
		if mm.Exact == "" {
			return out, common.Unsupportedf(ro, field+".method", "the Gateway API matches methods exactly only")
		}
		out.Method = ptr.To(strings.ToUpper(mm.Exact))
	}
	names := make([]string, 0, len(m.Headers))
	for n := range m.Headers {
		names = append(names, n)
	}
	sort.Strings(names)
	var hs []headerMatch
	for _, n := range names {
		v := m.Headers[n]
		h, ok := toHeaderMatch(n, &v)
		if !ok {
			return out, common.RolloutInvalidf(ro, field+".headers["+n+"]", "set one of exact, prefix or regex")
		}
		hs = append(hs, h)
	}
	out.Headers = upsertHeaders(out.Headers, hs)
	return out, nil
}
