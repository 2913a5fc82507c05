//go:build linux

package e2e

// The router objects are watched (one watch per object a router reads): a route someone
// edits or deletes in the middle of an update is put back at once, long before any periodic
// look, with a RouterObjectChanged event saying what was changed under Vane.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// putBackWithin is how soon a changed router object must be back: well under routerRecheck
// (10s) and every requeue of a paused rollout, so only the watch can explain it.
const putBackWithin = 5 * time.Second

// TestTrafficWatchPutsBack pauses a Rollout at 20% with each router, changes or deletes what
// the router manages as a user would, and waits for the router objects to be as they were,
// with the event naming the object and what changed.
func TestTrafficWatchPutsBack(t *testing.T) {
	cases := map[string]struct {
		rc routerCase
		// change edits the router objects under Vane
		change func(t *testing.T, c client.Client, ns string)
		// event is what the RouterObjectChanged event says (%s: the namespace)
		event string
	}{
		"alb: the action annotation removed": {
			rc: albCase(),
			change: func(t *testing.T, c client.Client, ns string) {
				patch := []byte(`{"metadata":{"annotations":{"alb.ingress.kubernetes.io/actions.stable":null}}}`)
				must(t, "removing the action", c.Patch(context.Background(), &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}},
					client.RawPatch(types.MergePatchType, patch)))
			},
			event: `Ingress %s/web was changed under Vane (metadata.annotations["alb.ingress.kubernetes.io/actions.stable"] removed); it was put back`,
		},
		"nginx: the canary Ingress deleted": {
			rc: nginxCase(),
			change: func(t *testing.T, c client.Client, ns string) {
				must(t, "deleting the canary Ingress", c.Delete(context.Background(),
					&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "colorapi-web-canary"}}))
			},
			event: "Ingress %s/colorapi-web-canary was deleted under Vane; it was created again",
		},
		"gateway api: a weight edited": {
			rc: gatewayCase(),
			change: func(t *testing.T, c client.Client, ns string) {
				var hr gatewayv1.HTTPRoute
				must(t, "reading HTTPRoute internal", c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "internal"}, &hr))
				for i := range hr.Spec.Rules[0].BackendRefs {
					hr.Spec.Rules[0].BackendRefs[i].Weight = nil
				}
				must(t, "editing HTTPRoute internal", c.Update(context.Background(), &hr))
			},
			event: "HTTPRoute %s/internal was changed under Vane (spec.rules changed); it was put back",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := withController(t)
			_, c := trafficClient(t)
			ns := env.Namespace(t)
			const red, blue = "colorapi:red", "colorapi:blue"
			trafficServices(t, c, ns, "colorapi")
			routedRollout(t, c, ns, red, tc.rc.setup(t, c, ns), routedSteps(false))
			waitRouted(t, env, c, tc.rc, ns, "created", routedWant{snapshot: snapshot{Phase: "Healthy", Step: 4, Stable: red}, canary: red, stable: red})
			setImage(t, env, ns, "colorapi", blue)
			at20 := routedWant{snapshot: snapshot{Phase: "Paused", Step: 1, Stable: red, Sets: blue + "=1/1 " + red + "=5/5"}, weight: 20,
				canary: blue, stable: red}
			waitRouted(t, env, c, tc.rc, ns, "blue at 20%", at20)
			time.Sleep(time.Second) // the controller has no more reason to look

			t0 := time.Now()
			tc.change(t, c, ns)
			want := fmt.Sprintf(tc.event, ns)
			waitUntil(t, putBackWithin, "the router objects put back", func() (bool, string) {
				got, wanted, ok := routedState(t, env, c, tc.rc, ns, at20)
				return ok, fmt.Sprintf("got %q, want %q", got, wanted)
			})
			t.Logf("put back %.2fs after the change", time.Since(t0).Seconds())
			waitUntil(t, putBackWithin, "the RouterObjectChanged event", func() (bool, string) {
				var msgs []string
				for _, e := range rolloutEventList(t, env, ns, "colorapi") {
					if e.Reason == "RouterObjectChanged" {
						msgs = append(msgs, e.Message)
						if e.Message == want && e.Type == "Warning" {
							return true, ""
						}
					}
				}
				return false, "events: " + strings.Join(msgs, " | ")
			})
		})
	}
}

// TestTrafficWatchForeignIngress: an Ingress no Rollout names, edited while a Rollout routes
// through another one, is neither written nor reported.
func TestTrafficWatchForeignIngress(t *testing.T) {
	env := withController(t)
	_, c := trafficClient(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	trafficServices(t, c, ns, "colorapi")
	rc := albCase()
	routedRollout(t, c, ns, "colorapi:red", rc.setup(t, c, ns), routedSteps(false))
	other := albIngress(ns, "other", "stable", map[string]string{"alb.ingress.kubernetes.io/actions.stable": "{}"})
	must(t, "Ingress other", c.Create(ctx, other))
	waitRouted(t, env, c, rc, ns, "created", routedWant{snapshot: snapshot{Phase: "Healthy", Step: 4, Stable: "colorapi:red"},
		canary: "colorapi:red", stable: "colorapi:red"})

	patch := []byte(`{"metadata":{"annotations":{"alb.ingress.kubernetes.io/actions.stable":null}}}`)
	must(t, "editing Ingress other", c.Patch(ctx, other, client.RawPatch(types.MergePatchType, patch)))
	rv := other.ResourceVersion
	time.Sleep(putBackWithin)
	var got networkingv1.Ingress
	must(t, "reading Ingress other", c.Get(ctx, client.ObjectKeyFromObject(other), &got))
	if got.ResourceVersion != rv {
		t.Errorf("the Ingress no Rollout names was written: %v", got.Annotations)
	}
	for _, e := range rolloutEventList(t, env, ns, "colorapi") {
		if e.Reason == "RouterObjectChanged" {
			t.Errorf("an event for a change of an Ingress no Rollout names: %s", e.Message)
		}
	}
}
