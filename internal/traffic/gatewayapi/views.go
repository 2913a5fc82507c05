package gatewayapi

import (
	"encoding/json"

	"github.com/vanedev/vane/internal/traffic/common"
)

// The views below hold the members of an HTTPRoute the router reads or edits; every other
// member stays in their Fields and is written back as it was (see common.Fields), including
// members of Gateway API versions newer than the one Vane is built with. Managed rules are
// built from copies of the user's rules, so they carry those members along too.

// routeSpec is the spec of an HTTPRoute.
type routeSpec struct {
	Rules  []rule        `json:"rules,omitzero"`
	Fields common.Fields `json:"-"`
}

// rule is one of spec.rules.
type rule struct {
	Name        *string         `json:"name,omitzero"`
	Matches     []match         `json:"matches,omitzero"`
	Filters     []filter        `json:"filters,omitzero"`
	BackendRefs []backendRef    `json:"backendRefs,omitzero"`
	Timeouts    json.RawMessage `json:"timeouts,omitzero"`
	Fields      common.Fields   `json:"-"`
}

// match is one of a rule's matches.
type match struct {
	Path    *pathMatch    `json:"path,omitzero"`
	Headers []headerMatch `json:"headers,omitzero"`
	Method  *string       `json:"method,omitzero"`
	Fields  common.Fields `json:"-"`
}

// pathMatch is a match's path.
type pathMatch struct {
	Type   *string       `json:"type,omitzero"`
	Value  *string       `json:"value,omitzero"`
	Fields common.Fields `json:"-"`
}

// headerMatch is one of a match's headers.
type headerMatch struct {
	Type   *string       `json:"type,omitzero"`
	Name   string        `json:"name"`
	Value  string        `json:"value"`
	Fields common.Fields `json:"-"`
}

// filter is one of a rule's filters.
type filter struct {
	Type          string        `json:"type"`
	RequestMirror *mirrorFilter `json:"requestMirror,omitzero"`
	Fields        common.Fields `json:"-"`
}

// mirrorFilter is a RequestMirror filter.
type mirrorFilter struct {
	BackendRef objectRef     `json:"backendRef"`
	Percent    *int32        `json:"percent,omitzero"`
	Fields     common.Fields `json:"-"`
}

// objectRef is a reference to a backend (a mirror filter's).
type objectRef struct {
	Group     *string       `json:"group,omitzero"`
	Kind      *string       `json:"kind,omitzero"`
	Name      string        `json:"name"`
	Namespace *string       `json:"namespace,omitzero"`
	Port      *int32        `json:"port,omitzero"`
	Fields    common.Fields `json:"-"`
}

// backendRef is one of a rule's backendRefs: a reference to a backend and its weight.
type backendRef struct {
	Group     *string       `json:"group,omitzero"`
	Kind      *string       `json:"kind,omitzero"`
	Name      string        `json:"name"`
	Namespace *string       `json:"namespace,omitzero"`
	Port      *int32        `json:"port,omitzero"`
	Weight    *int32        `json:"weight,omitzero"`
	Fields    common.Fields `json:"-"`
}

// object is the reference of b, without its weight and filters.
func (b backendRef) object() objectRef {
	return objectRef{Group: b.Group, Kind: b.Kind, Name: b.Name, Namespace: b.Namespace, Port: b.Port}
}

// routeStatus is the status of an HTTPRoute, as far as the router reads it.
type routeStatus struct {
	Parents []parentStatus `json:"parents,omitzero"`
	Fields  common.Fields  `json:"-"`
}

// parentStatus is what a Gateway controller reports on the route for one parent.
type parentStatus struct {
	Conditions []condition   `json:"conditions,omitzero"`
	Fields     common.Fields `json:"-"`
}

// condition is one of a parent status's conditions.
type condition struct {
	Type               string        `json:"type"`
	Status             string        `json:"status"`
	ObservedGeneration int64         `json:"observedGeneration,omitzero"`
	Fields             common.Fields `json:"-"`
}
