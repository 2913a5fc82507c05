package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/actions"
	"github.com/vanedev/vane/internal/testenv"
)

// The blue/green seed: a Rollout of 5 replicas that takes its pod template from the Deployment
// rollouts-demo (replicas 0), behind the Service rollouts-demo, with autoPromotionEnabled false.
const (
	bgSeed    = "examples/seeds/rollouts-demo-bluegreen-workloadref.yaml"
	bgName    = "rollouts-demo-rollout"
	bgActive  = "rollouts-demo"
	bgPreview = "rollouts-demo-preview"
	blue      = "argoproj/rollouts-demo:blue"
	green     = "argoproj/rollouts-demo:green"
)

// bgSnap is what a blue/green scenario asserts: phase and message, the ReplicaSets with pods
// ("image=replicas/available", sorted), and the image of the ReplicaSet each Service selects
// ("none" when it selects no ReplicaSet of the rollout). Empty fields are not compared.
type bgSnap struct {
	Phase   v1alpha1.RolloutPhase
	Message string
	Sets    string
	Active  string
	Preview string
}

func (s bgSnap) String() string {
	return fmt.Sprintf("phase=%s message=%q sets=[%s] active=%s preview=%s", s.Phase, s.Message, s.Sets, s.Active, s.Preview)
}

func (s bgSnap) matches(want bgSnap) bool {
	return (want.Phase == "" || s.Phase == want.Phase) && (want.Message == "" || strings.Contains(s.Message, want.Message)) &&
		(want.Sets == "" || s.Sets == want.Sets) && (want.Active == "" || s.Active == want.Active) &&
		(want.Preview == "" || s.Preview == want.Preview)
}

// observeBG reads the rollout, its ReplicaSets and the Services.
func observeBG(ctx context.Context, env *testenv.Env, ns string) (bgSnap, *v1alpha1.Rollout, error) {
	s, ro, err := observe(ctx, env, ns, bgName)
	if err != nil {
		return bgSnap{}, nil, err
	}
	images, err := imagesByHash(ctx, env, ns)
	if err != nil {
		return bgSnap{}, nil, err
	}
	out := bgSnap{Phase: s.Phase, Message: s.Message, Sets: s.Sets}
	selects := func(name string) (string, error) {
		var svc corev1.Service
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
			return "", client.IgnoreNotFound(err)
		}
		if img, ok := images[svc.Spec.Selector[v1alpha1.PodTemplateHashLabel]]; ok {
			return img, nil
		}
		return "none", nil
	}
	if out.Active, err = selects(bgActive); err != nil {
		return bgSnap{}, nil, err
	}
	if out.Preview, err = selects(bgPreview); err != nil {
		return bgSnap{}, nil, err
	}
	return out, ro, nil
}

// rolloutReplicaSets lists the ReplicaSets a Rollout controls in ns (not the referenced
// Deployment's own, which runs the same images).
func rolloutReplicaSets(ctx context.Context, env *testenv.Env, ns string) ([]appsv1.ReplicaSet, error) {
	var list appsv1.ReplicaSetList
	if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var out []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.Kind == "Rollout" {
			out = append(out, rs)
		}
	}
	return out, nil
}

func imagesByHash(ctx context.Context, env *testenv.Env, ns string) (map[string]string, error) {
	sets, err := rolloutReplicaSets(ctx, env, ns)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, rs := range sets {
		out[rs.Labels[v1alpha1.PodTemplateHashLabel]] = rs.Spec.Template.Spec.Containers[0].Image
	}
	return out, nil
}

