package strategy

import (
	"encoding/json"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/vanedev/vane/api/v1alpha1"
)

// UserTemplate returns the pod template of a ReplicaSet the controller created as it was
// before the controller added to it (the API server's defaults stay): without the
// pod-template-hash label, the role metadata (canary, stable, active or preview) and the
// blue/green anti-affinity.
func UserTemplate(rs *appsv1.ReplicaSet) *corev1.PodTemplateSpec {
	t := rs.Spec.Template.DeepCopy()
	delete(t.Labels, v1alpha1.PodTemplateHashLabel)
	var m v1alpha1.PodTemplateMetadata
	if raw := rs.Annotations[v1alpha1.EphemeralMetadataAnnotation]; raw != "" && json.Unmarshal([]byte(raw), &m) == nil {
		for k := range m.Labels {
			delete(t.Labels, k)
		}
		for k := range m.Annotations {
			delete(t.Annotations, k)
		}
	}
	if len(t.Labels) == 0 {
		t.Labels = nil
	}
	if len(t.Annotations) == 0 {
		t.Annotations = nil
	}
	RemoveInjectedAntiAffinity(t)
	return t
}
