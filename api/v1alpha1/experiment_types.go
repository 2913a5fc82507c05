package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Experiment runs one or more ReplicaSets for a limited time, usually a
// baseline and a canary side by side, together with analyses that compare
// them.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=experiments,shortName=exp,categories={vane,argoproj}
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.phase",description="Experiment status"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since the resource was created"
type Experiment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is what the Experiment runs.
	Spec ExperimentSpec `json:"spec"`
	// Status is the progress of the Experiment.
	// +optional
	Status ExperimentStatus `json:"status,omitempty,omitzero"`
}

// ExperimentList is a list of Experiments.
//
// +kubebuilder:object:root=true
type ExperimentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the Experiments.
	Items []Experiment `json:"items"`
}

// ExperimentSpec is what an Experiment runs.
type ExperimentSpec struct {
	// Templates are the ReplicaSets to run.
	Templates []TemplateSpec `json:"templates"`
	// Duration of the Experiment: seconds or a duration string. Without it
	// the Experiment runs until terminated or an analysis fails.
	// +optional
	Duration *DurationString `json:"duration,omitempty"`
	// ProgressDeadlineSeconds is how long a template may go without progress
	// before the Experiment fails. Defaults to 600.
	// +optional
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
	// Terminate stops the Experiment early.
	// +optional
	Terminate bool `json:"terminate,omitempty"`
	// Analyses run with the Experiment.
	// +optional
	Analyses []ExperimentAnalysisTemplateRef `json:"analyses,omitempty"`
	// ScaleDownDelaySeconds is how long the ReplicaSets stay up after the
	// Experiment ends. Defaults to 30.
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
	// DryRun lists metrics whose result does not affect the Experiment.
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// MeasurementRetention sets how many measurements to keep per metric.
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// AnalysisRunMetadata is added to the AnalysisRuns.
	// +optional
	AnalysisRunMetadata AnalysisRunMetadata `json:"analysisRunMetadata,omitempty,omitzero"`
}

// TemplateSpec is one ReplicaSet of an Experiment.
type TemplateSpec struct {
	// Name of the template, unique within the Experiment.
	Name string `json:"name"`
	// Replicas is the number of pods. Defaults to 1.
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// MinReadySeconds before a ready pod counts as available. Defaults to 0.
	// +optional
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// Selector of the pods; must match the template labels and differ from
	// the other templates' selectors.
	Selector *metav1.LabelSelector `json:"selector"`
	// Template of the pods.
	Template corev1.PodTemplateSpec `json:"template"`
	// Service creates a Service for the template.
	// +optional
	Service *TemplateService `json:"service,omitempty"`
}

// TemplateService asks for a Service in front of an experiment template.
type TemplateService struct {
	// Name of the Service. Defaults to a generated name.
	// +optional
	Name string `json:"name,omitempty"`
}

// TemplateStatusCode is the state of an experiment template.
type TemplateStatusCode string

// Template states.
const (
	TemplateStatusProgressing TemplateStatusCode = "Progressing"
	TemplateStatusRunning     TemplateStatusCode = "Running"
	TemplateStatusSuccessful  TemplateStatusCode = "Successful"
	TemplateStatusFailed      TemplateStatusCode = "Failed"
	TemplateStatusError       TemplateStatusCode = "Error"
)

