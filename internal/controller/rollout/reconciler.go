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
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	client "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
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
	// Clock is the time source of every decision.
	Clock clock.PassiveClock
	// InstanceID limits the reconciler to Rollouts labelled with it (empty: unlabelled ones).
	InstanceID string
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
// the end, with an optimistic lock: a concurrent change (a user's promote) makes it retry.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (res reconcile.Result, err error) {
	ro := &v1alpha1.Rollout{}
	if err := r.Client.Get(ctx, req.NamespacedName, ro); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if ro.DeletionTimestamp != nil || ro.Labels[v1alpha1.InstanceIDLabel] != r.InstanceID {
		return reconcile.Result{}, nil
	}
	orig := ro.DeepCopy()
	s := &syncState{ro: ro, orig: orig, now: r.Clock.Now(), origStatus: *orig.Status.DeepCopy()}
	defer func() {
		switch {
		case apierrors.IsConflict(err):
			// a ReplicaSet or Service moved under us: look again with fresh state
			res, err = reconcile.Result{Requeue: true}, nil
		case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
			return // the namespace and the rollout are going away
		}
		if perr := r.patchStatus(ctx, orig, ro); perr != nil {
			if apierrors.IsConflict(perr) {
				res, err = reconcile.Result{Requeue: true}, nil
				return
			}
			err = errors.Join(err, perr)
			return
		}
		// events only once the state they announce is stored: a retried reconcile repeats none
		r.record(ro, s.events)
	}()
	if errs := v1alpha1.ValidateRollout(ro); len(errs) > 0 {
		s.invalid(errs.ToAggregate().Error())
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
	runs   *runSet
	events []event
}

type event struct {
	warning         bool
	reason, message string
}

func (s *syncState) event(warning bool, reason, format string, args ...any) {
	s.events = append(s.events, event{warning: warning, reason: reason, message: fmt.Sprintf(format, args...)})
}

// hasEvent reports whether this reconcile has an event with the reason already.
func (s *syncState) hasEvent(reason string) bool {
	for _, e := range s.events {
		if e.reason == reason {
			return true
		}
	}
	return false
}

// patchStatus writes the status when it changed (most reconciles of a moving rollout change
// nothing but the ReplicaSets), with an optimistic lock.
func (r *Reconciler) patchStatus(ctx context.Context, orig, ro *v1alpha1.Rollout) error {
	ro.Status.ObservedGeneration = fmt.Sprint(ro.Generation)
	if equality.Semantic.DeepEqual(orig.Status, ro.Status) {
		return nil
	}
	patch := client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})
	if err := r.Client.Status().Patch(ctx, ro, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("updating rollout status: %w", err)
	}
	log.FromContext(ctx).V(1).Info("status", "phase", ro.Status.Phase, "message", ro.Status.Message,
		"step", ro.Status.CurrentStepIndex)
	return nil
}

func (r *Reconciler) record(ro *v1alpha1.Rollout, events []event) {
	for _, e := range events {
		kind := corev1.EventTypeNormal
		if e.warning {
			kind = corev1.EventTypeWarning
		}
		r.Recorder.Event(ro, kind, e.reason, e.message)
	}
}
