package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis"
	"github.com/vanedev/vane/internal/strategy"
)

// +kubebuilder:rbac:groups=argoproj.io,resources=experiments,verbs=get;list;watch;create;patch;delete

// loadExperiments lists the Experiments the rollout controls, from the cache; the one
// status.canary.currentExperiment names is read from the API server when the cache does not
// have it yet (a reconcile just created it).
func (r *Reconciler) loadExperiments(ctx context.Context, ro *v1alpha1.Rollout) (*expSet, error) {
	var list v1alpha1.ExperimentList
	es, err := listOwned(ctx, r.Client, ro, &list, func() []*v1alpha1.Experiment {
		out := make([]*v1alpha1.Experiment, len(list.Items))
		for i := range list.Items {
			out[i] = &list.Items[i]
		}
		return out
	}, "Experiments")
	if err != nil {
		return nil, err
	}
	if name := ro.Status.Canary.CurrentExperiment; name != "" && es.byName[name] == nil {
		ex := &v1alpha1.Experiment{}
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: name}, ex)
		switch {
		case err == nil:
			es.add(ro, ex)
		case !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("reading Experiment %s: %w", name, err)
		}
	}
	return es, nil
}

// engineExperiment is what the engine learns of the Experiment the status st names.
func engineExperiment(es *expSet, st *v1alpha1.RolloutStatus) *strategy.Experiment {
	ex := es.byName[st.Canary.CurrentExperiment]
	if st.Canary.CurrentExperiment == "" || ex == nil {
		return nil
	}
	return &strategy.Experiment{Name: ex.Name, Phase: ex.Status.Phase, Message: ex.Status.Message,
		Templates: ex.Status.TemplateStatuses}
}

// syncExperiments makes the rollout's Experiments match the plan, once the engine's status is
// in ro.Status (Argo's reconcileExperiments): the step's Experiment the status names is kept,
// or else created and named there; every other Experiment still running is terminated
// (cancelExperiments), and those beyond the analysis history limits deleted
// (FilterExperimentsToDelete).
func (r *Reconciler) syncExperiments(ctx context.Context, s *syncState, want strategy.ExperimentPlan) error {
	st := &s.ro.Status
	keep := ""
	if idx := want.Step; idx != nil {
		if ex := s.exps.byName[st.Canary.CurrentExperiment]; st.Canary.CurrentExperiment != "" && ex != nil {
			keep = ex.Name
		} else {
			ex, err := r.startExperiment(ctx, s, *idx)
			if err != nil {
				return err
			}
			keep, st.Canary.CurrentExperiment = ex.Name, ex.Name
		}
	}
	var others []*v1alpha1.Experiment
	for _, ex := range s.exps.owned {
		if ex.Name == keep {
			continue
		}
		others = append(others, ex)
		if err := r.terminateExperiment(ctx, ex); err != nil {
			return err
		}
	}
	return r.pruneExperiments(ctx, s.ro, s.sets, others)
}

