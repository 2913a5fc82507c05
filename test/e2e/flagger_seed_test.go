package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/testenv"
)

// TestFlaggerSeed003 runs seed 003's api-gateway Canary as written (its event webhook pointed at
// a loopback recorder, its interval at 1s): initialization, a new image waiting at the
// confirm-rollout gate until it opens, ten iterations, the confirm-promotion gate refusing
// (/gate/halt) until it is changed to /gate/approve, then promotion.
func TestFlaggerSeed003(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	rec := canaryEnv(t, env, ns)
	cd := seedCanaryIn(t, env, ns, shortInterval(ns))
	if err := env.Client.Create(context.Background(), cd); err != nil {
		t.Fatal(err)
	}

	cd = waitCanary(t, env, ns, "api-gateway", 60*time.Second, "Initialized", phaseIs(flaggerv1.PhaseInitialized))
	checkInitialized(t, env, ns, cd)

	setDeploymentImage(t, env, ns, "api-gateway", "registry.example/api-gateway:2.0")
	waitCanary(t, env, ns, "api-gateway", 30*time.Second, "Waiting at confirm-rollout", phaseIs(flaggerv1.PhaseWaiting))
	time.Sleep(3 * time.Second) // three ticks behind the closed gate
	if cd := waitCanary(t, env, ns, "api-gateway", 10*time.Second, "still Waiting", phaseIs(flaggerv1.PhaseWaiting)); cd.Status.Iterations != 0 {
		t.Errorf("iterations while waiting = %d", cd.Status.Iterations)
	}
	if r := replicas(deployment(t, env, ns, "api-gateway")); r != 0 {
		t.Errorf("the canary was scaled to %d behind the closed gate", r)
	}

	postGateOf(t, env, ns, "/gate/open")
	waitCanary(t, env, ns, "api-gateway", 30*time.Second, "Progressing", phaseIs(flaggerv1.PhaseProgressing))
	if r := replicas(deployment(t, env, ns, "api-gateway")); r != 2 {
		t.Errorf("canary replicas after the gate opened = %d, want 2 (the primary's)", r)
	}
	seen := map[int32]bool{}
	waitCanary(t, env, ns, "api-gateway", 60*time.Second, "WaitingPromotion", func(cd *flaggerv1.Canary) bool {
		seen[cd.Status.Iterations] = true
		return cd.Status.Phase == flaggerv1.PhaseWaitingPromotion
	})
	for i := int32(1); i <= 9; i++ {
		if !seen[i] && !seen[i+1] {
			t.Errorf("iteration %d never seen (seen %v)", i, seen)
		}
	}
	time.Sleep(3 * time.Second)
	waitCanary(t, env, ns, "api-gateway", 10*time.Second, "still WaitingPromotion", phaseIs(flaggerv1.PhaseWaitingPromotion))
	if img := image(deployment(t, env, ns, "api-gateway-primary")); img != "registry.example/api-gateway:1.0" {
		t.Fatalf("the primary was changed to %s before promotion was confirmed", img)
	}

	approve(t, env, ns)
	waitCanary(t, env, ns, "api-gateway", 60*time.Second, "Succeeded", phaseIs(flaggerv1.PhaseSucceeded))
	if img := image(deployment(t, env, ns, "api-gateway-primary")); img != "registry.example/api-gateway:2.0" {
		t.Errorf("primary image after promotion = %s", img)
	}
	if r := replicas(deployment(t, env, ns, "api-gateway")); r != 0 {
		t.Errorf("canary replicas after promotion = %d, want 0", r)
	}
	checkEventWebhooks(t, rec)
	t.Logf("events of the Canary:\n%s", strings.Join(canaryEvents(t, env, ns, "api-gateway"), "\n"))
}

// checkInitialized: the primary Deployment, the three Services and the target scaled to zero.
func checkInitialized(t *testing.T, env *testenv.Env, ns string, cd *flaggerv1.Canary) {
	t.Helper()
	p := deployment(t, env, ns, "api-gateway-primary")
	if diff := cmp.Diff(map[string]string{"app": "api-gateway-primary"}, p.Spec.Selector.MatchLabels); diff != "" {
		t.Errorf("primary selector (-want +got):\n%s", diff)
	}
	if replicas(p) != 2 || image(p) != "registry.example/api-gateway:1.0" {
		t.Errorf("primary: %d replicas of %s, want 2 of 1.0", replicas(p), image(p))
	}
	if r := replicas(deployment(t, env, ns, "api-gateway")); r != 0 {
		t.Errorf("target replicas = %d, want 0", r)
	}
	for name, selects := range map[string]string{"api-gateway": "api-gateway-primary",
		"api-gateway-primary": "api-gateway-primary", "api-gateway-canary": "api-gateway"} {
		var svc corev1.Service
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
			t.Errorf("Service %s: %v", name, err)
			continue
		}
		if got := svc.Spec.Selector["app"]; got != selects {
			t.Errorf("Service %s selects app=%s, want %s", name, got, selects)
		}
		var ports []string
		for _, p := range svc.Spec.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d>%s", p.Name, p.Port, p.TargetPort.String()))
		}
		if diff := cmp.Diff([]string{"http:8080>8080", "metrics:9797>9797"}, ports); diff != "" {
			t.Errorf("Service %s ports (portDiscovery) (-want +got):\n%s", name, diff)
		}
	}
	if c := cd.Status.Conditions; len(c) != 1 || c[0].Type != "Promoted" || c[0].Status != "True" ||
		c[0].Message != "Deployment initialization completed." {
		t.Errorf("conditions = %+v", c)
	}
}

// approve changes the confirm-promotion webhook from /gate/halt to /gate/approve.
func approve(t *testing.T, env *testenv.Env, ns string) {
	t.Helper()
	var cd flaggerv1.Canary
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "api-gateway"}, &cd); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(cd.DeepCopy())
	for i, w := range cd.Spec.Analysis.Webhooks {
		if w.Type == flaggerv1.HookConfirmPromotion {
			cd.Spec.Analysis.Webhooks[i].URL = strings.Replace(w.URL, "/gate/halt", "/gate/approve", 1)
		}
	}
	if err := env.Client.Patch(context.Background(), &cd, patch); err != nil {
		t.Fatal(err)
	}
}

// checkEventWebhooks: the chat recorder got the analysis' events, each with the webhook's text.
func checkEventWebhooks(t *testing.T, rec *eventRecorder) {
	t.Helper()
	msgs := rec.messages()
	for _, want := range []string{"Initialization done! api-gateway.", "Halt api-gateway.", "New revision detected! Scaling up api-gateway.",
		"Advance api-gateway.", "Halt api-gateway.", "Confirm-promotion check promote passed", "Copying api-gateway.",
		"Promotion completed! Scaling down api-gateway."} {
		if !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, want) }) {
			t.Errorf("no event webhook call starting with %q among %d calls", want, len(msgs))
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, p := range rec.payloads {
		if p.Metadata["text"] != "Ready for promotion" || p.Name != "api-gateway" || p.Metadata["eventType"] == "" {
			t.Errorf("event payload %+v lacks the webhook's metadata", p)
			break
		}
	}
}
