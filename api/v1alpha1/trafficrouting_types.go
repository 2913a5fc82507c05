package v1alpha1

import "encoding/json"

// RolloutTrafficRouting names the ingress controller or service mesh that
// splits traffic between canary and stable, and its settings.
type RolloutTrafficRouting struct {
	// Istio routes traffic with VirtualServices (and optionally a
	// DestinationRule).
	// +optional
	Istio *IstioTrafficRouting `json:"istio,omitempty"`
	// Nginx routes traffic with a canary Ingress for ingress-nginx.
	// +optional
	Nginx *NginxTrafficRouting `json:"nginx,omitempty"`
	// ALB routes traffic with the AWS Load Balancer Controller.
	// +optional
	ALB *ALBTrafficRouting `json:"alb,omitempty"`
	// SMI routes traffic with an SMI TrafficSplit.
	// +optional
	SMI *SMITrafficRouting `json:"smi,omitempty"`
	// Ambassador routes traffic with Ambassador/Emissary Mappings.
	// +optional
	Ambassador *AmbassadorTrafficRouting `json:"ambassador,omitempty"`
	// AppMesh routes traffic with AWS App Mesh.
	// +optional
	AppMesh *AppMeshTrafficRouting `json:"appMesh,omitempty"`
	// Traefik routes traffic with a weighted TraefikService.
	// +optional
	Traefik *TraefikTrafficRouting `json:"traefik,omitempty"`
	// ManagedRoutes lists the routes the controller may create for
	// setHeaderRoute and setMirrorRoute steps, in order of precedence.
	// +optional
	ManagedRoutes []MangedRoutes `json:"managedRoutes,omitempty"`
	// Apisix routes traffic with an ApisixRoute.
	// +optional
	Apisix *ApisixTrafficRouting `json:"apisix,omitempty"`
	// Plugins holds the configuration of traffic router plugins, by plugin
	// name. Each value is passed to its plugin as it is.
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Plugins map[string]json.RawMessage `json:"plugins,omitempty"`
	// MaxTrafficWeight is the total weight that setWeight is measured
	// against. Defaults to 100.
	// +optional
	MaxTrafficWeight *int32 `json:"maxTrafficWeight,omitempty"`
}

// MangedRoutes is one route the controller manages. (The name keeps Argo's
// spelling so that Go code ported from Argo compiles.)
type MangedRoutes struct {
	// Name of the route.
	Name string `json:"name"`
}

// IstioTrafficRouting configures Istio.
type IstioTrafficRouting struct {
	// VirtualService to edit. Use virtualService or virtualServices.
	// +optional
	VirtualService *IstioVirtualService `json:"virtualService,omitempty"`
	// DestinationRule whose subsets are pointed at canary and stable.
	// +optional
	DestinationRule *IstioDestinationRule `json:"destinationRule,omitempty"`
	// VirtualServices to edit.
	// +optional
	VirtualServices []IstioVirtualService `json:"virtualServices,omitempty"`
}

// IstioVirtualService is a VirtualService and the routes in it to edit.
type IstioVirtualService struct {
	// Name of the VirtualService.
	Name string `json:"name"`
	// Routes are the HTTP routes to edit; may be left out when there is one.
	// +optional
	Routes []string `json:"routes,omitempty"`
	// TLSRoutes are the TLS routes to edit.
	// +optional
	TLSRoutes []TLSRoute `json:"tlsRoutes,omitempty"`
	// TCPRoutes are the TCP routes to edit.
	// +optional
	TCPRoutes []TCPRoute `json:"tcpRoutes,omitempty"`
}

// TLSRoute picks a TLS route of a VirtualService.
type TLSRoute struct {
	// Port of the route.
	// +optional
	Port int64 `json:"port,omitempty"`
	// SNIHosts of the route.
	// +optional
	SNIHosts []string `json:"sniHosts,omitempty"`
}

// TCPRoute picks a TCP route of a VirtualService.
type TCPRoute struct {
	// Port of the route.
	// +optional
	Port int64 `json:"port,omitempty"`
}

// IstioDestinationRule is a DestinationRule with a canary and a stable subset.
type IstioDestinationRule struct {
	// Name of the DestinationRule.
	Name string `json:"name"`
	// CanarySubsetName is the subset for the canary pods.
	CanarySubsetName string `json:"canarySubsetName"`
	// StableSubsetName is the subset for the stable pods.
	StableSubsetName string `json:"stableSubsetName"`
	// AdditionalSubsetNames are subsets of the DestinationRule that the
	// rollout does not manage: Argo Rollouts keeps the weight of a route
	// destination with one of these subsets and takes it from the stable
	// subset's share. Vane stores them but does not act on them yet
	// (RolloutWarnings says so).
	// +optional
	AdditionalSubsetNames []string `json:"additionalSubsetNames,omitempty"`
}

