package router

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

var ingress = schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}

// nginxCanary is the Canary podinfo of the nginx provider, routed through the Ingress podinfo.
func nginxCanary(ns string) *flaggerv1.Canary {
	return &flaggerv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns},
		Spec: flaggerv1.CanarySpec{
			Provider:   "nginx",
			TargetRef:  flaggerv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			IngressRef: &flaggerv1.IngressRef{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "podinfo"},
			Service:    flaggerv1.CanaryService{Port: 9898},
			Analysis:   analysis(),
		},
	}
}

// usersIngress is the Ingress podinfo of the user (as in Flagger's tests, with a label and
// what kubectl applied).
const usersIngress = `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: podinfo
  labels: {app: podinfo}
  annotations:
    kubernetes.io/ingress.class: nginx
    kustomize.toolkit.fluxcd.io/checksum: 0a40893bfdc545d62125bd3e74eeb2ebaa7097c2
    kubectl.kubernetes.io/last-applied-configuration: "{}"
spec:
  rules:
  - host: app.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: podinfo, port: {number: 9898}}}`

// canaryIngress is the manifest of the Ingress podinfo-canary with these canary annotations.
func canaryIngress(annotations string) string {
	return `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: podinfo-canary
  namespace: $NS
  labels: {app: podinfo}
  annotations:
    kubernetes.io/ingress.class: nginx
    kustomize.toolkit.fluxcd.io/checksum: 0a40893bfdc545d62125bd3e74eeb2ebaa7097c2` + toolkit + annotations + owner + `
spec:
  rules:
  - host: app.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: podinfo-canary, port: {number: 9898}}}`
}

func weight(w string) string {
	return `
    nginx.ingress.kubernetes.io/canary: "true"
    nginx.ingress.kubernetes.io/canary-weight: "` + w + `"`
}

func TestNGINX(t *testing.T) {
	made := apply(usersIngress)
	ab := func(match ...flaggerv1.AnalysisMatch) func(*flaggerv1.Canary) {
		return func(cd *flaggerv1.Canary) {
			blueGreen(cd)
			cd.Spec.Analysis.Match = match
		}
	}
	edited := strings.Replace(canaryIngress(weight("10")+"\n    note: kept"), "  labels: {app: podinfo}", "  labels: {app: podinfo, team: shop}", 1)
	run(t, nginxCanary, map[string]schema.GroupVersionKind{"podinfo-canary": ingress}, map[string]routerCase{
		"Reconcile creates the canary Ingress with no traffic": {
			steps:  []step{made, reconcile},
			want:   map[string]string{"podinfo-canary": canaryIngress(weight("0"))},
			routes: [3]any{100, 0, false},
			again:  []step{reconcile},
		},
		"SetRoutes(90, 10), which Reconcile keeps": {
			steps:  []step{made, reconcile, setRoutes(90, 10, false)},
			want:   map[string]string{"podinfo-canary": canaryIngress(weight("10"))},
			routes: [3]any{90, 10, false},
			again:  []step{reconcile, setRoutes(90, 10, false)},
		},
		"promotion: no traffic to the canary again": {
			steps:  []step{made, reconcile, setRoutes(90, 10, false), setRoutes(100, 0, false)},
			want:   map[string]string{"podinfo-canary": canaryIngress(weight("0"))},
			routes: [3]any{100, 0, false},
		},
		"A/B testing by a header's value": {
			canary: ab(flaggerv1.AnalysisMatch{Headers: map[string]flaggerv1.HeaderMatch{"x-canary": {Exact: "insider"}}}),
			steps:  []step{made, reconcile, setRoutes(0, 100, false)},
			want: map[string]string{"podinfo-canary": canaryIngress(weight("0") + `
    nginx.ingress.kubernetes.io/canary-by-header: x-canary
    nginx.ingress.kubernetes.io/canary-by-header-value: insider`)},
			routes: [3]any{0, 100, false},
			again:  []step{reconcile, setRoutes(0, 100, false)},
		},
		"A/B testing by a cookie and a header's pattern": {
			canary: ab(flaggerv1.AnalysisMatch{Headers: map[string]flaggerv1.HeaderMatch{"cookie": {Exact: "canary"}}},
				flaggerv1.AnalysisMatch{Headers: map[string]flaggerv1.HeaderMatch{"x-canary": {Regex: "ins.*"}}}),
			steps: []step{made, reconcile, setRoutes(0, 100, false)},
			want: map[string]string{"podinfo-canary": canaryIngress(weight("0") + `
    nginx.ingress.kubernetes.io/canary-by-cookie: canary
    nginx.ingress.kubernetes.io/canary-by-header: x-canary
    nginx.ingress.kubernetes.io/canary-by-header-pattern: ins.*`)},
			routes: [3]any{0, 100, false},
		},
		"A/B testing ends: the canary-by annotations go": {
			canary: ab(flaggerv1.AnalysisMatch{Headers: map[string]flaggerv1.HeaderMatch{"x-canary": {Exact: "insider"}}}),
			steps:  []step{made, reconcile, setRoutes(0, 100, false), setRoutes(100, 0, false)},
			want:   map[string]string{"podinfo-canary": canaryIngress(weight("0"))},
			routes: [3]any{100, 0, false},
		},
		"a user's fields on the canary Ingress are left alone": {
			steps: []step{made, reconcile,
				edit(ingress, "podinfo-canary", `{"metadata":{"labels":{"team":"shop"},"annotations":{"note":"kept"}}}`),
				setRoutes(90, 10, false), reconcile},
			want:   map[string]string{"podinfo-canary": edited},
			routes: [3]any{90, 10, false},
			again:  []step{reconcile, setRoutes(90, 10, false)},
		},
		"Reconcile follows the user's Ingress and keeps the weight": {
			steps: []step{made, reconcile, setRoutes(90, 10, false),
				edit(ingress, "podinfo", `[{"op":"replace","path":"/spec/rules/0/host","value":"www.example.com"}]`), reconcile},
			want: map[string]string{"podinfo-canary": strings.Replace(canaryIngress(weight("10")),
				"host: app.example.com", "host: www.example.com", 1)},
			routes: [3]any{90, 10, false},
		},
		"another annotations prefix": {
			options: []Option{IngressAnnotationsPrefix("custom.ingress.kubernetes.io")},
			steps:   []step{made, reconcile, setRoutes(90, 10, false)},
			want: map[string]string{"podinfo-canary": canaryIngress(`
    custom.ingress.kubernetes.io/canary: "true"
    custom.ingress.kubernetes.io/canary-weight: "10"`)},
			routes: [3]any{90, 10, false},
		},
		"Finalize leaves the canary Ingress as it is": {
			steps:  []step{made, reconcile, setRoutes(90, 10, false), finalize},
			want:   map[string]string{"podinfo-canary": canaryIngress(weight("10"))},
			routes: [3]any{90, 10, false},
			again:  []step{finalize},
		},
	})
}

