package istio

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/routertest"
)

const api = Group + "/" + DefaultAPIVersion

// object is a VirtualService or DestinationRule named name with spec (YAML).
func object(t *testing.T, kind, name, spec string) *unstructured.Unstructured {
	t.Helper()
	u := routertest.Object(t, "apiVersion: "+api+"\nkind: "+kind+"\nmetadata: {name: "+name+"}")
	u.Object["spec"] = routertest.Data(t, spec)
	return u
}

// primaryAt is the spec of a VirtualService with one HTTP route to stable and canary with
// their weights, and members the router does not know at every level.
func primaryAt(stable, canary int) string {
	return fmt.Sprintf(`
hosts: [colorapi.example.com]
gateways: [public]
http:
- name: primary
  match: [{uri: {prefix: /}}]
  retries: {attempts: 3}
  route:
  - destination: {host: stable, port: {number: 8080}}
    weight: %d
    headers: {request: {set: {x-version: stable}}}
  - destination: {host: canary, port: {number: 8080}}
    weight: %d
`, stable, canary)
}

// primary is primaryAt 0%.
var primary = primaryAt(100, 0)

func istio(names ...string) v1alpha1.IstioTrafficRouting {
	is := v1alpha1.IstioTrafficRouting{}
	for _, n := range names {
		is.VirtualServices = append(is.VirtualServices, v1alpha1.IstioVirtualService{Name: n})
	}
	return is
}

func subsetLevel() v1alpha1.IstioTrafficRouting {
	return v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "web"},
		DestinationRule: &v1alpha1.IstioDestinationRule{Name: "colorapi", CanarySubsetName: "canary", StableSubsetName: "stable"}}
}

// edit is one router call.
type edit func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error

// run calls call on a router over objs and checks the objects afterwards (routertest.Run):
// want's ("Kind/name" -> spec YAML) have that spec, every other one is as it was.
func run(t *testing.T, ro *v1alpha1.Rollout, objs []*unstructured.Unstructured, call edit, want map[string]string, wantErr string) {
	t.Helper()
	var cobjs []client.Object
	for _, o := range objs {
		cobjs = append(cobjs, o)
	}
	specs := map[string]string{}
	for k, spec := range want {
		specs[k] = routertest.Spec(spec)
	}
	routertest.RunRouter(t, ro, cobjs, newRouter, call, specs, wantErr)
}

func newRouter(ro *v1alpha1.Rollout, c client.Client) (*Router, error) { return New(ro, c, "") }

func setWeight(w int32, add ...v1alpha1.WeightDestination) edit {
	return func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error { return r.SetWeight(ctx, ro, w, add) }
}

