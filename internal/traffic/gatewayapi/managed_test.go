package gatewayapi

import (
	"context"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/routertest"
)

func header(name string, match ...v1alpha1.HeaderRoutingMatch) call {
	return func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
		return r.SetHeaderRoute(ctx, ro, &v1alpha1.SetHeaderRoute{Name: name, Match: match})
	}
}

func mirror(name string, pct *int32, match ...v1alpha1.RouteMatch) call {
	return func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
		return r.SetMirrorRoute(ctx, ro, &v1alpha1.SetMirrorRoute{Name: name, Percentage: pct, Match: match})
	}
}

func hdr(name string, v v1alpha1.StringMatch) v1alpha1.HeaderRoutingMatch {
	return v1alpha1.HeaderRoutingMatch{HeaderName: name, HeaderValue: &v}
}

// twoSplits is a route with two rules that split traffic (one with a mirror filter of its
// own, one without matches) and a foreign rule.
const twoSplits = `
rules:
- matches: [{path: {type: PathPrefix, value: /api}, headers: [{name: x-canary, value: "no"}, {name: X-Team, value: a}]}]
  filters: [{type: RequestMirror, requestMirror: {backendRef: {name: shadow}}}, {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x, value: "y"}]}}]
  timeouts: {request: 5s}
  backendRefs: [{name: stable, port: 80, weight: 80}, {name: canary, port: 80, weight: 20, futureRefField: kept}]
- backendRefs: [{name: stable, weight: 80}, {name: canary, weight: 20}]
- matches: [{path: {type: PathPrefix, value: /static}}]
  backendRefs: [{name: assets}]
`

func TestSetHeaderRoute(t *testing.T) {
	cases := map[string]struct {
		cfg     string
		spec    string
		call    call
		want    string // the spec of HTTPRoute web
		wantErr string
	}{
		"a rule per split rule: its matches with the headers, its filters but mirrors, to the canary only": {
			spec: twoSplits,
			call: header("header", hdr("X-Canary", v1alpha1.StringMatch{Exact: "yes"}), hdr("X-Team", v1alpha1.StringMatch{Prefix: "col"})),
			want: twoSplits + `
- name: header
  matches: [{path: {type: PathPrefix, value: /api}, headers: [{name: X-Canary, type: Exact, value: "yes"}, {name: X-Team, type: RegularExpression, value: ^col.*}]}]
  filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x, value: "y"}]}}]
  timeouts: {request: 5s}
  backendRefs: [{name: canary, port: 80, futureRefField: kept}]
- name: header-1
  matches: [{headers: [{name: X-Canary, type: Exact, value: "yes"}, {name: X-Team, type: RegularExpression, value: ^col.*}]}]
  backendRefs: [{name: canary}]
`,
		},
		"after the mirror rules, in the order of managedRoutes; set again, replaced": {
			spec: `
rules:
- name: header
  matches: [{headers: [{name: X-Canary, type: Exact, value: "yes"}]}]
  backendRefs: [{name: canary}]
- backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]
- name: mirror
  backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]`,
			call: header("header", hdr("X-Canary", v1alpha1.StringMatch{Regex: "y.*"})),
			want: `
rules:
- backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]
- name: mirror
  backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]
- name: header
  matches: [{headers: [{name: X-Canary, type: RegularExpression, value: y.*}]}]
  backendRefs: [{name: canary}]`,
		},
		"removed by a step without match; foreign rules with names like it stay": {
			spec: `
rules:
- backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]
- {name: header, backendRefs: [{name: canary}]}
- {name: header-1, backendRefs: [{name: canary}]}
- {name: header-x, backendRefs: [{name: canary}]}
- {name: headers, backendRefs: [{name: canary}]}`,
			call: header("header"),
			want: `
rules:
- backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]
- {name: header-x, backendRefs: [{name: canary}]}
- {name: headers, backendRefs: [{name: canary}]}`,
		},
		"removing a rule that is not there writes nothing": {spec: twoSplits, call: header("header")},
		"only in the routes with header routes": {
			cfg:  `{"httpRoutes":[{"name":"web","useHeaderRoutes":true},{"name":"internal"}]}`,
			spec: `rules: [{backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]}]`,
			call: header("header", hdr("X-Canary", v1alpha1.StringMatch{Exact: "yes"})),
			want: `rules: [{backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]}, {name: header, matches: [{headers: [{name: X-Canary, type: Exact, value: "yes"}]}], backendRefs: [{name: canary}]}]`,
		},
		"no route with header routes": {
			cfg:     `{"httpRoutes":[{"name":"web"},{"name":"internal"}]}`,
			spec:    twoSplits,
			call:    header("header", hdr("X-Canary", v1alpha1.StringMatch{Exact: "yes"})),
			wantErr: `Invalid: Rollout shop/web: spec.strategy.canary.trafficRouting.plugins["argoproj-labs/gatewayAPI"].httpRoutes[].useHeaderRoutes: setHeaderRoute needs a route with useHeaderRoutes: true`,
		},
		"a header without a value": {
			spec: twoSplits, call: header("header", hdr("X-Canary", v1alpha1.StringMatch{})),
			wantErr: `Invalid: Rollout shop/web: spec.strategy.canary.steps[].setHeaderRoute.match[0]: a header match needs headerName and one of exact, prefix or regex`,
		},
		"more rules than an HTTPRoute holds": {
			spec: `rules: [{backendRefs: [{name: stable}, {name: canary}]}, {backendRefs: [{name: stable}, {name: canary}]}, {backendRefs: [{name: stable}, {name: canary}]},
  {backendRefs: [{name: stable}, {name: canary}]}, {backendRefs: [{name: stable}, {name: canary}]}, {backendRefs: [{name: stable}, {name: canary}]},
  {backendRefs: [{name: stable}, {name: canary}]}, {backendRefs: [{name: stable}, {name: canary}]}, {backendRefs: [{name: stable}, {name: canary}]}]`,
			call:    header("header", hdr("X-Canary", v1alpha1.StringMatch{Exact: "yes"})),
			wantErr: `Invalid: HTTPRoute shop/web: spec.rules: would have 18 rules with the managed routes; an HTTPRoute holds at most 16`,
		},
		"malformed: a header match": {
			spec:    `rules: [{matches: [{headers: {X-Canary: "yes"}}], backendRefs: [{name: stable}, {name: canary}]}]`,
			call:    header("header", hdr("X-Canary", v1alpha1.StringMatch{Exact: "yes"})),
			wantErr: `Invalid: HTTPRoute shop/web: spec.rules[0].matches[0].headers: is an object, not a list`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			runManaged(t, tc.cfg, tc.spec, tc.call, tc.want, tc.wantErr)
		})
	}
}

