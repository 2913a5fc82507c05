package rollout

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/vanedev/vane/api/v1alpha1"
	kit "github.com/vanedev/vane/internal/reconcile"
)

// Option configures a Reconciler: WithClock (tests use a fake clock), WithInstanceID (it
// serves only the Rollouts labelled with the id).
type Option = kit.Option[*Reconciler]

// WithClock and WithInstanceID are the reconcile kit's options.
var WithClock, WithInstanceID = kit.WithClock[*Reconciler], kit.WithInstanceID[*Reconciler]

// Setup registers a Rollout reconciler with mgr, running workers reconciles at once. Its step
// plugins are those of plugin.ForManager(mgr), loaded when mgr starts, unless a WithPlugins
// option gives another Manager.
func Setup(mgr ctrl.Manager, workers int, opts ...Option) error {
	// the routers' client reads from the API server: no informer on router kinds
	tc, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		HTTPClient: mgr.GetHTTPClient()})
	if err != nil {
		return fmt.Errorf("creating the traffic routers' client: %w", err)
	}
	dyn, err := dynamic.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return fmt.Errorf("creating the router objects' watch client: %w", err)
	}
	w := newRouterWatch(dyn, mgr.GetRESTMapper())
	if err := mgr.Add(w); err != nil {
		return fmt.Errorf("adding the router objects' watch: %w", err)
	}
	r := kit.Configure(&Reconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		TrafficClient: tc,
		Recorder:      mgr.GetEventRecorderFor("rollouts-controller"),
		watch:         w,
	}, opts...)
	if err := r.defaultPlugins(mgr); err != nil {
		return err
	}
	err = mgr.GetFieldIndexer().IndexField(context.Background(), &appsv1.ReplicaSet{}, rsOwnerIndex, indexRSOwner)
	if err != nil {
		return fmt.Errorf("indexing ReplicaSets by rollout: %w", err)
	}
	err = mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Service{}, managedServiceIndex, indexManagedService)
	if err != nil {
		return fmt.Errorf("indexing Services by managing rollout: %w", err)
	}
	err = mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.Rollout{}, workloadIndex, indexWorkload)
	if err != nil {
		return fmt.Errorf("indexing rollouts by workload: %w", err)
	}
	err = mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.Rollout{}, serviceIndex, indexServices)
	if err != nil {
		return fmt.Errorf("indexing rollouts by Service: %w", err)
	}
	err = mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.Rollout{}, templateIndex, indexTemplates)
	if err != nil {
		return fmt.Errorf("indexing rollouts by analysis template: %w", err)
	}
	err = mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.AnalysisRun{}, ownerIndex, indexOwner)
	if err != nil {
		return fmt.Errorf("indexing AnalysisRuns by rollout: %w", err)
	}
	err = mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.Experiment{}, ownerIndex, indexOwner)
	if err != nil {
		return fmt.Errorf("indexing Experiments by rollout: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Rollout{}, builder.WithPredicates(predicate.Funcs{CreateFunc: r.announceAdded, DeleteFunc: r.unwatch})).
		Owns(&appsv1.ReplicaSet{}).
		// a run's verdict moves the rollout on
		Owns(&v1alpha1.AnalysisRun{}).
		// so does an Experiment's phase
		Owns(&v1alpha1.Experiment{}, builder.WithPredicates(predicate.Funcs{UpdateFunc: experimentPhaseChanged})).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.referencing("Deployment"))).
		Watches(&corev1.PodTemplate{}, handler.EnqueueRequestsFromMapFunc(r.referencing("PodTemplate"))).
		// a Service created after its Rollout (or edited by someone) is looked at again
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.namingService)).
		// a template created after its Rollout (or fixed) is looked at again
		Watches(&v1alpha1.AnalysisTemplate{}, handler.EnqueueRequestsFromMapFunc(r.usingTemplate("AnalysisTemplate"))).
		Watches(&v1alpha1.ClusterAnalysisTemplate{}, handler.EnqueueRequestsFromMapFunc(r.usingTemplate("ClusterAnalysisTemplate"))).
		// a router object someone changes or deletes is put back at once (watch.go)
		WatchesRawSource(source.Channel(w.events, &handler.EnqueueRequestForObject{}))
	return kit.Complete(b, "rollout", workers, r)
}

// workloadIndex indexes Rollouts by the workload they reference, as "Kind/name".
const workloadIndex = "spec.workloadRef"

func indexWorkload(o client.Object) []string {
	ro, ok := o.(*v1alpha1.Rollout)
	if !ok || ro.Spec.WorkloadRef == nil {
		return nil
	}
	return []string{ro.Spec.WorkloadRef.Kind + "/" + ro.Spec.WorkloadRef.Name}
}

