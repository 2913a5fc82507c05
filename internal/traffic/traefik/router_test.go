package traefik

import (
	"context"
	"testing"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/routertest"
)

// traefikService is the TraefikService "web" of apiVersion (DefaultAPIVersion when "") with
// spec (YAML).
func traefikService(t *testing.T, apiVersion, spec string) client.Object {
	t.Helper()
	if apiVersion == "" {
		apiVersion = DefaultAPIVersion
	}
	u := routertest.Object(t, "apiVersion: "+apiVersion+"\nkind: TraefikService\nmetadata: {name: web, labels: {team: colors}}")
	u.Object["spec"] = routertest.Data(t, spec)
	return u
}

// twoServices is a weighted TraefikService spec of the stable and the canary Service with
// members the router does not write.
const twoServices = `
weighted:
  sticky: {cookie: {name: lb}}
  services:
  - {name: stable, port: 8080, weight: 100, passHostHeader: true}
  - {name: canary, port: 8080}
  - {name: assets, port: 80, weight: 5}`

func rollout(max *int32) *v1alpha1.Rollout {
	return routertest.Rollout(v1alpha1.RolloutTrafficRouting{MaxTrafficWeight: max,
		Traefik: &v1alpha1.TraefikTrafficRouting{WeightedTraefikServiceName: "web"}}, "header")
}

func newRouter(version string) func(*v1alpha1.Rollout, client.Client) (*Router, error) {
	return func(ro *v1alpha1.Rollout, c client.Client) (*Router, error) { return New(ro, c, version) }
}

