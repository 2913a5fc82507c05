package ambassador

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/routertest"
)

// mapping is the Mapping name of apiVersion (DefaultAPIVersion when "") with spec (YAML) and
// metadata (YAML flow members, may be "").
func mapping(t *testing.T, apiVersion, name, metadata, spec string) client.Object {
	t.Helper()
	if apiVersion == "" {
		apiVersion = DefaultAPIVersion
	}
	kind := "Mapping"
	if apiVersion == "x.getambassador.io/v3alpha1" {
		kind = "AmbassadorMapping"
	}
	if metadata != "" {
		metadata = ", " + metadata
	}
	u := routertest.Object(t, "apiVersion: "+apiVersion+"\nkind: "+kind+"\nmetadata: {name: "+name+metadata+"}")
	u.Object["spec"] = routertest.Data(t, spec)
	return u
}

const (
	stableSpec = `{prefix: /colors/, rewrite: /, service: "stable:8080", timeout_ms: 3000}`
	owned      = `ownerReferences: [{apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: web, uid: uid-web, controller: true}]`
	ownerYAML  = "metadata:\n  ownerReferences: [{apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: web, uid: uid-web, controller: true, blockOwnerDeletion: true}]\n"
)

// The canary Mappings a case wants are not among its objects: Run looks their versions up.
func init() {
	routertest.APIVersions["Mapping"] = DefaultAPIVersion
	routertest.APIVersions["AmbassadorMapping"] = "x.getambassador.io/v3alpha1"
}

func rollout(max *int32, mappings ...string) *v1alpha1.Rollout {
	return routertest.Rollout(v1alpha1.RolloutTrafficRouting{MaxTrafficWeight: max,
		Ambassador: &v1alpha1.AmbassadorTrafficRouting{Mappings: mappings}})
}

func newRouter(version string) func(*v1alpha1.Rollout, client.Client) (*Router, error) {
	return func(ro *v1alpha1.Rollout, c client.Client) (*Router, error) { return New(ro, c, version) }
}

