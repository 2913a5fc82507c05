package router

import (
	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// The views below hold the members of the VirtualService and DestinationRules that Flagger
// generates, in the JSON shapes Flagger's Istio types give them; the router owns those and
// rewrites them whole. Every other member (spec.exportTo, an HTTP route's fault...) stays in
// their Fields and is written back as it was.

// vsSpec is the spec of the VirtualService.
type vsSpec struct {
	Hosts    []string      `json:"hosts"`
	Gateways []string      `json:"gateways,omitzero"`
	HTTP     []httpRoute   `json:"http,omitzero"`
	TCP      []tcpRoute    `json:"tcp,omitzero"`
	Fields   common.Fields `json:"-"`
}

// httpRoute is one of spec.http.
type httpRoute struct {
	Name             string        `json:"name,omitzero"`
	Match            []istioMatch  `json:"match,omitzero"`
	Route            []destination `json:"route,omitzero"`
	Rewrite          *rewrite      `json:"rewrite,omitzero"`
	Timeout          string        `json:"timeout,omitzero"`
	Retries          *retries      `json:"retries,omitzero"`
	Mirror           *dest         `json:"mirror,omitzero"`
	MirrorPercentage *percent      `json:"mirrorPercentage,omitzero"`
	CorsPolicy       *corsPolicy   `json:"corsPolicy,omitzero"`
	Headers          *headerRules  `json:"headers,omitzero"`
	Fields           common.Fields `json:"-"`
}

// tcpRoute is one of spec.tcp.
type tcpRoute struct {
	Match  []l4Match     `json:"match,omitzero"`
	Route  []destination `json:"route"`
	Fields common.Fields `json:"-"`
}

// istioMatch is an HTTPMatchRequest.
type istioMatch struct {
	Name            string              `json:"name,omitempty"`
	URI             *strMatch           `json:"uri,omitempty"`
	Scheme          *strMatch           `json:"scheme,omitempty"`
	Method          *strMatch           `json:"method,omitempty"`
	Authority       *strMatch           `json:"authority,omitempty"`
	Headers         map[string]strMatch `json:"headers,omitempty"`
	Port            uint32              `json:"port,omitempty"`
	SourceLabels    map[string]string   `json:"sourceLabels,omitempty"`
	Gateways        []string            `json:"gateways,omitempty"`
	QueryParams     map[string]strMatch `json:"queryParams,omitempty"`
	IgnoreURICase   bool                `json:"ignoreUriCase,omitempty"`
	WithoutHeaders  map[string]strMatch `json:"withoutHeaders,omitempty"`
	SourceNamespace string              `json:"sourceNamespace,omitempty"`
}

type l4Match struct {
	Port int32 `json:"port,omitempty"`
}

// destination is a route destination and its weight.
type destination struct {
	Destination dest         `json:"destination"`
	Weight      int          `json:"weight"`
	Headers     *headerRules `json:"headers,omitempty"`
}

type dest struct {
	Host string        `json:"host"`
	Port *portSelector `json:"port,omitempty"`
}

type portSelector struct {
	Number uint32 `json:"number,omitempty"`
}

type percent struct {
	Value float64 `json:"value,omitempty"`
}

type rewrite struct {
	URI       string `json:"uri,omitempty"`
	Authority string `json:"authority,omitempty"`
}

type retries struct {
	Attempts      int32  `json:"attempts"`
	PerTryTimeout string `json:"perTryTimeout,omitempty"`
	RetryOn       string `json:"retryOn,omitempty"`
}

type corsPolicy struct {
	AllowOrigin      []string    `json:"allowOrigin,omitempty"`
	AllowOrigins     []*strMatch `json:"allowOrigins,omitempty"`
	AllowMethods     []string    `json:"allowMethods,omitempty"`
	AllowHeaders     []string    `json:"allowHeaders,omitempty"`
	ExposeHeaders    []string    `json:"exposeHeaders,omitempty"`
	MaxAge           string      `json:"maxAge,omitempty"`
	AllowCredentials bool        `json:"allowCredentials,omitempty"`
}

type headerRules struct {
	Request  *headerOps `json:"request,omitempty"`
	Response *headerOps `json:"response,omitempty"`
}

type headerOps struct {
	Set    map[string]string `json:"set,omitempty"`
	Add    map[string]string `json:"add,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// drSpec is the spec of a DestinationRule.
type drSpec struct {
	Host          string                   `json:"host"`
	TrafficPolicy *flaggerv1.TrafficPolicy `json:"trafficPolicy,omitzero"`
	Fields        common.Fields            `json:"-"`
}

// role is the part an HTTP route plays, by which a rebuilt route finds the one it replaces.
func (h *httpRoute) role() string {
	switch {
	case h.Name == stickyRouteName:
		return roleSticky
	case len(h.Route) == 1:
		return rolePrimary
	}
	return roleWeighted
}

// carryHTTP gives each route of routes the members it does not hold of old's route of the
// same role.
func carryHTTP(routes, old []httpRoute) {
	used := make([]bool, len(old))
	for i := range routes {
		for j := range old {
			if !used[j] && old[j].role() == routes[i].role() {
				used[j] = true
				routes[i].Fields = extra[httpRoute](old[j].Fields)
				break
			}
		}
	}
}

// carryTCP gives each route of routes the members it does not hold of old's route at its
// index.
func carryTCP(routes, old []tcpRoute) {
	for i := range routes {
		if i < len(old) {
			routes[i].Fields = extra[tcpRoute](old[i].Fields)
		}
	}
}
