//go:build linux

package e2e

// Canary pod counts with a traffic router, driven by the Vane controller on the local control
// plane: setCanaryScale steps (replicas, weight, matchTrafficWeight), dynamicStableScale (the
// stable ReplicaSet follows the stable weight down, and back up on abort) and
// minPodsPerReplicaSet. The routers need no proxy: the Gateway API plugin writes the weights
// into an HTTPRoute, SMI into a TrafficSplit (the CRDs trafficClient installs).
//
// Every count below is Argo Rollouts v1.10.1's, from utils/replicaset/canary.go:
// CalculateReplicaCountsForTrafficRoutedCanary (canary = a setCanaryScale's replicas, or
// trafficWeightToReplicas = ceil(replicas x weight / 100) of the setCanaryScale's weight or of
// the current setWeight, raised to minPodsPerReplicaSet; stable = spec.replicas, or with
// dynamicStableScale ceil(replicas x (100 - weight) / 100) but never below the share of the
// stable weight the router still carries), UseSetCanaryScale (the last setCanaryScale at or
// before the current step stays in effect over later setWeight steps until a
// matchTrafficWeight one) and GetCurrentSetWeight (the traffic weight is the last setWeight,
// whatever setCanaryScale says; rollout/trafficrouting.go reconcileTrafficRouting). Each
// scenario was also run under Argo's own controller (rollouts-controller v1.10.1, `make
// argo-tools`, SMI router) on a local cluster: the same pod counts and weights at every point.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/actions"
	"github.com/vanedev/vane/internal/testenv"
)

// csRouter reads the canary weight a router object carries now, and describes the object.
type csRouter func(c client.Client, ns string) (int32, string)

// csGatewayRouter creates the HTTPRoute "web" (stable 100, canary 0) and returns the Gateway
// API plugin's settings and a reader of the canary weight in the route's rule.
func csGatewayRouter(t *testing.T, c client.Client, ns string) (v1alpha1.RolloutTrafficRouting, csRouter) {
	t.Helper()
	must(t, "HTTPRoute web", c.Create(context.Background(), httpRoute(ns, "web", "gw", "/")))
	return v1alpha1.RolloutTrafficRouting{Plugins: gatewayPlugin(`{"httpRoute":"web"}`)},
		func(c client.Client, ns string) (int32, string) {
			var hr gatewayv1.HTTPRoute
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "web"}, &hr); err != nil {
				return -1, err.Error()
			}
			if len(hr.Spec.Rules) == 0 {
				return -1, "HTTPRoute web has no rule"
			}
			rule := hr.Spec.Rules[0]
			for _, b := range rule.BackendRefs {
				if b.Name == "canary" {
					return ptr.Deref(b.Weight, 1), "HTTPRoute web " + describeRule(rule)
				}
			}
			return -1, "HTTPRoute web " + describeRule(rule)
		}
}

// csSMIRouter returns SMI settings (a TrafficSplit "split" the controller creates) and a reader
// of the canary backend's weight.
func csSMIRouter() (v1alpha1.RolloutTrafficRouting, csRouter) {
	return v1alpha1.RolloutTrafficRouting{SMI: &v1alpha1.SMITrafficRouting{RootService: "root", TrafficSplitName: "split"}},
		func(c client.Client, ns string) (int32, string) {
			u := &unstructured.Unstructured{}
			u.SetAPIVersion("split.smi-spec.io/v1alpha1")
			u.SetKind("TrafficSplit")
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "split"}, u); err != nil {
				return -1, err.Error()
			}
			backends, _, _ := unstructured.NestedSlice(u.Object, "spec", "backends")
			w := int32(-1)
			var desc []string
			for _, b := range backends {
				m, _ := b.(map[string]any)
				desc = append(desc, fmt.Sprintf("%v:%v", m["service"], m["weight"]))
				if m["service"] == "canary" {
					if n, err := strconv.Atoi(fmt.Sprint(m["weight"])); err == nil {
						w = int32(n)
					}
				}
			}
			return w, "TrafficSplit split " + strings.Join(desc, " ")
		}
}

