//go:build linux

package e2e

// Traffic routing end to end, the routers alone: the routers of internal/traffic are called
// directly against the local control plane (on Rollouts the Vane controller leaves alone), and
// the router objects are asserted at every weight and for every error. The controller driving
// them, and the real traffic through Traefik, are in traffic_rollout_test.go; the helpers here
// serve both.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
	"github.com/vanedev/vane/internal/traffic"
)

// trafficInstanceID keeps the Vane controller that other tests of this package run away from
// these Rollouts: the tests play the reconciler themselves.
const trafficInstanceID = "traffic-phase1"

var (
	trafficCRDsOnce sync.Once
	trafficCRDsErr  error
)

// trafficClient returns the shared control plane with the Gateway API (v1.4.0, from the Go
// module cache), Istio and SMI CRDs installed, and a client whose scheme knows the Gateway API.
func trafficClient(t *testing.T) (*testenv.Env, client.Client) {
	t.Helper()
	env := testenv.Get(t)
	trafficCRDsOnce.Do(func() {
		ctx := context.Background()
		dir, err := gatewayAPICRDs(env.RepoRoot)
		if err != nil {
			trafficCRDsErr = err
			return
		}
		if err := testenv.InstallCRDs(ctx, env.Client, dir); err != nil {
			trafficCRDsErr = fmt.Errorf("installing the Gateway API CRDs: %w", err)
			return
		}
		if err := testenv.InstallCRDs(ctx, env.Client, filepath.Join(env.RepoRoot, "test", "e2e", "testdata", "crds")); err != nil {
			trafficCRDsErr = fmt.Errorf("installing the Istio and SMI CRDs: %w", err)
		}
	})
	if trafficCRDsErr != nil {
		t.Fatal(trafficCRDsErr)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1alpha1.AddToScheme, traffic.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return env, c
}

// gatewayAPICRDs is the standard-channel CRD folder of the sigs.k8s.io/gateway-api module that
// go.mod requires, in the Go module cache (hack/gatewayapi/crds.sh prints the same).
func gatewayAPICRDs(root string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating the sigs.k8s.io/gateway-api module: %w", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard")
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("the Gateway API CRDs are not in the module cache (%v); run: go mod download sigs.k8s.io/gateway-api", err)
	}
	return dir, nil
}

// trafficServices creates the stable and canary Services of app (port 8080, ClusterIPs from the
// loopback service range).
func trafficServices(t *testing.T, c client.Client, ns, app string) {
	t.Helper()
	for _, name := range []string{"stable", "canary"} {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": app},
				Ports: []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(8080)}}}}
		if err := c.Create(context.Background(), svc); err != nil {
			t.Fatal(err)
		}
	}
}

// newTrafficRollout is a 5-replica Rollout of app with the Services "canary" and "stable", tr
// (with the managed routes "mirror" and "header") and the steps 20% -> pause -> 50% -> pause.
func newTrafficRollout(ns, app string, tr v1alpha1.RolloutTrafficRouting) *v1alpha1.Rollout {
	tr.ManagedRoutes = append(tr.ManagedRoutes, v1alpha1.MangedRoutes{Name: "mirror"}, v1alpha1.MangedRoutes{Name: "header"})
	labels := map[string]string{"app": app}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To[int32](5),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "particule/simplecolorapi:1.0"}}}},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				CanaryService: "canary", StableService: "stable", TrafficRouting: &tr,
				Steps: []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](20)}, {Pause: &v1alpha1.RolloutPause{}},
					{SetWeight: ptr.To[int32](50)}, {Pause: &v1alpha1.RolloutPause{}}},
			}},
		},
	}
}

// trafficRollout creates the Rollout of newTrafficRollout labelled so that the Vane controller
// leaves it alone, and returns it as stored (with its UID).
func trafficRollout(t *testing.T, c client.Client, ns, app string, tr v1alpha1.RolloutTrafficRouting) *v1alpha1.Rollout {
	t.Helper()
	ro := newTrafficRollout(ns, app, tr)
	ro.Labels = map[string]string{v1alpha1.InstanceIDLabel: trafficInstanceID}
	if err := c.Create(context.Background(), ro); err != nil {
		t.Fatalf("creating Rollout: %v", err)
	}
	return ro
}

func gatewayPlugin(cfg string) map[string]json.RawMessage {
	return map[string]json.RawMessage{"argoproj-labs/gatewayAPI": json.RawMessage(cfg)}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

var (
	headerRoute  = &v1alpha1.SetHeaderRoute{Name: "header", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "X-Canary", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}}}}
	mirrorRoute  = &v1alpha1.SetMirrorRoute{Name: "mirror", Percentage: ptr.To[int32](50), Match: []v1alpha1.RouteMatch{{Method: &v1alpha1.StringMatch{Exact: "GET"}}}}
	removeHeader = &v1alpha1.SetHeaderRoute{Name: "header"}
)

// routerCase is one router under the common scenario: its objects, and what they say.
type routerCase struct {
	// setup creates the router's objects and returns the Rollout's trafficRouting
	setup func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting
	// observe renders the router objects as lines: weights and managed routes
	observe func(t *testing.T, c client.Client, ns string) []string
	// want is what observe must return at weight (of 100) with the header and mirror routes,
	// the canary and stable hashes being hashes ("canary/stable")
	want func(weight int32, header, mirror bool, hashes string) []string
	// header and mirror say whether the router does header and mirror routes
	header, mirror bool
}

