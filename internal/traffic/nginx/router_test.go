package nginx

import (
	"context"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/routertest"
)

func path(p, svc string) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: p, PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 8080}}}}
}

// stable is the stable Ingress name: its / goes to the stable Service, /static to another one,
// with TLS and an annotation of its own.
func stable(name string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: routertest.Namespace, Annotations: map[string]string{"nginx.ingress.kubernetes.io/rewrite-target": "/"}},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("nginx"),
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"colorapi.example.com"}, SecretName: "tls"}},
			Rules: []networkingv1.IngressRule{{Host: "colorapi.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{path("/", "stable"), path("/static", "assets")}}}}}},
	}
}

// canary is an existing canary Ingress of stable Ingress "web" with annotations, controlled by
// the Rollout unless owner says otherwise.
func canary(owner string, ann map[string]string) *networkingv1.Ingress {
	if owner == "" {
		owner = "uid-web"
	}
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web-web-canary", Namespace: routertest.Namespace, Annotations: ann,
			Labels:          map[string]string{"team": "colors"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "web", UID: "uid-web", Controller: ptr.To(owner == "uid-web")}}},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("nginx"),
			Rules: []networkingv1.IngressRule{{Host: "colorapi.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{path("/", "canary")}}}}}},
	}
}

func nginx(mod func(*v1alpha1.NginxTrafficRouting)) *v1alpha1.NginxTrafficRouting {
	n := &v1alpha1.NginxTrafficRouting{StableIngress: "web",
		AdditionalIngressAnnotations: map[string]string{"canary-by-header": "X-Always"},
		CanaryIngressAnnotations:     map[string]string{"example.com/team": "colors"}}
	if mod != nil {
		mod(n)
	}
	return n
}

// canaryIngressSpec is the spec of the canary Ingress of stable("web").
const canaryIngressSpec = `
spec:
  ingressClassName: nginx
  rules:
  - host: colorapi.example.com
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: canary, port: {number: 8080}}}}]
`

// annotations is YAML of the canary Ingress's metadata.annotations (and labels, kept).
func annotations(kv string) string {
	return "metadata:\n  labels: {team: colors}\n  annotations: {" + kv + "}\n"
}

type call func(context.Context, *Router, *v1alpha1.Rollout) error

func run(t *testing.T, n *v1alpha1.NginxTrafficRouting, max *int32, objs []client.Object, f call, want map[string]string, wantErr string) {
	t.Helper()
	ro := routertest.Rollout(v1alpha1.RolloutTrafficRouting{Nginx: n, MaxTrafficWeight: max}, "header", "mirror")
	routertest.RunRouter(t, ro, objs, New, f, want, wantErr)
}

func setWeight(w int32, add ...v1alpha1.WeightDestination) call {
	return func(ctx context.Context, r *Router, ro *v1alpha1.Rollout) error { return r.SetWeight(ctx, ro, w, add) }
}

const prefix = "nginx.ingress.kubernetes.io/"

