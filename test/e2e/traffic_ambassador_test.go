//go:build linux

package e2e

// The Ambassador router on the local control plane, called directly as the reconciler calls it
// (TestTrafficRouters' way), for each Mapping API Argo's --ambassador-api-version takes, and
// driven by the controller: the exact canary Mapping after each step, a foreign Mapping left
// alone, a deleted canary Mapping put back, completion and abort.

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic"
	"github.com/vanedev/vane/internal/traffic/routertest"
)

// ambassadorKind is the Mapping kind of an Ambassador API version.
func ambassadorKind(apiVersion string) string {
	if apiVersion == "x.getambassador.io/v3alpha1" {
		return "AmbassadorMapping"
	}
	return "Mapping"
}

// ambassadorMappings creates the stable Mapping "web" (with a label and members the router
// does not know) and a foreign Mapping "other" of apiVersion.
func ambassadorMappings(t *testing.T, c client.Client, ns, apiVersion string) {
	t.Helper()
	kind := ambassadorKind(apiVersion)
	createObject(t, c, ns, fmt.Sprintf(`{apiVersion: %s, kind: %s, metadata: {name: web, labels: {team: colors}},
  spec: {hostname: "*", prefix: /colors/, rewrite: /, service: "stable:8080", timeout_ms: 3000}}`, apiVersion, kind))
	createObject(t, c, ns, fmt.Sprintf(`{apiVersion: %s, kind: %s, metadata: {name: other},
  spec: {hostname: "*", prefix: /other/, service: "stable:8080", weight: 10}}`, apiVersion, kind))
}

// ambassadorCanary is the canary Mapping Argo writes for "web" at weight w: the stable
// Mapping's spec, the canary Service, the weight (Vane adds the Rollout as its controller).
func ambassadorCanary(t *testing.T, apiVersion string, w int32) map[string]any {
	return routertest.Data(t, fmt.Sprintf(`{apiVersion: %s, kind: %s, metadata: {name: web-canary, controller: Rollout/colorapi},
  spec: {hostname: "*", prefix: /colors/, rewrite: /, service: "canary:8080", timeout_ms: 3000, weight: %d}}`,
		apiVersion, ambassadorKind(apiVersion), w))
}