// runManaged runs f over HTTPRoute web with spec and HTTPRoute internal (a split route that
// must stay as it is), configured by cfg (by default httpRoute web).
func runManaged(t *testing.T, cfg, spec string, f call, want, wantErr string) {
	t.Helper()
	if cfg == "" {
		cfg = `{"httpRoute":"web"}`
	}
	objs := []client.Object{httpRoute(t, "web", spec, ""),
		httpRoute(t, "internal", `rules: [{backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]}]`, "")}
	var w map[string]string
	if want != "" {
		w = map[string]string{"HTTPRoute/web": routertest.Spec(want)}
	}
	run(t, cfg, nil, objs, f, w, wantErr)
}

func TestSetMirrorRoute(t *testing.T) {
	pct := int32(50)
	cases := map[string]struct {
		spec    string
		call    call
		want    string
		wantErr string
	}{
		"a rule per split rule: its matches narrowed, routed as it is, mirrored to the canary": {
			spec: twoSplits,
			call: mirror("mirror", &pct,
				v1alpha1.RouteMatch{Method: &v1alpha1.StringMatch{Exact: "get"}, Path: &v1alpha1.StringMatch{Exact: "/api/v1"}},
				v1alpha1.RouteMatch{Headers: map[string]v1alpha1.StringMatch{"X-Team": {Exact: "b"}, "X-A": {Regex: "a.*"}}}),
			want: twoSplits + `
- name: mirror
  matches:
  - {path: {type: Exact, value: /api/v1}, method: GET, headers: [{name: x-canary, value: "no"}, {name: X-Team, value: a}]}
  - {path: {type: PathPrefix, value: /api}, headers: [{name: x-canary, value: "no"}, {name: X-A, type: RegularExpression, value: a.*}, {name: X-Team, type: Exact, value: b}]}
  filters:
  - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x, value: "y"}]}}
  - {type: RequestMirror, requestMirror: {backendRef: {name: canary, port: 80}, percent: 50}}
  timeouts: {request: 5s}
  backendRefs: [{name: stable, port: 80, weight: 80}, {name: canary, port: 80, weight: 20, futureRefField: kept}]
- name: mirror-1
  matches:
  - {method: GET, path: {type: Exact, value: /api/v1}}
  - {headers: [{name: X-A, type: RegularExpression, value: a.*}, {name: X-Team, type: Exact, value: b}]}
  filters: [{type: RequestMirror, requestMirror: {backendRef: {name: canary}, percent: 50}}]
  backendRefs: [{name: stable, weight: 80}, {name: canary, weight: 20}]
`,
		},
		"before the header rules; a path prefix or regex, no percentage": {
			spec: `rules: [{backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]}, {name: header, backendRefs: [{name: canary}]}]`,
			call: mirror("mirror", nil, v1alpha1.RouteMatch{Path: &v1alpha1.StringMatch{Prefix: "/a"}}, v1alpha1.RouteMatch{Path: &v1alpha1.StringMatch{Regex: "/b.*"}}),
			want: `
rules:
- backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]
- name: mirror
  matches: [{path: {type: PathPrefix, value: /a}}, {path: {type: RegularExpression, value: /b.*}}]
  filters: [{type: RequestMirror, requestMirror: {backendRef: {name: canary}}}]
  backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]
- {name: header, backendRefs: [{name: canary}]}`,
		},
		"removed by a step without match": {
			spec: `rules: [{name: mirror-1, backendRefs: [{name: stable}, {name: canary}]}, {backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]}]`,
			call: mirror("mirror", nil),
			want: `rules: [{backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]}]`,
		},
		"a method matched otherwise than exactly": {
			spec:    twoSplits,
			call:    mirror("mirror", nil, v1alpha1.RouteMatch{Method: &v1alpha1.StringMatch{Prefix: "G"}}),
			wantErr: `Unsupported: Rollout shop/web: spec.strategy.canary.steps[].setMirrorRoute.match[0].method: the Gateway API matches methods exactly only`,
		},
		"a header without a value": {
			spec:    twoSplits,
			call:    mirror("mirror", nil, v1alpha1.RouteMatch{Headers: map[string]v1alpha1.StringMatch{"X-A": {}}}),
			wantErr: `Invalid: Rollout shop/web: spec.strategy.canary.steps[].setMirrorRoute.match[0].headers[X-A]: set one of exact, prefix or regex`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) { runManaged(t, "", tc.spec, tc.call, tc.want, tc.wantErr) })
	}
}

