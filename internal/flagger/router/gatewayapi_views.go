package router

import (
	"slices"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/vanedev/vane/internal/traffic/common"
)

// The views below hold the members of the HTTPRoute that Flagger generates: the router owns
// them and rewrites them whole. Every other member (a rule's name, a timeouts.backendRequest,
// a field of a newer Gateway API...) stays in their Fields and is written back as it was; a
// rule the router rebuilds takes the Fields of the rule of the same role it replaces.

// routeSpec is the spec of the HTTPRoute.
type routeSpec struct {
	ParentRefs []gatewayv1.ParentReference `json:"parentRefs,omitzero"`
	Hostnames  []gatewayv1.Hostname        `json:"hostnames,omitzero"`
	Rules      []rule                      `json:"rules,omitzero"`
	Fields     common.Fields               `json:"-"`
}

// rule is one of spec.rules.
type rule struct {
	Matches     []gatewayv1.HTTPRouteMatch  `json:"matches,omitzero"`
	Filters     []gatewayv1.HTTPRouteFilter `json:"filters,omitzero"`
	BackendRefs []backendRef                `json:"backendRefs,omitzero"`
	Timeouts    *timeouts                   `json:"timeouts,omitzero"`
	Fields      common.Fields               `json:"-"`
}

// timeouts is a rule's timeouts: Flagger sets the request timeout only.
type timeouts struct {
	Request *gatewayv1.Duration `json:"request,omitzero"`
	Fields  common.Fields       `json:"-"`
}

// backendRef is one of a rule's backendRefs.
type backendRef struct {
	Group     *gatewayv1.Group            `json:"group,omitzero"`
	Kind      *gatewayv1.Kind             `json:"kind,omitzero"`
	Name      gatewayv1.ObjectName        `json:"name"`
	Namespace *gatewayv1.Namespace        `json:"namespace,omitzero"`
	Port      *gatewayv1.PortNumber       `json:"port,omitzero"`
	Weight    *int32                      `json:"weight,omitzero"`
	Filters   []gatewayv1.HTTPRouteFilter `json:"filters,omitzero"`
	Fields    common.Fields               `json:"-"`
}

// clone copies r's lists, so that editing the copy leaves r as it is.
func (r rule) clone() rule {
	r.Matches = slices.Clone(r.Matches)
	r.Filters = slices.Clone(r.Filters)
	r.BackendRefs = slices.Clone(r.BackendRefs)
	for i := range r.BackendRefs {
		r.BackendRefs[i].Filters = slices.Clone(r.BackendRefs[i].Filters)
	}
	if r.Timeouts != nil {
		t := *r.Timeouts
		r.Timeouts = &t
	}
	return r
}

// Roles of rules, by which a rebuilt rule finds the one it replaces.
const (
	roleWeighted = "weighted" // routes to the primary and the canary by weight
	rolePrimary  = "primary"  // A/B testing: the requests that do not match go to the primary
	roleSticky   = "sticky"   // session affinity: requests with the cookie go to the canary
)

func (r *rule) role() string {
	if r.sticky("") {
		return roleSticky
	}
	if len(r.BackendRefs) == 1 {
		return rolePrimary
	}
	return roleWeighted
}

// sticky reports whether r matches a Cookie header by regex, for a cookie named cookie when it
// is not "": the rule session affinity adds.
func (r *rule) sticky(cookie string) bool {
	for _, m := range r.Matches {
		for _, h := range m.Headers {
			if h.Type != nil && *h.Type == gatewayv1.HeaderMatchRegularExpression && h.Name == cookieHeader &&
				containsCookie(h.Value, cookie) {
				return true
			}
		}
	}
	return false
}

// carry gives s the members of old it does not hold, and each rule those of old's rule of the
// same role.
func (s *routeSpec) carry(old routeSpec) {
	s.Fields = extra[routeSpec](old.Fields)
	used := make([]bool, len(old.Rules))
	for i := range s.Rules {
		role := s.Rules[i].role()
		for j := range old.Rules {
			if !used[j] && old.Rules[j].role() == role {
				used[j] = true
				s.Rules[i].carry(old.Rules[j])
				break
			}
		}
	}
}

func (r *rule) carry(old rule) {
	r.Fields = extra[rule](old.Fields)
	if old.Timeouts != nil {
		if f := extra[timeouts](old.Timeouts.Fields); f != nil {
			if r.Timeouts == nil {
				r.Timeouts = &timeouts{}
			}
			r.Timeouts.Fields = f
		}
	}
	for i := range r.BackendRefs {
		for _, ob := range old.BackendRefs {
			if ob.Name == r.BackendRefs[i].Name {
				r.BackendRefs[i].Fields = extra[backendRef](ob.Fields)
				break
			}
		}
	}
}