// TestTrafficRouters runs every router through an update: 20% -> 50% -> header route ->
// mirror route -> 100% -> complete (managed routes removed, all traffic through the stable
// Service), then a second update aborted at 30% with a header route (weight 0, routes
// removed), asserting the router objects on the API server at each point.
func TestTrafficRouters(t *testing.T) {
	for name, rc := range map[string]routerCase{
		"gateway api": gatewayCase(), "nginx": nginxCase(), "istio host-level": istioHostCase(),
		"istio subset-level": istioSubsetCase(), "smi": smiCase(),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, c := trafficClient(t)
			env := testenv.Get(t)
			ns := env.Namespace(t)
			ctx := context.Background()
			trafficServices(t, c, ns, "colorapi")
			ro := trafficRollout(t, c, ns, "colorapi", rc.setup(t, c, ns))
			r, err := traffic.New(ro, c)
			must(t, "traffic.New", err)
			hashes := ""
			updateHash := func(canary, stable string) {
				t.Helper()
				must(t, "UpdateHash", r.UpdateHash(ctx, ro, canary, stable, nil))
				hashes = canary + "/" + stable
			}
			check := func(point string, weight int32, header, mirror bool) {
				t.Helper()
				if diff := cmp.Diff(rc.want(weight, header, mirror, hashes), rc.observe(t, c, ns)); diff != "" {
					t.Fatalf("%s: router objects (-want +got):\n%s", point, diff)
				}
				ok, err := r.VerifyWeight(ctx, ro, weight, nil)
				if err != nil || !ok {
					t.Fatalf("%s: VerifyWeight(%d) = %v, %v; want true", point, weight, ok, err)
				}
				other := weight + 1
				if weight == 100 {
					other = 99
				}
				if ok, _ := r.VerifyWeight(ctx, ro, other, nil); ok {
					t.Fatalf("%s: VerifyWeight(%d) = true for weight %d", point, other, weight)
				}
			}
			routes := func(point string, weight int32, header, mirror bool) {
				t.Helper()
				var hr *v1alpha1.SetHeaderRoute
				if header {
					hr = headerRoute
				}
				err := r.SetHeaderRoute(ctx, ro, hr)
				if header && !rc.header {
					assertRouterError(t, err, traffic.Unsupported, "setHeaderRoute")
					header = false
				} else {
					must(t, point+": SetHeaderRoute", err)
				}
				var mr *v1alpha1.SetMirrorRoute
				if mirror {
					mr = mirrorRoute
				}
				err = r.SetMirrorRoute(ctx, ro, mr)
				if mirror && !rc.mirror {
					assertRouterError(t, err, traffic.Unsupported, "setMirrorRoute")
					mirror = false
				} else {
					must(t, point+": SetMirrorRoute", err)
				}
				check(point, weight, header, mirror)
			}

			// first update: canary hash c1 against stable s1
			updateHash("c1", "s1")
			must(t, "SetWeight 20", r.SetWeight(ctx, ro, 20, nil))
			check("20%", 20, false, false)
			must(t, "SetWeight 20 again", r.SetWeight(ctx, ro, 20, nil)) // idempotent
			check("20% again", 20, false, false)
			must(t, "SetWeight 50", r.SetWeight(ctx, ro, 50, nil))
			check("50%", 50, false, false)
			routes("header route", 50, true, false)
			routes("mirror route", 50, true, true)
			must(t, "SetWeight 100", r.SetWeight(ctx, ro, 100, nil))
			check("100% with routes", 100, rc.header, rc.mirror)
			// complete: both Services select the new pods, the routes go, the canary weight back to 0
			must(t, "RemoveManagedRoutes", r.RemoveManagedRoutes(ctx, ro))
			updateHash("c1", "c1")
			must(t, "SetWeight 0", r.SetWeight(ctx, ro, 0, nil))
			check("completed", 0, false, false)

			// second update, aborted
			updateHash("c2", "c1")
			must(t, "SetWeight 30", r.SetWeight(ctx, ro, 30, nil))
			routes("30% with a header route", 30, true, false)
			must(t, "abort: SetWeight 0", r.SetWeight(ctx, ro, 0, nil))
			must(t, "abort: RemoveManagedRoutes", r.RemoveManagedRoutes(ctx, ro))
			check("aborted", 0, false, false)
			must(t, "removing a route that is gone", r.SetHeaderRoute(ctx, ro, removeHeaderFor(rc)))
			check("aborted, nothing to remove", 0, false, false)
		})
	}
}

func removeHeaderFor(rc routerCase) *v1alpha1.SetHeaderRoute {
	if !rc.header {
		return nil
	}
	return removeHeader
}

// assertRouterError checks err is a router Error with reason whose text names all of parts.
func assertRouterError(t *testing.T, err error, reason traffic.Reason, parts ...string) {
	t.Helper()
	e, ok := traffic.AsError(err)
	if !ok {
		t.Fatalf("want a router error (%s), got %v", reason, err)
	}
	if e.Reason != reason {
		t.Fatalf("want reason %s, got %s: %v", reason, e.Reason, e)
	}
	for _, p := range parts {
		if !strings.Contains(e.Error(), p) {
			t.Fatalf("error %q does not name %q", e.Error(), p)
		}
	}
}

// --- Gateway API -------------------------------------------------------------------------

func backend(name string, weight int32) gatewayv1.HTTPBackendRef {
	return gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
		BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(name), Port: ptr.To[gatewayv1.PortNumber](8080)},
		Weight:                 ptr.To(weight)}}
}

func pathPrefix(p string) []gatewayv1.HTTPRouteMatch {
	return []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To(p)}}}
}

// httpRoute is a route of the stable and canary Services (one rule per path) under gateway gw.
func httpRoute(ns, name, gw string, paths ...string) *gatewayv1.HTTPRoute {
	hr := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	hr.Spec.ParentRefs = []gatewayv1.ParentReference{{Name: gatewayv1.ObjectName(gw)}}
	for _, p := range paths {
		hr.Spec.Rules = append(hr.Spec.Rules, gatewayv1.HTTPRouteRule{Matches: pathPrefix(p),
			BackendRefs: []gatewayv1.HTTPBackendRef{backend("stable", 100), backend("canary", 0)}})
	}
	return hr
}

