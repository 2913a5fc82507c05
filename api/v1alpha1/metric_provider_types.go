package v1alpha1

import (
	"encoding/json"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// MetricProvider is the system a metric is measured with. Exactly one field
// must be set (a plugin map counts once per entry).
type MetricProvider struct {
	// Prometheus runs a PromQL query.
	// +optional
	Prometheus *PrometheusMetric `json:"prometheus,omitempty"`
	// Kayenta runs a Kayenta canary judgement.
	// +optional
	Kayenta *KayentaMetric `json:"kayenta,omitempty"`
	// Web calls an HTTP endpoint and reads a JSON value.
	// +optional
	Web *WebMetric `json:"web,omitempty"`
	// Datadog runs a Datadog query.
	// +optional
	Datadog *DatadogMetric `json:"datadog,omitempty"`
	// Wavefront runs a Wavefront query.
	// +optional
	Wavefront *WavefrontMetric `json:"wavefront,omitempty"`
	// NewRelic runs an NRQL query.
	// +optional
	NewRelic *NewRelicMetric `json:"newRelic,omitempty"`
	// Job runs a Kubernetes Job; it succeeds when the Job does.
	// +optional
	Job *JobMetric `json:"job,omitempty"`
	// CloudWatch runs CloudWatch metric data queries.
	// +optional
	CloudWatch *CloudWatchMetric `json:"cloudWatch,omitempty"`
	// Graphite runs a Graphite query.
	// +optional
	Graphite *GraphiteMetric `json:"graphite,omitempty"`
	// Influxdb runs a Flux query.
	// +optional
	Influxdb *InfluxdbMetric `json:"influxdb,omitempty"`
	// SkyWalking runs a SkyWalking GraphQL query.
	// +optional
	SkyWalking *SkyWalkingMetric `json:"skywalking,omitempty"`
	// Plugin configures a metric plugin, by plugin name. Each value is passed
	// to its plugin as it is.
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Plugin map[string]json.RawMessage `json:"plugin,omitempty"`
}

// PrometheusMetric is a PromQL query.
type PrometheusMetric struct {
	// Address of the Prometheus server, e.g. http://prometheus:9090.
	// +optional
	Address string `json:"address,omitempty"`
	// Query in PromQL.
	// +optional
	Query string `json:"query,omitempty"`
	// Authentication for the server.
	// +optional
	Authentication Authentication `json:"authentication,omitempty,omitzero"`
	// Timeout of the query, in seconds.
	// +optional
	Timeout *int64 `json:"timeout,omitempty"`
	// Insecure skips TLS verification.
	// +optional
	Insecure bool `json:"insecure,omitempty"`
	// Headers added to the request.
	// +optional
	Headers []WebMetricHeader `json:"headers,omitempty"`
	// RangeQuery makes the query a range query (Prometheus' query_range):
	// the result is every sample between start and end, step apart.
	// +optional
	RangeQuery *PrometheusRangeQueryArgs `json:"rangeQuery,omitempty"`
}

// PrometheusRangeQueryArgs are the bounds and resolution of a range query.
type PrometheusRangeQueryArgs struct {
	// Start of the range: an expr expression giving a time, evaluated at each
	// measurement, e.g. `now() - duration("1h")`.
	// +optional
	Start string `json:"start,omitempty"`
	// End of the range: an expr expression giving a time, e.g. `now()`.
	// Defaults to now().
	// +optional
	End string `json:"end,omitempty"`
	// Step is the resolution: a duration such as 1m (or a number of seconds).
	// +optional
	Step string `json:"step,omitempty"`
}

// Authentication holds credentials for a metric provider.
type Authentication struct {
	// Sigv4 signs requests for Amazon Managed Prometheus.
	// +optional
	Sigv4 Sigv4Config `json:"sigv4,omitempty,omitzero"`
	// OAuth2 uses the client credentials flow.
	// +optional
	OAuth2 OAuth2Config `json:"oauth2,omitempty,omitzero"`
	// BasicAuth sends a user name and password (HTTP basic authentication).
	// +optional
	BasicAuth BasicAuthConfig `json:"basicAuth,omitempty,omitzero"`
}

// BasicAuthConfig is an HTTP basic authentication user and password.
type BasicAuthConfig struct {
	// Username to send.
	// +optional
	Username string `json:"username,omitempty"`
	// Password to send, e.g. {{args.NAME}} of an argument from a Secret.
	// +optional
	Password string `json:"password,omitempty"`
}

// OAuth2Config is an OAuth2 client credentials configuration.
type OAuth2Config struct {
	// TokenURL of the provider.
	// +optional
	TokenURL string `json:"tokenUrl,omitempty"`
	// ClientID of the client.
	// +optional
	ClientID string `json:"clientId,omitempty"`
	// ClientSecret of the client.
	// +optional
	ClientSecret string `json:"clientSecret,omitempty"`
	// Scopes to request.
	// +optional
	Scopes []string `json:"scopes,omitempty"`
}

// Sigv4Config is an AWS SigV4 signing configuration.
type Sigv4Config struct {
	// Region to sign for.
	// +optional
	Region string `json:"region,omitempty"`
	// Profile of the credentials.
	// +optional
	Profile string `json:"profile,omitempty"`
	// RoleARN to assume.
	// +optional
	RoleARN string `json:"roleArn,omitempty"`
}

// KayentaMetric is a Kayenta canary judgement.
type KayentaMetric struct {
	// Address of Kayenta.
	Address string `json:"address"`
	// Application name.
	Application string `json:"application"`
	// CanaryConfigName is the canary configuration to use.
	CanaryConfigName string `json:"canaryConfigName"`
	// MetricsAccountName is the metrics account.
	MetricsAccountName string `json:"metricsAccountName"`
	// ConfigurationAccountName is the configuration account.
	ConfigurationAccountName string `json:"configurationAccountName"`
	// StorageAccountName is the storage account.
	StorageAccountName string `json:"storageAccountName"`
	// Threshold of the judgement.
	Threshold KayentaThreshold `json:"threshold"`
	// Scopes to compare.
	Scopes []KayentaScope `json:"scopes"`
	// Lookback makes scopes without a start begin when the analysis
	// started, instead of one metric interval before each measurement.
	// +optional
	Lookback bool `json:"lookback,omitempty"`
}

// KayentaThreshold is the pass and marginal score.
type KayentaThreshold struct {
	// Pass score.
	Pass int64 `json:"pass"`
	// Marginal score.
	Marginal int64 `json:"marginal"`
}

// KayentaScope is a pair of scopes to compare.
type KayentaScope struct {
	// Name of the scope.
	Name string `json:"name"`
	// ControlScope is the baseline.
	ControlScope ScopeDetail `json:"controlScope"`
	// ExperimentScope is the canary.
	ExperimentScope ScopeDetail `json:"experimentScope"`
}

// ScopeDetail is one Kayenta scope.
type ScopeDetail struct {
	// Scope query.
	Scope string `json:"scope"`
	// Region of the scope.
	Region string `json:"region"`
	// Step in seconds.
	Step int64 `json:"step"`
	// Start time.
	Start string `json:"start"`
	// End time.
	End string `json:"end"`
}

// WebMetricMethod is an HTTP method.
type WebMetricMethod string

// HTTP methods of web metrics.
const (
	WebMetricMethodGet  WebMetricMethod = "GET"
	WebMetricMethodPost WebMetricMethod = "POST"
	WebMetricMethodPut  WebMetricMethod = "PUT"
)

// WebMetric calls an HTTP endpoint and reads a value from its JSON answer.
type WebMetric struct {
	// Method of the request: GET (default), POST or PUT.
	// +optional
	Method WebMetricMethod `json:"method,omitempty"`
	// URL to call.
	URL string `json:"url"`
	// Headers added to the request.
	// +optional
	Headers []WebMetricHeader `json:"headers,omitempty"`
	// Body of a POST or PUT request.
	// +optional
	Body string `json:"body,omitempty"`
	// TimeoutSeconds of the request. Defaults to 10.
	// +optional
	TimeoutSeconds int64 `json:"timeoutSeconds,omitempty"`
	// JSONPath selects the result in the answer. Defaults to {$}.
	// +optional
	JSONPath string `json:"jsonPath,omitempty"`
	// Insecure skips TLS verification.
	// +optional
	Insecure bool `json:"insecure,omitempty"`
	// JSONBody is a JSON body of a POST or PUT request.
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	JSONBody json.RawMessage `json:"jsonBody,omitempty"`
	// Authentication for the endpoint.
	// +optional
	Authentication Authentication `json:"authentication,omitempty,omitzero"`
}

// WebMetricHeader is an HTTP header.
type WebMetricHeader struct {
	// Key is the header name.
	Key string `json:"key"`
	// Value is the header value.
	Value string `json:"value"`
}

// DatadogMetric is a Datadog query.
type DatadogMetric struct {
	// Interval is the time window queried (not the polling rate).
	// Defaults to 5m.
	// +optional
	Interval *DurationString `json:"interval,omitempty"`
	// Query for API v1.
	// +optional
	Query string `json:"query,omitempty"`
	// Queries by name, for API v2 with formula.
	// +optional
	Queries map[string]string `json:"queries,omitempty"`
	// Formula over the queries (API v2).
	// +optional
	Formula string `json:"formula,omitempty"`
	// ApiVersion is v1 (default) or v2.
	// +optional
	// +kubebuilder:validation:Enum=v1;v2
	ApiVersion string `json:"apiVersion,omitempty"` //nolint:revive // Argo's field name
	// Aggregator reduces a v2 time series to one value.
	// +optional
	Aggregator string `json:"aggregator,omitempty"`
	// SecretRef names the Secret holding the API and application keys
	// (default: the controller namespace's datadog Secret).
	// +optional
	SecretRef SecretRef `json:"secretRef,omitempty,omitzero"`
	// RequestTimeout bounds each call to the Datadog API. Defaults to 10s.
	// +optional
	RequestTimeout *DurationString `json:"requestTimeout,omitempty"`
}

// SecretRef names a Secret of a metric provider.
type SecretRef struct {
	// Name of the Secret.
	// +optional
	Name string `json:"name,omitempty"`
	// Namespaced looks for the Secret in the analysis' namespace instead of
	// the controller's.
	// +optional
	Namespaced bool `json:"namespaced,omitempty"`
}

// WavefrontMetric is a Wavefront query.
type WavefrontMetric struct {
	// Address of Wavefront.
	// +optional
	Address string `json:"address,omitempty"`
	// Query to run.
	// +optional
	Query string `json:"query,omitempty"`
}

// NewRelicMetric is an NRQL query.
type NewRelicMetric struct {
	// Profile is the Secret holding the account configuration.
	// +optional
	Profile string `json:"profile,omitempty"`
	// Query in NRQL.
	Query string `json:"query"`
	// Timeout of the NRQL query, in seconds. Defaults to 5.
	// +optional
	Timeout *int64 `json:"timeout,omitempty"`
}

// JobMetric runs a Job as a measurement.
type JobMetric struct {
	// Metadata of the Job.
	// +optional
	Metadata metav1.ObjectMeta `json:"metadata,omitempty,omitzero"`
	// Spec of the Job.
	Spec batchv1.JobSpec `json:"spec"`
}

// GraphiteMetric is a Graphite query.
type GraphiteMetric struct {
	// Address of Graphite.
	// +optional
	Address string `json:"address,omitempty"`
	// Query to run.
	// +optional
	Query string `json:"query,omitempty"`
}

// InfluxdbMetric is a Flux query.
type InfluxdbMetric struct {
	// Profile is the Secret holding the account configuration.
	// +optional
	Profile string `json:"profile,omitempty"`
	// Query in Flux.
	// +optional
	Query string `json:"query,omitempty"`
}

// SkyWalkingMetric is a SkyWalking query.
type SkyWalkingMetric struct {
	// Address of SkyWalking.
	// +optional
	Address string `json:"address,omitempty"`
	// Query to run.
	// +optional
	Query string `json:"query,omitempty"`
	// Interval of the query window.
	// +optional
	Interval *DurationString `json:"interval,omitempty"`
}

// CloudWatchMetric runs CloudWatch metric data queries.
type CloudWatchMetric struct {
	// Interval of the query window. Defaults to 5m.
	// +optional
	Interval *DurationString `json:"interval,omitempty"`
	// MetricDataQueries to run.
	MetricDataQueries []CloudWatchMetricDataQuery `json:"metricDataQueries"`
}

// CloudWatchMetricDataQuery is one CloudWatch query.
type CloudWatchMetricDataQuery struct {
	// Id of the query.
	// +optional
	Id string `json:"id,omitempty"` //nolint:revive // Argo's field name
	// Expression to evaluate.
	// +optional
	Expression *string `json:"expression,omitempty"`
	// Label of the result.
	// +optional
	Label *string `json:"label,omitempty"`
	// MetricStat selects a metric.
	// +optional
	MetricStat *CloudWatchMetricStat `json:"metricStat,omitempty"`
	// Period in seconds.
	// +optional
	Period *intstr.IntOrString `json:"period,omitempty"`
	// ReturnData returns this query's result.
	// +optional
	ReturnData *bool `json:"returnData,omitempty"`
}

// CloudWatchMetricStat selects a CloudWatch metric and statistic.
type CloudWatchMetricStat struct {
	// Metric to read.
	// +optional
	Metric CloudWatchMetricStatMetric `json:"metric,omitempty,omitzero"`
	// Period in seconds.
	// +optional
	Period intstr.IntOrString `json:"period,omitempty,omitzero"`
	// Stat, e.g. Average.
	// +optional
	Stat string `json:"stat,omitempty"`
	// Unit of the values.
	// +optional
	Unit string `json:"unit,omitempty"`
}

// CloudWatchMetricStatMetric names a CloudWatch metric.
type CloudWatchMetricStatMetric struct {
	// Dimensions of the metric.
	// +optional
	Dimensions []CloudWatchMetricStatMetricDimension `json:"dimensions,omitempty"`
	// MetricName of the metric.
	// +optional
	MetricName string `json:"metricName,omitempty"`
	// Namespace of the metric.
	// +optional
	Namespace *string `json:"namespace,omitempty"`
}

// CloudWatchMetricStatMetricDimension is a metric dimension.
type CloudWatchMetricStatMetricDimension struct {
	// Name of the dimension.
	// +optional
	Name string `json:"name,omitempty"`
	// Value of the dimension.
	// +optional
	Value string `json:"value,omitempty"`
}
