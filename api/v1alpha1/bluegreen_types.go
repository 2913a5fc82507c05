package v1alpha1

import "k8s.io/apimachinery/pkg/util/intstr"

// BlueGreenStrategy runs the new version next to the old one, optionally
// behind a preview Service, and then switches the active Service over.
type BlueGreenStrategy struct {
	// ActiveService is the Service that sends production traffic to the
	// active ReplicaSet. Required.
	ActiveService string `json:"activeService"`
	// PreviewService is a Service pointed at the new ReplicaSet before it is
	// promoted.
	// +optional
	PreviewService string `json:"previewService,omitempty"`
	// PreviewReplicaCount is how many pods the new ReplicaSet runs before
	// promotion. Once promoted it is scaled to spec.replicas first.
	// +optional
	PreviewReplicaCount *int32 `json:"previewReplicaCount,omitempty"`
	// AutoPromotionEnabled promotes the new ReplicaSet as soon as it is ready.
	// When false the Rollout pauses before switching. Defaults to true.
	// +optional
	AutoPromotionEnabled *bool `json:"autoPromotionEnabled,omitempty"`
	// AutoPromotionSeconds waits this long after the new ReplicaSet is ready
	// before promoting it. Ignored when autoPromotionEnabled is false.
	// Defaults to 0.
	// +optional
	AutoPromotionSeconds int32 `json:"autoPromotionSeconds,omitempty"`
	// MaxUnavailable is how many pods may be unavailable during a restart.
	// Defaults to 25%.
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	// ScaleDownDelaySeconds is how long the previous ReplicaSet stays up after
	// the switch, so that every node has the new Service endpoints.
	// Defaults to 30.
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
	// ScaleDownDelayRevisionLimit limits how many old ReplicaSets may wait for
	// their scale-down delay at once.
	// +optional
	ScaleDownDelayRevisionLimit *int32 `json:"scaleDownDelayRevisionLimit,omitempty"`
	// PrePromotionAnalysis must pass before the active Service is switched.
	// +optional
	PrePromotionAnalysis *RolloutAnalysis `json:"prePromotionAnalysis,omitempty"`
	// AntiAffinity keeps the new pods off the old pods' nodes.
	// +optional
	AntiAffinity *AntiAffinity `json:"antiAffinity,omitempty"`
	// PostPromotionAnalysis runs after the switch; failing it switches back.
	// +optional
	PostPromotionAnalysis *RolloutAnalysis `json:"postPromotionAnalysis,omitempty"`
	// PreviewMetadata is put on the new pods while they are the preview.
	// +optional
	PreviewMetadata *PodTemplateMetadata `json:"previewMetadata,omitempty"`
	// ActiveMetadata is put on the pods behind the active Service.
	// +optional
	ActiveMetadata *PodTemplateMetadata `json:"activeMetadata,omitempty"`
	// AbortScaleDownDelaySeconds is how long the preview ReplicaSet stays up
	// after an abort. 0 keeps it. Defaults to 30.
	// +optional
	AbortScaleDownDelaySeconds *int32 `json:"abortScaleDownDelaySeconds,omitempty"`
}

// BlueGreenStatus is the state specific to the blue/green strategy.
type BlueGreenStatus struct {
	// PreviewSelector is the pod template hash the preview Service selects.
	// +optional
	PreviewSelector string `json:"previewSelector,omitempty"`
	// ActiveSelector is the pod template hash the active Service selects.
	// +optional
	ActiveSelector string `json:"activeSelector,omitempty"`
	// ScaleUpPreviewCheckPoint is true once the preview ReplicaSet may be
	// scaled up to full size after a resume.
	// +optional
	ScaleUpPreviewCheckPoint bool `json:"scaleUpPreviewCheckPoint,omitempty"`
	// PrePromotionAnalysisRunStatus is the pre-promotion AnalysisRun.
	// +optional
	PrePromotionAnalysisRunStatus *RolloutAnalysisRunStatus `json:"prePromotionAnalysisRunStatus,omitempty"`
	// PostPromotionAnalysisRunStatus is the post-promotion AnalysisRun.
	// +optional
	PostPromotionAnalysisRunStatus *RolloutAnalysisRunStatus `json:"postPromotionAnalysisRunStatus,omitempty"`
}
