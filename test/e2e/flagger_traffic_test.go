package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/gate"
	"github.com/vanedev/vane/internal/testenv"
)

// tokens is a confirm-traffic-increase webhook that says yes as many times as it was allowed to.
type tokens struct {
	mu sync.Mutex
	n  int
}

func (k *tokens) allow() { k.mu.Lock(); k.n++; k.mu.Unlock() }

func (k *tokens) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.n == 0 {
		http.Error(w, "not yet", http.StatusForbidden)
		return
	}
	k.n--
}

// servePods plays the pods behind a Service Flagger made: an HTTP server on its ClusterIP:port
// that answers with the image tag of the Deployment the Service selects now (app=<deployment>).
func servePods(t *testing.T, env *testenv.Env, ns, svcName string) {
	t.Helper()
	ctx := context.Background()
	var svc corev1.Service
	must(t, "reading Service "+svcName, env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: svcName}, &svc))
	ln, err := net.Listen("tcp", net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(svc.Spec.Ports[0].Port))))
	if err != nil {
		t.Fatalf("listening on Service %s: %v", svcName, err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s corev1.Service
		var d appsv1.Deployment
		w.Header().Set("Content-Type", "application/json")
		if env.Client.Get(r.Context(), client.ObjectKey{Namespace: ns, Name: svcName}, &s) != nil ||
			env.Client.Get(r.Context(), client.ObjectKey{Namespace: ns, Name: s.Spec.Selector["app"]}, &d) != nil ||
			ptr.Deref(d.Spec.Replicas, 1) == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "no pods"})
			return
		}
		img := d.Spec.Template.Spec.Containers[0].Image
		_ = json.NewEncoder(w).Encode(map[string]string{"color": img[strings.LastIndexByte(img, ':')+1:], "status": "ok"})
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// TestFlaggerGatewayAPIRealTraffic: a Canary with provider gatewayapi moves real requests
// through Traefik by stepWeight. colorapi runs red; blue goes 20% then 40% (maxWeight) and is
// promoted (all requests to blue); green goes to 20% and is rolled back (no request to green).
// A confirm-traffic-increase webhook holds each step until the test has measured it.
func TestFlaggerGatewayAPIRealTraffic(t *testing.T) {
	env := withController(t)
	_, c := trafficClient(t)
	bin := traefikBinary(t, env.RepoRoot)
	ns := env.Namespace(t)
	ctx := context.Background()
	steps := &tokens{}
	serveOnService(t, env, ns, "steps", steps)
	serveOnService(t, env, ns, "flagger-loadtester", gate.NewHandler(&gate.ConfigMapStore{Client: env.Client}))

	web, api := freePort(t), freePort(t)
	gc := &gatewayv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "vane-traefik-" + ns},
		Spec: gatewayv1.GatewayClassSpec{ControllerName: "traefik.io/gateway-controller"}}
	must(t, "GatewayClass", c.Create(ctx, gc))
	t.Cleanup(func() { _ = c.Delete(context.Background(), gc) })
	gw := &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "traefik", Namespace: ns},
		Spec: gatewayv1.GatewaySpec{GatewayClassName: gatewayv1.ObjectName(gc.Name), Listeners: []gatewayv1.Listener{{
			Name: "web", Port: gatewayv1.PortNumber(web), Protocol: gatewayv1.HTTPProtocolType}}}}
	must(t, "Gateway", c.Create(ctx, gw))

	dep := apiGatewayDeployment(ns, "colorapi:red")
	dep.Name, dep.Labels["app"] = "colorapi", "colorapi"
	dep.Spec.Selector.MatchLabels["app"], dep.Spec.Template.Labels["app"] = "colorapi", "colorapi"
	must(t, "Deployment", env.Client.Create(ctx, dep))
	must(t, "Canary", env.Client.Create(ctx, colorapiCanary(ns)))
	waitCanary(t, env, ns, "colorapi", 60*time.Second, "Initialized", phaseIs(flaggerv1.PhaseInitialized))
	servePods(t, env, ns, "colorapi-primary")
	servePods(t, env, ns, "colorapi-canary")
	tf := startTraefik(t, env, bin, ns, web, api)

	serves := func(weight int) {
		t.Helper()
		waitUntil(t, 20*time.Second, fmt.Sprintf("Traefik to serve canary %d%%", weight), func() (bool, string) {
			cw, pw, desc := tf.weightsOf(t, ns+"-colorapi-canary-", ns+"-colorapi-primary-")
			return cw == weight && pw == 100-weight, desc
		})
	}
	expect := func(point, color string, want, tolerance int) {
		t.Helper()
		got := tf.send(t, 200, nil)
		t.Logf("%s: %v", point, got)
		if d := got[color] - want; got["error"] > 0 || d < -tolerance || d > tolerance {
			t.Fatalf("%s: %d of 200 requests went to %s, want %d±%d (%v)", point, got[color], color, want, tolerance, got)
		}
	}
	serves(0)
	expect("red", "red", 200, 0)

	setDeploymentImage(t, env, ns, "colorapi", "colorapi:blue")
	waitCanary(t, env, ns, "colorapi", 30*time.Second, "Progressing", phaseIs(flaggerv1.PhaseProgressing))
	for _, w := range []int{20, 40} {
		steps.allow()
		waitCanary(t, env, ns, "colorapi", 30*time.Second, fmt.Sprintf("weight %d", w),
			func(cd *flaggerv1.Canary) bool { return cd.Status.CanaryWeight == int32(w) })
		serves(w)
		expect(fmt.Sprintf("blue at %d%%", w), "blue", 2*w, 15)
	}
	steps.allow()
	waitCanary(t, env, ns, "colorapi", 60*time.Second, "Succeeded", phaseIs(flaggerv1.PhaseSucceeded))
	serves(0)
	expect("blue promoted", "blue", 200, 0)

	setDeploymentImage(t, env, ns, "colorapi", "colorapi:green")
	waitCanary(t, env, ns, "colorapi", 30*time.Second, "Progressing", phaseIs(flaggerv1.PhaseProgressing))
	steps.allow()
	waitCanary(t, env, ns, "colorapi", 30*time.Second, "weight 20",
		func(cd *flaggerv1.Canary) bool { return cd.Status.CanaryWeight == 20 })
	serves(20)
	expect("green at 20%", "green", 40, 15)
	postGateFor(t, env, ns, "colorapi", "/rollback/open")
	waitCanary(t, env, ns, "colorapi", 30*time.Second, "Failed", phaseIs(flaggerv1.PhaseFailed))
	serves(0)
	expect("green rolled back", "blue", 200, 0)
}