// waitBG waits until the rollout looks like want and returns it; the status' selectors must
// then be what the Services select.
func waitBG(t *testing.T, env *testenv.Env, ns string, timeout time.Duration, want bgSnap) *v1alpha1.Rollout {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	var last bgSnap
	for {
		s, ro, err := observeBG(ctx, env, ns)
		if err == nil {
			last = s
			if s.matches(want) {
				if got := serviceHash(t, env, ns, bgActive); ro.Status.BlueGreen.ActiveSelector != got && got != "" {
					t.Errorf("status.blueGreen.activeSelector %q, the active Service selects %q", ro.Status.BlueGreen.ActiveSelector, got)
				}
				return ro
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout %s/%s: waited %s for\n  want %s\n  last %s", ns, bgName, timeout, want, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// applyBlueGreenSeed creates the seed in ns; mutate changes the Rollout first. With a preview
// Service named in the strategy, it creates that Service too (before the Rollout).
func applyBlueGreenSeed(t *testing.T, env *testenv.Env, ns string, mutate func(*v1alpha1.Rollout)) {
	t.Helper()
	applyManifests(t, env, ns, bgSeed, func(ro *v1alpha1.Rollout) {
		if mutate == nil {
			return
		}
		mutate(ro)
		if ro.Spec.Strategy.BlueGreen.PreviewService == bgPreview {
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: bgPreview, Namespace: ns},
				Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "rollouts-demo"},
					Ports: []corev1.ServicePort{{Port: 80}}}}
			if err := env.Client.Create(context.Background(), svc); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// withPreview adds the preview Service, 3 replicas and the given scale-down delays.
func withPreview(scaleDownDelay, abortScaleDownDelay int32) func(*v1alpha1.Rollout) {
	return func(ro *v1alpha1.Rollout) {
		ro.Spec.Replicas = ptr.To[int32](3)
		bg := ro.Spec.Strategy.BlueGreen
		bg.PreviewService = bgPreview
		bg.ScaleDownDelaySeconds = ptr.To(scaleDownDelay)
		bg.AbortScaleDownDelaySeconds = ptr.To(abortScaleDownDelay)
	}
}

// updateWorkload changes the Deployment the rollout references: its image, and pod template
// labels and annotations (nil: unchanged).
func updateWorkload(t *testing.T, env *testenv.Env, ns, image string, labels, annotations map[string]string) {
	t.Helper()
	ctx := context.Background()
	dep := &appsv1.Deployment{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rollouts-demo"}, dep); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(dep.DeepCopy())
	dep.Spec.Template.Spec.Containers[0].Image = image
	for k, v := range labels {
		dep.Spec.Template.Labels[k] = v
	}
	if annotations != nil {
		dep.Spec.Template.Annotations = annotations
	}
	if err := env.Client.Patch(ctx, dep, patch); err != nil {
		t.Fatal(err)
	}
}

// replicaSetOf returns the rollout's ReplicaSet running image.
func replicaSetOf(t *testing.T, env *testenv.Env, ns, image string) *appsv1.ReplicaSet {
	t.Helper()
	sets, err := rolloutReplicaSets(context.Background(), env, ns)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sets {
		if sets[i].Spec.Template.Spec.Containers[0].Image == image {
			return &sets[i]
		}
	}
	t.Fatalf("the rollout has no ReplicaSet running %s", image)
	return nil
}

// bgHash is the pod template hash of the rollout's ReplicaSet running image.
func bgHash(t *testing.T, env *testenv.Env, ns, image string) string {
	t.Helper()
	return replicaSetOf(t, env, ns, image).Labels[v1alpha1.PodTemplateHashLabel]
}

// assertRolloutReplicaSets checks that the rollout has n ReplicaSets: one per template.
func assertRolloutReplicaSets(t *testing.T, env *testenv.Env, ns string, n int) {
	t.Helper()
	sets, err := rolloutReplicaSets(context.Background(), env, ns)
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != n {
		var names []string
		for _, rs := range sets {
			names = append(names, rs.Spec.Template.Spec.Containers[0].Image+"@"+rs.Annotations[v1alpha1.RevisionAnnotation])
		}
		t.Errorf("%d ReplicaSets %v, want %d", len(sets), names, n)
	}
}

func pauseReasons(ro *v1alpha1.Rollout) []v1alpha1.PauseReason {
	var out []v1alpha1.PauseReason
	for _, c := range ro.Status.PauseConditions {
		out = append(out, c.Reason)
	}
	return out
}

// watchActive samples, until stop is called, what the active Service selects together with the
// ReplicaSet's pods, and fails the test if it ever selects the ReplicaSet of image while that
// has fewer than want available pods.
func watchActive(t *testing.T, env *testenv.Env, ns, image string, want int32) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx := context.Background()
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			var svc corev1.Service
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: bgActive}, &svc); err != nil {
				continue
			}
			hash := svc.Spec.Selector[v1alpha1.PodTemplateHashLabel]
			var rs appsv1.ReplicaSet
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: bgName + "-" + hash}, &rs); err != nil {
				continue
			}
			if rs.Spec.Template.Spec.Containers[0].Image == image && rs.Status.AvailableReplicas < want {
				t.Errorf("the active Service selects %s with %d/%d pods available", image, rs.Status.AvailableReplicas, want)
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// TestSeedBlueGreenWorkloadRef plays the seed verbatim: the first revision goes straight to
// active; a new image in the Deployment creates the green ReplicaSet at full size and the
// rollout pauses (autoPromotionEnabled: false) with the active Service on blue; promote switches
// it to green, and blue keeps its pods with a scale-down deadline 30s (the default) away.
func TestSeedBlueGreenWorkloadRef(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	applyManifests(t, env, ns, bgSeed, nil)
	ro := waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: blue + "=5/5", Active: blue})
	blueHash := bgHash(t, env, ns, blue)
	if ro.Status.StableRS != blueHash || ro.Status.BlueGreen.ActiveSelector != blueHash || ro.Status.HPAReplicas != 5 ||
		!strings.Contains(ro.Status.Selector, v1alpha1.PodTemplateHashLabel+"="+blueHash) {
		t.Errorf("healthy status: stableRS=%s activeSelector=%s HPAReplicas=%d selector=%q", ro.Status.StableRS,
			ro.Status.BlueGreen.ActiveSelector, ro.Status.HPAReplicas, ro.Status.Selector)
	}
	var svc corev1.Service
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: bgActive}, &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Annotations[v1alpha1.ManagedByRolloutsAnnotation] != bgName || svc.Spec.Selector["app"] != "rollouts-demo" {
		t.Errorf("active Service: annotations %v selector %v", svc.Annotations, svc.Spec.Selector)
	}
	dep := &appsv1.Deployment{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rollouts-demo"}, dep); err != nil {
		t.Fatal(err)
	}
	if ptr.Deref(dep.Spec.Replicas, 1) != 0 {
		t.Errorf("the referenced Deployment was scaled to %d", *dep.Spec.Replicas)
	}

	updateWorkload(t, env, ns, green, nil, nil)
	ro = waitBG(t, env, ns, waitLong, bgSnap{Phase: "Paused", Message: "BlueGreenPause", Sets: blue + "=5/5 " + green + "=5/5", Active: blue})
	if !slices.Equal(pauseReasons(ro), []v1alpha1.PauseReason{v1alpha1.PauseReasonBlueGreenPause}) || !ro.Status.ControllerPause ||
		ro.Status.UpdatedReplicas != 5 || ro.Status.AvailableReplicas != 5 || ro.Status.StableRS != blueHash {
		t.Errorf("paused status: %+v", ro.Status)
	}
	time.Sleep(time.Second) // no auto-promotion: it stays put, also once the controller looked again
	controllerObserved(t, env, ns, bgName)
	waitBG(t, env, ns, time.Second, bgSnap{Phase: "Paused", Active: blue})

	promote(t, env, ns, bgName, false)
	switchedAt := time.Now()
	ro = waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: blue + "=5/5 " + green + "=5/5", Active: green})
	if ro.Status.StableRS != bgHash(t, env, ns, green) || len(ro.Status.PauseConditions) != 0 || ro.Status.ControllerPause {
		t.Errorf("promoted status: %+v", ro.Status)
	}
	deadline, err := time.Parse(time.RFC3339, replicaSetOf(t, env, ns, blue).Annotations[v1alpha1.ScaleDownDeadlineAnnotation])
	if err != nil {
		t.Fatalf("blue's scale-down deadline: %v", err)
	}
	if d := deadline.Sub(switchedAt); d < 25*time.Second || d > 32*time.Second {
		t.Errorf("blue's scale-down deadline is %s after the promote, want about 30s", d)
	}
	reasons := eventReasons(t, env, ns, bgName)
	for _, want := range []string{"NewReplicaSetCreated", "SwitchService", "RolloutPaused", "RolloutCompleted"} {
		if !slices.Contains(reasons, want) {
			t.Errorf("no %s event; events: %v", want, reasons)
		}
	}
}

