package router

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/utils/ptr"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// vsBuilder makes the routes of a Canary's VirtualService, as Flagger's Istio router does.
type vsBuilder struct {
	cd                    *flaggerv1.Canary
	apex, primary, canary string
	tcp                   bool
	// match is spec.service.match; abMatch is analysis.match merged with it (nil without A/B)
	match, abMatch []istioMatch
	// port is the destinations' port: set with portDiscovery behind a gateway or delegation
	port *portSelector
}

// newVSBuilder checks what cd asks of Istio and prepares its routes.
func newVSBuilder(cd *flaggerv1.Canary) (*vsBuilder, error) {
	svc := &cd.Spec.Service
	apex, primary, canary := cd.ServiceNames()
	b := &vsBuilder{cd: cd, apex: apex, primary: primary, canary: canary, tcp: strings.EqualFold(svc.AppProtocol, "tcp")}
	delegation := ptr.Deref(svc.Delegation, false)
	if delegation && (len(svc.Hosts) > 0 || len(svc.Gateways) > 0) {
		return nil, invalidf(cd, "spec.service.delegation", "a delegate VirtualService has no hosts and no gateways: spec.service.hosts and spec.service.gateways must be empty")
	}
	if err := checkTCP(cd, b.tcp); err != nil {
		return nil, err
	}
	b.match = serviceIstioMatches(svc.Match)
	ab, err := analysisIstioMatches(cd)
	if err != nil {
		return nil, err
	}
	if len(ab) > 0 {
		b.abMatch = mergeIstioMatches(ab, b.match)
	}
	if ptr.Deref(svc.PortDiscovery, false) && (len(svc.Gateways) > 0 && svc.Gateways[0] != "mesh" || delegation) {
		b.port = &portSelector{Number: uint32(svc.Port)}
	}
	return b, nil
}

// checkTCP refuses what Istio does for HTTP only on a TCP service.
func checkTCP(cd *flaggerv1.Canary, tcp bool) error {
	if !tcp {
		return nil
	}
	a := cd.AnalysisSpec()
	switch {
	case cd.Mirror():
		return unsupportedf(cd, "spec.analysis.mirror", "Istio mirrors HTTP traffic only, and spec.service.appProtocol is tcp")
	case len(a.Match) > 0:
		return unsupportedf(cd, "spec.analysis.match", "A/B testing matches HTTP requests only, and spec.service.appProtocol is tcp")
	case a.SessionAffinity != nil:
		return unsupportedf(cd, "spec.analysis.sessionAffinity", "session affinity uses HTTP cookies, and spec.service.appProtocol is tcp")
	}
	return nil
}

func (b *vsBuilder) dest(host string, weight int) destination {
	return destination{Destination: dest{Host: host, Port: b.port}, Weight: weight}
}

// route is an HTTP route with spec.service's settings.
func (b *vsBuilder) route(match []istioMatch, dests ...destination) httpRoute {
	svc := &b.cd.Spec.Service
	h := httpRoute{Match: slices.Clone(match), Timeout: svc.Timeout, Headers: headerRulesOf(svc.Headers), Route: dests}
	if rw := svc.Rewrite; rw != nil {
		h.Rewrite = &rewrite{URI: rw.URI, Authority: rw.Authority}
	}
	if r := svc.Retries; r != nil {
		h.Retries = &retries{Attempts: r.Attempts, PerTryTimeout: r.PerTryTimeout, RetryOn: r.RetryOn}
	}
	if c := svc.CorsPolicy; c != nil {
		h.CorsPolicy = &corsPolicy{AllowOrigin: c.AllowOrigin, AllowMethods: c.AllowMethods, AllowHeaders: c.AllowHeaders,
			ExposeHeaders: c.ExposeHeaders, MaxAge: c.MaxAge, AllowCredentials: ptr.Deref(c.AllowCredentials, false)}
		for _, o := range c.AllowOrigins {
			h.CorsPolicy.AllowOrigins = append(h.CorsPolicy.AllowOrigins, &strMatch{Exact: o.Exact, Prefix: o.Prefix, Regex: o.Regex})
		}
	}
	return h
}