func TestSetWeight(t *testing.T) {
	cases := map[string]struct {
		istio   v1alpha1.IstioTrafficRouting
		managed []string
		max     *int32
		objs    func(t *testing.T) []*unstructured.Unstructured
		call    edit
		want    map[string]string
		wantErr string
	}{
		"the single HTTP route, every member the router does not edit kept": {
			istio: istio("web"),
			objs: func(t *testing.T) []*unstructured.Unstructured {
				return []*unstructured.Unstructured{object(t, "VirtualService", "web", primary)}
			},
			call: setWeight(20),
			want: map[string]string{"VirtualService/web": primaryAt(80, 20)},
		},
		"the weight already set: nothing written": {
			istio: istio("web"),
			objs: func(t *testing.T) []*unstructured.Unstructured {
				return []*unstructured.Unstructured{object(t, "VirtualService", "web", primary)}
			},
			call: setWeight(0),
		},
		"maxTrafficWeight 1000": {
			istio: istio("web"), max: ptr.To[int32](1000),
			objs: func(t *testing.T) []*unstructured.Unstructured {
				return []*unstructured.Unstructured{object(t, "VirtualService", "web", `
http:
- route:
  - {destination: {host: stable}, weight: 1000}
  - {destination: {host: canary}, weight: 0}`)}
			},
			call: setWeight(5),
			want: map[string]string{"VirtualService/web": `
http:
- route:
  - {destination: {host: stable}, weight: 995}
  - {destination: {host: canary}, weight: 5}`},
		},
		"additional destinations: a new one copies the canary's, an existing one is weighed, a foreign one dropped": {
			istio: istio("web"),
			objs: func(t *testing.T) []*unstructured.Unstructured {
				return []*unstructured.Unstructured{object(t, "VirtualService", "web", `
http:
- route:
  - {destination: {host: stable.shop.svc.cluster.local}, weight: 90}
  - {destination: {host: canary, port: {number: 80}}, weight: 0}
  - {destination: {host: exp-a}, weight: 10}
  - {destination: {host: legacy}, weight: 0}`)}
			},
			call: setWeight(20, v1alpha1.WeightDestination{ServiceName: "exp-a", Weight: 5}, v1alpha1.WeightDestination{ServiceName: "exp-b", Weight: 10}),
			want: map[string]string{"VirtualService/web": `
http:
- route:
  - {destination: {host: stable.shop.svc.cluster.local}, weight: 65}
  - {destination: {host: canary, port: {number: 80}}, weight: 20}
  - {destination: {host: exp-a}, weight: 5}
  - {destination: {host: exp-b, port: {number: 80}}, weight: 10}`},
		},
		"named routes only: a foreign HTTP route is left alone": {
			istio: v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "web", Routes: []string{"primary"}}},
			objs: func(t *testing.T) []*unstructured.Unstructured {
				return []*unstructured.Unstructured{object(t, "VirtualService", "web", `
http:
- name: admin
  route: [{destination: {host: stable}, weight: 50}, {destination: {host: canary}, weight: 50}]
- name: primary
  route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]`)}
			},
			call: setWeight(30),
			want: map[string]string{"VirtualService/web": `
http:
- name: admin
  route: [{destination: {host: stable}, weight: 50}, {destination: {host: canary}, weight: 50}]
- name: primary
  route: [{destination: {host: stable}, weight: 70}, {destination: {host: canary}, weight: 30}]`},
		},
		"TLS and TCP routes by port and SNI hosts": {
			istio: v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "web",
				TLSRoutes: []v1alpha1.TLSRoute{{Port: 443, SNIHosts: []string{"b.example.com", "a.example.com"}}},
				TCPRoutes: []v1alpha1.TCPRoute{{Port: 5432}}}},
			objs: func(t *testing.T) []*unstructured.Unstructured {
				return []*unstructured.Unstructured{object(t, "VirtualService", "web", `
tls:
- match: [{port: 443, sniHosts: [other.example.com]}]
  route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]
- match: [{port: 443, sniHosts: [a.example.com, b.example.com]}]
  route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]
tcp:
- match: [{port: 5432}]
  route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]`)}
			},
			call: setWeight(40),
			want: map[string]string{"VirtualService/web": `
tls:
- match: [{port: 443, sniHosts: [other.example.com]}]
  route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]
- match: [{port: 443, sniHosts: [a.example.com, b.example.com]}]
  route: [{destination: {host: stable}, weight: 60}, {destination: {host: canary}, weight: 40}]
tcp:
- match: [{port: 5432}]
  route: [{destination: {host: stable}, weight: 60}, {destination: {host: canary}, weight: 40}]`},
		},
		"subset level: destinations by subset": {
			istio: subsetLevel(),
			objs: func(t *testing.T) []*unstructured.Unstructured {
				return []*unstructured.Unstructured{object(t, "VirtualService", "web", `
http:
- route: [{destination: {host: colorapi, subset: stable}, weight: 100}, {destination: {host: colorapi, subset: canary}, weight: 0}]`)}
			},
			call: setWeight(50),
			want: map[string]string{"VirtualService/web": `
http:
- route: [{destination: {host: colorapi, subset: stable}, weight: 50}, {destination: {host: colorapi, subset: canary}, weight: 50}]`},
		},
		"a managed mirror route follows the weights, a managed header route does not": {
			istio: istio("web"), managed: []string{"mirror", "header"},
			objs: func(t *testing.T) []*unstructured.Unstructured {
				return []*unstructured.Unstructured{object(t, "VirtualService", "web", `
http:
- name: mirror
  match: [{method: {exact: GET}}]
  route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]
  mirror: {host: canary}
- name: header
  match: [{headers: {x-canary: {exact: "yes"}}}]
  route: [{destination: {host: canary}}]
- route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]`)}
			},
			call: setWeight(10),
			want: map[string]string{"VirtualService/web": `
http:
- name: mirror
  match: [{method: {exact: GET}}]
  route: [{destination: {host: stable}, weight: 90}, {destination: {host: canary}, weight: 10}]
  mirror: {host: canary}
- name: header
  match: [{headers: {x-canary: {exact: "yes"}}}]
  route: [{destination: {host: canary}}]
- route: [{destination: {host: stable}, weight: 90}, {destination: {host: canary}, weight: 10}]`},
		},
		"several VirtualServices, one in another namespace": {
			istio: istio("web", "internal.mesh"),
			objs: func(t *testing.T) []*unstructured.Unstructured {
				in := object(t, "VirtualService", "internal", `http: [{route: [{destination: {host: stable.shop}, weight: 100}, {destination: {host: canary.shop}, weight: 0}]}]`)
				in.SetNamespace("mesh")
				return []*unstructured.Unstructured{object(t, "VirtualService", "web", primary), in}
			},
			call: setWeight(100),
			want: map[string]string{
				"VirtualService/web":      primaryAt(0, 100),
				"VirtualService/internal": `http: [{route: [{destination: {host: stable.shop}, weight: 0}, {destination: {host: canary.shop}, weight: 100}]}]`},
		},
		"a missing VirtualService": {
			istio:   istio("web"),
			objs:    func(t *testing.T) []*unstructured.Unstructured { return nil },
			call:    setWeight(20),
			wantErr: `NotFound: VirtualService shop/web: spec.strategy.canary.trafficRouting.istio.virtualServices[0].name: VirtualService "web" not found in namespace "shop"`,
		},
		"a route without the canary destination: nothing written, not even to the valid VirtualService": {
			istio: istio("good", "web"),
			objs: func(t *testing.T) []*unstructured.Unstructured {
				return []*unstructured.Unstructured{
					object(t, "VirtualService", "good", `http: [{route: [{destination: {host: stable}, weight: 100}, {destination: {host: canary}, weight: 0}]}]`),
					object(t, "VirtualService", "web", `http: [{route: [{destination: {host: stable}, weight: 100}]}]`)}
			},
			call:    setWeight(20),
			wantErr: `Invalid: VirtualService shop/web: spec.http[0].route: has no destination to the canary Service "canary"`,
		},
		"a named route that is not there": {
			istio: v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "web", Routes: []string{"main"}}},
			objs: func(t *testing.T) []*unstructured.Unstructured {
				return []*unstructured.Unstructured{object(t, "VirtualService", "web", primary)}
			},
			call:    setWeight(20),
			wantErr: `Invalid: VirtualService shop/web: spec.http: has no route named "main"`,
		},
		"several HTTP routes and none named": {
			istio: istio("web"),
			objs: func(t *testing.T) []*unstructured.Unstructured {
				return []*unstructured.Unstructured{object(t, "VirtualService", "web", `http: [{name: a, route: []}, {name: b, route: []}]`)}
			},
			call:    setWeight(20),
			wantErr: `Invalid: VirtualService shop/web: spec.http: has 2 HTTP routes; list the ones to edit in the Rollout's virtualService routes`,
		},
		"malformed: spec.http is not a list": {
			istio: istio("web"),
			objs: func(t *testing.T) []*unstructured.Unstructured {
				return []*unstructured.Unstructured{object(t, "VirtualService", "web", `http: {route: []}`)}
			},
			call:    setWeight(20),
			wantErr: `Invalid: VirtualService shop/web: spec.http: is an object, not a list`,
		},
		"malformed: a weight is a string": {
			istio: istio("web"),
			objs: func(t *testing.T) []*unstructured.Unstructured {
				return []*unstructured.Unstructured{object(t, "VirtualService", "web", `http: [{route: [{destination: {host: stable}, weight: "100"}]}]`)}
			},
			call:    setWeight(20),
			wantErr: `Invalid: VirtualService shop/web: spec.http[0].route[0].weight: is a string, not an integer`,
		},
		"malformed: a destination is a string": {
			istio: istio("web"),
			objs: func(t *testing.T) []*unstructured.Unstructured {
				return []*unstructured.Unstructured{object(t, "VirtualService", "web", `http: [{route: [{destination: stable}]}]`)}
			},
			call:    setWeight(20),
			wantErr: `Invalid: VirtualService shop/web: spec.http[0].route[0].destination: is a string, not an object`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := routertest.Rollout(v1alpha1.RolloutTrafficRouting{Istio: &tc.istio, MaxTrafficWeight: tc.max}, tc.managed...)
			run(t, ro, tc.objs(t), tc.call, tc.want, tc.wantErr)
		})
	}
}

