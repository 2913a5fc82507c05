//go:build linux

package e2e

// Traffic routing end to end, driven by the Vane controller: Rollouts with
// spec.strategy.canary.trafficRouting on the local control plane, through every router, with
// the router objects, status.canary.weights, the Services, the ReplicaSets and the phase
// asserted at every point; router objects missing mid-way; and real requests through Traefik.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/actions"
	"github.com/vanedev/vane/internal/testenv"
)

// Short delays keep the scenarios quick: the previous stable keeps its pods scaleDelay after a
// promotion, an aborted canary abortDelay after the abort.
const (
	scaleDelay = 6
	abortDelay = 5
)

// routedSteps are 20% -> pause -> 50% (-> the header route) -> pause.
func routedSteps(header bool) []v1alpha1.CanaryStep {
	steps := []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](20)}, {Pause: &v1alpha1.RolloutPause{}}, {SetWeight: ptr.To[int32](50)}}
	if header {
		steps = append(steps, v1alpha1.CanaryStep{SetHeaderRoute: headerRoute})
	}
	return append(steps, v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{}})
}

// routedRollout creates the Rollout "colorapi" of image with tr and steps, for the controller to
// drive.
func routedRollout(t *testing.T, c client.Client, ns, image string, tr v1alpha1.RolloutTrafficRouting, steps []v1alpha1.CanaryStep) {
	t.Helper()
	ro := newTrafficRollout(ns, "colorapi", tr)
	ro.Spec.Template.Spec.Containers[0].Image = image
	cs := ro.Spec.Strategy.Canary
	cs.Steps = steps
	cs.ScaleDownDelaySeconds = ptr.To[int32](scaleDelay)
	cs.AbortScaleDownDelaySeconds = ptr.To[int32](abortDelay)
	if err := c.Create(context.Background(), ro); err != nil {
		t.Fatalf("creating Rollout: %v", err)
	}
}

// routedWant is what a traffic-routed rollout looks like at one point.
type routedWant struct {
	snapshot
	// weight is the canary weight the router carries and status.canary.weights records
	weight int32
	// header: the header route is in place
	header bool
	// canary and stable are the images the canary and the stable Service select (and
	// status.canary.weights names by hash)
	canary, stable string
}

// routedState renders what the rollout looks like now, next to what want says, as lines to
// compare: snapshot, status.canary.weights, the Services' selectors and the router objects.
func routedState(t *testing.T, env *testenv.Env, c client.Client, rc routerCase, ns string, want routedWant) (got, wanted []string, ok bool) {
	ctx := context.Background()
	snap, ro, err := observe(ctx, env, ns, "colorapi")
	if err != nil {
		return []string{err.Error()}, nil, false
	}
	hashes := map[string]string{} // image -> hash
	images := map[string]string{} // hash -> image
	var list appsv1.ReplicaSetList
	if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return []string{err.Error()}, nil, false
	}
	for _, rs := range list.Items {
		h := rs.Labels[v1alpha1.PodTemplateHashLabel]
		hashes[rs.Spec.Template.Spec.Containers[0].Image], images[h] = h, rs.Spec.Template.Spec.Containers[0].Image
	}
	img := func(h string) string {
		if i, ok := images[h]; ok {
			return i
		}
		return "hash " + h
	}
	got = append(got, fmt.Sprintf("matches %s: %v", want.snapshot, matches(snap, want.snapshot)))
	wanted = append(wanted, fmt.Sprintf("matches %s: true", want.snapshot))
	if w := ro.Status.Canary.Weights; w == nil {
		got = append(got, "status.canary.weights: none")
	} else {
		got = append(got, fmt.Sprintf("status.canary.weights: canary %s %d %s, stable %s %d %s", w.Canary.ServiceName, w.Canary.Weight,
			img(w.Canary.PodTemplateHash), w.Stable.ServiceName, w.Stable.Weight, img(w.Stable.PodTemplateHash)))
	}
	wanted = append(wanted, fmt.Sprintf("status.canary.weights: canary canary %d %s, stable stable %d %s", want.weight, want.canary,
		100-want.weight, want.stable))
	for _, svc := range []string{"canary", "stable"} {
		got = append(got, fmt.Sprintf("Service %s selects %s", svc, img(serviceHash(t, env, ns, svc))))
	}
	wanted = append(wanted, "Service canary selects "+want.canary, "Service stable selects "+want.stable)
	if want.snapshot.Phase == v1alpha1.RolloutPhaseDegraded && strings.HasPrefix(want.Message, "RolloutAborted") {
		// an aborted canary's Service serves the stable pods; the weights still name the canary
		wanted[len(wanted)-2] = "Service canary selects " + want.stable
	}
	got = append(got, rc.observe(t, c, ns)...)
	wanted = append(wanted, rc.want(want.weight, want.header && rc.header, false, hashes[want.canary]+"/"+hashes[want.stable])...)
	return got, wanted, cmp.Equal(got, wanted)
}