// referencing maps a workload to the Rollouts in its namespace that reference it.
func (r *Reconciler) referencing(kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		return r.rolloutsMatching(ctx, client.InNamespace(o.GetNamespace()), client.MatchingFields{workloadIndex: kind + "/" + o.GetName()})
	}
}

// rolloutsMatching lists the Rollouts opts select (through an index) as requests; a failed
// list maps to none.
func (r *Reconciler) rolloutsMatching(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	var list v1alpha1.RolloutList
	if err := r.Client.List(ctx, &list, opts...); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, ro := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&ro)})
	}
	return reqs
}

// serviceIndex indexes Rollouts by the Services their strategy names.
const serviceIndex = "spec.strategy.services"

func indexServices(o client.Object) []string {
	ro, ok := o.(*v1alpha1.Rollout)
	if !ok {
		return nil
	}
	var out []string
	for _, n := range namedServices(ro) {
		out = append(out, n.name)
	}
	return out
}

// namingService maps a Service to the Rollouts in its namespace that name it.
func (r *Reconciler) namingService(ctx context.Context, o client.Object) []reconcile.Request {
	return r.rolloutsMatching(ctx, client.InNamespace(o.GetNamespace()), client.MatchingFields{serviceIndex: o.GetName()})
}

// templateIndex indexes Rollouts by the analysis templates they name directly (their experiment
// steps' included), as
// "AnalysisTemplate/name" or "ClusterAnalysisTemplate/name".
const templateIndex = "spec.strategy.analysisTemplates"

func indexTemplates(o client.Object) []string {
	ro, ok := o.(*v1alpha1.Rollout)
	if !ok {
		return nil
	}
	var refs []v1alpha1.AnalysisTemplateRef
	for _, ref := range analysisRefs(ro) {
		refs = append(refs, ref.spec.Templates...)
	}
	if c := ro.Spec.Strategy.Canary; c != nil {
		for _, step := range c.Steps {
			for _, a := range experimentAnalyses(step) {
				refs = append(refs, v1alpha1.AnalysisTemplateRef{TemplateName: a.TemplateName, ClusterScope: a.ClusterScope})
			}
		}
	}
	var out []string
	for _, t := range refs {
		kind := "AnalysisTemplate"
		if t.IsClusterScope() {
			kind = "ClusterAnalysisTemplate"
		}
		out = append(out, kind+"/"+t.TemplateName)
	}
	return out
}

// experimentAnalyses are the analyses of an experiment step (none for another step).
func experimentAnalyses(step v1alpha1.CanaryStep) []v1alpha1.RolloutExperimentStepAnalysisTemplateRef {
	if step.Experiment == nil {
		return nil
	}
	return step.Experiment.Analyses
}

// experimentPhaseChanged passes an Experiment update that changes its phase: what the rollout
// waits for (its end, and Running for the traffic router's destinations).
func experimentPhaseChanged(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*v1alpha1.Experiment)
	n, ok2 := e.ObjectNew.(*v1alpha1.Experiment)
	return !ok1 || !ok2 || o.Status.Phase != n.Status.Phase
}

// usingTemplate maps an analysis template to the Rollouts that name it (in its namespace, or
// anywhere for a ClusterAnalysisTemplate). Templates a template includes are not followed.
func (r *Reconciler) usingTemplate(kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		opts := []client.ListOption{client.MatchingFields{templateIndex: kind + "/" + o.GetName()}}
		if o.GetNamespace() != "" {
			opts = append(opts, client.InNamespace(o.GetNamespace()))
		}
		return r.rolloutsMatching(ctx, opts...)
	}
}

// announceAdded records Argo's RolloutAddedToInformer event for a Rollout the controller starts
// to watch: a new one, and every existing one when the controller starts; with shards, only the
// replica that holds the Rollout's shard at that moment does. It filters nothing.
func (r *Reconciler) announceAdded(e event.CreateEvent) bool {
	if ro, ok := e.Object.(*v1alpha1.Rollout); ok && ro.Labels[v1alpha1.InstanceIDLabel] == r.InstanceID && r.Mine(ro.Namespace, ro.Name) {
		r.Recorder.Eventf(ro, corev1.EventTypeNormal, "RolloutAddedToInformer", "Rollout resource added to informer: %s/%s",
			ro.Namespace, ro.Name)
	}
	return true
}

// unwatch stops watching the router objects of a deleted Rollout. It filters nothing.
func (r *Reconciler) unwatch(e event.DeleteEvent) bool {
	r.watch.track(client.ObjectKeyFromObject(e.Object), nil)
	return true
}
