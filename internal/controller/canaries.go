package controller

import (
	"fmt"
	"net/http"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/internal/controller/canary"
	"github.com/vanedev/vane/internal/flagger/alert"
	flaggermetrics "github.com/vanedev/vane/internal/flagger/metrics"
	flaggerrouter "github.com/vanedev/vane/internal/flagger/router"
	"github.com/vanedev/vane/internal/metrics"
	"github.com/vanedev/vane/internal/resolve"
)

// CanaryOptions configure the reconciler of Flagger's Canaries.
type CanaryOptions struct {
	// MeshProvider is the provider of Canaries that name none (Flagger's -mesh-provider;
	// default kubernetes).
	MeshProvider string
	// MetricsServer is the Prometheus that built-in metrics and templates without an address
	// query (Flagger's -metrics-server).
	MetricsServer string
	// MinInterval is the shortest analysis interval (default Flagger's 10s).
	MinInterval time.Duration
	// EventWebhook receives the events of Canaries with no event webhook (Flagger's -event-webhook).
	EventWebhook string
	// ClusterName is added to alerts (Flagger's -cluster-name).
	ClusterName string
	// ResolveServices dials <service>.<namespace> URLs of webhooks and metric servers at the
	// Service's ClusterIP (for a controller that runs outside the cluster, without its DNS).
	ResolveServices bool
	// Options are passed to the reconciler (a clock, in tests).
	Options []canary.Option
}

// setupCanaries registers the Canary reconciler when the API server serves Canaries, with
// extra options after o's.
func setupCanaries(mgr ctrl.Manager, o Options, extra []canary.Option) error {
	served, err := canary.Served(mgr)
	if err != nil {
		return err
	}
	if !served {
		mgr.GetLogger().Info("flagger.app/v1beta1 canaries are not served (Flagger's CRDs are not installed): Canaries are not reconciled")
		return nil
	}
	co := o.Canary
	var res *resolve.Resolver
	if co.ResolveServices {
		res = &resolve.Resolver{Reader: mgr.GetClient()}
	}
	httpClient := &http.Client{Transport: resolve.Transport(nil, res)}
	// the routers' client reads from the API server: no informer on router kinds
	tc, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		HTTPClient: mgr.GetHTTPClient()})
	if err != nil {
		return fmt.Errorf("creating the canary routers' client: %w", err)
	}
	routers := func(provider string) (canary.Router, error) { return flaggerrouter.New(provider, tc) }
	cfg := canary.Config{MeshProvider: co.MeshProvider, MinInterval: co.MinInterval, HTTP: httpClient,
		EventWebhook: co.EventWebhook, Stats: metrics.Canaries, Routers: routers,
		// MetricTemplates and their Secrets are read directly: no cluster-wide Secret cache
		Metrics: &flaggermetrics.Checker{Reader: mgr.GetAPIReader(), Client: httpClient, MetricsServer: co.MetricsServer},
		Alerts:  &alert.Sender{Reader: mgr.GetAPIReader(), Client: httpClient, ClusterName: co.ClusterName}}
	opts := append(append([]canary.Option{canary.WithInstanceID(o.InstanceID)}, co.Options...), extra...)
	if err := canary.Setup(mgr, o.Workers, cfg, opts...); err != nil {
		return fmt.Errorf("setting up the canary controller: %w", err)
	}
	return nil
}
