package rollout

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Option configures a Reconciler.
type Option func(*Reconciler)

// WithClock sets the reconciler's clock (tests use a fake one).
func WithClock(c clock.PassiveClock) Option { return func(r *Reconciler) { r.Clock = c } }

// WithInstanceID limits the reconciler to Rollouts labelled with id.
func WithInstanceID(id string) Option { return func(r *Reconciler) { r.InstanceID = id } }

// Setup registers a Rollout reconciler with mgr, running workers reconciles at once.
func Setup(mgr ctrl.Manager, workers int, opts ...Option) error {
	r := &Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorderFor("rollouts-controller"),
		Clock:     clock.RealClock{},
	}
	for _, o := range opts {
		o(r)
	}
	err := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Rollout{}).
		Owns(&appsv1.ReplicaSet{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(workers, 1)}).
		Named("rollout").
		Complete(r)
	if err != nil {
		return fmt.Errorf("setting up the rollout controller: %w", err)
	}
	return nil
}
