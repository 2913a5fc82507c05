package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"sort"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis"
	"github.com/vanedev/vane/internal/strategy"
)

// +kubebuilder:rbac:groups=argoproj.io,resources=analysisruns,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=argoproj.io,resources=analysistemplates;clusteranalysistemplates,verbs=get;list;watch

// Labels on the AnalysisRuns a Rollout starts, as Argo Rollouts puts them (with
// rollouts-pod-template-hash and the revision annotation).
const (
	rolloutTypeLabel = "rollout-type"
	stepIndexLabel   = "step-index"

	// startedFromAnnotation (Vane's) is a digest of the Rollout's status as the reconcile that
	// created the run read it: a later reconcile that reads the same status knows the run as
	// its own, even finished, when the status write that should have recorded it was lost
	startedFromAnnotation = "vane.dev/started-from-status"

	runBackground    = "Background"
	runStep          = "Step"
	runPrePromotion  = "PrePromotion"
	runPostPromotion = "PostPromotion"
)

// ownerIndex indexes AnalysisRuns by the name of the Rollout that controls them.
const ownerIndex = "metadata.ownerRollout"

func indexOwner(o client.Object) []string {
	if ref := metav1.GetControllerOf(o); ref != nil && ref.Kind == "Rollout" && ref.APIVersion == v1alpha1.GroupVersion.String() {
		return []string{ref.Name}
	}
	return nil
}

// loadRuns lists the AnalysisRuns the rollout controls.
func (r *Reconciler) loadRuns(ctx context.Context, ro *v1alpha1.Rollout) (*runSet, error) {
	var list v1alpha1.AnalysisRunList
	return listOwned(ctx, r.Client, ro, &list, func() []*v1alpha1.AnalysisRun {
		out := make([]*v1alpha1.AnalysisRun, len(list.Items))
		for i := range list.Items {
			out[i] = &list.Items[i]
		}
		return out
	}, "AnalysisRuns")
}

// engineRuns is what the engine learns of the runs the status records in st.
func engineRuns(rs *runSet, st *v1alpha1.RolloutStatus) strategy.Runs {
	find := func(rec *v1alpha1.RolloutAnalysisRunStatus) (*strategy.Run, *v1alpha1.AnalysisRun) {
		if rec == nil || rs.byName[rec.Name] == nil {
			return nil, nil
		}
		run := rs.byName[rec.Name]
		return &strategy.Run{Name: run.Name, Phase: run.Status.Phase, Message: run.Status.Message}, run
	}
	var out strategy.Runs
	out.Background, _ = find(st.Canary.CurrentBackgroundAnalysisRunStatus)
	var stepRun *v1alpha1.AnalysisRun
	if out.Step, stepRun = find(st.Canary.CurrentStepAnalysisRunStatus); stepRun != nil {
		idx, err := strconv.ParseInt(stepRun.Labels[stepIndexLabel], 10, 32)
		if err != nil {
			out.Step = nil // not one of ours: start the step's own
		}
		out.StepIndex = int32(idx)
	}
	out.PrePromotion, _ = find(st.BlueGreen.PrePromotionAnalysisRunStatus)
	out.PostPromotion, _ = find(st.BlueGreen.PostPromotionAnalysisRunStatus)
	return out
}

// wantedRun is a run the plan needs: its kind, the spec it is made from and its status record.
type wantedRun struct {
	kind   string
	step   int32
	spec   *v1alpha1.RolloutAnalysis
	record **v1alpha1.RolloutAnalysisRunStatus
	// restart: the recorded run must be replaced by a new one
	restart bool
}

