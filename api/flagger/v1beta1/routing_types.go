package v1beta1

import (
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// StringMatch matches a string exactly, by prefix or by RE2 regular expression; at most one is set.
type StringMatch struct {
	// +optional
	Exact string `json:"exact,omitempty"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// +optional
	Regex string `json:"regex,omitempty"`
}

// HTTPMatchRequest is an Istio-style request match of the generated VirtualService.
type HTTPMatchRequest struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	URI *StringMatch `json:"uri,omitempty"`
	// +optional
	Scheme *StringMatch `json:"scheme,omitempty"`
	// +optional
	Method *StringMatch `json:"method,omitempty"`
	// +optional
	Authority *StringMatch `json:"authority,omitempty"`
	// +optional
	Headers map[string]StringMatch `json:"headers,omitempty"`
	// +optional
	QueryParams map[string]StringMatch `json:"queryParams,omitempty"`
	// +optional
	WithoutHeaders map[string]StringMatch `json:"withoutHeaders,omitempty"`
	// +optional
	Port *int32 `json:"port,omitempty"`
	// +optional
	SourceLabels map[string]string `json:"sourceLabels,omitempty"`
	// +optional
	Gateways []string `json:"gateways,omitempty"`
	// +optional
	SourceNamespace string `json:"sourceNamespace,omitempty"`
	// +optional
	IgnoreURICase *bool `json:"ignoreUriCase,omitempty"`
}

// HTTPRetry is the retry policy of the generated route.
type HTTPRetry struct {
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// +optional
	PerTryTimeout string `json:"perTryTimeout,omitempty"`
	// +optional
	RetryOn string `json:"retryOn,omitempty"`
}

// HTTPRewrite rewrites the request's URI or authority.
type HTTPRewrite struct {
	// +optional
	URI string `json:"uri,omitempty"`
	// +optional
	Authority string `json:"authority,omitempty"`
	// +optional
	Type string `json:"type,omitempty"`
}

// HTTPRequestMirror mirrors requests to a Gateway API backend.
type HTTPRequestMirror struct {
	BackendRef gatewayv1.BackendObjectReference `json:"backendRef"`
}

// GatewayRef is a Gateway API parent reference of the generated HTTPRoute.
type GatewayRef = gatewayv1.ParentReference

// Headers are the request and response header operations of the generated route.
type Headers struct {
	// +optional
	Request *HeaderOperations `json:"request,omitempty"`
	// +optional
	Response *HeaderOperations `json:"response,omitempty"`
}

// HeaderOperations add, set and remove headers.
type HeaderOperations struct {
	// +optional
	Add map[string]string `json:"add,omitempty"`
	// +optional
	Set map[string]string `json:"set,omitempty"`
	// +optional
	Remove []string `json:"remove,omitempty"`
}

// CorsPolicy is the CORS policy of the generated route.
type CorsPolicy struct {
	// +optional
	AllowCredentials *bool `json:"allowCredentials,omitempty"`
	// +optional
	AllowHeaders []string `json:"allowHeaders,omitempty"`
	// +optional
	AllowMethods []string `json:"allowMethods,omitempty"`
	// +optional
	AllowOrigin []string `json:"allowOrigin,omitempty"`
	// +optional
	AllowOrigins []StringMatch `json:"allowOrigins,omitempty"`
	// +optional
	ExposeHeaders []string `json:"exposeHeaders,omitempty"`
	// +optional
	MaxAge string `json:"maxAge,omitempty"`
}

// TrafficPolicy is the Istio DestinationRule traffic policy of the generated destinations.
type TrafficPolicy struct {
	// +optional
	ConnectionPool *ConnectionPool `json:"connectionPool,omitempty"`
	// +optional
	LoadBalancer *LoadBalancer `json:"loadBalancer,omitempty"`
	// +optional
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
	// +optional
	TLS *ClientTLS `json:"tls,omitempty"`
}

// ConnectionPool holds the HTTP connection-pool settings.
type ConnectionPool struct {
	// +optional
	HTTP *HTTPConnectionPool `json:"http,omitempty"`
}

// HTTPConnectionPool are HTTP connection-pool limits.
type HTTPConnectionPool struct {
	// +optional
	// +kubebuilder:validation:Enum=DEFAULT;DO_NOT_UPGRADE;UPGRADE
	H2UpgradePolicy string `json:"h2UpgradePolicy,omitempty"`
	// +optional
	HTTP1MaxPendingRequests int32 `json:"http1MaxPendingRequests,omitempty"`
	// +optional
	HTTP2MaxRequests int32 `json:"http2MaxRequests,omitempty"`
	// +optional
	IdleTimeout string `json:"idleTimeout,omitempty"`
	// +optional
	MaxRequestsPerConnection int32 `json:"maxRequestsPerConnection,omitempty"`
	// +optional
	MaxRetries int32 `json:"maxRetries,omitempty"`
}

// LoadBalancer is the load-balancing policy: simple or consistent hash.
type LoadBalancer struct {
	// +optional
	// +kubebuilder:validation:Enum=ROUND_ROBIN;LEAST_CONN;RANDOM;PASSTHROUGH;LEAST_REQUEST
	Simple string `json:"simple,omitempty"`
	// +optional
	ConsistentHash *ConsistentHash `json:"consistentHash,omitempty"`
	// +optional
	LocalityLbSetting *LocalityLbSetting `json:"localityLbSetting,omitempty"`
	// +optional
	WarmupDurationSecs string `json:"warmupDurationSecs,omitempty"`
}

// ConsistentHash hashes on a header, cookie, source IP or query parameter.
type ConsistentHash struct {
	// +optional
	HTTPHeaderName string `json:"httpHeaderName,omitempty"`
	// +optional
	HTTPCookie *HTTPCookie `json:"httpCookie,omitempty"`
	// +optional
	UseSourceIP *bool `json:"useSourceIp,omitempty"`
	// +optional
	HTTPQueryParameterName string `json:"httpQueryParameterName,omitempty"`
	// +optional
	MinimumRingSize int64 `json:"minimumRingSize,omitempty"`
}

// HTTPCookie is the cookie a consistent hash uses.
type HTTPCookie struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Path string `json:"path,omitempty"`
	// +optional
	TTL string `json:"ttl,omitempty"`
}

// LocalityLbSetting is locality-weighted load balancing.
type LocalityLbSetting struct {
	// +optional
	Distribute []LocalityDistribute `json:"distribute,omitempty"`
	// +optional
	Failover []LocalityFailover `json:"failover,omitempty"`
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
}

// LocalityDistribute sends traffic from one locality to others by weight.
type LocalityDistribute struct {
	// +optional
	From string `json:"from,omitempty"`
	// +optional
	To map[string]int64 `json:"to,omitempty"`
}

// LocalityFailover names the locality traffic fails over to.
type LocalityFailover struct {
	// +optional
	From string `json:"from,omitempty"`
	// +optional
	To string `json:"to,omitempty"`
}

// OutlierDetection ejects failing hosts.
type OutlierDetection struct {
	// +optional
	BaseEjectionTime string `json:"baseEjectionTime,omitempty"`
	// +optional
	Consecutive5xxErrors *int64 `json:"consecutive5xxErrors,omitempty"`
	// +optional
	ConsecutiveErrors int32 `json:"consecutiveErrors,omitempty"`
	// +optional
	ConsecutiveGatewayErrors *int32 `json:"consecutiveGatewayErrors,omitempty"`
	// +optional
	Interval string `json:"interval,omitempty"`
	// +optional
	MaxEjectionPercent int32 `json:"maxEjectionPercent,omitempty"`
	// +optional
	MinHealthPercent int32 `json:"minHealthPercent,omitempty"`
}

// ClientTLS is the TLS setting of connections to the destination.
type ClientTLS struct {
	// +optional
	// +kubebuilder:validation:Enum=DISABLE;SIMPLE;MUTUAL;ISTIO_MUTUAL
	Mode string `json:"mode,omitempty"`
	// +optional
	ClientCertificate string `json:"clientCertificate,omitempty"`
	// +optional
	PrivateKey string `json:"privateKey,omitempty"`
	// +optional
	CaCertificates string `json:"caCertificates,omitempty"`
	// +optional
	SubjectAltNames []string `json:"subjectAltNames,omitempty"`
	// +optional
	Sni string `json:"sni,omitempty"`
}