// TestBlueGreenPreviewAndScaleDownDelay: the preview Service follows the new ReplicaSet once
// its pods are all available (not before); after the switch the old ReplicaSet is scaled down
// when its scale-down delay (2s here) has passed.
func TestBlueGreenPreviewAndScaleDownDelay(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	applyBlueGreenSeed(t, env, ns, withPreview(2, 30))
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: blue + "=3/3", Active: blue, Preview: blue})

	updateWorkload(t, env, ns, green, nil, map[string]string{"vane.dev/kwok-ready-delay": "2s"})
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Progressing", Message: "active service cutover pending",
		Sets: blue + "=3/3 " + green + "=3/0", Active: blue, Preview: blue})
	ro := waitBG(t, env, ns, waitLong, bgSnap{Phase: "Paused", Sets: blue + "=3/3 " + green + "=3/3", Active: blue, Preview: green})
	if ro.Status.BlueGreen.PreviewSelector != bgHash(t, env, ns, green) {
		t.Errorf("status.blueGreen.previewSelector %q", ro.Status.BlueGreen.PreviewSelector)
	}

	promote(t, env, ns, bgName, false)
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: blue + "=3/3 " + green + "=3/3", Active: green, Preview: green})
	switched := time.Now()
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: green + "=3/3", Active: green, Preview: green})
	if d := time.Since(switched); d < time.Second {
		t.Errorf("blue was scaled down %s after the switch; scaleDownDelaySeconds is 2", d)
	}
}

