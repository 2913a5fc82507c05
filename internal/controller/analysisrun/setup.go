package analysisrun

import (
	batchv1 "k8s.io/api/batch/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/plugin"
	kit "github.com/vanedev/vane/internal/reconcile"
)

// Option configures a Reconciler: WithClock (tests use a fake clock), WithInstanceID (it
// serves only the AnalysisRuns labelled with the id), WithProvider or WithPlugins.
type Option = kit.Option[*Reconciler]

// WithClock and WithInstanceID are the reconcile kit's options.
var WithClock, WithInstanceID = kit.WithClock[*Reconciler], kit.WithInstanceID[*Reconciler]

// WithProvider replaces the provider of a kind of metric ("web", "prometheus", "datadog", ...),
// e.g. with a stand-in in tests.
func WithProvider(name string, p provider.Provider) Option {
	return func(r *Reconciler) {
		if r.Providers == nil {
			r.Providers = map[string]provider.Provider{}
		}
		r.Providers[name] = p
	}
}

// WithPlugins sets the Manager that runs the metric provider plugins.
func WithPlugins(m *plugin.Manager) Option {
	return func(r *Reconciler) { r.Plugins = m }
}

// Setup registers an AnalysisRun reconciler with mgr, running workers reconciles at once. Its
// metric plugins are those of plugin.ForManager(mgr), loaded when mgr starts, unless a
// WithPlugins option gives another Manager.
func Setup(mgr ctrl.Manager, workers int, opts ...Option) error {
	if kit.Configure(&Reconciler{}, opts...).Plugins == nil {
		pm, err := plugin.ForManager(mgr)
		if err != nil {
			return err
		}
		opts = append([]Option{WithPlugins(pm)}, opts...)
	}
	r := New(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetEventRecorderFor("rollouts-controller"), opts...)
	// the reconciler schedules itself (RequeueAfter): its own status writes need no new look,
	// only changes of spec (terminate), labels, annotations and of the Jobs it runs do
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.AnalysisRun{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{},
			predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&batchv1.Job{})
	return kit.Complete(b, "analysisrun", workers, r)
}
