package router

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

var (
	virtualService  = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1alpha3", Kind: "VirtualService"}
	destinationRule = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1alpha3", Kind: "DestinationRule"}
	istioObjects    = map[string]schema.GroupVersionKind{"podinfo": virtualService, "podinfo-primary": destinationRule, "podinfo-canary": destinationRule}
)

// istioCanary is the Canary of Flagger's own Istio router tests: a progressive analysis, the
// service behind the gateway istio/public-gateway and the mesh, with matches, headers, CORS
// and retries.
func istioCanary(ns string) *flaggerv1.Canary {
	return &flaggerv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns},
		Spec: flaggerv1.CanarySpec{
			Provider:  "istio",
			TargetRef: flaggerv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service: flaggerv1.CanaryService{
				Port: 9898, PortDiscovery: ptr.To(true), AppProtocol: "http",
				Headers: &flaggerv1.Headers{
					Request:  &flaggerv1.HeaderOperations{Add: map[string]string{"x-envoy-upstream-rq-timeout-ms": "15000"}, Remove: []string{"test"}},
					Response: &flaggerv1.HeaderOperations{Remove: []string{"token"}}},
				CorsPolicy: &flaggerv1.CorsPolicy{AllowMethods: []string{"GET", "POST"}},
				Match: []flaggerv1.HTTPMatchRequest{{Name: "podinfo", URI: &flaggerv1.StringMatch{Prefix: "/podinfo"},
					Method: &flaggerv1.StringMatch{Exact: "GET"}, IgnoreURICase: ptr.To(true)}},
				Retries:       &flaggerv1.HTTPRetry{Attempts: 10, PerTryTimeout: "30s", RetryOn: "connect-failure,gateway-error"},
				Gateways:      []string{"istio/public-gateway", "mesh"},
				TrafficPolicy: &flaggerv1.TrafficPolicy{TLS: &flaggerv1.ClientTLS{Mode: "ISTIO_MUTUAL"}},
			},
			Analysis: analysis(),
		},
	}
}

// virtualServiceManifest is the VirtualService podinfo with the HTTP routes given (YAML at
// the indentation of spec.http's items).
func virtualServiceManifest(http string) string {
	return `
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: podinfo
  namespace: $NS
  annotations:` + toolkit + owner + `
spec:
  hosts: [podinfo]
  gateways: [istio/public-gateway, mesh]
  http:` + http
}

// serviceSettings are the members of every HTTP route that istioCanary's service sets.
const serviceSettings = `
    headers:
      request: {add: {x-envoy-upstream-rq-timeout-ms: "15000"}, remove: [test]}
      response: {remove: [token]}
    corsPolicy: {allowMethods: [GET, POST]}
    retries: {attempts: 10, perTryTimeout: 30s, retryOn: "connect-failure,gateway-error"}`

// serviceMatch is istioCanary's match with the headers given.
func serviceMatch(headers string) string {
	return `
    - name: podinfo
      uri: {prefix: /podinfo}
      method: {exact: GET}
      ignoreUriCase: true` + headers
}

func destinations(primary, canary int) string {
	return fmt.Sprintf(`
    route:
    - destination: {host: podinfo-primary, port: {number: 9898}}
      weight: %d
    - destination: {host: podinfo-canary, port: {number: 9898}}
      weight: %d`, primary, canary)
}

func weightedRoute(primary, canary int) string {
	return `
  - match:` + serviceMatch("") + serviceSettings + destinations(primary, canary)
}

func destinationRuleManifest(name string) string {
	return `
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: ` + name + `
  namespace: $NS` + owner + `
spec:
  host: ` + name + `
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}`
}

// istioWant is the VirtualService with http and the two DestinationRules.
func istioWant(http string) map[string]string {
	return map[string]string{"podinfo": virtualServiceManifest(http),
		"podinfo-primary": destinationRuleManifest("podinfo-primary"), "podinfo-canary": destinationRuleManifest("podinfo-canary")}
}

