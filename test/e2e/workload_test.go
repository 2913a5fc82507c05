package e2e

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// TestWorkloadRefFromDeployment: a canary Rollout takes its pod template from an existing
// Deployment, which it scales down progressively (scaleDown: progressively) as its own pods come
// up; a new image in the Deployment runs the canary steps.
func TestWorkloadRefFromDeployment(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](4), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels)},
	}
	dep.Spec.Template.Spec.Containers[0].Image = "web:1"
	if err := env.Client.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitLong, "deployment Ready", func(ctx context.Context) (bool, error) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(dep), dep)
		return err == nil && dep.Status.ReadyReplicas == 4, err
	})
	w50 := int32(50)
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: v1alpha1.RolloutSpec{
			Replicas:    ptr.To[int32](4),
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			WorkloadRef: &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", ScaleDown: v1alpha1.ScaleDownProgressively},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				Steps: []v1alpha1.CanaryStep{{SetWeight: &w50}, {Pause: &v1alpha1.RolloutPause{}}}}},
		},
	}
	if err := env.Client.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	waitState(t, env, ns, "web", waitLong, snapshot{Phase: "Healthy", Step: 2, Stable: "web:1", Sets: "web:1=4/4"})
	waitFor(t, waitLong, "deployment scaled to 0", func(ctx context.Context) (bool, error) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(dep), dep)
		return err == nil && ptr.Deref(dep.Spec.Replicas, 1) == 0, err
	})
	if ro := waitState(t, env, ns, "web", time.Second, snapshot{Step: anyStep}); ro.Status.WorkloadObservedGeneration == "" {
		t.Error("status.workloadObservedGeneration not set")
	}

	patch := client.MergeFrom(dep.DeepCopy())
	dep.Spec.Template.Spec.Containers[0].Image = "web:2"
	if err := env.Client.Patch(ctx, dep, patch); err != nil {
		t.Fatal(err)
	}
	waitState(t, env, ns, "web", waitLong, snapshot{Phase: "Paused", Step: 1, Stable: "web:1", Sets: "web:1=2/2 web:2=2/2"})
	// the migration is over: the update runs on the rollout's pods only, the Deployment stays at 0
	controllerObserved(t, env, ns, "web")
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(dep), dep); err != nil {
		t.Fatal(err)
	}
	if n := ptr.Deref(dep.Spec.Replicas, -1); n != 0 || dep.Status.Replicas != 0 {
		t.Errorf("the Deployment was scaled back up during a later update: spec %d, status %d pods", n, dep.Status.Replicas)
	}
	promote(t, env, ns, "web", false)
	waitState(t, env, ns, "web", waitLong, snapshot{Phase: "Healthy", Step: 2, Stable: "web:2", Sets: "web:2=4/4"})
}

// TestWorkloadRefMissing: a workloadRef to a Deployment that does not exist is an InvalidSpec
// that names it; creating the Deployment recovers.
func TestWorkloadRefMissing(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	labels := map[string]string{"app": "late"}
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: ns},
		Spec: v1alpha1.RolloutSpec{
			Replicas:    ptr.To[int32](2),
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			WorkloadRef: &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "late"},
			Strategy:    v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}},
		},
	}
	if err := env.Client.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	waitState(t, env, ns, "late", waitLong, snapshot{Phase: "Degraded", Step: anyStep,
		Message: `InvalidSpec: The Rollout "late" is invalid: spec.workloadRef: `})
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels)},
	}
	if err := env.Client.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	waitState(t, env, ns, "late", waitLong, snapshot{Phase: "Healthy", Step: anyStep, Sets: "example.invalid/app:1=2/2"})
}

// TestScaleSubresourceAndHPA: `kubectl scale` (the scale subresource) resizes a healthy rollout,
// and a HorizontalPodAutoscaler can read the rollout's scale.
func TestScaleSubresourceAndHPA(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	newSimpleRollout(t, env, ns, nil)
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}}
	scale := &autoscalingv1.Scale{}
	if err := env.Client.SubResource("scale").Get(ctx, ro, scale); err != nil {
		t.Fatal(err)
	}
	if scale.Status.Replicas != 4 || scale.Status.Selector != "app=podtatohead" {
		t.Errorf("scale status: %+v, want 4 replicas and selector app=podtatohead", scale.Status)
	}
	scale.Spec.Replicas = 6
	if err := env.Client.SubResource("scale").Update(ctx, ro, client.WithSubResourceBody(scale)); err != nil {
		t.Fatal(err)
	}
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: anyStep, Sets: "app:1=6/6"})

	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "app"},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 3,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)}}}},
		},
	}
	if err := env.Client.Create(ctx, hpa); err != nil {
		t.Fatal(err)
	}
	// No metrics server runs here, so the HPA cannot compute a size; but it reads the rollout's
	// scale subresource and, being above maxReplicas, scales it down to 3. (The controller-manager
	// refreshes its view of the API every 30s, so it may take that long to see the CRD.)
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(hpa), hpa)
		return err == nil && hpa.Status.DesiredReplicas == 3, err
	})
	if err != nil {
		t.Fatalf("the HPA did not scale the rollout: %v; conditions: %+v", err, hpa.Status.Conditions)
	}
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: anyStep, Sets: "app:1=3/3"})
}
