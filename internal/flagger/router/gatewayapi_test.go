package router

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

var (
	httpRouteV1      = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}
	httpRouteV1Beta1 = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1beta1", Kind: "HTTPRoute"}
)

// gatewayCanary is the Canary podinfo of the gatewayapi:v1 provider: a progressive analysis,
// the HTTPRoute attached to the Gateway istio-ingress/gateway for app.example.com.
func gatewayCanary(ns string) *flaggerv1.Canary {
	return &flaggerv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns},
		Spec: flaggerv1.CanarySpec{
			Provider:  "gatewayapi:v1",
			TargetRef: flaggerv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service: flaggerv1.CanaryService{Port: 9898, Hosts: []string{"app.example.com"}, Timeout: "10s",
				GatewayRefs: []flaggerv1.GatewayRef{{Name: "gateway", Namespace: ptr.To[gatewayv1.Namespace]("istio-ingress")}}},
			Analysis: analysis(),
		},
	}
}

// httpRouteManifest is the manifest of the HTTPRoute podinfo Flagger generates for gatewayCanary, with
// the rules given (YAML at the indentation of spec.rules' items).
func httpRouteManifest(rules string) string {
	return `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: podinfo
  namespace: $NS
  annotations:` + toolkit + owner + `
spec:
  parentRefs:
  - group: gateway.networking.k8s.io
    kind: Gateway
    name: gateway
    namespace: istio-ingress
  hostnames: [app.example.com]
  rules:` + rules
}

// weightedRule is Flagger's rule sending primary and canary percent of the requests to the
// Services, matching all paths.
func weightedRule(primary, canary int) string {
	return fmt.Sprintf(`
  - matches:
    - path: {type: PathPrefix, value: /}
    backendRefs:
    - {group: "", kind: Service, name: podinfo-primary, port: 9898, weight: %d}
    - {group: "", kind: Service, name: podinfo-canary, port: 9898, weight: %d}
    timeouts: {request: 10s}`, primary, canary)
}