// startExperiment creates the Experiment of experiment step idx (see buildExperiment), named
// as Argo names it: <rollout>-<hash>-<revision>-<step index>, with -1, -2 ... when the name is
// taken; a running Experiment of the rollout with the same spec is taken over (Argo's
// createExperimentWithCollisionHandling). The event ExperimentCreated goes out at once.
func (r *Reconciler) startExperiment(ctx context.Context, s *syncState, idx int32) (*v1alpha1.Experiment, error) {
	ro := s.ro
	var stable *appsv1.ReplicaSet
	for _, rs := range s.sets {
		if hashOf(rs) == ro.Status.StableRS {
			stable = rs
		}
	}
	if stable == nil {
		return nil, fmt.Errorf("experiment step %d: no stable ReplicaSet %q", idx, ro.Status.StableRS)
	}
	want, err := r.buildExperiment(ro, ro.Spec.Strategy.Canary.Steps[idx].Experiment, idx, stable, s.newRS)
	if err != nil {
		return nil, fmt.Errorf("experiment step %d: %w", idx, err) // checkExperiments found nothing wrong a moment ago
	}
	for i := 0; i < 100; i++ {
		ex := want.DeepCopy()
		if i > 0 {
			ex.Name = fmt.Sprintf("%s-%d", want.Name, i)
		}
		err := r.Client.Create(ctx, ex)
		if err == nil {
			r.Recorder.Eventf(ro, corev1.EventTypeNormal, "ExperimentCreated", "Created Experiment '%s'", ex.Name)
			return ex, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating Experiment %s: %w", ex.Name, err)
		}
		existing := &v1alpha1.Experiment{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: ex.Name}, existing); err != nil {
			return nil, fmt.Errorf("reading Experiment %s: %w", ex.Name, err)
		}
		// one a reconcile created but could not record (its status write lost to a concurrent
		// change) is taken over while it runs
		if metav1.IsControlledBy(existing, ro) && !existing.Status.Phase.Completed() && sameExperimentSpec(existing.Spec, want.Spec) {
			return existing, nil
		}
	}
	return nil, fmt.Errorf("creating an Experiment named %s: 100 names taken", want.Name)
}

// sameExperimentSpec is Argo's IsSemanticallyEqual: the specs' JSON, terminate aside.
func sameExperimentSpec(a, b v1alpha1.ExperimentSpec) bool {
	a.Terminate, b.Terminate = false, false
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// terminateExperiment asks the Experiment controller to end an Experiment the rollout no longer
// waits for while it runs (spec.terminate, as Argo's cancelExperiments).
func (r *Reconciler) terminateExperiment(ctx context.Context, ex *v1alpha1.Experiment) error {
	if ex.Spec.Terminate || ex.Status.Phase.Completed() {
		return nil
	}
	patch := client.MergeFrom(ex.DeepCopy())
	ex.Spec.Terminate = true
	if err := r.Client.Patch(ctx, ex, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("terminating Experiment %s: %w", ex.Name, err)
	}
	return nil
}

// pruneExperiments deletes what Argo's FilterExperimentsToDelete picks among the rollout's
// other Experiments: those without a pod-template hash, or whose ReplicaSet is gone or being
// deleted, and, newest first, the Successful ones beyond spec.analysis.successfulRunHistoryLimit
// and the Failed, Error or Inconclusive ones beyond unsuccessfulRunHistoryLimit (5 each by
// default). Running ones are kept.
func (r *Reconciler) pruneExperiments(ctx context.Context, ro *v1alpha1.Rollout, sets []*appsv1.ReplicaSet, others []*v1alpha1.Experiment) error {
	deleting := map[string]bool{} // by hash: whether the ReplicaSet is being deleted
	for _, rs := range sets {
		if h, ok := rs.Labels[v1alpha1.PodTemplateHashLabel]; ok {
			deleting[h] = rs.DeletionTimestamp != nil
		}
	}
	sort.SliceStable(others, func(i, j int) bool {
		return others[j].CreationTimestamp.Before(&others[i].CreationTimestamp) // newest first
	})
	okLimit, badLimit := ro.Spec.EffectiveSuccessfulRunHistoryLimit(), ro.Spec.EffectiveUnsuccessfulRunHistoryLimit()
	var ok, bad int32
	for _, ex := range others {
		h, labelled := ex.Labels[v1alpha1.PodTemplateHashLabel]
		gone, known := deleting[h]
		drop := !labelled || !known || gone
		switch ph := ex.Status.Phase; {
		case drop:
		case ph == v1alpha1.AnalysisPhaseSuccessful:
			drop, ok = ok >= okLimit, ok+1
		case ph == v1alpha1.AnalysisPhaseFailed, ph == v1alpha1.AnalysisPhaseError, ph == v1alpha1.AnalysisPhaseInconclusive:
			drop, bad = bad >= badLimit, bad+1
		}
		if !drop || ex.DeletionTimestamp != nil {
			continue
		}
		if err := r.Client.Delete(ctx, ex); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting Experiment %s (history limit): %w", ex.Name, err)
		}
	}
	return nil
}