func TestVerifyWeight(t *testing.T) {
	cases := map[string]struct {
		istio   v1alpha1.IstioTrafficRouting
		spec    string
		weight  int32
		add     []v1alpha1.WeightDestination
		want    bool
		wantErr string
	}{
		"the weights":                          {istio: istio("web"), spec: primary, weight: 0, want: true},
		"other weights":                        {istio: istio("web"), spec: primary, weight: 20, want: false},
		"a destination without a weight has 0": {istio: istio("web"), spec: `http: [{route: [{destination: {host: canary}}, {destination: {host: stable}, weight: 100}]}]`, weight: 0, want: true},
		"with an additional destination": {istio: istio("web"), weight: 20, add: []v1alpha1.WeightDestination{{ServiceName: "exp", Weight: 10}}, want: true,
			spec: `http: [{route: [{destination: {host: stable}, weight: 70}, {destination: {host: canary}, weight: 20}, {destination: {host: exp}, weight: 10}]}]`},
		"an additional destination missing": {istio: istio("web"), weight: 20, add: []v1alpha1.WeightDestination{{ServiceName: "exp", Weight: 10}}, want: false,
			spec: `http: [{route: [{destination: {host: stable}, weight: 70}, {destination: {host: canary}, weight: 20}]}]`},
		"a foreign route with other weights does not count": {istio: v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "web", Routes: []string{"primary"}}},
			spec:   `http: [{name: admin, route: [{destination: {host: canary}, weight: 100}]}, {name: primary, route: [{destination: {host: stable}, weight: 50}, {destination: {host: canary}, weight: 50}]}]`,
			weight: 50, want: true},
		"a route without the stable destination": {istio: istio("web"), spec: `http: [{route: [{destination: {host: canary}, weight: 100}]}]`,
			wantErr: `Invalid: VirtualService shop/web: spec.http[0].route: has no destination to the stable Service "stable"`},
		"malformed": {istio: istio("web"), spec: `http: [{route: [{destination: {host: stable}, weight: 1.5}]}]`,
			wantErr: `Invalid: VirtualService shop/web: spec.http[0].route[0].weight: is the number 1.5, not an integer`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := routertest.Rollout(v1alpha1.RolloutTrafficRouting{Istio: &tc.istio})
			routertest.CheckVerifyWeight(t, ro, []client.Object{object(t, "VirtualService", "web", tc.spec)}, newRouter, tc.weight, tc.add, tc.want, tc.wantErr)
		})
	}
}