// TestBlueGreenAbortBeforePromotion: abort keeps the active Service on blue (Degraded,
// RolloutAborted), the preview keeps its pods for abortScaleDownDelaySeconds (2s) and is then
// scaled down, the preview Service going back to blue; retry pauses again; promote --full
// finishes the update.
func TestBlueGreenAbortBeforePromotion(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	applyBlueGreenSeed(t, env, ns, withPreview(1, 2))
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: blue + "=3/3", Active: blue})
	updateWorkload(t, env, ns, green, nil, nil)
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Paused", Sets: blue + "=3/3 " + green + "=3/3", Active: blue, Preview: green})

	if err := actions.Abort(ctx, env.Client, ns, bgName); err != nil {
		t.Fatal(err)
	}
	ro := waitBG(t, env, ns, waitLong, bgSnap{Phase: "Degraded", Message: "RolloutAborted: Rollout aborted update to revision 2",
		Sets: blue + "=3/3 " + green + "=3/3", Active: blue, Preview: green})
	if ro.Status.AbortedAt == nil || len(ro.Status.PauseConditions) != 0 {
		t.Errorf("aborted status: %+v", ro.Status)
	}
	if _, err := time.Parse(time.RFC3339, replicaSetOf(t, env, ns, green).Annotations[v1alpha1.ScaleDownDeadlineAnnotation]); err != nil {
		t.Errorf("the aborted preview has no scale-down deadline: %v", err)
	}
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Degraded", Sets: blue + "=3/3", Active: blue, Preview: blue})
	if !slices.Contains(eventReasons(t, env, ns, bgName), "RolloutAborted") {
		t.Error("no RolloutAborted event")
	}

	if err := actions.Retry(ctx, env.Client, ns, bgName); err != nil {
		t.Fatal(err)
	}
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Paused", Sets: blue + "=3/3 " + green + "=3/3", Active: blue, Preview: green})
	if a := replicaSetOf(t, env, ns, green).Annotations[v1alpha1.ScaleDownDeadlineAnnotation]; a != "" {
		t.Errorf("the retried preview kept its scale-down deadline %s", a)
	}
	promote(t, env, ns, bgName, true)
	ro = waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: green + "=3/3", Active: green, Preview: green})
	if ro.Status.PromoteFull {
		t.Error("promoteFull still set after the update completed")
	}
}

// TestBlueGreenAutoPromotionSeconds: with autoPromotionSeconds the rollout pauses once green is
// available and switches by itself that many seconds later.
func TestBlueGreenAutoPromotionSeconds(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	applyBlueGreenSeed(t, env, ns, func(ro *v1alpha1.Rollout) {
		withPreview(1, 30)(ro)
		ro.Spec.Strategy.BlueGreen.AutoPromotionEnabled = nil
		ro.Spec.Strategy.BlueGreen.AutoPromotionSeconds = 3
	})
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: blue + "=3/3", Active: blue})
	updateWorkload(t, env, ns, green, nil, nil)
	ro := waitBG(t, env, ns, waitLong, bgSnap{Phase: "Paused", Message: "BlueGreenPause", Sets: blue + "=3/3 " + green + "=3/3",
		Active: blue, Preview: green})
	if len(ro.Status.PauseConditions) != 1 {
		t.Fatalf("pause conditions %v", ro.Status.PauseConditions)
	}
	// the pause's start time is stored with second precision, and promotion is due 3s after it
	due := ro.Status.PauseConditions[0].StartTime.Add(3 * time.Second)
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Active: green, Preview: green})
	if early := time.Until(due); early > 200*time.Millisecond {
		t.Errorf("switched %s before autoPromotionSeconds ended", early)
	}
	if late := time.Since(due); late > 5*time.Second {
		t.Errorf("switched %s after autoPromotionSeconds ended", late)
	}
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: green + "=3/3", Active: green})
	if !slices.Contains(eventReasons(t, env, ns, bgName), "RolloutResumed") {
		t.Errorf("no RolloutResumed event: %v", eventReasons(t, env, ns, bgName))
	}
}

