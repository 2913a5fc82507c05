package nginx

import (
	"context"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

func header(name string, match ...v1alpha1.HeaderRoutingMatch) call {
	return func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
		return r.SetHeaderRoute(ctx, ro, &v1alpha1.SetHeaderRoute{Name: name, Match: match})
	}
}

func match(name string, v v1alpha1.StringMatch) v1alpha1.HeaderRoutingMatch {
	return v1alpha1.HeaderRoutingMatch{HeaderName: name, HeaderValue: &v}
}

// weighted is the canary Ingress at 20% with the additional annotation.
func weighted() client.Object {
	return canary("", map[string]string{prefix + "canary": "true", prefix + "canary-weight": "20", prefix + "canary-by-header": "X-Always", "example.com/team": "colors"})
}

// withHeader is the canary Ingress at 20% with header route "header".
func withHeader() client.Object {
	return canary("", map[string]string{prefix + "canary": "true", prefix + "canary-weight": "20", prefix + "canary-by-header": "X-Canary",
		prefix + "canary-by-header-pattern": "^y.*", HeaderRouteAnnotation: "header", "example.com/team": "colors"})
}

func TestSetHeaderRoute(t *testing.T) {
	const base = prefix + `canary: "true", ` + prefix + `canary-weight: "20", example.com/team: colors, `
	cases := map[string]struct {
		objs     []client.Object
		call     call
		want     string // the canary Ingress's annotations
		noCanary bool   // there must be no canary Ingress afterwards
		wantErr  string
	}{
		"exact: canary-by-header and its value, over the additional annotation": {
			objs: []client.Object{stable("web"), weighted()}, call: header("header", match("X-Canary", v1alpha1.StringMatch{Exact: "yes"})),
			want: base + prefix + `canary-by-header: X-Canary, ` + prefix + `canary-by-header-value: "yes", vane.dev/header-route: header`,
		},
		"regex: canary-by-header-pattern": {
			objs: []client.Object{stable("web"), weighted()}, call: header("header", match("X-Canary", v1alpha1.StringMatch{Regex: "y.*"})),
			want: base + prefix + `canary-by-header: X-Canary, ` + prefix + `canary-by-header-pattern: y.*, vane.dev/header-route: header`,
		},
		"prefix: an anchored pattern": {
			objs: []client.Object{stable("web"), weighted()}, call: header("header", match("X-Canary", v1alpha1.StringMatch{Prefix: "v1."})),
			want: base + prefix + `canary-by-header: X-Canary, ` + prefix + `canary-by-header-pattern: ^v1\..*, vane.dev/header-route: header`,
		},
		"replaced: the previous value goes": {
			objs: []client.Object{stable("web"), withHeader()}, call: header("header", match("X-Team", v1alpha1.StringMatch{Exact: "colors"})),
			want: base + prefix + `canary-by-header: X-Team, ` + prefix + `canary-by-header-value: colors, vane.dev/header-route: header`,
		},
		"removed by a step without match: the additional annotation is back": {
			objs: []client.Object{stable("web"), withHeader()}, call: header("header"),
			want: base + prefix + `canary-by-header: X-Always`,
		},
		"removing another route changes nothing": {
			objs: []client.Object{stable("web"), withHeader()}, call: header("mirror"),
		},
		"removing creates no canary Ingress": {
			objs: []client.Object{stable("web")}, call: header("header"), noCanary: true,
		},
		"more than one header": {
			objs:    []client.Object{stable("web"), weighted()},
			call:    header("header", match("X-A", v1alpha1.StringMatch{Exact: "a"}), match("X-B", v1alpha1.StringMatch{Exact: "b"})),
			wantErr: `Unsupported: Rollout shop/web: spec.strategy.canary.steps[].setHeaderRoute.match: ingress-nginx routes by one header; the step has 2`,
		},
		"a header without a value": {
			objs:    []client.Object{stable("web"), weighted()},
			call:    header("header", match("X-A", v1alpha1.StringMatch{})),
			wantErr: `Invalid: Rollout shop/web: spec.strategy.canary.steps[].setHeaderRoute.match[0].headerValue: set one of exact, prefix or regex`,
		},
		"a route not listed in managedRoutes": {
			objs:    []client.Object{stable("web"), weighted()},
			call:    header("other", match("X-A", v1alpha1.StringMatch{Exact: "a"})),
			wantErr: `Invalid: Rollout shop/web: spec.strategy.canary.steps[].setHeaderRoute.name: route "other" is not listed in spec.strategy.canary.trafficRouting.managedRoutes`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var want map[string]string
			switch {
			case tc.want != "":
				want = map[string]string{"Ingress/web-web-canary": annotations(tc.want) + canaryIngressSpec}
			case tc.noCanary:
				want = map[string]string{"Ingress/web-web-canary": ""}
			}
			run(t, nginx(nil), nil, tc.objs, tc.call, want, tc.wantErr)
		})
	}
}

func TestSetMirrorRoute(t *testing.T) {
	cases := map[string]struct {
		route   *v1alpha1.SetMirrorRoute
		wantErr string
	}{
		"refused": {route: &v1alpha1.SetMirrorRoute{Name: "mirror", Match: []v1alpha1.RouteMatch{{Method: &v1alpha1.StringMatch{Exact: "GET"}}}},
			wantErr: `Unsupported: Rollout shop/web: spec.strategy.canary.steps[].setMirrorRoute: ingress-nginx canary Ingresses cannot mirror traffic`},
		"none: nothing to do": {},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			run(t, nginx(nil), nil, []client.Object{stable("web"), weighted()}, func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
				return r.SetMirrorRoute(ctx, ro, tc.route)
			}, nil, tc.wantErr)
		})
	}
}

func TestRemoveManagedRoutes(t *testing.T) {
	remove := func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
		return r.RemoveManagedRoutes(ctx, ro)
	}
	cases := map[string]struct {
		objs []client.Object
		want string
	}{
		"the header route goes, the additional annotation is back": {
			objs: []client.Object{stable("web"), withHeader()},
			want: prefix + `canary: "true", ` + prefix + `canary-weight: "20", example.com/team: colors, ` + prefix + `canary-by-header: X-Always`,
		},
		"no header route: nothing written": {objs: []client.Object{stable("web"), weighted()}},
		"no canary Ingress: none created":  {objs: []client.Object{stable("web")}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			want := map[string]string{"Ingress/web-web-canary": ""}
			if tc.want != "" {
				want["Ingress/web-web-canary"] = annotations(tc.want) + canaryIngressSpec
			} else if len(tc.objs) > 1 {
				want = nil
			}
			run(t, nginx(nil), nil, tc.objs, remove, want, "")
		})
	}
}