// NginxTrafficRouting configures ingress-nginx.
type NginxTrafficRouting struct {
	// AnnotationPrefix of the ingress controller. Defaults to
	// nginx.ingress.kubernetes.io.
	// +optional
	AnnotationPrefix string `json:"annotationPrefix,omitempty"`
	// StableIngress is the Ingress that routes to the stable Service. Use
	// stableIngress or stableIngresses.
	// +optional
	StableIngress string `json:"stableIngress,omitempty"`
	// AdditionalIngressAnnotations are canary-* annotations added to the
	// canary Ingress (without the prefix).
	// +optional
	AdditionalIngressAnnotations map[string]string `json:"additionalIngressAnnotations,omitempty"`
	// StableIngresses are several stable Ingresses.
	// +optional
	StableIngresses []string `json:"stableIngresses,omitempty"`
	// CanaryIngressAnnotations are other annotations for the canary Ingress.
	// +optional
	CanaryIngressAnnotations map[string]string `json:"canaryIngressAnnotations,omitempty"`
}

// ALBTrafficRouting configures the AWS Load Balancer Controller.
type ALBTrafficRouting struct {
	// Ingress is the Ingress to edit.
	// +optional
	Ingress string `json:"ingress,omitempty"`
	// ServicePort is the Service port the Ingress action routes to.
	ServicePort int32 `json:"servicePort"`
	// RootService is the Service in the Ingress that the action is added to.
	// +optional
	RootService string `json:"rootService,omitempty"`
	// AnnotationPrefix of the controller. Defaults to alb.ingress.kubernetes.io.
	// +optional
	AnnotationPrefix string `json:"annotationPrefix,omitempty"`
	// StickinessConfig sets target group stickiness.
	// +optional
	StickinessConfig *StickinessConfig `json:"stickinessConfig,omitempty"`
	// Ingresses are several Ingresses to edit.
	// +optional
	Ingresses []string `json:"ingresses,omitempty"`
	// ExternallyManagedWeights are weights to other destinations that the
	// controller keeps when it edits the action.
	// +optional
	ExternallyManagedWeights []*ExternallyManagedWeight `json:"externallyManagedWeights,omitempty"`
}

// ExternallyManagedWeight is a share of traffic the controller does not own.
type ExternallyManagedWeight struct {
	// ServiceName receiving the traffic.
	// +optional
	ServiceName string `json:"serviceName,omitempty"`
	// ServicePort receiving the traffic.
	ServicePort int32 `json:"servicePort"`
	// Weight is the percentage of traffic.
	Weight int32 `json:"weight"`
}

// StickinessConfig is duration-based stickiness of ALB target groups.
type StickinessConfig struct {
	// Enabled turns stickiness on.
	Enabled bool `json:"enabled"`
	// DurationSeconds is how long a client sticks to a target group.
	DurationSeconds int64 `json:"durationSeconds"`
}

// SMITrafficRouting configures an SMI TrafficSplit.
type SMITrafficRouting struct {
	// RootService is the Service clients use. Defaults to the stable Service.
	// +optional
	RootService string `json:"rootService,omitempty"`
	// TrafficSplitName is the TrafficSplit to create or edit. Defaults to
	// the Rollout's name.
	// +optional
	TrafficSplitName string `json:"trafficSplitName,omitempty"`
}

// AmbassadorTrafficRouting configures Ambassador/Emissary.
type AmbassadorTrafficRouting struct {
	// Mappings are the Mappings routing to the stable Service.
	Mappings []string `json:"mappings"`
}

// AppMeshTrafficRouting configures AWS App Mesh.
type AppMeshTrafficRouting struct {
	// VirtualService to edit.
	// +optional
	VirtualService *AppMeshVirtualService `json:"virtualService,omitempty"`
	// VirtualNodeGroup are the canary and stable virtual nodes.
	// +optional
	VirtualNodeGroup *AppMeshVirtualNodeGroup `json:"virtualNodeGroup,omitempty"`
}

// AppMeshVirtualService is an App Mesh virtual service and its routes.
type AppMeshVirtualService struct {
	// Name of the virtual service.
	Name string `json:"name"`
	// Routes to edit; may be left out when there is one.
	// +optional
	Routes []string `json:"routes,omitempty"`
}

// AppMeshVirtualNodeGroup is the canary and stable virtual nodes.
type AppMeshVirtualNodeGroup struct {
	// CanaryVirtualNodeRef is the canary virtual node.
	CanaryVirtualNodeRef *AppMeshVirtualNodeReference `json:"canaryVirtualNodeRef"`
	// StableVirtualNodeRef is the stable virtual node.
	StableVirtualNodeRef *AppMeshVirtualNodeReference `json:"stableVirtualNodeRef"`
}

// AppMeshVirtualNodeReference names a VirtualNode.
type AppMeshVirtualNodeReference struct {
	// Name of the VirtualNode.
	Name string `json:"name"`
}

// TraefikTrafficRouting configures Traefik.
type TraefikTrafficRouting struct {
	// WeightedTraefikServiceName is the weighted TraefikService to edit.
	WeightedTraefikServiceName string `json:"weightedTraefikServiceName"`
}

// ApisixTrafficRouting configures Apache APISIX.
type ApisixTrafficRouting struct {
	// Route is the ApisixRoute to edit.
	// +optional
	Route *ApisixRoute `json:"route,omitempty"`
}

// ApisixRoute is an ApisixRoute and its rules to edit.
type ApisixRoute struct {
	// Name of the ApisixRoute.
	Name string `json:"name"`
	// Rules are the HTTP rules to edit.
	// +optional
	Rules []string `json:"rules,omitempty"`
}
