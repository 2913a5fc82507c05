//go:build linux

package e2e

// Several routers at once (Argo's "multiple providers"): a Rollout with the Gateway API and
// NGINX, one of them failing in the middle of a step. No router is left at another weight than
// the others: the routers already set go back to the weight they all had (an abort's 0 is
// kept), and the controller moves none of them while one cannot be read.

import (
	"context"
	"fmt"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic"
)

const canaryWeightKey = "nginx.ingress.kubernetes.io/canary-weight"

// mixedRouting creates the HTTPRoute "web" and the stable Ingress "web" and returns the
// trafficRouting of both routers.
func mixedRouting(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
	t.Helper()
	must(t, "HTTPRoute web", c.Create(context.Background(), httpRoute(ns, "web", "gw", "/")))
	tr := nginxCase().setup(t, c, ns) // the stable Ingress "web"
	tr.Plugins = gatewayPlugin(`{"httpRoute":"web"}`)
	return tr
}

// mixedWeights describes the weights both routers carry: the HTTPRoute's rule and the canary
// Ingress's annotation.
func mixedWeights(t *testing.T, c client.Client, ns string) []string {
	var out []string
	var hr gatewayv1.HTTPRoute
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "web"}, &hr); err != nil {
		out = append(out, "HTTPRoute: "+err.Error())
	} else {
		out = append(out, "HTTPRoute "+describeRule(hr.Spec.Rules[0]))
	}
	var ing networkingv1.Ingress
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "colorapi-web-canary"}, &ing); err != nil {
		return append(out, "canary Ingress: "+err.Error())
	}
	return append(out, "canary Ingress weight "+ing.Annotations[canaryWeightKey])
}

func mixedWant(w int32) []string {
	return []string{fmt.Sprintf("HTTPRoute path=/ -> stable:%d canary:%d", 100-w, w), fmt.Sprintf("canary Ingress weight %d", w)}
}

// TestTrafficMixedRouterFails calls the routers of a Rollout with the Gateway API and NGINX as
// the reconciler does (NGINX first, Argo's order), with the HTTPRoute deleted, or its write
// refused, just after NGINX took the new weight: NGINX is set back to the weight both carried
// (status.canary.weights), and the error names the HTTPRoute; an abort's 0 stays where it was
// taken.
func TestTrafficMixedRouterFails(t *testing.T) {
	cases := map[string]struct {
		from, to int32
		// fail: what happens after the canary Ingress is written: "delete" the HTTPRoute, or
		// "refuse" its patch
		fail    string
		writes  []string // the canary Ingress weights written during the step
		final   int32    // the canary Ingress's weight afterwards
		reason  traffic.Reason
		errText []string
	}{
		"20% -> 50%, the HTTPRoute deleted mid-step: NGINX back to 20": {from: 20, to: 50, fail: "delete",
			writes: []string{"50", "20"}, final: 20, reason: traffic.NotFound, errText: []string{"HTTPRoute", "/web", "not found"}},
		"20% -> 50%, the HTTPRoute's write refused: NGINX back to 20": {from: 20, to: 50, fail: "refuse",
			writes: []string{"50", "20"}, final: 20, errText: []string{"GatewayAPI: updating HTTPRoute", "refused by the test"}},
		"abort 50% -> 0, the HTTPRoute deleted mid-step: NGINX keeps 0": {from: 50, to: 0, fail: "delete",
			writes: []string{"0"}, final: 0, reason: traffic.NotFound, errText: []string{"HTTPRoute", "/web", "not found"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env, c := trafficClient(t)
			ns := env.Namespace(t)
			ctx := context.Background()
			trafficServices(t, c, ns, "colorapi")
			ro := trafficRollout(t, c, ns, "colorapi", mixedRouting(t, c, ns))
			r, err := traffic.New(ro, c)
			must(t, "traffic.New", err)
			if r.Type() != "Nginx,GatewayAPI" {
				t.Fatalf("routers %q, want Nginx then GatewayAPI", r.Type())
			}
			must(t, "the weight both routers carry", r.SetWeight(ctx, ro, tc.from, nil))
			ro.Status.Canary.Weights = &v1alpha1.TrafficWeights{Canary: v1alpha1.WeightDestination{ServiceName: "canary", Weight: tc.from},
				Stable: v1alpha1.WeightDestination{ServiceName: "stable", Weight: 100 - tc.from}}

			var writes []string
			wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: c.Scheme()})
			must(t, "client", err)
			fc := failingAfterIngress(wc, ns, tc.fail, &writes)
			fr, err := traffic.New(ro, fc)
			must(t, "traffic.New", err)
			err = fr.SetWeight(ctx, ro, tc.to, nil)
			if tc.reason != "" {
				assertRouterError(t, err, tc.reason, tc.errText...)
			} else if err == nil || !containsAll(err.Error(), tc.errText) {
				t.Fatalf("error %v, want one naming %q", err, tc.errText)
			}
			if !strings.HasPrefix(err.Error(), "GatewayAPI: ") {
				t.Errorf("the error %q does not name the router that failed", err)
			}
			if fmt.Sprint(writes) != fmt.Sprint(tc.writes) {
				t.Errorf("canary Ingress weights written %v, want %v", writes, tc.writes)
			}
			var ing networkingv1.Ingress
			must(t, "reading the canary Ingress", c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "colorapi-web-canary"}, &ing))
			if got := ing.Annotations[canaryWeightKey]; got != fmt.Sprint(tc.final) {
				t.Errorf("the canary Ingress is at %s, want %d", got, tc.final)
			}
			if tc.fail == "delete" { // the route back: both routers take the new weight
				must(t, "HTTPRoute web again", c.Create(ctx, httpRoute(ns, "web", "gw", "/")))
			}
			must(t, "the step again", r.SetWeight(ctx, ro, tc.to, nil))
			if got := mixedWeights(t, c, ns); fmt.Sprint(got) != fmt.Sprint(mixedWant(tc.to)) {
				t.Errorf("after the step again: %v, want %v", got, mixedWant(tc.to))
			}
		})
	}
}