func TestIstio(t *testing.T) {
	sessionAffinity := func(cd *flaggerv1.Canary) {
		cd.Spec.Analysis.SessionAffinity = &flaggerv1.SessionAffinity{CookieName: "flagger-cookie", MaxAge: 300}
	}
	mirrored := istioWant(weightedRoute(100, 0) + `
    mirror: {host: podinfo-canary}
    mirrorPercentage: {value: 50}`)
	userEdited := istioWant(strings.Replace(weightedRoute(90, 10), "  - match:", "  - fault: {abort: {httpStatus: 503, percentage: {value: 1}}}\n    match:", 1) + `
  exportTo: [.]`)
	userEdited["podinfo"] = strings.Replace(userEdited["podinfo"], "  annotations:", "  labels: {team: shop}\n  annotations:", 1)
	userEdited["podinfo-primary"] += "\n  exportTo: [.]"
	run(t, istioCanary, istioObjects, map[string]routerCase{
		"Reconcile creates the VirtualService and DestinationRules with all traffic to the primary": {
			steps:  []step{reconcile},
			want:   istioWant(weightedRoute(100, 0)),
			routes: [3]any{100, 0, false},
			again:  []step{reconcile},
		},
		"SetRoutes(90, 10), which Reconcile keeps": {
			steps:  []step{reconcile, setRoutes(90, 10, false)},
			want:   istioWant(weightedRoute(90, 10)),
			routes: [3]any{90, 10, false},
			again:  []step{reconcile, setRoutes(90, 10, false)},
		},
		"A/B testing: the matching requests to the canary, the others to the primary": {
			canary: func(cd *flaggerv1.Canary) {
				blueGreen(cd)
				cd.Spec.Analysis.Match = []flaggerv1.AnalysisMatch{
					{Headers: map[string]flaggerv1.HeaderMatch{"x-canary": {Exact: "insider"}}},
					{Headers: map[string]flaggerv1.HeaderMatch{"cookie": {Regex: "^(.*?;)?(canary=always)(;.*)?$"}}},
				}
			},
			steps: []step{reconcile, setRoutes(0, 100, false)},
			want: istioWant(`
  - match:` + serviceMatch("\n      headers: {x-canary: {exact: insider}}") + serviceMatch("\n      headers: {cookie: {regex: \"^(.*?;)?(canary=always)(;.*)?$\"}}") +
				serviceSettings + destinations(0, 100) + `
  - match:` + serviceMatch("") + serviceSettings + `
    route:
    - destination: {host: podinfo-primary, port: {number: 9898}}
      weight: 0`),
			routes: [3]any{0, 100, false},
			again:  []step{reconcile},
		},
		"mirroring with mirrorWeight, which Reconcile keeps": {
			canary: func(cd *flaggerv1.Canary) {
				cd.Spec.Analysis.Mirror, cd.Spec.Analysis.MirrorWeight = ptr.To(true), ptr.To[int32](50)
			},
			steps:  []step{reconcile, setRoutes(100, 0, true)},
			want:   mirrored,
			routes: [3]any{100, 0, true},
			again:  []step{phase(flaggerv1.PhaseProgressing), reconcile},
		},
		"session affinity: the sticky route and the cookie, which Reconcile keeps": {
			canary: sessionAffinity,
			steps:  []step{reconcile, setRoutes(90, 10, false)},
			want: istioWant(`
  - name: sticky-route
    match:` + serviceMatch("\n      headers: {Cookie: {regex: \".*flagger-cookie.*$COOKIEVALUE.*\"}}") + serviceSettings + destinations(0, 100) + `
  - match:` + serviceMatch("") + serviceSettings + `
    route:
    - destination: {host: podinfo-primary, port: {number: 9898}}
      weight: 90
    - destination: {host: podinfo-canary, port: {number: 9898}}
      weight: 10
      headers: {response: {add: {Set-Cookie: "$COOKIE; Max-Age=300"}}}`),
			routes: [3]any{90, 10, false},
			again:  []step{reconcile, setRoutes(90, 10, false)},
		},
		"session affinity: once promoted, the previous cookie is deleted": {
			canary: sessionAffinity,
			steps:  []step{reconcile, setRoutes(90, 10, false), setRoutes(100, 0, false)},
			want: istioWant(`
  - name: sticky-route
    match:` + serviceMatch("\n      headers: {Cookie: {regex: \".*flagger-cookie.*$PREVIOUSVALUE.*\"}}") + `
    headers:
      request: {add: {x-envoy-upstream-rq-timeout-ms: "15000"}, remove: [test]}
      response: {add: {Set-Cookie: "$PREVIOUS; Max-Age=-1"}, remove: [token]}
    corsPolicy: {allowMethods: [GET, POST]}
    retries: {attempts: 10, perTryTimeout: 30s, retryOn: "connect-failure,gateway-error"}` + destinations(100, 0) + weightedRoute(100, 0)),
			routes: [3]any{100, 0, false},
		},
		"a user's fields are left alone": {
			steps: []step{reconcile,
				edit(virtualService, "podinfo", `[{"op":"add","path":"/spec/http/0/fault","value":{"abort":{"httpStatus":503,"percentage":{"value":1}}}},
					{"op":"add","path":"/spec/exportTo","value":["."]},
					{"op":"add","path":"/metadata/labels","value":{"team":"shop"}}]`),
				edit(destinationRule, "podinfo-primary", `{"spec":{"exportTo":["."]}}`),
				setRoutes(90, 10, false), reconcile},
			want:   userEdited,
			routes: [3]any{90, 10, false},
			again:  []step{reconcile, setRoutes(90, 10, false)},
		},
		"TCP: the TCP route": {
			canary: func(cd *flaggerv1.Canary) {
				svc := &cd.Spec.Service
				svc.AppProtocol, svc.Match, svc.Headers, svc.CorsPolicy, svc.Retries = "tcp", nil, nil, nil, nil
			},
			steps: []step{reconcile, setRoutes(90, 10, false)},
			want: map[string]string{"podinfo": strings.Replace(virtualServiceManifest(""), "  http:", `  tcp:
  - route:
    - destination: {host: podinfo-primary, port: {number: 9898}}
      weight: 90
    - destination: {host: podinfo-canary, port: {number: 9898}}
      weight: 10`, 1)},
			routes: [3]any{90, 10, false},
			again:  []step{reconcile},
		},
		"delegation: no hosts and no gateways": {
			canary: func(cd *flaggerv1.Canary) {
				svc := &cd.Spec.Service
				svc.Delegation, svc.Gateways, svc.Match, svc.Headers, svc.CorsPolicy, svc.Retries = ptr.To(true), nil, nil, nil, nil, nil
			},
			steps: []step{reconcile},
			want: map[string]string{"podinfo": strings.Replace(virtualServiceManifest(`
  - route:
    - destination: {host: podinfo-primary, port: {number: 9898}}
      weight: 100
    - destination: {host: podinfo-canary, port: {number: 9898}}
      weight: 0`), "  hosts: [podinfo]\n  gateways: [istio/public-gateway, mesh]\n", "  hosts: []\n", 1)},
			routes: [3]any{100, 0, false},
			again:  []step{reconcile},
		},
		"Finalize leaves a VirtualService Flagger created as it is": {
			steps:  []step{reconcile, setRoutes(90, 10, false), finalize},
			want:   istioWant(weightedRoute(90, 10)),
			routes: [3]any{90, 10, false},
			again:  []step{finalize},
		},
	})
}