func TestSetWeight(t *testing.T) {
	cases := map[string]struct {
		version  string
		mappings []string
		objs     func(t *testing.T) []client.Object
		weight   int32
		want     map[string]string // by "Kind/name": YAML of the members to compare; "" must not exist
		wantErr  string
	}{
		"created from the stable Mapping: its spec, the canary Service, the weight, owned by the Rollout": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{mapping(t, "", "web", "labels: {team: colors}", stableSpec)}
			},
			weight: 20,
			want: map[string]string{"Mapping/web-canary": `
apiVersion: getambassador.io/v2
kind: Mapping
` + ownerYAML + `spec: {prefix: /colors/, rewrite: /, service: "canary:8080", timeout_ms: 3000, weight: 20}`},
		},
		"updated: the weight, and the spec follows the stable Mapping's; its metadata kept": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{mapping(t, "", "web", "", stableSpec),
					mapping(t, "", "web-canary", owned+", labels: {extra: kept}", `{prefix: /old/, service: "canary:8080", weight: 20}`)}
			},
			weight: 50,
			want: map[string]string{"Mapping/web-canary": `
metadata: {labels: {extra: kept}}
spec: {prefix: /colors/, rewrite: /, service: "canary:8080", timeout_ms: 3000, weight: 50}`},
		},
		"Argo's canary Mapping (no owner) is adopted": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{mapping(t, "", "web", "", stableSpec), mapping(t, "", "web-canary", "", `{prefix: /colors/, rewrite: /, service: "canary:8080", timeout_ms: 3000, weight: 20}`)}
			},
			weight: 20,
			want:   map[string]string{"Mapping/web-canary": ownerYAML},
		},
		"weight 0 without a canary Mapping: nothing": {
			objs:   func(t *testing.T) []client.Object { return []client.Object{mapping(t, "", "web", "", stableSpec)} },
			weight: 0,
			want:   map[string]string{"Mapping/web-canary": ""},
		},
		"weight 0: first the weight goes to 0": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{mapping(t, "", "web", "", stableSpec), mapping(t, "", "web-canary", owned, `{prefix: /colors/, rewrite: /, service: "canary:8080", timeout_ms: 3000, weight: 50}`)}
			},
			weight: 0,
			want:   map[string]string{"Mapping/web-canary": "spec: {prefix: /colors/, rewrite: /, service: \"canary:8080\", timeout_ms: 3000, weight: 0}"},
		},
		"weight 0: a canary Mapping at 0 is deleted": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{mapping(t, "", "web", "", stableSpec), mapping(t, "", "web-canary", owned, `{service: "canary:8080", weight: 0}`)}
			},
			weight: 0,
			want:   map[string]string{"Mapping/web-canary": ""},
		},
		"several Mappings, a namespaced service with a scheme; x.getambassador.io's AmbassadorMapping": {
			version: "x.getambassador.io/v3alpha1", mappings: []string{"web", "api"},
			objs: func(t *testing.T) []client.Object {
				return []client.Object{mapping(t, "x.getambassador.io/v3alpha1", "web", "", `{hostname: "*", prefix: /, service: "http://stable.shop.svc.cluster.local:80"}`),
					mapping(t, "x.getambassador.io/v3alpha1", "api", "", `{hostname: "*", prefix: /api/, service: stable.shop}`)}
			},
			weight: 30,
			want: map[string]string{
				"AmbassadorMapping/web-canary": `{apiVersion: x.getambassador.io/v3alpha1, spec: {hostname: "*", prefix: /, service: "http://canary.shop.svc.cluster.local:80", weight: 30}}`,
				"AmbassadorMapping/api-canary": `{spec: {hostname: "*", prefix: /api/, service: canary.shop, weight: 30}}`},
		},
		"the stable Mapping sets a weight": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{mapping(t, "", "web", "", `{prefix: /, service: stable, weight: 20}`)}
			},
			weight:  20,
			wantErr: `Invalid: Mapping shop/web: spec.weight: is 20: the Mapping the Rollout names must not set a weight (it takes what the canary Mapping leaves)`,
		},
		"the Mapping does not route to the stable Service (a longer name does not count)": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{mapping(t, "", "web", "", `{prefix: /, service: "stable-old:8080"}`)}
			},
			weight:  20,
			wantErr: `Invalid: Mapping shop/web: spec.service: is "stable-old:8080", not the stable Service "stable" (of namespace "shop")`,
		},
		"the stable Service of another namespace": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{mapping(t, "", "web", "", `{prefix: /, service: "stable.other:8080"}`)}
			},
			weight:  20,
			wantErr: `Invalid: Mapping shop/web: spec.service: is "stable.other:8080", not the stable Service "stable" (of namespace "shop")`,
		},
		"the second Mapping is missing: nothing created for the first": {
			mappings: []string{"web", "api"},
			objs:     func(t *testing.T) []client.Object { return []client.Object{mapping(t, "", "web", "", stableSpec)} },
			weight:   20,
			want:     map[string]string{"Mapping/web-canary": ""},
			wantErr:  `NotFound: Mapping shop/api: spec.strategy.canary.trafficRouting.ambassador.mappings[1]: Mapping "api" not found in namespace "shop"`,
		},
		"a canary Mapping another owner controls": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{mapping(t, "", "web", "", stableSpec),
					mapping(t, "", "web-canary", `ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: edge, uid: uid-edge, controller: true}]`, `{service: "canary:8080", weight: 5}`)}
			},
			weight:  20,
			wantErr: `Conflict: Mapping shop/web-canary: metadata.ownerReferences: the canary Mapping of "web" exists and is controlled by Deployment "edge", not by Rollout "web"`,
		},
		"malformed: spec.service is not a string": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{mapping(t, "", "web", "", `{prefix: /, service: [stable]}`)}
			},
			weight:  20,
			wantErr: `Invalid: Mapping shop/web: spec.service: is a list, not a string`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			mappings := tc.mappings
			if mappings == nil {
				mappings = []string{"web"}
			}
			routertest.RunRouter(t, rollout(nil, mappings...), tc.objs(t), newRouter(tc.version),
				func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
					return r.SetWeight(ctx, ro, tc.weight, nil)
				},
				tc.want, tc.wantErr)
		})
	}
}

func TestVerifyWeight(t *testing.T) {
	canary := func(t *testing.T, spec string) client.Object { return mapping(t, "", "web-canary", owned, spec) }
	cases := map[string]struct {
		canary  string // the canary Mapping's spec; "" for none
		weight  int32
		want    bool
		wantErr string
	}{
		"carries the weight":                  {canary: `{service: "canary:8080", weight: 20}`, weight: 20, want: true},
		"another weight":                      {canary: `{service: "canary:8080", weight: 20}`, weight: 50},
		"routes to another Service":           {canary: `{service: "stable:8080", weight: 20}`, weight: 20},
		"none at 20%":                         {weight: 20},
		"none at 0":                           {weight: 0, want: true},
		"one at 0, waiting to be deleted":     {canary: `{service: "canary:8080", weight: 0}`, weight: 0, want: true},
		"one still with weight when 0 is due": {canary: `{service: "canary:8080", weight: 5}`, weight: 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			objs := []client.Object{mapping(t, "", "web", "", stableSpec)}
			if tc.canary != "" {
				objs = append(objs, canary(t, tc.canary))
			}
			routertest.CheckVerifyWeight(t, rollout(nil, "web"), objs, newRouter(""), tc.weight, nil, tc.want, tc.wantErr)
		})
	}
}

