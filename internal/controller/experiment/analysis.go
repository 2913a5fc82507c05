package experiment

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis"
)

// Placeholders an analysis argument's value may use, as Argo names them (utils/template).
const (
	placeholderHash        = "templates.%s.podTemplateHash"
	placeholderReplicaSet  = "templates.%s.replicaset.name"
	placeholderAvailableAt = "experiment.availableAt"
	placeholderFinishedAt  = "experiment.finishedAt"
)

// placeholderValues are the values of the placeholders: each template's pod-template hash and
// ReplicaSet name (of the ReplicaSets in sets), and, once the experiment is available, when it
// became so and when its duration ends (RFC3339).
func placeholderValues(ex *v1alpha1.Experiment, sets map[string]*appsv1.ReplicaSet, availableAt *metav1.Time) map[string]string {
	values := map[string]string{}
	if availableAt != nil {
		values[placeholderAvailableAt] = availableAt.UTC().Format(time.RFC3339)
		if d, ok := duration(ex); ok {
			values[placeholderFinishedAt] = availableAt.Add(d).UTC().Format(time.RFC3339)
		}
	}
	for _, t := range ex.Spec.Templates {
		if rs := sets[t.Name]; rs != nil {
			values[fmt.Sprintf(placeholderHash, t.Name)] = rs.Labels[v1alpha1.PodTemplateHashLabel]
			values[fmt.Sprintf(placeholderReplicaSet, t.Name)] = rs.Name
		}
	}
	return values
}

// resolvePlaceholders replaces each {{name}} of s by its value (spaces around the name do not
// matter). An unknown name is replaced by nothing and is an error, as in Argo.
func resolvePlaceholders(s string, values map[string]string) (string, error) {
	var b strings.Builder
	var unresolved error
	rest := s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			b.WriteString(rest)
			return b.String(), unresolved
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			return "", fmt.Errorf("cannot find end tag=%q in the template=%q starting from %q", "}}", s, rest[i+2:])
		}
		tag := rest[i+2 : i+2+j]
		b.WriteString(rest[:i])
		if v, ok := values[strings.TrimSpace(tag)]; ok {
			b.WriteString(v)
		} else {
			unresolved = fmt.Errorf("failed to resolve {{%s}}", tag)
		}
		rest = rest[i+2+j+2:]
	}
}

// resolveArgs gives the analysis's arguments their values: placeholders resolved in values,
// valueFrom kept as a reference (a Secret is read when measuring; a fieldRef reads the
// experiment).
func resolveArgs(args []v1alpha1.Argument, values map[string]string) ([]v1alpha1.Argument, error) {
	out := make([]v1alpha1.Argument, 0, len(args))
	for _, a := range args {
		arg := *a.DeepCopy()
		if a.Value != nil {
			v, err := resolvePlaceholders(*a.Value, values)
			if err != nil {
				return nil, err
			}
			arg.Value = &v
		}
		out = append(out, arg)
	}
	return out, nil
}

// buildRun builds (without creating) the analysis's AnalysisRun with internal/analysis:
// named <experiment>-<analysis>, labelled with the experiment's instance id (if any), then
// analysisRunMetadata, with the experiment's dryRun and measurementRetention, controlled by the
// experiment.
func (r *Reconciler) buildRun(ctx context.Context, ex *v1alpha1.Experiment, a *v1alpha1.ExperimentAnalysisTemplateRef,
	values map[string]string) (*v1alpha1.AnalysisRun, error) {
	args, err := resolveArgs(a.Args, values)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	if id := ex.Labels[v1alpha1.InstanceIDLabel]; id != "" {
		labels[v1alpha1.InstanceIDLabel] = id
	}
	maps.Copy(labels, ex.Spec.AnalysisRunMetadata.Labels)
	refs := []v1alpha1.AnalysisTemplateRef{{TemplateName: a.TemplateName, ClusterScope: a.ClusterScope}}
	return analysis.BuildRun(ctx, r.Client, refs, analysis.RunOptions{
		Name: ex.Name + "-" + a.Name, Namespace: ex.Namespace,
		Labels: labels, Annotations: maps.Clone(ex.Spec.AnalysisRunMetadata.Annotations),
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ex, experimentKind)},
		Args:            args, DryRun: ex.Spec.DryRun, MeasurementRetention: ex.Spec.MeasurementRetention,
		FieldRefObject: ex,
	})
}

