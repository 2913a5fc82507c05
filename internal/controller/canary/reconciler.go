// Package canary reconciles Flagger's Canaries (flagger.app/v1beta1) for a Deployment target:
// it makes the objects Flagger makes (the -primary Deployment and configs, the apex, -primary
// and -canary Services, the primary HPA), then every analysis interval runs one tick of
// Flagger's analysis, decided by the engine (internal/strategy/flagger) and applied here:
// scaling, promotion, routes, status, events, webhooks and alerts.
package canary

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	kit "github.com/vanedev/vane/internal/reconcile"
	engine "github.com/vanedev/vane/internal/strategy/flagger"
)

// reasonSynced is the reason of every Canary event, as in Flagger.
const reasonSynced = "Synced"

// MetricChecker runs a Canary's metric analysis (internal/flagger/metrics).
type MetricChecker interface {
	// Check returns "" when every metric passes, else the Warning to record.
	Check(ctx context.Context, cd *flaggerv1.Canary, provider string) (string, error)
	// Available reports a metric provider that cannot be reached.
	Available(ctx context.Context, cd *flaggerv1.Canary) error
}

// Alerter posts a Canary's alerts to its alert providers (internal/flagger/alert).
type Alerter interface {
	Alert(ctx context.Context, cd *flaggerv1.Canary, text string, metadata bool, severity string) error
}

// Recorder reports Flagger's Prometheus metrics (internal/metrics).
type Recorder interface {
	SetStatus(cd *flaggerv1.Canary, phase flaggerv1.CanaryPhase)
	SetWeight(cd *flaggerv1.Canary, primary, canary int)
	ObserveDuration(cd *flaggerv1.Canary, d time.Duration)
	Forget(namespace, name, target string)
}

// Reconciler reconciles Canaries.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API.
	Client ctrl.Client
	// APIReader reads ConfigMaps and Secrets directly (they are not cached).
	APIReader ctrl.Reader
	// Recorder emits events.
	Recorder record.EventRecorder
	// MeshProvider is the provider of Canaries that name none (Flagger's -mesh-provider).
	MeshProvider string
	// MinInterval is the shortest analysis interval (Flagger's is 10s).
	MinInterval time.Duration
	// HTTP calls webhooks; it dials in-cluster names through internal/resolve outside a cluster.
	HTTP *http.Client
	// Routers makes the router of a provider.
	Routers RouterFactory
	// Metrics runs metric checks (nil: a Canary with metrics fails its checks, saying so).
	Metrics MetricChecker
	// Alerts posts alerts (nil: none are sent).
	Alerts Alerter
	// EventWebhook receives every event of Canaries that have no event webhook of their own.
	EventWebhook string
	// Stats reports Flagger's metrics (nil: none).
	Stats Recorder
	kit.Settings

	mu    sync.Mutex
	ticks map[types.NamespacedName]schedule
	after chan func()
}

// +kubebuilder:rbac:groups=flagger.app,resources=canaries,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=flagger.app,resources=canaries/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=flagger.app,resources=canaries/finalizers,verbs=update
// +kubebuilder:rbac:groups=flagger.app,resources=metrictemplates;alertproviders,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=configmaps;secrets,verbs=get;create;update
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch
// The routers' objects (internal/flagger/router):
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes,verbs=get;create;patch
// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices;destinationrules,verbs=get;create;patch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;create;patch