// wantedRuns lists the runs the plan needs, pointing at their records in st.
func wantedRuns(ro *v1alpha1.Rollout, st *v1alpha1.RolloutStatus, want strategy.AnalysisPlan) []wantedRun {
	var out []wantedRun
	if c := ro.Spec.Strategy.Canary; c != nil {
		if want.Background && c.Analysis != nil {
			out = append(out, wantedRun{kind: runBackground, spec: &c.Analysis.RolloutAnalysis,
				record: &st.Canary.CurrentBackgroundAnalysisRunStatus, restart: want.RestartBackground})
		}
		if i := want.Step; i != nil && int(*i) < len(c.Steps) && c.Steps[*i].Analysis != nil {
			out = append(out, wantedRun{kind: runStep, step: *i, spec: c.Steps[*i].Analysis,
				record: &st.Canary.CurrentStepAnalysisRunStatus})
		}
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		if want.PrePromotion && bg.PrePromotionAnalysis != nil {
			out = append(out, wantedRun{kind: runPrePromotion, spec: bg.PrePromotionAnalysis, record: &st.BlueGreen.PrePromotionAnalysisRunStatus})
		}
		if want.PostPromotion && bg.PostPromotionAnalysis != nil {
			out = append(out, wantedRun{kind: runPostPromotion, spec: bg.PostPromotionAnalysis, record: &st.BlueGreen.PostPromotionAnalysisRunStatus})
		}
	}
	return out
}

// syncAnalysis makes the rollout's AnalysisRuns match the plan, once the engine's status is in
// ro.Status: it starts each wanted run the status does not record yet (and records it),
// terminates every other run of the rollout still running, brings the records up to date and
// deletes finished runs beyond spec.analysis's history limits.
func (r *Reconciler) syncAnalysis(ctx context.Context, s *syncState, want strategy.AnalysisPlan) error {
	ro, st, rs := s.ro, &s.ro.Status, s.runs
	keep := map[string]bool{}
	for _, w := range wantedRuns(ro, st, want) {
		if rec := *w.record; rec != nil {
			if run := rs.byName[rec.Name]; run != nil && (w.kind != runStep || run.Labels[stepIndexLabel] == fmt.Sprint(w.step)) {
				if !w.restart {
					keep[run.Name] = true
					continue
				}
				if err := r.retireRun(ctx, run); err != nil {
					return err
				}
			}
		}
		run, err := r.startRun(ctx, s, w)
		if err != nil {
			return err
		}
		rs.byName[run.Name] = run
		keep[run.Name] = true
		*w.record = &v1alpha1.RolloutAnalysisRunStatus{Name: run.Name}
	}
	for _, run := range rs.owned {
		if keep[run.Name] {
			continue
		}
		if err := r.retireRun(ctx, run); err != nil {
			return err
		}
	}
	for _, rec := range runRecords(st) {
		if rec == nil {
			continue
		}
		if run := rs.byName[rec.Name]; run != nil {
			rec.Status, rec.Message = run.Status.Phase, run.Status.Message // "" until the run started, as in Argo
		}
	}
	return r.pruneRuns(ctx, ro, rs)
}

