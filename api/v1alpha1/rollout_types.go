package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Rollout replaces a Deployment: it owns ReplicaSets and moves pods from one
// revision to the next with a canary or blue/green strategy.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=rollouts,shortName=ro,categories={vane,argoproj}
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.HPAReplicas,selectorpath=.status.selector
// +kubebuilder:printcolumn:name="Desired",type="integer",JSONPath=".spec.replicas",description="Number of desired pods"
// +kubebuilder:printcolumn:name="Current",type="integer",JSONPath=".status.replicas",description="Total number of non-terminated pods targeted by this rollout"
// +kubebuilder:printcolumn:name="Up-to-date",type="integer",JSONPath=".status.updatedReplicas",description="Total number of non-terminated pods targeted by this rollout that have the desired template spec"
// +kubebuilder:printcolumn:name="Available",type="integer",JSONPath=".status.availableReplicas",description="Total number of available pods (ready for at least minReadySeconds) targeted by this rollout"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since the resource was created"
type Rollout struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state of the Rollout.
	Spec RolloutSpec `json:"spec"`
	// Status is the observed state of the Rollout, written by the controller.
	// +optional
	Status RolloutStatus `json:"status,omitempty,omitzero"`
}

// RolloutList is a list of Rollouts.
//
// +kubebuilder:object:root=true
type RolloutList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the Rollouts.
	Items []Rollout `json:"items"`
}