func TestGatewayAPI(t *testing.T) {
	route := map[string]schema.GroupVersionKind{"podinfo": httpRouteV1}
	sessionAffinity := func(cd *flaggerv1.Canary) {
		cd.Spec.Analysis.SessionAffinity = &flaggerv1.SessionAffinity{CookieName: "flagger-cookie", MaxAge: 300}
	}
	abTesting := func(cd *flaggerv1.Canary) {
		blueGreen(cd)
		cd.Spec.Analysis.Match = []flaggerv1.AnalysisMatch{
			{Headers: map[string]flaggerv1.HeaderMatch{"x-canary": {Exact: "insider"}}},
			{Headers: map[string]flaggerv1.HeaderMatch{"cookie": {Regex: "^(.*?;)?(canary=always)(;.*)?$"}}},
		}
	}
	mirror := func(cd *flaggerv1.Canary) {
		blueGreen(cd)
		cd.Spec.Analysis.Mirror = ptr.To(true)
		cd.Spec.Analysis.MirrorWeight = ptr.To[int32](50)
	}
	mirrored := httpRouteManifest(`
  - matches:
    - path: {type: PathPrefix, value: /}
    filters:
    - type: RequestMirror
      requestMirror:
        backendRef: {group: "", kind: Service, name: podinfo-canary, port: 9898}
        percent: 50
    backendRefs:
    - {group: "", kind: Service, name: podinfo-primary, port: 9898, weight: 100}
    - {group: "", kind: Service, name: podinfo-canary, port: 9898, weight: 0}
    timeouts: {request: 10s}`)
	run(t, gatewayCanary, route, map[string]routerCase{
		"Reconcile creates the route with all traffic to the primary": {
			steps:  []step{reconcile},
			want:   map[string]string{"podinfo": httpRouteManifest(weightedRule(100, 0))},
			routes: [3]any{100, 0, false},
			again:  []step{reconcile},
		},
		"SetRoutes(90, 10), which Reconcile keeps": {
			steps:  []step{reconcile, setRoutes(90, 10, false)},
			want:   map[string]string{"podinfo": httpRouteManifest(weightedRule(90, 10))},
			routes: [3]any{90, 10, false},
			again:  []step{reconcile, setRoutes(90, 10, false)},
		},
		"A/B testing: the matching requests to the canary, the others to the primary": {
			canary: abTesting,
			steps:  []step{reconcile, setRoutes(0, 100, false)},
			want: map[string]string{"podinfo": httpRouteManifest(`
  - matches:
    - path: {type: PathPrefix, value: /}
      headers: [{type: Exact, name: x-canary, value: insider}]
    - path: {type: PathPrefix, value: /}
      headers: [{type: RegularExpression, name: cookie, value: "^(.*?;)?(canary=always)(;.*)?$"}]
    backendRefs:
    - {group: "", kind: Service, name: podinfo-primary, port: 9898, weight: 0}
    - {group: "", kind: Service, name: podinfo-canary, port: 9898, weight: 100}
    timeouts: {request: 10s}
  - matches:
    - path: {type: PathPrefix, value: /}
    backendRefs:
    - {group: "", kind: Service, name: podinfo-primary, port: 9898, weight: 100}
    timeouts: {request: 10s}`)},
			routes: [3]any{0, 100, false},
			again:  []step{reconcile},
		},
		"blue/green mirroring with mirrorWeight, kept by Reconcile while the analysis runs": {
			canary: mirror,
			steps:  []step{reconcile, setRoutes(100, 0, true)},
			want:   map[string]string{"podinfo": mirrored},
			routes: [3]any{100, 0, true},
			again:  []step{phase(flaggerv1.PhaseProgressing), reconcile},
		},
		"mirroring stops when all traffic goes to the canary": {
			canary: mirror,
			steps:  []step{reconcile, setRoutes(100, 0, true), setRoutes(0, 100, false)},
			want: map[string]string{"podinfo": httpRouteManifest(`
  - matches:
    - path: {type: PathPrefix, value: /}
    backendRefs:
    - {group: "", kind: Service, name: podinfo-primary, port: 9898, weight: 0}
    - {group: "", kind: Service, name: podinfo-canary, port: 9898, weight: 100}
    timeouts: {request: 10s}`)},
			routes: [3]any{0, 100, false},
		},
		"session affinity: the sticky rule and the cookie, which Reconcile keeps": {
			canary: sessionAffinity,
			steps:  []step{reconcile, setRoutes(90, 10, false)},
			want: map[string]string{"podinfo": httpRouteManifest(`
  - matches:
    - path: {type: PathPrefix, value: /}
      headers: [{type: RegularExpression, name: Cookie, value: ".*flagger-cookie.*$COOKIEVALUE.*"}]
    backendRefs:
    - {group: "", kind: Service, name: podinfo-primary, port: 9898, weight: 0}
    - {group: "", kind: Service, name: podinfo-canary, port: 9898, weight: 100}
    timeouts: {request: 10s}
  - matches:
    - path: {type: PathPrefix, value: /}
    backendRefs:
    - {group: "", kind: Service, name: podinfo-primary, port: 9898, weight: 90}
    - group: ""
      kind: Service
      name: podinfo-canary
      port: 9898
      weight: 10
      filters:
      - type: ResponseHeaderModifier
        responseHeaderModifier:
          add: [{name: Set-Cookie, value: "$COOKIE; Max-Age=300"}]
    timeouts: {request: 10s}`)},
			routes: [3]any{90, 10, false},
			again:  []step{reconcile, setRoutes(90, 10, false)},
		},
		"session affinity: once promoted, the previous cookie is deleted": {
			canary: sessionAffinity,
			steps:  []step{reconcile, setRoutes(90, 10, false), setRoutes(100, 0, false)},
			want: map[string]string{"podinfo": httpRouteManifest(`
  - matches:
    - path: {type: PathPrefix, value: /}
      headers: [{type: RegularExpression, name: Cookie, value: ".*flagger-cookie.*$PREVIOUSVALUE.*"}]
    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        add: [{name: Set-Cookie, value: "$PREVIOUS; Max-Age=-1"}]
    backendRefs:
    - {group: "", kind: Service, name: podinfo-primary, port: 9898, weight: 100}
    - {group: "", kind: Service, name: podinfo-canary, port: 9898, weight: 0}
    timeouts: {request: 10s}` + weightedRule(100, 0))},
			routes: [3]any{100, 0, false},
		},
		"a user's fields on the route are left alone": {
			steps: []step{reconcile,
				edit(httpRouteV1, "podinfo", `[{"op":"add","path":"/spec/rules/0/name","value":"main"},
					{"op":"add","path":"/spec/rules/0/timeouts/backendRequest","value":"5s"},
					{"op":"add","path":"/metadata/labels","value":{"team":"shop"}}]`),
				setRoutes(90, 10, false), reconcile},
			want: map[string]string{"podinfo": strings.Replace(httpRouteManifest(`
  - name: main
    matches:
    - path: {type: PathPrefix, value: /}
    backendRefs:
    - {group: "", kind: Service, name: podinfo-primary, port: 9898, weight: 90}
    - {group: "", kind: Service, name: podinfo-canary, port: 9898, weight: 10}
    timeouts: {request: 10s, backendRequest: 5s}`), "  annotations:", "  labels: {team: shop}\n  annotations:", 1)},
			routes: [3]any{90, 10, false},
			again:  []step{reconcile, setRoutes(90, 10, false)},
		},
		"Reconcile puts back what a user changed, with all traffic to the primary (as Flagger)": {
			steps: []step{reconcile, setRoutes(90, 10, false),
				edit(httpRouteV1, "podinfo", `{"spec":{"hostnames":["evil.example.com"]}}`), reconcile},
			want:   map[string]string{"podinfo": httpRouteManifest(weightedRule(100, 0))},
			routes: [3]any{100, 0, false},
		},
		"the service's matches, headers, rewrite and mirrors": {
			canary: func(cd *flaggerv1.Canary) {
				cd.Spec.Service.Match = []flaggerv1.HTTPMatchRequest{{URI: &flaggerv1.StringMatch{Prefix: "/api"},
					Method: &flaggerv1.StringMatch{Exact: "GET"}, Headers: map[string]flaggerv1.StringMatch{"x-env": {Regex: "prod.*"}},
					QueryParams: map[string]flaggerv1.StringMatch{"v": {Exact: "2"}}}}
				cd.Spec.Service.Headers = &flaggerv1.Headers{
					Request:  &flaggerv1.HeaderOperations{Add: map[string]string{"x-b": "2", "x-a": "1"}, Remove: []string{"x-debug"}},
					Response: &flaggerv1.HeaderOperations{Set: map[string]string{"x-served-by": "podinfo"}}}
				cd.Spec.Service.Rewrite = &flaggerv1.HTTPRewrite{URI: "/v2", Type: "ReplacePrefixMatch"}
				cd.Spec.Service.Mirror = []flaggerv1.HTTPRequestMirror{{BackendRef: gatewayv1.BackendObjectReference{
					Name: "shadow", Port: ptr.To[gatewayv1.PortNumber](8080)}}}
			},
			steps: []step{reconcile},
			want: map[string]string{"podinfo": httpRouteManifest(`
  - matches:
    - path: {type: PathPrefix, value: /api}
      method: GET
      headers: [{type: RegularExpression, name: x-env, value: prod.*}]
      queryParams: [{type: Exact, name: v, value: "2"}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        add: [{name: x-a, value: "1"}, {name: x-b, value: "2"}]
        remove: [x-debug]
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set: [{name: x-served-by, value: podinfo}]
    - type: URLRewrite
      urlRewrite:
        path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}
    - type: RequestMirror
      requestMirror:
        backendRef: {group: "", kind: Service, name: shadow, port: 8080}
    backendRefs:
    - {group: "", kind: Service, name: podinfo-primary, port: 9898, weight: 100}
    - {group: "", kind: Service, name: podinfo-canary, port: 9898, weight: 0}
    timeouts: {request: 10s}`)},
			routes: [3]any{100, 0, false},
			again:  []step{reconcile},
		},
		"Finalize leaves the route as it is": {
			steps:  []step{reconcile, setRoutes(90, 10, false), finalize},
			want:   map[string]string{"podinfo": httpRouteManifest(weightedRule(90, 10))},
			routes: [3]any{90, 10, false},
			again:  []step{finalize},
		},
	})
}