// csRollout creates the Rollout "app" (image app:1, the Services "canary" and "stable") with
// replicas, the router tr and steps; mutate may change the canary strategy first.
func csRollout(t *testing.T, c client.Client, ns string, replicas int32, tr v1alpha1.RolloutTrafficRouting,
	steps []v1alpha1.CanaryStep, mutate func(*v1alpha1.CanaryStrategy)) {
	t.Helper()
	trafficServices(t, c, ns, "app")
	ro := newTrafficRollout(ns, "app", tr)
	ro.Spec.Replicas = ptr.To(replicas)
	ro.Spec.Template.Spec.Containers[0].Image = "app:1"
	ro.Spec.Strategy.Canary.Steps = steps
	if mutate != nil {
		mutate(ro.Spec.Strategy.Canary)
	}
	must(t, "creating Rollout app", c.Create(context.Background(), ro))
}

// csWant is a traffic-routed rollout at one point: the snapshot, and the canary weight that
// status.canary.weights records and the router object carries.
type csWant struct {
	snapshot
	weight int32
}

// csWait waits until the rollout "app" looks like want, its recorded canary weight and the
// router's are want.weight, and returns the rollout.
func csWait(t *testing.T, env *testenv.Env, c client.Client, ns, point string, router csRouter, want csWant) *v1alpha1.Rollout {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		snap, ro, err := observe(context.Background(), env, ns, "app")
		var got []string
		ok := err == nil
		if err != nil {
			got = append(got, err.Error())
		} else {
			got = append(got, "rollout: "+snap.String())
			ok = matches(snap, want.snapshot)
			recorded := "none"
			if w := ro.Status.Canary.Weights; w != nil {
				recorded = fmt.Sprintf("canary %d, stable %d", w.Canary.Weight, w.Stable.Weight)
			}
			got = append(got, "status.canary.weights: "+recorded)
			ok = ok && recorded == fmt.Sprintf("canary %d, stable %d", want.weight, 100-want.weight)
			rw, desc := router(c, ns)
			got = append(got, "router: "+desc)
			ok = ok && rw == want.weight
		}
		if ok {
			t.Logf("%s: %s (weight %d)", point, snap.Sets, want.weight)
			return ro
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: waited %s for\n  %s, canary weight %d\n got\n  %s", point, waitLong, want.snapshot, want.weight, strings.Join(got, "\n  "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func csPaused(step int32, sets string) snapshot {
	return snapshot{Phase: "Paused", Step: step, Stable: "app:1", Sets: sets, Message: "CanaryPauseStep"}
}

// TestCanarySetCanaryScaleSteps: with a router (Gateway API), setCanaryScale sizes the canary
// independently of the traffic weight, as Argo computes it (utils/replicaset/canary.go
// GetCanaryReplicasOrWeight, UseSetCanaryScale, CalculateReplicaCountsForTrafficRoutedCanary),
// while the router keeps the last setWeight (rollout/trafficrouting.go reconcileTrafficRouting,
// GetCurrentSetWeight). 10 replicas, the stable keeps all 10 (no dynamicStableScale):
//
//	setWeight 20; setCanaryScale{replicas: 3}; pause   -> canary 3 (explicit), weight 20
//	setCanaryScale{weight: 50}; pause                  -> canary ceil(10 x 50%) = 5, weight 20
//	setWeight 40; pause                                -> canary still 5 (the setCanaryScale{weight}
//	                                                      stays in effect), weight 40
//	setCanaryScale{matchTrafficWeight: true}; pause    -> canary ceil(10 x 40%) = 4, weight 40
//	promote                                            -> 10 new pods, Healthy, weight 0 (both
//	                                                      Services on the new pods)
func TestCanarySetCanaryScaleSteps(t *testing.T) {
	t.Parallel()
	env := withController(t)
	_, c := trafficClient(t)
	ns := env.Namespace(t)
	tr, router := csGatewayRouter(t, c, ns)
	steps := []v1alpha1.CanaryStep{
		{SetWeight: ptr.To[int32](20)},
		{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptr.To[int32](3)}},
		{Pause: &v1alpha1.RolloutPause{}},
		{SetCanaryScale: &v1alpha1.SetCanaryScale{Weight: ptr.To[int32](50)}},
		{Pause: &v1alpha1.RolloutPause{}},
		{SetWeight: ptr.To[int32](40)},
		{Pause: &v1alpha1.RolloutPause{}},
		{SetCanaryScale: &v1alpha1.SetCanaryScale{MatchTrafficWeight: true}},
		{Pause: &v1alpha1.RolloutPause{}},
	}
	n := int32(len(steps))
	csRollout(t, c, ns, 10, tr, steps, func(cs *v1alpha1.CanaryStrategy) {
		cs.ScaleDownDelaySeconds = ptr.To[int32](2) // the old stable goes soon after the promotion
	})
	wait := func(point string, w csWant) { t.Helper(); csWait(t, env, c, ns, point, router, w) }

	wait("created", csWant{snapshot: snapshot{Phase: "Healthy", Step: n, Stable: "app:1", Sets: "app:1=10/10"}})
	setImage(t, env, ns, "app", "app:2")
	wait("setCanaryScale{replicas: 3} after setWeight 20", csWant{snapshot: csPaused(2, "app:1=10/10 app:2=3/3"), weight: 20})
	promote(t, env, ns, "app", false)
	wait("setCanaryScale{weight: 50}", csWant{snapshot: csPaused(4, "app:1=10/10 app:2=5/5"), weight: 20})
	promote(t, env, ns, "app", false)
	wait("setWeight 40 under setCanaryScale{weight: 50}", csWant{snapshot: csPaused(6, "app:1=10/10 app:2=5/5"), weight: 40})
	promote(t, env, ns, "app", false)
	wait("setCanaryScale{matchTrafficWeight: true}", csWant{snapshot: csPaused(8, "app:1=10/10 app:2=4/4"), weight: 40})
	promote(t, env, ns, "app", false)
	wait("complete", csWant{snapshot: snapshot{Phase: "Healthy", Step: n, Stable: "app:2", Sets: "app:2=10/10"}})
}

