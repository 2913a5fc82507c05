package router

import (
	"fmt"
	"maps"
	"reflect"
	"slices"

	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// routeBuilder makes the rules of a Canary's HTTPRoute, as Flagger's Gateway API router does.
type routeBuilder struct {
	cd              *flaggerv1.Canary
	primary, canary string
	port            int32
	parents         []gatewayv1.ParentReference
	hostnames       []gatewayv1.Hostname
	// svcMatches is spec.service.match in Gateway API terms; matches is that, or the path /
	svcMatches, matches []gatewayv1.HTTPRouteMatch
	// ab is analysis.match merged with matches (nil without A/B testing)
	ab      []gatewayv1.HTTPRouteMatch
	filters []gatewayv1.HTTPRouteFilter
	timeout *gatewayv1.Duration
}

// newRouteBuilder checks what cd asks of provider and prepares its rules; withTimeouts is
// whether spec.service.timeout becomes the rules' request timeout (Flagger's v1 router only).
func newRouteBuilder(cd *flaggerv1.Canary, provider string, withTimeouts bool) (*routeBuilder, error) {
	svc := &cd.Spec.Service
	if len(svc.GatewayRefs) == 0 {
		return nil, invalidf(cd, "spec.service.gatewayRefs", "the %s provider needs at least one Gateway to attach the HTTPRoute to", provider)
	}
	if cd.Mirror() && cd.Iterations() == 0 {
		return nil, unsupportedf(cd, "spec.analysis.mirror",
			"the %s provider mirrors traffic in blue/green analyses (spec.analysis.iterations) only, as Flagger does", provider)
	}
	_, primary, canary := cd.ServiceNames()
	b := &routeBuilder{cd: cd, primary: primary, canary: canary, port: svc.Port, filters: routeFilters(cd)}
	for _, p := range svc.GatewayRefs {
		p.Group = ptr.To(ptr.Deref(p.Group, gatewayv1.GroupName))
		p.Kind = ptr.To(ptr.Deref(p.Kind, "Gateway"))
		b.parents = append(b.parents, p)
	}
	for _, h := range svc.Hosts {
		b.hostnames = append(b.hostnames, gatewayv1.Hostname(h))
	}
	var err error
	if b.svcMatches, err = serviceRouteMatches(cd); err != nil {
		return nil, err
	}
	b.matches = b.svcMatches
	if len(b.matches) == 0 {
		b.matches = []gatewayv1.HTTPRouteMatch{{}}
	}
	b.matches = withDefaultPath(b.matches)
	ab, err := analysisRouteMatches(cd)
	if err != nil {
		return nil, err
	}
	if len(ab) > 0 {
		b.ab = withDefaultPath(mergeRouteMatches(ab, b.matches))
	}
	if withTimeouts && svc.Timeout != "" {
		b.timeout = ptr.To(gatewayv1.Duration(svc.Timeout))
	}
	return b, nil
}

func (b *routeBuilder) ref(name string, weight int32) backendRef {
	return backendRef{Group: ptr.To[gatewayv1.Group](""), Kind: ptr.To[gatewayv1.Kind]("Service"),
		Name: gatewayv1.ObjectName(name), Port: ptr.To(b.port), Weight: ptr.To(weight)}
}

func (b *routeBuilder) rule(matches []gatewayv1.HTTPRouteMatch, refs ...backendRef) rule {
	r := rule{Matches: slices.Clone(matches), Filters: slices.Clone(b.filters), BackendRefs: refs}
	if b.timeout != nil {
		r.Timeouts = &timeouts{Request: ptr.To(*b.timeout)}
	}
	return r
}

func (b *routeBuilder) weighted(primaryWeight, canaryWeight int32) rule {
	return b.rule(b.matches, b.ref(b.primary, primaryWeight), b.ref(b.canary, canaryWeight))
}

func (b *routeBuilder) spec(rules []rule) routeSpec {
	return routeSpec{ParentRefs: b.parents, Hostnames: b.hostnames, Rules: rules}
}

// withAB turns rules into A/B testing ones: the first matches analysis.match, and a last rule
// sends the other requests to the primary.
func (b *routeBuilder) withAB(rules []rule) []rule {
	if b.ab == nil {
		return rules
	}
	rules[0].Matches = slices.Clone(b.ab)
	return append(rules, b.rule(b.matches, b.ref(b.primary, 100)))
}

// initial is the spec Reconcile writes: all traffic to the primary.
func (b *routeBuilder) initial() routeSpec {
	return b.spec(b.withAB([]rule{b.weighted(100, 0)}))
}

// routes is the spec SetRoutes writes.
func (b *routeBuilder) routes(primaryWeight, canaryWeight int, mirrored bool) routeSpec {
	weighted := b.weighted(int32(primaryWeight), int32(canaryWeight))
	if mirrored {
		weighted.Filters = append(weighted.Filters, b.mirrorFilter())
	}
	rules := []rule{weighted}
	if sa := sessionAffinity(b.cd); sa != nil {
		rules = b.affinityRules(sa, canaryWeight, weighted)
	}
	return b.spec(b.withAB(rules))
}

// mirrorFilter mirrors requests to the canary Service (analysis.mirrorWeight percent of them
// when set).
func (b *routeBuilder) mirrorFilter() gatewayv1.HTTPRouteFilter {
	f := &gatewayv1.HTTPRequestMirrorFilter{BackendRef: gatewayv1.BackendObjectReference{
		Group: ptr.To[gatewayv1.Group](""), Kind: ptr.To[gatewayv1.Kind]("Service"),
		Name: gatewayv1.ObjectName(b.canary), Port: ptr.To(b.port)}}
	if w := mirrorWeight(b.cd); w > 0 {
		f.Percent = ptr.To(w)
	}
	return gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterRequestMirror, RequestMirror: f}
}