func TestUpdateHash(t *testing.T) {
	const subsets = `
host: colorapi
trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
subsets:
- name: canary
  labels: {app: colorapi, rollouts-pod-template-hash: old}
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
- name: stable
- name: legacy
  labels: {app: colorapi, version: v0}
`
	cases := map[string]struct {
		dr                     string
		canary, stable         string
		want                   map[string]string
		wantErr                string
		withoutDestinationRule bool
	}{
		"the subsets point at the hashes, the other subset and members kept": {
			dr: subsets, canary: "c2", stable: "s1",
			want: map[string]string{"DestinationRule/colorapi": `
host: colorapi
trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
subsets:
- name: canary
  labels: {app: colorapi, rollouts-pod-template-hash: c2}
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
- name: stable
  labels: {rollouts-pod-template-hash: s1}
- name: legacy
  labels: {app: colorapi, version: v0}
`},
		},
		"an empty hash takes the label off": {
			dr: subsets, canary: "", stable: "",
			want: map[string]string{"DestinationRule/colorapi": `
host: colorapi
trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
subsets:
- name: canary
  labels: {app: colorapi}
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
- name: stable
- name: legacy
  labels: {app: colorapi, version: v0}
`},
		},
		"the hashes already set: nothing written": {dr: `subsets: [{name: canary, labels: {rollouts-pod-template-hash: c}}, {name: stable, labels: {rollouts-pod-template-hash: s}}]`, canary: "c", stable: "s"},
		"no stable subset": {dr: `subsets: [{name: canary}]`, canary: "c", stable: "s",
			wantErr: `Invalid: DestinationRule shop/colorapi: spec.subsets: has no subset named "stable" (the Rollout's destinationRule.stableSubsetName)`},
		"malformed labels": {dr: `subsets: [{name: canary, labels: [app]}]`, canary: "c", stable: "s",
			wantErr: `Invalid: DestinationRule shop/colorapi: spec.subsets[0].labels: is a list, not an object`},
		"a missing DestinationRule": {withoutDestinationRule: true, canary: "c", stable: "s",
			wantErr: `NotFound: DestinationRule shop/colorapi: spec.strategy.canary.trafficRouting.istio.destinationRule.name: DestinationRule "colorapi" not found in namespace "shop"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := routertest.Rollout(v1alpha1.RolloutTrafficRouting{Istio: ptr.To(subsetLevel())})
			objs := []*unstructured.Unstructured{object(t, "VirtualService", "web", `http: [{route: []}]`)}
			if !tc.withoutDestinationRule {
				objs = append(objs, object(t, "DestinationRule", "colorapi", tc.dr))
			}
			run(t, ro, objs, func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
				return r.UpdateHash(ctx, ro, tc.canary, tc.stable, nil)
			}, tc.want, tc.wantErr)
		})
	}
}

func TestAPIErrors(t *testing.T) {
	cases := map[string]struct {
		verb    string
		call    edit
		wantErr string
		wrapped bool
	}{
		"Istio's CRDs not installed": {verb: "nomatch", call: setWeight(20),
			wantErr: `NotFound: VirtualService shop/web: spec.strategy.canary.trafficRouting.istio.virtualServices[0].name: the API server does not serve networking.istio.io/v1alpha3 VirtualService: install Istio's CRDs`},
		"reading fails":    {verb: "get", call: setWeight(20), wantErr: "reading VirtualService shop/web: " + routertest.ErrAPI.Error(), wrapped: true},
		"writing fails":    {verb: "patch", call: setWeight(20), wantErr: "updating VirtualService shop/web: " + routertest.ErrAPI.Error(), wrapped: true},
		"nothing to write": {verb: "patch", call: setWeight(0)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := routertest.Rollout(v1alpha1.RolloutTrafficRouting{Istio: ptr.To(istio("web"))})
			c := routertest.Failing(routertest.Client(t, object(t, "VirtualService", "web", primary)), tc.verb)
			r, err := New(ro, c, "")
			if err != nil {
				t.Fatal(err)
			}
			routertest.CheckAPIError(t, tc.call(context.Background(), r, ro), tc.wantErr, tc.wrapped)
		})
	}
}