// initial is the spec Reconcile writes: all traffic to the primary.
func (b *vsBuilder) initial() vsSpec {
	svc := &b.cd.Spec.Service
	s := vsSpec{Hosts: slices.Clone(svc.Hosts), Gateways: slices.Clone(svc.Gateways)}
	if !slices.Contains(s.Hosts, b.apex) && !slices.Contains(s.Hosts, "*") {
		s.Hosts = append(s.Hosts, b.apex)
	}
	if len(s.Gateways) == 0 {
		s.Gateways = []string{"mesh"}
	}
	if ptr.Deref(svc.Delegation, false) {
		s.Hosts, s.Gateways = []string{}, nil
	}
	if b.tcp {
		s.TCP = b.tcpRoutes(100, 0)
		return s
	}
	s.HTTP = []httpRoute{b.route(b.match, b.dest(b.primary, 100), b.dest(b.canary, 0))}
	if b.abMatch != nil {
		s.HTTP = []httpRoute{b.route(b.abMatch, b.dest(b.primary, 100), b.dest(b.canary, 0)),
			b.route(b.match, b.dest(b.primary, 100))}
	}
	return s
}

func (b *vsBuilder) tcpRoutes(primaryWeight, canaryWeight int) []tcpRoute {
	var match []l4Match
	for _, m := range b.cd.Spec.Service.Match {
		match = append(match, l4Match{Port: ptr.Deref(m.Port, 0)})
	}
	return []tcpRoute{{Match: match, Route: []destination{b.dest(b.primary, primaryWeight), b.dest(b.canary, canaryWeight)}}}
}

// httpRoutes are the HTTP routes SetRoutes writes.
func (b *vsBuilder) httpRoutes(primaryWeight, canaryWeight int, mirrored bool) []httpRoute {
	if b.abMatch != nil {
		// A/B testing replaces everything else, as in Flagger
		return []httpRoute{b.route(b.abMatch, b.dest(b.primary, primaryWeight), b.dest(b.canary, canaryWeight)),
			b.route(b.match, b.dest(b.primary, primaryWeight))}
	}
	weighted := b.route(b.match, b.dest(b.primary, primaryWeight), b.dest(b.canary, canaryWeight))
	routes := []httpRoute{weighted}
	if sa := sessionAffinity(b.cd); sa != nil {
		routes = b.affinityRoutes(sa, canaryWeight, weighted)
	}
	if mirrored {
		routes[0].Mirror = &dest{Host: b.canary}
		if w := mirrorWeight(b.cd); w > 0 {
			routes[0].MirrorPercentage = &percent{Value: float64(w)}
		}
	}
	return routes
}

// affinityRoutes are the routes of session affinity: the sticky route first (the requests
// with the cookie go to the canary; once the canary gets no traffic, the previous cookie is
// deleted), then the weighted route, whose canary destination sets the cookie.
func (b *vsBuilder) affinityRoutes(sa *flaggerv1.SessionAffinity, canaryWeight int, weighted httpRoute) []httpRoute {
	sticky := b.route(b.match, slices.Clone(weighted.Route)...)
	sticky.Name = stickyRouteName
	current, previous := affinityCookies(b.cd, canaryWeight)
	switch {
	case current != "":
		for i := range weighted.Route {
			if weighted.Route[i].Destination.Host == b.canary {
				weighted.Route[i].Headers = &headerRules{Response: &headerOps{Add: map[string]string{
					setCookieHeader: setCookie(current, cookieMaxAge(sa))}}}
			}
		}
		sticky.Match = mergeIstioMatches([]istioMatch{cookieIstioMatch(current)}, b.match)
		sticky.Route = []destination{b.dest(b.primary, 0), b.dest(b.canary, 100)}
	case previous != "":
		sticky.Match = mergeIstioMatches([]istioMatch{cookieIstioMatch(previous)}, b.match)
		if sticky.Headers == nil {
			sticky.Headers = &headerRules{}
		}
		if sticky.Headers.Response == nil {
			sticky.Headers.Response = &headerOps{}
		}
		if sticky.Headers.Response.Add == nil {
			sticky.Headers.Response.Add = map[string]string{}
		}
		sticky.Headers.Response.Add[setCookieHeader] = fmt.Sprintf("%s; Max-Age=-1", previous)
	}
	return []httpRoute{sticky, weighted}
}