// TestCanaryDynamicStableScale: with dynamicStableScale (SMI router), 10 replicas, steps
// 20% -> pause -> 60% -> pause. As Argo computes (utils/replicaset/canary.go
// CalculateReplicaCountsForTrafficRoutedCanary): the stable runs ceil(10 x (100 - weight) / 100)
// pods once the router carries the weight: 8 at 20%, 4 at 60%. An abort steps the weight back
// down through the setWeight steps as the stable scales back up (GetDesiredCanaryWeight,
// rollout/trafficrouting.go calculateDesiredWeightOnAbortOrStableRollback: 60 -> 20 once the
// stable has 8 available pods, then down with the stable's available pods to 0) and ends with the stable at 10 and the canary at 0 at once:
// with dynamicStableScale and abortScaleDownDelaySeconds unset there is no abort delay
// (rollout/replicaset.go shouldDelayScaleDownOnAbort), where the default is 30s otherwise. A
// retry then a full promotion ends with the new pods only: with dynamicStableScale the previous
// stable is scaled to 0 at once, without scaleDownDelaySeconds (rollout/canary.go
// scaleDownOldReplicaSetsForCanary).
func TestCanaryDynamicStableScale(t *testing.T) {
	t.Parallel()
	env := withController(t)
	_, c := trafficClient(t)
	ns := env.Namespace(t)
	tr, router := csSMIRouter()
	steps := []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](20)}, {Pause: &v1alpha1.RolloutPause{}},
		{SetWeight: ptr.To[int32](60)}, {Pause: &v1alpha1.RolloutPause{}}}
	csRollout(t, c, ns, 10, tr, steps, func(cs *v1alpha1.CanaryStrategy) { cs.DynamicStableScale = true })
	wait := func(point string, w csWant) *v1alpha1.Rollout {
		t.Helper()
		return csWait(t, env, c, ns, point, router, w)
	}

	wait("created", csWant{snapshot: snapshot{Phase: "Healthy", Step: 4, Stable: "app:1", Sets: "app:1=10/10"}})
	setImage(t, env, ns, "app", "app:2")
	wait("20%", csWant{snapshot: csPaused(1, "app:1=8/8 app:2=2/2"), weight: 20})
	promote(t, env, ns, "app", false)
	wait("60%", csWant{snapshot: csPaused(3, "app:1=4/4 app:2=6/6"), weight: 60})

	t0 := time.Now()
	abort(t, env, ns, "app")
	wait("aborted", csWant{snapshot: snapshot{Phase: "Degraded", Step: anyStep, Stable: "app:1", Sets: "app:1=10/10",
		Message: "RolloutAborted: Rollout aborted update to revision 2"}})
	took := time.Since(t0)
	t.Logf("aborted: the canary was at 0 and the stable at 10 after %.1fs", took.Seconds())
	if took >= 25*time.Second {
		t.Errorf("the aborted canary took %.1fs to scale down: with dynamicStableScale and no abortScaleDownDelaySeconds Argo applies no abort delay (the default one is 30s)", took.Seconds())
	}
	// the weight came back through the setWeight steps, not straight to 0: from 60 to 20 once the
	// stable has 8 available pods (the weight below 20 then follows the stable's available pods,
	// so its steps depend on when they become available)
	events := rolloutEvents(t, env, ns, "app")
	if !hasEvent(events, "Normal TrafficWeightUpdated: Traffic weight updated from 60 to 20") ||
		hasEvent(events, "Normal TrafficWeightUpdated: Traffic weight updated from 60 to 0") {
		t.Errorf("want the weight from 60 to 20 (and not from 60 to 0) on abort; events:\n  %s", strings.Join(events, "\n  "))
	}
	if got, want := serviceHash(t, env, ns, "canary"), rsHashOfImage(t, env, ns, "app:1"); got != want {
		t.Errorf("the canary Service selects %q after the abort, want the stable hash %q", got, want)
	}

	if err := actions.Retry(context.Background(), env.Client, ns, "app"); err != nil {
		t.Fatal(err)
	}
	wait("retried: 20%", csWant{snapshot: csPaused(1, "app:1=8/8 app:2=2/2"), weight: 20})
	promote(t, env, ns, "app", true)
	ro := wait("promoted in full", csWant{snapshot: snapshot{Phase: "Healthy", Step: 4, Stable: "app:2"}})
	t1 := time.Now()
	wait("promoted in full: no old pod left", csWant{snapshot: snapshot{Phase: "Healthy", Step: 4, Stable: "app:2", Sets: "app:2=10/10"}})
	if d := time.Since(t1); d >= 20*time.Second {
		t.Errorf("the previous stable kept pods %.1fs after the rollout was Healthy: with dynamicStableScale Argo scales it to 0 at once", d.Seconds())
	}
	if ro.Status.PromoteFull {
		t.Errorf("promoteFull still set once Healthy")
	}
}