// startRun creates the AnalysisRun w asks for, named as Argo names them:
// <rollout>-<hash>-<revision>, with -<step index> for a step, -pre or -post for blue/green.
// A name taken by an earlier run (a retry, a restarted background analysis) gets a .1, .2 ...
// suffix; a run an earlier reconcile of this update started is carried on with (ownRun).
func (r *Reconciler) startRun(ctx context.Context, s *syncState, w wantedRun) (*v1alpha1.AnalysisRun, error) {
	ro, newHash := s.ro, hashOf(s.newRS)
	revision := s.newRS.Annotations[v1alpha1.RevisionAnnotation]
	base := fmt.Sprintf("%s-%s-%s", ro.Name, newHash, revision)
	// the rollout's selector labels first, as Argo's runs carry them
	labels := map[string]string{}
	if s.selector != nil {
		maps.Copy(labels, s.selector.MatchLabels)
	}
	labels[v1alpha1.PodTemplateHashLabel], labels[rolloutTypeLabel] = newHash, w.kind
	switch w.kind {
	case runStep:
		base += fmt.Sprintf("-%d", w.step)
		labels[stepIndexLabel] = fmt.Sprint(w.step)
	case runPrePromotion:
		base += "-pre"
	case runPostPromotion:
		base += "-post"
	}
	if r.InstanceID != "" {
		labels[v1alpha1.InstanceIDLabel] = r.InstanceID
	}
	run, err := r.buildRun(ctx, ro, w.spec, newHash)
	if err != nil {
		return nil, err // checkAnalysis found nothing wrong a moment ago: the templates changed since
	}
	// the spec's analysisRunMetadata first: the labels the controller relies on win
	run.Labels, run.Annotations = map[string]string{}, map[string]string{}
	if md := w.spec.AnalysisRunMetadata; md != nil {
		maps.Copy(run.Labels, md.Labels)
		maps.Copy(run.Annotations, md.Annotations)
	}
	maps.Copy(run.Labels, labels)
	run.Annotations[v1alpha1.RevisionAnnotation] = revision
	run.Annotations[startedFromAnnotation] = statusDigest(&s.origStatus)
	run.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))}
	for i := 0; i < 100; i++ {
		run.Name = base
		if i > 0 {
			run.Name = fmt.Sprintf("%s.%d", base, i)
		}
		err := r.Client.Create(ctx, run)
		if err == nil {
			return run, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating AnalysisRun %s: %w", run.Name, err)
		}
		existing := &v1alpha1.AnalysisRun{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: run.Name}, existing); err != nil {
			return nil, fmt.Errorf("reading AnalysisRun %s: %w", run.Name, err)
		}
		if ownRun(existing, s, w, labels) {
			return existing, nil
		}
	}
	return nil, fmt.Errorf("creating an AnalysisRun named %s: 100 names taken", base)
}

// ownRun: existing, a run of the name startRun wanted, is the one w asks for (of the same
// kind, hash and step, not terminated), started by an earlier reconcile of this update whose
// status write did not record it, or not yet in the cache: it is carried on with. That is a
// run still running (Argo's CreateWithCollisionCounter), one the status read records (not for
// a restart), or one started from the very status this reconcile read (the write recording
// it was lost: a controller killed, a conflict with a write of the Rollout's metadata). A run
// of an earlier try (before a retry, a restarted background analysis: the status has moved on
// since) is none of those and gets a successor named .1, .2 ...
func ownRun(existing *v1alpha1.AnalysisRun, s *syncState, w wantedRun, labels map[string]string) bool {
	same := metav1.IsControlledBy(existing, s.ro) && !existing.Spec.Terminate &&
		existing.Labels[rolloutTypeLabel] == w.kind && existing.Labels[v1alpha1.PodTemplateHashLabel] == labels[v1alpha1.PodTemplateHashLabel] &&
		existing.Labels[stepIndexLabel] == labels[stepIndexLabel]
	switch {
	case !same:
		return false
	case !existing.Status.Phase.Completed():
		return true
	case recordedRun(&s.origStatus, w.kind) == existing.Name:
		return !w.restart
	}
	d := existing.Annotations[startedFromAnnotation]
	return d != "" && d == statusDigest(&s.origStatus)
}

// statusDigest is a short digest of st (FNV-1a of its JSON).
func statusDigest(st *v1alpha1.RolloutStatus) string {
	b, err := json.Marshal(st)
	if err != nil {
		return "" // a status always encodes; "" is no run's
	}
	h := fnv.New64a()
	h.Write(b)
	return strconv.FormatUint(h.Sum64(), 16)
}

// recordedRun is the name of the run of kind that st records ("" for none).
func recordedRun(st *v1alpha1.RolloutStatus, kind string) string {
	var rec *v1alpha1.RolloutAnalysisRunStatus
	switch kind {
	case runStep:
		rec = st.Canary.CurrentStepAnalysisRunStatus
	case runBackground:
		rec = st.Canary.CurrentBackgroundAnalysisRunStatus
	case runPrePromotion:
		rec = st.BlueGreen.PrePromotionAnalysisRunStatus
	case runPostPromotion:
		rec = st.BlueGreen.PostPromotionAnalysisRunStatus
	}
	if rec == nil {
		return ""
	}
	return rec.Name
}