func gatewayCase() routerCase {
	return routerCase{
		header: true, mirror: true,
		setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
			must(t, "HTTPRoute web", c.Create(context.Background(), httpRoute(ns, "web", "gw", "/", "/api")))
			must(t, "HTTPRoute internal", c.Create(context.Background(), httpRoute(ns, "internal", "gw", "/")))
			return v1alpha1.RolloutTrafficRouting{Plugins: gatewayPlugin(`{"httpRoutes":[{"name":"web","useHeaderRoutes":true},{"name":"internal"}],"namespace":"` + ns + `"}`)}
		},
		observe: func(t *testing.T, c client.Client, ns string) []string {
			var out []string
			for _, name := range []string{"web", "internal"} {
				var hr gatewayv1.HTTPRoute
				must(t, "reading HTTPRoute", c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &hr))
				if v, ok := hr.Labels["rollouts.argoproj.io/gatewayapi-canary"]; ok {
					out = append(out, name+" label="+v)
				}
				for _, rule := range hr.Spec.Rules {
					out = append(out, name+" "+describeRule(rule))
				}
			}
			return out
		},
		want: func(w int32, header, mirror bool, _ string) []string {
			rest := 100 - w
			var out []string
			if w > 0 {
				out = append(out, "web label=in-progress")
			}
			out = append(out, fmt.Sprintf("web path=/ -> stable:%d canary:%d", rest, w), fmt.Sprintf("web path=/api -> stable:%d canary:%d", rest, w))
			if mirror {
				out = append(out, fmt.Sprintf("web [mirror] path=/ method=GET -> stable:%d canary:%d mirror=canary@50%%", rest, w),
					fmt.Sprintf("web [mirror-1] path=/api method=GET -> stable:%d canary:%d mirror=canary@50%%", rest, w))
			}
			if header {
				// the API server defaults a backendRef's weight to 1: all of the rule's traffic
				out = append(out, "web [header] path=/ X-Canary=yes -> canary:1", "web [header-1] path=/api X-Canary=yes -> canary:1")
			}
			if w > 0 {
				out = append(out, "internal label=in-progress")
			}
			return append(out, fmt.Sprintf("internal path=/ -> stable:%d canary:%d", rest, w))
		},
	}
}

// describeRule renders an HTTPRoute rule: name, matches, backends with weights, mirror.
func describeRule(rule gatewayv1.HTTPRouteRule) string {
	var b strings.Builder
	if rule.Name != nil {
		fmt.Fprintf(&b, "[%s] ", *rule.Name)
	}
	for _, m := range rule.Matches {
		if m.Path != nil {
			fmt.Fprintf(&b, "path=%s ", ptr.Deref(m.Path.Value, ""))
		}
		if m.Method != nil {
			fmt.Fprintf(&b, "method=%s ", *m.Method)
		}
		for _, h := range m.Headers {
			fmt.Fprintf(&b, "%s=%s ", h.Name, h.Value)
		}
	}
	b.WriteString("->")
	for _, ref := range rule.BackendRefs {
		w := "-"
		if ref.Weight != nil {
			w = fmt.Sprint(*ref.Weight)
		}
		fmt.Fprintf(&b, " %s:%s", ref.Name, w)
	}
	for _, f := range rule.Filters {
		if f.RequestMirror != nil {
			fmt.Fprintf(&b, " mirror=%s@%d%%", f.RequestMirror.BackendRef.Name, ptr.Deref(f.RequestMirror.Percent, 100))
		}
	}
	return b.String()
}

// --- NGINX -------------------------------------------------------------------------------

func nginxCase() routerCase {
	return routerCase{
		header: true,
		setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
			pt := networkingv1.PathTypePrefix
			ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns,
				Annotations: map[string]string{"nginx.ingress.kubernetes.io/rewrite-target": "/"}},
				Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("nginx"),
					TLS: []networkingv1.IngressTLS{{Hosts: []string{"colorapi.local"}, SecretName: "tls"}},
					Rules: []networkingv1.IngressRule{{Host: "colorapi.local", IngressRuleValue: networkingv1.IngressRuleValue{
						HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
							{Path: "/", PathType: &pt, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
								Name: "stable", Port: networkingv1.ServiceBackendPort{Number: 8080}}}},
							{Path: "/static", PathType: &pt, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
								Name: "assets", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
						}}}}}}}
			must(t, "Ingress web", c.Create(context.Background(), ing))
			return v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "web",
				AdditionalIngressAnnotations: map[string]string{"canary-by-cookie": "canary"},
				CanaryIngressAnnotations:     map[string]string{"example.com/team": "colors"}}}
		},
		observe: func(t *testing.T, c client.Client, ns string) []string {
			var ing networkingv1.Ingress
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "colorapi-web-canary"}, &ing); err != nil {
				return []string{err.Error()}
			}
			var out []string
			for k, v := range ing.Annotations {
				out = append(out, k+"="+v)
			}
			for _, r := range ing.Spec.Rules {
				for _, p := range r.HTTP.Paths {
					out = append(out, fmt.Sprintf("rule %s%s -> %s:%d", r.Host, p.Path, p.Backend.Service.Name, p.Backend.Service.Port.Number))
				}
			}
			out = append(out, fmt.Sprintf("class=%s tls=%d owner=%s", ptr.Deref(ing.Spec.IngressClassName, ""), len(ing.Spec.TLS), metav1.GetControllerOf(&ing).Name))
			return sortedLines(out)
		},
		want: func(w int32, header, _ bool, _ string) []string {
			p := "nginx.ingress.kubernetes.io/"
			out := []string{p + "canary=true", fmt.Sprintf("%scanary-weight=%d", p, w), p + "canary-by-cookie=canary", "example.com/team=colors",
				"rule colorapi.local/ -> canary:8080", "class=nginx tls=0 owner=colorapi"}
			if header {
				out = append(out, p+"canary-by-header=X-Canary", p+"canary-by-header-value=yes", "vane.dev/header-route=header")
			}
			return sortedLines(out)
		},
	}
}

