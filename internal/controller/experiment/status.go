package experiment

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Reasons and messages of conditions and events, as Argo Rollouts has them
// (utils/conditions/experiments.go, utils/conditions/conditions.go, experiments/*.go).
const (
	reasonInvalidSpec    = "InvalidSpec"
	reasonCompleted      = "ExperimentCompleted"
	reasonRSUpdated      = "ReplicaSetUpdated"
	reasonRSAvailable    = "NewReplicaSetAvailable"
	reasonScaling        = "ScalingReplicaSet"
	reasonRSCreateError  = "ReplicaSetCreateError"
	reasonRunTerminating = "AnalysisRunTerminating"

	fmtProgressing          = "Experiment %q is progressing."
	fmtRunning              = "Experiment %q is running."
	fmtCompleted            = "Experiment %q has successfully ran and completed."
	fmtDeadline             = "Template '%s' exceeded its progressDeadlineSeconds (%d)"
	fmtTemplateTransition   = "Template '%s' transitioned from %s -> %s"
	fmtRunTransition        = "AnalysisRun '%s' transitioned from %s -> %s"
	fmtExperimentTransition = "Experiment transitioned from %s -> %s"
	msgRequiredCompleted    = "Required AnalysisRuns completed"
	fmtVerifyFailed         = "%s verification failed for analysis '%s': %v"
	fmtCreateRunFailed      = "Failed to create AnalysisRun for analysis '%s': %v"
	fmtCreateRSFailed       = "Failed to create ReplicaSet for template '%s': %v"
	fmtCreateRSEvent        = "Failed to create new replica set %q: %v"
	fmtCreateSvcFailed      = "Failed to create Service %s for template '%s': %v"
	fmtSvcNotOwned          = "service %s already exists and is not owned by experiment template %s"
	fmtScaled               = "Scaled %s ReplicaSet %s from %d to %d"
	fmtTerminating          = "Terminating %s (%s)"
	msgMinReadyTooLong      = "MinReadySeconds cannot be longer than ProgressDeadlineSeconds"
)

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// validate checks the experiment: Vane's validation of the kind (api/v1alpha1), and Argo's
// controller check that no template's minReadySeconds exceeds progressDeadlineSeconds.
func validate(ex *v1alpha1.Experiment) field.ErrorList {
	errs := v1alpha1.ValidateExperiment(ex)
	deadline := ex.Spec.EffectiveProgressDeadlineSeconds()
	for i, t := range ex.Spec.Templates {
		if t.MinReadySeconds > deadline {
			path := field.NewPath("spec", "templates").Index(i).Child("minReadySeconds")
			errs = append(errs, field.Invalid(path, t.MinReadySeconds, msgMinReadyTooLong))
		}
	}
	return errs
}

// errorsMessage lists validation errors, field path first, separated by "; ".
func errorsMessage(errs field.ErrorList) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		parts = append(parts, e.Error())
	}
	return strings.Join(parts, "; ")
}

// newCondition returns a condition updated and transitioned now.
func newCondition(t v1alpha1.ExperimentConditionType, status corev1.ConditionStatus, reason, msg string, now time.Time) v1alpha1.ExperimentCondition {
	at := metav1.Time{Time: now}
	return v1alpha1.ExperimentCondition{Type: t, Status: status, Reason: reason, Message: msg, LastUpdateTime: at, LastTransitionTime: at}
}

// findCondition returns the condition of the type (nil when there is none).
func findCondition(st *v1alpha1.ExperimentStatus, t v1alpha1.ExperimentConditionType) *v1alpha1.ExperimentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// setCondition sets a condition as Argo's SetExperimentCondition does: nothing changes when
// one of the type has the same status and reason; the transition time is kept when the status
// is the same; the new condition goes last.
func setCondition(st *v1alpha1.ExperimentStatus, c v1alpha1.ExperimentCondition) {
	cur := findCondition(st, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	removeCondition(st, c.Type)
	st.Conditions = append(st.Conditions, c)
}

// removeCondition drops the condition of the type.
func removeCondition(st *v1alpha1.ExperimentStatus, t v1alpha1.ExperimentConditionType) {
	var out []v1alpha1.ExperimentCondition
	for _, c := range st.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	st.Conditions = out
}

// setInvalid records the InvalidSpec condition: kept as it is while its message stays the
// same (its update time moves), replaced when the message changes.
func setInvalid(st *v1alpha1.ExperimentStatus, msg string, now time.Time) {
	if cur := findCondition(st, v1alpha1.InvalidExperimentSpec); cur != nil && cur.Message == msg {
		cur.LastUpdateTime = metav1.Time{Time: now}
		return
	}
	removeCondition(st, v1alpha1.InvalidExperimentSpec)
	setCondition(st, newCondition(v1alpha1.InvalidExperimentSpec, corev1.ConditionTrue, reasonInvalidSpec, msg, now))
}

// setProgressing sets the Progressing condition as Argo's calculateExperimentConditions does:
// False (ExperimentCompleted) once Successful; True (ReplicaSetUpdated, its update time moved)
// when a template's counts changed since the status read; True (NewReplicaSetAvailable) while
// the experiment runs within its duration. read is the experiment as read, st the new status.
func setProgressing(read *v1alpha1.Experiment, st *v1alpha1.ExperimentStatus, now time.Time) {
	name := read.Name
	switch {
	case st.Phase == v1alpha1.AnalysisPhaseSuccessful:
		setCondition(st, newCondition(v1alpha1.ExperimentProgressing, corev1.ConditionFalse, reasonCompleted, sprintf(fmtCompleted, name), now))
	case countsChanged(read.Status.TemplateStatuses, st.TemplateStatuses):
		c := newCondition(v1alpha1.ExperimentProgressing, corev1.ConditionTrue, reasonRSUpdated, sprintf(fmtProgressing, name), now)
		if cur := findCondition(&read.Status, v1alpha1.ExperimentProgressing); cur != nil {
			if cur.Status == corev1.ConditionTrue {
				c.LastTransitionTime = cur.LastTransitionTime
			}
			removeCondition(st, v1alpha1.ExperimentProgressing)
		}
		setCondition(st, c)
	case read.Status.AvailableAt != nil && !passedOf(read, now):
		setCondition(st, newCondition(v1alpha1.ExperimentProgressing, corev1.ConditionTrue, reasonRSAvailable, sprintf(fmtRunning, name), now))
	}
}

func passedOf(ex *v1alpha1.Experiment, now time.Time) bool {
	passed, _ := passedDuration(ex, now)
	return passed
}

// countsChanged reports whether a template appeared or changed its pod counts.
func countsChanged(old, cur []v1alpha1.TemplateStatus) bool {
	if len(old) < len(cur) {
		return true
	}
	for _, o := range old {
		n := findTemplateStatus(cur, o.Name)
		if n == nil {
			continue
		}
		if o.Replicas != n.Replicas || o.UpdatedReplicas != n.UpdatedReplicas || o.ReadyReplicas != n.ReadyReplicas ||
			o.AvailableReplicas != n.AvailableReplicas {
			return true
		}
	}
	return false
}

// warningPhase reports whether a phase is announced as a warning.
func warningPhase(p v1alpha1.AnalysisPhase) bool {
	switch p {
	case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseInconclusive:
		return true
	}
	return false
}