// RolloutSpec is the desired state of a Rollout.
type RolloutSpec struct {
	// Replicas is the number of desired pods. Defaults to 1 (DefaultReplicas).
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// Selector selects the pods this Rollout owns. It must match the labels of
	// the pod template. It may be left out when workloadRef is used, in which
	// case the referenced workload's selector is used.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// Template describes the pods to create. Leave it out (or empty) when
	// workloadRef is set.
	// +optional
	Template corev1.PodTemplateSpec `json:"template,omitempty,omitzero"`
	// WorkloadRef points at an existing workload (Deployment, ReplicaSet or
	// PodTemplate) that provides the pod template instead of Template.
	// +optional
	WorkloadRef *ObjectRef `json:"workloadRef,omitempty"`
	// MinReadySeconds is how long a new pod must be ready, with no container
	// crashing, before it counts as available. Defaults to 0.
	// +optional
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// RollbackWindow lets a rollback to one of the last revisions skip the
	// steps and be promoted at once.
	// +optional
	RollbackWindow *RollbackWindowSpec `json:"rollbackWindow,omitempty"`
	// Strategy is how new pods replace old ones: exactly one of canary or
	// blueGreen.
	// +optional
	Strategy RolloutStrategy `json:"strategy"`
	// RevisionHistoryLimit is how many old ReplicaSets to keep. Defaults to 10.
	// +optional
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`
	// Paused stops the Rollout at its current step.
	// +optional
	Paused bool `json:"paused,omitempty"`
	// ProgressDeadlineSeconds is the longest an update may go without progress
	// before it is marked as failed (condition Progressing, reason
	// ProgressDeadlineExceeded). Time spent paused does not count.
	// Defaults to 600.
	// +optional
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
	// ProgressDeadlineAbort aborts the update when the progress deadline is
	// exceeded. Defaults to false.
	// +optional
	ProgressDeadlineAbort bool `json:"progressDeadlineAbort,omitempty"`
	// RestartAt asks for every pod created before this time to be restarted.
	// +optional
	RestartAt *metav1.Time `json:"restartAt,omitempty"`
	// Analysis limits how many finished AnalysisRuns and Experiments are kept.
	// +optional
	Analysis *AnalysisRunStrategy `json:"analysis,omitempty"`
}

// Values of ObjectRef.ScaleDown.
const (
	// ScaleDownNever leaves the referenced workload as it is.
	ScaleDownNever string = "never"
	// ScaleDownOnSuccess scales the referenced workload to zero once the
	// Rollout is healthy.
	ScaleDownOnSuccess string = "onsuccess"
	// ScaleDownProgressively scales the referenced workload down as the
	// Rollout scales up.
	ScaleDownProgressively string = "progressively"
)

// ObjectRef refers to a workload in the Rollout's namespace that provides the
// pod template.
type ObjectRef struct {
	// APIVersion of the referent, e.g. apps/v1.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// Kind of the referent: Deployment, ReplicaSet or PodTemplate.
	// +optional
	Kind string `json:"kind,omitempty"`
	// Name of the referent.
	// +optional
	Name string `json:"name,omitempty"`
	// ScaleDown says what happens to the referenced workload once the Rollout
	// runs its pods: never (default), onsuccess or progressively.
	// +optional
	ScaleDown string `json:"scaleDown,omitempty"`
}

// RollbackWindowSpec sets how many recent revisions a rollback may return to
// without running the steps again.
type RollbackWindowSpec struct {
	// Revisions is the number of revisions in the window.
	// +optional
	Revisions int32 `json:"revisions,omitempty"`
}

// RolloutStrategy holds exactly one update strategy.
type RolloutStrategy struct {
	// BlueGreen runs the new version beside the old one and switches the
	// active Service over at once.
	// +optional
	BlueGreen *BlueGreenStrategy `json:"blueGreen,omitempty"`
	// Canary moves traffic or replicas to the new version step by step.
	// +optional
	Canary *CanaryStrategy `json:"canary,omitempty"`
}

// AnalysisRunStrategy limits how many finished AnalysisRuns and Experiments
// a Rollout keeps.
type AnalysisRunStrategy struct {
	// SuccessfulRunHistoryLimit is how many successful runs to keep.
	// Defaults to 5.
	// +optional
	SuccessfulRunHistoryLimit *int32 `json:"successfulRunHistoryLimit,omitempty"`
	// UnsuccessfulRunHistoryLimit is how many unsuccessful (Error, Failed,
	// Inconclusive) runs to keep. Defaults to 5.
	// +optional
	UnsuccessfulRunHistoryLimit *int32 `json:"unsuccessfulRunHistoryLimit,omitempty"`
}

// AntiAffinity asks for the new pods to avoid the nodes of the previous
// version. Exactly one of the two fields must be set.
type AntiAffinity struct {
	// PreferredDuringSchedulingIgnoredDuringExecution adds a preferred
	// anti-affinity term with the given weight.
	// +optional
	PreferredDuringSchedulingIgnoredDuringExecution *PreferredDuringSchedulingIgnoredDuringExecution `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
	// RequiredDuringSchedulingIgnoredDuringExecution adds a required
	// anti-affinity term.
	// +optional
	RequiredDuringSchedulingIgnoredDuringExecution *RequiredDuringSchedulingIgnoredDuringExecution `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// PreferredDuringSchedulingIgnoredDuringExecution is a preferred anti-affinity rule.
type PreferredDuringSchedulingIgnoredDuringExecution struct {
	// Weight of the term, 1 to 100.
	Weight int32 `json:"weight"`
}

// RequiredDuringSchedulingIgnoredDuringExecution is a required anti-affinity rule.
type RequiredDuringSchedulingIgnoredDuringExecution struct{}

// PodTemplateMetadata is extra labels and annotations put on a set of pods.
type PodTemplateMetadata struct {
	// Labels to add.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations to add.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// RolloutPhase is the coarse state of a Rollout.
type RolloutPhase string

// Rollout phases.
const (
	RolloutPhaseHealthy     RolloutPhase = "Healthy"
	RolloutPhaseDegraded    RolloutPhase = "Degraded"
	RolloutPhaseProgressing RolloutPhase = "Progressing"
	RolloutPhasePaused      RolloutPhase = "Paused"
)

// PauseReason says why the controller paused a Rollout.
type PauseReason string

// Pause reasons.
const (
	PauseReasonInconclusiveAnalysis   PauseReason = "InconclusiveAnalysisRun"
	PauseReasonInconclusiveExperiment PauseReason = "InconclusiveExperiment"
	PauseReasonCanaryPauseStep        PauseReason = "CanaryPauseStep"
	PauseReasonBlueGreenPause         PauseReason = "BlueGreenPause"
)

// PauseCondition is one reason for a pause and when it started.
type PauseCondition struct {
	// Reason for the pause.
	Reason PauseReason `json:"reason"`
	// StartTime is when the pause started.
	StartTime metav1.Time `json:"startTime"`
}

// RolloutConditionType is the type of a RolloutCondition.
type RolloutConditionType string

// Rollout condition types.
const (
	InvalidSpec           RolloutConditionType = "InvalidSpec"
	RolloutAvailable      RolloutConditionType = "Available"
	RolloutProgressing    RolloutConditionType = "Progressing"
	RolloutReplicaFailure RolloutConditionType = "ReplicaFailure"
	RolloutPaused         RolloutConditionType = "Paused"
	RolloutCompleted      RolloutConditionType = "Completed"
	RolloutHealthy        RolloutConditionType = "Healthy"
)

// RolloutCondition is the state of one aspect of a Rollout.
type RolloutCondition struct {
	// Type of the condition.
	Type RolloutConditionType `json:"type"`
	// Status is True, False or Unknown.
	Status corev1.ConditionStatus `json:"status"`
	// LastUpdateTime is when the condition was last updated.
	LastUpdateTime metav1.Time `json:"lastUpdateTime"`
	// LastTransitionTime is when the status last changed.
	LastTransitionTime metav1.Time `json:"lastTransitionTime"`
	// Reason is a machine-readable reason for the last transition.
	Reason string `json:"reason"`
	// Message is a human-readable description of the last transition.
	Message string `json:"message"`
}

// RolloutStatus is the observed state of a Rollout. Its shape follows Argo
// Rollouts so that tools reading Argo status (kubectl plugins, Argo CD
// health checks) read Vane's too.
type RolloutStatus struct {
	// Abort asks the controller to abort the current update.
	// +optional
	Abort bool `json:"abort,omitempty"`
	// PauseConditions lists why the controller paused the Rollout. Clearing
	// the list resumes it.
	// +optional
	PauseConditions []PauseCondition `json:"pauseConditions,omitempty"`
	// ControllerPause is true once the controller has paused the Rollout.
	// +optional
	ControllerPause bool `json:"controllerPause,omitempty"`
	// AbortedAt is when the controller handled an abort.
	// +optional
	AbortedAt *metav1.Time `json:"abortedAt,omitempty"`
	// CurrentPodHash is the hash of the current pod template.
	// +optional
	CurrentPodHash string `json:"currentPodHash,omitempty"`
	// CurrentStepHash is the hash of the current list of steps.
	// +optional
	CurrentStepHash string `json:"currentStepHash,omitempty"`
	// Replicas is the number of non-terminated pods selected by the Rollout.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// UpdatedReplicas is the number of those pods with the desired template.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`
	// ReadyReplicas is the number of ready pods.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// AvailableReplicas is the number of pods ready for at least minReadySeconds.
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`
	// CurrentStepIndex is the index of the canary step being run.
	// +optional
	CurrentStepIndex *int32 `json:"currentStepIndex,omitempty"`
	// CollisionCount counts ReplicaSet name hash collisions.
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`
	// ObservedGeneration is the metadata.generation the controller last acted
	// on. It is a string, as in Argo Rollouts.
	// +optional
	ObservedGeneration string `json:"observedGeneration,omitempty"`
	// Conditions of the Rollout.
	// +optional
	Conditions []RolloutCondition `json:"conditions,omitempty"`
	// Canary is the state specific to the canary strategy.
	// +optional
	Canary CanaryStatus `json:"canary,omitempty,omitzero"`
	// BlueGreen is the state specific to the blue/green strategy.
	// +optional
	BlueGreen BlueGreenStatus `json:"blueGreen,omitempty,omitzero"`
	// HPAReplicas is the number of non-terminated pods receiving active
	// traffic; the scale subresource reports it.
	// +optional
	HPAReplicas int32 `json:"HPAReplicas,omitempty"`
	// Selector is the label selector (in string form) of the pods receiving
	// active traffic; the scale subresource reports it.
	// +optional
	Selector string `json:"selector,omitempty"`
	// StableRS is the pod template hash of the stable ReplicaSet.
	// +optional
	StableRS string `json:"stableRS,omitempty"`
	// RestartedAt is when the last restart finished.
	// +optional
	RestartedAt *metav1.Time `json:"restartedAt,omitempty"`
	// PromoteFull asks for a full promotion that skips remaining steps,
	// analysis and pauses.
	// +optional
	PromoteFull bool `json:"promoteFull,omitempty"`
	// Phase is the coarse state. Only meaningful when observedGeneration
	// matches metadata.generation.
	// +optional
	Phase RolloutPhase `json:"phase,omitempty"`
	// Message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`
	// WorkloadObservedGeneration is the generation of the referenced workload
	// the controller last acted on.
	// +optional
	WorkloadObservedGeneration string `json:"workloadObservedGeneration,omitempty"`
	// ALB holds the state of the AWS load balancer when ALB routing is used.
	// +optional
	ALB *ALBStatus `json:"alb,omitempty"`
	// ALBs holds the state of each load balancer with several ingresses.
	// +optional
	ALBs []ALBStatus `json:"albs,omitempty"`
}

