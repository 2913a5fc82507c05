package gatewayapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/routertest"
)

// httpRoute is the HTTPRoute name (generation 1) with spec and, when given, status (YAML).
func httpRoute(t *testing.T, name, spec, status string) client.Object {
	t.Helper()
	u := routertest.Object(t, "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: "+name+", generation: 1, labels: {team: colors}}")
	u.Object["spec"] = routertest.Data(t, spec)
	if status != "" {
		u.Object["status"] = routertest.Data(t, status)
	}
	return u
}

// splitAt is the spec of a route with a rule that splits / between stable and canary with
// their weights, a foreign rule to another Service, and members the router does not know at
// every level.
func splitAt(stable, canary int) string {
	return fmt.Sprintf(`
parentRefs: [{name: gw}]
hostnames: [colorapi.example.com]
futureSpecField: kept
rules:
- matches: [{path: {type: PathPrefix, value: /}, queryParams: [{name: debug, value: "1"}]}]
  filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-via, value: vane}]}}]
  timeouts: {request: 10s}
  sessionPersistence: {sessionName: s}
  backendRefs:
  - {name: stable, port: 8080, weight: %d, filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {add: [{name: x-v, value: s}]}}]}
  - {name: canary, port: 8080, weight: %d, futureRefField: kept}
- matches: [{path: {type: PathPrefix, value: /static}}]
  backendRefs: [{name: assets, port: 80}]
`, stable, canary)
}

// split is splitAt 0%.
var split = splitAt(100, 0)

func config(cfg string) map[string]json.RawMessage {
	return map[string]json.RawMessage{PluginName: json.RawMessage(cfg)}
}

type call func(context.Context, *Router, *v1alpha1.Rollout) error

// run calls f on a router over objs with the plugin configuration cfg and checks the routes
// afterwards (routertest.Run): want's ("HTTPRoute/name" -> YAML) as given, every other one as
// it was.
func run(t *testing.T, cfg string, max *int32, objs []client.Object, f call, want map[string]string, wantErr string) {
	t.Helper()
	ro := routertest.Rollout(v1alpha1.RolloutTrafficRouting{Plugins: config(cfg), MaxTrafficWeight: max}, "mirror", "header")
	routertest.RunRouter(t, ro, objs, New, f, want, wantErr)
}

// service is the Service name of the rollout's namespace with ports "name:port".
func service(name string, ports ...string) client.Object {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: routertest.Namespace}}
	for _, p := range ports {
		n, port, _ := strings.Cut(p, ":")
		number, _ := strconv.Atoi(port)
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: n, Port: int32(number)})
	}
	return svc
}

func setWeight(w int32, add ...v1alpha1.WeightDestination) call {
	return func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error { return r.SetWeight(ctx, ro, w, add) }
}

const inProgress = "metadata: {labels: {team: colors, rollouts.argoproj.io/gatewayapi-canary: in-progress}}\n"

