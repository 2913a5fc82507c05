package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// AnalysisTemplate says how to measure a release: which metrics to query,
// how often, and which results count as success or failure.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=analysistemplates,shortName=at,categories={vane,argoproj}
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since the resource was created"
type AnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the template.
	Spec AnalysisTemplateSpec `json:"spec"`
}

// AnalysisTemplateList is a list of AnalysisTemplates.
//
// +kubebuilder:object:root=true
type AnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the AnalysisTemplates.
	Items []AnalysisTemplate `json:"items"`
}

// ClusterAnalysisTemplate is an AnalysisTemplate that any namespace can use.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=clusteranalysistemplates,shortName=cat,scope=Cluster,categories={vane,argoproj}
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since the resource was created"
type ClusterAnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the template.
	Spec AnalysisTemplateSpec `json:"spec"`
}

// ClusterAnalysisTemplateList is a list of ClusterAnalysisTemplates.
//
// +kubebuilder:object:root=true
type ClusterAnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the ClusterAnalysisTemplates.
	Items []ClusterAnalysisTemplate `json:"items"`
}

// AnalysisTemplateSpec is the content of an AnalysisTemplate or
// ClusterAnalysisTemplate.
type AnalysisTemplateSpec struct {
	// Metrics to measure. A template needs metrics, templates, or both.
	// +optional
	Metrics []Metric `json:"metrics,omitempty"`
	// Args are the template's parameters, used as {{args.NAME}} in metrics.
	// An argument without a value must be given one by the caller.
	// +optional
	Args []Argument `json:"args,omitempty"`
	// DryRun lists metrics whose result does not affect the run.
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// MeasurementRetention sets how many measurements to keep per metric.
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// Templates are other templates whose metrics and args are merged into
	// this one.
	// +optional
	Templates []AnalysisTemplateRef `json:"templates,omitempty"`
}

// Metric is one thing to measure and how to judge the measurements.
type Metric struct {
	// Name of the metric, unique within the template.
	Name string `json:"name"`
	// Interval between measurements: seconds or a duration string. Without it
	// the metric is measured once.
	// +optional
	Interval *DurationString `json:"interval,omitempty"`
	// InitialDelay before the first measurement: seconds or a duration string.
	// +optional
	InitialDelay *DurationString `json:"initialDelay,omitempty"`
	// Count is how many measurements to take. Without count and interval the
	// metric is measured once; with only interval it is measured until the
	// run is stopped. count > 1 needs an interval. A number or an
	// {{args.NAME}} placeholder.
	// +optional
	Count *intstr.IntOrString `json:"count,omitempty"`
	// SuccessCondition is an expression over `result` that is true for a
	// successful measurement.
	// +optional
	SuccessCondition string `json:"successCondition,omitempty"`
	// FailureCondition is an expression over `result` that is true for a
	// failed measurement. A measurement that meets neither condition is
	// Inconclusive; with neither condition set every measurement succeeds.
	// +optional
	FailureCondition string `json:"failureCondition,omitempty"`
	// FailureLimit is how many failed measurements are tolerated before the
	// metric fails. -1 disables the limit. Defaults to 0.
	// +optional
	FailureLimit *intstr.IntOrString `json:"failureLimit,omitempty"`
	// InconclusiveLimit is how many inconclusive measurements are tolerated
	// before the metric is inconclusive. -1 disables the limit. Defaults to 0.
	// +optional
	InconclusiveLimit *intstr.IntOrString `json:"inconclusiveLimit,omitempty"`
	// ConsecutiveErrorLimit is how many measurement errors in a row are
	// tolerated before the metric errors. Defaults to 4.
	// +optional
	ConsecutiveErrorLimit *intstr.IntOrString `json:"consecutiveErrorLimit,omitempty"`
	// ConsecutiveSuccessLimit, when above 0, makes the metric succeed as soon
	// as this many measurements in a row succeed. Defaults to 0 (off).
	// +optional
	ConsecutiveSuccessLimit *intstr.IntOrString `json:"consecutiveSuccessLimit,omitempty"`
	// Provider is the system that takes the measurement. Exactly one.
	Provider MetricProvider `json:"provider"`
}

// DryRun marks metrics whose result is recorded but does not count.
type DryRun struct {
	// MetricName is a metric name, or * for all metrics.
	MetricName string `json:"metricName"`
}

// MeasurementRetention sets how many measurements of a metric to keep.
type MeasurementRetention struct {
	// MetricName is a metric name, or * for all metrics.
	MetricName string `json:"metricName"`
	// Limit is the number of measurements to keep. Defaults to 10.
	Limit int32 `json:"limit"`
}

// Argument is a template parameter, or the value given for it.
type Argument struct {
	// Name of the argument.
	Name string `json:"name"`
	// Value of the argument. Set value or valueFrom, not both.
	// +optional
	Value *string `json:"value,omitempty"`
	// ValueFrom reads the value from a Secret or a field.
	// +optional
	ValueFrom *ValueFrom `json:"valueFrom,omitempty"`
}

// ValueFrom says where an argument value comes from. Set one field.
type ValueFrom struct {
	// SecretKeyRef reads a key of a Secret in the run's namespace.
	// +optional
	SecretKeyRef *SecretKeyRef `json:"secretKeyRef,omitempty"`
	// FieldRef reads a field of the object that started the run.
	// +optional
	FieldRef *FieldRef `json:"fieldRef,omitempty"`
}

// SecretKeyRef names a key in a Secret.
type SecretKeyRef struct {
	// Name of the Secret.
	Name string `json:"name"`
	// Key in the Secret.
	Key string `json:"key"`
}

