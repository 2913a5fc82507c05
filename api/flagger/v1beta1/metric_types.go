package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MetricTemplate is a query against a metrics provider that Canaries reference by name.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=all
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.provider.type`
type MetricTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec MetricTemplateSpec `json:"spec"`
}

// MetricTemplateList is a list of MetricTemplates.
//
// +kubebuilder:object:root=true
type MetricTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MetricTemplate `json:"items"`
}

// MetricTemplateSpec is the provider and the templated query.
type MetricTemplateSpec struct {
	Provider MetricProvider `json:"provider"`
	// Query may use Flagger's template variables ({{ namespace }}, {{ target }}, ...).
	Query string `json:"query"`
}

// MetricProvider is where a MetricTemplate's query runs.
type MetricProvider struct {
	// +kubebuilder:validation:Enum=prometheus;influxdb;datadog;stackdriver;cloudwatch;newrelic;graphite;dynatrace
	Type string `json:"type"`
	// +optional
	Address string `json:"address,omitempty"`
	// SecretRef names the Secret with the provider's credentials.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// +optional
	Region string `json:"region,omitempty"`
	// +optional
	InsecureSkipVerify *bool `json:"insecureSkipVerify,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	Name string `json:"name"`
}
