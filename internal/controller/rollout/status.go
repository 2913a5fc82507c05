package rollout

import (
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/vanedev/vane/api/v1alpha1"
	kit "github.com/vanedev/vane/internal/reconcile"
	"github.com/vanedev/vane/internal/strategy"
)

// Reasons of the conditions (and of the matching events), as Argo Rollouts has them
// (utils/conditions/conditions.go).
const (
	reasonNewRSCreated     = "NewReplicaSetCreated"
	reasonFoundNewRS       = "FoundNewReplicaSet"
	reasonRSUpdated        = "ReplicaSetUpdated"
	reasonRSNotAvailable   = "ReplicaSetNotAvailable"
	reasonNewRSAvailable   = "NewReplicaSetAvailable"
	reasonPaused           = strategy.ReasonPaused
	reasonResumed          = "RolloutResumed"
	reasonRetry            = "RolloutRetry"
	reasonAborted          = strategy.ReasonAborted
	reasonDeadlineExceeded = strategy.ReasonDeadlineExceeded
	reasonInvalidSpec      = "InvalidSpec"
	reasonCompleted        = "RolloutCompleted"
	// reasonNotActedOn (Vane's own) names a field Vane stores but does not act on
	// (v1alpha1.RolloutWarnings), once for each spec generation
	reasonNotActedOn   = "FieldNotActedOn"
	reasonNotCompleted = "RolloutNotCompleted"
	reasonHealthy      = "RolloutHealthy"
	reasonAvailable    = "AvailableReason"
)

// Messages of the conditions and events, as Argo Rollouts has them (utils/conditions).
const (
	msgPaused        = "Rollout is paused"
	msgResumed       = "Rollout is resumed"
	msgRetry         = "Retrying Rollout after abort"
	msgAvailable     = "Rollout has minimum availability"
	msgNotAvailable  = "Rollout does not have minimum availability"
	msgHealthy       = "Rollout is healthy"
	msgNotHealthy    = "Rollout is not healthy"
	fmtNewRS         = "Created new replica set %q"
	fmtFoundNewRS    = "Found new replica set %q"
	fmtRSProgressing = "ReplicaSet %q is progressing."
	fmtRSCompleted   = "ReplicaSet %q has successfully progressed."
	fmtNotCompleted  = "Rollout not completed, started update to revision %s (%s)"
	fmtInvalidSpec   = "The Rollout %q is invalid: %s"
)

// validationMessage is the InvalidSpec detail for the errors of ValidateRollout: Argo reports
// the first error (rollout/controller.go getRolloutValidationErrors); Vane lists the others
// after it.
func validationMessage(errs field.ErrorList) string {
	if len(errs) == 0 {
		return ""
	}
	msg := errs[0].Error()
	for _, e := range errs[1:] {
		msg += "; " + e.Error()
	}
	return msg
}

// invalid records the InvalidSpec condition, `The Rollout "<name>" is invalid: <detail>`, as
// Argo's createInvalidRolloutCondition does; nothing else in the status changes, and nothing
// is scaled. It reports whether the condition is new (or says something new): a rollout that
// stays invalid for the same reason keeps its condition as it was. Like Argo, it emits no event.
func (s *syncState) invalid(detail string) bool {
	st := &s.ro.Status
	msg := fmt.Sprintf(fmtInvalidSpec, s.ro.Name, detail)
	old, i := findConditionIndex(s.origStatus.Conditions, v1alpha1.InvalidSpec)
	cur := findCondition(st.Conditions, v1alpha1.InvalidSpec)
	changed := false
	switch {
	case cur != nil && cur.Message == msg:
	case old != nil && old.Message == msg && cur == nil:
		// valid() took it off at the start of the reconcile: put it back where it was
		st.Conditions = slices.Insert(st.Conditions, min(i, len(st.Conditions)), *old)
	default:
		removeCondition(st, v1alpha1.InvalidSpec)
		s.setCondition(v1alpha1.InvalidSpec, corev1.ConditionTrue, reasonInvalidSpec, msg)
		changed = true
	}
	st.Phase, st.Message = strategy.RolloutPhase(&s.ro.Spec, st)
	return changed
}

// valid clears an InvalidSpec condition once the spec is fixed.
func (s *syncState) valid() { removeCondition(&s.ro.Status, v1alpha1.InvalidSpec) }

// observed is what the status reports of the rollout's pods, counted the way its strategy
// counts them.
type observed struct {
	counts strategy.Counts
	// hpaReplicas and selector are what the scale subresource reports (status.HPAReplicas and
	// status.selector).
	hpaReplicas int32
	selector    string
}