// buildExperiment builds (without creating) the Experiment of an experiment step as Argo's
// GetExperimentFromTemplate does: named <rollout>-<hash>-<revision>-<step index>, labelled with
// the rollout's labels, its new pod-template hash (and the controller's instance id),
// annotated with the revision, controlled by the rollout; duration, dryRun,
// analysisRunMetadata and scaleDownDelaySeconds from the step, progressDeadlineSeconds from
// the rollout; a template per step template (see experimentTemplate), an analysis per step
// analysis with the rollout's arguments (see experimentArgs).
func (r *Reconciler) buildExperiment(ro *v1alpha1.Rollout, step *v1alpha1.RolloutExperimentStep, idx int32,
	stable, newRS *appsv1.ReplicaSet) (*v1alpha1.Experiment, error) {
	hash, revision := hashOf(newRS), ro.Annotations[v1alpha1.RevisionAnnotation]
	labels := maps.Clone(ro.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[v1alpha1.PodTemplateHashLabel] = hash
	if r.InstanceID != "" {
		labels[v1alpha1.InstanceIDLabel] = r.InstanceID
	}
	ex := &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%s-%s-%d", ro.Name, hash, revision, idx), Namespace: ro.Namespace,
			Labels: labels, Annotations: map[string]string{v1alpha1.RevisionAnnotation: revision},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))}},
		Spec: v1alpha1.ExperimentSpec{Duration: step.Duration.DeepCopy(), ProgressDeadlineSeconds: ro.Spec.ProgressDeadlineSeconds,
			DryRun: step.DryRun, AnalysisRunMetadata: *step.AnalysisRunMetadata.DeepCopy(), ScaleDownDelaySeconds: step.ScaleDownDelaySeconds},
	}
	for _, t := range step.Templates {
		rs := newRS
		if t.SpecRef == v1alpha1.StableSpecRef {
			rs = stable
		}
		ex.Spec.Templates = append(ex.Spec.Templates, experimentTemplate(t, rs))
	}
	for _, a := range step.Analyses {
		args, err := experimentArgs(ro, a.Args, hashOf(stable), hash)
		if err != nil {
			return nil, fmt.Errorf("analysis %s: %w", a.Name, err)
		}
		ex.Spec.Analyses = append(ex.Spec.Analyses, v1alpha1.ExperimentAnalysisTemplateRef{Name: a.Name, TemplateName: a.TemplateName,
			ClusterScope: a.ClusterScope, Args: args, RequiredForCompletion: a.RequiredForCompletion})
	}
	return ex, nil
}

// experimentTemplate is an Experiment template of a step template: the pod template,
// minReadySeconds and selector (unless the step gives one) of the ReplicaSet its specRef names,
// the step's metadata labels added to the pod template and the selector, its annotations to
// the pod template, and a Service when the step template has a weight or asks for one.
func experimentTemplate(t v1alpha1.RolloutExperimentTemplate, rs *appsv1.ReplicaSet) v1alpha1.TemplateSpec {
	ts := v1alpha1.TemplateSpec{Name: t.Name, Replicas: t.Replicas, Template: *rs.Spec.Template.DeepCopy(),
		MinReadySeconds: rs.Spec.MinReadySeconds, Selector: rs.Spec.Selector.DeepCopy()}
	if t.Selector != nil {
		ts.Selector = t.Selector.DeepCopy()
	}
	if t.Weight != nil || t.Service != nil {
		ts.Service = &v1alpha1.TemplateService{}
		if t.Service != nil {
			ts.Service.Name = t.Service.Name
		}
	}
	if len(t.Metadata.Labels) > 0 {
		if ts.Template.Labels == nil {
			ts.Template.Labels = map[string]string{}
		}
		if ts.Selector == nil {
			ts.Selector = &metav1.LabelSelector{}
		}
		if ts.Selector.MatchLabels == nil {
			ts.Selector.MatchLabels = map[string]string{}
		}
		maps.Copy(ts.Template.Labels, t.Metadata.Labels)
		maps.Copy(ts.Selector.MatchLabels, t.Metadata.Labels)
	}
	if len(t.Metadata.Annotations) > 0 {
		if ts.Template.Annotations == nil {
			ts.Template.Annotations = map[string]string{}
		}
		maps.Copy(ts.Template.Annotations, t.Metadata.Annotations)
	}
	return ts
}

