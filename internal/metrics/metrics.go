// Package metrics serves Argo Rollouts' Prometheus metrics (same names, types, labels and label
// values) on the controller-runtime metrics endpoint: gauges read from the manager's cache at
// scrape time, reconcile histograms and error counters, the Rollout event counter, the API
// request counter and the notification counters. It adds a few Vane-only series, prefixed
// vane_, that Argo has no equivalent for (docs/observability.md lists them all).
package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var nsName = []string{"namespace", "name"}

// Argo's reconcile buckets (seconds).
var reconcileBuckets = []float64{0.01, 0.15, .25, .5, 1}

// Buckets of the rollout duration histograms (seconds): ten seconds to a day.
var durationBuckets = []float64{10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400}

func reconcileHistogram(name, help string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: reconcileBuckets}, nsName)
}

func errorCounter(name, help string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, nsName)
}

// durationHistogram is a histogram of update durations per namespace and outcome: not per
// Rollout, whose one observation per update would cost a dozen series each (240,000 of the
// 570,000 samples a scrape served at 10,000 rollouts, docs/performance.md).
func durationHistogram(name, help string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: durationBuckets},
		[]string{"namespace", "outcome"})
}

// The instruments that are not read from the cache.
var (
	rolloutReconcile     = reconcileHistogram("rollout_reconcile", "Rollout reconciliation performance.")
	rolloutReconcileErr  = errorCounter("rollout_reconcile_error", "Error occurring during the rollout")
	analysisReconcile    = reconcileHistogram("analysis_run_reconcile", "Analysis Run reconciliation performance.")
	analysisReconcileErr = errorCounter("analysis_run_reconcile_error", "Error occurring during the analysis run")
	expReconcile         = reconcileHistogram("experiment_reconcile", "Experiments reconciliation performance.")
	expReconcileErr      = errorCounter("experiment_reconcile_error", "Error occurring during the experiment")

	rolloutEvents = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rollout_events_total",
		Help: "Count of rollout events"}, append(append([]string{}, nsName...), "type", "reason"))

	rolloutDuration = durationHistogram("rollout_duration_seconds",
		"Time from the start of a Rollout's update (RolloutUpdated) to its end, by outcome (Vane; Argo has no such metric).")
	rolloutProgression = durationHistogram("rollout_progression_duration_seconds",
		"Time an update spent progressing, its pauses excluded, by outcome (Vane; Argo has no such metric).")
	rolloutManualPause = durationHistogram("rollout_manual_pause_duration_seconds",
		"Time a Rollout waited in a pause only a person ends, by outcome (Vane; Argo has no such metric).")

	notifySuccess = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "notification_send_success",
		Help: "Notification send success."}, append(append([]string{}, nsName...), "type", "reason"))
	notifyError = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "notification_send_error",
		Help: "Error sending the notification"}, append(append([]string{}, nsName...), "type", "reason"))
	notifySend = reconcileHistogram("notification_send", "Notification send performance.")

	k8sRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "controller_clientset_k8s_request_total",
		Help: "Number of kubernetes requests executed during application reconciliation."},
		[]string{"kind", "namespace", "name", "verb", "status_code"})
)

// perRollout are the instruments with a series per Rollout, deleted with it.
var perRollout = []deleter{rolloutReconcile, rolloutReconcileErr, rolloutEvents, notifySuccess, notifyError, notifySend}

type deleter interface {
	DeletePartialMatch(labels prometheus.Labels) int
}

var (
	registerOnce sync.Once
	registerErr  error
)

// register adds every instrument and the cache collector to controller-runtime's registry,
// once per process.
func register() error {
	registerOnce.Do(func() {
		for _, c := range []prometheus.Collector{rolloutReconcile, rolloutReconcileErr, analysisReconcile,
			analysisReconcileErr, expReconcile, expReconcileErr, rolloutEvents, rolloutDuration,
			rolloutProgression, rolloutManualPause, notifySuccess, notifyError, notifySend, k8sRequests, caches,
			rateLimiterWait, eventsDropped} {
			if err := crmetrics.Registry.Register(c); err != nil {
				registerErr = err
				return
			}
		}
		observeRateLimiter()
	})
	return registerErr
}

// NotificationMetrics counts the notifications sent for an object's events, under Argo's
// notification_send_success, notification_send_error and notification_send names.
type NotificationMetrics struct{}

// Notifications is what the notifier reports its sends to.
var Notifications NotificationMetrics

// Sent counts a notification sent for an event (type Normal or Warning, and its reason).
func (NotificationMetrics) Sent(namespace, name, eventType, reason string) {
	notifySuccess.WithLabelValues(namespace, name, eventType, reason).Inc()
}

// Failed counts a notification that could not be sent.
func (NotificationMetrics) Failed(namespace, name, eventType, reason string) {
	notifyError.WithLabelValues(namespace, name, eventType, reason).Inc()
}

// Observe records how long sending an event's notifications took.
func (NotificationMetrics) Observe(namespace, name string, seconds float64) {
	notifySend.WithLabelValues(namespace, name).Observe(seconds)
}