// canaryObserved counts every ReplicaSet's pods (Argo's syncRolloutStatusCanary).
func (s *syncState) canaryObserved() observed {
	c := counts(s.sets, s.newRS)
	o := observed{counts: c, hpaReplicas: c.Replicas}
	if sel, err := metav1.LabelSelectorAsSelector(s.selector); err == nil {
		o.selector = sel.String()
	}
	return o
}

// updateStatus fills counts, conditions, phase and message after a plan (the engine-owned
// fields are in the status already) as Argo's persistRolloutStatus does, emits the events Argo
// emits for the changes, and returns when to look again for the progress deadline (0: no
// deadline running). Argo judges progress from the status alone, so whether this reconcile
// scaled anything does not matter; the engine judges it (strategy.JudgeProgress) and this
// applies the verdict.
//
// Argo spreads this over reconciles: one creates the new ReplicaSet (and records
// NewReplicaSetCreated), the next starts by updating the Paused and Progressing conditions for
// a pause, a resume or a retry, and the ones after compute the rest. Vane does it in one: the
// pause bookkeeping reads the status as it was read (so it shows one reconcile after the pause,
// as in Argo), then the rest reads the status this reconcile made.
func (s *syncState) updateStatus(o observed, _ bool) time.Duration {
	ro, st := s.ro, &s.ro.Status
	c := o.counts
	st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas = c.Replicas, c.Updated, c.Ready, c.Available
	st.HPAReplicas, st.Selector = o.hpaReplicas, o.selector
	if cs := ro.Spec.Strategy.Canary; cs == nil || cs.TrafficRouting == nil {
		st.Canary.Weights = nil // recorded by syncRouted with trafficRouting
	}
	// the abort event is the Progressing condition's (see abortCondition), as in Argo
	*s.events = slices.DeleteFunc(*s.events, func(e kit.Event) bool { return e.Reason == reasonAborted })
	s.newReplicaSetCondition()
	s.checkPausedConditions()
	v := s.judgeProgress()
	detail := s.deadlineAbort(v)
	if detail == "" && st.Abort && !s.origStatus.Abort {
		detail = strategy.AbortDetail(st)
		if detail == "" {
			detail = s.abortDetail // an Experiment's verdict: the status does not record it
		}
	}
	s.calculateConditions(v, detail)
	st.Phase, st.Message = strategy.RolloutPhase(&ro.Spec, st)
	s.stateChangeEvents()
	return strategy.ProgressRecheck(&ro.Spec, st, v, s.now)
}

// newReplicaSetCondition starts the Progressing condition of an update: NewReplicaSetCreated
// when this reconcile created the ReplicaSet, FoundNewReplicaSet when a rollout without a
// Progressing condition already has it (Argo's createDesiredReplicaSet and
// syncReplicaSetRevision).
func (s *syncState) newReplicaSetCondition() {
	switch {
	case s.created:
		s.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionTrue, reasonNewRSCreated, fmt.Sprintf(fmtNewRS, s.newRS.Name))
	case findCondition(s.ro.Status.Conditions, v1alpha1.RolloutProgressing) == nil:
		s.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionTrue, reasonFoundNewRS, fmt.Sprintf(fmtFoundNewRS, s.newRS.Name))
	}
}

// checkPausedConditions is Argo's first step of a reconcile (rollout/sync.go
// checkPausedConditions), on the status as read: the Progressing condition says
// RolloutPaused (Unknown) while the rollout is paused, RolloutResumed (Unknown) once it is not,
// RolloutRetry (Unknown) once an abort is lifted; the Paused condition is True while paused and
// False after (reason RolloutPaused, message "Rollout is paused", both ways). An aborted
// rollout keeps both as they were, and a completed one its Progressing condition.
//
// Argo writes these changes in a reconcile of their own, which records the spec's generation as
// observed (a spec.paused change is one): what follows then reads the generation as observed,
// so that pausing a healthy rollout does not look like a healthy rollout losing pods.
func (s *syncState) checkPausedConditions() {
	old, st := &s.origStatus, &s.ro.Status
	prog := findCondition(st.Conditions, v1alpha1.RolloutProgressing)
	progPaused := prog != nil && prog.Reason == reasonPaused
	abortCond := prog != nil && prog.Reason == reasonAborted
	paused := len(old.PauseConditions) > 0 || s.ro.Spec.Paused
	changed := false
	if paused != progPaused && !abortCond && !strategy.Completed(old) {
		if paused {
			changed = s.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionUnknown, reasonPaused, msgPaused)
		} else {
			changed = s.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionUnknown, reasonResumed, msgResumed)
		}
	}
	if !old.Abort && abortCond {
		changed = s.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionUnknown, reasonRetry, msgRetry) || changed
	}
	pc := findCondition(st.Conditions, v1alpha1.RolloutPaused)
	if pcTrue := pc != nil && pc.Status == corev1.ConditionTrue; paused != pcTrue && !abortCond {
		status := corev1.ConditionFalse
		if paused {
			status = corev1.ConditionTrue
		}
		changed = s.setCondition(v1alpha1.RolloutPaused, status, reasonPaused, msgPaused) || changed
	}
	if changed {
		old.ObservedGeneration = fmt.Sprint(s.ro.Generation)
	}
}

