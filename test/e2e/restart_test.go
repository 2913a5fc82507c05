package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/actions"
)

// TestRestartEvictsOldPods: `restart` (spec.restartAt) replaces every pod through the Eviction
// API, never with fewer than 3 of 4 pods available (maxUnavailable 25% and a
// PodDisruptionBudget of minAvailable 3), keeps the ReplicaSet, and records status.restartedAt.
func TestRestartEvictsOldPods(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	newSimpleRollout(t, env, ns, nil)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptrIntStr(3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podtatohead"}}},
	}
	if err := env.Client.Create(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	before := podNames(t, env.Client, ns)
	time.Sleep(1100 * time.Millisecond) // restartAt has second precision: be after the pods' creation
	at := time.Now()
	if err := actions.Restart(ctx, env.Client, ns, "app", at); err != nil {
		t.Fatal(err)
	}
	minAvailable := 4
	deadline := time.Now().Add(waitLong)
	for {
		ro := &v1alpha1.Rollout{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, ro); err != nil {
			t.Fatal(err)
		}
		var pods corev1.PodList
		if err := env.Client.List(ctx, &pods, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		available := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && podReady(&p) {
				available++
			}
		}
		minAvailable = min(minAvailable, available)
		if ro.Status.RestartedAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restart did not finish; status %+v", ro.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if minAvailable < 3 {
		t.Errorf("only %d pods were available at one point; at least 3 must be", minAvailable)
	}
	after := podNames(t, env.Client, ns)
	for name := range before {
		if after[name] {
			t.Errorf("pod %s survived the restart", name)
		}
	}
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 4, Stable: "app:1", Sets: "app:1=4/4"})
}

func podNames(t *testing.T, env interface{ client.Reader }, ns string) map[string]bool {
	t.Helper()
	var pods corev1.PodList
	if err := env.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out[p.Name] = true
		}
	}
	return out
}

func ptrIntStr(n int) *intstr.IntOrString { v := intstr.FromInt32(int32(n)); return &v }