// TestTrafficAmbassador: 0 (no canary Mapping) -> 20% (created from the stable Mapping) ->
// 50% -> the canary Mapping deleted under the router: put back -> header and mirror routes
// refused -> 100% -> complete (weight 0, then deleted) -> a second update at 30% aborted
// (weight 0, then deleted). The stable and the foreign Mapping are never written.
func TestTrafficAmbassador(t *testing.T) {
	for _, version := range []string{"getambassador.io/v2", "getambassador.io/v3alpha1", "x.getambassador.io/v3alpha1"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			env, c := trafficClient(t)
			ns := env.Namespace(t)
			ctx := context.Background()
			kind := ambassadorKind(version)
			trafficServices(t, c, ns, "colorapi")
			ambassadorMappings(t, c, ns, version)
			stableRV, otherRV := objectVersion(t, c, version, kind, ns, "web"), objectVersion(t, c, version, kind, ns, "other")
			ro := trafficRollout(t, c, ns, "colorapi", v1alpha1.RolloutTrafficRouting{Ambassador: &v1alpha1.AmbassadorTrafficRouting{Mappings: []string{"web"}}})
			r, err := traffic.New(ro, c, traffic.WithAmbassadorAPIVersion(version))
			must(t, "traffic.New", err)
			set := func(point string, w int32, want map[string]any) {
				t.Helper()
				must(t, point, r.SetWeight(ctx, ro, w, nil))
				if diff := cmp.Diff(want, objectShape(t, c, version, kind, ns, "web-canary")); diff != "" {
					t.Fatalf("%s: the canary %s (-want +got):\n%s", point, kind, diff)
				}
				if ok, err := r.VerifyWeight(ctx, ro, w, nil); !ok || err != nil {
					t.Fatalf("%s: VerifyWeight(%d) = %v, %v", point, w, ok, err)
				}
				other := w + 1
				if w == 100 {
					other = 99
				}
				if ok, _ := r.VerifyWeight(ctx, ro, other, nil); ok {
					t.Fatalf("%s: VerifyWeight(%d) = true at %d", point, other, w)
				}
			}
			set("at rest", 0, nil)
			set("20%", 20, ambassadorCanary(t, version, 20))
			set("50%", 50, ambassadorCanary(t, version, 50))

			u := objectShape(t, c, version, kind, ns, "web-canary")
			must(t, "deleting the canary Mapping", c.Delete(ctx, unstructuredRef(version, kind, ns, "web-canary")))
			if ok, _ := r.VerifyWeight(ctx, ro, 50, nil); ok {
				t.Fatal("VerifyWeight(50) = true without the canary Mapping")
			}
			set("50% again: put back", 50, u)

			assertRouterError(t, r.SetHeaderRoute(ctx, ro, headerRoute), traffic.Unsupported, "setHeaderRoute", "weights only")
			assertRouterError(t, r.SetMirrorRoute(ctx, ro, mirrorRoute), traffic.Unsupported, "setMirrorRoute", "weights only")
			set("100%", 100, ambassadorCanary(t, version, 100))
			set("complete: weight 0 first", 0, ambassadorCanary(t, version, 0))
			set("complete: then the canary Mapping goes", 0, nil)

			set("second update at 30%", 30, ambassadorCanary(t, version, 30))
			set("aborted: weight 0 first", 0, ambassadorCanary(t, version, 0))
			set("aborted: then the canary Mapping goes", 0, nil)

			if got := objectVersion(t, c, version, kind, ns, "web"); got != stableRV {
				t.Errorf("the stable %s was written (resourceVersion %s, was %s)", kind, got, stableRV)
			}
			if got := objectVersion(t, c, version, kind, ns, "other"); got != otherRV {
				t.Errorf("the foreign %s was written (resourceVersion %s, was %s)", kind, got, otherRV)
			}
		})
	}
}

// TestTrafficAmbassadorErrors: a stable Mapping with a weight, one to another Service, a
// canary Mapping of another owner: errors naming the object and the field, nothing written.
func TestTrafficAmbassadorErrors(t *testing.T) {
	const v2 = "getambassador.io/v2"
	cases := map[string]struct {
		objs   []string // YAML of objects
		reason traffic.Reason
		names  []string
	}{
		"the stable Mapping sets a weight": {
			objs:   []string{`{apiVersion: getambassador.io/v2, kind: Mapping, metadata: {name: web}, spec: {prefix: /, service: stable, weight: 100}}`},
			reason: traffic.Invalid, names: []string{"Mapping", "/web", "spec.weight", "must not set a weight"},
		},
		"the Mapping routes to another Service": {
			objs:   []string{`{apiVersion: getambassador.io/v2, kind: Mapping, metadata: {name: web}, spec: {prefix: /, service: "legacy:80"}}`},
			reason: traffic.Invalid, names: []string{"Mapping", "/web", "spec.service", `"legacy:80"`, `stable Service "stable"`},
		},
		"the Mapping is missing": {
			reason: traffic.NotFound, names: []string{"Mapping", "/web", "ambassador.mappings[0]", "not found"},
		},
		"a canary Mapping of another owner": {
			objs: []string{`{apiVersion: getambassador.io/v2, kind: Mapping, metadata: {name: web}, spec: {prefix: /, service: stable}}`,
				`{apiVersion: getambassador.io/v2, kind: Mapping, metadata: {name: web-canary, ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: edge, uid: EDGE_UID, controller: true}]}, spec: {prefix: /, service: canary, weight: 5}}`},
			reason: traffic.Conflict, names: []string{"Mapping", "/web-canary", "controlled by ConfigMap \"edge\""},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env, c := trafficClient(t)
			ns := env.Namespace(t)
			trafficServices(t, c, ns, "colorapi")
			edge := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "edge", Namespace: ns}} // a live owner, or the GC deletes what it owns
			must(t, "ConfigMap edge", c.Create(context.Background(), edge))
			for _, o := range tc.objs {
				createObject(t, c, ns, strings.ReplaceAll(o, "EDGE_UID", string(edge.UID)))
			}
			before := map[string]string{}
			for _, n := range []string{"web", "web-canary"} {
				before[n] = objectVersion(t, c, v2, "Mapping", ns, n)
			}
			ro := trafficRollout(t, c, ns, "colorapi", v1alpha1.RolloutTrafficRouting{Ambassador: &v1alpha1.AmbassadorTrafficRouting{Mappings: []string{"web"}}})
			r, err := traffic.New(ro, c)
			must(t, "traffic.New", err)
			assertRouterError(t, r.SetWeight(context.Background(), ro, 30, nil), tc.reason, tc.names...)
			for n, rv := range before {
				if got := objectVersion(t, c, v2, "Mapping", ns, n); got != rv {
					t.Errorf("Mapping %s changed: resourceVersion %q, was %q", n, got, rv)
				}
			}
		})
	}
}

