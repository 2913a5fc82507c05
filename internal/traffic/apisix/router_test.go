package apisix

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/routertest"
)

// The header routes a case wants are not among its objects: Run looks their version up.
func init() { routertest.APIVersions["ApisixRoute"] = APIVersion }

// apisixRoute is the ApisixRoute name with metadata (YAML flow members, may be "") and spec.
func apisixRoute(t *testing.T, name, metadata, spec string) client.Object {
	t.Helper()
	if metadata != "" {
		metadata = ", " + metadata
	}
	u := routertest.Object(t, "apiVersion: "+APIVersion+"\nkind: ApisixRoute\nmetadata: {name: "+name+metadata+"}")
	u.Object["spec"] = routertest.Data(t, spec)
	return u
}

// webSpec is the ApisixRoute "web": rule "web" splits between the Services, rule "static"
// goes elsewhere.
const webSpec = `
http:
- name: web
  priority: 2
  match: {paths: ["/*"], hosts: [colors.example.com], methods: [GET]}
  backends:
  - {serviceName: stable, servicePort: 8080, weight: 100}
  - {serviceName: canary, servicePort: 8080, weight: 0}
  plugins: [{name: cors, enable: true}]
- name: static
  match: {paths: ["/static/*"]}
  backends: [{serviceName: assets, servicePort: 80}]`

const (
	owned     = `ownerReferences: [{apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: web, uid: uid-web, controller: true}]`
	ownerYAML = "  ownerReferences: [{apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: web, uid: uid-web, controller: true, blockOwnerDeletion: true}]\n"
)

func rollout(max *int32, rules ...string) *v1alpha1.Rollout {
	return routertest.Rollout(v1alpha1.RolloutTrafficRouting{MaxTrafficWeight: max,
		Apisix: &v1alpha1.ApisixTrafficRouting{Route: &v1alpha1.ApisixRoute{Name: "web", Rules: rules}}}, "header", "other")
}

func TestSetWeight(t *testing.T) {
	cases := map[string]struct {
		rules   []string
		max     *int32
		spec    string
		weight  int32
		want    string // the ApisixRoute's spec; "" unchanged (not even written)
		wantErr string
	}{
		"the rule named after the route; the other rule and members kept": {
			spec: webSpec, weight: 20,
			want: routertest.Spec(`
http:
- name: web
  priority: 2
  match: {paths: ["/*"], hosts: [colors.example.com], methods: [GET]}
  backends:
  - {serviceName: stable, servicePort: 8080, weight: 80}
  - {serviceName: canary, servicePort: 8080, weight: 20}
  plugins: [{name: cors, enable: true}]
- name: static
  match: {paths: ["/static/*"]}
  backends: [{serviceName: assets, servicePort: 80}]`),
		},
		"the rules listed, with maxTrafficWeight": {
			rules: []string{"a", "b"}, max: ptr.To[int32](1000), weight: 5,
			spec: `{http: [{name: a, backends: [{serviceName: canary}, {serviceName: stable}]}, {name: b, backends: [{serviceName: stable, weight: 1000}, {serviceName: canary, weight: 0}]}]}`,
			want: routertest.Spec(`{http: [{name: a, backends: [{serviceName: canary, weight: 5}, {serviceName: stable, weight: 995}]}, {name: b, backends: [{serviceName: stable, weight: 995}, {serviceName: canary, weight: 5}]}]}`),
		},
		"already at the weights": {
			spec: `{http: [{name: web, backends: [{serviceName: stable, weight: 50}, {serviceName: canary, weight: 50}]}]}`, weight: 50,
		},
		"no rule of that name": {
			rules: []string{"web", "api"}, spec: webSpec, weight: 20,
			wantErr: `Invalid: ApisixRoute shop/web: spec.http: no rule is named "api"`,
		},
		"a rule without the canary backend": {
			spec: `{http: [{name: web, backends: [{serviceName: stable}]}]}`, weight: 20,
			wantErr: `Invalid: ApisixRoute shop/web: spec.http[0].backends: rule "web" has no backend to the canary Service "canary"`,
		},
		"a rule without the stable backend": {
			spec: `{http: [{name: other}, {name: web, backends: [{serviceName: canary}]}]}`, weight: 20,
			wantErr: `Invalid: ApisixRoute shop/web: spec.http[1].backends: rule "web" has no backend to the stable Service "stable"`,
		},
		"malformed: http is not a list": {
			spec: `{http: {name: web}}`, weight: 20,
			wantErr: `Invalid: ApisixRoute shop/web: spec.http: is an object, not a list`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			want := map[string]string{}
			if tc.want != "" {
				want["ApisixRoute/web"] = tc.want
			}
			routertest.RunRouter(t, rollout(tc.max, tc.rules...), []client.Object{apisixRoute(t, "web", "", tc.spec)}, New,
				func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
					return r.SetWeight(ctx, ro, tc.weight, nil)
				},
				want, tc.wantErr)
		})
	}
}

