package v1beta1

// CanaryAnalysis is how a new version is checked: every Interval the metrics and webhooks run;
// Threshold failed checks roll back. Traffic moves by Iterations (blue/green), StepWeight up to
// MaxWeight, or StepWeights; Flagger's CRD requires exactly one of the three.
//
// +kubebuilder:validation:XValidation:rule="has(self.interval) && has(self.threshold) && [has(self.iterations), has(self.stepWeight), has(self.stepWeights)].filter(x, x).size() == 1",message="analysis needs interval, threshold and exactly one of iterations, stepWeight and stepWeights"
type CanaryAnalysis struct {
	// Interval between two checks, like 1m or 30s.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]+(m|s)`
	Interval string `json:"interval,omitempty"`
	// Iterations is the number of checks of a blue/green analysis.
	// +optional
	Iterations *int32 `json:"iterations,omitempty"`
	// Threshold is the number of failed checks before a rollback.
	// +optional
	Threshold *int32 `json:"threshold,omitempty"`
	// +optional
	MaxWeight *int32 `json:"maxWeight,omitempty"`
	// +optional
	StepWeight *int32 `json:"stepWeight,omitempty"`
	// +optional
	StepWeights []int32 `json:"stepWeights,omitempty"`
	// +optional
	StepWeightPromotion *int32 `json:"stepWeightPromotion,omitempty"`
	// Mirror copies traffic to the canary before shifting any.
	// +optional
	Mirror *bool `json:"mirror,omitempty"`
	// +optional
	MirrorWeight *int32 `json:"mirrorWeight,omitempty"`
	// PrimaryReadyThreshold is the percentage of primary pods that must be ready.
	// +optional
	PrimaryReadyThreshold *int32 `json:"primaryReadyThreshold,omitempty"`
	// CanaryReadyThreshold is the percentage of canary pods that must be ready.
	// +optional
	CanaryReadyThreshold *int32 `json:"canaryReadyThreshold,omitempty"`
	// Match routes the requests it matches to the canary (A/B testing).
	// +optional
	Match []AnalysisMatch `json:"match,omitempty"`
	// +optional
	Metrics []CanaryMetric `json:"metrics,omitempty"`
	// +optional
	Alerts []CanaryAlert `json:"alerts,omitempty"`
	// +optional
	Webhooks []CanaryWebhook `json:"webhooks,omitempty"`
	// +optional
	SessionAffinity *SessionAffinity `json:"sessionAffinity,omitempty"`
}

// HeaderMatch matches a header or query parameter; at most one of its fields is set.
type HeaderMatch struct {
	// +optional
	Exact string `json:"exact,omitempty"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// +optional
	Suffix string `json:"suffix,omitempty"`
	// +optional
	Regex string `json:"regex,omitempty"`
}

// AnalysisMatch is one A/B-testing match: requests matching it go to the canary.
type AnalysisMatch struct {
	// +optional
	Headers map[string]HeaderMatch `json:"headers,omitempty"`
	// +optional
	QueryParams map[string]StringMatch `json:"queryParams,omitempty"`
	// +optional
	SourceLabels map[string]string `json:"sourceLabels,omitempty"`
}

// CanaryMetric is one metric check: a built-in metric by name, an inline query, or a
// MetricTemplate, whose result must fall within ThresholdRange (or under Threshold).
type CanaryMetric struct {
	Name string `json:"name"`
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]+(m|s)`
	Interval string `json:"interval,omitempty"`
	// +optional
	Threshold *float64 `json:"threshold,omitempty"`
	// +optional
	ThresholdRange *ThresholdRange `json:"thresholdRange,omitempty"`
	// +optional
	Query string `json:"query,omitempty"`
	// +optional
	TemplateRef *CrossNamespaceObjectReference `json:"templateRef,omitempty"`
	// +optional
	TemplateVariables map[string]string `json:"templateVariables,omitempty"`
}

// ThresholdRange bounds a metric's value.
type ThresholdRange struct {
	// +optional
	Min *float64 `json:"min,omitempty"`
	// +optional
	Max *float64 `json:"max,omitempty"`
}

// CrossNamespaceObjectReference names an object, by default in the Canary's namespace.
type CrossNamespaceObjectReference struct {
	Name string `json:"name"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// CanaryAlert sends the Canary's events to an AlertProvider.
type CanaryAlert struct {
	Name string `json:"name"`
	// +optional
	// +kubebuilder:validation:Enum="";info;warn;error
	Severity    string                        `json:"severity,omitempty"`
	ProviderRef CrossNamespaceObjectReference `json:"providerRef"`
}

// CanaryWebhook is a webhook the analysis calls at the point its Type names.
type CanaryWebhook struct {
	Name string `json:"name"`
	// +optional
	// +kubebuilder:validation:Enum="";confirm-rollout;pre-rollout;rollout;confirm-promotion;post-rollout;event;rollback;confirm-traffic-increase
	Type string `json:"type,omitempty"`
	// +optional
	MuteAlert *bool  `json:"muteAlert,omitempty"`
	URL       string `json:"url"`
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]+(m|s)`
	Timeout string `json:"timeout,omitempty"`
	// +optional
	Retries *int32 `json:"retries,omitempty"`
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
}

// SessionAffinity keeps a client on the version it first reached, by cookie.
type SessionAffinity struct {
	CookieName string `json:"cookieName"`
	// MaxAge of the cookie in seconds (the API server defaults it to 86400, as Flagger's CRD does).
	// +optional
	// +kubebuilder:default=86400
	MaxAge int32 `json:"maxAge,omitempty"`
}