func TestSetWeight(t *testing.T) {
	cases := map[string]struct {
		version string // the router's API version
		objVer  string // the TraefikService's
		spec    string
		max     *int32
		weight  int32
		add     []v1alpha1.WeightDestination
		want    string // the TraefikService's spec, YAML; "" for unchanged (not even written)
		wantErr string
	}{
		"the canary and the stable weight set, everything else kept": {
			spec: twoServices, weight: 20,
			want: routertest.Spec(`
weighted:
  sticky: {cookie: {name: lb}}
  services:
  - {name: stable, port: 8080, weight: 80, passHostHeader: true}
  - {name: canary, port: 8080, weight: 20}
  - {name: assets, port: 80, weight: 5}`),
		},
		"maxTrafficWeight: the stable gets the rest of it; an Experiment's destinations are ignored": {
			spec: twoServices, weight: 50, max: ptr.To[int32](1000), add: []v1alpha1.WeightDestination{{ServiceName: "exp", Weight: 10}},
			want: routertest.Spec(`
weighted:
  sticky: {cookie: {name: lb}}
  services:
  - {name: stable, port: 8080, weight: 950, passHostHeader: true}
  - {name: canary, port: 8080, weight: 50}
  - {name: assets, port: 80, weight: 5}`),
		},
		"already at the weights: nothing written": {
			spec: `{weighted: {services: [{name: stable, weight: 70}, {name: canary, weight: 30}]}}`, weight: 30,
		},
		"Traefik v2's group": {
			version: V2APIVersion, objVer: V2APIVersion, weight: 100,
			spec: `{weighted: {services: [{name: stable, weight: 100}, {name: canary, kind: Service, namespace: shop, weight: 0}]}}`,
			want: routertest.Spec(`{weighted: {services: [{name: stable, weight: 0}, {name: canary, kind: Service, namespace: shop, weight: 100}]}}`),
		},
		"a TraefikService of the other group is not found": {
			version: V2APIVersion, spec: twoServices, weight: 20,
			wantErr: `NotFound: TraefikService shop/web: spec.strategy.canary.trafficRouting.traefik.weightedTraefikServiceName: TraefikService "web" not found in namespace "shop"`,
		},
		"not a weighted TraefikService": {
			spec: `{mirroring: {name: stable, port: 8080}}`, weight: 20,
			wantErr: `Invalid: TraefikService shop/web: spec.weighted: is not set: the TraefikService must be a weighted one whose services are the canary and the stable Service`,
		},
		"no canary Service (a TraefikService of that name does not count)": {
			spec: `{weighted: {services: [{name: stable}, {name: canary, kind: TraefikService}]}}`, weight: 20,
			wantErr: `Invalid: TraefikService shop/web: spec.weighted.services: no service is the canary Service "canary" (a Kubernetes Service of namespace "shop")`,
		},
		"no stable Service (one of another namespace does not count)": {
			spec: `{weighted: {services: [{name: stable, namespace: other}, {name: canary}]}}`, weight: 20,
			wantErr: `Invalid: TraefikService shop/web: spec.weighted.services: no service is the stable Service "stable" (a Kubernetes Service of namespace "shop")`,
		},
		"malformed: a weight that is not a number": {
			spec: `{weighted: {services: [{name: stable, weight: heavy}, {name: canary}]}}`, weight: 20,
			wantErr: `Invalid: TraefikService shop/web: spec.weighted.services[0].weight: is a string, not an integer`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			want := map[string]string{}
			if tc.want != "" {
				want["TraefikService/web"] = tc.want
			}
			routertest.RunRouter(t, rollout(tc.max), []client.Object{traefikService(t, tc.objVer, tc.spec)}, newRouter(tc.version),
				func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
					return r.SetWeight(ctx, ro, tc.weight, tc.add)
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
		"carries the weights":            {spec: `{weighted: {services: [{name: stable, weight: 80}, {name: canary, weight: 20}]}}`, weight: 20, want: true},
		"another weight":                 {spec: `{weighted: {services: [{name: stable, weight: 80}, {name: canary, weight: 20}]}}`, weight: 30},
		"no weights: 1 each, not 0/100":  {spec: `{weighted: {services: [{name: stable}, {name: canary}]}}`, weight: 0},
		"the stable's weight is not set": {spec: `{weighted: {services: [{name: stable}, {name: canary, weight: 0}]}}`, weight: 0},
		"no canary Service": {spec: `{weighted: {services: [{name: stable}]}}`,
			wantErr: `Invalid: TraefikService shop/web: spec.weighted.services: no service is the canary Service "canary" (a Kubernetes Service of namespace "shop")`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			routertest.CheckVerifyWeight(t, rollout(nil), []client.Object{traefikService(t, "", tc.spec)}, newRouter(""), tc.weight, nil, tc.want, tc.wantErr)
		})
	}
}

func TestRoutesAndNew(t *testing.T) {
	ro := rollout(nil)
	r, err := New(ro, routertest.Client(t), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const why = "a weighted TraefikService splits by weight only (matching requests is the IngressRoute's job, which the Rollout does not name); " +
		"for header and mirror routes through Traefik, use the Gateway API router (Traefik implements the Gateway API)"
	cases := map[string]struct {
		err  error
		want string
	}{
		"a header route": {r.SetHeaderRoute(ctx, ro, &v1alpha1.SetHeaderRoute{Name: "header"}),
			"Unsupported: Rollout shop/web: spec.strategy.canary.steps[].setHeaderRoute: " + why},
		"a mirror route": {r.SetMirrorRoute(ctx, ro, &v1alpha1.SetMirrorRoute{Name: "header"}),
			"Unsupported: Rollout shop/web: spec.strategy.canary.steps[].setMirrorRoute: " + why},
		"no header route to set":    {r.SetHeaderRoute(ctx, ro, nil), ""},
		"no mirror route to set":    {r.SetMirrorRoute(ctx, ro, nil), ""},
		"no managed routes removed": {r.RemoveManagedRoutes(ctx, ro), ""},
		"no hashes to set":          {r.UpdateHash(ctx, ro, "c", "s", nil), ""},
		"no TraefikService named": {func() error {
			_, err := New(routertest.Rollout(v1alpha1.RolloutTrafficRouting{Traefik: &v1alpha1.TraefikTrafficRouting{}}), nil, "")
			return err
		}(), "Invalid: Rollout shop/web: spec.strategy.canary.trafficRouting.traefik.weightedTraefikServiceName: name the weighted TraefikService"},
		"no traefik settings": {func() error {
			_, err := New(routertest.Rollout(v1alpha1.RolloutTrafficRouting{}), nil, "")
			return err
		}(), "Invalid: Rollout shop/web: spec.strategy.canary.trafficRouting.traefik: not set"},
		"an API version without a group": {func() error { _, err := New(ro, nil, "v1alpha1"); return err }(),
			`the Traefik API version "v1alpha1" is not <group>/<version> (such as traefik.io/v1alpha1)`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := routertest.ErrorText(tc.err); got != tc.want {
				t.Errorf("error %q, want %q", got, tc.want)
			}
		})
	}
	if got := r.Type(); got != "Traefik" {
		t.Errorf("Type() = %q", got)
	}
}