// TestCanaryMinPodsPerReplicaSet: 5 replicas behind a Gateway API router with
// minPodsPerReplicaSet 2 and dynamicStableScale. Argo's CheckMinPodsPerReplicaSet
// (utils/replicaset/canary.go; Vane: strategy.withMinPods in internal/strategy/replicas_traffic.go)
// raises every non-zero count of a traffic-routed canary to the minimum: at 10% the canary runs 2
// pods, not ceil(5 x 10%) = 1, and the stable ceil(5 x 90%) = 5; at 90% the canary runs 5 and
// the stable 2, not ceil(5 x 10%) = 1.
func TestCanaryMinPodsPerReplicaSet(t *testing.T) {
	t.Parallel()
	env := withController(t)
	_, c := trafficClient(t)
	ns := env.Namespace(t)
	tr, router := csGatewayRouter(t, c, ns)
	steps := []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](10)}, {Pause: &v1alpha1.RolloutPause{}},
		{SetWeight: ptr.To[int32](90)}, {Pause: &v1alpha1.RolloutPause{}}}
	csRollout(t, c, ns, 5, tr, steps, func(cs *v1alpha1.CanaryStrategy) {
		cs.MinPodsPerReplicaSet = ptr.To[int32](2)
		cs.DynamicStableScale = true
	})
	wait := func(point string, w csWant) { t.Helper(); csWait(t, env, c, ns, point, router, w) }

	wait("created", csWant{snapshot: snapshot{Phase: "Healthy", Step: 4, Stable: "app:1", Sets: "app:1=5/5"}})
	setImage(t, env, ns, "app", "app:2")
	wait("10%: 2 canary pods", csWant{snapshot: csPaused(1, "app:1=5/5 app:2=2/2"), weight: 10})
	promote(t, env, ns, "app", false)
	wait("90%: 2 stable pods", csWant{snapshot: csPaused(3, "app:1=2/2 app:2=5/5"), weight: 90})
	promote(t, env, ns, "app", false)
	// (how soon the previous stable goes with dynamicStableScale is TestCanaryDynamicStableScale's)
	wait("complete", csWant{snapshot: snapshot{Phase: "Healthy", Step: 4, Stable: "app:2"}})
	var svc corev1.Service
	must(t, "reading the stable Service", env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "stable"}, &svc))
	if got, want := svc.Spec.Selector[v1alpha1.PodTemplateHashLabel], rsHashOfImage(t, env, ns, "app:2"); got != want {
		t.Errorf("the stable Service selects %q once complete, want %q", got, want)
	}
}
