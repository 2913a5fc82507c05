package alb

import (
	"context"
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/routertest"
)

// The annotation values below are Argo Rollouts' own fixtures (rollout/trafficrouting/alb
// alb_test.go, test/e2e/aws_test.go, utils/ingress), compacted as encoding/json writes them:
// Vane must write the same bytes.
const (
	// actionTemplate at 10%: canary-svc and stable-svc at port 443
	argoAction10 = `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary-svc","ServicePort":"443","Weight":10},{"ServiceName":"stable-svc","ServicePort":"443","Weight":90}]}}`
	// actionTemplateWithStickyConfig at 10%
	argoActionSticky = `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary-svc","ServicePort":"443","Weight":10},{"ServiceName":"stable-svc","ServicePort":"443","Weight":90}],"TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":300}}}`
	// TestSetWeightWithMultipleBackends: actionTemplateWithExperiments, canary 10, ex-svc-1 2,
	// ex-svc-2 3, stable 85
	argoActionExperiments = `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary-svc","ServicePort":"443","Weight":10},{"ServiceName":"ex-svc-1","ServicePort":"443","Weight":2},{"ServiceName":"ex-svc-2","ServicePort":"443","Weight":3},{"ServiceName":"stable-svc","ServicePort":"443","Weight":85}]}}`
	// the action of a header route (getTrafficForwardActionString)
	argoHeaderAction = `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary-svc","ServicePort":"443","Weight":100}]}}`
)

const (
	actionKey   = "alb.ingress.kubernetes.io/actions.stable-svc"
	headerKey   = "alb.ingress.kubernetes.io/actions.header-route"
	conditionKy = "alb.ingress.kubernetes.io/conditions.header-route"
)

// ingressObj is an Ingress named name whose one rule's path /* goes to the action (Service)
// root, with the annotations ann and a class annotation.
func ingressObj(t *testing.T, name, root string, ann map[string]string, paths ...string) client.Object {
	t.Helper()
	all := map[string]string{"kubernetes.io/ingress.class": "alb"}
	for k, v := range ann {
		all[k] = v
	}
	if len(paths) == 0 {
		paths = []string{root}
	}
	var ps []any
	for _, p := range paths {
		ps = append(ps, map[string]any{"path": "/*", "pathType": "ImplementationSpecific",
			"backend": map[string]any{"service": map[string]any{"name": p, "port": map[string]any{"name": "use-annotation"}}}})
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
		"metadata": map[string]any{"name": name, "namespace": routertest.Namespace},
		"spec": map[string]any{"tls": []any{map[string]any{"hosts": []any{"shop.example.com"}}},
			"rules": []any{map[string]any{"host": "shop.example.com", "http": map[string]any{"paths": ps}}}}}}
	u.SetAnnotations(all)
	return u
}

// albRollout is the Rollout shop/web (stable-svc, canary-svc) with alb on port 443, the
// managed route "header-route", changed by mod.
func albRollout(mod func(*v1alpha1.Rollout)) *v1alpha1.Rollout {
	ro := routertest.Rollout(v1alpha1.RolloutTrafficRouting{ALB: &v1alpha1.ALBTrafficRouting{Ingress: "ingress", ServicePort: 443}}, "header-route")
	ro.Spec.Strategy.Canary.StableService, ro.Spec.Strategy.Canary.CanaryService = "stable-svc", "canary-svc"
	if mod != nil {
		mod(ro)
	}
	return ro
}