// failingAfterIngress wraps c: once the canary Ingress has been written, the HTTPRoute "web"
// is deleted (fail "delete") or its patches are refused (fail "refuse"); writes collects the
// canary weights written to the canary Ingress.
func failingAfterIngress(c client.WithWatch, ns, fail string, writes *[]string) client.WithWatch {
	ingressWritten := false
	after := func(ctx context.Context, obj client.Object) error {
		ing, ok := obj.(*networkingv1.Ingress)
		if !ok || ing.Name != "colorapi-web-canary" {
			return nil
		}
		*writes = append(*writes, ing.Annotations[canaryWeightKey])
		if !ingressWritten && fail == "delete" {
			ingressWritten = true
			return c.Delete(ctx, &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}})
		}
		ingressWritten = true
		return nil
	}
	return interceptor.NewClient(c, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if err := c.Create(ctx, obj, opts...); err != nil {
				return err
			}
			return after(ctx, obj)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if fail == "refuse" && ingressWritten && obj.GetName() == "web" && obj.GetObjectKind().GroupVersionKind().Kind == "HTTPRoute" {
				return fmt.Errorf("refused by the test")
			}
			if err := c.Patch(ctx, obj, patch, opts...); err != nil {
				return err
			}
			return after(ctx, obj)
		},
	})
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// TestTrafficMixedRollout: the controller drives a Rollout with the Gateway API and NGINX. At
// 20% the HTTPRoute is deleted and the rollout promoted: the reconcile stops before either
// router moves (InvalidSpec naming the HTTPRoute; both stay at 20, and so do the recorded
// weights); once the route is back both go to 50.
func TestTrafficMixedRollout(t *testing.T) {
	env := withController(t)
	_, c := trafficClient(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	trafficServices(t, c, ns, "colorapi")
	rc := routerCase{observe: mixedWeights, want: func(w int32, _, _ bool, _ string) []string { return mixedWant(w) }}
	const red, blue = "colorapi:red", "colorapi:blue"
	routedRollout(t, c, ns, red, mixedRouting(t, c, ns), routedSteps(false))
	waitRouted(t, env, c, rc, ns, "created", routedWant{snapshot: snapshot{Phase: "Healthy", Step: 4, Stable: red}, canary: red, stable: red})
	setImage(t, env, ns, "colorapi", blue)
	waitRouted(t, env, c, rc, ns, "blue at 20%", routedWant{snapshot: snapshot{Phase: "Paused", Step: 1}, weight: 20, canary: blue, stable: red})

	must(t, "deleting HTTPRoute web", c.Delete(ctx, &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}))
	promote(t, env, ns, "colorapi", false)
	missing := fmt.Sprintf(`InvalidSpec: The Rollout "colorapi" is invalid: HTTPRoute %s/web: `, ns)
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Degraded", Step: 1, Sets: blue + "=1/1 " + red + "=5/5", Message: missing})
	controllerObserved(t, env, ns, "colorapi")
	want := []string{`HTTPRoute: httproutes.gateway.networking.k8s.io "web" not found`, "canary Ingress weight 20"}
	if got := mixedWeights(t, c, ns); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("with the HTTPRoute missing: %v, want %v", got, want)
	}
	if w := getRollout(t, env, ns, "colorapi").Status.Canary.Weights; w == nil || w.Canary.Weight != 20 {
		t.Errorf("recorded weights changed while the HTTPRoute was missing: %+v", w)
	}

	must(t, "HTTPRoute web again", c.Create(ctx, httpRoute(ns, "web", "gw", "/")))
	waitRouted(t, env, c, rc, ns, "route back: both at 50%", routedWant{snapshot: snapshot{Phase: "Paused", Step: 3,
		Sets: blue + "=3/3 " + red + "=5/5"}, weight: 50, canary: blue, stable: red})
}
