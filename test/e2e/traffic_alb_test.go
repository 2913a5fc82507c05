//go:build linux

package e2e

// The ALB router end to end, driven by the Vane controller on the local control plane (no
// AWS: the Ingress annotations are what the AWS Load Balancer Controller reads): the exact
// annotations Argo Rollouts writes after each step, header routes, abort, completion,
// ping-pong's swap at promotion, a foreign Ingress left alone, and the target group
// verification against the ELBv2 stand-in (internal/traffic/alb/albtest).

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/controller"
	"github.com/vanedev/vane/internal/controller/rollout"
	"github.com/vanedev/vane/internal/testenv"
	"github.com/vanedev/vane/internal/traffic/alb/albtest"
)

const (
	albPrefix   = "alb.ingress.kubernetes.io/"
	albManaged  = "rollouts.argoproj.io/managed-alb-annotations"
	albUseAnnot = "use-annotation"
)

// albIngress is an Ingress of class alb whose path /* goes to the action of root.
func albIngress(ns, name, root string, ann map[string]string) *networkingv1.Ingress {
	all := map[string]string{"kubernetes.io/ingress.class": "alb", "alb.ingress.kubernetes.io/scheme": "internet-facing"}
	for k, v := range ann {
		all[k] = v
	}
	pt := networkingv1.PathTypeImplementationSpecific
	return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: all},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "colorapi.local", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/*", PathType: &pt,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: root,
					Port: networkingv1.ServiceBackendPort{Name: albUseAnnot}}}}}}}}}}}
}

// albLines renders an Ingress as lines: its annotations (values as they are, byte for byte)
// and its paths.
func albLines(c client.Client, ns, name string) []string {
	var ing networkingv1.Ingress
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &ing); err != nil {
		return []string{err.Error()}
	}
	var out []string
	for k, v := range ing.Annotations {
		out = append(out, k+"="+v)
	}
	for _, r := range ing.Spec.Rules {
		for _, p := range r.HTTP.Paths {
			out = append(out, fmt.Sprintf("path %s%s -> %s:%s", r.Host, p.Path, p.Backend.Service.Name, p.Backend.Service.Port.Name))
		}
	}
	return out // in order: the paths' order matters
}

// albAction is Argo's forward action: canary w, stable the rest, at port.
func albAction(canary, stable string, port, w int32) string {
	return fmt.Sprintf(`{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"%s","ServicePort":"%d","Weight":%d},{"ServiceName":"%s","ServicePort":"%d","Weight":%d}]}}`,
		canary, port, w, stable, port, 100-w)
}

// albWant is what the Ingress "web" of albCase says at canary weight w, with or without the
// header route "header" (X-Canary: yes).
func albWant(root string, w int32, header bool) []string {
	action := albPrefix + "actions." + root
	out := []string{"kubernetes.io/ingress.class=alb", albPrefix + "scheme=internet-facing", action + "=" + albAction("canary", "stable", 8080, w)}
	if !header {
		out = append(out, albManaged+`={"colorapi":["`+action+`"]}`)
		return append(sortedLines(out), "path colorapi.local/* -> "+root+":"+albUseAnnot)
	}
	out = append(out, albPrefix+`actions.header={"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary","ServicePort":"8080","Weight":100}]}}`,
		albPrefix+`conditions.header=[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Canary","values":["yes"]}}]`,
		albManaged+`={"colorapi":["`+action+`","`+albPrefix+`actions.header","`+albPrefix+`conditions.header"]}`)
	return append(sortedLines(out), "path colorapi.local/* -> header:"+albUseAnnot, "path colorapi.local/* -> "+root+":"+albUseAnnot)
}

// albCase is the ALB router in the routerCase frame of traffic_rollout_test.go: the Ingress
// "web", its path to the stable Service's action, servicePort 8080.
func albCase() routerCase {
	return routerCase{header: true,
		setup: func(t *testing.T, c client.Client, ns string) v1alpha1.RolloutTrafficRouting {
			must(t, "Ingress web", c.Create(context.Background(), albIngress(ns, "web", "stable", nil)))
			return v1alpha1.RolloutTrafficRouting{ALB: &v1alpha1.ALBTrafficRouting{Ingress: "web", ServicePort: 8080}}
		},
		observe: func(t *testing.T, c client.Client, ns string) []string {
			l := albLines(c, ns, "web")
			var ann, paths []string
			for _, s := range l {
				if strings.HasPrefix(s, "path ") {
					paths = append(paths, s)
				} else {
					ann = append(ann, s)
				}
			}
			return append(sortedLines(ann), paths...)
		},
		want: func(w int32, header, _ bool, _ string) []string { return albWant("stable", w, header) },
	}
}

// TestTrafficALB drives a Rollout through the ALB router: red stable (the action at 0/100);
// blue at 20%, promoted to 50% with the header route (its action, its conditions and its path
// first), then complete (0/100 through the stable Service, the route gone); green aborted at
// 20% (weight 0, routes gone). Another Ingress of class alb that no Rollout names is never
// written.
func TestTrafficALB(t *testing.T) {
	env := withController(t)
	_, c := trafficClient(t)
	ns := env.Namespace(t)
	const red, blue, green = "colorapi:red", "colorapi:blue", "colorapi:green"
	trafficServices(t, c, ns, "colorapi")
	foreign := albIngress(ns, "other", "stable", map[string]string{albPrefix + "actions.stable": "{}"})
	must(t, "Ingress other", c.Create(context.Background(), foreign))
	rc := albCase()
	steps := routedSteps(true)
	n := int32(len(steps))
	routedRollout(t, c, ns, red, rc.setup(t, c, ns), steps)
	wait := func(point string, w routedWant) { t.Helper(); waitRouted(t, env, c, rc, ns, point, w) }
	paused := func(step int32, stable, sets string) snapshot {
		return snapshot{Phase: "Paused", Step: step, Stable: stable, Sets: sets, Message: "CanaryPauseStep"}
	}

	wait("created", routedWant{snapshot: snapshot{Phase: "Healthy", Step: n, Stable: red, Sets: red + "=5/5"}, canary: red, stable: red})
	setImage(t, env, ns, "colorapi", blue)
	wait("blue at 20%", routedWant{snapshot: paused(1, red, blue+"=1/1 "+red+"=5/5"), weight: 20, canary: blue, stable: red})
	promote(t, env, ns, "colorapi", false)
	wait("blue at 50% with the header route", routedWant{snapshot: paused(n-1, red, blue+"=3/3 "+red+"=5/5"), weight: 50, header: true,
		canary: blue, stable: red})
	promote(t, env, ns, "colorapi", false)
	wait("blue complete", routedWant{snapshot: snapshot{Phase: "Healthy", Step: n, Stable: blue, Sets: anySets}, canary: blue, stable: blue})

	setImage(t, env, ns, "colorapi", green)
	wait("green at 20%", routedWant{snapshot: paused(1, blue, anySets), weight: 20, canary: green, stable: blue})
	abort(t, env, ns, "colorapi")
	wait("green aborted", routedWant{snapshot: snapshot{Phase: "Degraded", Step: anyStep, Stable: blue, Sets: anySets,
		Message: "RolloutAborted: Rollout aborted update to revision 3"}, canary: green, stable: blue})

	var got networkingv1.Ingress
	must(t, "reading Ingress other", c.Get(context.Background(), client.ObjectKeyFromObject(foreign), &got))
	if got.ResourceVersion != foreign.ResourceVersion {
		t.Errorf("the Ingress no Rollout names was written: %v", got.Annotations)
	}
}

// anySets in a wanted snapshot matches any ReplicaSets (the scale-down delays are asserted by
// the other routers' scenario).
const anySets = ""

// TestTrafficALBPingPong: with pingPong (ping-service, pong-service) and rootService, the
// first release makes ping stable (root's action: pong 0, ping 100); an update points pong at
// the new pods and moves 25% to it; at promotion the roles swap (status.canary.stablePingPong
// pong, the action pong 100, ping 0), with ping still selecting the old pods; the next update
// moves ping to the new pods, and its promotion swaps back.
func TestTrafficALBPingPong(t *testing.T) {
	env := withController(t)
	_, c := trafficClient(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	for _, name := range []string{"ping-service", "pong-service"} {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "colorapi"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
		must(t, "Service "+name, c.Create(ctx, svc))
	}
	must(t, "Ingress web", c.Create(ctx, albIngress(ns, "web", "root", nil)))
	ro := newTrafficRollout(ns, "colorapi", v1alpha1.RolloutTrafficRouting{ALB: &v1alpha1.ALBTrafficRouting{Ingress: "web", RootService: "root", ServicePort: 80}})
	cs := ro.Spec.Strategy.Canary
	cs.CanaryService, cs.StableService = "", ""
	cs.PingPong = &v1alpha1.PingPongSpec{PingService: "ping-service", PongService: "pong-service"}
	cs.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](25)}, {Pause: &v1alpha1.RolloutPause{}}}
	cs.ScaleDownDelaySeconds = ptr.To[int32](2)
	ro.Spec.Template.Spec.Containers[0].Image = "colorapi:red"
	must(t, "Rollout", c.Create(ctx, ro))

	action := func(canary, stable string, w int32) string {
		return fmt.Sprintf(`{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"%s","ServicePort":"80","Weight":%d},{"ServiceName":"%s","ServicePort":"80","Weight":%d}]}}`,
			canary, w, stable, 100-w)
	}
	check := func(point, stablePP, act, ping, pong string) {
		t.Helper()
		waitUntil(t, waitLong, point, func() (bool, string) {
			_, got, err := observe(ctx, env, ns, "colorapi")
			if err != nil {
				return false, err.Error()
			}
			images := map[string]string{} // hash -> image
			var sets appsv1.ReplicaSetList
			if err := c.List(ctx, &sets, client.InNamespace(ns)); err != nil {
				return false, err.Error()
			}
			for _, rs := range sets.Items {
				images[rs.Labels[v1alpha1.PodTemplateHashLabel]] = rs.Spec.Template.Spec.Containers[0].Image
			}
			img := func(svc string) string {
				if i, ok := images[serviceHash(t, env, ns, svc)]; ok {
					return i
				}
				return "hash " + serviceHash(t, env, ns, svc)
			}
			var ing networkingv1.Ingress
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &ing); err != nil {
				return false, err.Error()
			}
			desc := fmt.Sprintf("stablePingPong=%s action=%s ping->%s pong->%s", got.Status.Canary.StablePingPong,
				ing.Annotations[albPrefix+"actions.root"], img("ping-service"), img("pong-service"))
			return desc == fmt.Sprintf("stablePingPong=%s action=%s ping->%s pong->%s", stablePP, act, ping, pong), desc
		})
	}
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Healthy", Step: 2, Stable: "colorapi:red", Sets: "colorapi:red=5/5"})
	check("red released: ping stable", "ping", action("pong-service", "ping-service", 0), "colorapi:red", "hash ")

	setImage(t, env, ns, "colorapi", "colorapi:blue")
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Paused", Step: 1, Stable: "colorapi:red", Sets: anySets})
	check("blue at 25% through pong", "ping", action("pong-service", "ping-service", 25), "colorapi:red", "colorapi:blue")
	promote(t, env, ns, "colorapi", false)
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Healthy", Step: 2, Stable: "colorapi:blue", Sets: anySets})
	check("blue promoted: pong stable", "pong", action("ping-service", "pong-service", 0), "colorapi:red", "colorapi:blue")

	setImage(t, env, ns, "colorapi", "colorapi:green")
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Paused", Step: 1, Stable: "colorapi:blue", Sets: anySets})
	check("green at 25% through ping", "pong", action("ping-service", "pong-service", 25), "colorapi:green", "colorapi:blue")
	promote(t, env, ns, "colorapi", false)
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Healthy", Step: 2, Stable: "colorapi:green", Sets: anySets})
	check("green promoted: ping stable again", "ping", action("pong-service", "ping-service", 0), "colorapi:green", "colorapi:blue")
}

// TestTrafficALBVerifyTargetGroups runs a controller of its own with target group
// verification against the ELBv2 stand-in: the Ingress's status names the stand-in's load
// balancer. At 20% the step waits while AWS still forwards the canary 0 (TargetGroupUnverified,
// status.alb filled in), and completes once AWS forwards 20 (TargetGroupVerified), as Argo.
func TestTrafficALBVerifyTargetGroups(t *testing.T) {
	env := testenv.Get(t)
	_, c := trafficClient(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	const id = "alb-verify"
	lb := albtest.ForIngress(ns, "web", 8080, map[string]int32{"canary": 0, "stable": 100}, "canary", "stable")
	elb := albtest.Start(t, lb)
	startALBController(t, env, id, elb)

	trafficServices(t, c, ns, "colorapi")
	ing := albIngress(ns, "web", "stable", nil)
	must(t, "Ingress web", c.Create(ctx, ing))
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{Hostname: lb.DNSName}}
	must(t, "Ingress web status", c.Status().Update(ctx, ing))
	ro := newTrafficRollout(ns, "colorapi", v1alpha1.RolloutTrafficRouting{ALB: &v1alpha1.ALBTrafficRouting{Ingress: "web", ServicePort: 8080}})
	ro.Labels = map[string]string{v1alpha1.InstanceIDLabel: id}
	ro.Spec.Template.Spec.Containers[0].Image = "colorapi:red"
	must(t, "Rollout", c.Create(ctx, ro))
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Healthy", Step: 4, Stable: "colorapi:red", Sets: "colorapi:red=5/5"})

	setImage(t, env, ns, "colorapi", "colorapi:blue")
	// the canary is up and the action says 20, but AWS does not forward it yet: the step waits
	waitUntil(t, waitLong, "TargetGroupUnverified", func() (bool, string) {
		reasons := eventReasons(t, env, ns, "colorapi")
		return slices.Contains(reasons, "TargetGroupUnverified"), strings.Join(reasons, ",")
	})
	time.Sleep(3 * time.Second)
	got := waitState(t, env, ns, "colorapi", time.Second, snapshot{Phase: "Progressing", Step: 0, Stable: "colorapi:red", Sets: anySets})
	if w := got.Status.Canary.Weights; w == nil || w.Canary.Weight != 20 {
		t.Fatalf("weights %+v, want the canary at 20 while AWS catches up", w)
	}
	if a := got.Status.ALB; a == nil || a.LoadBalancer.ARN != lb.ARN || a.CanaryTargetGroup.ARN != lb.TargetGroups[0].ARN ||
		a.StableTargetGroup.ARN != lb.TargetGroups[1].ARN || a.Ingress != "web" || len(got.Status.ALBs) != 1 {
		t.Errorf("status.alb %+v, albs %+v: want the stand-in's load balancer and target groups", a, got.Status.ALBs)
	}

	elb.SetWeights(lb.DNSName, map[string]int32{"canary": 20, "stable": 80})
	waitState(t, env, ns, "colorapi", waitLong, snapshot{Phase: "Paused", Step: 1, Stable: "colorapi:red", Sets: anySets, Message: "CanaryPauseStep"})
	if reasons := eventReasons(t, env, ns, "colorapi"); !slices.Contains(reasons, "TargetGroupVerified") {
		t.Errorf("no TargetGroupVerified event: %v", reasons)
	}
	if calls := elb.Calls(); !slices.Contains(calls, "DescribeRules") {
		t.Errorf("the stand-in was not asked for the listener rules: %v", calls)
	}
}

// startALBController runs the rollout reconciler alone, for the Rollouts labelled id,
// verifying target groups with the stand-in, until the test ends.
func startALBController(t *testing.T, env *testenv.Env, id string, elb *albtest.ELB) {
	t.Helper()
	scheme, err := controller.Scheme()
	must(t, "scheme", err)
	cfg, err := env.ControllerIdentity()
	must(t, "controller identity", err)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	must(t, "manager", err)
	must(t, "rollout reconciler", rollout.Setup(mgr, 2, rollout.WithInstanceID(id),
		rollout.WithALB(rollout.ALBOptions{Verifier: elb.Verifier(t)})))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}
