package experiment

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/vanedev/vane/api/v1alpha1"
	kit "github.com/vanedev/vane/internal/reconcile"
)

// Option configures a Reconciler: WithClock (tests use a fake clock) or WithInstanceID (it
// serves only the Experiments labelled with the id).
type Option = kit.Option[*Reconciler]

// WithClock and WithInstanceID are the reconcile kit's options.
var WithClock, WithInstanceID = kit.WithClock[*Reconciler], kit.WithInstanceID[*Reconciler]

// Setup registers an Experiment reconciler with mgr, running workers reconciles at once. An
// experiment is looked at again when it changes (its status included), when one of its
// ReplicaSets is created, deleted or changes its replica counts, and when one of its runs
// completes, as Argo's controller watches them; timed changes (duration, progress deadline,
// scale-down deadline) are scheduled by the reconciler.
func Setup(mgr ctrl.Manager, workers int, opts ...Option) error {
	r := New(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetEventRecorderFor("rollouts-controller"), opts...)
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Experiment{}).
		Owns(&appsv1.ReplicaSet{}, builder.WithPredicates(predicate.Funcs{UpdateFunc: countsUpdated})).
		Owns(&v1alpha1.AnalysisRun{}, builder.WithPredicates(predicate.NewPredicateFuncs(runCompleted)))
	return kit.Complete(b, "experiment", workers, r)
}

// countsUpdated passes a ReplicaSet update that changes its replicas or its pod counts.
func countsUpdated(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*appsv1.ReplicaSet)
	n, ok2 := e.ObjectNew.(*appsv1.ReplicaSet)
	if !ok1 || !ok2 {
		return true
	}
	return ptr.Deref(o.Spec.Replicas, 1) != ptr.Deref(n.Spec.Replicas, 1) || o.Status.Replicas != n.Status.Replicas ||
		o.Status.ReadyReplicas != n.Status.ReadyReplicas || o.Status.AvailableReplicas != n.Status.AvailableReplicas
}

// runCompleted passes an AnalysisRun that completed.
func runCompleted(o client.Object) bool {
	run, ok := o.(*v1alpha1.AnalysisRun)
	return !ok || run.Status.Phase.Completed()
}
