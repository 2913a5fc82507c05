//go:build linux

package e2e

// The Traefik router: real requests through Traefik (its kubernetescrd provider, Traefik's own
// CRDs) split by the weighted TraefikService the controller edits, and the router's errors.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic"
	"github.com/vanedev/vane/internal/traffic/routertest"
)

const traefikAPI = "traefik.io/v1alpha1"

// traefikObjects creates the weighted TraefikService "colorapi" of the stable and the canary
// Service, without weights (as Argo's documentation writes it, so that Argo CD sees no drift
// in what it applies), and the IngressRoute that sends everything on the web entry point to it.
// Each service says nativeLB: Traefik v3.6 builds TraefikServices without the provider's
// nativeLBByDefault (and the local cluster has no endpoints).
func traefikObjects(t *testing.T, c client.Client, ns string) {
	t.Helper()
	createObject(t, c, ns, `{apiVersion: traefik.io/v1alpha1, kind: TraefikService, metadata: {name: colorapi},
  spec: {weighted: {services: [{name: stable, port: 8080, nativeLB: true}, {name: canary, port: 8080, nativeLB: true}]}}}`)
	createObject(t, c, ns, "{apiVersion: traefik.io/v1alpha1, kind: IngressRoute, metadata: {name: colorapi},\n"+
		"  spec: {entryPoints: [web], routes: [{kind: Rule, match: \"PathPrefix(`/`)\", services: [{name: colorapi, kind: TraefikService}]}]}}")
}

// TestTrafficTraefikRealTraffic proves that the weights the Traefik router writes into a
// weighted TraefikService move real requests: Traefik (the binary `make traefik` builds) runs
// its kubernetescrd provider against the local API server with Traefik's CRDs installed,
// sending each Service's traffic to its ClusterIP, where the test plays the pods (as in
// TestTrafficGatewayAPIRealTraffic). The controller drives a Rollout of colorapi:red with
// trafficRouting.traefik: blue at 20% (200 requests split 80/20), promoted to 50% (50/50),
// aborted (all to red); then green at 20%, promoted fully (all to green).
func TestTrafficTraefikRealTraffic(t *testing.T) {
	env := withController(t)
	_, c := trafficClient(t)
	argoRouterCRDs(t, env)
	bin := traefikBinary(t, env.RepoRoot)
	ns := env.Namespace(t)
	trafficServices(t, c, ns, "colorapi")
	colors := rsColors(c, ns)
	stablePods := startPods(t, c, ns, "stable", colors)
	canaryPods := startPods(t, c, ns, "canary", colors)
	traefikObjects(t, c, ns)
	tf := startTraefik(t, env, bin, ns, freePort(t), freePort(t), traefikCRDProvider)

	const red, blue, green = "colorapi:red", "colorapi:blue", "colorapi:green"
	steps := routedSteps(false)
	n := int32(len(steps))
	routedRollout(t, c, ns, red, v1alpha1.RolloutTrafficRouting{Traefik: &v1alpha1.TraefikTrafficRouting{WeightedTraefikServiceName: "colorapi"}}, steps)

	// serves waits until the TraefikService carries the weight and Traefik's API serves it.
	serves := func(weight int) {
		t.Helper()
		want := routertest.Data(t, fmt.Sprintf(`{weighted: {services: [{name: stable, port: 8080, nativeLB: true, weight: %d}, {name: canary, port: 8080, nativeLB: true, weight: %d}]}}`, 100-weight, weight))
		t0 := time.Now()
		waitUntil(t, 20*time.Second, fmt.Sprintf("Traefik to serve canary %d%%", weight), func() (bool, string) {
			spec := objectShape(t, c, traefikAPI, "TraefikService", ns, "colorapi")["spec"]
			if diff := cmp.Diff(want, spec); diff != "" {
				return false, "TraefikService spec (-want +got): " + diff
			}
			cw, sw, desc := tf.weightsOf(t, ns+"-canary-8080", ns+"-stable-8080")
			return cw == weight && sw == 100-weight, desc
		})
		t.Logf("canary %3d%%: Traefik serves it (waited %.2fs)", weight, time.Since(t0).Seconds())
	}
	expect := func(point string, got map[string]int, color string, want int) {
		t.Helper()
		t.Logf("%s: %v", point, got)
		if got["error"] > 0 || got[color] != want {
			t.Fatalf("%s: %d of 200 requests went to %s, want %d (Traefik's weighted round robin is exact); %v", point, got[color], color, want, got)
		}
	}

	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Healthy", Step: n, Stable: red, Sets: red + "=5/5"})
	serves(0)
	stablePods.waitFor(t, rsHashOfImage(t, env, ns, red))
	expect("red stable", tf.send(t, 200, nil), "red", 200)

	setImage(t, env, ns, "colorapi", blue)
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Paused", Step: 1, Sets: blue + "=1/1 " + red + "=5/5"})
	serves(20)
	canaryPods.waitFor(t, rsHashOfImage(t, env, ns, blue))
	expect("blue at 20%", tf.send(t, 200, nil), "blue", 40)

	promote(t, env, ns, "colorapi", false)
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Paused", Step: n - 1, Sets: blue + "=3/3 " + red + "=5/5"})
	serves(50)
	expect("blue at 50%", tf.send(t, 200, nil), "blue", 100)

	abort(t, env, ns, "colorapi")
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Degraded", Step: anyStep, Stable: red, Message: "RolloutAborted"})
	serves(0)
	expect("blue aborted", tf.send(t, 200, nil), "red", 200)

	setImage(t, env, ns, "colorapi", green)
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Paused", Step: 1, Stable: red, Sets: green + "=1/1 " + red + "=5/5"})
	serves(20)
	canaryPods.waitFor(t, rsHashOfImage(t, env, ns, green))
	expect("green at 20%", tf.send(t, 200, nil), "green", 40)

	promote(t, env, ns, "colorapi", true)
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Healthy", Step: n, Stable: green})
	serves(0) // all traffic through the stable Service, which selects green
	stablePods.waitFor(t, rsHashOfImage(t, env, ns, green))
	expect("green promoted", tf.send(t, 200, nil), "green", 200)
}

