//go:build linux

package e2e

// The APISIX router on the local control plane with the published ApisixRoute CRD, called
// directly as the reconciler calls it (TestTrafficRouters' way), and driven by the controller:
// the exact ApisixRoutes after each step, the header route's ApisixRoute (created, updated,
// deleted under the router and put back, removed), a foreign route left alone, completion and
// abort.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic"
	"github.com/vanedev/vane/internal/traffic/routertest"
)

const apisixAPI = "apisix.apache.org/v2"

// apisixObjects creates the ApisixRoute "colorapi" (rule "colorapi-http" between the Services,
// rule "assets" elsewhere), the ApisixRoute "assets" nobody names, and "mirror", named like
// one of the Rollout's managed routes but not the Rollout's.
func apisixObjects(t *testing.T, c client.Client, ns string) {
	t.Helper()
	createObject(t, c, ns, `{apiVersion: apisix.apache.org/v2, kind: ApisixRoute, metadata: {name: colorapi, labels: {team: colors}}, spec: {http: [
  {name: colorapi-http, priority: 2, match: {paths: ["/*"], methods: [GET, POST], hosts: [colorapi.local]},
   backends: [{serviceName: stable, servicePort: 8080, weight: 100}, {serviceName: canary, servicePort: 8080, weight: 0}],
   plugins: [{name: proxy-rewrite, enable: true, config: {regex_uri: ["^/(.*)", "/$1"]}}]},
  {name: assets, match: {paths: ["/static/*"]}, backends: [{serviceName: assets, servicePort: 80}]}]}}`)
	createObject(t, c, ns, `{apiVersion: apisix.apache.org/v2, kind: ApisixRoute, metadata: {name: assets}, spec: {http: [
  {name: assets, match: {paths: ["/*"]}, backends: [{serviceName: stable, servicePort: 8080}]}]}}`)
	createObject(t, c, ns, `{apiVersion: apisix.apache.org/v2, kind: ApisixRoute, metadata: {name: mirror}, spec: {http: [
  {name: mirror, match: {paths: ["/mirror/*"]}, backends: [{serviceName: stable, servicePort: 8080}]}]}}`)
}

// apisixRoute is the ApisixRoute "colorapi" with the canary at weight w.
func apisixRoute(t *testing.T, w int32) map[string]any {
	return routertest.Data(t, fmt.Sprintf(`{apiVersion: apisix.apache.org/v2, kind: ApisixRoute, metadata: {name: colorapi, labels: {team: colors}}, spec: {http: [
  {name: colorapi-http, priority: 2, match: {paths: ["/*"], methods: [GET, POST], hosts: [colorapi.local]},
   backends: [{serviceName: stable, servicePort: 8080, weight: %d}, {serviceName: canary, servicePort: 8080, weight: %d}],
   plugins: [{name: proxy-rewrite, enable: true, config: {regex_uri: ["^/(.*)", "/$1"]}}]},
  {name: assets, match: {paths: ["/static/*"]}, backends: [{serviceName: assets, servicePort: 80}]}]}}`, 100-w, w))
}

// apisixHeaderRoute is the header route's ApisixRoute, as Argo writes it: a copy of
// "colorapi" whose configured rule matches exprs (YAML), goes to the canary alone and has one
// priority more (the Rollout as its controller).
func apisixHeaderRoute(t *testing.T, exprs string) map[string]any {
	return routertest.Data(t, `{apiVersion: apisix.apache.org/v2, kind: ApisixRoute, metadata: {name: header, labels: {team: colors}, controller: Rollout/colorapi}, spec: {http: [
  {name: colorapi-http, priority: 3, match: {paths: ["/*"], methods: [GET, POST], hosts: [colorapi.local], exprs: `+exprs+`},
   backends: [{serviceName: canary, servicePort: 8080, weight: 100}],
   plugins: [{name: proxy-rewrite, enable: true, config: {regex_uri: ["^/(.*)", "/$1"]}}]},
  {name: assets, match: {paths: ["/static/*"]}, backends: [{serviceName: assets, servicePort: 80}]}]}}`)
}

const xCanaryExact = `[{subject: {scope: Header, name: X-Canary}, op: Equal, value: "yes"}]`

