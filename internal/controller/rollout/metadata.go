package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// roleMetadata is the metadata a ReplicaSet's pods carry for their role: stableMetadata for the
// stable ReplicaSet, canaryMetadata for the canary, none for the others.
func roleMetadata(c *v1alpha1.CanaryStrategy, hash, newHash, stableHash string) v1alpha1.PodTemplateMetadata {
	var m *v1alpha1.PodTemplateMetadata
	switch hash {
	case stableHash:
		m = c.StableMetadata
	case newHash:
		m = c.CanaryMetadata
	}
	if m == nil {
		return v1alpha1.PodTemplateMetadata{}
	}
	return *m
}

// syncMetadata puts want on the ReplicaSet's pod template and, in place, on its pods, taking
// off what an earlier role had put there.
func (r *Reconciler) syncMetadata(ctx context.Context, rs *appsv1.ReplicaSet, want v1alpha1.PodTemplateMetadata) error {
	var had v1alpha1.PodTemplateMetadata
	if raw := rs.Annotations[v1alpha1.EphemeralMetadataAnnotation]; raw != "" {
		_ = json.Unmarshal([]byte(raw), &had) // a garbled record is replaced below
	}
	if maps.Equal(had.Labels, want.Labels) && maps.Equal(had.Annotations, want.Annotations) {
		return nil
	}
	labels, annotations := metadataPatch(had.Labels, want.Labels), metadataPatch(had.Annotations, want.Annotations)
	record, err := json.Marshal(want)
	if err != nil {
		return err
	}
	patch := client.MergeFromWithOptions(rs.DeepCopy(), client.MergeFromWithOptimisticLock{})
	applyMetadata(&rs.Spec.Template.ObjectMeta, labels, annotations)
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	rs.Annotations[v1alpha1.EphemeralMetadataAnnotation] = string(record)
	if len(want.Labels) == 0 && len(want.Annotations) == 0 {
		delete(rs.Annotations, v1alpha1.EphemeralMetadataAnnotation)
	}
	if err := r.Client.Patch(ctx, rs, patch); err != nil {
		return fmt.Errorf("updating metadata of ReplicaSet %s: %w", rs.Name, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		return fmt.Errorf("ReplicaSet %s selector: %w", rs.Name, err)
	}
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(rs.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return fmt.Errorf("listing pods of %s: %w", rs.Name, err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		ppatch := client.MergeFrom(p.DeepCopy())
		applyMetadata(&p.ObjectMeta, labels, annotations)
		if err := r.Client.Patch(ctx, p, ppatch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("updating metadata of pod %s: %w", p.Name, err)
		}
	}
	return nil
}

// metadataPatch maps each key to its new value, or to nil for a key to take off.
func metadataPatch(had, want map[string]string) map[string]*string {
	out := map[string]*string{}
	for k := range had {
		out[k] = nil
	}
	for k, v := range want {
		out[k] = &v
	}
	return out
}

func applyMetadata(m *metav1.ObjectMeta, labels, annotations map[string]*string) {
	apply := func(dst map[string]string, p map[string]*string) map[string]string {
		if dst == nil {
			dst = map[string]string{}
		}
		for k, v := range p {
			if v == nil {
				delete(dst, k)
			} else {
				dst[k] = *v
			}
		}
		return dst
	}
	m.Labels = apply(m.Labels, labels)
	m.Annotations = apply(m.Annotations, annotations)
}