func TestNew(t *testing.T) {
	cases := map[string]struct {
		ro      *v1alpha1.Rollout
		version string
		wantErr string
	}{
		"valid":                  {ro: rollout(nil, "web")},
		"v3alpha1 Mappings":      {ro: rollout(nil, "web"), version: "getambassador.io/v3alpha1"},
		"no Mapping":             {ro: rollout(nil), wantErr: "Invalid: Rollout shop/web: spec.strategy.canary.trafficRouting.ambassador.mappings: list at least one Mapping"},
		"a Mapping without name": {ro: rollout(nil, "web", ""), wantErr: "Invalid: Rollout shop/web: spec.strategy.canary.trafficRouting.ambassador.mappings[1]: name the Mapping"},
		"a Mapping twice":        {ro: rollout(nil, "web", "web"), wantErr: `Invalid: Rollout shop/web: spec.strategy.canary.trafficRouting.ambassador.mappings[1]: Mapping "web" is listed twice`},
		"maxTrafficWeight":       {ro: rollout(ptr.To[int32](1000), "web"), wantErr: "Unsupported: Rollout shop/web: spec.strategy.canary.trafficRouting.maxTrafficWeight: is 1000: an Ambassador Mapping's weight is a percentage, so ambassador needs the default 100"},
		"another group":          {ro: rollout(nil, "web"), version: "gateway.example/v1", wantErr: `the Ambassador API version "gateway.example/v1" is not of getambassador.io or x.getambassador.io`},
		"not set":                {ro: routertest.Rollout(v1alpha1.RolloutTrafficRouting{}), wantErr: "Invalid: Rollout shop/web: spec.strategy.canary.trafficRouting.ambassador: not set"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.ro, nil, tc.version)
			if diff := cmp.Diff(tc.wantErr, routertest.ErrorText(err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNames(t *testing.T) {
	long := string(make([]byte, 300))
	cases := map[string]struct{ got, want string }{
		"a short name":                    {CanaryMappingName("web"), "web-canary"},
		"cut to 246 before the suffix":    {CanaryMappingName(long), long[:246] + "-canary"},
		"service with port":               {first(canaryService("stable:8080", "stable", "canary", "shop")), "canary:8080"},
		"service with scheme and FQDN":    {first(canaryService("https://stable.shop.svc:443", "stable", "canary", "shop")), "https://canary.shop.svc:443"},
		"service without port":            {first(canaryService("stable", "stable", "canary", "shop")), "canary"},
		"another Service":                 {first(canaryService("stables", "stable", "canary", "shop")), "<none>"},
		"the stable of another namespace": {first(canaryService("stable.prod", "stable", "canary", "shop")), "<none>"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func first(s string, ok bool) string {
	if !ok {
		return "<none>"
	}
	return s
}

func TestRoutes(t *testing.T) {
	ro := rollout(nil, "web")
	r, err := New(ro, routertest.Client(t), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := map[string]struct {
		err  error
		want string
	}{
		"a header route": {r.SetHeaderRoute(ctx, ro, &v1alpha1.SetHeaderRoute{Name: "h"}),
			"Unsupported: Rollout shop/web: spec.strategy.canary.steps[].setHeaderRoute: the Ambassador router sets weights only, as Argo's does"},
		"a mirror route": {r.SetMirrorRoute(ctx, ro, &v1alpha1.SetMirrorRoute{Name: "m"}),
			"Unsupported: Rollout shop/web: spec.strategy.canary.steps[].setMirrorRoute: the Ambassador router sets weights only, as Argo's does"},
		"nothing to set or remove": {errorsOf(r.SetHeaderRoute(ctx, ro, nil), r.SetMirrorRoute(ctx, ro, nil), r.RemoveManagedRoutes(ctx, ro),
			r.UpdateHash(ctx, ro, "c", "s", nil)), ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := routertest.ErrorText(tc.err); got != tc.want {
				t.Errorf("error %q, want %q", got, tc.want)
			}
		})
	}
}

func errorsOf(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func TestAPIErrors(t *testing.T) {
	cases := map[string]struct {
		verb, wantErr string
		canary        bool
		weight        int32
		wrapped       bool
	}{
		"reading": {verb: "get", weight: 20, wrapped: true,
			wantErr: "reading Mapping shop/web: the API server is unavailable"},
		"not served": {verb: "nomatch", weight: 20,
			wantErr: `NotFound: Mapping shop/web: spec.strategy.canary.trafficRouting.ambassador.mappings[0]: the API server does not serve getambassador.io/v2 Mapping: install Ambassador's CRDs (getambassador.io/v2 Mapping)`},
		"creating": {verb: "create", weight: 20, wrapped: true,
			wantErr: "creating Mapping shop/web-canary: the API server is unavailable"},
		"updating": {verb: "patch", canary: true, weight: 30, wrapped: true,
			wantErr: "updating Mapping shop/web-canary: the API server is unavailable"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			objs := []client.Object{mapping(t, "", "web", "", stableSpec)}
			if tc.canary {
				objs = append(objs, mapping(t, "", "web-canary", owned, `{service: "canary:8080", weight: 20}`))
			}
			ro := rollout(nil, "web")
			r, err := New(ro, routertest.Failing(routertest.Client(t, objs...), tc.verb), "")
			if err != nil {
				t.Fatal(err)
			}
			routertest.CheckAPIError(t, r.SetWeight(context.Background(), ro, tc.weight, nil), tc.wantErr, tc.wrapped)
		})
	}
}
