// Package experiment reconciles Experiments the way Argo Rollouts does: a ReplicaSet per
// template (and a Service when the template asks for one), the phase Pending until every
// ReplicaSet is available, then Running with an AnalysisRun per analysis (which the AnalysisRun
// controller runs) until the duration passes, the runs required for completion succeed, a run
// fails or errors, or the Experiment is terminated. An Experiment that ends scales its
// ReplicaSets to zero after scaleDownDelaySeconds and terminates the runs still going.
// Everything the controller needs to go on is in the cluster (the status, the ReplicaSets and
// their annotations): a restarted controller continues where the last one stopped.
package experiment

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
	kit "github.com/vanedev/vane/internal/reconcile"
)

// Reconciler reconciles Experiments.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API.
	Client client.Client
	// APIReader reads from the API directly, where a stale cache would mislead (a name taken
	// when creating, a run the cache has not seen yet).
	APIReader client.Reader
	// Recorder emits events.
	Recorder record.EventRecorder
	// Settings are the clock and the controller instance (it serves only the Experiments
	// labelled with it).
	kit.Settings
}

// New returns a Reconciler (on the real clock unless an option says otherwise).
func New(c client.Client, apiReader client.Reader, rec record.EventRecorder, opts ...Option) *Reconciler {
	return kit.Configure(&Reconciler{Client: c, APIReader: apiReader, Recorder: rec}, opts...)
}

// +kubebuilder:rbac:groups=argoproj.io,resources=experiments,verbs=get;list;watch
// +kubebuilder:rbac:groups=argoproj.io,resources=experiments/status,verbs=get;patch
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=argoproj.io,resources=analysisruns,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=argoproj.io,resources=analysistemplates;clusteranalysistemplates,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile moves one Experiment on. Status is written once, at the end, with an optimistic
// lock (internal/reconcile); events that announce it go out once it is stored.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	return kit.Run(ctx, r.Client, r.Recorder, &r.Settings, req, &v1alpha1.Experiment{}, experimentStatus, r.reconcileExperiment)
}

// experimentStatus is the part of an Experiment a reconcile writes.
func experimentStatus(ex *v1alpha1.Experiment) any { return ex.Status }

// reconcileExperiment is one reconcile of the Experiment in the session sess.
func (r *Reconciler) reconcileExperiment(ctx context.Context, sess *kit.Session[*v1alpha1.Experiment]) (reconcile.Result, error) {
	s := &syncState{ex: sess.Obj, read: sess.Orig, now: r.Clock.Now(), events: &sess.Events}
	s.ending = terminating(s.read)
	if err := r.sync(ctx, s); err != nil {
		return reconcile.Result{}, err
	}
	return s.result(), nil
}

// syncState is what one reconcile learns and decides about an experiment.
type syncState struct {
	// ex is the experiment the reconcile changes: its status becomes the new one
	ex *v1alpha1.Experiment
	// read is the experiment as read, never changed: Argo takes its decisions on it
	read *v1alpha1.Experiment
	now  time.Time
	// ending: the experiment as read is terminating (see terminating)
	ending bool
	// sets and services are the experiment's ReplicaSets and Services, by template name
	sets     map[string]*appsv1.ReplicaSet
	services map[string]*corev1.Service
	// events are emitted once the status is stored (internal/reconcile)
	events *kit.Events
	// next is the earliest time something is due (zero: nothing)
	next time.Time
}

func (s *syncState) event(warning bool, reason, format string, args ...any) {
	s.events.Add(warning, reason, format, args...)
}

// wakeAt asks for a reconcile at t (the earliest asked for wins).
func (s *syncState) wakeAt(t time.Time) {
	if !t.IsZero() && (s.next.IsZero() || t.Before(s.next)) {
		s.next = t
	}
}

func (s *syncState) result() reconcile.Result {
	if s.next.IsZero() {
		return reconcile.Result{}
	}
	// a little late rather than early: stored times are whole seconds
	return reconcile.Result{RequeueAfter: max(s.next.Sub(s.now), 0) + 10*time.Millisecond}
}