func TestNGINXErrors(t *testing.T) {
	made := apply(usersIngress)
	runErrors(t, nginxCanary, map[string]errorCase{
		"no ingressRef": {
			canary:  func(cd *flaggerv1.Canary) { cd.Spec.IngressRef = nil },
			call:    callReconcile,
			wantErr: `Canary $NS/podinfo: spec.ingressRef: the nginx provider needs the Ingress to route through`,
		},
		"mirroring": {
			canary:  func(cd *flaggerv1.Canary) { cd.Spec.Analysis.Mirror = ptr.To(true) },
			steps:   []step{made},
			call:    callReconcile,
			wantErr: `Canary $NS/podinfo: spec.analysis.mirror: ingress-nginx cannot mirror traffic to the canary`,
		},
		"SetRoutes mirrored": {
			steps:   []step{made, reconcile},
			call:    callSetRoutes(100, 0, true),
			wantErr: `Canary $NS/podinfo: spec.analysis.mirror: ingress-nginx cannot mirror traffic to the canary`,
		},
		"session affinity": {
			canary: func(cd *flaggerv1.Canary) {
				cd.Spec.Analysis.SessionAffinity = &flaggerv1.SessionAffinity{CookieName: "c"}
			},
			call:    callReconcile,
			wantErr: `Canary $NS/podinfo: spec.analysis.sessionAffinity: the nginx provider has no session affinity`,
		},
		"a match on query parameters": {
			canary: func(cd *flaggerv1.Canary) {
				blueGreen(cd)
				cd.Spec.Analysis.Match = []flaggerv1.AnalysisMatch{{QueryParams: map[string]flaggerv1.StringMatch{"canary": {Exact: "1"}}}}
			},
			call:    callReconcile,
			wantErr: `Canary $NS/podinfo: spec.analysis.match[0].queryParams: ingress-nginx routes a canary by a header or a cookie, not by query parameters`,
		},
		"two headers": {
			canary: func(cd *flaggerv1.Canary) {
				blueGreen(cd)
				cd.Spec.Analysis.Match = []flaggerv1.AnalysisMatch{{Headers: map[string]flaggerv1.HeaderMatch{
					"x-a": {Exact: "1"}, "x-b": {Exact: "2"}}}}
			},
			call:    callReconcile,
			wantErr: `Canary $NS/podinfo: spec.analysis.match[0].headers[x-b]: ingress-nginx routes by one header only, and "x-a" is matched already`,
		},
		"a cookie matched by regex": {
			canary: func(cd *flaggerv1.Canary) {
				blueGreen(cd)
				cd.Spec.Analysis.Match = []flaggerv1.AnalysisMatch{{Headers: map[string]flaggerv1.HeaderMatch{"cookie": {Regex: "canary=always"}}}}
			},
			call:    callReconcile,
			wantErr: `Canary $NS/podinfo: spec.analysis.match[0].headers[cookie]: ingress-nginx routes by the name of a cookie: set exact to it`,
		},
		"the Ingress does not exist": {
			call:    callReconcile,
			wantErr: `Ingress $NS/podinfo: spec.ingressRef.name: Ingress "podinfo" not found in namespace "$NS"`,
		},
		"the Ingress has no backend to the apex Service": {
			steps:   []step{apply(strings.Replace(usersIngress, "{name: podinfo,", "{name: other,", 1))},
			call:    callReconcile,
			wantErr: `Ingress $NS/podinfo: spec.rules: no path has a backend to the Service "podinfo"`,
		},
	})
}