// TestBlueGreenPreviewReplicaCount: the preview runs 1 pod of 3; promote scales it to 3 first,
// and the active Service switches only once the 3 are available.
func TestBlueGreenPreviewReplicaCount(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	applyBlueGreenSeed(t, env, ns, func(ro *v1alpha1.Rollout) {
		withPreview(1, 30)(ro)
		ro.Spec.Strategy.BlueGreen.PreviewReplicaCount = ptr.To[int32](1)
	})
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: blue + "=3/3", Active: blue, Preview: blue})
	stop := watchActive(t, env, ns, green, 3)
	defer stop()
	updateWorkload(t, env, ns, green, nil, map[string]string{"vane.dev/kwok-ready-delay": "2s"})
	ro := waitBG(t, env, ns, waitLong, bgSnap{Phase: "Paused", Message: "BlueGreenPause", Sets: blue + "=3/3 " + green + "=1/1",
		Active: blue, Preview: green})
	if ro.Status.BlueGreen.ScaleUpPreviewCheckPoint || ro.Status.UpdatedReplicas != 1 {
		t.Errorf("paused preview status: %+v", ro.Status)
	}
	promote(t, env, ns, bgName, false)
	ro = waitBG(t, env, ns, waitLong, bgSnap{Phase: "Progressing", Sets: blue + "=3/3 " + green + "=3/1", Active: blue, Preview: green})
	if !ro.Status.BlueGreen.ScaleUpPreviewCheckPoint {
		t.Error("status.blueGreen.scaleUpPreviewCheckPoint not set while the preview scales up")
	}
	ro = waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Active: green, Preview: green})
	if ro.Status.BlueGreen.ScaleUpPreviewCheckPoint {
		t.Error("status.blueGreen.scaleUpPreviewCheckPoint still set after the update")
	}
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: green + "=3/3", Active: green})
}

// TestBlueGreenUnreadyNeverActive: green pods that never become Ready never get the active
// Service, even with automatic promotion; the rollout hits its progress deadline (Degraded).
// Once the pods become Ready the switch happens and the rollout recovers.
func TestBlueGreenUnreadyNeverActive(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	applyBlueGreenSeed(t, env, ns, func(ro *v1alpha1.Rollout) {
		withPreview(1, 30)(ro)
		ro.Spec.Strategy.BlueGreen.AutoPromotionEnabled = nil
		ro.Spec.ProgressDeadlineSeconds = ptr.To[int32](3)
	})
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: blue + "=3/3", Active: blue})
	stop := watchActive(t, env, ns, green, 3)
	defer stop()
	updateWorkload(t, env, ns, green, map[string]string{"vane.dev/kwok-ready": "false"}, nil)
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Progressing", Message: "active service cutover pending",
		Sets: blue + "=3/3 " + green + "=3/0", Active: blue, Preview: blue})
	ro := waitBG(t, env, ns, waitLong, bgSnap{Phase: "Degraded", Message: "ProgressDeadlineExceeded: ReplicaSet",
		Sets: blue + "=3/3 " + green + "=3/0", Active: blue, Preview: blue})
	if c := condition(ro, v1alpha1.RolloutProgressing); c == nil || c.Status != corev1.ConditionFalse {
		t.Errorf("Progressing condition: %+v", c)
	}
	controllerObserved(t, env, ns, bgName)
	waitBG(t, env, ns, time.Second, bgSnap{Phase: "Degraded", Active: blue})

	// make green's pods Ready: the rollout goes on by itself
	var pods corev1.PodList
	if err := env.Client.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.Containers[0].Image != green {
			continue
		}
		patch := client.MergeFrom(p.DeepCopy())
		delete(p.Labels, "vane.dev/kwok-ready")
		if err := env.Client.Patch(ctx, p, patch); err != nil {
			t.Fatal(err)
		}
	}
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Active: green, Preview: green})
}