// waitRouted waits until the rollout, its Services and its router objects look like want.
func waitRouted(t *testing.T, env *testenv.Env, c client.Client, rc routerCase, ns, point string, want routedWant) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		got, wanted, ok := routedState(t, env, c, rc, ns, want)
		if ok {
			t.Logf("%s: %s", point, got[1])
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: waited %s (-want +got):\n%s", point, waitLong, cmp.Diff(wanted, got))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func abort(t *testing.T, env *testenv.Env, ns, name string) {
	t.Helper()
	if err := actions.Abort(context.Background(), env.Client, ns, name); err != nil {
		t.Fatal(err)
	}
}

// TestTrafficRollouts drives a Rollout through every router with the Vane controller: red is
// stable; blue goes 20% -> pause -> promote -> 50% (-> header route, where the router has them)
// -> pause; green supersedes it (the header route goes, blue keeps its pods
// scaleDownDelaySeconds) and goes 20% -> 50% -> complete, red keeping its pods
// scaleDownDelaySeconds while the rollout is already Healthy; then yellow is aborted at 50%: the
// weight goes to 0 at once, the canary keeps its pods abortScaleDownDelaySeconds and then
// scales to 0. At each point: the router objects, status.canary.weights, the Services, the
// ReplicaSets (canary ceil(5 x weight / 100), stable 5) and the phase.
func TestTrafficRollouts(t *testing.T) {
	for name, rc := range map[string]routerCase{
		"gateway api": gatewayCase(), "nginx": nginxCase(), "istio host-level": istioHostCase(),
		"istio subset-level": istioSubsetCase(), "smi": smiCase(),
	} {
		if name == "nginx" {
			rc.header = false // as in Argo, a Rollout with nginx may not have setHeaderRoute steps
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := withController(t)
			_, c := trafficClient(t)
			ns := env.Namespace(t)
			const red, blue, green, yellow = "colorapi:red", "colorapi:blue", "colorapi:green", "colorapi:yellow"
			trafficServices(t, c, ns, "colorapi")
			steps := routedSteps(rc.header)
			n := int32(len(steps))
			routedRollout(t, c, ns, red, rc.setup(t, c, ns), steps)
			wait := func(point string, w routedWant) { t.Helper(); waitRouted(t, env, c, rc, ns, point, w) }
			paused := func(step int32, stable, sets string) snapshot {
				return snapshot{Phase: "Paused", Step: step, Stable: stable, Sets: sets, Message: "CanaryPauseStep"}
			}

			wait("created", routedWant{snapshot: snapshot{Phase: "Healthy", Step: n, Stable: red, Sets: red + "=5/5"},
				canary: red, stable: red})

			setImage(t, env, ns, "colorapi", blue)
			wait("blue at 20%", routedWant{snapshot: paused(1, red, blue+"=1/1 "+red+"=5/5"), weight: 20, canary: blue, stable: red})
			promote(t, env, ns, "colorapi", false)
			wait("blue at 50%", routedWant{snapshot: paused(n-1, red, blue+"=3/3 "+red+"=5/5"), weight: 50, header: true,
				canary: blue, stable: red})

			// a second update while the canary runs: green starts from the first step; blue, which
			// nothing refers to once the weights and the canary Service name green, goes at once
			// (Argo's scaleDownOldReplicaSetsForCanary: an intermediate ReplicaSet takes no traffic)
			setImage(t, env, ns, "colorapi", green)
			wait("green at 20%", routedWant{snapshot: paused(1, red, green+"=1/1 "+red+"=5/5"), weight: 20, canary: green, stable: red})
			promote(t, env, ns, "colorapi", false)
			wait("green at 50%", routedWant{snapshot: paused(n-1, red, green+"=3/3 "+red+"=5/5"), weight: 50, header: true,
				canary: green, stable: red})
			promote(t, env, ns, "colorapi", false)
			// complete: healthy while red keeps its pods until its scale-down deadline
			wait("green complete, red waiting", routedWant{snapshot: snapshot{Phase: "Healthy", Step: n, Stable: green,
				Sets: green + "=5/5 " + red + "=5/5"}, canary: green, stable: green})
			// red's deadline is set once nothing refers to it any more (a look after completion, as
			// in Argo, where the completing reconcile still counts red as the stable)
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				var rs appsv1.ReplicaSet
				must(t, "reading red's ReplicaSet", env.Client.Get(context.Background(),
					client.ObjectKey{Namespace: ns, Name: "colorapi-" + rsHashOfImage(t, env, ns, red)}, &rs))
				if rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotation] != "" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("red's ReplicaSet has no scale-down deadline: %v", rs.Annotations)
				}
			}
			wait("green complete", routedWant{snapshot: snapshot{Phase: "Healthy", Step: n, Stable: green, Sets: green + "=5/5"},
				canary: green, stable: green})

			setImage(t, env, ns, "colorapi", yellow)
			wait("yellow at 20%", routedWant{snapshot: paused(1, green, green+"=5/5 "+yellow+"=1/1"), weight: 20, canary: yellow, stable: green})
			promote(t, env, ns, "colorapi", false)
			wait("yellow at 50%", routedWant{snapshot: paused(n-1, green, green+"=5/5 "+yellow+"=3/3"), weight: 50, header: true,
				canary: yellow, stable: green})
			t0 := time.Now()
			abort(t, env, ns, "colorapi")
			aborted := snapshot{Phase: "Degraded", Step: anyStep, Stable: green, Message: "RolloutAborted: Rollout aborted update to revision 4"}
			aborted.Sets = green + "=5/5 " + yellow + "=3/3"
			wait("yellow aborted: weight 0 first", routedWant{snapshot: aborted, canary: yellow, stable: green})
			aborted.Sets = green + "=5/5"
			wait("yellow aborted: canary scaled down", routedWant{snapshot: aborted, canary: yellow, stable: green})
			if d := time.Since(t0); d < (abortDelay-1)*time.Second {
				t.Errorf("the aborted canary was scaled down %s after the abort, before abortScaleDownDelaySeconds (%ds)", d, abortDelay)
			}
			reasons := eventReasons(t, env, ns, "colorapi")
			for _, want := range []string{"TrafficWeightUpdated", "RolloutCompleted", "RolloutAborted"} {
				if !slices.Contains(reasons, want) {
					t.Errorf("no %s event; events: %v", want, reasons)
				}
			}
		})
	}
}