// sync reconciles the experiment: checks it, then its templates, then its analyses, then its
// phase, in Argo's order.
func (r *Reconciler) sync(ctx context.Context, s *syncState) error {
	if !s.read.Status.Phase.Completed() {
		if errs := validate(s.ex); len(errs) > 0 {
			msg := errorsMessage(errs)
			setInvalid(&s.ex.Status, msg, s.now)
			s.stop(msg)
			return nil
		}
		removeCondition(&s.ex.Status, v1alpha1.InvalidExperimentSpec)
		if s.read.Status.AvailableAt == nil {
			stopped, err := r.checkAnalyses(ctx, s)
			if err != nil || stopped {
				return err
			}
		}
	}
	if err := r.load(ctx, s); err != nil {
		return err
	}
	for i := range s.ex.Spec.Templates {
		if err := r.syncTemplate(ctx, s, &s.ex.Spec.Templates[i]); err != nil {
			return err
		}
	}
	for i := range s.ex.Spec.Analyses {
		if err := r.syncAnalysis(ctx, s, &s.ex.Spec.Analyses[i]); err != nil {
			return err
		}
	}
	s.assess()
	s.wakeAt(wakeTime(s.ex, s.ex.Status, s.now))
	return nil
}

// stop ends an experiment that cannot go on (an invalid spec, an analysis that cannot start)
// in the Error phase with msg, before anything is created for it.
func (s *syncState) stop(msg string) {
	st := &s.ex.Status
	st.Phase, st.Message = v1alpha1.AnalysisPhaseError, msg
	s.announcePhase()
}

// assess computes the experiment's phase and message from its templates and runs, marks when
// it became available, and updates its conditions (Argo's calculateStatus).
func (s *syncState) assess() {
	st := &s.ex.Status
	switch st.Phase {
	case "":
		st.Phase = v1alpha1.AnalysisPhasePending
	case v1alpha1.AnalysisPhasePending, v1alpha1.AnalysisPhaseRunning:
		var v verdict
		v.templates, v.templatesMsg = assessTemplates(s.ex.Spec.Templates, st.TemplateStatuses)
		v.runs, v.runsMsg = assessAnalyses(s.ex.Spec.Analyses, st.AnalysisRuns)
		if v.templates == v1alpha1.AnalysisPhaseRunning && st.AvailableAt == nil {
			st.AvailableAt = &metav1.Time{Time: s.now}
		}
		st.Phase, st.Message = experimentPhase(s.ex.Spec.Analyses, st.AnalysisRuns, v)
	}
	setProgressing(s.read, st, s.now)
	s.announcePhase()
}

// announcePhase announces a new phase: Experiment<Phase>, "Experiment transitioned from A -> B".
func (s *syncState) announcePhase() {
	from, to := s.read.Status.Phase, s.ex.Status.Phase
	if from != to {
		s.event(warningPhase(to), "Experiment"+string(to), fmtExperimentTransition, from, to)
	}
}

// load reads the experiment's ReplicaSets and Services from the cache.
func (r *Reconciler) load(ctx context.Context, s *syncState) error {
	var err error
	if s.sets, err = r.ownedReplicaSets(ctx, s.ex); err != nil {
		return err
	}
	if s.services, err = r.ownedServices(ctx, s.ex); err != nil {
		return err
	}
	return nil
}

// owns reports whether obj belongs to the experiment's template: controlled by it and
// annotated with its name, as Argo marks them. It returns the template's name.
func owns(ex *v1alpha1.Experiment, obj metav1.Object) (string, bool) {
	ref := metav1.GetControllerOf(obj)
	ann := obj.GetAnnotations()
	if ref == nil || ref.UID != ex.UID || ann[annotationExperiment] != ex.Name || ann[annotationTemplate] == "" {
		return "", false
	}
	return ann[annotationTemplate], true
}

// templateDefined reports whether the spec has a template of that name.
func templateDefined(ex *v1alpha1.Experiment, name string) bool {
	for _, t := range ex.Spec.Templates {
		if t.Name == name {
			return true
		}
	}
	return false
}

// errDuplicate is two objects of one kind claiming the same template.
func errDuplicate(kind, template string) error {
	return fmt.Errorf("multiple %s match single experiment template: %s", kind, template)
}