// TestTrafficApisix: 20% -> 50% -> a header route (its ApisixRoute created) -> deleted under the
// router and put back -> changed to a regex -> a mirror route refused -> 100% -> complete (the
// header route removed, weight 0) -> a second update at 30% with the header route, aborted
// (weight 0, the route removed) -> a header route whose name another ApisixRoute has: a
// Conflict. "assets" and "mirror" (not the Rollout's) are never written.
func TestTrafficApisix(t *testing.T) {
	env, c := trafficClient(t)
	argoRouterCRDs(t, env)
	ns := env.Namespace(t)
	ctx := context.Background()
	trafficServices(t, c, ns, "colorapi")
	apisixObjects(t, c, ns)
	foreign := map[string]string{"assets": objectVersion(t, c, apisixAPI, "ApisixRoute", ns, "assets"),
		"mirror": objectVersion(t, c, apisixAPI, "ApisixRoute", ns, "mirror")}
	ro := trafficRollout(t, c, ns, "colorapi", v1alpha1.RolloutTrafficRouting{
		Apisix: &v1alpha1.ApisixTrafficRouting{Route: &v1alpha1.ApisixRoute{Name: "colorapi", Rules: []string{"colorapi-http"}}}})
	r, err := traffic.New(ro, c)
	must(t, "traffic.New", err)
	check := func(point string, w int32, header map[string]any) {
		t.Helper()
		for name, want := range map[string]map[string]any{"colorapi": apisixRoute(t, w), "header": header} {
			if diff := cmp.Diff(want, objectShape(t, c, apisixAPI, "ApisixRoute", ns, name)); diff != "" {
				t.Fatalf("%s: ApisixRoute %s (-want +got):\n%s", point, name, diff)
			}
		}
		if ok, err := r.VerifyWeight(ctx, ro, w, nil); !ok || err != nil {
			t.Fatalf("%s: VerifyWeight(%d) = %v, %v", point, w, ok, err)
		}
	}
	setHeader := func(point string, hr *v1alpha1.SetHeaderRoute) {
		t.Helper()
		must(t, point, r.SetHeaderRoute(ctx, ro, hr))
	}
	must(t, "20%", r.SetWeight(ctx, ro, 20, nil))
	check("20%", 20, nil)
	must(t, "50%", r.SetWeight(ctx, ro, 50, nil))
	check("50%", 50, nil)
	setHeader("header route", headerRoute)
	check("50% with the header route", 50, apisixHeaderRoute(t, xCanaryExact))

	must(t, "deleting the header route", c.Delete(ctx, unstructuredRef(apisixAPI, "ApisixRoute", ns, "header")))
	setHeader("header route again", headerRoute)
	check("the header route put back", 50, apisixHeaderRoute(t, xCanaryExact))
	setHeader("a regex header route", &v1alpha1.SetHeaderRoute{Name: "header", Match: []v1alpha1.HeaderRoutingMatch{
		{HeaderName: "X-Canary", HeaderValue: &v1alpha1.StringMatch{Regex: "y.*"}}}})
	check("the header route changed", 50, apisixHeaderRoute(t, `[{subject: {scope: Header, name: X-Canary}, op: RegexMatch, value: y.*}]`))
	assertRouterError(t, r.SetMirrorRoute(ctx, ro, mirrorRoute), traffic.Unsupported, "setMirrorRoute", "does not mirror")

	must(t, "100%", r.SetWeight(ctx, ro, 100, nil))
	must(t, "complete: RemoveManagedRoutes", r.RemoveManagedRoutes(ctx, ro))
	must(t, "complete: 0", r.SetWeight(ctx, ro, 0, nil))
	check("complete", 0, nil)

	must(t, "second update at 30%", r.SetWeight(ctx, ro, 30, nil))
	setHeader("header route", headerRoute)
	check("30% with the header route", 30, apisixHeaderRoute(t, xCanaryExact))
	must(t, "abort: 0", r.SetWeight(ctx, ro, 0, nil))
	must(t, "abort: RemoveManagedRoutes", r.RemoveManagedRoutes(ctx, ro))
	check("aborted", 0, nil)
	setHeader("removing a header route that is gone", removeHeader)
	check("nothing to remove", 0, nil)

	assertRouterError(t, r.SetHeaderRoute(ctx, ro, &v1alpha1.SetHeaderRoute{Name: "mirror", Match: headerRoute.Match}),
		traffic.Conflict, "ApisixRoute", "/mirror", "not controlled by Rollout")
	for name, rv := range foreign {
		if got := objectVersion(t, c, apisixAPI, "ApisixRoute", ns, name); got != rv {
			t.Errorf("ApisixRoute %s, not the Rollout's, was written (resourceVersion %s, was %s)", name, got, rv)
		}
	}
}