// checkAnalyses builds every analysis's run before the experiment is available (as Argo
// verifies their templates then), with the ReplicaSets the templates will have: a missing
// template, an argument without a value or a placeholder that does not resolve ends the
// experiment in Error, the analysis and the field path in the message, before anything is
// created. It reports whether it stopped the experiment.
func (r *Reconciler) checkAnalyses(ctx context.Context, s *syncState) (bool, error) {
	sets := map[string]*appsv1.ReplicaSet{}
	for i := range s.ex.Spec.Templates {
		t := &s.ex.Spec.Templates[i]
		var collisions *int32
		if ts := findTemplateStatus(s.read.Status.TemplateStatuses, t.Name); ts != nil {
			collisions = ts.CollisionCount
		}
		sets[t.Name] = newReplicaSet(s.ex, t, collisions)
	}
	values := placeholderValues(s.ex, sets, &metav1.Time{Time: s.now})
	var problems []string
	failed := map[string]string{}
	for i := range s.ex.Spec.Analyses {
		a := &s.ex.Spec.Analyses[i]
		_, err := r.buildRun(ctx, s.ex, a, values)
		switch {
		case err == nil:
			continue
		case apierrors.IsNotFound(err):
			kind := "AnalysisTemplate"
			if a.IsClusterScope() {
				kind = "ClusterAnalysisTemplate"
			}
			failed[a.Name] = sprintf(fmtVerifyFailed, kind, a.Name, err)
			problems = append(problems, analysisPath(i, "templateName")+": "+failed[a.Name])
		case errors.As(specError(err), new(errSpec)):
			failed[a.Name] = sprintf(fmtCreateRunFailed, a.Name, err)
			problems = append(problems, analysisPath(i, "")+": "+failed[a.Name])
		default:
			return false, fmt.Errorf("analysis %s: %w", a.Name, err)
		}
	}
	if len(problems) == 0 {
		return false, nil
	}
	for _, a := range s.ex.Spec.Analyses {
		rs := v1alpha1.ExperimentAnalysisRunStatus{Name: a.Name}
		if prev := findRunStatus(s.read.Status.AnalysisRuns, a.Name); prev != nil {
			rs = *prev
		}
		if msg, ok := failed[a.Name]; ok {
			rs.Phase, rs.Message = v1alpha1.AnalysisPhaseError, msg
		}
		s.recordRun(a.Name, rs)
	}
	s.stop(strings.Join(problems, "; "))
	return true, nil
}

// analysisPath is the field path of the i-th analysis (or of one of its fields).
func analysisPath(i int, child string) string {
	p := fmt.Sprintf("spec.analyses[%d]", i)
	if child != "" {
		p += "." + child
	}
	return p
}

// recordRun sets an analysis's status and announces a new phase (AnalysisRun<Phase>, "AnalysisRun
// 'x' transitioned from A -> B: message"); an empty phase is not announced.
func (s *syncState) recordRun(name string, rs v1alpha1.ExperimentAnalysisRunStatus) {
	var from v1alpha1.AnalysisPhase
	if prev := findRunStatus(s.read.Status.AnalysisRuns, name); prev != nil {
		from = prev.Phase
	}
	if rs.Phase != from && rs.Phase != "" {
		msg := sprintf(fmtRunTransition, name, from, rs.Phase)
		if rs.Message != "" {
			msg += ": " + rs.Message
		}
		s.event(warningPhase(rs.Phase), "AnalysisRun"+string(rs.Phase), "%s", msg)
	}
	setRunStatus(&s.ex.Status, rs)
}

// syncAnalysis reconciles one analysis (Argo's reconcileAnalysisRun): nothing before the
// experiment is available; then its run is started (unless the experiment is ending) and
// followed until it completes; an ending experiment terminates it and follows it to its end.
func (r *Reconciler) syncAnalysis(ctx context.Context, s *syncState, a *v1alpha1.ExperimentAnalysisTemplateRef) error {
	rs := v1alpha1.ExperimentAnalysisRunStatus{Name: a.Name}
	if prev := findRunStatus(s.read.Status.AnalysisRuns, a.Name); prev != nil {
		rs = *prev
	} else if s.read.Status.Phase.Completed() {
		return nil // an experiment that ended before this analysis was looked at
	}
	switch {
	case s.read.Status.AvailableAt == nil:
	case rs.AnalysisRun == "":
		if s.ending {
			break
		}
		run, err := r.startRun(ctx, s, a)
		var spec errSpec
		switch {
		case errors.As(err, &spec):
			rs.Phase, rs.Message = v1alpha1.AnalysisPhaseError, sprintf(fmtCreateRunFailed, a.Name, spec.err)
		case err != nil:
			return err
		default:
			rs.Phase, rs.AnalysisRun = v1alpha1.AnalysisPhasePending, run.Name
		}
	case rs.Phase.Completed():
	default:
		run, err := r.getRun(ctx, s.ex.Namespace, rs.AnalysisRun)
		switch {
		case apierrors.IsNotFound(err):
			rs.Phase, rs.Message = v1alpha1.AnalysisPhaseError, err.Error()
		case err != nil:
			return err
		default:
			if s.ending {
				if err := r.terminateRun(ctx, s.ex, a.Name, run); err != nil {
					return err
				}
			}
			// followed until it ends, also once the experiment is ending (Argo stops following
			// it then, and its experiment can stay Running for good)
			rs.Phase, rs.Message = run.Status.Phase, run.Status.Message
		}
	}
	s.recordRun(a.Name, rs)
	return nil
}