// deadlineAbort applies the engine's progress-deadline abort (Argo's
// evaluateProgressDeadlineAbort): the update is aborted, its pause lifted, and the Warning
// event RolloutAborted says `ReplicaSet "<name>" has timed out progressing.`, which the abort
// message then carries. It returns that text ("" when the verdict does not abort).
func (s *syncState) deadlineAbort(v strategy.Progress) string {
	if !v.Abort {
		return ""
	}
	st := &s.ro.Status
	st.Abort = true
	if st.AbortedAt == nil {
		st.AbortedAt = ptrTime(nowTime(s.now))
	}
	st.PauseConditions, st.ControllerPause = nil, false
	s.event(true, reasonAborted, "%s", v.Message)
	return v.Message
}

// calculateConditions is Argo's calculateRolloutConditions: Healthy, Progressing (aborted,
// complete, progressing or timed out), Available, ReplicaFailure and Completed, each with
// Argo's reason and message, as the engine's verdict v says. detail is what the abort message
// adds when the update was aborted in this reconcile.
func (s *syncState) calculateConditions(v strategy.Progress, detail string) {
	ro, st := s.ro, &s.ro.Status
	paused := ro.Spec.Paused || len(st.PauseConditions) > 0
	becameUnhealthy := false
	if !paused && v.Healthy {
		s.setCondition(v1alpha1.RolloutHealthy, corev1.ConditionTrue, reasonHealthy, msgHealthy)
	} else if findCondition(s.origStatus.Conditions, v1alpha1.RolloutHealthy) != nil {
		// never healthy yet: no Healthy condition at all
		becameUnhealthy = s.setCondition(v1alpha1.RolloutHealthy, corev1.ConditionFalse, reasonHealthy, msgNotHealthy)
	}
	if st.Abort {
		s.abortCondition(detail)
	} else if !s.created { // Argo's reconcile ends once it created the new ReplicaSet
		s.progressCondition(v, becameUnhealthy)
	}
	s.availableCondition()
	s.replicaFailureCondition()
	if v.Completed {
		if s.ro.Spec.Strategy.Canary != nil && findCondition(s.origStatus.Conditions, v1alpha1.RolloutCompleted) == nil {
			// Argo's first reconciles of a canary see its first revision not completed yet (its
			// stable ReplicaSet is set a reconcile later) and say so once; Vane does both in one
			s.event(false, reasonNotCompleted, fmtNotCompleted, s.revision(), st.CurrentPodHash)
		}
		s.setCondition(v1alpha1.RolloutCompleted, corev1.ConditionTrue, reasonCompleted, reasonCompleted)
	} else if s.setCondition(v1alpha1.RolloutCompleted, corev1.ConditionFalse, reasonCompleted, reasonCompleted) {
		s.event(false, reasonNotCompleted, fmtNotCompleted, s.revision(), st.CurrentPodHash)
	}
}

// abortCondition: Progressing is False with "Rollout aborted update to revision N", and the
// detail the abort came with (kept while the rollout stays aborted); the Warning event
// RolloutAborted carries the same text when the condition changes.
func (s *syncState) abortCondition(detail string) {
	msg := strategy.Abort(s.revision(), detail).Message
	if s.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionFalse, reasonAborted, msg) {
		s.event(true, reasonAborted, "%s", msg)
	}
}

