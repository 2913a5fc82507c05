package metrics

import (
	"context"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientmetrics "k8s.io/client-go/tools/metrics"
)

// rateLimiterWait is client-go's rest_client_rate_limiter_duration_seconds, which
// controller-runtime does not register: how long each request waited for the client's
// --kube-api-qps/--kube-api-burst limiter, by verb. A controller that throttles itself shows it
// here (docs/performance.md).
var rateLimiterWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "rest_client_rate_limiter_duration_seconds",
	Help:    "Client side rate limiter latency in seconds. Broken down by verb.",
	Buckets: []float64{0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60},
}, []string{"verb"})

// limiterLatency passes client-go's rate limiter latencies to rateLimiterWait.
type limiterLatency struct{}

// Observe records that a request with verb waited latency for the rate limiter.
func (limiterLatency) Observe(_ context.Context, verb string, _ url.URL, latency time.Duration) {
	rateLimiterWait.WithLabelValues(verb).Observe(latency.Seconds())
}

// observeRateLimiter makes client-go report its rate limiter's waits to rateLimiterWait (its
// metrics.Register, which controller-runtime calls first, sets each hook only once).
func observeRateLimiter() { clientmetrics.RateLimiterLatency = limiterLatency{} }

// eventsDropped counts the events the controller recorded but had no room to queue for the API
// server (Vane's; client-go drops such events without a trace).
var eventsDropped = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "vane_events_dropped_total",
	Help: "Events recorded but dropped because the queue of events to write to the API server was full (Vane; Argo has no such metric).",
})

// EventDropped counts one event dropped on a full queue.
func EventDropped() { eventsDropped.Inc() }