// affinityRules are the rules of session affinity: a sticky rule first (the requests with the
// cookie go to the canary; once the canary gets no traffic, the previous cookie is deleted),
// then the weighted rule, whose canary backend sets the cookie.
func (b *routeBuilder) affinityRules(sa *flaggerv1.SessionAffinity, canaryWeight int, weighted rule) []rule {
	sticky := weighted.clone()
	current, previous := affinityCookies(b.cd, canaryWeight)
	switch {
	case current != "":
		for i := range weighted.BackendRefs {
			if string(weighted.BackendRefs[i].Name) == b.canary {
				weighted.BackendRefs[i].Filters = append(weighted.BackendRefs[i].Filters,
					setCookieFilter(setCookie(current, cookieMaxAge(sa))))
			}
		}
		sticky.Matches = withDefaultPath(mergeRouteMatches([]gatewayv1.HTTPRouteMatch{cookieRouteMatch(current)}, b.svcMatches))
		sticky.BackendRefs = []backendRef{b.ref(b.primary, 0), b.ref(b.canary, 100)}
	case previous != "":
		sticky.Matches = withDefaultPath(mergeRouteMatches([]gatewayv1.HTTPRouteMatch{cookieRouteMatch(previous)}, b.svcMatches))
		sticky.Filters = append(sticky.Filters, setCookieFilter(fmt.Sprintf("%s; Max-Age=-1", previous)))
	}
	return []rule{sticky, weighted}
}

func cookieRouteMatch(cookie string) gatewayv1.HTTPRouteMatch {
	return gatewayv1.HTTPRouteMatch{Headers: []gatewayv1.HTTPHeaderMatch{{
		Type: ptr.To(gatewayv1.HeaderMatchRegularExpression), Name: cookieHeader, Value: cookieRegex(cookie)}}}
}

func setCookieFilter(value string) gatewayv1.HTTPRouteFilter {
	return gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterResponseHeaderModifier,
		ResponseHeaderModifier: &gatewayv1.HTTPHeaderFilter{Add: []gatewayv1.HTTPHeader{{Name: setCookieHeader, Value: value}}}}
}

