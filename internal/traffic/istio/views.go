package istio

import "github.com/vanedev/vane/internal/traffic/common"

// The views below hold the members of VirtualServices and DestinationRules the router reads
// or edits; every other member stays in their Fields and is written back as it was (see
// common.Fields): the router decodes an object's spec into them, edits them and encodes them
// back into the object it read.

// vsSpec is the spec of a VirtualService.
type vsSpec struct {
	HTTP   []httpRoute   `json:"http,omitzero"`
	TLS    []l4Route     `json:"tls,omitzero"`
	TCP    []l4Route     `json:"tcp,omitzero"`
	Fields common.Fields `json:"-"`
}

// httpRoute is one of spec.http.
type httpRoute struct {
	Name             string        `json:"name,omitzero"`
	Match            []httpMatch   `json:"match,omitzero"`
	Route            []weighted    `json:"route,omitzero"`
	Mirror           *dest         `json:"mirror,omitzero"`
	MirrorPercentage *percent      `json:"mirrorPercentage,omitzero"`
	Fields           common.Fields `json:"-"`
}

// httpMatch is one of an HTTP route's match.
type httpMatch struct {
	Headers map[string]stringMatch `json:"headers,omitzero"`
	Method  *stringMatch           `json:"method,omitzero"`
	URI     *stringMatch           `json:"uri,omitzero"`
	Fields  common.Fields          `json:"-"`
}

// stringMatch is Istio's StringMatch: one of exact, prefix, regex.
type stringMatch struct {
	Exact  string        `json:"exact,omitzero"`
	Prefix string        `json:"prefix,omitzero"`
	Regex  string        `json:"regex,omitzero"`
	Fields common.Fields `json:"-"`
}

// l4Route is one of spec.tls or spec.tcp.
type l4Route struct {
	Match  []l4Match     `json:"match,omitzero"`
	Route  []weighted    `json:"route,omitzero"`
	Fields common.Fields `json:"-"`
}

// l4Match is one of a TLS or TCP route's match.
type l4Match struct {
	Port     *int64        `json:"port,omitzero"`
	SNIHosts []string      `json:"sniHosts,omitzero"`
	Fields   common.Fields `json:"-"`
}

// weighted is one of a route's route: where it goes and with which weight.
type weighted struct {
	Destination dest          `json:"destination,omitzero"`
	Weight      *int64        `json:"weight,omitzero"`
	Fields      common.Fields `json:"-"`
}

// dest is a destination's host and subset (a mirror route's mirror too).
type dest struct {
	Host   string        `json:"host,omitzero"`
	Subset string        `json:"subset,omitzero"`
	Fields common.Fields `json:"-"`
}

// percent is a mirror route's mirrorPercentage.
type percent struct {
	Value  float64       `json:"value"`
	Fields common.Fields `json:"-"`
}

// drSpec is the spec of a DestinationRule.
type drSpec struct {
	Subsets []subset      `json:"subsets,omitzero"`
	Fields  common.Fields `json:"-"`
}

// subset is one of a DestinationRule's subsets.
type subset struct {
	Name   string            `json:"name,omitzero"`
	Labels map[string]string `json:"labels,omitzero"`
	Fields common.Fields     `json:"-"`
}