// TestTrafficTraefikErrors: a TraefikService that is missing, not a weighted one, or without
// the canary Service gives an error naming it and the field, and is not written.
func TestTrafficTraefikErrors(t *testing.T) {
	cases := map[string]struct {
		spec   string // the TraefikService's; "" for none
		reason traffic.Reason
		names  []string
	}{
		"missing": {reason: traffic.NotFound, names: []string{"TraefikService", "/colorapi", "traefik.weightedTraefikServiceName", "not found"}},
		"a mirroring TraefikService": {spec: `{mirroring: {name: stable, port: 8080, mirrors: [{name: canary, port: 8080, percent: 10}]}}`,
			reason: traffic.Invalid, names: []string{"TraefikService", "/colorapi", "spec.weighted", "must be a weighted one"}},
		"no canary Service": {spec: `{weighted: {services: [{name: stable, port: 8080}, {name: canary-old, port: 8080}]}}`,
			reason: traffic.Invalid, names: []string{"TraefikService", "/colorapi", "spec.weighted.services", `canary Service "canary"`}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env, c := trafficClient(t)
			argoRouterCRDs(t, env)
			ns := env.Namespace(t)
			if tc.spec != "" {
				createObject(t, c, ns, `{apiVersion: traefik.io/v1alpha1, kind: TraefikService, metadata: {name: colorapi}, spec: `+tc.spec+`}`)
			}
			rv := objectVersion(t, c, traefikAPI, "TraefikService", ns, "colorapi")
			ro := trafficRollout(t, c, ns, "colorapi", v1alpha1.RolloutTrafficRouting{Traefik: &v1alpha1.TraefikTrafficRouting{WeightedTraefikServiceName: "colorapi"}})
			r, err := traffic.New(ro, c)
			must(t, "traffic.New", err)
			assertRouterError(t, r.SetWeight(context.Background(), ro, 30, nil), tc.reason, tc.names...)
			if _, err := r.VerifyWeight(context.Background(), ro, 30, nil); err == nil {
				t.Error("VerifyWeight succeeded on the same TraefikService")
			}
			if got := objectVersion(t, c, traefikAPI, "TraefikService", ns, "colorapi"); got != rv {
				t.Errorf("the TraefikService was written: resourceVersion %q, was %q", got, rv)
			}
		})
	}
}