func sortedLines(l []string) []string {
	out := append([]string(nil), l...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// --- Istio -------------------------------------------------------------------------------

func istioObject(kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion("networking.istio.io/v1alpha3")
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func dest(host, subset string, weight int64) map[string]any {
	d := map[string]any{"host": host}
	if subset != "" {
		d["subset"] = subset
	}
	return map[string]any{"destination": d, "weight": weight}
}

func istioHostCase() routerCase {
	return routerCase{
		header: true, mirror: true,
		setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
			vs := istioObject("VirtualService", ns, "web", map[string]any{
				"hosts": []any{"colorapi.local"},
				"http": []any{map[string]any{"name": "primary",
					"route": []any{dest("stable", "", 100), dest("canary."+ns+".svc.cluster.local", "", 0)}}},
				"tls": []any{map[string]any{"match": []any{map[string]any{"port": int64(443), "sniHosts": []any{"colorapi.local"}}},
					"route": []any{dest("stable", "", 100), dest("canary", "", 0)}}},
				"tcp": []any{map[string]any{"match": []any{map[string]any{"port": int64(3306)}},
					"route": []any{dest("stable", "", 100), dest("canary", "", 0)}}},
			})
			must(t, "VirtualService", c.Create(context.Background(), vs))
			return v1alpha1.RolloutTrafficRouting{Istio: &v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{
				Name: "web", Routes: []string{"primary"}, TLSRoutes: []v1alpha1.TLSRoute{{Port: 443, SNIHosts: []string{"colorapi.local"}}},
				TCPRoutes: []v1alpha1.TCPRoute{{Port: 3306}}}}}
		},
		observe: func(t *testing.T, c client.Client, ns string) []string {
			return describeVirtualService(t, c, ns, "web")
		},
		want: func(w int32, header, mirror bool, _ string) []string {
			var out []string
			if mirror {
				out = append(out, fmt.Sprintf("http[mirror] method=GET -> stable:%d canary.NS.svc.cluster.local:%d mirror=canary.NS.svc.cluster.local@50", 100-w, w))
			}
			if header {
				out = append(out, "http[header] X-Canary=yes -> canary.NS.svc.cluster.local:-")
			}
			return append(out, fmt.Sprintf("http[primary] -> stable:%d canary.NS.svc.cluster.local:%d", 100-w, w),
				fmt.Sprintf("tls[] -> stable:%d canary:%d", 100-w, w), fmt.Sprintf("tcp[] -> stable:%d canary:%d", 100-w, w))
		},
	}
}

func istioSubsetCase() routerCase {
	return routerCase{
		header: true, mirror: true,
		setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
			vs := istioObject("VirtualService", ns, "web", map[string]any{
				"hosts": []any{"colorapi"},
				"http": []any{map[string]any{"name": "primary",
					"route": []any{dest("colorapi", "stable", 100), dest("colorapi", "canary", 0)}}},
			})
			dr := istioObject("DestinationRule", ns, "colorapi", map[string]any{"host": "colorapi",
				"subsets": []any{map[string]any{"name": "canary", "labels": map[string]any{"app": "colorapi"}},
					map[string]any{"name": "stable", "labels": map[string]any{"app": "colorapi"}}}})
			must(t, "VirtualService", c.Create(context.Background(), vs))
			must(t, "DestinationRule", c.Create(context.Background(), dr))
			return v1alpha1.RolloutTrafficRouting{Istio: &v1alpha1.IstioTrafficRouting{
				VirtualService:  &v1alpha1.IstioVirtualService{Name: "web"},
				DestinationRule: &v1alpha1.IstioDestinationRule{Name: "colorapi", CanarySubsetName: "canary", StableSubsetName: "stable"}}}
		},
		observe: func(t *testing.T, c client.Client, ns string) []string {
			out := describeVirtualService(t, c, ns, "web")
			u := istioObject("DestinationRule", ns, "colorapi", nil)
			must(t, "reading DestinationRule", c.Get(context.Background(), client.ObjectKeyFromObject(u), u))
			subsets, _, _ := unstructured.NestedSlice(u.Object, "spec", "subsets")
			for _, s := range subsets {
				m := s.(map[string]any)
				labels := m["labels"].(map[string]any)
				out = append(out, fmt.Sprintf("subset %s app=%s hash=%v", m["name"], labels["app"], labels[v1alpha1.PodTemplateHashLabel]))
			}
			return out
		},
		want: func(w int32, header, mirror bool, hashes string) []string {
			var out []string
			if mirror {
				out = append(out, fmt.Sprintf("http[mirror] method=GET -> colorapi/stable:%d colorapi/canary:%d mirror=colorapi/canary@50", 100-w, w))
			}
			if header {
				out = append(out, "http[header] X-Canary=yes -> colorapi/canary:-")
			}
			out = append(out, fmt.Sprintf("http[primary] -> colorapi/stable:%d colorapi/canary:%d", 100-w, w))
			canary, stable, _ := strings.Cut(hashes, "/")
			return append(out, "subset canary app=colorapi hash="+canary, "subset stable app=colorapi hash="+stable)
		},
	}
}