// AnalysisRun is one run of one or more analysis templates. Like a Job, it
// finishes; its result lets a Rollout continue, abort or pause.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=analysisruns,shortName=ar,categories={vane,argoproj}
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.phase",description="AnalysisRun status"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since the resource was created"
type AnalysisRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is what the run measures.
	Spec AnalysisRunSpec `json:"spec"`
	// Status is the progress and result of the run.
	// +optional
	Status AnalysisRunStatus `json:"status,omitempty,omitzero"`
}

// AnalysisRunList is a list of AnalysisRuns.
//
// +kubebuilder:object:root=true
type AnalysisRunList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the AnalysisRuns.
	Items []AnalysisRun `json:"items"`
}

// AnalysisRunSpec is what an AnalysisRun measures.
type AnalysisRunSpec struct {
	// Metrics to measure.
	Metrics []Metric `json:"metrics"`
	// Args are the resolved arguments of the run.
	// +optional
	Args []Argument `json:"args,omitempty"`
	// Terminate stops the run early; it ends Successful unless a metric
	// already failed.
	// +optional
	Terminate bool `json:"terminate,omitempty"`
	// DryRun lists metrics whose result does not affect the run.
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// MeasurementRetention sets how many measurements to keep per metric.
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// TTLStrategy deletes the run some time after it finishes.
	// +optional
	TTLStrategy *TTLStrategy `json:"ttlStrategy,omitempty"`
}

// TTLStrategy says how long a finished AnalysisRun is kept.
type TTLStrategy struct {
	// SecondsAfterCompletion applies to any finished run.
	// +optional
	SecondsAfterCompletion *int32 `json:"secondsAfterCompletion,omitempty"`
	// SecondsAfterFailure applies to failed runs.
	// +optional
	SecondsAfterFailure *int32 `json:"secondsAfterFailure,omitempty"`
	// SecondsAfterSuccess applies to successful runs.
	// +optional
	SecondsAfterSuccess *int32 `json:"secondsAfterSuccess,omitempty"`
}

// AnalysisPhase is the phase of an AnalysisRun, a metric or a measurement
// (and of an Experiment).
type AnalysisPhase string

// Analysis phases.
const (
	AnalysisPhasePending      AnalysisPhase = "Pending"
	AnalysisPhaseRunning      AnalysisPhase = "Running"
	AnalysisPhaseSuccessful   AnalysisPhase = "Successful"
	AnalysisPhaseFailed       AnalysisPhase = "Failed"
	AnalysisPhaseError        AnalysisPhase = "Error"
	AnalysisPhaseInconclusive AnalysisPhase = "Inconclusive"
)

// Completed reports whether the phase is final.
func (p AnalysisPhase) Completed() bool {
	switch p {
	case AnalysisPhaseSuccessful, AnalysisPhaseFailed, AnalysisPhaseError, AnalysisPhaseInconclusive:
		return true
	}
	return false
}

// AnalysisRunStatus is the progress and result of an AnalysisRun.
type AnalysisRunStatus struct {
	// Phase of the run.
	// +optional
	Phase AnalysisPhase `json:"phase"`
	// Message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`
	// MetricResults are the results per metric.
	// +optional
	MetricResults []MetricResult `json:"metricResults,omitempty"`
	// StartedAt is when the run started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// RunSummary counts the metrics by phase.
	// +optional
	RunSummary RunSummary `json:"runSummary,omitempty,omitzero"`
	// DryRunSummary counts the dry-run metrics by phase.
	// +optional
	DryRunSummary *RunSummary `json:"dryRunSummary,omitempty"`
	// CompletedAt is when the run finished.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
}

// RunSummary counts metrics by phase.
type RunSummary struct {
	// Count of metrics.
	// +optional
	Count int32 `json:"count,omitempty"`
	// Successful metrics.
	// +optional
	Successful int32 `json:"successful,omitempty"`
	// Failed metrics.
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// Inconclusive metrics.
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`
	// Error metrics.
	// +optional
	Error int32 `json:"error,omitempty"`
}

// MetricResult is the result of one metric so far.
type MetricResult struct {
	// Name of the metric.
	Name string `json:"name"`
	// Phase of the metric.
	Phase AnalysisPhase `json:"phase"`
	// Measurements are the most recent measurements.
	// +optional
	Measurements []Measurement `json:"measurements,omitempty"`
	// Message explains the phase, e.g. an error.
	// +optional
	Message string `json:"message,omitempty"`
	// Count of measurements without error.
	// +optional
	Count int32 `json:"count,omitempty"`
	// Successful measurements.
	// +optional
	Successful int32 `json:"successful,omitempty"`
	// Failed measurements.
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// Inconclusive measurements.
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`
	// Error measurements.
	// +optional
	Error int32 `json:"error,omitempty"`
	// ConsecutiveError is the number of errors in a row.
	// +optional
	ConsecutiveError int32 `json:"consecutiveError,omitempty"`
	// ConsecutiveSuccess is the number of successes in a row.
	// +optional
	ConsecutiveSuccess int32 `json:"consecutiveSuccess,omitempty"`
	// DryRun is true when the metric runs in dry-run mode.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
	// Metadata is provider state, e.g. the resolved query.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Measurement is one measurement of a metric.
type Measurement struct {
	// Phase of the measurement.
	Phase AnalysisPhase `json:"phase"`
	// Message explains the phase, e.g. an error.
	// +optional
	Message string `json:"message,omitempty"`
	// StartedAt is when the measurement started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// FinishedAt is when the value was collected.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// Value that was measured.
	// +optional
	Value string `json:"value,omitempty"`
	// Metadata is provider data, e.g. a job name.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
	// ResumeAt is when to check again on a measurement in progress.
	// +optional
	ResumeAt *metav1.Time `json:"resumeAt,omitempty"`
}
