package istio

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

var istioPath = common.TrafficRoutingPath + ".istio"

// vsRef is a VirtualService the Rollout names, with the Rollout field naming it.
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

// virtualServices lists the VirtualServices the Rollout names (none with only a
// DestinationRule).
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

func isManaged(tr *v1alpha1.RolloutTrafficRouting, name string) bool {
	return common.ManagedRouteIndex(tr, name) >= 0
}

// routeRef is one route of a VirtualService whose destinations get the weights.
type routeRef struct {
	kind  string // http, tls or tcp
	index int
}

func (t routeRef) field() string { return fmt.Sprintf("spec.%s[%d]", t.kind, t.index) }

// route returns the destinations of the route t refers to.
func (s *vsSpec) route(t routeRef) *[]weighted {
	switch t.kind {
	case "http":
		return &s.HTTP[t.index].Route
	case "tls":
		return &s.TLS[t.index].Route
	}
	return &s.TCP[t.index].Route
}

// targets finds the routes the Rollout names in a VirtualService (the single HTTP route when it
// names none).
func targets(l *loadedVS, tr *v1alpha1.RolloutTrafficRouting) ([]routeRef, error) {
	want := l.ref.spec
	if len(want.Routes) == 0 && len(want.TLSRoutes) == 0 && len(want.TCPRoutes) == 0 {
		return soleHTTPRoute(l, tr)
	}
	var out []routeRef
	for _, name := range want.Routes {
		i := slices.IndexFunc(l.spec.HTTP, func(h httpRoute) bool { return h.Name == name })
		if i < 0 {
			return nil, l.invalid("spec.http", "has no route named %q", name)
		}
		out = append(out, routeRef{"http", i})
	}
	for _, w := range want.TLSRoutes {
		i := slices.IndexFunc(l.spec.TLS, func(t l4Route) bool { return matchesPorts(t, w.Port, w.SNIHosts) })
		if i < 0 {
			return nil, l.invalid("spec.tls", "has no route matching port %d and sniHosts %v", w.Port, w.SNIHosts)
		}
		out = append(out, routeRef{"tls", i})
	}
	for _, w := range want.TCPRoutes {
		i := slices.IndexFunc(l.spec.TCP, func(t l4Route) bool { return matchesPorts(t, w.Port, nil) })
		if i < 0 {
			return nil, l.invalid("spec.tcp", "has no route matching port %d", w.Port)
		}
		out = append(out, routeRef{"tcp", i})
	}
	return out, nil
}

// soleHTTPRoute is the one HTTP route (managed routes aside) of a VirtualService whose routes
// the Rollout does not name.
func soleHTTPRoute(l *loadedVS, tr *v1alpha1.RolloutTrafficRouting) ([]routeRef, error) {
	var out []routeRef
	for i, h := range l.spec.HTTP {
		if !isManaged(tr, h.Name) {
			out = append(out, routeRef{"http", i})
		}
	}
	switch len(out) {
	case 0:
		return nil, l.invalid("spec.http", "has no HTTP route; name the TLS or TCP routes to edit in the Rollout")
	case 1:
		return out, nil
	}
	return nil, l.invalid("spec.http", "has %d HTTP routes; list the ones to edit in the Rollout's virtualService routes", len(out))
}

// matchesPorts reports whether one of a TLS or TCP route's matches has port (when set) and
// the same sniHosts (when set).
func matchesPorts(route l4Route, port int64, sni []string) bool {
	for _, m := range route.Match {
		if port != 0 && (m.Port == nil || *m.Port != port) {
			continue
		}
		if len(sni) > 0 {
			a, b := slices.Clone(sni), slices.Clone(m.SNIHosts)
			slices.Sort(a)
			slices.Sort(b)
			if !slices.Equal(a, b) {
				continue
			}
		}
		return true
	}
	return false
}
