// Package metrics runs the metric checks of a Flagger Canary's analysis as Flagger v1.36.1 does:
// first the built-in metrics (request-success-rate, request-duration) and inline queries against
// the metrics server (Prometheus), then the metrics that reference a MetricTemplate against the
// template's provider. A failed check comes back as the text of the Warning event Flagger records
// for it.
package metrics

import (
	"context"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

const (
	// DefaultMetricsServer is the Prometheus address Flagger's --metrics-server flag defaults to;
	// a Checker with no MetricsServer uses it.
	DefaultMetricsServer = "http://prometheus:9090"
	// DefaultMeshProvider is the mesh provider Flagger's --mesh-provider flag defaults to; Check
	// uses it when its provider argument is empty.
	DefaultMeshProvider = "istio"
	// DefaultInterval is the window of a built-in metric or inline query without an interval.
	DefaultInterval = "1m"
	// ProvidersAvailable is the text of the Normal event Flagger records when Available finds
	// every metrics provider online. When it does not, Flagger records a Warning event
	// "Error checking metric providers: " followed by Available's error.
	ProvidersAvailable = "all the metrics providers are available!"
)

// The names of Flagger's built-in metrics.
const (
	requestSuccessRate = "request-success-rate"
	requestDuration    = "request-duration"
)

// Checker runs a Canary's metric checks. Its zero value is not usable: Reader is required.
type Checker struct {
	// Reader reads MetricTemplates and the Secrets they reference.
	Reader client.Reader
	// Client sends the queries; nil means http.DefaultClient. A template with insecureSkipVerify
	// needs its Transport to be nil or an *http.Transport.
	Client *http.Client
	// MetricsServer is the Prometheus of the built-in metrics and inline queries (Flagger's
	// --metrics-server); a Canary's spec.metricsServer overrides it. Empty means
	// DefaultMetricsServer.
	MetricsServer string
	// Clock is the time of providers that send a time window (datadog); nil means the real clock.
	Clock clock.PassiveClock
}

// Check runs the Canary's metric checks in Flagger's order and returns "" when all pass. On the
// first failed check it stops and returns the text of the Warning event Flagger records for it
// (a value beyond its threshold, no data, a query or provider that fails, a MetricTemplate or
// Secret that does not exist); the caller counts it as a failed check. provider is the
// controller's mesh provider (Flagger's --mesh-provider; empty means DefaultMeshProvider), which
// the Canary's spec.provider overrides as in Flagger. err is for what is not a failed check: the
// API server cannot be read, the Checker is misconfigured, or ctx ended.
func (c *Checker) Check(ctx context.Context, cd *flaggerv1.Canary, provider string) (halt string, err error) {
	if cd.Spec.Analysis == nil {
		return "", nil
	}
	if provider == "" {
		provider = DefaultMeshProvider
	}
	halt, err = c.checkBuiltin(ctx, cd, provider)
	if halt == "" && err == nil {
		halt, err = c.checkTemplates(ctx, cd)
	}
	if halt != "" && ctx.Err() != nil {
		// The caller gave up: the query failed for that, not because of the metric.
		return "", fmt.Errorf("metric checks of Canary %s/%s: %w", cd.Namespace, cd.Name, ctx.Err())
	}
	return halt, err
}

// Available is Flagger's check that every metrics provider the Canary's metrics use is online:
// the metrics server of the built-in metrics, and the provider of every MetricTemplate. Its
// error reads as Flagger's.
func (c *Checker) Available(ctx context.Context, cd *flaggerv1.Canary) error {
	if cd.Spec.Analysis == nil {
		return nil
	}
	for _, m := range cd.Spec.Analysis.Metrics {
		if m.Name == requestSuccessRate || m.Name == requestDuration {
			if err := c.builtinAvailable(ctx, cd); err != nil {
				return err
			}
			continue
		}
		if m.TemplateRef == nil {
			continue
		}
		ref, err := c.resolveTemplate(ctx, cd, m, "metric template")
		if err != nil {
			return err
		}
		if ref.halt != "" {
			return fmt.Errorf("%s", ref.halt)
		}
		if err := ref.provider.online(ctx); err != nil {
			t := ref.template
			return fmt.Errorf("%v in metric template %s.%s not avaiable: %w", t.Spec.Provider.Type, t.Name, t.Namespace, err)
		}
	}
	return nil
}

func (c *Checker) builtinAvailable(ctx context.Context, cd *flaggerv1.Canary) error {
	prom, halt, err := c.metricsServer(cd)
	if err != nil {
		return err
	}
	if halt != "" {
		return fmt.Errorf("error building Prometheus client for %s %s", cd.Spec.MetricsServer, halt)
	}
	if err := prom.online(ctx); err != nil {
		return fmt.Errorf("prometheus not avaiable: %w", err)
	}
	return nil
}

// metricsServer is the Prometheus of the built-in metrics. A bad spec.metricsServer is the
// Canary's fault (halt, the reason); a bad Checker.MetricsServer is Vane's (err).
func (c *Checker) metricsServer(cd *flaggerv1.Canary) (prom *prometheus, halt string, err error) {
	if cd.Spec.MetricsServer != "" {
		prom, err := newPrometheus(c.Client, builtinProvider(cd.Spec.MetricsServer), nil)
		if err != nil {
			return nil, err.Error(), nil
		}
		return prom, "", nil
	}
	addr := c.MetricsServer
	if addr == "" {
		addr = DefaultMetricsServer
	}
	prom, err = newPrometheus(c.Client, builtinProvider(addr), nil)
	if err != nil {
		return nil, "", fmt.Errorf("the controller's metrics server: %w", err)
	}
	return prom, "", nil
}

func builtinProvider(addr string) flaggerv1.MetricProvider {
	return flaggerv1.MetricProvider{Type: "prometheus", Address: addr}
}

// notFound is the text of the NotFound error Flagger's listers and API calls return.
func notFound(group, resource, name string) string {
	return apierrors.NewNotFound(schema.GroupResource{Group: group, Resource: resource}, name).Error()
}
