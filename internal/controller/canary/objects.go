package canary

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// SelectorLabels are the pod labels, in order, whose value Flagger's selectors use (its
// -selector-labels default).
var SelectorLabels = []string{"app", "name", "app.kubernetes.io/name"}

// toolkitMarker marks Flux's labels and annotations, which are never copied.
const toolkitMarker = "toolkit.fluxcd.io"

// idAnnotation is the pod annotation Flagger renews on each promotion (so the primary rolls).
const idAnnotation = "flagger-id"

func ownerRef(cd *flaggerv1.Canary) metav1.OwnerReference {
	return *metav1.NewControllerRef(cd, flaggerv1.GroupVersion.WithKind("Canary"))
}

// selectorLabel returns the first of SelectorLabels the target's selector matches on, and its value.
func selectorLabel(dep *appsv1.Deployment) (string, string, error) {
	if dep.Spec.Selector != nil {
		for _, l := range SelectorLabels {
			if v, ok := dep.Spec.Selector.MatchLabels[l]; ok {
				return l, v, nil
			}
		}
	}
	return "", "", fmt.Errorf("deployment %s.%s spec.selector.matchLabels must contain one of %v", dep.Name, dep.Namespace, SelectorLabels)
}

func filterToolkit(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := map[string]string{}
	for k, v := range m {
		if !strings.Contains(k, toolkitMarker) {
			out[k] = v
		}
	}
	return out
}

// primaryLabels are labels with the selector label set to the primary's value.
func primaryLabels(labels map[string]string, label, value string) map[string]string {
	out := filterToolkit(labels)
	if out == nil {
		out = map[string]string{}
	}
	out[label] = value
	return out
}

// podAnnotations are the target's pod annotations with a fresh flagger-id.
func podAnnotations(in map[string]string) (map[string]string, error) {
	out := filterToolkit(in)
	if out == nil {
		out = map[string]string{}
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("making the %s annotation: %w", idAnnotation, err)
	}
	id[8], id[6] = id[8]&^0xc0|0x80, id[6]&^0xf0|0x40
	out[idAnnotation] = fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:])
	return out, nil
}

// primaryTemplate is the primary's pod template made from the target's.
func primaryTemplate(w *workload) (corev1.PodTemplateSpec, error) {
	ann, err := podAnnotations(w.target.Spec.Template.Annotations)
	if err != nil {
		return corev1.PodTemplateSpec{}, err
	}
	spec := primaryPodSpec(&w.target.Spec.Template.Spec, w.configs)
	suffixAffinity(&spec, w.label, w.target.Name)
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: primaryLabels(w.target.Spec.Template.Labels, w.label, w.primaryValue()), Annotations: ann},
		Spec:       spec,
	}, nil
}

// suffixAffinity points the template's anti-affinity and topology spread selectors that name
// the target at the primary instead.
func suffixAffinity(spec *corev1.PodSpec, label, target string) {
	var sels []*metav1.LabelSelector
	for i := range spec.TopologySpreadConstraints {
		sels = append(sels, spec.TopologySpreadConstraints[i].LabelSelector)
	}
	if a := spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for i := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			sels = append(sels, a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[i].PodAffinityTerm.LabelSelector)
		}
		for i := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			sels = append(sels, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[i].LabelSelector)
		}
	}
	for _, s := range sels {
		if s == nil {
			continue
		}
		for i := range s.MatchExpressions {
			if s.MatchExpressions[i].Key != label {
				continue
			}
			for j, v := range s.MatchExpressions[i].Values {
				if v == target {
					s.MatchExpressions[i].Values[j] = v + "-primary"
				}
			}
		}
		if s.MatchLabels[label] == target {
			s.MatchLabels[label] = target + "-primary"
		}
	}
}

