package istio

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/routertest"
)

// withRoutes is a VirtualService with a foreign route (not managed, not split), the managed
// mirror route and the split route, at 20%.
const withRoutes = `
hosts: [colorapi]
http:
- name: mirror
  match: [{method: {exact: GET}}]
  route: [{destination: {host: stable}, weight: 80}, {destination: {host: canary}, weight: 20}]
  mirror: {host: canary}
- name: admin
  match: [{uri: {prefix: /admin}}]
  route: [{destination: {host: admin}}]
- name: primary
  route: [{destination: {host: stable}, weight: 80}, {destination: {host: canary}, weight: 20}]
`

func named(routes ...string) v1alpha1.IstioTrafficRouting {
	return v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "web", Routes: routes}}
}

func header(name string, match ...v1alpha1.HeaderRoutingMatch) edit {
	return func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
		return r.SetHeaderRoute(ctx, ro, &v1alpha1.SetHeaderRoute{Name: name, Match: match})
	}
}

func exact(s string) *v1alpha1.StringMatch { return &v1alpha1.StringMatch{Exact: s} }

func TestSetHeaderRoute(t *testing.T) {
	cases := map[string]struct {
		istio   v1alpha1.IstioTrafficRouting
		spec    string
		call    edit
		want    string
		wantErr string
	}{
		"added after the managed routes before it, with the canary destination, foreign routes kept": {
			istio: named("primary"), spec: withRoutes,
			call: header("header", v1alpha1.HeaderRoutingMatch{HeaderName: "X-Canary", HeaderValue: exact("yes")},
				v1alpha1.HeaderRoutingMatch{HeaderName: "X-Team", HeaderValue: &v1alpha1.StringMatch{Prefix: "col"}}),
			want: `
hosts: [colorapi]
http:
- name: mirror
  match: [{method: {exact: GET}}]
  route: [{destination: {host: stable}, weight: 80}, {destination: {host: canary}, weight: 20}]
  mirror: {host: canary}
- name: header
  match: [{headers: {X-Canary: {exact: "yes"}, X-Team: {prefix: col}}}]
  route: [{destination: {host: canary}}]
- name: admin
  match: [{uri: {prefix: /admin}}]
  route: [{destination: {host: admin}}]
- name: primary
  route: [{destination: {host: stable}, weight: 80}, {destination: {host: canary}, weight: 20}]
`,
		},
		"replaced when set again": {
			istio: named("primary"),
			spec: `
http:
- name: header
  match: [{headers: {X-Canary: {exact: "yes"}}}]
  route: [{destination: {host: canary}}]
- name: primary
  route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary, port: {number: 80}}, weight: 0}]`,
			call: header("header", v1alpha1.HeaderRoutingMatch{HeaderName: "X-Canary", HeaderValue: &v1alpha1.StringMatch{Regex: "y.*"}}),
			want: `
http:
- name: header
  match: [{headers: {X-Canary: {regex: y.*}}}]
  route: [{destination: {host: canary, port: {number: 80}}}]
- name: primary
  route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary, port: {number: 80}}, weight: 0}]`,
		},
		"subset level: the canary subset": {
			istio: subsetLevel(),
			spec:  `http: [{route: [{destination: {host: colorapi, subset: stable}, weight: 100}, {destination: {host: colorapi, subset: canary}, weight: 0}]}]`,
			call:  header("header", v1alpha1.HeaderRoutingMatch{HeaderName: "X-Canary", HeaderValue: exact("yes")}),
			want: `
http:
- name: header
  match: [{headers: {X-Canary: {exact: "yes"}}}]
  route: [{destination: {host: colorapi, subset: canary}}]
- route: [{destination: {host: colorapi, subset: stable}, weight: 100}, {destination: {host: colorapi, subset: canary}, weight: 0}]`,
		},
		"a step without match removes it, and only it": {
			istio: named("primary"),
			spec: `
http:
- name: mirror
  route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]
  mirror: {host: canary}
- name: header
  route: [{destination: {host: canary}}]
- name: primary
  route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]`,
			call: header("header"),
			want: `
http:
- name: mirror
  route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]
  mirror: {host: canary}
- name: primary
  route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]`,
		},
		"removing a route that is not there writes nothing": {istio: named("primary"), spec: withRoutes, call: header("header")},
		"a route not listed in managedRoutes": {
			istio: named("primary"), spec: withRoutes,
			call:    header("admin", v1alpha1.HeaderRoutingMatch{HeaderName: "X-Canary", HeaderValue: exact("yes")}),
			wantErr: `Invalid: Rollout shop/web: spec.strategy.canary.steps[].setHeaderRoute.name: route "admin" is not listed in spec.strategy.canary.trafficRouting.managedRoutes`,
		},
		"a match without a value": {
			istio: named("primary"), spec: withRoutes,
			call:    header("header", v1alpha1.HeaderRoutingMatch{HeaderName: "X-Canary"}),
			wantErr: `Invalid: Rollout shop/web: spec.strategy.canary.steps[].setHeaderRoute.match[0]: a header match needs headerName and one of exact, prefix or regex`,
		},
		"no HTTP route to split": {
			istio:   v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "web", TCPRoutes: []v1alpha1.TCPRoute{{Port: 5432}}}},
			spec:    `tcp: [{match: [{port: 5432}], route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]}]`,
			call:    header("header", v1alpha1.HeaderRoutingMatch{HeaderName: "X-Canary", HeaderValue: exact("yes")}),
			wantErr: `Invalid: Rollout shop/web: spec.strategy.canary.trafficRouting.istio: header and mirror routes need a VirtualService with an HTTP route to split`,
		},
		"malformed: a managed route's match": {
			istio:   named("primary"),
			spec:    `http: [{name: header, match: [{headers: {X-Canary: "yes"}}]}, {name: primary, route: []}]`,
			call:    header("header"),
			wantErr: `Invalid: VirtualService shop/web: spec.http[0].match[0].headers.X-Canary: is a string, not an object`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := routertest.Rollout(v1alpha1.RolloutTrafficRouting{Istio: &tc.istio}, "mirror", "header")
			var want map[string]string
			if tc.want != "" {
				want = map[string]string{"VirtualService/web": tc.want}
			}
			run(t, ro, []*unstructured.Unstructured{object(t, "VirtualService", "web", tc.spec)}, tc.call, want, tc.wantErr)
		})
	}
}