// usersVirtualService is a VirtualService podinfo a user made before the Canary.
const usersVirtualService = `
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: podinfo
  annotations: {%s}
spec:
  hosts: [podinfo]
  http:
  - route:
    - destination: {host: podinfo}`

func TestIstioRevert(t *testing.T) {
	original := `{"hosts":["podinfo"],"http":[{"route":[{"destination":{"host":"podinfo"}}]}]}`
	kubectl := `{"apiVersion":"networking.istio.io/v1alpha3","kind":"VirtualService","metadata":{"name":"podinfo"},"spec":{"hosts":["podinfo"],"http":[{"route":[{"destination":{"host":"podinfo"}}]}]}}`
	taken := func(annotations string) string {
		return fmt.Sprintf(`
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: podinfo
  namespace: $NS
  annotations: {%s}
spec:
  hosts: [podinfo]
  gateways: [istio/public-gateway, mesh]
  http:%s`, annotations, weightedRoute(100, 0))
	}
	reverted := func(annotations string) string {
		return strings.Replace(fmt.Sprintf(usersVirtualService, annotations), "  name: podinfo", "  name: podinfo\n  namespace: $NS", 1)
	}
	withConfig := fmt.Sprintf(`"flagger.kubernetes.io/original-configuration": '%s', %s`, original, strings.ReplaceAll(strings.TrimSpace(toolkit), "\n    ", ", "))
	withKubectl := fmt.Sprintf(`"kubectl.kubernetes.io/last-applied-configuration": '%s', %s`, kubectl, strings.ReplaceAll(strings.TrimSpace(toolkit), "\n    ", ", "))
	run(t, istioCanary, map[string]schema.GroupVersionKind{"podinfo": virtualService}, map[string]routerCase{
		"Reconcile takes over a user's VirtualService and keeps its spec": {
			steps:  []step{apply(fmt.Sprintf(usersVirtualService, "")), reconcile},
			want:   map[string]string{"podinfo": taken(withConfig)},
			routes: [3]any{100, 0, false},
			again:  []step{reconcile},
		},
		"Finalize puts the user's spec back": {
			steps:     []step{apply(fmt.Sprintf(usersVirtualService, "")), reconcile, setRoutes(90, 10, false), finalize},
			want:      map[string]string{"podinfo": reverted(withConfig)},
			routesErr: `VirtualService $NS/podinfo: spec: has no route to podinfo-primary and podinfo-canary`,
		},
		"Finalize puts back what kubectl applied": {
			steps: []step{apply(fmt.Sprintf(usersVirtualService, fmt.Sprintf(`"kubectl.kubernetes.io/last-applied-configuration": '%s'`, kubectl))),
				reconcile, setRoutes(90, 10, false), finalize},
			want:      map[string]string{"podinfo": reverted(withKubectl)},
			routesErr: `VirtualService $NS/podinfo: spec: has no route to podinfo-primary and podinfo-canary`,
		},
	})
}