func TestSetWeight(t *testing.T) {
	cases := map[string]struct {
		nginx   *v1alpha1.NginxTrafficRouting
		max     *int32
		objs    []client.Object
		call    call
		want    map[string]string
		wantErr string
	}{
		"the canary Ingress created: the stable paths to the canary Service, the annotations, owned by the Rollout": {
			nginx: nginx(nil), objs: []client.Object{stable("web")}, call: setWeight(20),
			want: map[string]string{"Ingress/web-web-canary": `
metadata:
  annotations: {` + prefix + `canary: "true", ` + prefix + `canary-weight: "20", ` + prefix + `canary-by-header: X-Always, example.com/team: colors}
  ownerReferences: [{apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: web, uid: uid-web, controller: true, blockOwnerDeletion: true}]
` + canaryIngressSpec},
		},
		"updated: the weight changes, the header route and the labels stay": {
			nginx: nginx(nil),
			objs: []client.Object{stable("web"), canary("", map[string]string{prefix + "canary": "true", prefix + "canary-weight": "20",
				prefix + "canary-by-header": "X-Canary", prefix + "canary-by-header-value": "yes", HeaderRouteAnnotation: "header", "example.com/team": "colors"})},
			call: setWeight(50),
			want: map[string]string{"Ingress/web-web-canary": annotations(prefix+`canary: "true", `+prefix+`canary-weight: "50", `+prefix+`canary-by-header: X-Canary, `+
				prefix+`canary-by-header-value: "yes", vane.dev/header-route: header, example.com/team: colors`) + canaryIngressSpec},
		},
		"the weight already set: nothing written": {
			nginx: nginx(nil),
			objs: []client.Object{stable("web"), canary("", map[string]string{prefix + "canary": "true", prefix + "canary-weight": "20",
				prefix + "canary-by-header": "X-Always", "example.com/team": "colors"})},
			call: setWeight(20),
		},
		"an unreadable weight is rewritten": {
			nginx: nginx(func(n *v1alpha1.NginxTrafficRouting) {
				n.AdditionalIngressAnnotations, n.CanaryIngressAnnotations = nil, nil
			}),
			objs: []client.Object{stable("web"), canary("", map[string]string{prefix + "canary": "true", prefix + "canary-weight": "twenty"})},
			call: setWeight(20),
			want: map[string]string{"Ingress/web-web-canary": annotations(prefix + `canary: "true", ` + prefix + `canary-weight: "20"`)},
		},
		"maxTrafficWeight, another annotation prefix, the class annotation and a default backend": {
			nginx: nginx(func(n *v1alpha1.NginxTrafficRouting) {
				n.AnnotationPrefix, n.AdditionalIngressAnnotations, n.CanaryIngressAnnotations = "custom.nginx.org", nil, nil
			}),
			max: ptr.To[int32](1000),
			objs: []client.Object{&networkingv1.Ingress{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: routertest.Namespace, Annotations: map[string]string{"kubernetes.io/ingress.class": "nginx-internal"}},
				Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "stable", Port: networkingv1.ServiceBackendPort{Name: "http"}}}}}},
			call: setWeight(5),
			want: map[string]string{"Ingress/web-web-canary": `
metadata:
  annotations: {kubernetes.io/ingress.class: nginx-internal, custom.nginx.org/canary: "true", custom.nginx.org/canary-weight: "5", custom.nginx.org/canary-weight-total: "1000"}
spec:
  defaultBackend: {service: {name: canary, port: {name: http}}}`},
		},
		"several stable Ingresses": {
			nginx: nginx(func(n *v1alpha1.NginxTrafficRouting) { n.StableIngress, n.StableIngresses = "", []string{"web", "api"} }),
			objs:  []client.Object{stable("web"), stable("api")},
			call:  setWeight(10),
			want: map[string]string{
				"Ingress/web-web-canary": `{metadata: {annotations: {` + prefix + `canary: "true", ` + prefix + `canary-weight: "10", ` + prefix + `canary-by-header: X-Always, example.com/team: colors}}}`,
				"Ingress/web-api-canary": `{metadata: {annotations: {` + prefix + `canary: "true", ` + prefix + `canary-weight: "10", ` + prefix + `canary-by-header: X-Always, example.com/team: colors}}}`,
			},
		},
		"additional destinations are ignored, as Argo's nginx router ignores them": {
			nginx: nginx(nil), objs: []client.Object{stable("web")},
			call: setWeight(10, v1alpha1.WeightDestination{ServiceName: "exp", Weight: 10}),
			want: map[string]string{
				"Ingress/web-web-canary": `{metadata: {annotations: {` + prefix + `canary: "true", ` + prefix + `canary-weight: "10", ` + prefix + `canary-by-header: X-Always, example.com/team: colors}}}`,
			},
		},
		"a missing stable Ingress": {
			nginx: nginx(nil), call: setWeight(10),
			wantErr: `NotFound: Ingress shop/web: spec.strategy.canary.trafficRouting.nginx.stableIngress: Ingress "web" not found in namespace "shop"`,
		},
		"a stable Ingress that does not route to the stable Service": {
			nginx: nginx(func(n *v1alpha1.NginxTrafficRouting) {
				n.StableIngress, n.StableIngresses = "", []string{"web", "other"}
			}),
			objs: []client.Object{stable("web"), &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: routertest.Namespace},
				Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{IngressRuleValue: networkingv1.IngressRuleValue{
					HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{path("/", "assets")}}}}}}}},
			call:    setWeight(10),
			wantErr: `Invalid: Ingress shop/other: spec.rules[].http.paths[].backend.service.name: no backend is the stable Service "stable"`,
			want:    map[string]string{"Ingress/web-web-canary": ""}, // not created: nothing is written
		},
		"a canary Ingress of that name the Rollout does not control": {
			nginx: nginx(nil), objs: []client.Object{stable("web"), canary("uid-other", nil)}, call: setWeight(10),
			wantErr: `Conflict: Ingress shop/web-web-canary: metadata.ownerReferences: the canary Ingress of "web" exists and is not controlled by Rollout "web"`,
		},
		"both stableIngress and stableIngresses": {
			nginx: nginx(func(n *v1alpha1.NginxTrafficRouting) { n.StableIngresses = []string{"api"} }), objs: []client.Object{stable("web")}, call: setWeight(10),
			wantErr: `Invalid: Rollout shop/web: spec.strategy.canary.trafficRouting.nginx: set stableIngress or stableIngresses, not both`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) { run(t, tc.nginx, tc.max, tc.objs, tc.call, tc.want, tc.wantErr) })
	}
}