// annotations is a want document of the Ingress's annotations (and, when paths are given,
// its rule's paths, as services), JSON (which YAML reads) so the values are compared as
// strings, byte for byte.
func annotations(t *testing.T, ann map[string]string, paths ...string) string {
	t.Helper()
	all := map[string]string{"kubernetes.io/ingress.class": "alb"}
	for k, v := range ann {
		all[k] = v
	}
	doc := map[string]any{"metadata": map[string]any{"annotations": all}}
	if len(paths) > 0 {
		var ps []any
		for _, p := range paths {
			ps = append(ps, map[string]any{"path": "/*", "pathType": "ImplementationSpecific",
				"backend": map[string]any{"service": map[string]any{"name": p, "port": map[string]any{"name": "use-annotation"}}}})
		}
		doc["spec"] = map[string]any{"tls": []any{map[string]any{"hosts": []any{"shop.example.com"}}},
			"rules": []any{map[string]any{"host": "shop.example.com", "http": map[string]any{"paths": ps}}}}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func managed(keys ...string) string {
	b, _ := json.Marshal(map[string][]string{"web": append([]string{}, keys...)})
	return string(b)
}

type call func(context.Context, *Router, *v1alpha1.Rollout) error

func setWeight(w int32, add ...v1alpha1.WeightDestination) call {
	return func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error { return r.SetWeight(ctx, ro, w, add) }
}

func newRouter(ro *v1alpha1.Rollout, c client.Client) (*Router, error) { return New(ro, c) }

func TestSetWeight(t *testing.T) {
	cases := map[string]struct {
		mod     func(*v1alpha1.Rollout)
		objs    func(t *testing.T) []client.Object
		call    call
		want    map[string]func(t *testing.T) string
		wantErr string
	}{
		"Argo's actionTemplate at 10%, and the bookkeeping annotation": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{ingressObj(t, "ingress", "stable-svc", nil)}
			},
			call: setWeight(10),
			want: map[string]func(t *testing.T) string{"Ingress/ingress": func(t *testing.T) string {
				return annotations(t, map[string]string{actionKey: argoAction10, ManagedAnnotations: managed(actionKey)}, "stable-svc")
			}},
		},
		"Argo's actionTemplateWithStickyConfig": {
			mod: func(ro *v1alpha1.Rollout) {
				ro.Spec.Strategy.Canary.TrafficRouting.ALB.StickinessConfig = &v1alpha1.StickinessConfig{Enabled: true, DurationSeconds: 300}
			},
			objs: func(t *testing.T) []client.Object {
				return []client.Object{ingressObj(t, "ingress", "stable-svc", nil)}
			},
			call: setWeight(10),
			want: map[string]func(t *testing.T) string{"Ingress/ingress": func(t *testing.T) string {
				return annotations(t, map[string]string{actionKey: argoActionSticky, ManagedAnnotations: managed(actionKey)})
			}},
		},
		"Argo's actionTemplateWithExperiments: the Experiment's Services between canary and stable": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{ingressObj(t, "ingress", "stable-svc", nil)}
			},
			call: setWeight(10, v1alpha1.WeightDestination{ServiceName: "ex-svc-1", Weight: 2}, v1alpha1.WeightDestination{ServiceName: "ex-svc-2", Weight: 3}),
			want: map[string]func(t *testing.T) string{"Ingress/ingress": func(t *testing.T) string {
				return annotations(t, map[string]string{actionKey: argoActionExperiments, ManagedAnnotations: managed(actionKey)})
			}},
		},
		"rootService, annotationPrefix, several Ingresses, and another Rollout's bookkeeping kept": {
			mod: func(ro *v1alpha1.Rollout) {
				a := ro.Spec.Strategy.Canary.TrafficRouting.ALB
				a.Ingress, a.Ingresses, a.RootService, a.AnnotationPrefix = "", []string{"ingress", "multi-ingress"}, "root", "custom.alb.ingress.kubernetes.io"
			},
			objs: func(t *testing.T) []client.Object {
				return []client.Object{ingressObj(t, "ingress", "root", map[string]string{ManagedAnnotations: `{"other":["x"]}`}), ingressObj(t, "multi-ingress", "root", nil)}
			},
			call: setWeight(0),
			want: map[string]func(t *testing.T) string{
				"Ingress/ingress": func(t *testing.T) string {
					return annotations(t, map[string]string{"custom.alb.ingress.kubernetes.io/actions.root": `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary-svc","ServicePort":"443","Weight":0},{"ServiceName":"stable-svc","ServicePort":"443","Weight":100}]}}`,
						ManagedAnnotations: `{"other":["x"],"web":["custom.alb.ingress.kubernetes.io/actions.root"]}`})
				},
				"Ingress/multi-ingress": func(t *testing.T) string {
					return annotations(t, map[string]string{"custom.alb.ingress.kubernetes.io/actions.root": `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary-svc","ServicePort":"443","Weight":0},{"ServiceName":"stable-svc","ServicePort":"443","Weight":100}]}}`,
						ManagedAnnotations: managed("custom.alb.ingress.kubernetes.io/actions.root")})
				},
			},
		},
		"ping-pong: pong is stable until status says ping": {
			mod: func(ro *v1alpha1.Rollout) {
				c := ro.Spec.Strategy.Canary
				c.StableService, c.CanaryService = "", ""
				c.PingPong = &v1alpha1.PingPongSpec{PingService: "ping-service", PongService: "pong-service"}
				c.TrafficRouting.ALB.RootService = "root"
				ro.Status.Canary.StablePingPong = v1alpha1.PPPing
			},
			objs: func(t *testing.T) []client.Object { return []client.Object{ingressObj(t, "ingress", "root", nil)} },
			call: setWeight(25),
			want: map[string]func(t *testing.T) string{"Ingress/ingress": func(t *testing.T) string {
				return annotations(t, map[string]string{"alb.ingress.kubernetes.io/actions.root": `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"pong-service","ServicePort":"443","Weight":25},{"ServiceName":"ping-service","ServicePort":"443","Weight":75}]}}`,
					ManagedAnnotations: managed("alb.ingress.kubernetes.io/actions.root")})
			}},
		},
		"the weight already there: nothing written": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{ingressObj(t, "ingress", "stable-svc", map[string]string{actionKey: argoAction10, ManagedAnnotations: managed(actionKey)})}
			},
			call: setWeight(10),
		},
		"a missing Ingress": {
			call:    setWeight(10),
			wantErr: `NotFound: Ingress shop/ingress: spec.strategy.canary.trafficRouting.alb.ingress: Ingress "ingress" not found in namespace "shop"`,
		},
		"no path to the root Service: nothing written on any Ingress": {
			mod: func(ro *v1alpha1.Rollout) {
				ro.Spec.Strategy.Canary.TrafficRouting.ALB.Ingress, ro.Spec.Strategy.Canary.TrafficRouting.ALB.Ingresses = "", []string{"ingress", "other"}
			},
			objs: func(t *testing.T) []client.Object {
				return []client.Object{ingressObj(t, "ingress", "stable-svc", nil), ingressObj(t, "other", "invalid-svc", nil)}
			},
			call:    setWeight(10),
			wantErr: `Invalid: Ingress shop/other: spec.rules[].http.paths[].backend.service.name: no path goes to the root Service "stable-svc"`,
		},
		"a bookkeeping annotation that is not JSON": {
			objs: func(t *testing.T) []client.Object {
				return []client.Object{ingressObj(t, "ingress", "stable-svc", map[string]string{ManagedAnnotations: "test"})}
			},
			call:    setWeight(10),
			wantErr: `Invalid: Ingress shop/ingress: metadata.annotations["rollouts.argoproj.io/managed-alb-annotations"]: is not a JSON object of annotation lists: invalid character 'e' in literal true (expecting 'r')`,
		},
		"a stickiness duration out of range (Argo's check)": {
			mod: func(ro *v1alpha1.Rollout) {
				ro.Spec.Strategy.Canary.TrafficRouting.ALB.StickinessConfig = &v1alpha1.StickinessConfig{Enabled: true, DurationSeconds: 604801}
			},
			call:    setWeight(10),
			wantErr: `Invalid: Rollout shop/web: spec.strategy.canary.trafficRouting.alb.stickinessConfig.durationSeconds: TargetGroupStickinessConfig's duration must be between 1 and 604800 seconds (7 days)`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var objs []client.Object
			if tc.objs != nil {
				objs = tc.objs(t)
			}
			want := map[string]string{}
			for k, f := range tc.want {
				want[k] = f(t)
			}
			routertest.RunRouter(t, albRollout(tc.mod), objs, newRouter, tc.call, want, tc.wantErr)
		})
	}
}