// colorapiCanary is a progressive Canary of colorapi through the Gateway "traefik": 20% steps up
// to 40%, each held by the steps webhook, rolled back by vane gate's rollback switch.
func colorapiCanary(ns string) *flaggerv1.Canary {
	return &flaggerv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "colorapi"},
		Spec: flaggerv1.CanarySpec{
			Provider:  "gatewayapi:v1",
			TargetRef: flaggerv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "colorapi"},
			Service:   flaggerv1.CanaryService{Port: 8080, GatewayRefs: []flaggerv1.GatewayRef{{Name: "traefik", Namespace: ptr.To(gatewayv1.Namespace(ns))}}},
			Analysis: &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: ptr.To[int32](5),
				StepWeight: ptr.To[int32](20), MaxWeight: ptr.To[int32](40),
				Webhooks: []flaggerv1.CanaryWebhook{
					{Name: "step", Type: flaggerv1.HookConfirmTrafficIncrease, URL: "http://steps." + ns + "/"},
					{Name: "rollback", Type: flaggerv1.HookRollback, URL: "http://flagger-loadtester." + ns + "/rollback/check"},
				}},
		},
	}
}

// TestFlaggerIstioWeights: an istio Canary's VirtualService carries the weights of each step,
// held by the steps webhook, and all of the traffic to the primary after promotion.
func TestFlaggerIstioWeights(t *testing.T) {
	t.Parallel()
	env := withController(t)
	trafficClient(t) // the Istio CRDs
	ns := env.Namespace(t)
	ctx := context.Background()
	steps := &tokens{}
	serveOnService(t, env, ns, "steps", steps)
	serveOnService(t, env, ns, "flagger-loadtester", gate.NewHandler(&gate.ConfigMapStore{Client: env.Client}))
	dep := apiGatewayDeployment(ns, "colorapi:red")
	dep.Name, dep.Labels["app"] = "colorapi", "colorapi"
	dep.Spec.Selector.MatchLabels["app"], dep.Spec.Template.Labels["app"] = "colorapi", "colorapi"
	must(t, "Deployment", env.Client.Create(ctx, dep))
	cd := colorapiCanary(ns)
	cd.Spec.Provider, cd.Spec.Service.GatewayRefs = "istio", nil
	cd.Spec.Service.Hosts = []string{"colorapi.example.com"}
	must(t, "Canary", env.Client.Create(ctx, cd))
	waitCanary(t, env, ns, "colorapi", 60*time.Second, "Initialized", phaseIs(flaggerv1.PhaseInitialized))
	if got := vsWeights(t, env, ns); got != "colorapi-primary=100 colorapi-canary=0" {
		t.Fatalf("VirtualService after initialization: %s", got)
	}
	setDeploymentImage(t, env, ns, "colorapi", "colorapi:blue")
	waitCanary(t, env, ns, "colorapi", 30*time.Second, "Progressing", phaseIs(flaggerv1.PhaseProgressing))
	for _, w := range []int{20, 40} {
		steps.allow()
		waitCanary(t, env, ns, "colorapi", 30*time.Second, fmt.Sprintf("weight %d", w),
			func(cd *flaggerv1.Canary) bool { return cd.Status.CanaryWeight == int32(w) })
		if got, want := vsWeights(t, env, ns), fmt.Sprintf("colorapi-primary=%d colorapi-canary=%d", 100-w, w); got != want {
			t.Errorf("VirtualService at %d%%: %s, want %s", w, got, want)
		}
	}
	steps.allow()
	waitCanary(t, env, ns, "colorapi", 60*time.Second, "Succeeded", phaseIs(flaggerv1.PhaseSucceeded))
	if got := vsWeights(t, env, ns); got != "colorapi-primary=100 colorapi-canary=0" {
		t.Errorf("VirtualService after promotion: %s", got)
	}
}

// vsWeights renders the route destinations of the VirtualService colorapi as host=weight.
func vsWeights(t *testing.T, env *testenv.Env, ns string) string {
	t.Helper()
	vs := &unstructured.Unstructured{}
	vs.SetAPIVersion("networking.istio.io/v1alpha3")
	vs.SetKind("VirtualService")
	must(t, "VirtualService", env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "colorapi"}, vs))
	routes, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	var out []string
	for _, r := range routes {
		dests, _, _ := unstructured.NestedSlice(r.(map[string]any), "route")
		for _, d := range dests {
			host, _, _ := unstructured.NestedString(d.(map[string]any), "destination", "host")
			w, _, _ := unstructured.NestedInt64(d.(map[string]any), "weight")
			out = append(out, fmt.Sprintf("%s=%d", host, w))
		}
	}
	return strings.Join(out, " ")
}