// describeVirtualService renders a VirtualService's routes (the namespace as NS).
func describeVirtualService(t *testing.T, c client.Client, ns, name string) []string {
	u := istioObject("VirtualService", ns, name, nil)
	must(t, "reading VirtualService", c.Get(context.Background(), client.ObjectKeyFromObject(u), u))
	var out []string
	for _, kind := range []string{"http", "tls", "tcp"} {
		routes, _, _ := unstructured.NestedSlice(u.Object, "spec", kind)
		for _, r := range routes {
			m := r.(map[string]any)
			var b strings.Builder
			fmt.Fprintf(&b, "%s[%v]", kind, orEmpty(m["name"]))
			if kind == "http" {
				matches, _ := m["match"].([]any)
				for _, x := range matches {
					mm := x.(map[string]any)
					if method, ok := mm["method"].(map[string]any); ok {
						fmt.Fprintf(&b, " method=%v", method["exact"])
					}
					hs, _ := mm["headers"].(map[string]any)
					for h, v := range hs {
						fmt.Fprintf(&b, " %s=%v", h, v.(map[string]any)["exact"])
					}
				}
			}
			b.WriteString(" ->")
			dests, _ := m["route"].([]any)
			for _, d := range dests {
				dm := d.(map[string]any)
				fmt.Fprintf(&b, " %s:%v", hostSubset(dm["destination"].(map[string]any)), orDash(dm["weight"]))
			}
			if mirror, ok := m["mirror"].(map[string]any); ok {
				pct, _, _ := unstructured.NestedFieldNoCopy(m, "mirrorPercentage", "value")
				fmt.Fprintf(&b, " mirror=%s@%v", hostSubset(mirror), pct)
			}
			out = append(out, strings.ReplaceAll(b.String(), "."+ns+".", ".NS."))
		}
	}
	return out
}

func hostSubset(d map[string]any) string {
	if s, ok := d["subset"]; ok {
		return fmt.Sprintf("%v/%v", d["host"], s)
	}
	return fmt.Sprint(d["host"])
}

func orEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

func orDash(v any) any {
	if v == nil {
		return "-"
	}
	return v
}

// --- SMI ---------------------------------------------------------------------------------

func smiCase() routerCase {
	return routerCase{
		setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
			return v1alpha1.RolloutTrafficRouting{SMI: &v1alpha1.SMITrafficRouting{RootService: "colorapi", TrafficSplitName: "colorapi-split"}}
		},
		observe: func(t *testing.T, c client.Client, ns string) []string {
			u := &unstructured.Unstructured{}
			u.SetAPIVersion("split.smi-spec.io/v1alpha1")
			u.SetKind("TrafficSplit")
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "colorapi-split"}, u); err != nil {
				return []string{err.Error()}
			}
			root, _, _ := unstructured.NestedString(u.Object, "spec", "service")
			out := []string{"root=" + root + " owner=" + metav1.GetControllerOf(u).Name}
			backends, _, _ := unstructured.NestedSlice(u.Object, "spec", "backends")
			for _, b := range backends {
				m := b.(map[string]any)
				out = append(out, fmt.Sprintf("%s:%v", m["service"], m["weight"]))
			}
			return out
		},
		want: func(w int32, _, _ bool, _ string) []string {
			return []string{"root=colorapi owner=colorapi", fmt.Sprintf("canary:%d", w), fmt.Sprintf("stable:%d", 100-w)}
		},
	}
}