func header(name string, match ...v1alpha1.HeaderRoutingMatch) call {
	return func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
		return r.SetHeaderRoute(ctx, ro, &v1alpha1.SetHeaderRoute{Name: name, Match: match})
	}
}

func exact(name, value string) v1alpha1.HeaderRoutingMatch {
	return v1alpha1.HeaderRoutingMatch{HeaderName: name, HeaderValue: &v1alpha1.StringMatch{Exact: value}}
}

func TestSetHeaderRoute(t *testing.T) {
	weighted := map[string]string{actionKey: argoAction10, ManagedAnnotations: managed(actionKey)}
	withRoute := map[string]string{actionKey: argoAction10, headerKey: argoHeaderAction,
		conditionKy:        `[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"Agent","values":["Chrome"]}}]`,
		ManagedAnnotations: managed(actionKey, headerKey, conditionKy)}
	cases := map[string]struct {
		ann     map[string]string
		paths   []string
		call    call
		want    map[string]string
		paths2  []string
		wantErr string
	}{
		"added: the action, the conditions, a path first, the bookkeeping": {
			ann: weighted, call: header("header-route", exact("Agent", "Chrome")),
			want: withRoute, paths2: []string{"header-route", "stable-svc"},
		},
		"two headers, and two values of one header merged (Argo's upsertCondition)": {
			ann: weighted,
			call: header("header-route", exact("origin", "https://www.fake-origin1.com"), exact("Agent", "Chrome"),
				exact("origin", "https://www.fake-origin2.com")),
			want: map[string]string{actionKey: argoAction10, headerKey: argoHeaderAction,
				conditionKy:        `[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"origin","values":["https://www.fake-origin1.com","https://www.fake-origin2.com"]}},{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"Agent","values":["Chrome"]}}]`,
				ManagedAnnotations: managed(actionKey, headerKey, conditionKy)},
			paths2: []string{"header-route", "stable-svc"},
		},
		"removed by a step without match: the annotations and the path go, the bookkeeping keeps the action": {
			ann: withRoute, paths: []string{"header-route", "stable-svc"}, call: header("header-route"),
			want: weighted, paths2: []string{"stable-svc"},
		},
		"a prefix match": {
			ann:     weighted,
			call:    header("header-route", v1alpha1.HeaderRoutingMatch{HeaderName: "Agent", HeaderValue: &v1alpha1.StringMatch{Prefix: "Chrome"}}),
			wantErr: `Unsupported: Rollout shop/web: spec.strategy.canary.steps[].setHeaderRoute.match[0].headerValue: an ALB header route matches exact values only`,
		},
		"a route not listed in managedRoutes": {
			ann: weighted, call: header("other", exact("Agent", "Chrome")),
			wantErr: `Invalid: Rollout shop/web: spec.strategy.canary.steps[].setHeaderRoute.name: route "other" is not listed in spec.strategy.canary.trafficRouting.managedRoutes`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			objs := []client.Object{ingressObj(t, "ingress", "stable-svc", tc.ann, tc.paths...)}
			var want map[string]string
			if tc.want != nil {
				want = map[string]string{"Ingress/ingress": annotations(t, tc.want, tc.paths2...)}
			}
			routertest.RunRouter(t, albRollout(nil), objs, newRouter, tc.call, want, tc.wantErr)
		})
	}
}

