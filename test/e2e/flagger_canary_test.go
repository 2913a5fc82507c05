package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/flagger/webhook"
	"github.com/vanedev/vane/internal/gate"
	"github.com/vanedev/vane/internal/testenv"
)

const seedCanary = "examples/seeds/flagger-api-gateway-canary.yaml"

// serveOnService creates a ClusterIP Service ns/name on port 80 and serves h on its ClusterIP
// (a loopback address on the local control plane), where the controller's resolver sends
// http://name.ns/ requests.
func serveOnService(t *testing.T, env *testenv.Env, ns, name string, h http.Handler) {
	t.Helper()
	ctx := context.Background()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	if err := env.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(svc.Spec.ClusterIP, "80"))
	if err != nil {
		t.Fatalf("listening on Service %s's ClusterIP: %v", name, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// eventRecorder keeps the payloads of the event webhook calls it gets.
type eventRecorder struct {
	mu       sync.Mutex
	payloads []webhook.Payload
}

func (e *eventRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p webhook.Payload
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	e.payloads = append(e.payloads, p)
	e.mu.Unlock()
}

func (e *eventRecorder) messages() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, p := range e.payloads {
		out = append(out, p.Metadata["eventMessage"])
	}
	return out
}

// apiGatewayDeployment is the existing Deployment seed 003's Canary targets.
func apiGatewayDeployment(ns, image string) *appsv1.Deployment {
	labels := map[string]string{"app": "api-gateway"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api-gateway", Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "api", Image: image, Ports: []corev1.ContainerPort{
					{Name: "http", ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9797}}}}}}},
	}
}

// seedCanaryIn reads seed 003's Canary, moves it to ns and lets mutate change it.
func seedCanaryIn(t *testing.T, env *testenv.Env, ns string, mutate func(*flaggerv1.Canary)) *flaggerv1.Canary {
	t.Helper()
	docs := loadManifests(t, env, seedCanary)
	var cd flaggerv1.Canary
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(docs[0].Object, &cd); err != nil {
		t.Fatal(err)
	}
	cd.Namespace = ns
	for i, w := range cd.Spec.Analysis.Webhooks {
		cd.Spec.Analysis.Webhooks[i].URL = strings.Replace(w.URL, ".training-development/", "."+ns+"/", 1)
	}
	if mutate != nil {
		mutate(&cd)
	}
	return &cd
}

// canaryEnv starts the api-gateway Deployment and its Service (as seed 003's console makes
// them), a gate and a chat recorder in ns.
func canaryEnv(t *testing.T, env *testenv.Env, ns string) *eventRecorder {
	t.Helper()
	if err := env.Client.Create(context.Background(), apiGatewayDeployment(ns, "registry.example/api-gateway:1.0")); err != nil {
		t.Fatal(err)
	}
	apex := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api-gateway"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "api-gateway"}, Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}}}
	if err := env.Client.Create(context.Background(), apex); err != nil {
		t.Fatal(err)
	}
	serveOnService(t, env, ns, "flagger-loadtester", gate.NewHandler(&gate.ConfigMapStore{Client: env.Client}))
	rec := &eventRecorder{}
	serveOnService(t, env, ns, "chat", rec)
	return rec
}

// shortInterval points the event webhook at the chat recorder and ticks every second.
func shortInterval(ns string) func(*flaggerv1.Canary) {
	return func(cd *flaggerv1.Canary) {
		cd.Spec.Analysis.Interval = "1s"
		for i, w := range cd.Spec.Analysis.Webhooks {
			if w.Type == flaggerv1.HookEvent {
				cd.Spec.Analysis.Webhooks[i].URL = "http://chat." + ns + "/hook"
			}
		}
	}
}

// waitCanary waits until cond holds for the Canary and returns it.
func waitCanary(t *testing.T, env *testenv.Env, ns, name string, timeout time.Duration, what string,
	cond func(*flaggerv1.Canary) bool) *flaggerv1.Canary {
	t.Helper()
	var cd flaggerv1.Canary
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true,
		func(ctx context.Context) (bool, error) {
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cd); err != nil {
				return false, nil //nolint:nilerr // not there yet
			}
			return cond(&cd), nil
		})
	if err != nil {
		t.Fatalf("canary %s/%s: %s: not reached in %s; status %+v\nevents:\n%s", ns, name, what, timeout, cd.Status,
			strings.Join(canaryEvents(t, env, ns, name), "\n"))
	}
	return &cd
}

func phaseIs(p flaggerv1.CanaryPhase) func(*flaggerv1.Canary) bool {
	return func(cd *flaggerv1.Canary) bool { return cd.Status.Phase == p }
}

// canaryEvents are the messages of the Canary's events, oldest first.
func canaryEvents(t *testing.T, env *testenv.Env, ns, name string) []string {
	t.Helper()
	var list corev1.EventList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "Canary" && e.InvolvedObject.Name == name {
			out = append(out, fmt.Sprintf("%s %s x%d", e.Type, e.Message, e.Count))
		}
	}
	return out
}

func deployment(t *testing.T, env *testenv.Env, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func setDeploymentImage(t *testing.T, env *testenv.Env, ns, name, image string) {
	t.Helper()
	d := deployment(t, env, ns, name)
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Template.Spec.Containers[0].Image = image
	if err := env.Client.Patch(context.Background(), d, patch); err != nil {
		t.Fatal(err)
	}
}

// postGateOf posts a Flagger payload for the canary to the gate at path.
func postGateOf(t *testing.T, env *testenv.Env, ns, path string) {
	postGateFor(t, env, ns, "api-gateway", path)
}

// postGateFor posts a Flagger payload for the canary ns/name to the gate at path.
func postGateFor(t *testing.T, env *testenv.Env, ns, name, path string) {
	t.Helper()
	var svc corev1.Service
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "flagger-loadtester"}, &svc); err != nil {
		t.Fatal(err)
	}
	if got := postGate(t, "http://"+svc.Spec.ClusterIP, path, flaggerPayload(t, ns, name)); got.Code != http.StatusAccepted && got.Code != http.StatusOK {
		t.Fatalf("POST %s: %+v", path, got)
	}
}

func image(d *appsv1.Deployment) string { return d.Spec.Template.Spec.Containers[0].Image }

func replicas(d *appsv1.Deployment) int32 { return ptr.Deref(d.Spec.Replicas, 1) }