// Reconcile runs a Canary's analysis tick when it is due: at most once per analysis interval,
// as Flagger's per-Canary ticker does, however often the Canary changes in between.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	now := r.Clock.Now()
	if next, ok := r.nextTick(req.NamespacedName); ok && now.Before(next) {
		return reconcile.Result{RequeueAfter: next.Sub(now)}, nil
	}
	var cd flaggerv1.Canary
	if err := r.Client.Get(ctx, req.NamespacedName, &cd); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
		}
		return reconcile.Result{}, ctrl.IgnoreNotFound(err)
	}
	if cd.DeletionTimestamp != nil {
		return r.finalize(ctx, &cd)
	}
	if err := r.ensureFinalizer(ctx, &cd); err != nil {
		return reconcile.Result{}, err
	}
	res, err := kit.Run(ctx, r.Client, r.Recorder, &r.Settings, req, &flaggerv1.Canary{}, canaryStatus, r.tick)
	if err != nil || res.Requeue {
		return res, err
	}
	interval := cd.AnalysisInterval(r.MinInterval)
	r.setNextTick(req.NamespacedName, schedule{next: now.Add(interval), target: cd.Spec.TargetRef.Name})
	return reconcile.Result{RequeueAfter: interval}, nil
}

func canaryStatus(cd *flaggerv1.Canary) any { return cd.Status }

// schedule is when a Canary's next tick is due, and its target (to forget its metrics).
type schedule struct {
	next   time.Time
	target string
}

func (r *Reconciler) nextTick(key types.NamespacedName) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.ticks[key]
	return t.next, ok
}

func (r *Reconciler) setNextTick(key types.NamespacedName, s schedule) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ticks == nil {
		r.ticks = map[types.NamespacedName]schedule{}
	}
	r.ticks[key] = s
}

// forget drops a deleted Canary's schedule and metrics.
func (r *Reconciler) forget(key types.NamespacedName) {
	r.mu.Lock()
	s, ok := r.ticks[key]
	delete(r.ticks, key)
	r.mu.Unlock()
	if ok && r.Stats != nil {
		r.Stats.Forget(key.Namespace, key.Name, s.target)
	}
}

// tickState is what one tick records.
type tickState struct {
	cd     *flaggerv1.Canary
	events []engine.Event
}

func (t *tickState) warn(err error) {
	t.events = append(t.events, engine.Event{Warning: true, Message: err.Error(), Phase: t.cd.Status.Phase})
}

// tick is one analysis tick of the Canary in sess.
func (r *Reconciler) tick(ctx context.Context, sess *kit.Session[*flaggerv1.Canary]) (reconcile.Result, error) {
	cd, start := sess.Obj, r.Clock.Now()
	t := &tickState{cd: cd}
	var plan engine.Plan
	defer func() {
		for _, e := range t.events {
			sess.Events.Add(e.Warning, reasonSynced, "%s", e.Message)
		}
		sent, took := cd.DeepCopy(), r.Clock.Since(start)
		sess.AfterEmit = func() { r.announce(ctx, sent, t.events, plan, took) }
	}()
	if cd.Suspended() {
		t.events = append(t.events, engine.Event{Message: "skipping canary run as object is suspended", Phase: cd.Status.Phase})
		return reconcile.Result{}, nil
	}
	w, router, err := r.prepare(ctx, cd)
	if err != nil {
		var stop errStop
		if errors.As(err, &stop) {
			t.warn(stop.err)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	routes := r.routes(ctx, cd, router, t)
	if routes == nil {
		return reconcile.Result{}, nil
	}
	plan = engine.Decide(cd, r.observe(cd, w, *routes), &oracle{ctx: ctx, r: r, cd: cd.DeepCopy()})
	if err := r.apply(ctx, cd, w, router, plan.Actions); err != nil {
		// what the plan announced did not happen: only the error is told
		t.warn(err)
		plan = engine.Plan{}
		return reconcile.Result{}, nil
	}
	if plan.Status != nil {
		// the router keeps the session affinity cookies on the Canary it was given
		plan.Status.SessionAffinityCookie = cd.Status.SessionAffinityCookie
		plan.Status.PreviousSessionAffinityCookie = cd.Status.PreviousSessionAffinityCookie
		cd.Status = *plan.Status
	}
	t.events = append(t.events, plan.Events...)
	return reconcile.Result{}, nil
}

// errStop is an error that ends the tick with a Warning event and no retry before the next tick.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }

func stop(err error) error { return errStop{err} }
