// Package controller assembles Vane's controllers into a controller-runtime manager; one
// sub-package per kind holds its reconciler.
package controller

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	flaggerv1beta1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/api/v1alpha1"
	jobprovider "github.com/vanedev/vane/internal/analysis/provider/job"
	"github.com/vanedev/vane/internal/controller/analysisrun"
	"github.com/vanedev/vane/internal/controller/canary"
	"github.com/vanedev/vane/internal/controller/experiment"
	"github.com/vanedev/vane/internal/controller/rollout"
	"github.com/vanedev/vane/internal/metrics"
	kit "github.com/vanedev/vane/internal/reconcile"
	"github.com/vanedev/vane/internal/shard"
	"github.com/vanedev/vane/internal/traffic"
)

// Leader election and the cache's informers:
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete

// Options configure the manager.
type Options struct {
	// Namespace limits the controllers to one namespace (empty: all).
	Namespace string
	// InstanceID limits them to Rollouts, AnalysisRuns and Experiments labelled with it
	// (empty: unlabelled ones).
	InstanceID string
	// LeaderElection elects a leader through a Lease in LeaderElectionNamespace.
	LeaderElection          bool
	LeaderElectionNamespace string
	// MetricsAddr and HealthAddr are listen addresses ("0" disables).
	MetricsAddr, HealthAddr string
	// Workers is the number of Rollouts reconciled at once; AnalysisWorkers and
	// ExperimentWorkers those of AnalysisRuns and Experiments (0: Workers).
	Workers, AnalysisWorkers, ExperimentWorkers int
	// PprofAddr is the listen address of Go's /debug/pprof endpoints ("" or "0": none).
	PprofAddr string
	// RolloutOptions are passed to the rollout reconciler (a clock, in tests).
	RolloutOptions []rollout.Option
	// ExperimentOptions are passed to the experiment reconciler (a clock, in tests).
	ExperimentOptions []experiment.Option
	// EventObservers learn of every event the controllers record (see EventObserver).
	EventObservers []EventObserver
	// Canary configures the reconciler of Flagger's Canaries (served when the API server
	// serves flagger.app/v1beta1 canaries).
	Canary CanaryOptions
	// Shards, if set, splits the objects between the replicas that run with the same number:
	// each takes a share of the shards through Leases (internal/shard) in
	// LeaderElectionNamespace (else the pod's namespace, Namespace or "default"), and
	// reconciles only the objects of its shards. It excludes LeaderElection.
	Shards int
	// ShardIdentity names this replica in the shards' Leases (default: hostname_<uuid>).
	ShardIdentity string
}

// Scheme returns a scheme with the built-in kinds, Vane's API and the typed API the traffic
// routers use (the Gateway API; the others are read as unstructured objects).
func Scheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme, flaggerv1beta1.AddToScheme, traffic.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return scheme, nil
}

// NewManager builds a manager running every Vane controller (Rollouts, AnalysisRuns,
// Experiments). Its cache holds the Rollouts, Services, Deployments and PodTemplates in scope,
// and only the ReplicaSets and Jobs the controller may own, with no object's managedFields
// (cacheOptions); pods are read directly, and only for restarts and metadata changes.
// Argo's Prometheus metrics are served on the metrics endpoint (internal/metrics).
func NewManager(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	cfg = rest.CopyConfig(cfg)
	metrics.CountRequests(cfg)
	var met *metrics.Instance // set once the manager's cache exists; observes events from then on
	opts, err := managerOptions(o, append(append([]EventObserver{}, o.EventObservers...), lateObserver{&met}))
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("creating the controller manager: %w", err)
	}
	if met, err = metrics.New(mgr.GetCache(), o.InstanceID); err != nil {
		return nil, err
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error { return met.Start(ctx, mgr.GetCache()) })); err != nil {
		return nil, fmt.Errorf("adding the metrics: %w", err)
	}
	ring, err := newRing(mgr, o)
	if err != nil {
		return nil, err
	}
	if err := setupControllers(mgr, o, met, ring); err != nil {
		return nil, err
	}
	if o.HealthAddr != "" && o.HealthAddr != "0" {
		if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
			return nil, err
		}
		if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// lateObserver passes events to the metrics, once they exist (the event broadcaster is made
// before the manager, the metrics after it; no controller records an event in between).
type lateObserver struct{ met **metrics.Instance }

func (l lateObserver) ObserveEvent(obj runtime.Object, eventType, reason, message string) {
	if m := *l.met; m != nil {
		m.ObserveEvent(obj, eventType, reason, message)
	}
}

