package analysisrun

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
)

// Option configures a Reconciler.
type Option func(*Reconciler)

// WithClock sets the reconciler's clock (tests use a fake one).
func WithClock(c clock.PassiveClock) Option { return func(r *Reconciler) { r.Clock = c } }

// WithInstanceID limits the reconciler to AnalysisRuns labelled with id.
func WithInstanceID(id string) Option { return func(r *Reconciler) { r.InstanceID = id } }

// WithProvider replaces the provider of a kind of metric ("web", "prometheus", "job"), e.g.
// with a stand-in in tests.
func WithProvider(name string, p provider.Provider) Option {
	return func(r *Reconciler) {
		if r.Providers == nil {
			r.Providers = map[string]provider.Provider{}
		}
		r.Providers[name] = p
	}
}

// Setup registers an AnalysisRun reconciler with mgr, running workers reconciles at once.
func Setup(mgr ctrl.Manager, workers int, opts ...Option) error {
	r := New(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetEventRecorderFor("rollouts-controller"), opts...)
	// the reconciler schedules itself (RequeueAfter): its own status writes need no new look,
	// only changes of spec (terminate), labels, annotations and of the Jobs it runs do
	err := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.AnalysisRun{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{},
			predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&batchv1.Job{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(workers, 1)}).
		Named("analysisrun").
		Complete(r)
	if err != nil {
		return fmt.Errorf("setting up the analysisrun controller: %w", err)
	}
	return nil
}