func cookieIstioMatch(cookie string) istioMatch {
	return istioMatch{Headers: map[string]strMatch{cookieHeader: {Regex: cookieRegex(cookie)}}}
}

// mergeIstioMatches crosses the A/B matches with the service's: each service match with the
// headers, query parameters and source labels of each A/B match.
func mergeIstioMatches(ab, service []istioMatch) []istioMatch {
	if len(service) == 0 {
		return ab
	}
	var out []istioMatch
	for _, a := range ab {
		for _, s := range service {
			if a.Headers != nil {
				s.Headers = a.Headers
			}
			if a.QueryParams != nil {
				s.QueryParams = a.QueryParams
			}
			if a.SourceLabels != nil {
				s.SourceLabels = a.SourceLabels
			}
			out = append(out, s)
		}
	}
	return out
}

// serviceIstioMatches is spec.service.match in the shape of Flagger's Istio types.
func serviceIstioMatches(ms []flaggerv1.HTTPMatchRequest) []istioMatch {
	var out []istioMatch
	for _, m := range ms {
		out = append(out, istioMatch{Name: m.Name, URI: strMatchOf(m.URI), Scheme: strMatchOf(m.Scheme),
			Method: strMatchOf(m.Method), Authority: strMatchOf(m.Authority), Headers: stringMatches(m.Headers),
			Port: uint32(ptr.Deref(m.Port, 0)), SourceLabels: maps.Clone(m.SourceLabels), Gateways: slices.Clone(m.Gateways),
			QueryParams: stringMatches(m.QueryParams), IgnoreURICase: ptr.Deref(m.IgnoreURICase, false),
			WithoutHeaders: stringMatches(m.WithoutHeaders), SourceNamespace: m.SourceNamespace})
	}
	return out
}

// analysisIstioMatches is analysis.match as Istio matches; Istio's string matches have no
// suffix.
func analysisIstioMatches(cd *flaggerv1.Canary) ([]istioMatch, error) {
	var out []istioMatch
	for i, am := range cd.AnalysisSpec().Match {
		for name, h := range am.Headers {
			if h.Suffix != "" {
				return nil, unsupportedf(cd, fmt.Sprintf("spec.analysis.match[%d].headers[%s].suffix", i, name),
					"Istio matches a header exactly, by prefix or by regex, not by suffix")
			}
		}
		out = append(out, istioMatch{Headers: headerMatches(am.Headers), QueryParams: stringMatches(am.QueryParams),
			SourceLabels: maps.Clone(am.SourceLabels)})
	}
	return out, nil
}

func strMatchOf(m *flaggerv1.StringMatch) *strMatch {
	if m == nil {
		return nil
	}
	return &strMatch{Exact: m.Exact, Prefix: m.Prefix, Regex: m.Regex}
}

func headerRulesOf(h *flaggerv1.Headers) *headerRules {
	if h == nil {
		return nil
	}
	ops := func(o *flaggerv1.HeaderOperations) *headerOps {
		if o == nil {
			return nil
		}
		return &headerOps{Set: maps.Clone(o.Set), Add: maps.Clone(o.Add), Remove: slices.Clone(o.Remove)}
	}
	return &headerRules{Request: ops(h.Request), Response: ops(h.Response)}
}