// setupControllers registers the Rollout, AnalysisRun and Experiment reconcilers, timed by met
// and, with a ring, limited to its shards.
func setupControllers(mgr ctrl.Manager, o Options, met *metrics.Instance, ring *shard.Ring) error {
	ropts := append([]rollout.Option{rollout.WithInstanceID(o.InstanceID), kit.WithWrap[*rollout.Reconciler](met.Wrap)},
		o.RolloutOptions...)
	if err := rollout.Setup(mgr, o.Workers, append(ropts, sharded[*rollout.Reconciler](ring, "rollout")...)...); err != nil {
		return err
	}
	aopts := []analysisrun.Option{analysisrun.WithInstanceID(o.InstanceID), kit.WithWrap[*analysisrun.Reconciler](met.Wrap)}
	aopts = append(aopts, sharded[*analysisrun.Reconciler](ring, "analysisrun")...)
	if err := analysisrun.Setup(mgr, orWorkers(o.AnalysisWorkers, o.Workers), aopts...); err != nil {
		return err
	}
	eopts := append([]experiment.Option{experiment.WithInstanceID(o.InstanceID), kit.WithWrap[*experiment.Reconciler](met.Wrap)},
		o.ExperimentOptions...)
	if err := experiment.Setup(mgr, orWorkers(o.ExperimentWorkers, o.Workers), append(eopts, sharded[*experiment.Reconciler](ring, "experiment")...)...); err != nil {
		return err
	}
	return setupCanaries(mgr, o, sharded[*canary.Reconciler](ring, "canary"))
}

// sharded are the options that limit the reconciler of controller name to ring's shards
// (none without a ring): the ring's Wrap outside every other, its Source, and its Owns for
// what a reconciler does outside its reconciles (events on informer adds).
func sharded[R kit.Configurable](ring *shard.Ring, name string) []kit.Option[R] {
	if ring == nil {
		return nil
	}
	return []kit.Option[R]{kit.WithWrap[R](ring.Wrap), kit.WithSource[R](ring.Source(shardLists[name])), kit.WithOwner[R](ring.Owns)}
}

// orWorkers is n, or def when n is unset.
func orWorkers(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// cacheOptions trim what the cache holds: no object's managedFields (nothing in the controller
// reads them; a write of a cached object without them keeps the server's, and they are often
// the larger part of a small object); of the ReplicaSets, only those that carry the
// rollouts-pod-template-hash label (Rollouts' and Experiments' carry it; a cluster's
// Deployments own many more, and the controller needs none of them); of the Jobs, only those
// the AnalysisRuns' job provider made (it labels each with its run's UID, as Argo does, whose
// informer is filtered the same way).
func cacheOptions() (cache.Options, error) {
	hashed, err := labels.NewRequirement(v1alpha1.PodTemplateHashLabel, selection.Exists, nil)
	if err != nil {
		return cache.Options{}, fmt.Errorf("ReplicaSet cache selector: %w", err)
	}
	ofRun, err := labels.NewRequirement(jobprovider.RunUIDLabel, selection.Exists, nil)
	if err != nil {
		return cache.Options{}, fmt.Errorf("Job cache selector: %w", err)
	}
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.ReplicaSet{}: {Label: labels.NewSelector().Add(*hashed)},
			&batchv1.Job{}:       {Label: labels.NewSelector().Add(*ofRun)},
		},
	}, nil
}

// managerOptions are the manager's scheme, cache, endpoints, leader election and event
// broadcaster, whose recorders tell observers of each event.
func managerOptions(o Options, observers []EventObserver) (ctrl.Options, error) {
	scheme, err := Scheme()
	if err != nil {
		return ctrl.Options{}, err
	}
	cacheOpts, err := cacheOptions()
	if err != nil {
		return ctrl.Options{}, err
	}
	if o.Namespace != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{o.Namespace: {}}
	}
	leaseNS := o.LeaderElectionNamespace
	if leaseNS == "" {
		leaseNS = o.Namespace
	}
	lockID := "vane-controller-lock"
	if o.InstanceID != "" {
		lockID += "-" + o.InstanceID
	}
	return ctrl.Options{
		Scheme:                  scheme,
		Cache:                   cacheOpts,
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.HealthAddr,
		PprofBindAddress:        o.PprofAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        lockID,
		LeaderElectionNamespace: leaseNS,
		// a stopping controller hands the Lease over at once instead of letting it expire
		LeaderElectionReleaseOnCancel: true,
		// client-go's default spam filter drops a Rollout's Normal events after 25 (then one
		// every five minutes): a rollout emits more than that in one update. Its single writer
		// also drops what finds 1000 events queued: parallelSinks writes them through several.
		// The broadcaster lives as long as the process, as the manager does in `vane controller`.
		EventBroadcaster: observedBroadcaster{ //nolint:staticcheck // see above
			EventBroadcaster: parallelSinks{
				EventBroadcaster: record.NewBroadcaster(record.WithCorrelatorOptions(record.CorrelatorOptions{
					BurstSize: 1000, QPS: 1, MaxEvents: 100})),
				ctx: context.Background(), dropped: metrics.EventDropped,
			},
			observers: observers,
		},
	}, nil
}
