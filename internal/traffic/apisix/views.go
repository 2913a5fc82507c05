package apisix

import "github.com/vanedev/vane/internal/traffic/common"

// The views below hold the members of an ApisixRoute the router reads or edits; every other
// member stays in their Fields and is written back as it was (see common.Fields). Header
// routes are built from a copy of the Rollout's ApisixRoute, so they carry those members along.

// routeSpec is the spec of an ApisixRoute.
type routeSpec struct {
	HTTP   []rule        `json:"http,omitzero"`
	Fields common.Fields `json:"-"`
}

// rule is one of spec.http.
type rule struct {
	Name     string        `json:"name,omitzero"`
	Priority *int64        `json:"priority,omitzero"`
	Match    *match        `json:"match,omitzero"`
	Backends []backend     `json:"backends,omitzero"`
	Fields   common.Fields `json:"-"`
}

// match is a rule's match.
type match struct {
	Exprs  []expr        `json:"exprs,omitzero"`
	Fields common.Fields `json:"-"`
}

// expr is one of a match's expressions, as a header route writes it.
type expr struct {
	Subject subject       `json:"subject"`
	Op      string        `json:"op"`
	Value   string        `json:"value,omitzero"`
	Fields  common.Fields `json:"-"`
}

// subject is what an expression tests.
type subject struct {
	Scope  string        `json:"scope"`
	Name   string        `json:"name,omitzero"`
	Fields common.Fields `json:"-"`
}

// backend is one of a rule's backends: a Service and its weight.
type backend struct {
	ServiceName string        `json:"serviceName"`
	Weight      *int64        `json:"weight,omitzero"`
	Fields      common.Fields `json:"-"`
}
