package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/testenv"
)

// TestFlaggerLifecycle: config tracking, skipAnalysis, suspend and revertOnDeletion on seed 003's
// Canary without its gates.
func TestFlaggerLifecycle(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		before func(t *testing.T, env *testenv.Env, ns string)
		mutate func(*flaggerv1.Canary)
		check  func(t *testing.T, env *testenv.Env, ns string)
	}{
		"autoscalerRef gets a primary HPA": {
			before: func(t *testing.T, env *testenv.Env, ns string) {
				must(t, "HPA", env.Client.Create(context.Background(), &autoscalingv2.HorizontalPodAutoscaler{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api-gateway"},
					Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To[int32](2), MaxReplicas: 4,
						ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "api-gateway"}}}))
			},
			mutate: func(cd *flaggerv1.Canary) {
				cd.Spec.AutoscalerRef = &flaggerv1.AutoscalerRef{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler",
					Name: "api-gateway", PrimaryScalerReplicas: &flaggerv1.ScalerReplicas{MaxReplicas: ptr.To[int32](6)}}
			},
			check: func(t *testing.T, env *testenv.Env, ns string) {
				var hpa autoscalingv2.HorizontalPodAutoscaler
				must(t, "primary HPA", env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "api-gateway-primary"}, &hpa))
				got := []any{hpa.Spec.ScaleTargetRef.Name, ptr.Deref(hpa.Spec.MinReplicas, 0), hpa.Spec.MaxReplicas}
				if diff := cmp.Diff([]any{"api-gateway-primary", int32(2), int32(6)}, got); diff != "" {
					t.Errorf("primary HPA target, min, max (-want +got):\n%s", diff)
				}
			},
		},
		"a changed ConfigMap starts an analysis": {check: checkConfigTracking},
		"skipAnalysis promotes at once": {
			mutate: func(cd *flaggerv1.Canary) { cd.Spec.SkipAnalysis = ptr.To(true) },
			check: func(t *testing.T, env *testenv.Env, ns string) {
				setDeploymentImage(t, env, ns, "api-gateway", "registry.example/api-gateway:2.0")
				waitCanary(t, env, ns, "api-gateway", 60*time.Second, "Succeeded", phaseIs(flaggerv1.PhaseSucceeded))
				if img := image(deployment(t, env, ns, "api-gateway-primary")); img != "registry.example/api-gateway:2.0" {
					t.Errorf("primary image = %s", img)
				}
				waitForEvent(t, env, ns, "Normal Promotion completed! Canary analysis was skipped for api-gateway."+ns)
			},
		},
		"suspend leaves a new revision alone": {
			mutate: func(cd *flaggerv1.Canary) { cd.Spec.Suspend = ptr.To(true) },
			check: func(t *testing.T, env *testenv.Env, ns string) {
				setDeploymentImage(t, env, ns, "api-gateway", "registry.example/api-gateway:2.0")
				waitForEvent(t, env, ns, "Normal skipping canary run as object is suspended")
				time.Sleep(2 * time.Second)
				waitCanary(t, env, ns, "api-gateway", 10*time.Second, "still Initialized", phaseIs(flaggerv1.PhaseInitialized))
				if r := replicas(deployment(t, env, ns, "api-gateway")); r != 0 {
					t.Errorf("a suspended canary was scaled to %d", r)
				}
			},
		},
		"alerts reach a Slack AlertProvider": {
			mutate: func(cd *flaggerv1.Canary) {
				cd.Spec.Analysis.Alerts = []flaggerv1.CanaryAlert{{Name: "on-call", Severity: "info",
					ProviderRef: flaggerv1.CrossNamespaceObjectReference{Name: "on-call"}}}
			},
			check: checkAlerts,
		},
		"revertOnDeletion gives the target its traffic back": {
			mutate: func(cd *flaggerv1.Canary) { cd.Spec.RevertOnDeletion = ptr.To(true) },
			check:  checkRevert,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := withController(t)
			ns := env.Namespace(t)
			canaryEnv(t, env, ns)
			if tc.before != nil {
				tc.before(t, env, ns)
			}
			cd := seedCanaryIn(t, env, ns, func(cd *flaggerv1.Canary) {
				cd.Spec.Analysis.Interval, cd.Spec.Analysis.Webhooks = "1s", nil
				if tc.mutate != nil {
					tc.mutate(cd)
				}
			})
			if err := env.Client.Create(context.Background(), cd); err != nil {
				t.Fatal(err)
			}
			if cd.Spec.Suspend == nil {
				waitCanary(t, env, ns, "api-gateway", 60*time.Second, "Initialized", phaseIs(flaggerv1.PhaseInitialized))
			} else {
				initializeThenSuspend(t, env, ns)
			}
			tc.check(t, env, ns)
		})
	}
}

// initializeThenSuspend: a Canary created suspended is never initialized; resumed, it is; then
// suspended again.
func initializeThenSuspend(t *testing.T, env *testenv.Env, ns string) {
	t.Helper()
	waitForEvent(t, env, ns, "Normal skipping canary run as object is suspended")
	setSuspend(t, env, ns, false)
	waitCanary(t, env, ns, "api-gateway", 60*time.Second, "Initialized", phaseIs(flaggerv1.PhaseInitialized))
	setSuspend(t, env, ns, true)
}

func setSuspend(t *testing.T, env *testenv.Env, ns string, v bool) {
	t.Helper()
	var cd flaggerv1.Canary
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "api-gateway"}, &cd); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(cd.DeepCopy())
	cd.Spec.Suspend = ptr.To(v)
	if err := env.Client.Patch(context.Background(), &cd, patch); err != nil {
		t.Fatal(err)
	}
}