// mergeRouteMatches crosses the A/B matches with the service's: each service match with the
// headers and query parameters of each A/B match.
func mergeRouteMatches(ab, service []gatewayv1.HTTPRouteMatch) []gatewayv1.HTTPRouteMatch {
	if len(ab) == 0 {
		return service
	}
	if len(service) == 0 {
		return ab
	}
	var out []gatewayv1.HTTPRouteMatch
	for _, a := range ab {
		for _, s := range service {
			m := *s.DeepCopy()
			if len(a.Headers) > 0 {
				m.Headers = a.Headers
			}
			if len(a.QueryParams) > 0 {
				m.QueryParams = a.QueryParams
			}
			out = append(out, m)
		}
	}
	return out
}

// withDefaultPath gives each match the path the HTTPRoute CRD defaults it to (prefix /), so
// that what the router writes is what the API server keeps.
func withDefaultPath(ms []gatewayv1.HTTPRouteMatch) []gatewayv1.HTTPRouteMatch {
	out := make([]gatewayv1.HTTPRouteMatch, len(ms))
	for i, m := range ms {
		m = *m.DeepCopy()
		if m.Path == nil {
			m.Path = &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To("/")}
		}
		out[i] = m
	}
	return out
}

// serviceRouteMatches is spec.service.match in Gateway API terms.
func serviceRouteMatches(cd *flaggerv1.Canary) ([]gatewayv1.HTTPRouteMatch, error) {
	var out []gatewayv1.HTTPRouteMatch
	for i, sm := range cd.Spec.Service.Match {
		field := fmt.Sprintf("spec.service.match[%d]", i)
		var m gatewayv1.HTTPRouteMatch
		if u := sm.URI; u != nil {
			t, v := gatewayv1.PathMatchPathPrefix, u.Prefix
			switch {
			case u.Regex != "":
				t, v = gatewayv1.PathMatchRegularExpression, u.Regex
			case u.Exact != "":
				t, v = gatewayv1.PathMatchExact, u.Exact
			case u.Prefix == "":
				return nil, unsupportedf(cd, field+".uri", "Gateway API matches a path exactly, by prefix or by regex; none is set")
			}
			m.Path = &gatewayv1.HTTPPathMatch{Type: &t, Value: &v}
		}
		if sm.Method != nil {
			if sm.Method.Exact == "" {
				return nil, unsupportedf(cd, field+".method", "Gateway API matches a method exactly only")
			}
			m.Method = ptr.To(gatewayv1.HTTPMethod(sm.Method.Exact))
		}
		var err error
		if m.Headers, m.QueryParams, err = routeHeaderMatches(cd, field, stringMatches(sm.Headers), stringMatches(sm.QueryParams)); err != nil {
			return nil, err
		}
		if !reflect.DeepEqual(m, gatewayv1.HTTPRouteMatch{}) {
			out = append(out, m)
		}
	}
	return out, nil
}

// analysisRouteMatches is analysis.match in Gateway API terms.
func analysisRouteMatches(cd *flaggerv1.Canary) ([]gatewayv1.HTTPRouteMatch, error) {
	var out []gatewayv1.HTTPRouteMatch
	for i, am := range cd.AnalysisSpec().Match {
		field := fmt.Sprintf("spec.analysis.match[%d]", i)
		if len(am.SourceLabels) > 0 {
			return nil, unsupportedf(cd, field+".sourceLabels", "Gateway API cannot match the labels of the calling workload")
		}
		headers, query, err := routeHeaderMatches(cd, field, headerMatches(am.Headers), stringMatches(am.QueryParams))
		if err != nil {
			return nil, err
		}
		if len(headers) > 0 || len(query) > 0 {
			out = append(out, gatewayv1.HTTPRouteMatch{Headers: headers, QueryParams: query})
		}
	}
	return out, nil
}