// progressCondition: Progressing is NewReplicaSetAvailable once the update is done,
// ReplicaSetUpdated (refreshed) while the status moves, ReplicaSetNotAvailable when a complete
// rollout lost pods, and ProgressDeadlineExceeded (False) once the engine finds the deadline
// exceeded (no event, as in Argo).
func (s *syncState) progressCondition(v strategy.Progress, becameUnhealthy bool) {
	name := s.newRS.Name
	switch {
	case v.Healthy:
		s.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionTrue, reasonNewRSAvailable, fmt.Sprintf(fmtRSCompleted, name))
	case v.Progressing || becameUnhealthy:
		reason, msg := reasonRSUpdated, fmt.Sprintf(fmtRSProgressing, name)
		if v.Completed && becameUnhealthy {
			reason, msg = reasonRSNotAvailable, msgNotAvailable
		}
		s.refreshProgressing(reason, msg)
	case v.DeadlineExceeded:
		s.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionFalse, reasonDeadlineExceeded, v.Message)
	}
}

// refreshProgressing replaces the Progressing condition by a True one updated now, keeping its
// transition time when it was True already: progress restarts the deadline.
func (s *syncState) refreshProgressing(reason, msg string) {
	st := &s.ro.Status
	now := nowTime(s.now)
	c := v1alpha1.RolloutCondition{Type: v1alpha1.RolloutProgressing, Status: corev1.ConditionTrue, Reason: reason, Message: msg,
		LastUpdateTime: now, LastTransitionTime: now}
	if cur := findCondition(st.Conditions, v1alpha1.RolloutProgressing); cur != nil && cur.Status == corev1.ConditionTrue {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	removeCondition(st, v1alpha1.RolloutProgressing)
	st.Conditions = append(st.Conditions, c)
}

// availableCondition: blue/green is available once the active ReplicaSet has all its pods
// available (Argo's annotations.IsSaturated), a canary once its ReplicaSets together have
// spec.replicas available pods.
func (s *syncState) availableCondition() {
	ro, st := s.ro, &s.ro.Status
	replicas := ro.Spec.EffectiveReplicas()
	ok := false
	if ro.Spec.Strategy.BlueGreen != nil {
		ok = saturated(s.setOf(st.BlueGreen.ActiveSelector), replicas)
	} else {
		var available int32
		for _, rs := range s.sets {
			available += rs.Status.AvailableReplicas
		}
		ok = available >= replicas
	}
	if ok {
		s.setCondition(v1alpha1.RolloutAvailable, corev1.ConditionTrue, reasonAvailable, msgAvailable)
	} else {
		s.setCondition(v1alpha1.RolloutAvailable, corev1.ConditionFalse, reasonAvailable, msgNotAvailable)
	}
}

// saturated: rs is sized for replicas, says so in its desired-replicas annotation, and has
// them all available.
func saturated(rs *appsv1.ReplicaSet, replicas int32) bool {
	return rs != nil && rs.Spec.Replicas != nil && *rs.Spec.Replicas == replicas &&
		rs.Annotations[v1alpha1.DesiredReplicasAnnotation] == fmt.Sprint(replicas) && rs.Status.AvailableReplicas == replicas
}

// replicaFailureCondition copies a ReplicaSet's ReplicaFailure condition (quota exceeded,
// forbidden pods...) into the rollout, the new ReplicaSet's first; it goes once none has one.
func (s *syncState) replicaFailureCondition() {
	st := &s.ro.Status
	for _, rs := range append([]*appsv1.ReplicaSet{s.newRS}, s.sets...) {
		for _, c := range rs.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure {
				setRolloutCondition(st, v1alpha1.RolloutCondition{Type: v1alpha1.RolloutReplicaFailure, Status: c.Status,
					Reason: c.Reason, Message: c.Message, LastTransitionTime: c.LastTransitionTime, LastUpdateTime: c.LastTransitionTime})
				return
			}
		}
	}
	removeCondition(st, v1alpha1.RolloutReplicaFailure)
}

// stateChangeEvents emits RolloutPaused when the rollout gains pause conditions and
// RolloutResumed when it loses them without an abort (Argo's sendStateChangeEvents), unless the
// engine announced it already. A pause by spec.paused, and a promote (which takes the pause
// conditions off the stored status), emit nothing, as in Argo.
func (s *syncState) stateChangeEvents() {
	st := &s.ro.Status
	was, is := len(s.origStatus.PauseConditions) > 0, len(st.PauseConditions) > 0
	switch {
	case was == is:
	case is && !s.hasEvent(reasonPaused):
		s.event(false, reasonPaused, "%s (%s)", msgPaused, st.PauseConditions[0].Reason)
	case !is && st.AbortedAt == nil && !s.hasEvent(reasonResumed):
		s.event(false, reasonResumed, "%s", msgResumed)
	}
}
