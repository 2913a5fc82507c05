package strategy

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vanedev/vane/api/v1alpha1"
)

// AntiAffinityTopologyKey is the topology of the injected anti-affinity: one node.
const AntiAffinityTopologyKey = "kubernetes.io/hostname"

// InjectAntiAffinity returns a copy of template whose pods avoid the nodes running pods of the
// ReplicaSet with pod template hash avoid in namespace, as the strategy's antiAffinity asks
// (blueGreen or canary): a preferred term of the given weight, or a required term, as Argo's
// GenerateReplicaSetAffinity writes it. The template's own affinity rules are kept. With no
// antiAffinity or nothing to avoid it returns template unchanged.
func InjectAntiAffinity(template *corev1.PodTemplateSpec, a *v1alpha1.AntiAffinity, avoid, namespace string) *corev1.PodTemplateSpec {
	if a == nil || avoid == "" {
		return template
	}
	t := template.DeepCopy()
	term := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: v1alpha1.PodTemplateHashLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{avoid}}}},
		Namespaces:  []string{namespace},
		TopologyKey: AntiAffinityTopologyKey,
	}
	if t.Spec.Affinity == nil {
		t.Spec.Affinity = &corev1.Affinity{}
	}
	if t.Spec.Affinity.PodAntiAffinity == nil {
		t.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{}
	}
	pa := t.Spec.Affinity.PodAntiAffinity
	switch {
	case a.PreferredDuringSchedulingIgnoredDuringExecution != nil:
		pa.PreferredDuringSchedulingIgnoredDuringExecution = append(pa.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.WeightedPodAffinityTerm{Weight: a.PreferredDuringSchedulingIgnoredDuringExecution.Weight, PodAffinityTerm: term})
	case a.RequiredDuringSchedulingIgnoredDuringExecution != nil:
		pa.RequiredDuringSchedulingIgnoredDuringExecution = append(pa.RequiredDuringSchedulingIgnoredDuringExecution, term)
	default:
		return template
	}
	return t
}

// HasInjectedAntiAffinity reports whether template carries a term InjectAntiAffinity adds.
func HasInjectedAntiAffinity(template *corev1.PodTemplateSpec) bool {
	t := template.DeepCopy()
	return RemoveInjectedAntiAffinity(t)
}

// RemoveInjectedAntiAffinity takes the terms InjectAntiAffinity adds (a selector on the pod
// template hash alone, per node) off template, and the anti-affinity structs they leave empty.
// It reports whether it removed anything.
func RemoveInjectedAntiAffinity(template *corev1.PodTemplateSpec) bool {
	af := template.Spec.Affinity
	if af == nil || af.PodAntiAffinity == nil {
		return false
	}
	pa := af.PodAntiAffinity
	removed := false
	var preferred []corev1.WeightedPodAffinityTerm
	for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
		if isInjected(w.PodAffinityTerm) {
			removed = true
			continue
		}
		preferred = append(preferred, w)
	}
	var required []corev1.PodAffinityTerm
	for _, term := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
		if isInjected(term) {
			removed = true
			continue
		}
		required = append(required, term)
	}
	if !removed {
		return false
	}
	pa.PreferredDuringSchedulingIgnoredDuringExecution, pa.RequiredDuringSchedulingIgnoredDuringExecution = preferred, required
	if len(preferred) == 0 && len(required) == 0 {
		af.PodAntiAffinity = nil
	}
	if af.NodeAffinity == nil && af.PodAffinity == nil && af.PodAntiAffinity == nil {
		template.Spec.Affinity = nil
	}
	return true
}

func isInjected(t corev1.PodAffinityTerm) bool {
	sel := t.LabelSelector
	return sel != nil && t.TopologyKey == AntiAffinityTopologyKey && len(sel.MatchLabels) == 0 &&
		len(sel.MatchExpressions) == 1 && sel.MatchExpressions[0].Key == v1alpha1.PodTemplateHashLabel &&
		sel.MatchExpressions[0].Operator == metav1.LabelSelectorOpIn && len(t.Namespaces) <= 1 && t.NamespaceSelector == nil
}