// TestTrafficRolloutMissingRoute: a Rollout whose HTTPRoute does not exist is InvalidSpec with
// the router's error and nothing is created; it starts once the route exists. The route
// deleted in the middle of an update: the promote is not acted on (no scaling, the weights
// recorded stay), until the route is back.
func TestTrafficRolloutMissingRoute(t *testing.T) {
	env := withController(t)
	_, c := trafficClient(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	const red, blue = "colorapi:red", "colorapi:blue"
	trafficServices(t, c, ns, "colorapi")
	rc := gatewayCase()
	rc.observe = func(t *testing.T, c client.Client, ns string) []string { // the one route "web"
		var hr gatewayv1.HTTPRoute
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "web"}, &hr); err != nil {
			return []string{err.Error()}
		}
		return []string{describeRule(hr.Spec.Rules[0])}
	}
	rc.want = func(w int32, _, _ bool, _ string) []string {
		return []string{fmt.Sprintf("path=/ -> stable:%d canary:%d", 100-w, w)}
	}
	routedRollout(t, c, ns, red, v1alpha1.RolloutTrafficRouting{Plugins: gatewayPlugin(`{"httpRoute":"web"}`)}, routedSteps(false))

	missing := fmt.Sprintf(`InvalidSpec: The Rollout "colorapi" is invalid: HTTPRoute %s/web: spec.strategy.canary.trafficRouting.plugins["argoproj-labs/gatewayAPI"].httpRoute: HTTPRoute "web" not found`, ns)
	ro := waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Degraded", Step: anyStep, Message: missing})
	if c := condition(ro, v1alpha1.InvalidSpec); c == nil || !strings.Contains(c.Message, `HTTPRoute "web" not found`) {
		t.Errorf("InvalidSpec condition %+v", c)
	}
	controllerObserved(t, env, ns, "colorapi") // nothing happens while the route is missing
	assertReplicaSetCount(t, env, ns, 0)
	ro = waitState(t, env, ns, "colorapi", time.Second, snapshot{Phase: "Degraded", Step: anyStep, Message: missing})
	if ro.Status.Canary.Weights != nil {
		t.Errorf("weights recorded without a route: %+v", ro.Status.Canary.Weights)
	}
	if !slices.Contains(eventReasons(t, env, ns, "colorapi"), "TrafficRoutingError") {
		t.Errorf("no TrafficRoutingError event: %v", eventReasons(t, env, ns, "colorapi"))
	}

	must(t, "HTTPRoute web", c.Create(ctx, httpRoute(ns, "web", "gw", "/")))
	waitRouted(t, env, c, rc, ns, "route created", routedWant{snapshot: snapshot{Phase: "Healthy", Step: 4, Stable: red, Sets: red + "=5/5"},
		canary: red, stable: red})
	if c := condition(waitState(t, env, ns, "colorapi", time.Second, snapshot{Step: anyStep}), v1alpha1.InvalidSpec); c != nil {
		t.Errorf("InvalidSpec still there: %+v", c)
	}

	setImage(t, env, ns, "colorapi", blue)
	waitRouted(t, env, c, rc, ns, "blue at 20%", routedWant{snapshot: snapshot{Phase: "Paused", Step: 1, Sets: blue + "=1/1 " + red + "=5/5"},
		weight: 20, canary: blue, stable: red})
	must(t, "deleting HTTPRoute web", c.Delete(ctx, &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}))
	promote(t, env, ns, "colorapi", false)
	ro = waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Degraded", Step: 1, Sets: blue + "=1/1 " + red + "=5/5", Message: missing})
	controllerObserved(t, env, ns, "colorapi")
	ro = waitState(t, env, ns, "colorapi", time.Second, snapshot{Phase: "Degraded", Step: 1, Sets: blue + "=1/1 " + red + "=5/5", Message: missing})
	if w := ro.Status.Canary.Weights; w == nil || w.Canary.Weight != 20 {
		t.Errorf("recorded weights changed while the route was missing: %+v", w)
	}

	// the route comes back as it was first written: the weight goes back to 20, then on to 50
	must(t, "HTTPRoute web again", c.Create(ctx, httpRoute(ns, "web", "gw", "/")))
	waitRouted(t, env, c, rc, ns, "route back, blue at 50%", routedWant{snapshot: snapshot{Phase: "Paused", Step: 3,
		Sets: blue + "=3/3 " + red + "=5/5"}, weight: 50, canary: blue, stable: red})
}