func wantEvent(t *testing.T, env *testenv.Env, ns, prefix string) {
	t.Helper()
	events := canaryEvents(t, env, ns, "api-gateway")
	if !slices.ContainsFunc(events, func(e string) bool { return strings.HasPrefix(e, prefix) }) {
		t.Errorf("no event %q among:\n%s", prefix, strings.Join(events, "\n"))
	}
}

func waitForEvent(t *testing.T, env *testenv.Env, ns, prefix string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) {
			return slices.ContainsFunc(canaryEvents(t, env, ns, "api-gateway"),
				func(e string) bool { return strings.HasPrefix(e, prefix) }), nil
		})
	if err != nil {
		t.Fatalf("no event %q among:\n%s", prefix, strings.Join(canaryEvents(t, env, ns, "api-gateway"), "\n"))
	}
}

// checkConfigTracking: the primary reads a -primary copy of the target's ConfigMap; a change of
// the ConfigMap starts an analysis, and its promotion updates the copy.
func checkConfigTracking(t *testing.T, env *testenv.Env, ns string) {
	t.Helper()
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api-config"}, Data: map[string]string{"mode": "v1"}}
	if err := env.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	d := deployment(t, env, ns, "api-gateway")
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "api-config"}}}}
	if err := env.Client.Patch(ctx, d, patch); err != nil {
		t.Fatal(err)
	}
	waitCanary(t, env, ns, "api-gateway", 90*time.Second, "the template change promoted", func(cd *flaggerv1.Canary) bool {
		return cd.Status.Phase == flaggerv1.PhaseSucceeded && cd.Status.TrackedConfigs["configmap/api-config"] != ""
	})
	p := deployment(t, env, ns, "api-gateway-primary")
	if ref := p.Spec.Template.Spec.Containers[0].EnvFrom; len(ref) != 1 || ref[0].ConfigMapRef.Name != "api-config-primary" {
		t.Fatalf("primary envFrom = %+v, want api-config-primary", ref)
	}
	patch = client.MergeFrom(cm.DeepCopy())
	cm.Data["mode"] = "v2"
	if err := env.Client.Patch(ctx, cm, patch); err != nil {
		t.Fatal(err)
	}
	waitCanary(t, env, ns, "api-gateway", 30*time.Second, "Progressing on the ConfigMap change", phaseIs(flaggerv1.PhaseProgressing))
	waitCanary(t, env, ns, "api-gateway", 90*time.Second, "Succeeded", phaseIs(flaggerv1.PhaseSucceeded))
	var copyCM corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "api-config-primary"}, &copyCM); err != nil {
		t.Fatal(err)
	}
	if copyCM.Data["mode"] != "v2" {
		t.Errorf("api-config-primary after promotion = %v, want mode v2", copyCM.Data)
	}
}

// checkRevert: deleting the Canary scales the target back up and points the apex Service at it.
func checkRevert(t *testing.T, env *testenv.Env, ns string) {
	t.Helper()
	ctx := context.Background()
	var cd flaggerv1.Canary
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "api-gateway"}, &cd); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cd.Finalizers, "finalizer.flagger.app") {
		t.Fatalf("finalizers = %v", cd.Finalizers)
	}
	if err := env.Client.Delete(ctx, &cd); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "api-gateway"}, &cd)
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("the Canary was not finalized: %+v", cd.Status)
	}
	if r := replicas(deployment(t, env, ns, "api-gateway")); r != 2 {
		t.Errorf("target replicas after revert = %d, want the primary's 2", r)
	}
	var svc corev1.Service
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "api-gateway"}, &svc); err != nil {
		t.Fatal(err)
	}
	if got := svc.Spec.Selector["app"]; got != "api-gateway" {
		t.Errorf("apex Service selects app=%s after revert, want api-gateway", got)
	}
	waitForEvent(t, env, ns, "Normal Terminating canary api-gateway."+ns)
}

// bodyRecorder keeps the JSON bodies it is posted.
type bodyRecorder struct {
	mu     sync.Mutex
	bodies []map[string]any
}

func (b *bodyRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	b.bodies = append(b.bodies, m)
	b.mu.Unlock()
}

// texts are the attachments' texts of the Slack messages received.
func (b *bodyRecorder) texts() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.bodies {
		atts, _ := m["attachments"].([]any)
		for _, a := range atts {
			if am, ok := a.(map[string]any); ok {
				out = append(out, fmt.Sprint(am["text"]))
			}
		}
	}
	return out
}

// checkAlerts: an AlertProvider of type slack receives the analysis' alerts.
func checkAlerts(t *testing.T, env *testenv.Env, ns string) {
	t.Helper()
	rec := &bodyRecorder{}
	serveOnService(t, env, ns, "slack", rec)
	ap := &flaggerv1.AlertProvider{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "on-call"},
		Spec: flaggerv1.AlertProviderSpec{Type: "slack", Address: "http://slack." + ns + "/services/T0/B0/XYZ"}}
	if err := env.Client.Create(context.Background(), ap); err != nil {
		t.Fatal(err)
	}
	setDeploymentImage(t, env, ns, "api-gateway", "registry.example/api-gateway:2.0")
	waitCanary(t, env, ns, "api-gateway", 90*time.Second, "Succeeded", phaseIs(flaggerv1.PhaseSucceeded))
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) {
			texts := rec.texts()
			return slices.Contains(texts, "New revision detected, progressing canary analysis.") &&
				slices.Contains(texts, "Canary analysis completed successfully, promotion finished."), nil
		})
	if err != nil {
		t.Errorf("Slack got %q", rec.texts())
	}
}