// experimentArgs gives an experiment analysis's arguments their values as Argo's
// BuildArgumentsForRolloutAnalysisRun does: a value as it is (placeholders of the Experiment's
// templates are the Experiment controller's), the stable or the new pod-template hash, or a
// field of the rollout, read now.
func experimentArgs(ro *v1alpha1.Rollout, args []v1alpha1.AnalysisRunArgument, stableHash, newHash string) ([]v1alpha1.Argument, error) {
	out := make([]v1alpha1.Argument, 0, len(args))
	for _, a := range args {
		v := a.Value
		switch {
		case a.ValueFrom == nil:
		case a.ValueFrom.PodTemplateHashValue != nil:
			v = stableHash
			if *a.ValueFrom.PodTemplateHashValue == v1alpha1.Latest {
				v = newHash
			}
		case a.ValueFrom.FieldRef != nil:
			var err error
			if v, err = analysis.FieldValue(ro, a.ValueFrom.FieldRef.FieldPath); err != nil {
				return nil, fmt.Errorf("argument %q: %w", a.Name, err)
			}
		}
		out = append(out, v1alpha1.Argument{Name: a.Name, Value: &v})
	}
	return out, nil
}

// checkExperiments builds (without creating) every experiment step's Experiment and, for each
// of its analyses, the AnalysisRun its templates give (placeholders of the Experiment's
// templates left as they are), so that a missing analysis template, an argument without a
// value or a field that does not exist is InvalidSpec with the step's field path before
// anything changes.
func (r *Reconciler) checkExperiments(ctx context.Context, ro *v1alpha1.Rollout) error {
	for i, step := range ro.Spec.Strategy.Canary.Steps {
		if step.Experiment == nil {
			continue
		}
		for j, a := range step.Experiment.Analyses {
			path := fmt.Sprintf("spec.strategy.canary.steps[%d].experiment.analyses[%d]", i, j)
			args, err := experimentArgs(ro, a.Args, ro.Status.StableRS, ro.Status.CurrentPodHash)
			if err != nil {
				return errInvalid{msg: fmt.Sprintf("%s.args: %v", path, err)}
			}
			refs := []v1alpha1.AnalysisTemplateRef{{TemplateName: a.TemplateName, ClusterScope: a.ClusterScope}}
			_, err = analysis.BuildRun(ctx, r.Client, refs, analysis.RunOptions{Namespace: ro.Namespace, Args: args})
			var status apierrors.APIStatus
			switch {
			case err == nil:
			case apierrors.IsNotFound(err):
				return errInvalid{msg: fmt.Sprintf("%s.templateName: %v", path, err)}
			case errors.As(err, &status):
				return err // the API server failed us: try again
			default:
				return errInvalid{msg: fmt.Sprintf("%s: %v", path, err)}
			}
		}
	}
	return nil
}

// prepareExperiments checks the experiment steps (InvalidSpec, and nothing changes, when an
// Experiment could not be built; templates are not watched through them, so it looks again in
// a while) and loads the rollout's Experiments into s.exps. When it returns done, the
// reconcile ends with res and err.
func (r *Reconciler) prepareExperiments(ctx context.Context, s *syncState) (done bool, res reconcile.Result, err error) {
	if err := r.checkExperiments(ctx, s.ro); err != nil {
		return s.stopOnCheck(err)
	}
	if s.exps, err = r.loadExperiments(ctx, s.ro); err != nil {
		return true, reconcile.Result{}, err
	}
	return false, reconcile.Result{}, nil
}
