package canary

import (
	"fmt"
	"net/http"
	"time"

	"k8s.io/client-go/discovery"
	ctrl "sigs.k8s.io/controller-runtime"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	kit "github.com/vanedev/vane/internal/reconcile"
)

// Option configures a Reconciler: WithClock (tests use a fake clock) or WithInstanceID.
type Option = kit.Option[*Reconciler]

// WithClock and WithInstanceID are the reconcile kit's options.
var WithClock, WithInstanceID = kit.WithClock[*Reconciler], kit.WithInstanceID[*Reconciler]

// Config is what the controller's flags set for Canaries.
type Config struct {
	// MeshProvider is the provider of Canaries that name none (default kubernetes).
	MeshProvider string
	// MinInterval is the shortest analysis interval (default Flagger's 10s).
	MinInterval time.Duration
	// HTTP calls webhooks (default: a plain client).
	HTTP *http.Client
	// Routers, Metrics, Alerts and Stats: see Reconciler.
	Routers      RouterFactory
	Metrics      MetricChecker
	Alerts       Alerter
	Stats        Recorder
	EventWebhook string
}

// Served reports whether the API server serves Canaries (Flagger's CRDs are installed).
func Served(mgr ctrl.Manager) (bool, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(mgr.GetConfig())
	if err != nil {
		return false, fmt.Errorf("discovering flagger.app: %w", err)
	}
	list, err := dc.ServerResourcesForGroupVersion(flaggerv1.GroupVersion.String())
	if err != nil {
		return false, nil //nolint:nilerr // not served
	}
	for _, r := range list.APIResources {
		if r.Name == "canaries" {
			return true, nil
		}
	}
	return false, nil
}

// Setup registers a Canary reconciler with mgr, running workers ticks at once. A Canary is
// looked at when it changes and then every analysis interval (its ticks); the objects it owns
// are put right at its next tick, as Flagger does.
func Setup(mgr ctrl.Manager, workers int, c Config, opts ...Option) error {
	r := kit.Configure(&Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorderFor("flagger"), MeshProvider: c.MeshProvider, MinInterval: c.MinInterval,
		HTTP: c.HTTP, Routers: c.Routers, Metrics: c.Metrics, Alerts: c.Alerts, Stats: c.Stats,
		EventWebhook: c.EventWebhook}, opts...)
	if r.MeshProvider == "" {
		r.MeshProvider = flaggerv1.KubernetesProvider
	}
	if r.MinInterval == 0 {
		r.MinInterval = flaggerv1.MinAnalysisInterval
	}
	if r.HTTP == nil {
		r.HTTP = &http.Client{}
	}
	if err := mgr.Add(r); err != nil {
		return fmt.Errorf("adding the canary announcer: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).For(&flaggerv1.Canary{})
	return kit.Complete(b, "canary", workers, r)
}