// routeHeaderMatches turns header and query-parameter matches into Gateway API ones, by name.
func routeHeaderMatches(cd *flaggerv1.Canary, field string, headers, query map[string]strMatch) (
	[]gatewayv1.HTTPHeaderMatch, []gatewayv1.HTTPQueryParamMatch, error) {
	var hs []gatewayv1.HTTPHeaderMatch
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		exact, value, err := headers[name].exactOrRegex(cd, fmt.Sprintf("%s.headers[%s]", field, name), "Gateway API")
		if err != nil {
			return nil, nil, err
		}
		t := gatewayv1.HeaderMatchRegularExpression
		if exact {
			t = gatewayv1.HeaderMatchExact
		}
		hs = append(hs, gatewayv1.HTTPHeaderMatch{Type: &t, Name: gatewayv1.HTTPHeaderName(name), Value: value})
	}
	var qs []gatewayv1.HTTPQueryParamMatch
	for _, name := range slices.Sorted(maps.Keys(query)) {
		exact, value, err := query[name].exactOrRegex(cd, fmt.Sprintf("%s.queryParams[%s]", field, name), "Gateway API")
		if err != nil {
			return nil, nil, err
		}
		t := gatewayv1.QueryParamMatchRegularExpression
		if exact {
			t = gatewayv1.QueryParamMatchExact
		}
		qs = append(qs, gatewayv1.HTTPQueryParamMatch{Type: &t, Name: gatewayv1.HTTPHeaderName(name), Value: value})
	}
	return hs, qs, nil
}

// routeFilters are the filters of spec.service's headers, rewrite and mirror.
func routeFilters(cd *flaggerv1.Canary) []gatewayv1.HTTPRouteFilter {
	svc := &cd.Spec.Service
	var out []gatewayv1.HTTPRouteFilter
	if h := svc.Headers; h != nil {
		if h.Request != nil {
			out = append(out, gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterRequestHeaderModifier,
				RequestHeaderModifier: headerFilter(h.Request)})
		}
		if h.Response != nil {
			out = append(out, gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterResponseHeaderModifier,
				ResponseHeaderModifier: headerFilter(h.Response)})
		}
	}
	if rw := svc.Rewrite; rw != nil {
		f := &gatewayv1.HTTPURLRewriteFilter{}
		if rw.Authority != "" {
			f.Hostname = ptr.To(gatewayv1.PreciseHostname(rw.Authority))
		}
		if rw.URI != "" {
			f.Path = &gatewayv1.HTTPPathModifier{Type: gatewayv1.FullPathHTTPPathModifier, ReplaceFullPath: ptr.To(rw.URI)}
			if rw.Type == string(gatewayv1.PrefixMatchHTTPPathModifier) {
				f.Path = &gatewayv1.HTTPPathModifier{Type: gatewayv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: ptr.To(rw.URI)}
			}
		}
		out = append(out, gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterURLRewrite, URLRewrite: f})
	}
	for _, m := range svc.Mirror {
		ref := m.BackendRef
		ref.Group = ptr.To(ptr.Deref(ref.Group, ""))
		ref.Kind = ptr.To(ptr.Deref(ref.Kind, "Service"))
		out = append(out, gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterRequestMirror,
			RequestMirror: &gatewayv1.HTTPRequestMirrorFilter{BackendRef: ref}})
	}
	return out
}

// headerFilter is a header modifier of ops, its headers sorted by name.
func headerFilter(ops *flaggerv1.HeaderOperations) *gatewayv1.HTTPHeaderFilter {
	f := &gatewayv1.HTTPHeaderFilter{Remove: slices.Clone(ops.Remove)}
	for _, name := range slices.Sorted(maps.Keys(ops.Add)) {
		f.Add = append(f.Add, gatewayv1.HTTPHeader{Name: gatewayv1.HTTPHeaderName(name), Value: ops.Add[name]})
	}
	for _, name := range slices.Sorted(maps.Keys(ops.Set)) {
		f.Set = append(f.Set, gatewayv1.HTTPHeader{Name: gatewayv1.HTTPHeaderName(name), Value: ops.Set[name]})
	}
	return f
}
