// Package istio routes canary traffic with Istio VirtualServices: host-level splitting (the
// route destinations are the canary and stable Services) or subset-level splitting (one host,
// the destinations are the canary and stable subsets of a DestinationRule whose subsets the
// router points at the pod-template hashes). It edits HTTP, TLS and TCP routes, and adds the
// managed HTTP routes of setHeaderRoute and setMirrorRoute steps at the top of the route list.
// The objects are handled as unstructured data: only their CRDs are needed.
package istio

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
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

var istioPath = common.TrafficRoutingPath + ".istio"

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

type vsRef struct {
	name, ns, field string
	spec            v1alpha1.IstioVirtualService
}

// splitName reads "name" or "name.namespace".
func splitName(n, defaultNS string) (string, string) {
	if name, ns, ok := strings.Cut(n, "."); ok {
		return name, ns
	}
	return n, defaultNS
}

func virtualServices(ro *v1alpha1.Rollout) ([]vsRef, error) {
	_, tr, err := common.Canary(ro)
	if err != nil {
		return nil, err
	}
	is := tr.Istio
	if is == nil {
		return nil, common.RolloutInvalidf(ro, istioPath, "not set")
	}
	var out []vsRef
	if vs := is.VirtualService; vs != nil {
		name, ns := splitName(vs.Name, ro.Namespace)
		out = append(out, vsRef{name, ns, istioPath + ".virtualService.name", *vs})
	}
	for i, vs := range is.VirtualServices {
		name, ns := splitName(vs.Name, ro.Namespace)
		out = append(out, vsRef{name, ns, fmt.Sprintf("%s.virtualServices[%d].name", istioPath, i), vs})
	}
	for _, v := range out {
		if v.name == "" {
			return nil, common.RolloutInvalidf(ro, v.field, "name the VirtualService")
		}
	}
	if len(out) == 0 && is.DestinationRule == nil {
		return nil, common.RolloutInvalidf(ro, istioPath+".virtualService", "name a virtualService, virtualServices or a destinationRule")
	}
	return out, nil
}

// loadedVS is a VirtualService as read and the copy being changed.
type loadedVS struct {
	ref  vsRef
	orig *unstructured.Unstructured
	obj  *unstructured.Unstructured
}

func (l *loadedVS) invalid(field, format string, args ...any) error {
	return common.Invalidf("VirtualService", l.obj.GetNamespace(), l.obj.GetName(), field, format, args...)
}

func (r *Router) get(ctx context.Context, kind, ns, name, field string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(r.gvk(kind))
	err := r.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u)
	switch {
	case apierrors.IsNotFound(err):
		return nil, common.Missing(kind, ns, name, field)
	case meta.IsNoMatchError(err):
		e := common.Missing(kind, ns, name, field)
		e.Message = fmt.Sprintf("the API server does not serve %s %s: install Istio's CRDs", r.gvk(kind).GroupVersion(), kind)
		return nil, e
	case err != nil:
		return nil, fmt.Errorf("reading %s %s/%s: %w", kind, ns, name, err)
	}
	return u, nil
}

func (r *Router) loadAll(ctx context.Context, ro *v1alpha1.Rollout) ([]*loadedVS, error) {
	refs, err := virtualServices(ro)
	if err != nil {
		return nil, err
	}
	var out []*loadedVS
	for _, ref := range refs {
		u, err := r.get(ctx, "VirtualService", ref.ns, ref.name, ref.field)
		if err != nil {
			return nil, err
		}
		out = append(out, &loadedVS{ref: ref, orig: u, obj: u.DeepCopy()})
	}
	return out, nil
}

