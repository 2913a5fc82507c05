package smi

import (
	"context"
	"testing"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/routertest"
)

// split is a TrafficSplit "web" of version (v1alpha1 when "") with spec (YAML), owned by the
// Rollout unless owner says otherwise.
func split(t *testing.T, version, owner, spec string) client.Object {
	t.Helper()
	if version == "" {
		version = DefaultAPIVersion
	}
	if owner == "" {
		owner = "uid-web"
	}
	u := routertest.Object(t, "apiVersion: "+Group+"/"+version+`
kind: TrafficSplit
metadata:
  name: web
  ownerReferences: [{apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: web, uid: `+owner+`, controller: true}]`)
	u.Object["spec"] = routertest.Data(t, spec)
	return u
}

func newRouter(ro *v1alpha1.Rollout, c client.Client) (*Router, error) { return New(ro, c, "") }

func rollout(smi v1alpha1.SMITrafficRouting, max *int32) *v1alpha1.Rollout {
	return routertest.Rollout(v1alpha1.RolloutTrafficRouting{SMI: &smi, MaxTrafficWeight: max})
}

func TestSetWeight(t *testing.T) {
	cases := map[string]struct {
		smi     v1alpha1.SMITrafficRouting
		max     *int32
		version string
		objs    func(t *testing.T) []client.Object
		weight  int32
		add     []v1alpha1.WeightDestination
		want    string // the TrafficSplit web, YAML
		wantErr string
	}{
		"created, owned by the Rollout, for the stable Service": {
			objs:   func(*testing.T) []client.Object { return nil },
			weight: 20,
			want: `
metadata:
  ownerReferences: [{apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: web, uid: uid-web, controller: true, blockOwnerDeletion: true}]
spec:
  service: stable
  backends: [{service: canary, weight: "20"}, {service: stable, weight: "80"}]`,
		},
		"created with the root Service and name the Rollout gives": {
			smi:    v1alpha1.SMITrafficRouting{RootService: "colorapi", TrafficSplitName: "colors"},
			objs:   func(*testing.T) []client.Object { return nil },
			weight: 0,
			want:   "", // checked under TrafficSplit/colors below
		},
		"updated: the other members of the spec and of the backends kept, a foreign backend dropped": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{split(t, "", "", `
service: stable
matches: [{kind: HTTPRouteGroup, name: api}]
backends:
- {service: stable, weight: "100", note: kept}
- {service: canary, weight: "0"}
- {service: legacy, weight: "0"}`)}
			},
			weight: 30,
			want: routertest.Spec(`
service: stable
matches: [{kind: HTTPRouteGroup, name: api}]
backends:
- {service: canary, weight: "30"}
- {service: stable, weight: "70", note: kept}`),
		},
		"the weights already set: nothing written": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{split(t, "", "", `{service: stable, backends: [{service: canary, weight: "20"}, {service: stable, weight: "80"}]}`)}
			},
			weight: 20,
		},
		"integers after v1alpha1": {
			version: "v1alpha3",
			objs: func(t *testing.T) []client.Object {
				return []client.Object{split(t, "v1alpha3", "", `{service: stable, backends: [{service: canary, weight: 0}, {service: stable, weight: 100}]}`)}
			},
			weight: 25,
			want:   routertest.Spec(`{service: stable, backends: [{service: canary, weight: 25}, {service: stable, weight: 75}]}`),
		},
		"maxTrafficWeight and additional destinations": {
			max:    ptr.To[int32](1000),
			objs:   func(t *testing.T) []client.Object { return []client.Object{split(t, "", "", `{service: stable}`)} },
			weight: 5, add: []v1alpha1.WeightDestination{{ServiceName: "exp", Weight: 100}},
			want: routertest.Spec(`
service: stable
backends: [{service: canary, weight: "5"}, {service: stable, weight: "895"}, {service: exp, weight: "100"}]`),
		},
		"a TrafficSplit of that name the Rollout does not control": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{split(t, "", "uid-other", `{service: stable}`)}
			},
			weight:  20,
			wantErr: `Conflict: TrafficSplit shop/web: metadata.ownerReferences: exists and is not controlled by Rollout "web"`,
		},
		"malformed: backends is not a list": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{split(t, "", "", `{service: stable, backends: {service: canary}}`)}
			},
			weight:  20,
			wantErr: `Invalid: TrafficSplit shop/web: spec.backends: is an object, not a list`,
		},
		"malformed: a backend's service is not a string": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{split(t, "", "", `{backends: [{service: [canary]}]}`)}
			},
			weight:  20,
			wantErr: `Invalid: TrafficSplit shop/web: spec.backends[0].service: is a list, not a string`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := rollout(tc.smi, tc.max)
			want := map[string]string{}
			if tc.want != "" {
				want["TrafficSplit/web"] = tc.want
			}
			if tc.smi.TrafficSplitName != "" {
				want["TrafficSplit/colors"] = routertest.Spec(`{service: colorapi, backends: [{service: canary, weight: "0"}, {service: stable, weight: "100"}]}`)
			}
			newRouter := func(ro *v1alpha1.Rollout, c client.Client) (*Router, error) { return New(ro, c, tc.version) }
			routertest.RunRouter(t, ro, tc.objs(t), newRouter, func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
				return r.SetWeight(ctx, ro, tc.weight, tc.add)
			}, want, tc.wantErr)
		})
	}
}