func TestSetWeight(t *testing.T) {
	twoRules := `
rules:
- backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]
- name: mirror
  backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]
  filters: [{type: RequestMirror, requestMirror: {backendRef: {name: canary}, percent: 50}}]
- name: header
  backendRefs: [{name: canary}]`
	cases := map[string]struct {
		cfg     string
		max     *int32
		objs    func(t *testing.T) []client.Object
		call    call
		want    map[string]string
		wantErr string
	}{
		"the split rule weighed and the route labelled; the foreign rule and every member the router does not know kept": {
			cfg:  `{"httpRoute":"web"}`,
			objs: func(t *testing.T) []client.Object { return []client.Object{httpRoute(t, "web", split, "")} },
			call: setWeight(20),
			want: map[string]string{"HTTPRoute/web": inProgress + routertest.Spec(splitAt(80, 20))},
		},
		"the weight already set: nothing written": {
			cfg:  `{"httpRoute":"web","disableInProgressLabel":true}`,
			objs: func(t *testing.T) []client.Object { return []client.Object{httpRoute(t, "web", split, "")} },
			call: setWeight(0),
		},
		"back to 0: the label goes, a managed mirror rule follows, a managed header rule does not": {
			cfg: `{"httpRoute":"web"}`,
			objs: func(t *testing.T) []client.Object {
				u := httpRoute(t, "web", twoRules, "")
				u.SetLabels(map[string]string{"team": "colors", DefaultInProgressLabelKey: DefaultInProgressLabelValue})
				return []client.Object{u}
			},
			call: setWeight(0),
			want: map[string]string{"HTTPRoute/web": "metadata: {labels: {team: colors}}\n" + routertest.Spec(twoRules)},
		},
		"maxTrafficWeight, a custom label, the route in another namespace": {
			cfg: `{"httpRoute":"web","namespace":"edge","inProgressLabelKey":"example.com/canary","inProgressLabelValue":"yes"}`,
			max: ptr.To[int32](1000),
			objs: func(t *testing.T) []client.Object {
				u := httpRoute(t, "web", `rules: [{backendRefs: [{name: stable, namespace: shop, weight: 1000}, {name: canary, namespace: shop, kind: Service, group: "", weight: 0}]}]`, "")
				u.SetNamespace("edge")
				return []client.Object{u}
			},
			call: setWeight(5),
			want: map[string]string{"HTTPRoute/web": "metadata: {namespace: edge, labels: {team: colors, example.com/canary: \"yes\"}}\n" + routertest.Spec(
				`rules: [{backendRefs: [{name: stable, namespace: shop, weight: 995}, {name: canary, namespace: shop, kind: Service, group: "", weight: 5}]}]`)},
		},
		"additional destinations: an existing one weighed, a new one copied from the canary's with its Service's http port": {
			cfg: `{"httpRoute":"web","disableInProgressLabel":true}`,
			objs: func(t *testing.T) []client.Object {
				return []client.Object{httpRoute(t, "web", `rules: [{backendRefs: [{name: stable, weight: 100}, {name: canary, port: 80, weight: 0}, {name: exp-a, weight: 0}]}]`, ""),
					service("exp-a", "http:9090"), service("exp-b", "metrics:9100", "http:8080")}
			},
			call: setWeight(20, v1alpha1.WeightDestination{ServiceName: "exp-a", Weight: 5}, v1alpha1.WeightDestination{ServiceName: "exp-b", Weight: 10}),
			want: map[string]string{"HTTPRoute/web": routertest.Spec(
				`rules: [{backendRefs: [{name: stable, weight: 65}, {name: canary, port: 80, weight: 20}, {name: exp-a, weight: 5}, {name: exp-b, port: 8080, weight: 10}]}]`)},
		},
		"an additional destination whose Service has no http port: its first": {
			cfg: `{"httpRoute":"web","disableInProgressLabel":true}`,
			objs: func(t *testing.T) []client.Object {
				return []client.Object{httpRoute(t, "web", `rules: [{backendRefs: [{name: stable, weight: 100}, {name: canary, port: 80, weight: 0}]}]`, ""),
					service("exp", "grpc:7070", "admin:7071")}
			},
			call: setWeight(20, v1alpha1.WeightDestination{ServiceName: "exp", Weight: 5}),
			want: map[string]string{"HTTPRoute/web": routertest.Spec(
				`rules: [{backendRefs: [{name: stable, weight: 75}, {name: canary, port: 80, weight: 20}, {name: exp, port: 7070, weight: 5}]}]`)},
		},
		"an additional destination whose Service does not exist is left out, as Argo's plugin skips it": {
			cfg: `{"httpRoute":"web","disableInProgressLabel":true}`,
			objs: func(t *testing.T) []client.Object {
				return []client.Object{httpRoute(t, "web", `rules: [{backendRefs: [{name: stable, weight: 100}, {name: canary, port: 80, weight: 0}]}]`, "")}
			},
			call: setWeight(20, v1alpha1.WeightDestination{ServiceName: "exp", Weight: 5}),
			want: map[string]string{"HTTPRoute/web": routertest.Spec(
				`rules: [{backendRefs: [{name: stable, weight: 80}, {name: canary, port: 80, weight: 20}]}]`)},
		},
		"several routes": {
			cfg: `{"httpRoutes":[{"name":"web","useHeaderRoutes":true},{"name":"internal"}]}`,
			objs: func(t *testing.T) []client.Object {
				return []client.Object{httpRoute(t, "web", `rules: [{backendRefs: [{name: stable, weight: 100}, {name: canary, weight: 0}]}]`, ""),
					httpRoute(t, "internal", `rules: [{backendRefs: [{name: canary, weight: 0}, {name: stable, weight: 100}]}]`, "")}
			},
			call: setWeight(100),
			want: map[string]string{
				"HTTPRoute/internal": inProgress + routertest.Spec(`rules: [{backendRefs: [{name: canary, weight: 100}, {name: stable, weight: 0}]}]`),
				"HTTPRoute/web":      inProgress + routertest.Spec(`rules: [{backendRefs: [{name: stable, weight: 0}, {name: canary, weight: 100}]}]`),
			},
		},
		"a backendRef to a Service of another namespace or another kind is not the canary": {
			cfg: `{"httpRoute":"web"}`,
			objs: func(t *testing.T) []client.Object {
				return []client.Object{httpRoute(t, "web", `rules: [{backendRefs: [{name: stable}, {name: canary, namespace: other}, {name: canary, kind: ServiceImport, group: multicluster.x-k8s.io}]}]`, "")}
			},
			call:    setWeight(20),
			wantErr: `Invalid: HTTPRoute shop/web: spec.rules[0].backendRefs: has a backendRef to Service "stable" but none to Service "canary"; a rule must route to both the canary and the stable Service`,
		},
		"no rule to either Service": {
			cfg: `{"httpRoute":"web"}`,
			objs: func(t *testing.T) []client.Object {
				return []client.Object{httpRoute(t, "web", `rules: [{backendRefs: [{name: assets}]}]`, "")}
			},
			call:    setWeight(20),
			wantErr: `Invalid: HTTPRoute shop/web: spec.rules[].backendRefs: no rule has backendRefs to both the canary Service "canary" and the stable Service "stable" (namespace "shop")`,
		},
		"one route unusable: nothing written to the other": {
			cfg: `{"httpRoutes":[{"name":"web"},{"name":"internal"}]}`,
			objs: func(t *testing.T) []client.Object {
				return []client.Object{httpRoute(t, "web", split, ""), httpRoute(t, "internal", `rules: [{backendRefs: [{name: canary}]}]`, "")}
			},
			call:    setWeight(20),
			wantErr: `Invalid: HTTPRoute shop/internal: spec.rules[0].backendRefs: has a backendRef to Service "canary" but none to Service "stable"; a rule must route to both the canary and the stable Service`,
		},
		"a missing route": {
			cfg:     `{"httpRoutes":[{"name":"web"},{"name":"internal"}]}`,
			objs:    func(t *testing.T) []client.Object { return []client.Object{httpRoute(t, "web", split, "")} },
			call:    setWeight(20),
			wantErr: `NotFound: HTTPRoute shop/internal: spec.strategy.canary.trafficRouting.plugins["argoproj-labs/gatewayAPI"].httpRoutes[1].name: HTTPRoute "internal" not found in namespace "shop"`,
		},
		"malformed: rules is not a list": {
			cfg: `{"httpRoute":"web"}`,
			objs: func(t *testing.T) []client.Object {
				return []client.Object{httpRoute(t, "web", `rules: {backendRefs: []}`, "")}
			},
			call:    setWeight(20),
			wantErr: `Invalid: HTTPRoute shop/web: spec.rules: is an object, not a list`,
		},
		"malformed: a weight is a string": {
			cfg: `{"httpRoute":"web"}`,
			objs: func(t *testing.T) []client.Object {
				return []client.Object{httpRoute(t, "web", `rules: [{backendRefs: [{name: stable, weight: "100"}]}]`, "")}
			},
			call:    setWeight(20),
			wantErr: `Invalid: HTTPRoute shop/web: spec.rules[0].backendRefs[0].weight: is a string, not an integer`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) { run(t, tc.cfg, tc.max, tc.objs(t), tc.call, tc.want, tc.wantErr) })
	}
}