// TestTrafficAmbassadorRollout: the controller drives a Rollout with the Ambassador router: red
// stable (no canary Mapping); blue at 20% and 50% (the canary Mapping deleted under the
// controller: put back); complete (weight 0, then the canary Mapping deleted); green aborted
// at 20% (weight 0, then deleted).
func TestTrafficAmbassadorRollout(t *testing.T) {
	const v2 = "getambassador.io/v2"
	env := withController(t)
	_, c := trafficClient(t)
	ns := env.Namespace(t)
	trafficServices(t, c, ns, "colorapi")
	ambassadorMappings(t, c, ns, v2)
	rc := routerCase{
		observe: func(t *testing.T, c client.Client, ns string) []string {
			return []string{fmt.Sprint(objectShape(t, c, v2, "Mapping", ns, "web-canary"))}
		},
		want: func(w int32, _, _ bool, _ string) []string {
			if w == 0 { // a canary Mapping at 0 is deleted by the next reconcile
				return []string{fmt.Sprint(map[string]any(nil))}
			}
			return []string{fmt.Sprint(ambassadorCanary(t, v2, w))}
		},
	}
	const red, blue, green = "colorapi:red", "colorapi:blue", "colorapi:green"
	steps := routedSteps(false)
	n := int32(len(steps))
	routedRollout(t, c, ns, red, v1alpha1.RolloutTrafficRouting{Ambassador: &v1alpha1.AmbassadorTrafficRouting{Mappings: []string{"web"}}}, steps)
	wait := func(point string, w routedWant) { t.Helper(); waitRouted(t, env, c, rc, ns, point, w) }
	paused := func(step int32, stable string) snapshot {
		return snapshot{Phase: "Paused", Step: step, Stable: stable, Message: "CanaryPauseStep"}
	}
	wait("created", routedWant{snapshot: snapshot{Phase: "Healthy", Step: n, Stable: red}, canary: red, stable: red})
	setImage(t, env, ns, "colorapi", blue)
	wait("blue at 20%", routedWant{snapshot: paused(1, red), weight: 20, canary: blue, stable: red})
	promote(t, env, ns, "colorapi", false)
	at50 := routedWant{snapshot: paused(n-1, red), weight: 50, canary: blue, stable: red}
	wait("blue at 50%", at50)
	must(t, "deleting the canary Mapping", c.Delete(context.Background(), unstructuredRef(v2, "Mapping", ns, "web-canary")))
	wait("the canary Mapping put back", at50)
	promote(t, env, ns, "colorapi", false)
	wait("blue complete", routedWant{snapshot: snapshot{Phase: "Healthy", Step: n, Stable: blue}, canary: blue, stable: blue})

	setImage(t, env, ns, "colorapi", green)
	wait("green at 20%", routedWant{snapshot: paused(1, blue), weight: 20, canary: green, stable: blue})
	abort(t, env, ns, "colorapi")
	wait("green aborted", routedWant{snapshot: snapshot{Phase: "Degraded", Step: anyStep, Stable: blue,
		Message: "RolloutAborted: Rollout aborted update to revision 3"}, canary: green, stable: blue})
}
