// Package provider is the small interface between the AnalysisRun controller and the systems
// that take measurements (one sub-package each: web, prometheus, job).
//
// A provider is handed a metric whose {{args.NAME}} placeholders are already substituted, with
// secret values in clear: it must not log the metric. What it returns is scrubbed of secret
// values by the controller before it is stored, logged or announced.
package provider

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Result is what one measurement gave.
type Result struct {
	// Value is the measured value, the `result` the metric's conditions are evaluated against
	// (a string, float64, bool, []float64, map or list decoded from JSON, or nil).
	Value any
	// Display is Value as stored in the measurement's value field.
	Display string
	// Phase is empty when the metric's conditions judge Value. Providers that judge by
	// themselves (job) set it: Running while the measurement is in progress, then Successful
	// or Failed.
	Phase v1alpha1.AnalysisPhase
	// Message explains the phase a provider set by itself.
	Message string
	// Metadata is stored with the measurement (e.g. the name of the Job).
	Metadata map[string]string
	// MetricMetadata is stored on the metric's result (e.g. the resolved query).
	MetricMetadata map[string]string
	// ResumeAfter, for a Running phase, is how long to wait before checking again; the
	// controller also checks whenever an object the provider created changes.
	ResumeAfter time.Duration
}

// Provider takes measurements of one kind. A returned error makes the measurement an Error
// whose message is the error's.
type Provider interface {
	// Measure takes a measurement, or starts one (Phase Running).
	Measure(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) (Result, error)
}

// Resumer is a Provider whose measurements can stay in progress.
type Resumer interface {
	// Resume checks on a measurement in progress.
	Resume(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric, m *v1alpha1.Measurement) (Result, error)
	// Terminate stops a measurement in progress (the run is being stopped).
	Terminate(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric, m *v1alpha1.Measurement) error
}

// Collector is a Provider that leaves objects behind its measurements.
type Collector interface {
	// GarbageCollect deletes what the metric's measurements left, except for the most recent
	// keep ones.
	GarbageCollect(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric, keep int) error
}

// PermanentError is an error that measuring again would not fix (an unsupported provider or
// option): the metric errors at once instead of after consecutiveErrorLimit retries.
type PermanentError struct{ Err error }

func (e PermanentError) Error() string { return e.Err.Error() }
func (e PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as permanent.
func Permanent(err error) error { return PermanentError{Err: err} }

// IsPermanent reports whether err was marked permanent.
func IsPermanent(err error) bool {
	var p PermanentError
	return errors.As(err, &p)
}

// Name returns the name of the provider a metric uses ("web", "prometheus", "plugin
// argoproj-labs/foo", ...), or "" when none is set.
func Name(mp *v1alpha1.MetricProvider) string {
	names := Names(mp)
	if len(names) == 0 {
		return ""
	}
	return strings.Join(names, ", ")
}

// Names lists every provider set on a metric (validation allows only one).
func Names(mp *v1alpha1.MetricProvider) []string {
	var names []string
	for _, p := range []struct {
		name string
		set  bool
	}{
		{"prometheus", mp.Prometheus != nil}, {"kayenta", mp.Kayenta != nil}, {"web", mp.Web != nil},
		{"datadog", mp.Datadog != nil}, {"wavefront", mp.Wavefront != nil}, {"newRelic", mp.NewRelic != nil},
		{"job", mp.Job != nil}, {"cloudWatch", mp.CloudWatch != nil}, {"graphite", mp.Graphite != nil},
		{"influxdb", mp.Influxdb != nil}, {"skywalking", mp.SkyWalking != nil},
	} {
		if p.set {
			names = append(names, p.name)
		}
	}
	var plugins []string
	for name := range mp.Plugin {
		plugins = append(plugins, "plugin "+name)
	}
	sort.Strings(plugins)
	return append(names, plugins...)
}

// Unsupported is the Provider of metrics whose provider Vane does not implement: every
// measurement is an Error that names it.
type Unsupported struct {
	// Provider is the provider's name.
	Provider string
	// Supported lists the providers that are implemented.
	Supported []string
}

// Measure implements Provider.
func (u Unsupported) Measure(context.Context, *v1alpha1.AnalysisRun, *v1alpha1.Metric) (Result, error) {
	if u.Provider == "" {
		return Result{}, Permanent(fmt.Errorf("the metric has no provider: set one of %s", strings.Join(u.Supported, ", ")))
	}
	return Result{}, Permanent(fmt.Errorf("the %s provider is not supported by this version of Vane (supported: %s)",
		u.Provider, strings.Join(u.Supported, ", ")))
}