func TestGatewayAPIV1Beta1(t *testing.T) {
	v1beta1 := func(cd *flaggerv1.Canary) { cd.Spec.Provider = "gatewayapi:v1beta1" }
	want := func(primary, canary int) string {
		return fmt.Sprintf(`
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: podinfo
  namespace: $NS
  annotations:`+toolkit+owner+`
spec:
  parentRefs:
  - {group: gateway.networking.k8s.io, kind: Gateway, name: gateway, namespace: istio-ingress}
  hostnames: [app.example.com]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /}
    backendRefs:
    - {group: "", kind: Service, name: podinfo-primary, port: 9898, weight: %d}
    - {group: "", kind: Service, name: podinfo-canary, port: 9898, weight: %d}`, primary, canary)
	}
	route := map[string]schema.GroupVersionKind{"podinfo": httpRouteV1Beta1}
	run(t, gatewayCanary, route, map[string]routerCase{
		"Reconcile (no timeouts, as Flagger's v1beta1 router)": {
			canary: v1beta1,
			steps:  []step{reconcile},
			want:   map[string]string{"podinfo": want(100, 0)},
			routes: [3]any{100, 0, false},
			again:  []step{reconcile},
		},
		"SetRoutes(90, 10)": {
			canary: v1beta1,
			steps:  []step{reconcile, setRoutes(90, 10, false)},
			want:   map[string]string{"podinfo": want(90, 10)},
			routes: [3]any{90, 10, false},
			again:  []step{reconcile},
		},
	})
}