// TestTrafficApisixRollout: the controller drives a Rollout with the APISIX router: red stable;
// blue at 20%, then 50% with the header route (deleted under the controller: put back);
// complete (the header route's ApisixRoute
// deleted, weight 0); green aborted at 50% (weight 0, the route deleted).
func TestTrafficApisixRollout(t *testing.T) {
	env := withController(t)
	_, c := trafficClient(t)
	argoRouterCRDs(t, env)
	ns := env.Namespace(t)
	trafficServices(t, c, ns, "colorapi")
	apisixObjects(t, c, ns)
	rc := routerCase{header: true,
		observe: func(t *testing.T, c client.Client, ns string) []string {
			return []string{fmt.Sprint(objectShape(t, c, apisixAPI, "ApisixRoute", ns, "colorapi")),
				fmt.Sprint(objectShape(t, c, apisixAPI, "ApisixRoute", ns, "header"))}
		},
		want: func(w int32, header, _ bool, _ string) []string {
			var hr map[string]any
			if header {
				hr = apisixHeaderRoute(t, xCanaryExact)
			}
			return []string{fmt.Sprint(apisixRoute(t, w)), fmt.Sprint(hr)}
		},
	}
	const red, blue, green = "colorapi:red", "colorapi:blue", "colorapi:green"
	steps := routedSteps(true)
	n := int32(len(steps))
	routedRollout(t, c, ns, red, v1alpha1.RolloutTrafficRouting{
		Apisix: &v1alpha1.ApisixTrafficRouting{Route: &v1alpha1.ApisixRoute{Name: "colorapi", Rules: []string{"colorapi-http"}}}}, steps)
	wait := func(point string, w routedWant) { t.Helper(); waitRouted(t, env, c, rc, ns, point, w) }
	paused := func(step int32, stable, sets string) snapshot {
		return snapshot{Phase: "Paused", Step: step, Stable: stable, Sets: sets, Message: "CanaryPauseStep"}
	}
	wait("created", routedWant{snapshot: snapshot{Phase: "Healthy", Step: n, Stable: red, Sets: red + "=5/5"}, canary: red, stable: red})
	setImage(t, env, ns, "colorapi", blue)
	wait("blue at 20%", routedWant{snapshot: paused(1, red, blue+"=1/1 "+red+"=5/5"), weight: 20, canary: blue, stable: red})
	promote(t, env, ns, "colorapi", false)
	at50 := routedWant{snapshot: paused(n-1, red, blue+"=3/3 "+red+"=5/5"), weight: 50, header: true, canary: blue, stable: red}
	wait("blue at 50% with the header route", at50)
	// the header route's ApisixRoute deleted under the controller: the router object watch sees
	// it, and the reconcile puts it back
	must(t, "deleting the header route", c.Delete(context.Background(), unstructuredRef(apisixAPI, "ApisixRoute", ns, "header")))
	wait("the header route put back", at50)
	// the event says it was the watch: a reconcile for another reason would put the route back
	// too, without knowing it had been deleted
	deleted := fmt.Sprintf("ApisixRoute %s/header was deleted under Vane; it was created again", ns)
	waitUntil(t, putBackWithin, "the RouterObjectChanged event", func() (bool, string) {
		var msgs []string
		for _, e := range rolloutEventList(t, env, ns, "colorapi") {
			if e.Reason == "RouterObjectChanged" && e.Message == deleted {
				return true, ""
			}
			msgs = append(msgs, e.Reason+": "+e.Message)
		}
		return false, strings.Join(msgs, " | ")
	})
	promote(t, env, ns, "colorapi", false)
	wait("blue complete", routedWant{snapshot: snapshot{Phase: "Healthy", Step: n, Stable: blue}, canary: blue, stable: blue})

	setImage(t, env, ns, "colorapi", green)
	wait("green at 20%", routedWant{snapshot: paused(1, blue, ""), weight: 20, canary: green, stable: blue})
	promote(t, env, ns, "colorapi", false)
	wait("green at 50% with the header route", routedWant{snapshot: paused(n-1, blue, ""), weight: 50, header: true, canary: green, stable: blue})
	abort(t, env, ns, "colorapi")
	wait("green aborted", routedWant{snapshot: snapshot{Phase: "Degraded", Step: anyStep, Stable: blue,
		Message: "RolloutAborted: Rollout aborted update to revision 3"}, canary: green, stable: blue})
	if reasons := eventReasons(t, env, ns, "colorapi"); !slices.Contains(reasons, "TrafficWeightUpdated") {
		t.Errorf("no TrafficWeightUpdated event: %v", reasons)
	}
}