// TestTrafficRouterErrors: a router object that is missing or unusable gives an error naming
// the object and the field, and no router object changes.
func TestTrafficRouterErrors(t *testing.T) {
	type tcase struct {
		setup func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting
		// call is the router call that fails (default: SetWeight 30)
		call func(ctx context.Context, r traffic.Router, ro *v1alpha1.Rollout) error
		// newFails: traffic.New itself refuses the settings
		newFails bool
		reason   traffic.Reason
		names    []string
	}
	webRoute := func(t *testing.T, c client.Client, ns string) {
		must(t, "HTTPRoute web", c.Create(context.Background(), httpRoute(ns, "web", "gw", "/")))
	}
	tests := map[string]tcase{
		"gateway api: one of the routes is missing (the other keeps its weights)": {
			setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
				webRoute(t, c, ns)
				return v1alpha1.RolloutTrafficRouting{Plugins: gatewayPlugin(`{"httpRoutes":[{"name":"web"},{"name":"missing"}]}`)}
			},
			reason: traffic.NotFound, names: []string{`HTTPRoute`, `/missing`, `httpRoutes[1].name`, `not found`},
		},
		"gateway api: a rule routes to the stable Service only": {
			setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
				hr := httpRoute(ns, "web", "gw", "/")
				hr.Spec.Rules[0].BackendRefs = hr.Spec.Rules[0].BackendRefs[:1]
				must(t, "HTTPRoute", c.Create(context.Background(), hr))
				return v1alpha1.RolloutTrafficRouting{Plugins: gatewayPlugin(`{"httpRoute":"web"}`)}
			},
			reason: traffic.Invalid, names: []string{"HTTPRoute", "/web", "spec.rules[0].backendRefs", `"canary"`},
		},
		"gateway api: a misspelt plugin setting": {
			setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
				webRoute(t, c, ns)
				return v1alpha1.RolloutTrafficRouting{Plugins: gatewayPlugin(`{"httpRoute":"web","namespcae":"x"}`)}
			},
			newFails: true, reason: traffic.Invalid, names: []string{"Rollout", `plugins["argoproj-labs/gatewayAPI"]`, "namespcae"},
		},
		"gateway api: GRPCRoutes are not supported yet": {
			setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
				return v1alpha1.RolloutTrafficRouting{Plugins: gatewayPlugin(`{"grpcRoute":"web"}`)}
			},
			newFails: true, reason: traffic.Unsupported, names: []string{"grpcRoute", "GRPCRoutes"},
		},
		"gateway api: a header route on a route list without useHeaderRoutes": {
			setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
				webRoute(t, c, ns)
				return v1alpha1.RolloutTrafficRouting{Plugins: gatewayPlugin(`{"httpRoutes":[{"name":"web"}]}`)}
			},
			call: func(ctx context.Context, r traffic.Router, ro *v1alpha1.Rollout) error {
				return r.SetHeaderRoute(ctx, ro, headerRoute)
			},
			reason: traffic.Invalid, names: []string{"useHeaderRoutes"},
		},
		"nginx: the stable Ingress is missing": {
			setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
				return v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "web"}}
			},
			reason: traffic.NotFound, names: []string{"Ingress", "/web", "nginx.stableIngress"},
		},
		"nginx: the stable Ingress does not route to the stable Service": {
			setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
				ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
					Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: "other", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}
				must(t, "Ingress", c.Create(context.Background(), ing))
				return v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "web"}}
			},
			reason: traffic.Invalid, names: []string{"Ingress", "/web", "backend.service.name", `"stable"`},
		},
		"nginx: the canary Ingress belongs to someone else": {
			setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
				for _, name := range []string{"web", "colorapi-web-canary"} {
					ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
						Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: "stable", Port: networkingv1.ServiceBackendPort{Number: 8080}}}}}
					must(t, "Ingress", c.Create(context.Background(), ing))
				}
				return v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "web"}}
			},
			reason: traffic.Conflict, names: []string{"Ingress", "colorapi-web-canary", "not controlled by Rollout"},
		},
		"istio: the VirtualService is missing": {
			setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
				return v1alpha1.RolloutTrafficRouting{Istio: &v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "web"}}}
			},
			reason: traffic.NotFound, names: []string{"VirtualService", "/web", "istio.virtualService.name"},
		},
		"istio: the named route has no canary destination": {
			setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
				vs := istioObject("VirtualService", ns, "web", map[string]any{"hosts": []any{"colorapi"},
					"http": []any{map[string]any{"name": "primary", "route": []any{dest("stable", "", 100)}}}})
				must(t, "VirtualService", c.Create(context.Background(), vs))
				return v1alpha1.RolloutTrafficRouting{Istio: &v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "web", Routes: []string{"primary"}}}}
			},
			reason: traffic.Invalid, names: []string{"VirtualService", "/web", "spec.http[0].route", `canary Service "canary"`},
		},
		"istio: several HTTP routes and none named": {
			setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
				vs := istioObject("VirtualService", ns, "web", map[string]any{"hosts": []any{"colorapi"},
					"http": []any{map[string]any{"name": "a", "route": []any{dest("stable", "", 100), dest("canary", "", 0)}},
						map[string]any{"name": "b", "route": []any{dest("stable", "", 100), dest("canary", "", 0)}}}})
				must(t, "VirtualService", c.Create(context.Background(), vs))
				return v1alpha1.RolloutTrafficRouting{Istio: &v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "web"}}}
			},
			reason: traffic.Invalid, names: []string{"VirtualService", "spec.http", "2 HTTP routes"},
		},
		"istio: the DestinationRule has no canary subset": {
			setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
				dr := istioObject("DestinationRule", ns, "colorapi", map[string]any{"host": "colorapi",
					"subsets": []any{map[string]any{"name": "stable", "labels": map[string]any{"app": "colorapi"}}}})
				must(t, "DestinationRule", c.Create(context.Background(), dr))
				return v1alpha1.RolloutTrafficRouting{Istio: &v1alpha1.IstioTrafficRouting{
					DestinationRule: &v1alpha1.IstioDestinationRule{Name: "colorapi", CanarySubsetName: "canary", StableSubsetName: "stable"}}}
			},
			call: func(ctx context.Context, r traffic.Router, ro *v1alpha1.Rollout) error {
				return r.UpdateHash(ctx, ro, "c1", "s1", nil)
			},
			reason: traffic.Invalid, names: []string{"DestinationRule", "/colorapi", "spec.subsets", `"canary"`},
		},
		"smi: the TrafficSplit belongs to someone else": {
			setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
				u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"service": "stable",
					"backends": []any{map[string]any{"service": "stable", "weight": "100"}}}}}
				u.SetAPIVersion("split.smi-spec.io/v1alpha1")
				u.SetKind("TrafficSplit")
				u.SetNamespace(ns)
				u.SetName("colorapi")
				must(t, "TrafficSplit", c.Create(context.Background(), u))
				return v1alpha1.RolloutTrafficRouting{SMI: &v1alpha1.SMITrafficRouting{}}
			},
			reason: traffic.Conflict, names: []string{"TrafficSplit", "/colorapi", "not controlled by Rollout"},
		},
		"appMesh is not supported": {
			setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
				return v1alpha1.RolloutTrafficRouting{AppMesh: &v1alpha1.AppMeshTrafficRouting{}}
			},
			newFails: true, reason: traffic.Unsupported, names: []string{"trafficRouting.appMesh"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env, c := trafficClient(t)
			ns := env.Namespace(t)
			ctx := context.Background()
			trafficServices(t, c, ns, "colorapi")
			ro := trafficRollout(t, c, ns, "colorapi", tc.setup(t, c, ns))
			before := routerObjects(t, c, ns)
			r, err := traffic.New(ro, c)
			if tc.newFails {
				assertRouterError(t, err, tc.reason, tc.names...)
				return
			}
			must(t, "traffic.New", err)
			call := tc.call
			if call == nil {
				call = func(ctx context.Context, r traffic.Router, ro *v1alpha1.Rollout) error {
					return r.SetWeight(ctx, ro, 30, nil)
				}
			}
			assertRouterError(t, call(ctx, r, ro), tc.reason, tc.names...)
			if diff := cmp.Diff(before, routerObjects(t, c, ns)); diff != "" {
				t.Errorf("router objects changed (-before +after):\n%s", diff)
			}
			if _, err := r.VerifyWeight(ctx, ro, 30, nil); tc.call == nil && err == nil {
				t.Errorf("VerifyWeight succeeded on the same broken router objects")
			}
		})
	}
}

