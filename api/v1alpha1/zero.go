package v1alpha1

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Encoding of empty values.
//
// Struct-valued fields that Argo marks `omitempty` (encoding/json never
// omits a struct for omitempty) carry `omitzero` here, so that decoding and
// re-encoding a manifest does not add `status: {}` or
// `analysisRunMetadata: {}`. The IsZero methods below make "zero" semantic:
// a struct whose maps and slices are empty but not nil is zero too, so an
// object encodes the same way after any number of decode/encode cycles.

// semanticallyZero reports whether v equals its type's zero value, treating
// nil and empty maps and slices as equal.
func semanticallyZero[T any](v T) bool {
	var zero T
	return equality.Semantic.DeepEqual(v, zero)
}

// IsZero reports whether the status is empty.
func (s RolloutStatus) IsZero() bool { return semanticallyZero(s) }

// IsZero reports whether the status is empty.
func (s CanaryStatus) IsZero() bool { return semanticallyZero(s) }

// IsZero reports whether the status is empty.
func (s BlueGreenStatus) IsZero() bool { return semanticallyZero(s) }

// IsZero reports whether the status is empty.
func (s AnalysisRunStatus) IsZero() bool { return semanticallyZero(s) }

// IsZero reports whether the summary is empty.
func (s RunSummary) IsZero() bool { return semanticallyZero(s) }

// IsZero reports whether the status is empty.
func (s ExperimentStatus) IsZero() bool { return semanticallyZero(s) }

// IsZero reports whether there are no labels and no annotations.
func (m AnalysisRunMetadata) IsZero() bool { return len(m.Labels) == 0 && len(m.Annotations) == 0 }

// IsZero reports whether there are no labels and no annotations.
func (m PodTemplateMetadata) IsZero() bool { return len(m.Labels) == 0 && len(m.Annotations) == 0 }

// IsZero reports whether no authentication is configured.
func (a Authentication) IsZero() bool { return semanticallyZero(a) }

// IsZero reports whether no SigV4 setting is given.
func (c Sigv4Config) IsZero() bool { return c == Sigv4Config{} }

// IsZero reports whether no OAuth2 setting is given.
func (c OAuth2Config) IsZero() bool { return semanticallyZero(c) }

// IsZero reports whether the reference is empty.
func (r AwsResourceRef) IsZero() bool { return r == AwsResourceRef{} }

// IsZero reports whether no metric is named.
func (m CloudWatchMetricStatMetric) IsZero() bool { return semanticallyZero(m) }

// MarshalJSON leaves out a pod template that has no content (as when
// workloadRef provides it), instead of writing `template: {metadata: {}, spec: {containers: null}}`.
func (s RolloutSpec) MarshalJSON() ([]byte, error) {
	type plain RolloutSpec
	if semanticallyZero(s.Template) {
		s.Template = corev1.PodTemplateSpec{}
	}
	return json.Marshal(plain(s))
}

// MarshalJSON leaves out empty job metadata.
func (j JobMetric) MarshalJSON() ([]byte, error) {
	type plain JobMetric
	if semanticallyZero(j.Metadata) {
		j.Metadata = metav1.ObjectMeta{}
	}
	return json.Marshal(plain(j))
}
