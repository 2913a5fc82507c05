// Package rollout reconciles Rollouts: it owns their ReplicaSets, drives the canary and
// blue/green engines (internal/strategy), points the canary and stable (or active and preview)
// Services at the right pods and reports status, conditions and events the way Argo Rollouts
// does.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	client "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/plugin"
	kit "github.com/vanedev/vane/internal/reconcile"
	"github.com/vanedev/vane/internal/traffic"
)

// Reconciler reconciles Rollouts.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API.
	Client client.Client
	// APIReader reads from the API directly, for the few reads a stale cache would get wrong.
	APIReader client.Reader
	// TrafficClient reads and writes the traffic routers' objects (HTTPRoutes, Ingresses,
	// VirtualServices, TrafficSplits) directly, without a cache: a cached client would start
	// cluster-wide informers on kinds the controller only touches for the rollouts that name
	// them. Its scheme knows the Gateway API (traffic.AddToScheme).
	TrafficClient client.Client
	// Recorder emits events.
	Recorder record.EventRecorder
	// ALB configures the ALB router's target group verification.
	ALB ALBOptions
	// Plugins runs the step and traffic router plugins of the argo-rollouts-config ConfigMap
	// (canary plugin steps, trafficRouting.plugins); nil: a Rollout with a plugin step is
	// InvalidSpec (strategy.UnsupportedSteps), and so is one naming a router plugin other than
	// the built-in Gateway API one.
	Plugins *plugin.Manager
	// trafficOptions are passed to traffic.New (WithTrafficOptions)
	trafficOptions []traffic.Option
	// watch follows the router objects the rollouts' routers read (nil: none are watched)
	watch *routerWatch
	// Settings are the clock and the controller instance (it serves only the Rollouts
	// labelled with it).
	kit.Settings
}

// +kubebuilder:rbac:groups=argoproj.io,resources=rollouts,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=argoproj.io,resources=rollouts/status,verbs=get;patch
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=podtemplates,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;patch
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one Rollout a step closer to its desired state. Status is written once, at
// the end, with an optimistic lock (internal/reconcile): a concurrent change (a user's promote)
// makes it retry; events go out once the status they announce is stored.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	return kit.Run(ctx, r.Client, r.Recorder, &r.Settings, req, &v1alpha1.Rollout{}, rolloutStatus, r.reconcileRollout)
}

// rolloutStatus is the part of a Rollout a reconcile writes.
func rolloutStatus(ro *v1alpha1.Rollout) any { return ro.Status }

// reconcileRollout is one reconcile of the Rollout in the session sess.
func (r *Reconciler) reconcileRollout(ctx context.Context, sess *kit.Session[*v1alpha1.Rollout]) (reconcile.Result, error) {
	ro := sess.Obj
	// observed only when the whole status was computed for this generation (a reconcile cut
	// short by an error writes nothing, so Argo CD never sees a half-made status)
	sess.BeforePatch = func() { ro.Status.ObservedGeneration = fmt.Sprint(ro.Generation) }
	s := &syncState{ro: ro, orig: sess.Orig, now: r.Clock.Now(), origStatus: *sess.Orig.Status.DeepCopy(), events: &sess.Events}
	if errs := v1alpha1.ValidateRollout(ro); len(errs) > 0 {
		s.invalid(validationMessage(errs))
		return reconcile.Result{}, nil
	}
	if err := r.resolveWorkload(ctx, s); err != nil {
		var werr errWorkload
		if errors.As(err, &werr) {
			s.invalid(werr.Error())
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	s.valid()
	if s.origStatus.ObservedGeneration != fmt.Sprint(ro.Generation) {
		// said once per spec: the fields Vane stores but does not act on are never silent
		for _, w := range v1alpha1.RolloutWarnings(ro) {
			s.event(true, reasonNotActedOn, "%s", w)
		}
	}
	if ro.Spec.Strategy.BlueGreen != nil {
		return r.syncBlueGreen(ctx, s)
	}
	return r.syncCanary(ctx, s)
}

// syncState is what one reconcile learns and decides about a rollout.
type syncState struct {
	ro  *v1alpha1.Rollout
	now time.Time
	// orig is the rollout the deferred status patch is computed from (its resourceVersion the
	// optimistic lock's)
	orig *v1alpha1.Rollout
	// origStatus is the status as read, before this reconcile changed anything
	origStatus v1alpha1.RolloutStatus
	template   *corev1.PodTemplateSpec // the rollout's, or its workload's
	selector   *metav1.LabelSelector   // the rollout's, or its workload's
	workload   client.Object           // the Deployment spec.workloadRef names, if it does
	newRS      *appsv1.ReplicaSet
	sets       []*appsv1.ReplicaSet
	created    bool
	// fastRollback: the template went back to a revision inside spec.rollbackWindow
	fastRollback bool
	// runs are the AnalysisRuns the rollout controls
	runs *runSet
	// exps are the Experiments the rollout controls (canary)
	exps *expSet
	// serviceHashes are the pod-template hashes the strategy's Services select, as read
	serviceHashes []string
	// abortDetail is what the abort message adds when the engine found that a failed run or
	// Experiment aborted the update (canary; see strategy.Plan.AbortDetail)
	abortDetail string
	// events are emitted once the status is stored (internal/reconcile)
	events *kit.Events
}

func (s *syncState) event(warning bool, reason, format string, args ...any) {
	s.events.Add(warning, reason, format, args...)
}

// hasEvent reports whether this reconcile has an event with the reason already.
func (s *syncState) hasEvent(reason string) bool { return s.events.Has(reason) }