func TestVerifyWeight(t *testing.T) {
	cases := map[string]struct {
		canary *networkingv1.Ingress
		weight int32
		want   bool
	}{
		"the weight":              {canary: canary("", map[string]string{prefix + "canary": "true", prefix + "canary-weight": "20"}), weight: 20, want: true},
		"another weight":          {canary: canary("", map[string]string{prefix + "canary": "true", prefix + "canary-weight": "20"}), weight: 30},
		"not marked as a canary":  {canary: canary("", map[string]string{prefix + "canary-weight": "20"}), weight: 20},
		"no canary Ingress yet":   {weight: 0},
		"an unreadable weight, 0": {canary: canary("", map[string]string{prefix + "canary": "true", prefix + "canary-weight": "x"}), weight: 0, want: true},
		"no weight annotation, 0": {canary: canary("", map[string]string{prefix + "canary": "true"}), weight: 0, want: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			objs := []client.Object{stable("web")}
			if tc.canary != nil {
				objs = append(objs, tc.canary)
			}
			ro := routertest.Rollout(v1alpha1.RolloutTrafficRouting{Nginx: nginx(nil)})
			routertest.CheckVerifyWeight(t, ro, objs, New, tc.weight, nil, tc.want, "")
		})
	}
}

func TestAPIErrors(t *testing.T) {
	cases := map[string]struct {
		verb    string
		canary  bool
		wantErr string
	}{
		"reading fails":  {verb: "get", wantErr: "reading Ingress shop/web: " + routertest.ErrAPI.Error()},
		"creating fails": {verb: "create", wantErr: "creating Ingress shop/web-web-canary: " + routertest.ErrAPI.Error()},
		"updating fails": {verb: "patch", canary: true, wantErr: "updating Ingress shop/web-web-canary: " + routertest.ErrAPI.Error()},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := routertest.Rollout(v1alpha1.RolloutTrafficRouting{Nginx: nginx(nil)})
			objs := []client.Object{stable("web")}
			if tc.canary {
				objs = append(objs, canary("", nil))
			}
			r, err := New(ro, routertest.Failing(routertest.Client(t, objs...), tc.verb))
			if err != nil {
				t.Fatal(err)
			}
			routertest.CheckAPIError(t, r.SetWeight(context.Background(), ro, 20, nil), tc.wantErr, true)
		})
	}
}
