package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CanaryPhase is the phase of a Canary's analysis.
//
// +kubebuilder:validation:Enum="";Initializing;Initialized;Waiting;Progressing;WaitingPromotion;Promoting;Finalising;Succeeded;Failed;Terminating;Terminated
type CanaryPhase string

// CanaryStatus is the observed state of a Canary.
type CanaryStatus struct {
	// +optional
	Phase CanaryPhase `json:"phase"`
	// +optional
	FailedChecks int32 `json:"failedChecks"`
	// +optional
	CanaryWeight int32 `json:"canaryWeight"`
	// +optional
	Iterations int32 `json:"iterations"`
	// TrackedConfigs are the checksums of the ConfigMaps and Secrets the target uses.
	// +optional
	TrackedConfigs map[string]string `json:"trackedConfigs,omitempty"`
	// +optional
	LastAppliedSpec string `json:"lastAppliedSpec,omitempty"`
	// +optional
	LastPromotedSpec string `json:"lastPromotedSpec,omitempty"`
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
	// +optional
	SessionAffinityCookie string `json:"sessionAffinityCookie,omitempty"`
	// +optional
	PreviousSessionAffinityCookie string `json:"previousSessionAffinityCookie,omitempty"`
	// +optional
	Conditions []CanaryCondition `json:"conditions,omitempty"`
}

// CanaryCondition is a condition of a Canary (Flagger sets Promoted).
type CanaryCondition struct {
	Type   string `json:"type"`
	Status string `json:"status"`
	Reason string `json:"reason"`
	// +optional
	LastUpdateTime *metav1.Time `json:"lastUpdateTime,omitempty"`
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}