// RolloutAnalysisRunStatus is the name and phase of an AnalysisRun a
// Rollout started.
type RolloutAnalysisRunStatus struct {
	// Name of the AnalysisRun.
	Name string `json:"name"`
	// Status is the phase of the AnalysisRun.
	Status AnalysisPhase `json:"status"`
	// Message from the AnalysisRun.
	// +optional
	Message string `json:"message,omitempty"`
}

// ALBStatus is the state of an AWS load balancer and its target groups.
type ALBStatus struct {
	// LoadBalancer is the load balancer.
	// +optional
	LoadBalancer AwsResourceRef `json:"loadBalancer,omitempty,omitzero"`
	// CanaryTargetGroup is the canary target group.
	// +optional
	CanaryTargetGroup AwsResourceRef `json:"canaryTargetGroup,omitempty,omitzero"`
	// StableTargetGroup is the stable target group.
	// +optional
	StableTargetGroup AwsResourceRef `json:"stableTargetGroup,omitempty,omitzero"`
	// Ingress is the name of the Ingress.
	// +optional
	Ingress string `json:"ingress,omitempty"`
}

// AwsResourceRef names an AWS resource.
type AwsResourceRef struct {
	// Name of the resource.
	Name string `json:"name"`
	// ARN of the resource.
	ARN string `json:"arn"`
	// FullName of the resource.
	// +optional
	FullName string `json:"fullName"`
}