func TestRemoveManagedRoutes(t *testing.T) {
	remove := func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error {
		return r.RemoveManagedRoutes(ctx, ro)
	}
	cases := map[string]struct {
		ann   map[string]string
		paths []string
		want  map[string]string
		left  []string
	}{
		"the route's annotations and path go; the action stays": {
			ann:   map[string]string{actionKey: argoAction10, headerKey: "{}", conditionKy: "{}", ManagedAnnotations: managed(actionKey, headerKey, conditionKy)},
			paths: []string{"header-route", "stable-svc"},
			want:  map[string]string{actionKey: argoAction10, ManagedAnnotations: managed(actionKey)}, left: []string{"stable-svc"},
		},
		"nothing to remove: nothing written": {
			ann: map[string]string{actionKey: argoAction10, ManagedAnnotations: managed(actionKey)},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var want map[string]string
			if tc.want != nil {
				want = map[string]string{"Ingress/ingress": annotations(t, tc.want, tc.left...)}
			}
			routertest.RunRouter(t, albRollout(nil), []client.Object{ingressObj(t, "ingress", "stable-svc", tc.ann, tc.paths...)}, newRouter, remove, want, "")
		})
	}
}

func TestVerifyWeightAnnotations(t *testing.T) {
	spaced := `{ "Type": "forward", "ForwardConfig": { "TargetGroups": [ {"ServiceName": "canary-svc", "ServicePort": "443", "Weight": 10},
		{"ServiceName": "stable-svc", "ServicePort": "443", "Weight": 90} ] } }`
	cases := map[string]struct {
		action string
		weight int32
		want   bool
	}{
		"the weight":                {action: argoAction10, weight: 10, want: true},
		"the weight, spaced JSON":   {action: spaced, weight: 10, want: true},
		"another weight":            {action: argoAction10, weight: 20},
		"no action":                 {weight: 0},
		"an action that is no JSON": {action: "x", weight: 10},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ann := map[string]string{}
			if tc.action != "" {
				ann[actionKey] = tc.action
			}
			routertest.CheckVerifyWeight(t, albRollout(nil), []client.Object{ingressObj(t, "ingress", "stable-svc", ann)}, newRouter, tc.weight, nil, tc.want, "")
		})
	}
}

func TestAPIErrors(t *testing.T) {
	cases := map[string]struct {
		verb    string
		wantErr string
	}{
		"reading fails":  {verb: "get", wantErr: "reading Ingress shop/ingress: " + routertest.ErrAPI.Error()},
		"updating fails": {verb: "patch", wantErr: "updating Ingress shop/ingress: " + routertest.ErrAPI.Error()},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := albRollout(nil)
			r, err := New(ro, routertest.Failing(routertest.Client(t, ingressObj(t, "ingress", "stable-svc", nil)), tc.verb))
			if err != nil {
				t.Fatal(err)
			}
			routertest.CheckAPIError(t, r.SetWeight(context.Background(), ro, 20, nil), tc.wantErr, true)
		})
	}
	if _, err := New(albRollout(func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary.TrafficRouting.ALB.Ingresses = []string{"x"} }), nil); err == nil {
		t.Error("New accepted both ingress and ingresses")
	}
}