// startRun creates the analysis's AnalysisRun, named <experiment>-<analysis>; when the name is
// taken by a run that is not the same, or that finished (an earlier attempt, before a retry),
// it tries <name>.1, <name>.2 ... as Argo does. A running run of the experiment with the same
// spec is taken over (a reconcile created it and lost its status write). A template that
// cannot be used is an errSpec.
func (r *Reconciler) startRun(ctx context.Context, s *syncState, a *v1alpha1.ExperimentAnalysisTemplateRef) (*v1alpha1.AnalysisRun, error) {
	values := placeholderValues(s.ex, s.sets, s.read.Status.AvailableAt)
	run, err := r.buildRun(ctx, s.ex, a, values)
	if err != nil {
		return nil, specError(err)
	}
	base := run.Name
	for i := 0; i < 100; i++ {
		if i > 0 {
			run.Name = fmt.Sprintf("%s.%d", base, i)
		}
		err := r.Client.Create(ctx, run)
		if err == nil {
			log.FromContext(ctx).Info("created AnalysisRun", "analysisRun", run.Name, "analysis", a.Name)
			return run, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating AnalysisRun %s: %w", run.Name, specError(err))
		}
		existing := &v1alpha1.AnalysisRun{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(run), existing); err != nil {
			return nil, fmt.Errorf("reading AnalysisRun %s: %w", run.Name, err)
		}
		// a run a reconcile created and could not record is taken over while it runs; a
		// finished one (of an earlier attempt: a retry) is not, as Argo's CreateWithCollisionCounter
		if metav1.IsControlledBy(existing, s.ex) && !existing.Status.Phase.Completed() && sameRunSpec(&existing.Spec, &run.Spec) {
			return existing, nil
		}
	}
	return nil, fmt.Errorf("creating an AnalysisRun named %s: 100 names taken", base)
}

// sameRunSpec compares what Argo compares of two runs: metrics, args, dryRun and
// measurementRetention.
func sameRunSpec(a, b *v1alpha1.AnalysisRunSpec) bool {
	return equality.Semantic.DeepEqual(a.Metrics, b.Metrics) && equality.Semantic.DeepEqual(a.Args, b.Args) &&
		equality.Semantic.DeepEqual(a.DryRun, b.DryRun) && equality.Semantic.DeepEqual(a.MeasurementRetention, b.MeasurementRetention)
}

// getRun reads a run from the cache, or from the API when the cache has not seen it yet.
func (r *Reconciler) getRun(ctx context.Context, namespace, name string) (*v1alpha1.AnalysisRun, error) {
	run := &v1alpha1.AnalysisRun{}
	key := client.ObjectKey{Namespace: namespace, Name: name}
	err := r.Client.Get(ctx, key, run)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, key, run)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading AnalysisRun %s: %w", name, err)
	}
	return run, err
}

// terminateRun asks the AnalysisRun controller to stop a run still going (spec.terminate), and
// announces it: AnalysisRunTerminating, "Terminating <analysis> (<run>)".
func (r *Reconciler) terminateRun(ctx context.Context, ex *v1alpha1.Experiment, name string, run *v1alpha1.AnalysisRun) error {
	if run.Status.Phase.Completed() || run.Spec.Terminate {
		return nil
	}
	patch := client.MergeFrom(run.DeepCopy())
	run.Spec.Terminate = true
	if err := r.Client.Patch(ctx, run, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("terminating AnalysisRun %s: %w", run.Name, err)
	}
	r.Recorder.Eventf(ex, corev1.EventTypeNormal, reasonRunTerminating, fmtTerminating, name, run.Name)
	return nil
}