// TestSetWeightExperimentGone: the additional destinations status.canary.weights recorded and
// SetWeight no longer gets are taken out of the rules that split the traffic (Argo's Gateway
// API plugin removes the Experiment's backends it added); the canary, the stable and other
// backends stay.
func TestSetWeightExperimentGone(t *testing.T) {
	ro := routertest.Rollout(v1alpha1.RolloutTrafficRouting{Plugins: config(`{"httpRoute":"web","disableInProgressLabel":true}`)})
	ro.Status.Canary.Weights = &v1alpha1.TrafficWeights{Canary: v1alpha1.WeightDestination{Weight: 20},
		Stable: v1alpha1.WeightDestination{Weight: 70}, Additional: []v1alpha1.WeightDestination{
			{ServiceName: "exp-a", Weight: 5}, {ServiceName: "exp-b", Weight: 5}, {ServiceName: "stable", Weight: 1}}}
	route := httpRoute(t, "web", `rules:
- backendRefs: [{name: stable, weight: 70}, {name: canary, weight: 20}, {name: exp-a, weight: 5}, {name: exp-b, weight: 5}]
- backendRefs: [{name: exp-a, port: 80}]`, "")
	routertest.RunRouter(t, ro, []client.Object{route, service("exp-b", "http:8080")}, New, setWeight(20, v1alpha1.WeightDestination{ServiceName: "exp-b", Weight: 5}),
		map[string]string{"HTTPRoute/web": routertest.Spec(`rules:
- backendRefs: [{name: stable, weight: 75}, {name: canary, weight: 20}, {name: exp-b, weight: 5}]
- backendRefs: [{name: exp-a, port: 80}]`)}, "")
	routertest.RunRouter(t, ro, []client.Object{route}, New, setWeight(20),
		map[string]string{"HTTPRoute/web": routertest.Spec(`rules:
- backendRefs: [{name: stable, weight: 80}, {name: canary, weight: 20}]
- backendRefs: [{name: exp-a, port: 80}]`)}, "")
}

