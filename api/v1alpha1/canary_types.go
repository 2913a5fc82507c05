package v1alpha1

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// CanaryStrategy moves an update forward in steps. Without trafficRouting
// the traffic split is approximated by the ratio of canary to stable
// replicas; with trafficRouting a traffic provider splits traffic by weight.
type CanaryStrategy struct {
	// CanaryService is a Service the controller points at the canary pods only.
	// Required with trafficRouting.
	// +optional
	CanaryService string `json:"canaryService,omitempty"`
	// StableService is a Service the controller points at the stable pods only.
	// Required with trafficRouting.
	// +optional
	StableService string `json:"stableService,omitempty"`
	// Steps are run in order on every update. With no steps the update goes
	// straight to 100%.
	// +optional
	Steps []CanaryStep `json:"steps,omitempty"`
	// TrafficRouting names the ingress or mesh that splits traffic.
	// +optional
	TrafficRouting *RolloutTrafficRouting `json:"trafficRouting,omitempty"`
	// MaxUnavailable is how many pods may be unavailable during the update,
	// as a number or a percentage (rounded down). Defaults to 25%.
	// Cannot be 0 when maxSurge is 0.
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	// MaxSurge is how many pods may exist above the desired count during the
	// update, as a number or a percentage (rounded up). Defaults to 25%.
	// Cannot be 0 when maxUnavailable is 0.
	// +optional
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`
	// Analysis runs in the background for the whole update.
	// +optional
	Analysis *RolloutAnalysisBackground `json:"analysis,omitempty"`
	// AntiAffinity keeps canary pods off the stable pods' nodes.
	// +optional
	AntiAffinity *AntiAffinity `json:"antiAffinity,omitempty"`
	// CanaryMetadata is put on the canary pods while they are the canary.
	// +optional
	CanaryMetadata *PodTemplateMetadata `json:"canaryMetadata,omitempty"`
	// StableMetadata is put on the stable pods.
	// +optional
	StableMetadata *PodTemplateMetadata `json:"stableMetadata,omitempty"`
	// ScaleDownDelaySeconds is how long the previous ReplicaSet stays up after
	// the stable Service moves to the new one. Only with trafficRouting.
	// Defaults to 30.
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
	// ScaleDownDelayRevisionLimit limits how many old ReplicaSets may wait for
	// their scale-down delay at once.
	// +optional
	ScaleDownDelayRevisionLimit *int32 `json:"scaleDownDelayRevisionLimit,omitempty"`
	// AbortScaleDownDelaySeconds is how long canary pods stay up after an
	// abort (with trafficRouting). 0 keeps them. Defaults to 30.
	// +optional
	AbortScaleDownDelaySeconds *int32 `json:"abortScaleDownDelaySeconds,omitempty"`
	// DynamicStableScale scales the stable ReplicaSet down as traffic moves to
	// the canary. Only with trafficRouting. Defaults to false.
	// +optional
	DynamicStableScale bool `json:"dynamicStableScale,omitempty"`
	// PingPong swaps two Services between stable and canary instead of
	// using canaryService/stableService.
	// +optional
	PingPong *PingPongSpec `json:"pingPong,omitempty"`
	// MinPodsPerReplicaSet is the least number of pods a non-empty stable or
	// canary ReplicaSet gets with trafficRouting. Defaults to 1.
	// +optional
	MinPodsPerReplicaSet *int32 `json:"minPodsPerReplicaSet,omitempty"`
	// ReplicaProgressThreshold is how many of the canary's pods must be
	// available, as a number or a percentage of those the step wants, for
	// the canary to count as scaled and the rollout to move on. Defaults to
	// all of them. Vane stores it but does not act on it yet: it always
	// waits for all of them (RolloutWarnings says so).
	// +optional
	ReplicaProgressThreshold *ReplicaProgressThreshold `json:"replicaProgressThreshold,omitempty"`
}

// ProgressType says how a ReplicaProgressThreshold's value counts: Percent
// or Pods.
type ProgressType string

// The progress types Argo Rollouts knows. Argo counts any other value as
// Pods.
const (
	// ProgressTypePercentage counts the value as a percentage of the pods
	// wanted.
	ProgressTypePercentage ProgressType = "Percent"
	// ProgressTypePods counts the value as a number of pods.
	ProgressTypePods ProgressType = "Pods"
)

// ReplicaProgressThreshold is the share of a canary's pods that must be
// available before the rollout goes on.
type ReplicaProgressThreshold struct {
	// Type is Percent or Pods.
	Type ProgressType `json:"type"`
	// Value is the percentage or the number of pods.
	Value int32 `json:"value"`
}

// PingPongSpec names the two Services used by the ping-pong feature.
type PingPongSpec struct {
	// PingService is the name of the ping Service.
	PingService string `json:"pingService"`
	// PongService is the name of the pong Service.
	PongService string `json:"pongService"`
}

// CanaryStep is one step of a canary update. Exactly one action must be set.
type CanaryStep struct {
	// SetWeight sends this percentage of traffic (or replicas) to the canary.
	// +optional
	SetWeight *int32 `json:"setWeight,omitempty"`
	// Pause stops the update, for a duration or until promoted.
	// +optional
	Pause *RolloutPause `json:"pause,omitempty"`
	// Experiment runs an Experiment and waits for it.
	// +optional
	Experiment *RolloutExperimentStep `json:"experiment,omitempty"`
	// Analysis runs an AnalysisRun and waits for it.
	// +optional
	Analysis *RolloutAnalysis `json:"analysis,omitempty"`
	// SetCanaryScale sets the canary's size without changing traffic weight.
	// Needs trafficRouting.
	// +optional
	SetCanaryScale *SetCanaryScale `json:"setCanaryScale,omitempty"`
	// SetHeaderRoute sends requests matching headers to the canary.
	// +optional
	SetHeaderRoute *SetHeaderRoute `json:"setHeaderRoute,omitempty"`
	// SetMirrorRoute mirrors matching traffic to the canary.
	// +optional
	SetMirrorRoute *SetMirrorRoute `json:"setMirrorRoute,omitempty"`
	// Plugin runs a step plugin.
	// +optional
	Plugin *PluginStep `json:"plugin,omitempty"`
}

// RolloutPause is a pause step.
type RolloutPause struct {
	// Duration of the pause: a number of seconds or a duration string such as
	// 30s or 1h. Without a duration the Rollout waits until promoted.
	// +optional
	Duration *DurationString `json:"duration,omitempty"`
}

// SetCanaryScale sets the size of the canary ReplicaSet independently of the
// traffic weight. Set one of the fields.
type SetCanaryScale struct {
	// Weight is the canary size as a percentage of spec.replicas.
	// +optional
	Weight *int32 `json:"weight,omitempty"`
	// Replicas is the canary size as a number of pods.
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// MatchTrafficWeight returns to sizing the canary by traffic weight.
	// +optional
	MatchTrafficWeight bool `json:"matchTrafficWeight,omitempty"`
}

// SetHeaderRoute sends requests that match headers to the canary. A step
// with no match removes the route.
type SetHeaderRoute struct {
	// Name of the route; must be listed in trafficRouting.managedRoutes.
	// +optional
	Name string `json:"name,omitempty"`
	// Match lists header conditions.
	// +optional
	Match []HeaderRoutingMatch `json:"match,omitempty"`
}

// HeaderRoutingMatch matches one request header.
type HeaderRoutingMatch struct {
	// HeaderName is the name of the header.
	HeaderName string `json:"headerName"`
	// HeaderValue is how its value must match.
	HeaderValue *StringMatch `json:"headerValue"`
}

// SetMirrorRoute mirrors matching traffic to the canary.
type SetMirrorRoute struct {
	// Name of the route; must be listed in trafficRouting.managedRoutes.
	Name string `json:"name"`
	// Match lists the request conditions. The blocks are ORed; inside a block
	// the conditions are ANDed. No match removes the route.
	// +optional
	Match []RouteMatch `json:"match,omitempty"`
	// Percentage of the matching traffic to mirror.
	// +optional
	Percentage *int32 `json:"percentage,omitempty"`
}

// RouteMatch is one set of request conditions.
type RouteMatch struct {
	// Method of the request.
	// +optional
	Method *StringMatch `json:"method,omitempty"`
	// Path of the request.
	// +optional
	Path *StringMatch `json:"path,omitempty"`
	// Headers of the request, by name.
	// +optional
	Headers map[string]StringMatch `json:"headers,omitempty"`
}

// StringMatch matches a string in exactly one way.
type StringMatch struct {
	// Exact match.
	// +optional
	Exact string `json:"exact,omitempty"`
	// Prefix match.
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// Regex match.
	// +optional
	Regex string `json:"regex,omitempty"`
}

// PluginStep runs a step plugin by name.
type PluginStep struct {
	// Name of the plugin.
	Name string `json:"name"`
	// Config is passed to the plugin as it is.
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Config json.RawMessage `json:"config,omitempty"`
}

// RolloutAnalysisBackground is analysis that runs for the whole update.
type RolloutAnalysisBackground struct {
	RolloutAnalysis `json:",inline"`
	// StartingStep is the index of the step at which the analysis starts.
	// Defaults to 0.
	// +optional
	StartingStep *int32 `json:"startingStep,omitempty"`
}

// RolloutAnalysis says which templates make up an AnalysisRun and with
// which arguments.
type RolloutAnalysis struct {
	// Templates to merge into one AnalysisRun.
	// +optional
	Templates []AnalysisTemplateRef `json:"templates,omitempty"`
	// Args are the values for the templates' arguments.
	// +optional
	Args []AnalysisRunArgument `json:"args,omitempty"`
	// DryRun lists metrics whose result does not affect the Rollout.
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// MeasurementRetention sets how many measurements to keep per metric.
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// AnalysisRunMetadata is added to the AnalysisRuns.
	// +optional
	AnalysisRunMetadata *AnalysisRunMetadata `json:"analysisRunMetadata,omitempty"`
}

// AnalysisTemplateRef names an AnalysisTemplate or ClusterAnalysisTemplate.
type AnalysisTemplateRef struct {
	// TemplateName is the name of the template.
	// +optional
	TemplateName string `json:"templateName"`
	// ClusterScope looks the name up among ClusterAnalysisTemplates.
	// +optional
	ClusterScope *bool `json:"clusterScope,omitempty"`
}

// AnalysisRunArgument is the value a Rollout passes for a template argument.
type AnalysisRunArgument struct {
	// Name of the argument.
	Name string `json:"name"`
	// Value of the argument. Set value or valueFrom, not both.
	// +optional
	Value string `json:"value,omitempty"`
	// ValueFrom reads the value from the Rollout or its ReplicaSets.
	// +optional
	ValueFrom *ArgumentValueFrom `json:"valueFrom,omitempty"`
}

// ArgumentValueFrom says where an argument value comes from. Set one field.
type ArgumentValueFrom struct {
	// PodTemplateHashValue is the pod template hash of the Stable or Latest
	// ReplicaSet.
	// +optional
	// +kubebuilder:validation:Enum=Stable;Latest
	PodTemplateHashValue *ValueFromPodTemplateHash `json:"podTemplateHashValue,omitempty"`
	// FieldRef reads a field of the Rollout.
	// +optional
	FieldRef *FieldRef `json:"fieldRef,omitempty"`
}

// FieldRef is a path to a field of the object.
type FieldRef struct {
	// FieldPath is the path, e.g. metadata.labels['app'].
	FieldPath string `json:"fieldPath"`
}

// ValueFromPodTemplateHash picks the ReplicaSet whose pod template hash is used.
type ValueFromPodTemplateHash string

// Pod template hash sources.
const (
	Stable ValueFromPodTemplateHash = "Stable"
	Latest ValueFromPodTemplateHash = "Latest"
)

// AnalysisRunMetadata is extra labels and annotations for AnalysisRuns.
type AnalysisRunMetadata struct {
	// Labels to add.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations to add.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ReplicaSetSpecRef says which ReplicaSet an experiment template copies.
type ReplicaSetSpecRef string

// Spec references for experiment templates.
const (
	CanarySpecRef ReplicaSetSpecRef = "canary"
	StableSpecRef ReplicaSetSpecRef = "stable"
)

// RolloutExperimentStep is a canary step that runs an Experiment.
type RolloutExperimentStep struct {
	// Templates are the ReplicaSets of the Experiment.
	Templates []RolloutExperimentTemplate `json:"templates"`
	// Duration of the Experiment: seconds or a duration string. Without it the
	// Experiment runs until its analyses finish.
	// +optional
	Duration *DurationString `json:"duration,omitempty"`
	// Analyses run with the Experiment.
	// +optional
	Analyses []RolloutExperimentStepAnalysisTemplateRef `json:"analyses,omitempty"`
	// DryRun lists metrics whose result does not affect the Experiment.
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// AnalysisRunMetadata is added to the AnalysisRuns.
	// +optional
	AnalysisRunMetadata AnalysisRunMetadata `json:"analysisRunMetadata,omitempty"`
	// ScaleDownDelaySeconds is how long the Experiment's ReplicaSets keep their pods after it
	// ends (Argo's field; 30 s when unset).
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
}

// RolloutExperimentStepAnalysisTemplateRef is an analysis of an experiment step.
type RolloutExperimentStepAnalysisTemplateRef struct {
	// Name of this analysis within the Experiment.
	Name string `json:"name"`
	// TemplateName is the template to run.
	TemplateName string `json:"templateName"`
	// ClusterScope looks the name up among ClusterAnalysisTemplates.
	// +optional
	ClusterScope *bool `json:"clusterScope,omitempty"`
	// Args for the template.
	// +optional
	Args []AnalysisRunArgument `json:"args,omitempty"`
	// RequiredForCompletion keeps the Experiment running until this analysis
	// finishes.
	// +optional
	RequiredForCompletion bool `json:"requiredForCompletion,omitempty"`
}

// RolloutExperimentTemplate is one ReplicaSet of an experiment step.
type RolloutExperimentTemplate struct {
	// Name of the template.
	Name string `json:"name"`
	// SpecRef copies the pod template of the canary or the stable ReplicaSet.
	// +kubebuilder:validation:Enum=canary;stable
	SpecRef ReplicaSetSpecRef `json:"specRef"`
	// Replicas of the template. Defaults to 1.
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// Metadata adds labels and annotations to the pods.
	// +optional
	Metadata PodTemplateMetadata `json:"metadata,omitempty"`
	// Selector overrides the Rollout's selector for this ReplicaSet.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// Weight is the percentage of traffic sent to this template (needs
	// trafficRouting).
	// +optional
	Weight *int32 `json:"weight,omitempty"`
	// Service creates a Service for the template.
	// +optional
	Service *TemplateService `json:"service,omitempty"`
}

// CanaryStatus is the state specific to the canary strategy.
type CanaryStatus struct {
	// CurrentStepAnalysisRunStatus is the AnalysisRun of the current step.
	// +optional
	CurrentStepAnalysisRunStatus *RolloutAnalysisRunStatus `json:"currentStepAnalysisRunStatus,omitempty"`
	// CurrentBackgroundAnalysisRunStatus is the background AnalysisRun.
	// +optional
	CurrentBackgroundAnalysisRunStatus *RolloutAnalysisRunStatus `json:"currentBackgroundAnalysisRunStatus,omitempty"`
	// CurrentExperiment is the name of the running Experiment.
	// +optional
	CurrentExperiment string `json:"currentExperiment,omitempty"`
	// Weights are the weights last set on the traffic provider.
	// +optional
	Weights *TrafficWeights `json:"weights,omitempty"`
	// StablePingPong is ping or pong: which Service is stable.
	// +optional
	StablePingPong PingPongType `json:"stablePingPong,omitempty"`
	// StepPluginStatuses are the states of step plugins.
	// +optional
	StepPluginStatuses []StepPluginStatus `json:"stepPluginStatuses,omitempty"`
}

// PingPongType is ping or pong.
type PingPongType string

// Ping-pong values.
const (
	PPPing PingPongType = "ping"
	PPPong PingPongType = "pong"
)

// TrafficWeights is how traffic is split.
type TrafficWeights struct {
	// Canary is the canary's share.
	Canary WeightDestination `json:"canary"`
	// Stable is the stable's share.
	Stable WeightDestination `json:"stable"`
	// Additional are shares of other ReplicaSets, such as experiments.
	// +optional
	Additional []WeightDestination `json:"additional,omitempty"`
	// Verified says whether the weight was seen to take effect (ALB only).
	// +optional
	Verified *bool `json:"verified,omitempty"`
}

// WeightDestination is one destination of traffic.
type WeightDestination struct {
	// Weight is the percentage of traffic.
	Weight int32 `json:"weight"`
	// ServiceName is the Service receiving it.
	// +optional
	ServiceName string `json:"serviceName,omitempty"`
	// PodTemplateHash of the pods receiving it.
	// +optional
	PodTemplateHash string `json:"podTemplateHash,omitempty"`
}

// StepPluginPhase is the phase of a step plugin operation.
type StepPluginPhase string

// Step plugin phases.
const (
	StepPluginPhaseRunning    StepPluginPhase = "Running"
	StepPluginPhaseSuccessful StepPluginPhase = "Successful"
	StepPluginPhaseFailed     StepPluginPhase = "Failed"
	StepPluginPhaseError      StepPluginPhase = "Error"
)

// StepPluginOperation is an operation of a step plugin.
type StepPluginOperation string

// Step plugin operations.
const (
	StepPluginOperationRun       StepPluginOperation = "Run"
	StepPluginOperationTerminate StepPluginOperation = "Terminate"
	StepPluginOperationAbort     StepPluginOperation = "Abort"
)

// StepPluginStatus is the state of one step plugin operation.
type StepPluginStatus struct {
	// Index of the step.
	Index int32 `json:"index"`
	// Name of the plugin.
	Name string `json:"name"`
	// Operation that produced this status.
	Operation StepPluginOperation `json:"operation"`
	// Phase of the operation.
	// +optional
	Phase StepPluginPhase `json:"phase,omitempty"`
	// Message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`
	// StartedAt is when the operation was first called.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// UpdatedAt is when it was last called.
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`
	// FinishedAt is when it completed.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// Backoff is how long to wait before calling it again.
	// +optional
	Backoff *DurationString `json:"backoff,omitempty"`
	// Executions is how many times it ran.
	// +optional
	Executions int32 `json:"executions,omitempty"`
	// Disabled is true when the plugin is disabled globally.
	// +optional
	Disabled bool `json:"disabled,omitempty"`
	// Status is the plugin's own state.
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Status json.RawMessage `json:"status,omitempty"`
}

// IsClusterScope reports whether the template is a ClusterAnalysisTemplate.
func (r AnalysisTemplateRef) IsClusterScope() bool { return r.ClusterScope != nil && *r.ClusterScope }

// IsClusterScope reports whether the template is a ClusterAnalysisTemplate.
func (r RolloutExperimentStepAnalysisTemplateRef) IsClusterScope() bool {
	return r.ClusterScope != nil && *r.ClusterScope
}
