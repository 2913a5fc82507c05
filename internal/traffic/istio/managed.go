package istio

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// httpTargets are the VirtualServices that get managed routes (those with HTTP routes to
// split) and the destinations of the first weighted HTTP route of each, which the managed
// routes use.
func (r *Router) httpTargets(ctx context.Context, ro *v1alpha1.Rollout, tr *v1alpha1.RolloutTrafficRouting) ([]*loadedVS, [][]weighted, error) {
	ls, err := r.loadAll(ctx, ro)
	if err != nil {
		return nil, nil, err
	}
	rl := rolesOf(ro)
	var outL []*loadedVS
	var outD [][]weighted
	for _, l := range ls {
		ts, err := targets(l, tr)
		if err != nil {
			return nil, nil, err
		}
		i := slices.IndexFunc(ts, func(t routeRef) bool { return t.kind == "http" })
		if i < 0 {
			continue
		}
		ds := *l.spec.route(ts[i])
		if err := rl.check(l, ds, ts[i].field()); err != nil {
			return nil, nil, err
		}
		outL, outD = append(outL, l), append(outD, ds)
	}
	if len(outL) == 0 {
		return nil, nil, common.RolloutInvalidf(ro, istioPath, "header and mirror routes need a VirtualService with an HTTP route to split")
	}
	return outL, outD, nil
}

// putManaged replaces managed route name in a VirtualService (removes it when route is nil)
// and keeps the managed routes first, in the order of trafficRouting.managedRoutes.
func putManaged(l *loadedVS, tr *v1alpha1.RolloutTrafficRouting, name string, route *httpRoute) {
	var managed, rest []httpRoute
	for _, h := range l.spec.HTTP {
		switch {
		case h.Name == name:
		case isManaged(tr, h.Name):
			managed = append(managed, h)
		default:
			rest = append(rest, h)
		}
	}
	if route != nil {
		managed = append(managed, *route)
	}
	sort.SliceStable(managed, func(i, j int) bool {
		return common.ManagedRouteIndex(tr, managed[i].Name) < common.ManagedRouteIndex(tr, managed[j].Name)
	})
	l.spec.HTTP = append(managed, rest...)
}

// toStringMatch converts a step's string match (exact, then prefix, then regex).
func toStringMatch(m *v1alpha1.StringMatch) (stringMatch, bool) {
	switch {
	case m == nil:
		return stringMatch{}, false
	case m.Exact != "":
		return stringMatch{Exact: m.Exact}, true
	case m.Prefix != "":
		return stringMatch{Prefix: m.Prefix}, true
	case m.Regex != "":
		return stringMatch{Regex: m.Regex}, true
	}
	return stringMatch{}, false
}

// managedRouting returns the Rollout's traffic routing, once name (of a step) is one of its
// managed routes.
func managedRouting(ro *v1alpha1.Rollout, step, name string) (*v1alpha1.RolloutTrafficRouting, error) {
	_, tr, err := common.Canary(ro)
	if err != nil {
		return nil, err
	}
	return tr, common.CheckManagedRoute(ro, tr, step, name)
}

// putEverywhere puts managed route name into every VirtualService with an HTTP route to split,
// made by build from the destinations of that route (canary: the index of the canary one), or
// removes it when add is false.
func (r *Router) putEverywhere(ctx context.Context, ro *v1alpha1.Rollout, tr *v1alpha1.RolloutTrafficRouting, name string, add bool,
	build func(ds []weighted, canary int) httpRoute) error {
	ls, dests, err := r.httpTargets(ctx, ro, tr)
	if err != nil {
		return err
	}
	rl := rolesOf(ro)
	for i, l := range ls {
		var route *httpRoute
		if add {
			rt := build(dests[i], rl.find(dests[i], "canary"))
			rt.Name = name
			route = &rt
		}
		putManaged(l, tr, name, route)
	}
	return r.saveAll(ctx, ls)
}