// TestBlueGreenManualPauseUndoRestart: a manual pause (spec.paused) holds an automatic switch;
// promote releases it. Undo brings blue back as revision 3 through the preview and the pause;
// restart replaces every pod, keeping each ReplicaSet within maxUnavailable.
func TestBlueGreenManualPauseUndoRestart(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	applyBlueGreenSeed(t, env, ns, func(ro *v1alpha1.Rollout) {
		withPreview(1, 30)(ro)
		ro.Spec.Strategy.BlueGreen.AutoPromotionEnabled = nil
	})
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: blue + "=3/3", Active: blue})
	if err := actions.Pause(ctx, env.Client, ns, bgName); err != nil {
		t.Fatal(err)
	}
	updateWorkload(t, env, ns, green, nil, nil)
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Paused", Message: "manually paused", Sets: blue + "=3/3 " + green + "=3/3",
		Active: blue, Preview: green})
	controllerObserved(t, env, ns, bgName)
	ro := waitBG(t, env, ns, time.Second, bgSnap{Phase: "Paused", Active: blue})
	if len(ro.Status.PauseConditions) != 0 {
		t.Errorf("a manual pause added pause conditions %v", ro.Status.PauseConditions)
	}
	promote(t, env, ns, bgName, false)
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: green + "=3/3", Active: green})

	// undo: the template comes from the Deployment, so put blue back there, as a user would
	updateWorkload(t, env, ns, blue, nil, nil)
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: blue + "=3/3", Active: blue})
	assertRolloutReplicaSets(t, env, ns, 2)
	if rev := replicaSetOf(t, env, ns, blue).Annotations[v1alpha1.RevisionAnnotation]; rev != "3" {
		t.Errorf("blue's ReplicaSet has revision %s, want 3", rev)
	}

	before := podNames(t, env.Client, ns)
	time.Sleep(1100 * time.Millisecond) // restartAt has second precision
	if err := actions.Restart(ctx, env.Client, ns, bgName, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitLong, "restart done", func(ctx context.Context) (bool, error) {
		ro := &v1alpha1.Rollout{}
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: bgName}, ro)
		return err == nil && ro.Status.RestartedAt != nil, err
	})
	for name := range podNames(t, env.Client, ns) {
		if before[name] {
			t.Errorf("pod %s survived the restart", name)
		}
	}
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: blue + "=3/3", Active: blue})
}

// TestBlueGreenUndoAction: a new image supersedes a preview that was never promoted (it is
// scaled down at once); undo puts an earlier revision back, without the anti-affinity the
// controller injected into its ReplicaSet, and it goes through the preview and the pause again.
func TestBlueGreenUndoAction(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	const yellow = "argoproj/rollouts-demo:yellow"
	labels := map[string]string{"app": "rollouts-demo"}
	tmpl := podTemplate(labels)
	tmpl.Spec.Containers[0].Image = blue
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: bgName, Namespace: ns},
		Spec: v1alpha1.RolloutSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl,
			Strategy: v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: bgActive,
				AutoPromotionEnabled: ptr.To(false), ScaleDownDelaySeconds: ptr.To[int32](1),
				AntiAffinity: &v1alpha1.AntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: &v1alpha1.PreferredDuringSchedulingIgnoredDuringExecution{Weight: 50}}}}},
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: bgActive, Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80}}}}
	for _, o := range []client.Object{svc, ro} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: blue + "=2/2", Active: blue})
	setImage(t, env, ns, bgName, green)
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Paused", Sets: blue + "=2/2 " + green + "=2/2", Active: blue})
	setImage(t, env, ns, bgName, yellow)
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Paused", Sets: blue + "=2/2 " + yellow + "=2/2", Active: blue})
	if replicaSetOf(t, env, ns, green).Spec.Template.Spec.Affinity == nil {
		t.Fatal("green's ReplicaSet has no injected anti-affinity")
	}

	rev, err := actions.Undo(ctx, env.Client, ns, bgName, 2) // green
	if err != nil || rev != 2 {
		t.Fatalf("undo: revision %d, %v", rev, err)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ro), ro); err != nil {
		t.Fatal(err)
	}
	if ro.Spec.Template.Spec.Affinity != nil {
		t.Errorf("undo copied the injected anti-affinity into the rollout: %+v", ro.Spec.Template.Spec.Affinity)
	}
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Paused", Sets: blue + "=2/2 " + green + "=2/2", Active: blue})
	if rev := replicaSetOf(t, env, ns, green).Annotations[v1alpha1.RevisionAnnotation]; rev != "4" {
		t.Errorf("green's ReplicaSet has revision %s, want 4", rev)
	}
	promote(t, env, ns, bgName, false)
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: green + "=2/2", Active: green})

	// undo without a revision: the one before the current (yellow, revision 3)
	if rev, err := actions.Undo(ctx, env.Client, ns, bgName, 0); err != nil || rev != 3 {
		t.Fatalf("undo: revision %d, %v", rev, err)
	}
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Paused", Sets: green + "=2/2 " + yellow + "=2/2", Active: green})
	promote(t, env, ns, bgName, false)
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: yellow + "=2/2", Active: yellow})
	assertRolloutReplicaSets(t, env, ns, 3)
}

