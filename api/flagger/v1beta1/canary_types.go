package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Canary is Flagger's progressive-delivery object: a target workload, the Services in front of
// it and the analysis that decides whether a new version is promoted.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=all
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Weight",type=string,JSONPath=`.status.canaryWeight`
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`,priority=1
// +kubebuilder:printcolumn:name="FailedChecks",type=string,JSONPath=`.status.failedChecks`,priority=1
// +kubebuilder:printcolumn:name="Interval",type=string,JSONPath=`.spec.analysis.interval`,priority=1
// +kubebuilder:printcolumn:name="Mirror",type=boolean,JSONPath=`.spec.analysis.mirror`,priority=1
// +kubebuilder:printcolumn:name="StepWeight",type=string,JSONPath=`.spec.analysis.stepWeight`,priority=1
// +kubebuilder:printcolumn:name="StepWeights",type=string,JSONPath=`.spec.analysis.stepWeights`,priority=1
// +kubebuilder:printcolumn:name="MaxWeight",type=string,JSONPath=`.spec.analysis.maxWeight`,priority=1
// +kubebuilder:printcolumn:name="LastTransitionTime",type=string,JSONPath=`.status.lastTransitionTime`
type Canary struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec CanarySpec `json:"spec"`
	// +optional
	Status CanaryStatus `json:"status,omitzero"`
}

// CanaryList is a list of Canaries.
//
// +kubebuilder:object:root=true
type CanaryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Canary `json:"items"`
}

// CanarySpec is the desired state of a Canary.
type CanarySpec struct {
	// Provider is the traffic-management provider (kubernetes, istio, gatewayapi:v1, nginx...).
	// +optional
	Provider string `json:"provider,omitempty"`
	// MetricsServer is the address of the metrics server (Prometheus) for built-in metrics.
	// +optional
	MetricsServer string `json:"metricsServer,omitempty"`
	// ProgressDeadlineSeconds is how long the canary may take to make progress.
	// +optional
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
	// TargetRef is the workload (Deployment, DaemonSet or Service) the Canary manages.
	TargetRef TargetRef `json:"targetRef"`
	// AutoscalerRef is the autoscaler (HPA or KEDA ScaledObject) of the target.
	// +optional
	AutoscalerRef *AutoscalerRef `json:"autoscalerRef,omitempty"`
	// IngressRef is the Ingress the nginx provider routes through.
	// +optional
	IngressRef *IngressRef `json:"ingressRef,omitempty"`
	// RouteRef is the APISIX route the apisix provider routes through.
	// +optional
	RouteRef *RouteRef `json:"routeRef,omitempty"`
	// UpstreamRef is the Gloo Upstream the gloo provider routes to.
	// +optional
	UpstreamRef *UpstreamRef `json:"upstreamRef,omitempty"`
	// Service describes the Services (and routes) generated for the target.
	Service CanaryService `json:"service"`
	// SkipAnalysis promotes without running the analysis.
	// +optional
	SkipAnalysis *bool `json:"skipAnalysis,omitempty"`
	// RevertOnDeletion restores the target when the Canary is deleted.
	// +optional
	RevertOnDeletion *bool `json:"revertOnDeletion,omitempty"`
	// Suspend pauses the Canary.
	// +optional
	Suspend *bool `json:"suspend,omitempty"`
	// Analysis is how a new version is checked and promoted.
	// +kubebuilder:validation:Required
	Analysis *CanaryAnalysis `json:"analysis,omitempty"`
}

// TargetRef points at the Canary's workload.
type TargetRef struct {
	APIVersion string `json:"apiVersion"`
	// +kubebuilder:validation:Enum=DaemonSet;Deployment;Service
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// AutoscalerRef points at the target's autoscaler.
type AutoscalerRef struct {
	APIVersion string `json:"apiVersion"`
	// +kubebuilder:validation:Enum=HorizontalPodAutoscaler;ScaledObject
	Kind string `json:"kind"`
	Name string `json:"name"`
	// PrimaryScalerQueries are the queries of the primary's ScaledObject, by trigger name.
	// +optional
	PrimaryScalerQueries map[string]string `json:"primaryScalerQueries,omitempty"`
	// PrimaryScalerReplicas overrides the primary autoscaler's replica bounds.
	// +optional
	PrimaryScalerReplicas *ScalerReplicas `json:"primaryScalerReplicas,omitempty"`
}

// ScalerReplicas are an autoscaler's replica bounds.
type ScalerReplicas struct {
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	// +optional
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`
}

// IngressRef points at an Ingress.
type IngressRef struct {
	APIVersion string `json:"apiVersion"`
	// +kubebuilder:validation:Enum=Ingress
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// RouteRef points at an APISIX route.
type RouteRef struct {
	APIVersion string `json:"apiVersion"`
	// +kubebuilder:validation:Enum=ApisixRoute
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// UpstreamRef points at a Gloo Upstream, possibly in another namespace.
type UpstreamRef struct {
	APIVersion string `json:"apiVersion"`
	// +kubebuilder:validation:Enum=Upstream
	Kind string `json:"kind"`
	Name string `json:"name"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// CanaryService describes the apex, primary and canary Services and the routing options the
// mesh and ingress providers use.
type CanaryService struct {
	// Name of the apex Service (default: the target's name).
	// +optional
	Name string `json:"name,omitempty"`
	// Port is the Service port.
	Port int32 `json:"port"`
	// +optional
	PortName string `json:"portName,omitempty"`
	// +optional
	AppProtocol string `json:"appProtocol,omitempty"`
	// +optional
	TargetPort *intstr.IntOrString `json:"targetPort,omitempty"`
	// PortDiscovery adds the target's other container ports to the Services.
	// +optional
	PortDiscovery *bool `json:"portDiscovery,omitempty"`
	// +optional
	Timeout string `json:"timeout,omitempty"`
	// MeshName is the App Mesh mesh.
	// +optional
	MeshName string `json:"meshName,omitempty"`
	// Backends are App Mesh backends.
	// +optional
	Backends []string `json:"backends,omitempty"`
	// +optional
	Hosts []string `json:"hosts,omitempty"`
	// +optional
	Delegation *bool `json:"delegation,omitempty"`
	// +optional
	Match []HTTPMatchRequest `json:"match,omitempty"`
	// +optional
	Retries *HTTPRetry `json:"retries,omitempty"`
	// +optional
	Rewrite *HTTPRewrite `json:"rewrite,omitempty"`
	// +optional
	Mirror []HTTPRequestMirror `json:"mirror,omitempty"`
	// +optional
	Headers *Headers `json:"headers,omitempty"`
	// +optional
	Gateways []string `json:"gateways,omitempty"`
	// GatewayRefs are the Gateway API parents of the generated HTTPRoute.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	GatewayRefs []GatewayRef `json:"gatewayRefs,omitempty"`
	// +optional
	CorsPolicy *CorsPolicy `json:"corsPolicy,omitempty"`
	// +optional
	TrafficPolicy *TrafficPolicy `json:"trafficPolicy,omitempty"`
	// Apex, Primary and Canary add metadata to the generated Services.
	// +optional
	Apex *CustomMetadata `json:"apex,omitempty"`
	// +optional
	Primary *CustomMetadata `json:"primary,omitempty"`
	// +optional
	Canary *CustomMetadata `json:"canary,omitempty"`
}

// CustomMetadata are labels and annotations added to a generated object.
type CustomMetadata struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}