// TemplateStatus is the state of one experiment template.
type TemplateStatus struct {
	// Name of the template.
	Name string `json:"name"`
	// Replicas is the number of non-terminated pods.
	Replicas int32 `json:"replicas"`
	// UpdatedReplicas is the number of pods with the desired template.
	UpdatedReplicas int32 `json:"updatedReplicas"`
	// ReadyReplicas is the number of ready pods.
	ReadyReplicas int32 `json:"readyReplicas"`
	// AvailableReplicas is the number of available pods.
	AvailableReplicas int32 `json:"availableReplicas"`
	// CollisionCount counts ReplicaSet name hash collisions.
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`
	// Status of the template.
	// +optional
	Status TemplateStatusCode `json:"status,omitempty"`
	// Message explains the status.
	// +optional
	Message string `json:"message,omitempty"`
	// LastTransitionTime is when the status last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
	// ServiceName is the Service created for the template.
	// +optional
	ServiceName string `json:"serviceName,omitempty"`
	// PodTemplateHash of the template's pods.
	// +optional
	PodTemplateHash string `json:"podTemplateHash,omitempty"`
}

// ExperimentStatus is the progress of an Experiment.
type ExperimentStatus struct {
	// Phase of the Experiment.
	// +optional
	Phase AnalysisPhase `json:"phase,omitempty"`
	// Message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`
	// TemplateStatuses are the states of the templates.
	// +optional
	TemplateStatuses []TemplateStatus `json:"templateStatuses,omitempty"`
	// AvailableAt is when all templates became available; the duration
	// counts from then.
	// +optional
	AvailableAt *metav1.Time `json:"availableAt,omitempty"`
	// Conditions of the Experiment.
	// +optional
	Conditions []ExperimentCondition `json:"conditions,omitempty"`
	// AnalysisRuns are the states of the analyses.
	// +optional
	AnalysisRuns []ExperimentAnalysisRunStatus `json:"analysisRuns,omitempty"`
}

// ExperimentConditionType is the type of an ExperimentCondition.
type ExperimentConditionType string

// Experiment condition types.
const (
	InvalidExperimentSpec    ExperimentConditionType = "InvalidSpec"
	ExperimentCompleted      ExperimentConditionType = "Completed"
	ExperimentProgressing    ExperimentConditionType = "Progressing"
	ExperimentRunning        ExperimentConditionType = "Running"
	ExperimentReplicaFailure ExperimentConditionType = "ReplicaFailure"
)

// ExperimentCondition is the state of one aspect of an Experiment.
type ExperimentCondition struct {
	// Type of the condition.
	Type ExperimentConditionType `json:"type"`
	// Status is True, False or Unknown.
	Status corev1.ConditionStatus `json:"status"`
	// LastUpdateTime is when the condition was last updated.
	LastUpdateTime metav1.Time `json:"lastUpdateTime"`
	// LastTransitionTime is when the status last changed.
	LastTransitionTime metav1.Time `json:"lastTransitionTime"`
	// Reason for the last transition.
	Reason string `json:"reason"`
	// Message about the last transition.
	Message string `json:"message"`
}

// ExperimentAnalysisTemplateRef is an analysis run by an Experiment.
type ExperimentAnalysisTemplateRef struct {
	// Name of the analysis within the Experiment.
	Name string `json:"name"`
	// TemplateName is the template to run.
	TemplateName string `json:"templateName"`
	// ClusterScope looks the name up among ClusterAnalysisTemplates.
	// +optional
	ClusterScope *bool `json:"clusterScope,omitempty"`
	// Args for the template.
	// +optional
	Args []Argument `json:"args,omitempty"`
	// RequiredForCompletion keeps the Experiment running until this analysis
	// finishes.
	// +optional
	RequiredForCompletion bool `json:"requiredForCompletion,omitempty"`
}

// ExperimentAnalysisRunStatus is the state of one analysis of an Experiment.
type ExperimentAnalysisRunStatus struct {
	// Name of the analysis.
	Name string `json:"name"`
	// AnalysisRun is the name of the AnalysisRun.
	AnalysisRun string `json:"analysisRun"`
	// Phase of the AnalysisRun.
	Phase AnalysisPhase `json:"phase"`
	// Message from the AnalysisRun.
	// +optional
	Message string `json:"message,omitempty"`
}

// IsClusterScope reports whether the template is a ClusterAnalysisTemplate.
func (r ExperimentAnalysisTemplateRef) IsClusterScope() bool {
	return r.ClusterScope != nil && *r.ClusterScope
}
