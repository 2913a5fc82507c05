package metrics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrl "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
)

// kind is one of the reconciled kinds and its reconcile instruments.
type kind struct {
	newObj    func() client.Object
	reconcile *prometheus.HistogramVec
	errors    *prometheus.CounterVec
}

// kinds by controller name (the names internal/reconcile.Complete is given).
var kinds = map[string]kind{
	"rollout":     {func() client.Object { return &v1alpha1.Rollout{} }, rolloutReconcile, rolloutReconcileErr},
	"analysisrun": {func() client.Object { return &v1alpha1.AnalysisRun{} }, analysisReconcile, analysisReconcileErr},
	"experiment":  {func() client.Object { return &v1alpha1.Experiment{} }, expReconcile, expReconcileErr},
}

// Instance is the metrics of one manager: its cache's series while it runs, the reconciles it
// times, the events it counts. When the manager stops, its series go.
type Instance struct {
	src   *source
	now   func() time.Time
	spans *spans

	mu   sync.Mutex
	keys map[string]map[types.NamespacedName]bool // by controller name: objects with series
	// stores are the informers' stores by controller name, once Start has them: exists reads
	// them without the copy a cache Get makes.
	stores map[string]toolscache.Store
}

// New returns the metrics of a manager whose cache is reader (read once synced), serving the
// objects labelled with instanceID. It registers the process' instruments the first time.
func New(reader client.Reader, instanceID string) (*Instance, error) {
	if err := register(); err != nil {
		return nil, fmt.Errorf("registering the metrics: %w", err)
	}
	return newInstance(reader, instanceID, time.Now), nil
}

func newInstance(reader client.Reader, instanceID string, now func() time.Time) *Instance {
	in := &Instance{src: &source{reader: reader, instanceID: instanceID}, now: now,
		keys: map[string]map[types.NamespacedName]bool{}}
	in.spans = newSpans()
	return in
}

// Start serves the cache's series once the Rollout, AnalysisRun and Experiment informers of c
// have synced, until ctx ends; then it deletes every series of the objects this instance saw.
// It is the manager's Runnable (see Runnable).
func (in *Instance) Start(ctx context.Context, c cache.Cache) error {
	stores := map[string]toolscache.Store{}
	for name, k := range kinds {
		inf, err := c.GetInformer(ctx, k.newObj())
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("starting an informer for the metrics: %w", err)
		}
		if si, ok := inf.(toolscache.SharedIndexInformer); ok {
			stores[name] = si.GetStore()
		}
	}
	in.mu.Lock()
	in.stores = stores
	in.mu.Unlock()
	caches.attach(in.src)
	<-ctx.Done()
	caches.detach(in.src)
	in.forgetAll()
	return nil
}

// Wrap times the reconciles of the controller named name ("rollout", "analysisrun" or
// "experiment"; any other is returned as it is).
func (in *Instance) Wrap(name string, r ctrl.Reconciler) ctrl.Reconciler {
	k, ok := kinds[name]
	if !ok {
		return r
	}
	return timed{in: in, name: name, kind: k, next: r}
}

// timed is a reconciler whose reconciles are observed in the kind's histogram and error
// counter, as long as the object exists; once it is gone its series are deleted.
type timed struct {
	in   *Instance
	name string
	kind kind
	next ctrl.Reconciler
}

// Reconcile runs the reconcile and records it.
func (t timed) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	start := t.in.now()
	res, err := t.next.Reconcile(ctx, req)
	elapsed := t.in.now().Sub(start)
	if !t.in.exists(ctx, t.name, t.kind, req.NamespacedName) {
		t.in.forget(t.name, req.NamespacedName)
		return res, err
	}
	t.in.remember(t.name, req.NamespacedName)
	t.kind.reconcile.WithLabelValues(req.Namespace, req.Name).Observe(elapsed.Seconds())
	if err != nil {
		t.kind.errors.WithLabelValues(req.Namespace, req.Name).Inc()
	}
	return res, err
}

// exists reports whether the object is in the cache and served by this instance (an error
// other than not-found counts as existing: the series stay). It reads the informer's store when
// Start has it (no copy of the object), else gets a copy from the cache.
func (in *Instance) exists(ctx context.Context, name string, k kind, key types.NamespacedName) bool {
	in.mu.Lock()
	store := in.stores[name]
	in.mu.Unlock()
	if store != nil {
		item, found, err := store.GetByKey(key.String())
		if err != nil {
			return true
		}
		obj, ok := item.(client.Object)
		return found && ok && in.src.owns(obj)
	}
	obj := k.newObj()
	if err := in.src.reader.Get(ctx, key, obj); err != nil {
		return client.IgnoreNotFound(err) != nil
	}
	return in.src.owns(obj)
}

func (in *Instance) remember(name string, key types.NamespacedName) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.keys[name] == nil {
		in.keys[name] = map[types.NamespacedName]bool{}
	}
	in.keys[name][key] = true
}

// forget deletes the series of an object that is gone.
func (in *Instance) forget(name string, key types.NamespacedName) {
	in.mu.Lock()
	delete(in.keys[name], key)
	in.mu.Unlock()
	deleteSeries(name, key)
	if name == "rollout" {
		in.spans.drop(key)
	}
}

func (in *Instance) forgetAll() {
	in.mu.Lock()
	keys := in.keys
	in.keys = map[string]map[types.NamespacedName]bool{}
	in.mu.Unlock()
	for name, set := range keys {
		for key := range set {
			deleteSeries(name, key)
		}
	}
	in.spans.dropAll()
}

// resources name each kind's API resource, the kind of its API request series.
var resources = map[string]string{"rollout": "rollouts", "analysisrun": "analysisruns", "experiment": "experiments"}

func deleteSeries(name string, key types.NamespacedName) {
	match := prometheus.Labels{"namespace": key.Namespace, "name": key.Name}
	k8sRequests.DeletePartialMatch(prometheus.Labels{"kind": resources[name], "namespace": key.Namespace, "name": key.Name})
	if name == "rollout" {
		for _, d := range perRollout {
			d.DeletePartialMatch(match)
		}
		return
	}
	k := kinds[name]
	k.reconcile.DeletePartialMatch(match)
	k.errors.DeletePartialMatch(match)
}