// TestTrafficGatewayAPIRealTraffic proves that the weights the controller has the Gateway API
// router write move real requests: Traefik (v3.6.12, built from Go modules by `make traefik`)
// runs its Kubernetes Gateway API provider against the local API server, every listener on
// 127.0.0.1, sending each backend's traffic to the Service's ClusterIP (nativeLBByDefault: the
// API server refuses loopback EndpointSlices). The test plays the pods: for the stable and the
// canary Service an HTTP server on the Service's ClusterIP:port answers with the color of the
// ReplicaSet the Service's hash selector points at now, like seed 001's colorapi. A Rollout of
// colorapi:red goes to blue (20%, 50% with a header route, complete), then to green, aborted
// at 20%; the test only sets images, promotes and aborts, as a user would.
func TestTrafficGatewayAPIRealTraffic(t *testing.T) {
	env := withController(t)
	_, c := trafficClient(t)
	bin := traefikBinary(t, env.RepoRoot)
	ns := env.Namespace(t)
	ctx := context.Background()
	trafficServices(t, c, ns, "colorapi")
	colors := rsColors(c, ns)
	stablePods := startPods(t, c, ns, "stable", colors)
	canaryPods := startPods(t, c, ns, "canary", colors)

	web, api := freePort(t), freePort(t)
	gc := &gatewayv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "vane-traefik-" + ns},
		Spec: gatewayv1.GatewayClassSpec{ControllerName: "traefik.io/gateway-controller"}}
	must(t, "GatewayClass", c.Create(ctx, gc))
	t.Cleanup(func() { _ = c.Delete(context.Background(), gc) })
	gw := &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "traefik", Namespace: ns},
		Spec: gatewayv1.GatewaySpec{GatewayClassName: gatewayv1.ObjectName(gc.Name), Listeners: []gatewayv1.Listener{{
			Name: "web", Port: gatewayv1.PortNumber(web), Protocol: gatewayv1.HTTPProtocolType}}}}
	must(t, "Gateway", c.Create(ctx, gw))
	must(t, "HTTPRoute", c.Create(ctx, httpRoute(ns, "colorapi", "traefik", "/")))
	tf := startTraefik(t, env, bin, ns, web, api)

	const red, blue, green = "colorapi:red", "colorapi:blue", "colorapi:green"
	steps := routedSteps(true)
	routedRollout(t, c, ns, red, v1alpha1.RolloutTrafficRouting{Plugins: gatewayPlugin(`{"httpRoute":"colorapi"}`)}, steps)
	n := int32(len(steps))

	// serves waits until Traefik's API reports the weights (the controller moved on once the
	// route's status said Traefik accepted them).
	serves := func(weight int) {
		t.Helper()
		t0 := time.Now()
		waitUntil(t, 20*time.Second, fmt.Sprintf("Traefik to serve canary %d%%", weight), func() (bool, string) {
			cw, sw, desc := tf.weights(t, ns)
			return cw == weight && sw == 100-weight, desc
		})
		t.Logf("canary %3d%%: Traefik serves it (waited %.2fs)", weight, time.Since(t0).Seconds())
	}
	expect := func(point string, got map[string]int, color string, want, tolerance int) {
		t.Helper()
		t.Logf("%s: %v", point, got)
		if got["error"] > 0 {
			t.Fatalf("%s: %d requests failed: %v", point, got["error"], got)
		}
		if d := got[color] - want; d < -tolerance || d > tolerance {
			t.Fatalf("%s: %d of the requests went to %s, want %d±%d (%v)", point, got[color], color, want, tolerance, got)
		}
	}

	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Healthy", Step: n, Stable: red, Sets: red + "=5/5"})
	serves(0)
	stablePods.waitFor(t, rsHashOfImage(t, env, ns, red))
	expect("red stable", tf.send(t, 200, nil), "red", 200, 0)

	setImage(t, env, ns, "colorapi", blue)
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Paused", Step: 1, Sets: blue + "=1/1 " + red + "=5/5"})
	serves(20)
	canaryPods.waitFor(t, rsHashOfImage(t, env, ns, blue))
	expect("blue at 20%", tf.send(t, 200, nil), "blue", 40, 10)

	promote(t, env, ns, "colorapi", false)
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Paused", Step: n - 1, Sets: blue + "=3/3 " + red + "=5/5"})
	serves(50)
	expect("blue at 50%", tf.send(t, 200, nil), "blue", 100, 15)
	tf.waitRule(t, "X-Canary", true)
	expect("blue at 50%, with X-Canary: yes", tf.send(t, 50, map[string]string{"X-Canary": "yes"}), "blue", 50, 0)

	promote(t, env, ns, "colorapi", false)
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Healthy", Step: n, Stable: blue})
	serves(0) // all traffic through the stable Service, which selects blue
	stablePods.waitFor(t, rsHashOfImage(t, env, ns, blue))
	tf.waitRule(t, "X-Canary", false)
	expect("blue complete", tf.send(t, 200, nil), "blue", 200, 0)

	setImage(t, env, ns, "colorapi", green)
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Paused", Step: 1, Stable: blue, Sets: blue + "=5/5 " + green + "=1/1"})
	serves(20)
	canaryPods.waitFor(t, rsHashOfImage(t, env, ns, green))
	expect("green at 20%", tf.send(t, 200, nil), "green", 40, 10)

	abort(t, env, ns, "colorapi")
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Degraded", Step: anyStep, Stable: blue, Message: "RolloutAborted"})
	serves(0)
	got := tf.send(t, 200, map[string]string{"X-Canary": "yes"})
	expect("green aborted (even with X-Canary: yes)", got, "green", 0, 0)
	expect("green aborted", got, "blue", 200, 0)
}

// rsColors answers the color of the pods of a hash: the tag of the image its ReplicaSet runs.
func rsColors(c client.Client, ns string) func(hash string) (string, bool) {
	var mu sync.Mutex
	known := map[string]string{}
	return func(hash string) (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		if color, ok := known[hash]; ok {
			return color, true
		}
		var list appsv1.ReplicaSetList
		if hash == "" || c.List(context.Background(), &list, client.InNamespace(ns),
			client.MatchingLabels{v1alpha1.PodTemplateHashLabel: hash}) != nil || len(list.Items) == 0 {
			return "", false
		}
		img := list.Items[0].Spec.Template.Spec.Containers[0].Image
		known[hash] = img[strings.LastIndexByte(img, ':')+1:]
		return known[hash], true
	}
}