// headerMatches converts a header step's matches.
func headerMatches(ro *v1alpha1.Rollout, ms []v1alpha1.HeaderRoutingMatch) (map[string]stringMatch, error) {
	headers := map[string]stringMatch{}
	for i, m := range ms {
		sm, ok := toStringMatch(m.HeaderValue)
		if !ok || m.HeaderName == "" {
			return nil, common.RolloutInvalidf(ro, fmt.Sprintf("spec.strategy.canary.steps[].setHeaderRoute.match[%d]", i),
				"a header match needs headerName and one of exact, prefix or regex")
		}
		headers[m.HeaderName] = sm
	}
	return headers, nil
}

// SetHeaderRoute puts an HTTP route named after the managed route at the top of each
// VirtualService: requests with all the step's headers go to the canary destination. A step
// without match removes it.
func (r *Router) SetHeaderRoute(ctx context.Context, ro *v1alpha1.Rollout, hr *v1alpha1.SetHeaderRoute) error {
	if hr == nil {
		return nil
	}
	tr, err := managedRouting(ro, "setHeaderRoute", hr.Name)
	if err != nil {
		return err
	}
	headers, err := headerMatches(ro, hr.Match)
	if err != nil {
		return err
	}
	return r.putEverywhere(ctx, ro, tr, hr.Name, len(hr.Match) > 0, func(ds []weighted, canary int) httpRoute {
		c := ds[canary]
		c.Weight = nil
		return httpRoute{Match: []httpMatch{{Headers: headers}}, Route: []weighted{c}}
	})
}

// mirrorMatches converts a mirror step's matches.
func mirrorMatches(ro *v1alpha1.Rollout, ms []v1alpha1.RouteMatch) ([]httpMatch, error) {
	var out []httpMatch
	for i, m := range ms {
		field := fmt.Sprintf("spec.strategy.canary.steps[].setMirrorRoute.match[%d]", i)
		var hm httpMatch
		for _, s := range []struct {
			from *v1alpha1.StringMatch
			to   **stringMatch
			name string
		}{{m.Method, &hm.Method, ".method"}, {m.Path, &hm.URI, ".path"}} {
			if s.from == nil {
				continue
			}
			sm, ok := toStringMatch(s.from)
			if !ok {
				return nil, common.RolloutInvalidf(ro, field+s.name, "set one of exact, prefix or regex")
			}
			*s.to = &sm
		}
		names := make([]string, 0, len(m.Headers))
		for name := range m.Headers {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			v := m.Headers[name]
			sm, ok := toStringMatch(&v)
			if !ok {
				return nil, common.RolloutInvalidf(ro, field+".headers["+name+"]", "set one of exact, prefix or regex")
			}
			if hm.Headers == nil {
				hm.Headers = map[string]stringMatch{}
			}
			hm.Headers[name] = sm
		}
		out = append(out, hm)
	}
	return out, nil
}

// SetMirrorRoute puts an HTTP route named after the managed route at the top of each
// VirtualService: the step's requests are routed as the weighted route routes them, and
// percentage of them are mirrored to the canary. A step without match removes it.
func (r *Router) SetMirrorRoute(ctx context.Context, ro *v1alpha1.Rollout, mr *v1alpha1.SetMirrorRoute) error {
	if mr == nil {
		return nil
	}
	tr, err := managedRouting(ro, "setMirrorRoute", mr.Name)
	if err != nil {
		return err
	}
	matches, err := mirrorMatches(ro, mr.Match)
	if err != nil {
		return err
	}
	return r.putEverywhere(ctx, ro, tr, mr.Name, len(mr.Match) > 0, func(ds []weighted, canary int) httpRoute {
		mirror := ds[canary].Destination
		route := httpRoute{Match: matches, Route: slices.Clone(ds), Mirror: &mirror}
		if mr.Percentage != nil {
			route.MirrorPercentage = &percent{Value: float64(*mr.Percentage)}
		}
		return route
	})
}