// buildRun builds (without creating) the AnalysisRun of spec: its templates' metrics, the
// rollout's arguments (a value; the Stable or Latest pod-template hash; a field of the
// rollout), dryRun and measurementRetention.
func (r *Reconciler) buildRun(ctx context.Context, ro *v1alpha1.Rollout, spec *v1alpha1.RolloutAnalysis, newHash string) (*v1alpha1.AnalysisRun, error) {
	args := make([]v1alpha1.Argument, 0, len(spec.Args))
	for _, a := range spec.Args {
		arg := v1alpha1.Argument{Name: a.Name}
		switch {
		case a.ValueFrom == nil:
			arg.Value = &a.Value
		case a.ValueFrom.PodTemplateHashValue != nil:
			v := ro.Status.StableRS
			if *a.ValueFrom.PodTemplateHashValue == v1alpha1.Latest {
				v = newHash
			}
			arg.Value = &v
		case a.ValueFrom.FieldRef != nil:
			arg.ValueFrom = &v1alpha1.ValueFrom{FieldRef: a.ValueFrom.FieldRef.DeepCopy()}
		}
		args = append(args, arg)
	}
	return analysis.BuildRun(ctx, r.Client, spec.Templates, analysis.RunOptions{Namespace: ro.Namespace, Args: args,
		DryRun: spec.DryRun, MeasurementRetention: spec.MeasurementRetention, FieldRefObject: ro})
}

// checkAnalysis builds (without creating) every AnalysisRun the rollout's spec can start, so
// that a missing template, an argument without a value or a metric the templates define twice
// is reported as InvalidSpec before anything changes, not half way through an update.
func (r *Reconciler) checkAnalysis(ctx context.Context, ro *v1alpha1.Rollout, newHash string) error {
	for _, x := range analysisRefs(ro) {
		if _, err := r.buildRun(ctx, ro, x.spec, newHash); err != nil {
			var status apierrors.APIStatus
			if errors.As(err, &status) && !apierrors.IsNotFound(err) {
				return err // the API server failed us: try again
			}
			return errInvalid{msg: fmt.Sprintf("%s: %v", x.path, err)}
		}
	}
	return nil
}

// analysisRef is one analysis of a Rollout's spec, with its field path.
type analysisRef struct {
	path string
	spec *v1alpha1.RolloutAnalysis
}

// analysisRefs lists every analysis the Rollout's spec names: background, steps, pre- and
// post-promotion.
func analysisRefs(ro *v1alpha1.Rollout) []analysisRef {
	var refs []analysisRef
	if c := ro.Spec.Strategy.Canary; c != nil {
		if c.Analysis != nil {
			refs = append(refs, analysisRef{"spec.strategy.canary.analysis", &c.Analysis.RolloutAnalysis})
		}
		for i, step := range c.Steps {
			if step.Analysis != nil {
				refs = append(refs, analysisRef{fmt.Sprintf("spec.strategy.canary.steps[%d].analysis", i), step.Analysis})
			}
		}
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		if bg.PrePromotionAnalysis != nil {
			refs = append(refs, analysisRef{"spec.strategy.blueGreen.prePromotionAnalysis", bg.PrePromotionAnalysis})
		}
		if bg.PostPromotionAnalysis != nil {
			refs = append(refs, analysisRef{"spec.strategy.blueGreen.postPromotionAnalysis", bg.PostPromotionAnalysis})
		}
	}
	return refs
}