// TestBlueGreenMetadataAndAntiAffinity: previewMetadata is on the preview pods and
// activeMetadata on the active ones; at the switch the green pods are relabelled in place and
// blue's pods lose the active label. The green ReplicaSet's pods prefer other nodes than blue's
// (antiAffinity), until green is active.
func TestBlueGreenMetadataAndAntiAffinity(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	applyBlueGreenSeed(t, env, ns, func(ro *v1alpha1.Rollout) {
		withPreview(30, 30)(ro)
		bg := ro.Spec.Strategy.BlueGreen
		bg.ActiveMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "active"}}
		bg.PreviewMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "preview"}}
		bg.AntiAffinity = &v1alpha1.AntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: &v1alpha1.PreferredDuringSchedulingIgnoredDuringExecution{Weight: 50}}
	})
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: blue + "=3/3", Active: blue})
	waitPodsLabelled(t, env.Client, ns, map[string]string{blue: "active"})
	if a := replicaSetOf(t, env, ns, blue).Spec.Template.Spec.Affinity; a != nil {
		t.Errorf("the first revision got an anti-affinity: %+v", a)
	}

	updateWorkload(t, env, ns, green, nil, nil)
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Paused", Sets: blue + "=3/3 " + green + "=3/3", Active: blue, Preview: green})
	preview := waitPodsLabelled(t, env.Client, ns, map[string]string{blue: "active", green: "preview"})
	greenRS := replicaSetOf(t, env, ns, green)
	aff := greenRS.Spec.Template.Spec.Affinity
	if aff == nil || aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatalf("green's pod template has no preferred anti-affinity: %+v", aff)
	}
	term := aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0]
	if term.Weight != 50 || term.PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" ||
		!slices.Equal(term.PodAffinityTerm.LabelSelector.MatchExpressions[0].Values, []string{bgHash(t, env, ns, blue)}) {
		t.Errorf("anti-affinity term %+v", term)
	}

	promote(t, env, ns, bgName, false)
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: blue + "=3/3 " + green + "=3/3", Active: green})
	active := waitPodsLabelled(t, env.Client, ns, map[string]string{blue: "", green: "active"})
	for name := range preview[green] {
		if !active[green][name] {
			t.Errorf("preview pod %s was replaced instead of relabelled", name)
		}
	}
	if a := replicaSetOf(t, env, ns, green).Spec.Template.Spec.Affinity; a != nil {
		t.Errorf("the active ReplicaSet kept the injected anti-affinity: %+v", a)
	}
}