func TestGatewayAPIErrors(t *testing.T) {
	runErrors(t, gatewayCanary, map[string]errorCase{
		"no Gateway": {
			canary:  func(cd *flaggerv1.Canary) { cd.Spec.Service.GatewayRefs = nil },
			call:    callReconcile,
			wantErr: `Canary $NS/podinfo: spec.service.gatewayRefs: the gatewayapi:v1 provider needs at least one Gateway to attach the HTTPRoute to`,
		},
		"a header matched by prefix": {
			canary: func(cd *flaggerv1.Canary) {
				blueGreen(cd)
				cd.Spec.Analysis.Match = []flaggerv1.AnalysisMatch{{Headers: map[string]flaggerv1.HeaderMatch{"x-canary": {Prefix: "ins"}}}}
			},
			call:    callReconcile,
			wantErr: `Canary $NS/podinfo: spec.analysis.match[0].headers[x-canary].prefix: Gateway API matches exactly or by regex only, not by prefix`,
		},
		"a match on source labels": {
			canary: func(cd *flaggerv1.Canary) {
				blueGreen(cd)
				cd.Spec.Analysis.Match = []flaggerv1.AnalysisMatch{{SourceLabels: map[string]string{"app": "front"}}}
			},
			call:    callReconcile,
			wantErr: `Canary $NS/podinfo: spec.analysis.match[0].sourceLabels: Gateway API cannot match the labels of the calling workload`,
		},
		"a service match on a method by regex": {
			canary: func(cd *flaggerv1.Canary) {
				cd.Spec.Service.Match = []flaggerv1.HTTPMatchRequest{{Method: &flaggerv1.StringMatch{Regex: "GET|HEAD"}}}
			},
			call:    callReconcile,
			wantErr: `Canary $NS/podinfo: spec.service.match[0].method: Gateway API matches a method exactly only`,
		},
		"mirroring in a progressive analysis": {
			canary:  func(cd *flaggerv1.Canary) { cd.Spec.Analysis.Mirror = ptr.To(true) },
			call:    callReconcile,
			wantErr: `Canary $NS/podinfo: spec.analysis.mirror: the gatewayapi:v1 provider mirrors traffic in blue/green analyses (spec.analysis.iterations) only, as Flagger does`,
		},
		"SetRoutes before Reconcile": {
			call:    callSetRoutes(90, 10, false),
			wantErr: `HTTPRoute $NS/podinfo: HTTPRoute "podinfo" not found in namespace "$NS"`,
		},
	})
}