func mirror(name string, pct *int32, match ...v1alpha1.RouteMatch) edit {
	return func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
		return r.SetMirrorRoute(ctx, ro, &v1alpha1.SetMirrorRoute{Name: name, Percentage: pct, Match: match})
	}
}

func TestSetMirrorRoute(t *testing.T) {
	split := `
http:
- name: header
  route: [{destination: {host: canary}}]
- name: primary
  timeout: 5s
  route: [{destination: {host: stable, port: {number: 80}}, weight: 70}, {destination: {host: canary, port: {number: 80}}, weight: 30}]`
	cases := map[string]struct {
		spec    string
		call    edit
		want    string
		wantErr string
	}{
		"added first, routed as the split route, mirrored to the canary": {
			spec: split,
			call: mirror("mirror", ptr.To[int32](50),
				v1alpha1.RouteMatch{Method: exact("GET"), Path: &v1alpha1.StringMatch{Prefix: "/api"}},
				v1alpha1.RouteMatch{Headers: map[string]v1alpha1.StringMatch{"X-B": {Regex: "b.*"}, "X-A": {Exact: "a"}}}),
			want: `
http:
- name: mirror
  match:
  - {method: {exact: GET}, uri: {prefix: /api}}
  - {headers: {X-A: {exact: a}, X-B: {regex: b.*}}}
  route: [{destination: {host: stable, port: {number: 80}}, weight: 70}, {destination: {host: canary, port: {number: 80}}, weight: 30}]
  mirror: {host: canary, port: {number: 80}}
  mirrorPercentage: {value: 50}
- name: header
  route: [{destination: {host: canary}}]
- name: primary
  timeout: 5s
  route: [{destination: {host: stable, port: {number: 80}}, weight: 70}, {destination: {host: canary, port: {number: 80}}, weight: 30}]`,
		},
		"without a percentage": {
			spec: `http: [{route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]}]`,
			call: mirror("mirror", nil, v1alpha1.RouteMatch{Method: exact("POST")}),
			want: `
http:
- name: mirror
  match: [{method: {exact: POST}}]
  route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]
  mirror: {host: canary}
- route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]`,
		},
		"a step without match removes it": {
			spec: `http: [{name: mirror, route: [], mirror: {host: canary}}, {route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]}]`,
			call: mirror("mirror", nil),
			want: `http: [{route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]}]`,
		},
		"a method without a value": {
			spec:    split,
			call:    mirror("mirror", nil, v1alpha1.RouteMatch{Method: &v1alpha1.StringMatch{}}),
			wantErr: `Invalid: Rollout shop/web: spec.strategy.canary.steps[].setMirrorRoute.match[0].method: set one of exact, prefix or regex`,
		},
		"a header without a value": {
			spec:    split,
			call:    mirror("mirror", nil, v1alpha1.RouteMatch{Headers: map[string]v1alpha1.StringMatch{"X-A": {}}}),
			wantErr: `Invalid: Rollout shop/web: spec.strategy.canary.steps[].setMirrorRoute.match[0].headers[X-A]: set one of exact, prefix or regex`,
		},
		"a route without a name": {
			spec:    split,
			call:    mirror("", nil, v1alpha1.RouteMatch{Method: exact("GET")}),
			wantErr: `Invalid: Rollout shop/web: spec.strategy.canary.steps[].setMirrorRoute.name: the route needs a name listed in spec.strategy.canary.trafficRouting.managedRoutes`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := routertest.Rollout(v1alpha1.RolloutTrafficRouting{Istio: ptr.To(named())}, "mirror", "header")
			if tc.spec == split {
				ro.Spec.Strategy.Canary.TrafficRouting.Istio.VirtualService.Routes = []string{"primary"}
			}
			var want map[string]string
			if tc.want != "" {
				want = map[string]string{"VirtualService/web": tc.want}
			}
			run(t, ro, []*unstructured.Unstructured{object(t, "VirtualService", "web", tc.spec)}, tc.call, want, tc.wantErr)
		})
	}
}

