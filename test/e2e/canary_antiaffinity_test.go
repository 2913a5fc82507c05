package e2e

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vanedev/vane/api/v1alpha1"
)

// TestCanaryAntiAffinity: a canary's antiAffinity makes the new ReplicaSet's pods avoid the
// nodes of the stable ReplicaSet's pods, with the term Argo's GenerateReplicaSetAffinity writes
// (the stable hash, the rollout's namespace, per node; utils/replicaset/replicaset.go); the
// first revision, which has no stable to avoid, gets none.
func TestCanaryAntiAffinity(t *testing.T) {
	t.Parallel() // its own namespace
	env := withController(t)
	ns := env.Namespace(t)
	const name, blue, green = "gradual-rollout", "argoproj/rollouts-demo:blue", "argoproj/rollouts-demo:green"
	applyManifests(t, env, ns, "examples/seeds/gradual-rollout.yaml", func(ro *v1alpha1.Rollout) {
		// preferred: the local cluster's few nodes all run blue pods, so a required term would
		// leave the canary pod unscheduled (as it would under Argo)
		ro.Spec.Strategy.Canary.AntiAffinity = &v1alpha1.AntiAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: &v1alpha1.PreferredDuringSchedulingIgnoredDuringExecution{Weight: 40}}
	})
	waitState(t, env, ns, name, waitLong, snapshot{Phase: "Healthy", Step: 6, Stable: blue, Sets: blue + "=3/3"})
	if a := replicaSetOf(t, env, ns, blue).Spec.Template.Spec.Affinity; a != nil {
		t.Errorf("the first revision got an anti-affinity: %+v", a)
	}

	setImage(t, env, ns, name, green)
	waitState(t, env, ns, name, waitLong, snapshot{Phase: "Paused", Step: 1, Stable: blue,
		Sets: blue + "=3/3 " + green + "=1/1", Message: "CanaryPauseStep"})
	want := &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
		Weight: 40, PodAffinityTerm: corev1.PodAffinityTerm{
			LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: v1alpha1.PodTemplateHashLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{rsHashOfImage(t, env, ns, blue)}}}},
			Namespaces: []string{ns}, TopologyKey: "kubernetes.io/hostname",
		}}}}}
	if diff := cmp.Diff(want, replicaSetOf(t, env, ns, green).Spec.Template.Spec.Affinity); diff != "" {
		t.Errorf("the canary's anti-affinity (-Argo's +got):\n%s", diff)
	}
}
