package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// TestCanaryAndStableMetadata: canaryMetadata and stableMetadata labels are on the right pods,
// and when the canary becomes stable its pods are relabelled in place (same pods).
func TestCanaryAndStableMetadata(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	newSimpleRollout(t, env, ns, func(ro *v1alpha1.Rollout) {
		ro.Spec.Strategy.Canary.CanaryMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "canary"}}
		ro.Spec.Strategy.Canary.StableMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "stable"},
			Annotations: map[string]string{"stable": "yes"}}
	})
	waitPodsLabelled(t, env.Client, ns, map[string]string{"app:1": "stable"})
	setImage(t, env, ns, "app", "app:2")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1, Sets: "app:1=4/4 app:2=1/1"})
	canaryPods := waitPodsLabelled(t, env.Client, ns, map[string]string{"app:1": "stable", "app:2": "canary"})

	promote(t, env, ns, "app", true)
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 4, Stable: "app:2", Sets: "app:2=4/4"})
	stablePods := waitPodsLabelled(t, env.Client, ns, map[string]string{"app:2": "stable"})
	for name := range canaryPods["app:2"] {
		if !stablePods["app:2"][name] {
			t.Errorf("canary pod %s was replaced instead of relabelled", name)
		}
	}
}

// waitPodsLabelled waits until every running pod of each image has label role=want[image] (and
// the stable annotation exactly on stable pods); it returns the pod names by image.
func waitPodsLabelled(t *testing.T, c client.Reader, ns string, want map[string]string) map[string]map[string]bool {
	t.Helper()
	var last string
	deadline := time.Now().Add(waitLong)
	for {
		var pods corev1.PodList
		if err := c.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		names := map[string]map[string]bool{}
		ok := true
		last = ""
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			img := p.Spec.Containers[0].Image
			role, known := want[img]
			if !known {
				ok = false
				continue
			}
			if names[img] == nil {
				names[img] = map[string]bool{}
			}
			names[img][p.Name] = true
			last += fmt.Sprintf("%s:%s role=%q stable=%q ", p.Name, img, p.Labels["role"], p.Annotations["stable"])
			if p.Labels["role"] != role || (p.Annotations["stable"] == "yes") != (role == "stable") {
				ok = false
			}
		}
		if ok && len(names) == len(want) {
			return names
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods not labelled %v: %s", want, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