// ensurePrimary creates the primary Deployment (and the primary copies of the tracked configs)
// when it does not exist yet.
func (r *Reconciler) ensurePrimary(ctx context.Context, cd *flaggerv1.Canary, w *workload) error {
	if w.primary != nil {
		return nil
	}
	if err := r.syncPrimaryConfigs(ctx, cd, w.configs); err != nil {
		return err
	}
	tmpl, err := primaryTemplate(w)
	if err != nil {
		return err
	}
	t := w.target
	replicas := int32(1)
	if t.Spec.Replicas != nil && *t.Spec.Replicas > 0 {
		replicas = *t.Spec.Replicas
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: cd.PrimaryName(), Namespace: cd.Namespace,
			Labels:          primaryLabels(nil, w.label, w.primaryValue()),
			Annotations:     filterToolkit(t.Annotations),
			OwnerReferences: []metav1.OwnerReference{ownerRef(cd)}},
		Spec: appsv1.DeploymentSpec{
			ProgressDeadlineSeconds: t.Spec.ProgressDeadlineSeconds, MinReadySeconds: t.Spec.MinReadySeconds,
			RevisionHistoryLimit: t.Spec.RevisionHistoryLimit, Replicas: ptr.To(replicas), Strategy: t.Spec.Strategy,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{w.label: w.primaryValue()}},
			Template: tmpl,
		},
	}
	if err := r.Client.Create(ctx, dep); err != nil {
		return fmt.Errorf("creating deployment %s.%s failed: %w", dep.Name, cd.Namespace, err)
	}
	w.primary = dep
	return nil
}

// promote copies the target's pod template, its configs and its rollout settings to the primary.
func (r *Reconciler) promote(ctx context.Context, cd *flaggerv1.Canary, w *workload) error {
	if w.primary == nil {
		return fmt.Errorf("deployment %s.%s get query error: not found", cd.PrimaryName(), cd.Namespace)
	}
	if err := r.syncPrimaryConfigs(ctx, cd, w.configs); err != nil {
		return err
	}
	tmpl, err := primaryTemplate(w)
	if err != nil {
		return err
	}
	p, t := w.primary.DeepCopy(), w.target
	p.Spec.ProgressDeadlineSeconds, p.Spec.MinReadySeconds = t.Spec.ProgressDeadlineSeconds, t.Spec.MinReadySeconds
	p.Spec.RevisionHistoryLimit, p.Spec.Strategy = t.Spec.RevisionHistoryLimit, t.Spec.Strategy
	if cd.Spec.AutoscalerRef == nil {
		p.Spec.Replicas = t.Spec.Replicas
	}
	p.Spec.Template = tmpl
	p.Annotations = filterToolkit(t.Annotations)
	p.Labels = primaryLabels(nil, w.label, w.primaryValue())
	if err := r.Client.Update(ctx, p); err != nil {
		return fmt.Errorf("updating deployment %s.%s template spec failed: %w", p.Name, cd.Namespace, err)
	}
	w.primary = p
	return nil
}

// scaleTarget sets the target's replicas.
func (r *Reconciler) scaleTarget(ctx context.Context, w *workload, replicas int32) error {
	if w.target.Spec.Replicas != nil && *w.target.Spec.Replicas == replicas {
		return nil
	}
	patch := client.MergeFrom(w.target.DeepCopy())
	w.target.Spec.Replicas = ptr.To(replicas)
	if err := r.Client.Patch(ctx, w.target, patch); err != nil {
		return fmt.Errorf("scaling %s.%s to %d failed: %w", w.target.Name, w.target.Namespace, replicas, err)
	}
	return nil
}

// scaleUpReplicas is what the target scales up to: its own replicas, else the primary's, else
// the autoscaler's minimum, else one.
func (r *Reconciler) scaleUpReplicas(ctx context.Context, cd *flaggerv1.Canary, w *workload) int32 {
	if t := w.target.Spec.Replicas; t != nil && *t > 0 {
		return *t
	}
	if cd.Spec.AutoscalerRef == nil {
		if w.primary != nil && w.primary.Spec.Replicas != nil && *w.primary.Spec.Replicas > 0 {
			return *w.primary.Spec.Replicas
		}
		return 1
	}
	if hpa, err := r.readHPA(ctx, cd, cd.Spec.AutoscalerRef.Name); err == nil && hpa.Spec.MinReplicas != nil && *hpa.Spec.MinReplicas > 1 {
		return *hpa.Spec.MinReplicas
	}
	return 1
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