func TestIstioErrors(t *testing.T) {
	runErrors(t, istioCanary, map[string]errorCase{
		"delegation with hosts": {
			canary: func(cd *flaggerv1.Canary) {
				cd.Spec.Service.Delegation, cd.Spec.Service.Gateways, cd.Spec.Service.Hosts = ptr.To(true), nil, []string{"app.example.com"}
			},
			call: callReconcile,
			wantErr: `Canary $NS/podinfo: spec.service.delegation: a delegate VirtualService has no hosts and no gateways: ` +
				`spec.service.hosts and spec.service.gateways must be empty`,
		},
		"mirroring TCP": {
			canary: func(cd *flaggerv1.Canary) {
				cd.Spec.Service.AppProtocol, cd.Spec.Analysis.Mirror = "tcp", ptr.To(true)
			},
			call:    callReconcile,
			wantErr: `Canary $NS/podinfo: spec.analysis.mirror: Istio mirrors HTTP traffic only, and spec.service.appProtocol is tcp`,
		},
		"a header matched by suffix": {
			canary: func(cd *flaggerv1.Canary) {
				blueGreen(cd)
				cd.Spec.Analysis.Match = []flaggerv1.AnalysisMatch{{Headers: map[string]flaggerv1.HeaderMatch{"user-agent": {Suffix: "Firefox"}}}}
			},
			call:    callReconcile,
			wantErr: `Canary $NS/podinfo: spec.analysis.match[0].headers[user-agent].suffix: Istio matches a header exactly, by prefix or by regex, not by suffix`,
		},
		"GetRoutes before Reconcile": {
			call: func(x *fixture) error {
				_, _, _, err := x.r.GetRoutes(x.ctx, x.cd)
				return err
			},
			wantErr: `VirtualService $NS/podinfo: VirtualService "podinfo" not found in namespace "$NS"`,
		},
		"a VirtualService without the Canary's routes": {
			steps: []step{apply(fmt.Sprintf(usersVirtualService, ""))},
			call: func(x *fixture) error {
				_, _, _, err := x.r.GetRoutes(x.ctx, x.cd)
				return err
			},
			wantErr: `VirtualService $NS/podinfo: spec: has no route to podinfo-primary and podinfo-canary`,
		},
	})
}