func TestRemoveManagedRoutes(t *testing.T) {
	remove := func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
		return r.RemoveManagedRoutes(ctx, ro)
	}
	cases := map[string]struct {
		specs   map[string]string
		want    map[string]string
		wantErr string
	}{
		"every managed rule from every route, foreign rules kept": {
			specs: map[string]string{
				"web": `
rules:
- backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]
- {name: mirror, backendRefs: [{name: stable}, {name: canary}]}
- {name: mirror-1, backendRefs: [{name: stable}, {name: canary}]}
- {name: header, backendRefs: [{name: canary}]}
- {name: admin, backendRefs: [{name: admin}]}`,
				"internal": `rules: [{name: header-2, backendRefs: [{name: canary}]}, {backendRefs: [{name: stable}, {name: canary}]}]`,
			},
			want: map[string]string{
				"HTTPRoute/web":      routertest.Spec(`rules: [{backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]}, {name: admin, backendRefs: [{name: admin}]}]`),
				"HTTPRoute/internal": routertest.Spec(`rules: [{backendRefs: [{name: stable}, {name: canary}]}]`),
			},
		},
		"no managed rule: nothing written": {
			specs: map[string]string{"web": split, "internal": `rules: [{name: headers, backendRefs: [{name: canary}]}]`},
		},
		"malformed: a rule's name": {
			specs:   map[string]string{"web": split, "internal": `rules: [{name: [header]}]`},
			wantErr: `Invalid: HTTPRoute shop/internal: spec.rules[0].name: is a list, not a string`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			objs := []client.Object{httpRoute(t, "web", tc.specs["web"], ""), httpRoute(t, "internal", tc.specs["internal"], "")}
			run(t, `{"httpRoutes":[{"name":"web","useHeaderRoutes":true},{"name":"internal"}]}`, nil, objs, remove, tc.want, tc.wantErr)
		})
	}
}