// runRecords are the status's records of the update's runs (nil entries included).
func runRecords(st *v1alpha1.RolloutStatus) []*v1alpha1.RolloutAnalysisRunStatus {
	return []*v1alpha1.RolloutAnalysisRunStatus{st.Canary.CurrentBackgroundAnalysisRunStatus,
		st.Canary.CurrentStepAnalysisRunStatus, st.BlueGreen.PrePromotionAnalysisRunStatus, st.BlueGreen.PostPromotionAnalysisRunStatus}
}

// retireRun asks the AnalysisRun controller to stop a run the rollout no longer waits for
// while it runs (it ends Successful unless a metric already failed), as Argo's
// cancelAnalysisRuns does.
func (r *Reconciler) retireRun(ctx context.Context, run *v1alpha1.AnalysisRun) error {
	if run.Spec.Terminate || run.Status.Phase.Completed() {
		return nil
	}
	patch := client.MergeFrom(run.DeepCopy())
	run.Spec.Terminate = true
	if err := r.Client.Patch(ctx, run, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("terminating AnalysisRun %s: %w", run.Name, err)
	}
	return nil
}

// pruneRuns deletes the rollout's oldest finished AnalysisRuns beyond
// spec.analysis.successfulRunHistoryLimit and unsuccessfulRunHistoryLimit (5 each by default);
// runs the status records are kept.
func (r *Reconciler) pruneRuns(ctx context.Context, ro *v1alpha1.Rollout, rs *runSet) error {
	recorded := map[string]bool{}
	for _, rec := range runRecords(&ro.Status) {
		if rec != nil {
			recorded[rec.Name] = true
		}
	}
	var ok, bad []*v1alpha1.AnalysisRun
	for _, run := range rs.owned {
		switch {
		case recorded[run.Name] || !run.Status.Phase.Completed():
		case run.Status.Phase == v1alpha1.AnalysisPhaseSuccessful:
			ok = append(ok, run)
		default:
			bad = append(bad, run)
		}
	}
	okLimit, badLimit := ro.Spec.EffectiveSuccessfulRunHistoryLimit(), ro.Spec.EffectiveUnsuccessfulRunHistoryLimit()
	for _, x := range []struct {
		runs  []*v1alpha1.AnalysisRun
		limit int32
	}{{ok, okLimit}, {bad, badLimit}} {
		sort.Slice(x.runs, func(i, j int) bool {
			return x.runs[j].CreationTimestamp.Before(&x.runs[i].CreationTimestamp) // newest first
		})
		for i := int(max(x.limit, 0)); i < len(x.runs); i++ {
			if err := r.Client.Delete(ctx, x.runs[i]); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting AnalysisRun %s (history limit): %w", x.runs[i].Name, err)
			}
		}
	}
	return nil
}

// prepareAnalysis checks the analysis the spec refers to (InvalidSpec, and nothing changes,
// when a template is missing or an argument has no value) and loads the rollout's runs into
// s.runs. When it returns done, the reconcile ends with res and err.
func (r *Reconciler) prepareAnalysis(ctx context.Context, s *syncState) (done bool, res reconcile.Result, err error) {
	if err := r.checkAnalysis(ctx, s.ro, s.ro.Status.CurrentPodHash); err != nil {
		return s.stopOnCheck(err)
	}
	if s.runs, err = r.loadRuns(ctx, s.ro); err != nil {
		return true, reconcile.Result{}, err
	}
	return false, reconcile.Result{}, nil
}

// stopOnCheck ends the reconcile on the error of a check of what the spec names: an errInvalid
// makes the rollout InvalidSpec before anything changes, and it is looked at again in a while
// (a template is not always watched through the rollout); any other error is retried.
func (s *syncState) stopOnCheck(err error) (bool, reconcile.Result, error) {
	var inv errInvalid
	if errors.As(err, &inv) {
		s.invalid(inv.Error())
		return true, reconcile.Result{RequeueAfter: serviceRecheck}, nil
	}
	return true, reconcile.Result{}, err
}