func TestVerifyWeight(t *testing.T) {
	cases := map[string]struct {
		spec    string // "": no TrafficSplit
		owner   string
		weight  int32
		add     []v1alpha1.WeightDestination
		want    bool
		wantErr string
	}{
		"the weights":                 {spec: `{backends: [{service: stable, weight: "80"}, {service: canary, weight: "20"}]}`, weight: 20, want: true},
		"integer weights":             {spec: `{backends: [{service: stable, weight: 80}, {service: canary, weight: 20}]}`, weight: 20, want: true},
		"other weights":               {spec: `{backends: [{service: stable, weight: "80"}, {service: canary, weight: "20"}]}`, weight: 30},
		"a foreign backend":           {spec: `{backends: [{service: stable, weight: "80"}, {service: canary, weight: "20"}, {service: legacy, weight: "0"}]}`, weight: 20},
		"an additional backend":       {spec: `{backends: [{service: stable, weight: "70"}, {service: canary, weight: "20"}, {service: exp, weight: "10"}]}`, weight: 20, add: []v1alpha1.WeightDestination{{ServiceName: "exp", Weight: 10}}, want: true},
		"an unreadable weight":        {spec: `{backends: [{service: stable, weight: "80%"}, {service: canary, weight: "20"}]}`, weight: 20},
		"no TrafficSplit yet":         {weight: 0},
		"a TrafficSplit of another":   {spec: `{}`, owner: "uid-other", wantErr: `Conflict: TrafficSplit shop/web: metadata.ownerReferences: exists and is not controlled by Rollout "web"`},
		"malformed: a backend's name": {spec: `{backends: [{service: 1}]}`, wantErr: `Invalid: TrafficSplit shop/web: spec.backends[0].service: is a number, not a string`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := rollout(v1alpha1.SMITrafficRouting{}, nil)
			var objs []client.Object
			if tc.spec != "" {
				objs = append(objs, split(t, "", tc.owner, tc.spec))
			}
			routertest.CheckVerifyWeight(t, ro, objs, newRouter, tc.weight, tc.add, tc.want, tc.wantErr)
		})
	}
}

// TestManagedRoutes: a TrafficSplit has none; header and mirror steps are refused, removing
// them changes nothing.
func TestManagedRoutes(t *testing.T) {
	header := &v1alpha1.SetHeaderRoute{Name: "header", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "X-Canary", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}}}}
	mirror := &v1alpha1.SetMirrorRoute{Name: "mirror", Match: []v1alpha1.RouteMatch{{Method: &v1alpha1.StringMatch{Exact: "GET"}}}}
	cases := map[string]struct {
		call    func(context.Context, *Router, *v1alpha1.Rollout) error
		wantErr string
	}{
		"a header route": {call: func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
			return r.SetHeaderRoute(ctx, ro, header)
		},
			wantErr: `Unsupported: Rollout shop/web: spec.strategy.canary.steps[].setHeaderRoute: an SMI TrafficSplit cannot route by header`},
		"a mirror route": {call: func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
			return r.SetMirrorRoute(ctx, ro, mirror)
		},
			wantErr: `Unsupported: Rollout shop/web: spec.strategy.canary.steps[].setMirrorRoute: an SMI TrafficSplit cannot mirror traffic`},
		"no header route": {call: func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
			return r.SetHeaderRoute(ctx, ro, nil)
		}},
		"no mirror route": {call: func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
			return r.SetMirrorRoute(ctx, ro, nil)
		}},
		"removing the routes": {call: func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
			return r.RemoveManagedRoutes(ctx, ro)
		}},
		"updating the hashes": {call: func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
			return r.UpdateHash(ctx, ro, "c", "s", nil)
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := rollout(v1alpha1.SMITrafficRouting{}, nil)
			objs := []client.Object{split(t, "", "", `{service: stable, backends: [{service: canary, weight: "20"}, {service: stable, weight: "80"}]}`)}
			routertest.RunRouter(t, ro, objs, newRouter, tc.call, nil, tc.wantErr)
		})
	}
}

func TestAPIErrors(t *testing.T) {
	cases := map[string]struct {
		verb    string
		exists  bool
		wantErr string
		wrapped bool
	}{
		"the SMI CRDs not installed": {verb: "nomatch",
			wantErr: `NotFound: TrafficSplit shop/web: spec.strategy.canary.trafficRouting.smi.trafficSplitName: the API server does not serve split.smi-spec.io/v1alpha1 TrafficSplit: install the SMI CRDs`},
		"reading fails":  {verb: "get", wantErr: "reading TrafficSplit shop/web: " + routertest.ErrAPI.Error(), wrapped: true},
		"creating fails": {verb: "create", wantErr: "creating TrafficSplit shop/web: " + routertest.ErrAPI.Error(), wrapped: true},
		"updating fails": {verb: "patch", exists: true, wantErr: "updating TrafficSplit shop/web: " + routertest.ErrAPI.Error(), wrapped: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := rollout(v1alpha1.SMITrafficRouting{}, nil)
			var objs []client.Object
			if tc.exists {
				objs = append(objs, split(t, "", "", `{service: stable}`))
			}
			r, err := New(ro, routertest.Failing(routertest.Client(t, objs...), tc.verb), "")
			if err != nil {
				t.Fatal(err)
			}
			routertest.CheckAPIError(t, r.SetWeight(context.Background(), ro, 20, nil), tc.wantErr, tc.wrapped)
		})
	}
}