func (r *Router) save(ctx context.Context, kind string, orig, obj *unstructured.Unstructured) error {
	if apiequality.Semantic.DeepEqual(orig.Object, obj.Object) {
		return nil
	}
	if err := r.c.Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsInvalid(err) {
			return common.Invalidf(kind, obj.GetNamespace(), obj.GetName(), "spec", "the API server refused the change: %v", err)
		}
		return fmt.Errorf("updating %s %s/%s: %w", kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

func (r *Router) saveAll(ctx context.Context, ls []*loadedVS) error {
	for _, l := range ls {
		if err := r.save(ctx, "VirtualService", l.orig, l.obj); err != nil {
			return err
		}
	}
	return nil
}

// list returns spec.<kind> ("http", "tls", "tcp") of a VirtualService.
func list(u *unstructured.Unstructured, kind string) []any {
	l, _, _ := unstructured.NestedSlice(u.Object, "spec", kind)
	return l
}

func setList(u *unstructured.Unstructured, kind string, l []any) {
	if len(l) == 0 {
		unstructured.RemoveNestedField(u.Object, "spec", kind)
		return
	}
	_ = unstructured.SetNestedSlice(u.Object, l, "spec", kind)
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func num(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case float64:
		return int64(n), true
	}
	return 0, false
}

func isManaged(tr *v1alpha1.RolloutTrafficRouting, route map[string]any) bool {
	return common.ManagedRouteIndex(tr, str(route, "name")) >= 0
}

// target is one route of a VirtualService whose destinations get the weights.
type target struct {
	kind  string // http, tls or tcp
	index int
}

func (t target) field() string { return fmt.Sprintf("spec.%s[%d]", t.kind, t.index) }

// targets finds the routes the Rollout names in a VirtualService (the single HTTP route when it
// names none).
func targets(l *loadedVS, tr *v1alpha1.RolloutTrafficRouting) ([]target, error) {
	spec := l.ref.spec
	var out []target
	http := list(l.obj, "http")
	if len(spec.Routes) == 0 && len(spec.TLSRoutes) == 0 && len(spec.TCPRoutes) == 0 {
		for i, h := range http {
			if m, ok := h.(map[string]any); ok && !isManaged(tr, m) {
				out = append(out, target{"http", i})
			}
		}
		switch len(out) {
		case 0:
			return nil, l.invalid("spec.http", "has no HTTP route; name the TLS or TCP routes to edit in the Rollout")
		case 1:
			return out, nil
		default:
			return nil, l.invalid("spec.http", "has %d HTTP routes; list the ones to edit in the Rollout's virtualService routes", len(out))
		}
	}
	for _, name := range spec.Routes {
		i := slices.IndexFunc(http, func(h any) bool { m, _ := h.(map[string]any); return str(m, "name") == name })
		if i < 0 {
			return nil, l.invalid("spec.http", "has no route named %q", name)
		}
		out = append(out, target{"http", i})
	}
	tls := list(l.obj, "tls")
	for _, want := range spec.TLSRoutes {
		i := slices.IndexFunc(tls, func(t any) bool { return matchesPorts(t, want.Port, want.SNIHosts) })
		if i < 0 {
			return nil, l.invalid("spec.tls", "has no route matching port %d and sniHosts %v", want.Port, want.SNIHosts)
		}
		out = append(out, target{"tls", i})
	}
	tcp := list(l.obj, "tcp")
	for _, want := range spec.TCPRoutes {
		i := slices.IndexFunc(tcp, func(t any) bool { return matchesPorts(t, want.Port, nil) })
		if i < 0 {
			return nil, l.invalid("spec.tcp", "has no route matching port %d", want.Port)
		}
		out = append(out, target{"tcp", i})
	}
	return out, nil
}

// matchesPorts reports whether one of a TLS or TCP route's matches has port (when set) and
// the same sniHosts (when set).
func matchesPorts(route any, port int64, sni []string) bool {
	m, _ := route.(map[string]any)
	matches, _ := m["match"].([]any)
	for _, x := range matches {
		mm, _ := x.(map[string]any)
		if port != 0 {
			if p, ok := num(mm["port"]); !ok || p != port {
				continue
			}
		}
		if len(sni) > 0 {
			var got []string
			hosts, _ := mm["sniHosts"].([]any)
			for _, h := range hosts {
				s, _ := h.(string)
				got = append(got, s)
			}
			a, b := slices.Clone(sni), got
			sort.Strings(a)
			sort.Strings(b)
			if !slices.Equal(a, b) {
				continue
			}
		}
		return true
	}
	return false
}

// roles tells canary and stable destinations apart: by subset with a DestinationRule, by
// host otherwise.
type roles struct {
	canarySvc, stableSvc, ns string
	canarySub, stableSub     string
}

func rolesOf(ro *v1alpha1.Rollout) roles {
	c := ro.Spec.Strategy.Canary
	rl := roles{canarySvc: c.CanaryService, stableSvc: c.StableService, ns: ro.Namespace}
	if dr := c.TrafficRouting.Istio.DestinationRule; dr != nil {
		rl.canarySub, rl.stableSub = dr.CanarySubsetName, dr.StableSubsetName
	}
	return rl
}

func (rl roles) subsets() bool { return rl.canarySub != "" }

func (rl roles) of(dest map[string]any) string {
	d, _ := dest["destination"].(map[string]any)
	if rl.subsets() {
		switch str(d, "subset") {
		case rl.canarySub:
			return "canary"
		case rl.stableSub:
			return "stable"
		}
		return ""
	}
	switch host := str(d, "host"); {
	case common.ServiceHost(host, rl.canarySvc, rl.ns):
		return "canary"
	case common.ServiceHost(host, rl.stableSvc, rl.ns):
		return "stable"
	}
	return ""
}

func (rl roles) describe(role string) string {
	if rl.subsets() {
		sub := rl.canarySub
		if role == "stable" {
			sub = rl.stableSub
		}
		return fmt.Sprintf("the %s subset %q", role, sub)
	}
	svc := rl.canarySvc
	if role == "stable" {
		svc = rl.stableSvc
	}
	return fmt.Sprintf("the %s Service %q", role, svc)
}

// find returns the index of the destination with role in a route's destination list.
func (rl roles) find(dests []any, role string) int {
	return slices.IndexFunc(dests, func(d any) bool { m, _ := d.(map[string]any); return rl.of(m) == role })
}

// checkDestinations returns an error unless the route has a canary and a stable destination.
func (rl roles) checkDestinations(l *loadedVS, route map[string]any, field string) error {
	dests, _ := route["route"].([]any)
	for _, role := range []string{"canary", "stable"} {
		if rl.find(dests, role) < 0 {
			return l.invalid(field+".route", "has no destination to %s", rl.describe(role))
		}
	}
	return nil
}

// weigh rewrites a route's destinations: canary and stable with their weights, the additional
// destinations after them; other destinations are dropped (their weights would not add up).
func (rl roles) weigh(route map[string]any, w common.Weights) {
	dests, _ := route["route"].([]any)
	var out []any
	seen := map[string]bool{}
	canary := rl.find(dests, "canary")
	for _, d := range dests {
		m, _ := d.(map[string]any)
		m = copyMap(m)
		switch rl.of(m) {
		case "canary":
			m["weight"] = int64(w.Canary)
		case "stable":
			m["weight"] = int64(w.Stable)
		default:
			dest, _ := m["destination"].(map[string]any)
			aw, ok := w.AdditionalWeight(str(dest, "host"))
			if !ok {
				continue
			}
			seen[str(dest, "host")] = true
			m["weight"] = int64(aw)
		}
		out = append(out, m)
	}
	for _, a := range w.Additional {
		if seen[a.ServiceName] || canary < 0 {
			continue
		}
		m := copyMap(dests[canary].(map[string]any))
		dest := copyMap(m["destination"].(map[string]any))
		dest["host"] = a.ServiceName
		delete(dest, "subset")
		m["destination"], m["weight"] = dest, int64(a.Weight)
		out = append(out, m)
	}
	route["route"] = out
}

// weighs reports whether a route's destinations carry the weights.
func (rl roles) weighs(route map[string]any, w common.Weights) bool {
	dests, _ := route["route"].([]any)
	got := map[string]int64{}
	for _, d := range dests {
		m, _ := d.(map[string]any)
		wt, ok := num(m["weight"])
		if !ok {
			wt = 0
			if len(dests) == 1 {
				wt = 100
			}
		}
		switch rl.of(m) {
		case "canary", "stable":
			got[rl.of(m)] = wt
		default:
			dest, _ := m["destination"].(map[string]any)
			got["+"+str(dest, "host")] = wt
		}
	}
	if got["canary"] != int64(w.Canary) || got["stable"] != int64(w.Stable) {
		return false
	}
	for _, a := range w.Additional {
		if got["+"+a.ServiceName] != int64(a.Weight) {
			return false
		}
	}
	return true
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
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
		edited := map[string][]any{}
		for _, kind := range []string{"http", "tls", "tcp"} {
			edited[kind] = list(l.obj, kind)
		}
		for _, t := range ts {
			route, _ := edited[t.kind][t.index].(map[string]any)
			if err := rl.checkDestinations(l, route, t.field()); err != nil {
				return err
			}
			route = copyMap(route)
			rl.weigh(route, w)
			edited[t.kind][t.index] = route
		}
		for i, h := range edited["http"] {
			route, _ := h.(map[string]any)
			if isManaged(tr, route) && route["mirror"] != nil {
				route = copyMap(route)
				rl.weigh(route, w)
				edited["http"][i] = route
			}
		}
		for kind, l2 := range edited {
			if len(l2) > 0 {
				setList(l.obj, kind, l2)
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
			route, _ := list(l.obj, t.kind)[t.index].(map[string]any)
			if err := rl.checkDestinations(l, route, t.field()); err != nil {
				return false, err
			}
			if !rl.weighs(route, w) {
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
	orig, err := r.get(ctx, "DestinationRule", ns, name, istioPath+".destinationRule.name")
	if err != nil {
		return err
	}
	obj := orig.DeepCopy()
	subsets, _, _ := unstructured.NestedSlice(obj.Object, "spec", "subsets")
	for _, want := range []struct{ name, hash, field string }{
		{dr.CanarySubsetName, canaryHash, "canarySubsetName"}, {dr.StableSubsetName, stableHash, "stableSubsetName"}} {
		i := slices.IndexFunc(subsets, func(s any) bool { m, _ := s.(map[string]any); return str(m, "name") == want.name })
		if i < 0 {
			return common.Invalidf("DestinationRule", ns, name, "spec.subsets",
				"has no subset named %q (the Rollout's destinationRule.%s)", want.name, want.field)
		}
		sub := copyMap(subsets[i].(map[string]any))
		labels, _ := sub["labels"].(map[string]any)
		labels = copyMap(labels)
		if want.hash == "" {
			delete(labels, v1alpha1.PodTemplateHashLabel)
		} else {
			labels[v1alpha1.PodTemplateHashLabel] = want.hash
		}
		sub["labels"] = labels
		subsets[i] = sub
	}
	_ = unstructured.SetNestedSlice(obj.Object, subsets, "spec", "subsets")
	return r.save(ctx, "DestinationRule", orig, obj)
}

// httpTargets are the VirtualServices that get managed routes (those with HTTP routes to
// split) and the first weighted HTTP route of each, whose destinations the managed routes use.
func (r *Router) httpTargets(ctx context.Context, ro *v1alpha1.Rollout, tr *v1alpha1.RolloutTrafficRouting) ([]*loadedVS, []map[string]any, error) {
	ls, err := r.loadAll(ctx, ro)
	if err != nil {
		return nil, nil, err
	}
	rl := rolesOf(ro)
	var outL []*loadedVS
	var outR []map[string]any
	for _, l := range ls {
		ts, err := targets(l, tr)
		if err != nil {
			return nil, nil, err
		}
		for _, t := range ts {
			if t.kind != "http" {
				continue
			}
			route, _ := list(l.obj, "http")[t.index].(map[string]any)
			if err := rl.checkDestinations(l, route, t.field()); err != nil {
				return nil, nil, err
			}
			outL, outR = append(outL, l), append(outR, route)
			break
		}
	}
	if len(outL) == 0 {
		return nil, nil, common.RolloutInvalidf(ro, istioPath, "header and mirror routes need a VirtualService with an HTTP route to split")
	}
	return outL, outR, nil
}

// putManaged replaces managed route name in a VirtualService (removes it when route is nil)
// and keeps the managed routes first, in the order of trafficRouting.managedRoutes.
func putManaged(l *loadedVS, tr *v1alpha1.RolloutTrafficRouting, name string, route map[string]any) {
	var managed, rest []any
	for _, h := range list(l.obj, "http") {
		m, _ := h.(map[string]any)
		switch {
		case str(m, "name") == name:
		case isManaged(tr, m):
			managed = append(managed, m)
		default:
			rest = append(rest, m)
		}
	}
	if route != nil {
		managed = append(managed, route)
	}
	sort.SliceStable(managed, func(i, j int) bool {
		return common.ManagedRouteIndex(tr, str(managed[i].(map[string]any), "name")) <
			common.ManagedRouteIndex(tr, str(managed[j].(map[string]any), "name"))
	})
	setList(l.obj, "http", append(managed, rest...))
}

func stringMatch(m *v1alpha1.StringMatch) (map[string]any, bool) {
	switch {
	case m == nil:
		return nil, false
	case m.Exact != "":
		return map[string]any{"exact": m.Exact}, true
	case m.Prefix != "":
		return map[string]any{"prefix": m.Prefix}, true
	case m.Regex != "":
		return map[string]any{"regex": m.Regex}, true
	}
	return nil, false
}

// SetHeaderRoute puts an HTTP route named after the managed route at the top of each
// VirtualService: requests with all the step's headers go to the canary destination. A step
// without match removes it.
func (r *Router) SetHeaderRoute(ctx context.Context, ro *v1alpha1.Rollout, hr *v1alpha1.SetHeaderRoute) error {
	if hr == nil {
		return nil
	}
	_, tr, err := common.Canary(ro)
	if err != nil {
		return err
	}
	if err := common.CheckManagedRoute(ro, tr, "setHeaderRoute", hr.Name); err != nil {
		return err
	}
	headers := map[string]any{}
	for i, m := range hr.Match {
		sm, ok := stringMatch(m.HeaderValue)
		if !ok || m.HeaderName == "" {
			return common.RolloutInvalidf(ro, fmt.Sprintf("spec.strategy.canary.steps[].setHeaderRoute.match[%d]", i),
				"a header match needs headerName and one of exact, prefix or regex")
		}
		headers[m.HeaderName] = sm
	}
	ls, weighted, err := r.httpTargets(ctx, ro, tr)
	if err != nil {
		return err
	}
	rl := rolesOf(ro)
	for i, l := range ls {
		var route map[string]any
		if len(hr.Match) > 0 {
			dests, _ := weighted[i]["route"].([]any)
			canary := copyMap(dests[rl.find(dests, "canary")].(map[string]any))
			delete(canary, "weight")
			route = map[string]any{"name": hr.Name, "match": []any{map[string]any{"headers": headers}}, "route": []any{canary}}
		}
		putManaged(l, tr, hr.Name, route)
	}
	return r.saveAll(ctx, ls)
}

// SetMirrorRoute puts an HTTP route named after the managed route at the top of each
// VirtualService: the step's requests are routed as the weighted route routes them, and
// percentage of them are mirrored to the canary. A step without match removes it.
func (r *Router) SetMirrorRoute(ctx context.Context, ro *v1alpha1.Rollout, mr *v1alpha1.SetMirrorRoute) error {
	if mr == nil {
		return nil
	}
	_, tr, err := common.Canary(ro)
	if err != nil {
		return err
	}
	if err := common.CheckManagedRoute(ro, tr, "setMirrorRoute", mr.Name); err != nil {
		return err
	}
	var matches []any
	for i, m := range mr.Match {
		field := fmt.Sprintf("spec.strategy.canary.steps[].setMirrorRoute.match[%d]", i)
		mm := map[string]any{}
		if m.Method != nil {
			sm, ok := stringMatch(m.Method)
			if !ok {
				return common.RolloutInvalidf(ro, field+".method", "set one of exact, prefix or regex")
			}
			mm["method"] = sm
		}
		if m.Path != nil {
			sm, ok := stringMatch(m.Path)
			if !ok {
				return common.RolloutInvalidf(ro, field+".path", "set one of exact, prefix or regex")
			}
			mm["uri"] = sm
		}
		if len(m.Headers) > 0 {
			hs := map[string]any{}
			for name, v := range m.Headers {
				sm, ok := stringMatch(&v)
				if !ok {
					return common.RolloutInvalidf(ro, field+".headers["+name+"]", "set one of exact, prefix or regex")
				}
				hs[name] = sm
			}
			mm["headers"] = hs
		}
		matches = append(matches, mm)
	}
	ls, weighted, err := r.httpTargets(ctx, ro, tr)
	if err != nil {
		return err
	}
	rl := rolesOf(ro)
	for i, l := range ls {
		var route map[string]any
		if len(mr.Match) > 0 {
			dests, _ := weighted[i]["route"].([]any)
			canary, _ := dests[rl.find(dests, "canary")].(map[string]any)
			mirror := copyMap(canary["destination"].(map[string]any))
			route = map[string]any{"name": mr.Name, "match": matches, "route": dests, "mirror": mirror}
			if mr.Percentage != nil {
				route["mirrorPercentage"] = map[string]any{"value": float64(*mr.Percentage)}
			}
		}
		putManaged(l, tr, mr.Name, route)
	}
	return r.saveAll(ctx, ls)
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
		var keep []any
		for _, h := range list(l.obj, "http") {
			if m, _ := h.(map[string]any); !isManaged(tr, m) {
				keep = append(keep, h)
			}
		}
		setList(l.obj, "http", keep)
	}
	return r.saveAll(ctx, ls)
}