// TestBlueGreenControllerKilledBeforeSwitch: the controller process is SIGKILLed while the
// rollout waits between "green available" and the switch (paused; promoted while it is down,
// then during an autoPromotionSeconds countdown that ends while it is down) and again while an
// old ReplicaSet waits for its scale-down deadline. Started again, it switches at once, and
// scales the old ReplicaSet down at the deadline it had recorded.
func TestBlueGreenControllerKilledBeforeSwitch(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	const id = "bluegreen-kill-test"
	ctl := newControllerProcess(t, env, id)
	applyManifests(t, env, ns, bgSeed, func(ro *v1alpha1.Rollout) {
		ro.Labels = map[string]string{v1alpha1.InstanceIDLabel: id}
		ro.Spec.Replicas = ptr.To[int32](3)
		ro.Spec.Strategy.BlueGreen.ScaleDownDelaySeconds = ptr.To[int32](4)
	})
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: blue + "=3/3", Active: blue})

	// 1. green available, paused; the controller dies; promote while it is down
	updateWorkload(t, env, ns, green, nil, nil)
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Paused", Sets: blue + "=3/3 " + green + "=3/3", Active: blue})
	ctl.kill()
	promote(t, env, ns, bgName, false)
	time.Sleep(time.Second)
	waitBG(t, env, ns, time.Second, bgSnap{Sets: blue + "=3/3 " + green + "=3/3", Active: blue})
	ctl.start()
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: blue + "=3/3 " + green + "=3/3", Active: green})

	// 2. the controller dies while blue waits for its scale-down deadline, which passes while
	// it is down
	ctl.kill()
	deadline, err := time.Parse(time.RFC3339, replicaSetOf(t, env, ns, blue).Annotations[v1alpha1.ScaleDownDeadlineAnnotation])
	if err != nil {
		t.Fatalf("blue's scale-down deadline: %v", err)
	}
	time.Sleep(time.Until(deadline) + time.Second)
	waitBG(t, env, ns, time.Second, bgSnap{Sets: blue + "=3/3 " + green + "=3/3"})
	ctl.start()
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: green + "=3/3", Active: green})
	// scaled down for good (its deadline was past when the controller came back): the annotation
	// goes with the pods, as in Argo's full scale-down
	if d, ok := replicaSetOf(t, env, ns, blue).Annotations[v1alpha1.ScaleDownDeadlineAnnotation]; ok {
		t.Errorf("blue, scaled down, kept its scale-down deadline %s", d)
	}

	// 3. autoPromotionSeconds: the countdown ends while the controller is down
	ro := &v1alpha1.Rollout{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: bgName}, ro); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(ro.DeepCopy())
	ro.Spec.Strategy.BlueGreen.AutoPromotionEnabled = nil
	ro.Spec.Strategy.BlueGreen.AutoPromotionSeconds = 2
	if err := env.Client.Patch(ctx, ro, patch); err != nil {
		t.Fatal(err)
	}
	const yellow = "argoproj/rollouts-demo:yellow"
	updateWorkload(t, env, ns, yellow, nil, nil)
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Paused", Sets: green + "=3/3 " + yellow + "=3/3", Active: green})
	ctl.kill()
	time.Sleep(3 * time.Second)
	waitBG(t, env, ns, time.Second, bgSnap{Phase: "Paused", Active: green})
	ctl.start()
	restarted := time.Now()
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Active: yellow})
	if d := time.Since(restarted); d > 10*time.Second {
		t.Errorf("the switch took %s after the restart; its countdown had ended", d)
	}

	sets, err := rolloutReplicaSets(ctx, env, ns)
	if err != nil {
		t.Fatal(err)
	}
	var revisions []string
	for _, rs := range sets {
		revisions = append(revisions, rs.Spec.Template.Spec.Containers[0].Image+"@"+rs.Annotations[v1alpha1.RevisionAnnotation])
	}
	sort.Strings(revisions)
	if want := []string{blue + "@1", green + "@2", yellow + "@3"}; !slices.Equal(revisions, want) {
		t.Errorf("ReplicaSets %v, want %v", revisions, want)
	}
}

// TestBlueGreenServiceOfAnotherRollout: a Service another rollout manages is an InvalidSpec;
// once that rollout is deleted, the Service is taken over.
func TestBlueGreenServiceOfAnotherRollout(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	labels := map[string]string{"app": "shared"}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "shared", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80}}}}
	if err := env.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	newRollout := func(name, image string) *v1alpha1.Rollout {
		tmpl := podTemplate(labels)
		tmpl.Spec.Containers[0].Image = image
		ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1alpha1.RolloutSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl,
				Strategy: v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: "shared"}}}}
		if err := env.Client.Create(ctx, ro); err != nil {
			t.Fatal(err)
		}
		return ro
	}
	first := newRollout("first", "first:1")
	waitState(t, env, ns, "first", waitLong, snapshot{Phase: "Healthy", Step: anyStep, Sets: "first:1=1/1"})
	newRollout("second", "second:1")
	// Argo's text (validation ValidateService, createInvalidRolloutCondition)
	waitState(t, env, ns, "second", waitLong, snapshot{Phase: "Degraded", Step: anyStep,
		Message: `InvalidSpec: The Rollout "second" is invalid: spec.strategy.blueGreen.activeService: Invalid value: "shared": Service "shared" is managed by another Rollout`})
	if err := env.Client.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	ro := waitState(t, env, ns, "second", waitLong, snapshot{Phase: "Healthy", Step: anyStep, Sets: "second:1=1/1"})
	if got := serviceHash(t, env, ns, "shared"); got != ro.Status.BlueGreen.ActiveSelector || got == "" {
		t.Errorf("the Service selects %q, want the second rollout's %q", got, ro.Status.BlueGreen.ActiveSelector)
	}
}