func TestVerifyWeight(t *testing.T) {
	cases := map[string]struct {
		spec    string
		weight  int32
		want    bool
		wantErr string
	}{
		"carries the weights":   {spec: `{http: [{name: web, backends: [{serviceName: stable, weight: 80}, {serviceName: canary, weight: 20}]}]}`, weight: 20, want: true},
		"another weight":        {spec: `{http: [{name: web, backends: [{serviceName: stable, weight: 80}, {serviceName: canary, weight: 20}]}]}`, weight: 30},
		"no weights written":    {spec: `{http: [{name: web, backends: [{serviceName: stable}, {serviceName: canary}]}]}`, weight: 0},
		"the rule is not there": {spec: `{http: [{name: api}]}`, wantErr: `Invalid: ApisixRoute shop/web: spec.http: no rule is named "web"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			routertest.CheckVerifyWeight(t, rollout(nil), []client.Object{apisixRoute(t, "web", "", tc.spec)}, New, tc.weight, nil, tc.want, tc.wantErr)
		})
	}
}

func header(name string, ms ...v1alpha1.HeaderRoutingMatch) func(context.Context, *Router, *v1alpha1.Rollout) error {
	return func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
		return r.SetHeaderRoute(ctx, ro, &v1alpha1.SetHeaderRoute{Name: name, Match: ms})
	}
}

func hm(name string, v v1alpha1.StringMatch) v1alpha1.HeaderRoutingMatch {
	return v1alpha1.HeaderRoutingMatch{HeaderName: name, HeaderValue: &v}
}

// headerRouteSpec is YAML of the header route of webSpec at 50% with exprs, for Run's want.
func headerRouteSpec(exprs string) string { return routertest.Spec(headerRouteBody(exprs)) }

// headerRouteBody is the spec of the header route of webSpec at 50% with exprs.
func headerRouteBody(exprs string) string {
	return `
http:
- name: web
  priority: 3
  match: {paths: ["/*"], hosts: [colors.example.com], methods: [GET], exprs: ` + exprs + `}
  backends:
  - {serviceName: canary, servicePort: 8080, weight: 100}
  plugins: [{name: cors, enable: true}]
- name: static
  match: {paths: ["/static/*"]}
  backends: [{serviceName: assets, servicePort: 80}]`
}

func TestSetHeaderRoute(t *testing.T) {
	const xCanary = `[{subject: {scope: Header, name: X-Canary}, op: Equal, value: "yes"}]`
	web50 := func(t *testing.T) client.Object {
		return apisixRoute(t, "web", `labels: {team: colors}, annotations: {note: kept, kubectl.kubernetes.io/last-applied-configuration: "{}"}`,
			`{http: [{name: web, priority: 2, match: {paths: ["/*"], hosts: [colors.example.com], methods: [GET]}, backends: [{serviceName: stable, servicePort: 8080, weight: 50}, {serviceName: canary, servicePort: 8080, weight: 50}], plugins: [{name: cors, enable: true}]}, {name: static, match: {paths: ["/static/*"]}, backends: [{serviceName: assets, servicePort: 80}]}]}`)
	}
	cases := map[string]struct {
		objs    func(t *testing.T) []client.Object
		call    func(context.Context, *Router, *v1alpha1.Rollout) error
		want    map[string]string
		wantErr string
	}{
		"created: a copy of the route, owned, its labels and annotations but kubectl's": {
			objs: func(t *testing.T) []client.Object { return []client.Object{web50(t)} },
			call: header("header", hm("X-Canary", v1alpha1.StringMatch{Exact: "yes"})),
			want: map[string]string{"ApisixRoute/header": "metadata:\n  labels: {team: colors}\n  annotations: {note: kept}\n" + ownerYAML + headerRouteSpec(xCanary)},
		},
		"regex, prefix and several headers": {
			objs: func(t *testing.T) []client.Object { return []client.Object{web50(t)} },
			call: header("header", hm("X-Canary", v1alpha1.StringMatch{Regex: "y.*"}), hm("X-Version", v1alpha1.StringMatch{Prefix: "2."})),
			want: map[string]string{"ApisixRoute/header": headerRouteSpec(`[{subject: {scope: Header, name: X-Canary}, op: RegexMatch, value: y.*}, {subject: {scope: Header, name: X-Version}, op: RegexMatch, value: ^2\..*}]`)},
		},
		"updated: new headers, the shape put back, its metadata kept": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{web50(t), apisixRoute(t, "header", owned+", labels: {edited: kept}",
					`{http: [{name: web, priority: 9, match: {paths: ["/*"]}, backends: [{serviceName: stable, weight: 1}]}]}`)}
			},
			call: header("header", hm("X-Canary", v1alpha1.StringMatch{Exact: "yes"})),
			want: map[string]string{"ApisixRoute/header": "metadata:\n  labels: {edited: kept}\n" + headerRouteSpec(xCanary)},
		},
		"already in place: nothing written": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{web50(t), apisixRoute(t, "header", owned, headerRouteBody(xCanary))}
			},
			call: header("header", hm("X-Canary", v1alpha1.StringMatch{Exact: "yes"})),
		},
		"removed by a step without match": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{web50(t), apisixRoute(t, "header", owned, `{http: []}`)}
			},
			call: header("header"),
			want: map[string]string{"ApisixRoute/header": ""},
		},
		"removing one that is not there": {
			objs: func(t *testing.T) []client.Object { return []client.Object{web50(t)} },
			call: header("header"),
		},
		"an ApisixRoute of that name the Rollout does not control": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{web50(t), apisixRoute(t, "header", "", `{http: []}`)}
			},
			call:    header("header", hm("X-Canary", v1alpha1.StringMatch{Exact: "yes"})),
			wantErr: `Conflict: ApisixRoute shop/header: metadata.ownerReferences: exists and is not controlled by Rollout "web"; the header route "header" needs an ApisixRoute of that name`,
		},
		"not a managed route": {
			objs:    func(t *testing.T) []client.Object { return []client.Object{web50(t)} },
			call:    header("testers", hm("X-Canary", v1alpha1.StringMatch{Exact: "yes"})),
			wantErr: `Invalid: Rollout shop/web: spec.strategy.canary.steps[].setHeaderRoute.name: route "testers" is not listed in spec.strategy.canary.trafficRouting.managedRoutes`,
		},
		"a match without a value": {
			objs:    func(t *testing.T) []client.Object { return []client.Object{web50(t)} },
			call:    header("header", v1alpha1.HeaderRoutingMatch{HeaderName: "X-Canary"}),
			wantErr: `Invalid: Rollout shop/web: spec.strategy.canary.steps[].setHeaderRoute.match[0]: a header match needs headerName and one of exact, prefix or regex`,
		},
		"the Rollout's ApisixRoute is missing": {
			objs:    func(t *testing.T) []client.Object { return nil },
			call:    header("header", hm("X-Canary", v1alpha1.StringMatch{Exact: "yes"})),
			want:    map[string]string{"ApisixRoute/header": ""},
			wantErr: `NotFound: ApisixRoute shop/web: spec.strategy.canary.trafficRouting.apisix.route.name: ApisixRoute "web" not found in namespace "shop"`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			routertest.RunRouter(t, rollout(nil), tc.objs(t), New, tc.call, tc.want, tc.wantErr)
		})
	}
}

func TestRemoveManagedRoutes(t *testing.T) {
	routertest.RunRouter(t, rollout(nil), []client.Object{
		apisixRoute(t, "web", "", webSpec),
		apisixRoute(t, "header", owned, `{http: []}`),
		apisixRoute(t, "other", "", `{http: []}`), // a managed route's name, someone else's route: left alone
	}, New, func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
		return r.RemoveManagedRoutes(ctx, ro)
	},
		map[string]string{"ApisixRoute/header": ""}, "")
}

func TestNewAndMirror(t *testing.T) {
	ro := rollout(nil)
	cases := map[string]struct {
		err  error
		want string
	}{
		"valid": {func() error { _, err := New(ro, nil); return err }(), ""},
		"no route": {func() error {
			_, err := New(routertest.Rollout(v1alpha1.RolloutTrafficRouting{Apisix: &v1alpha1.ApisixTrafficRouting{}}), nil)
			return err
		}(), "Invalid: Rollout shop/web: spec.strategy.canary.trafficRouting.apisix.route.name: name the ApisixRoute"},
		"a rule twice": {func() error { _, err := New(rollout(nil, "a", "a"), nil); return err }(),
			`Invalid: Rollout shop/web: spec.strategy.canary.trafficRouting.apisix.route.rules[1]: rule "a" is listed twice`},
		"a rule without name": {func() error { _, err := New(rollout(nil, ""), nil); return err }(),
			"Invalid: Rollout shop/web: spec.strategy.canary.trafficRouting.apisix.route.rules[0]: name the rule"},
		"a mirror route": {(&Router{}).SetMirrorRoute(context.Background(), ro, &v1alpha1.SetMirrorRoute{Name: "header"}),
			"Unsupported: Rollout shop/web: spec.strategy.canary.steps[].setMirrorRoute: the APISIX router routes by weight and header, as Argo's does; it does not mirror"},
		"no mirror route": {(&Router{}).SetMirrorRoute(context.Background(), ro, nil), ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, routertest.ErrorText(tc.err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAPIErrors(t *testing.T) {
	cases := map[string]struct {
		verb, wantErr string
		call          func(context.Context, *Router, *v1alpha1.Rollout) error
	}{
		"setting the weight": {verb: "patch", wantErr: "updating ApisixRoute shop/web: the API server is unavailable",
			call: func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error { return r.SetWeight(ctx, ro, 10, nil) }},
		"creating the header route": {verb: "create", wantErr: "creating ApisixRoute shop/header: the API server is unavailable",
			call: header("header", hm("X-Canary", v1alpha1.StringMatch{Exact: "yes"}))},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := rollout(nil)
			r, _ := New(ro, routertest.Failing(routertest.Client(t, apisixRoute(t, "web", "", webSpec)), tc.verb))
			routertest.CheckAPIError(t, tc.call(context.Background(), r, ro), tc.wantErr, true)
		})
	}
}
