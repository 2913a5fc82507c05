package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// TestUnsupportedStepIsInvalidSpec: an update whose steps include one Vane cannot run (a plugin
// step whose plugin the controller's argo-rollouts-config ConfigMap does not list: the shared
// controller has none) is InvalidSpec with the step's field path and the plugin's name, and
// nothing changes: no new ReplicaSet, the stable keeps its pods. Taking the step out lets the
// update go on.
func TestUnsupportedStepIsInvalidSpec(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	newSimpleRollout(t, env, ns, nil)
	before := replicaSetState(t, env, ns)

	ro := &v1alpha1.Rollout{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, ro); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(ro.DeepCopy())
	ro.Spec.Template.Spec.Containers[0].Image = "app:2"
	ro.Spec.Strategy.Canary.Steps = append(ro.Spec.Strategy.Canary.Steps[:1], append([]v1alpha1.CanaryStep{{
		Plugin: &v1alpha1.PluginStep{Name: "acme/approval"},
	}}, ro.Spec.Strategy.Canary.Steps[1:]...)...)
	if err := env.Client.Patch(ctx, ro, patch); err != nil {
		t.Fatal(err)
	}
	// the controller has seen this generation once the condition is there
	ro = waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Degraded", Step: anyStep, Stable: "app:1", Sets: "app:1=4/4",
		Message: "InvalidSpec: "})
	c := condition(ro, v1alpha1.InvalidSpec)
	if c == nil || c.Status != corev1.ConditionTrue || !strings.Contains(c.Message,
		`spec.strategy.canary.steps[1].plugin: step plugin "acme/approval": not configured: the ConfigMap `) {
		t.Fatalf("InvalidSpec condition: %+v", c)
	}
	if ro.Status.ObservedGeneration != fmt.Sprint(ro.Generation) {
		t.Errorf("observedGeneration %s, generation %d", ro.Status.ObservedGeneration, ro.Generation)
	}
	if after := replicaSetState(t, env, ns); after != before {
		t.Errorf("ReplicaSets changed under an InvalidSpec rollout:\nbefore %s\nafter  %s", before, after)
	}

	patch = client.MergeFrom(ro.DeepCopy())
	ro.Spec.Strategy.Canary.Steps = append(ro.Spec.Strategy.Canary.Steps[:1], ro.Spec.Strategy.Canary.Steps[2:]...)
	if err := env.Client.Patch(ctx, ro, patch); err != nil {
		t.Fatal(err)
	}
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1, Stable: "app:1", Sets: "app:1=4/4 app:2=1/1"})
}

// replicaSetState lists the namespace's ReplicaSets with their uid, replicas and template hash.
func replicaSetState(t *testing.T, env *testenv.Env, ns string) string {
	t.Helper()
	var list appsv1.ReplicaSetList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rs := range list.Items {
		out = append(out, fmt.Sprintf("%s uid=%s replicas=%d", rs.Name, rs.UID, *rs.Spec.Replicas))
	}
	return strings.Join(out, "; ")
}
