package ship

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// canary is a small canary Rollout: 4 replicas, 50% then a 1 s pause.
func canary(ns, name, image string) *v1alpha1.Rollout {
	labels := map[string]string{"app": name}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To[int32](4),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
				{SetWeight: ptr.To[int32](50)},
				{Pause: &v1alpha1.RolloutPause{Duration: v1alpha1.DurationPtr(v1alpha1.DurationFromInt(1))}},
			}}},
		},
	}
}

// runCanary runs runRollout with a canary of image app:1.
func runCanary(t *testing.T, env *testenv.Env, ns, name string) {
	t.Helper()
	runRollout(t, env, canary(ns, name, "registry.example/app:1"))
}

// runRollout creates the rollout (image app:1), waits until it is Healthy, ships app:2 and
// waits until the update completes: every pod on app:2, the stable ReplicaSet app:2's.
func runRollout(t *testing.T, env *testenv.Env, ro *v1alpha1.Rollout) {
	t.Helper()
	ctx := context.Background()
	ns, name := ro.Namespace, ro.Name
	if err := env.Client.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	waitCompleted(t, env, ns, name, "registry.example/app:1")
	t0 := time.Now()
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ro), ro); err != nil {
		t.Fatal(err)
	}
	ro.Spec.Template.Spec.Containers[0].Image = "registry.example/app:2"
	if err := env.Client.Update(ctx, ro); err != nil {
		t.Fatal(err)
	}
	waitCompleted(t, env, ns, name, "registry.example/app:2")
	t.Logf("canary %s/%s: app:1 -> app:2 completed in %.1fs", ns, name, time.Since(t0).Seconds())
}

// waitCompleted waits until the rollout is Healthy for its current generation with every
// replica on image in the stable ReplicaSet.
func waitCompleted(t *testing.T, env *testenv.Env, ns, name, image string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		done, state, err := completed(env, ns, name, image)
		if err == nil && done {
			return
		}
		last = state
		if err != nil {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("rollout %s/%s did not complete on %s within 90s; last: %s", ns, name, image, last)
}

func completed(env *testenv.Env, ns, name, image string) (bool, string, error) {
	ctx := context.Background()
	ro := &v1alpha1.Rollout{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
		return false, "", err
	}
	var list appsv1.ReplicaSetList
	if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return false, "", err
	}
	var stable *appsv1.ReplicaSet
	withPods := 0
	for i, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref == nil || ref.UID != ro.UID {
			continue // not the rollout's (the namespaced install's Deployment has one too)
		}
		if rs.Labels[v1alpha1.PodTemplateHashLabel] == ro.Status.StableRS {
			stable = &list.Items[i]
		}
		if ptr.Deref(rs.Spec.Replicas, 0) > 0 {
			withPods++
		}
	}
	state := fmt.Sprintf("phase=%s message=%q stable=%s observed=%s/%d replicaSetsWithPods=%d",
		ro.Status.Phase, ro.Status.Message, ro.Status.StableRS, ro.Status.ObservedGeneration, ro.Generation, withPods)
	done := ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.ObservedGeneration == fmt.Sprint(ro.Generation) &&
		stable != nil && stable.Spec.Template.Spec.Containers[0].Image == image &&
		stable.Status.AvailableReplicas == 4 && withPods == 1
	return done, state, nil
}

// readTestdata reads a file of testdata/.
func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