func TestRemoveManagedRoutes(t *testing.T) {
	remove := func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
		return r.RemoveManagedRoutes(ctx, ro)
	}
	cases := map[string]struct {
		specs   map[string]string // VirtualService name -> spec
		want    map[string]string
		wantErr string
	}{
		"the managed routes go from every VirtualService, foreign routes stay": {
			specs: map[string]string{
				"web": withRoutes,
				"internal": `
http:
- name: header
  route: [{destination: {host: canary}}]
- name: headers
  route: [{destination: {host: stable}}]`,
			},
			want: map[string]string{
				"VirtualService/web": `
hosts: [colorapi]
http:
- name: admin
  match: [{uri: {prefix: /admin}}]
  route: [{destination: {host: admin}}]
- name: primary
  route: [{destination: {host: stable}, weight: 80}, {destination: {host: canary}, weight: 20}]
`,
				"VirtualService/internal": `http: [{name: headers, route: [{destination: {host: stable}}]}]`,
			},
		},
		"no managed route: nothing written": {
			specs: map[string]string{"web": primary, "internal": `tcp: []`},
		},
		"only managed routes: spec.http goes": {
			specs: map[string]string{"web": `{hosts: [a], http: [{name: mirror}, {name: header}]}`, "internal": `tcp: []`},
			want:  map[string]string{"VirtualService/web": `hosts: [a]`},
		},
		"malformed: a route's name": {
			specs:   map[string]string{"web": `http: [{name: 3}]`, "internal": `tcp: []`},
			wantErr: `Invalid: VirtualService shop/web: spec.http[0].name: is a number, not a string`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := routertest.Rollout(v1alpha1.RolloutTrafficRouting{Istio: ptr.To(istio("web", "internal"))}, "mirror", "header")
			var objs []*unstructured.Unstructured
			for _, n := range []string{"web", "internal"} {
				objs = append(objs, object(t, "VirtualService", n, tc.specs[n]))
			}
			run(t, ro, objs, remove, tc.want, tc.wantErr)
		})
	}
}