// routerObjects lists the router objects of a namespace with their resourceVersions.
func routerObjects(t *testing.T, c client.Client, ns string) []string {
	t.Helper()
	var out []string
	for _, gvk := range []string{"gateway.networking.k8s.io/v1/HTTPRoute", "networking.k8s.io/v1/Ingress",
		"networking.istio.io/v1alpha3/VirtualService", "networking.istio.io/v1alpha3/DestinationRule", "split.smi-spec.io/v1alpha1/TrafficSplit"} {
		i := strings.LastIndex(gvk, "/")
		l := &unstructured.UnstructuredList{}
		l.SetAPIVersion(gvk[:i])
		l.SetKind(gvk[i+1:] + "List")
		must(t, "listing "+gvk, c.List(context.Background(), l, client.InNamespace(ns)))
		for _, o := range l.Items {
			out = append(out, fmt.Sprintf("%s %s rv=%s", gvk[i+1:], o.GetName(), o.GetResourceVersion()))
		}
	}
	return out
}

// --- real traffic through Traefik ----------------------------------------------------------

// selectHash points a Service's hash selector at hash, as the reconciler does.
func selectHash(t *testing.T, c client.Client, ns, name, hash string) {
	t.Helper()
	var svc corev1.Service
	must(t, "reading Service", c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &svc))
	patch := client.MergeFrom(svc.DeepCopy())
	svc.Spec.Selector[v1alpha1.PodTemplateHashLabel] = hash
	must(t, "patching Service "+name, c.Patch(context.Background(), &svc, patch))
}

// pods plays the pods behind one Service: an HTTP server on the Service's ClusterIP:port that
// answers with the color of the hash the Service selects now.
type pods struct {
	name string
	hash atomic.Value
}

// startPods starts the pods of Service name; colors says which color the pods of a hash answer
// (false: there are none).
func startPods(t *testing.T, c client.Client, ns, name string, colors func(hash string) (string, bool)) *pods {
	t.Helper()
	var svc corev1.Service
	must(t, "reading Service", c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &svc))
	addr := net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(svc.Spec.Ports[0].Port)))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on Service %s's address %s: %v", name, addr, err)
	}
	p := &pods{name: name}
	p.hash.Store("")
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		color, ok := colors(p.hash.Load().(string))
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "no pods"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"color": color, "status": "ok"})
	})}
	go func() { _ = srv.Serve(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // follow the Service's selector
		defer close(done)
		for ctx.Err() == nil {
			var s corev1.Service
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err == nil {
				p.hash.Store(s.Spec.Selector[v1alpha1.PodTemplateHashLabel])
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done; _ = srv.Close() })
	return p
}

// waitFor waits until the pods answer for hash.
func (p *pods) waitFor(t *testing.T, hash string) {
	t.Helper()
	waitUntil(t, 10*time.Second, p.name+" pods to serve "+hash, func() (bool, string) {
		h := p.hash.Load().(string)
		return h == hash, "serving " + h
	})
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last: %s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// traefikBinary returns the Traefik binary hack/traefik/install.sh caches (`make traefik`,
// which `make test` and `make test-e2e` run first), and fails the test when it is not built.
func traefikBinary(t *testing.T, root string) string {
	t.Helper()
	dir := os.Getenv("VANE_TRAEFIK_BIN")
	version := traefikVersion(root)
	if dir == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache")
		}
		dir = filepath.Join(cache, "vane", "traefik-"+version)
	}
	bin := filepath.Join(dir, "traefik")
	if fi, err := os.Stat(bin); err != nil || fi.Size() == 0 {
		t.Fatalf("Traefik %s is not built in %s: run `make traefik` (hack/traefik/install.sh; about 6 minutes, once) for the real-traffic test", version, dir)
	}
	return bin
}

// traefikVersion is the Traefik release hack/traefik/version.env pins ("?" when it cannot be
// read).
func traefikVersion(root string) string {
	version := "?"
	if b, err := os.ReadFile(filepath.Join(root, "hack", "traefik", "version.env")); err == nil {
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "TRAEFIK_VERSION="); ok {
				version = v
			}
		}
	}
	return version
}

// traefikProc is a running Traefik.
type traefikProc struct {
	web, api int
	client   *http.Client
	log      string
}

// traefikOption adds command-line flags to the Traefik startTraefik runs, given the API
// server's token and CA files.
type traefikOption func(env *testenv.Env, ns, token, ca string) []string

// traefikCRDProvider also runs Traefik's kubernetescrd provider (IngressRoutes,
// TraefikServices; Traefik's CRDs must be installed: argoRouterCRDs) on the test's namespace,
// sending each Service's traffic to its ClusterIP, as the Gateway API provider does.
func traefikCRDProvider(env *testenv.Env, ns, token, ca string) []string {
	return []string{
		"--providers.kubernetesCRD=true",
		"--providers.kubernetesCRD.endpoint=" + env.Config.Host,
		"--providers.kubernetesCRD.token=" + token,
		"--providers.kubernetesCRD.certAuthFilePath=" + ca,
		"--providers.kubernetesCRD.namespaces=" + ns,
		"--providers.kubernetesCRD.nativeLBByDefault=true",
	}
}