func TestVerifyWeight(t *testing.T) {
	const weighed = `rules: [{backendRefs: [{name: stable, weight: 80}, {name: canary, weight: 20}]}, {backendRefs: [{name: assets, weight: 3}]}]`
	accepted := func(gen int, resolved string) string {
		g := strconv.Itoa(gen)
		return `parents: [{parentRef: {name: gw}, controllerName: example.com/gw, conditions: [
  {type: Accepted, status: "True", observedGeneration: ` + g + `, reason: Accepted, message: ok, lastTransitionTime: "2024-01-01T00:00:00Z"},
  {type: ResolvedRefs, status: "` + resolved + `", observedGeneration: ` + g + `, reason: R, message: ok, lastTransitionTime: "2024-01-01T00:00:00Z"}]}]`
	}
	cases := map[string]struct {
		spec, status string
		weight       int32
		add          []v1alpha1.WeightDestination
		want         bool
		wantErr      string
	}{
		"the weights, no controller reports on the route": {spec: weighed, weight: 20, want: true},
		"other weights":                               {spec: weighed, weight: 30},
		"a backendRef without a weight weighs 1":      {spec: `rules: [{backendRefs: [{name: stable, weight: 99}, {name: canary}]}]`, weight: 1, want: true},
		"accepted at this generation":                 {spec: weighed, status: accepted(1, "True"), weight: 20, want: true},
		"accepted at an older generation":             {spec: weighed, status: accepted(0, "True"), weight: 20},
		"references not resolved":                     {spec: weighed, status: accepted(1, "False"), weight: 20},
		"a parent without the Accepted condition":     {spec: weighed, status: `parents: [{parentRef: {name: gw}, conditions: []}]`, weight: 20},
		"an additional destination":                   {spec: `rules: [{backendRefs: [{name: stable, weight: 70}, {name: canary, weight: 20}, {name: exp, weight: 10}]}]`, weight: 20, add: []v1alpha1.WeightDestination{{ServiceName: "exp", Weight: 10}}, want: true},
		"an additional destination missing":           {spec: weighed, weight: 20, add: []v1alpha1.WeightDestination{{ServiceName: "exp", Weight: 0}}},
		"a rule without the stable Service":           {spec: `rules: [{backendRefs: [{name: canary}]}]`, wantErr: `Invalid: HTTPRoute shop/web: spec.rules[0].backendRefs: has a backendRef to Service "canary" but none to Service "stable"; a rule must route to both the canary and the stable Service`},
		"malformed: a condition's observedGeneration": {spec: weighed, status: `parents: [{conditions: [{type: Accepted, status: "True", observedGeneration: one}]}]`, weight: 20, wantErr: `Invalid: HTTPRoute shop/web: status.parents[0].conditions[0].observedGeneration: is a string, not an integer`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := routertest.Rollout(v1alpha1.RolloutTrafficRouting{Plugins: config(`{"httpRoute":"web"}`)})
			routertest.CheckVerifyWeight(t, ro, []client.Object{httpRoute(t, "web", tc.spec, tc.status)}, New, tc.weight, tc.add, tc.want, tc.wantErr)
		})
	}
}

func TestAPIErrors(t *testing.T) {
	cases := map[string]struct {
		verb    string
		wantErr string
		wrapped bool
	}{
		"the Gateway API CRDs not installed": {verb: "nomatch",
			wantErr: `NotFound: HTTPRoute shop/web: spec.strategy.canary.trafficRouting.plugins["argoproj-labs/gatewayAPI"].httpRoute: the API server does not serve gateway.networking.k8s.io/v1 HTTPRoute: install the Gateway API CRDs`},
		"reading fails": {verb: "get", wantErr: "reading HTTPRoute shop/web: " + routertest.ErrAPI.Error(), wrapped: true},
		"writing fails": {verb: "patch", wantErr: "updating HTTPRoute shop/web: " + routertest.ErrAPI.Error(), wrapped: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := routertest.Rollout(v1alpha1.RolloutTrafficRouting{Plugins: config(`{"httpRoute":"web"}`)})
			r, err := New(ro, routertest.Failing(routertest.Client(t, httpRoute(t, "web", split, "")), tc.verb))
			if err != nil {
				t.Fatal(err)
			}
			routertest.CheckAPIError(t, r.SetWeight(context.Background(), ro, 20, nil), tc.wantErr, tc.wrapped)
		})
	}
}