// startTraefik runs Traefik with its Kubernetes Gateway API provider (and the providers opts
// add) on the test's namespace: the web entry point (the Gateway's listener port) and the API
// on 127.0.0.1.
func startTraefik(t *testing.T, env *testenv.Env, bin, ns string, web, api int, opts ...traefikOption) *traefikProc {
	t.Helper()
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	must(t, "token file", os.WriteFile(token, []byte(env.Config.BearerToken), 0o600))
	ca := env.Config.TLSClientConfig.CAFile
	if ca == "" {
		ca = filepath.Join(dir, "ca.crt")
		must(t, "CA file", os.WriteFile(ca, env.Config.TLSClientConfig.CAData, 0o600))
	}
	logPath := filepath.Join(dir, "traefik.log")
	logf, err := os.Create(logPath)
	must(t, "log file", err)
	cmd := exec.Command(bin, traefikArgs(env, ns, token, ca, web, api, opts)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	must(t, "starting Traefik", cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tf := &traefikProc{web: web, api: api, log: logPath,
		client: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			lines := strings.Split(string(b), "\n")
			t.Logf("Traefik log (last 40 lines of %s):\n%s", logPath, strings.Join(lines[max(len(lines)-40, 0):], "\n"))
		}
	})
	waitUntil(t, 30*time.Second, "Traefik's ping", func() (bool, string) {
		select {
		case <-exited:
			t.Fatalf("Traefik exited; log in %s", logPath)
		default:
		}
		resp, err := tf.client.Get(fmt.Sprintf("http://127.0.0.1:%d/ping", api))
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return tf
}

// traefikArgs are the flags of startTraefik's Traefik.
func traefikArgs(env *testenv.Env, ns, token, ca string, web, api int, opts []traefikOption) []string {
	args := []string{
		"--global.checkNewVersion=false", "--global.sendAnonymousUsage=false", "--log.level=DEBUG",
		fmt.Sprintf("--entryPoints.web.address=127.0.0.1:%d", web),
		fmt.Sprintf("--entryPoints.traefik.address=127.0.0.1:%d", api),
		"--api.insecure=true", "--ping=true",
		"--providers.kubernetesGateway=true",
		"--providers.kubernetesGateway.endpoint=" + env.Config.Host,
		"--providers.kubernetesGateway.token=" + token,
		"--providers.kubernetesGateway.certAuthFilePath=" + ca,
		"--providers.kubernetesGateway.namespaces=" + ns,
		"--providers.kubernetesGateway.nativeLBByDefault=true",
	}
	for _, opt := range opts {
		args = append(args, opt(env, ns, token, ca)...)
	}
	return args
}

// weights reads the canary and stable Services' weights from the weighted service Traefik
// built for the route (-1 when it has none yet) and a description of what it saw.
func (tf *traefikProc) weights(t *testing.T, ns string) (canary, stable int, desc string) {
	return tf.weightsOf(t, ns+"-canary-http-8080", ns+"-stable-http-8080")
}

// weightsOf reads the weights of the two Services whose Traefik names start with canaryPrefix
// and stablePrefix from the weighted service Traefik built for the route (-1 when it has none
// yet), and a description of what it saw.
func (tf *traefikProc) weightsOf(t *testing.T, canaryPrefix, stablePrefix string) (canary, stable int, desc string) {
	var services []struct {
		Name     string `json:"name"`
		Weighted *struct {
			Services []struct {
				Name   string `json:"name"`
				Weight *int   `json:"weight"`
			} `json:"services"`
		} `json:"weighted"`
	}
	if err := tf.getJSON("/api/http/services", &services); err != nil {
		return -1, -1, err.Error()
	}
	var seen []string
	for _, s := range services {
		if s.Weighted == nil {
			continue
		}
		canary, stable = -1, -1
		for _, child := range s.Weighted.Services {
			w := 1
			if child.Weight != nil {
				w = *child.Weight
			}
			switch {
			case strings.HasPrefix(child.Name, canaryPrefix):
				canary = w
			case strings.HasPrefix(child.Name, stablePrefix):
				stable = w
			}
			seen = append(seen, fmt.Sprintf("%s=%d", child.Name, w))
		}
		if canary >= 0 && stable >= 0 {
			return canary, stable, fmt.Sprintf("Traefik serves canary %d, stable %d", canary, stable)
		}
	}
	return -1, -1, fmt.Sprintf("no weighted service for both Services yet (%s)", strings.Join(seen, ", "))
}

// waitRule waits until Traefik has (or no longer has) a router whose rule mentions text.
func (tf *traefikProc) waitRule(t *testing.T, text string, present bool) {
	t.Helper()
	waitUntil(t, 20*time.Second, fmt.Sprintf("a Traefik router matching %q present=%v", text, present), func() (bool, string) {
		var routers []struct {
			Name string `json:"name"`
			Rule string `json:"rule"`
		}
		if err := tf.getJSON("/api/http/routers", &routers); err != nil {
			return false, err.Error()
		}
		var rules []string
		found := false
		for _, r := range routers {
			rules = append(rules, r.Rule)
			found = found || strings.Contains(r.Rule, text)
		}
		return found == present, strings.Join(rules, " | ")
	})
}

func (tf *traefikProc) getJSON(path string, v any) error {
	resp, err := tf.client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", tf.api, path))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// send makes n requests through Traefik's web entry point, one after the other, and counts the
// colors that answer ("error" for failures).
func (tf *traefikProc) send(t *testing.T, n int, headers map[string]string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", tf.web), nil)
		must(t, "request", err)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := tf.client.Do(req)
		if err != nil {
			counts["error"]++
			continue
		}
		var body struct{ Color, Status string }
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &body) != nil || body.Status != "ok" {
			counts["error"]++
			continue
		}
		counts[body.Color]++
	}
	return counts
}
