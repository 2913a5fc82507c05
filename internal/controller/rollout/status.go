package rollout

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/strategy"
)

// Reasons of the Progressing condition (and of the matching events), as Argo Rollouts has them.
const (
	reasonNewRSCreated     = "NewReplicaSetCreated"
	reasonRSUpdated        = "ReplicaSetUpdated"
	reasonNewRSAvailable   = "NewReplicaSetAvailable"
	reasonPaused           = "RolloutPaused"
	reasonResumed          = "RolloutResumed"
	reasonAborted          = "RolloutAborted"
	reasonDeadlineExceeded = "ProgressDeadlineExceeded"
	reasonInvalidSpec      = "InvalidSpec"
	reasonCompleted        = "RolloutCompleted"
	reasonHealthy          = "RolloutHealthy"
	reasonAvailable        = "AvailableReason"
)

// invalid records an InvalidSpec condition; nothing is scaled. It reports whether the
// condition is new (or says something new): a rollout that stays invalid for the same reason
// keeps its condition as it was, and emits no new event.
func (s *syncState) invalid(msg string) bool {
	st := &s.ro.Status
	changed := false
	if old, i := findConditionIndex(s.origStatus.Conditions, v1alpha1.InvalidSpec); old != nil && old.Status == corev1.ConditionTrue &&
		old.Reason == reasonInvalidSpec && old.Message == msg && findCondition(st.Conditions, v1alpha1.InvalidSpec) == nil {
		// valid() took it off at the start of the reconcile: put it back where it was
		st.Conditions = slices.Insert(st.Conditions, min(i, len(st.Conditions)), *old)
	} else if s.setCondition(v1alpha1.InvalidSpec, corev1.ConditionTrue, reasonInvalidSpec, msg) {
		s.event(true, reasonInvalidSpec, "%s", msg)
		changed = true
	}
	st.Phase, st.Message = v1alpha1.RolloutPhaseDegraded, reasonInvalidSpec+": "+msg
	return changed
}

// valid clears an InvalidSpec condition once the spec is fixed.
func (s *syncState) valid() {
	st := &s.ro.Status
	var kept []v1alpha1.RolloutCondition
	for _, c := range st.Conditions {
		if c.Type != v1alpha1.InvalidSpec {
			kept = append(kept, c)
		}
	}
	st.Conditions = kept
}

// observed is what the status reports of the rollout's pods, counted the way its strategy
// counts them.
type observed struct {
	counts strategy.Counts
	// hpaReplicas and selector are what the scale subresource reports (status.HPAReplicas and
	// status.selector).
	hpaReplicas int32
	selector    string
	// completed: the update is over, every pod runs the new template and is available.
	completed bool
	// waiting are the pods of old ReplicaSets that keep them until their scale-down deadline
	// (traffic-routed canary): they are not pending termination, so the phase ignores them.
	waiting int32
}

// canaryObserved counts every ReplicaSet's pods; the update is complete once the new
// ReplicaSet is stable and runs every pod, all available. With trafficRouting, old ReplicaSets
// waiting for their scale-down deadline do not matter (the router sends them nothing).
func (s *syncState) canaryObserved() observed {
	ro, st := s.ro, &s.ro.Status
	c := counts(s.sets, s.newRS)
	o := observed{counts: c, hpaReplicas: c.Replicas}
	if sel, err := metav1.LabelSelectorAsSelector(s.selector); err == nil {
		o.selector = sel.String()
	}
	if ro.Spec.Strategy.Canary.TrafficRouting != nil {
		for _, rs := range s.sets {
			if waitingForDeadline(rs, hashOf(s.newRS), st.StableRS, s.now) {
				o.waiting += rs.Status.Replicas
			}
		}
	}
	o.completed = st.StableRS == st.CurrentPodHash && c.Updated == ro.Spec.EffectiveReplicas() &&
		c.Available >= c.Updated && c.Replicas-o.waiting == c.Updated
	return o
}

// updateStatus fills counts, conditions, phase and message after a plan (the engine-owned
// fields are in the status already), and returns when to look again for the progress deadline
// (0: no deadline running).
func (s *syncState) updateStatus(o observed, scaled bool) time.Duration {
	ro, st := s.ro, &s.ro.Status
	c := o.counts
	prev := *st.DeepCopy()
	st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas = c.Replicas, c.Updated, c.Ready, c.Available
	st.HPAReplicas, st.Selector = o.hpaReplicas, o.selector
	if c := ro.Spec.Strategy.Canary; c == nil || c.TrafficRouting == nil {
		st.Canary.Weights = nil // recorded by syncRouted with trafficRouting
	}
	paused := ro.Spec.Paused || len(st.PauseConditions) > 0
	completed := o.completed
	progressed := s.created || scaled || prev.Replicas != c.Replicas || prev.UpdatedReplicas != c.Updated ||
		prev.ReadyReplicas != c.Ready || prev.AvailableReplicas != c.Available ||
		ptrVal(s.origStatus.CurrentStepIndex) != ptrVal(st.CurrentStepIndex) ||
		s.origStatus.BlueGreen.ActiveSelector != st.BlueGreen.ActiveSelector ||
		s.origStatus.BlueGreen.PreviewSelector != st.BlueGreen.PreviewSelector

	var problem *strategy.Problem
	var requeue time.Duration
	rsName := s.newRS.Name
	switch {
	case st.Abort:
		problem = strategy.Abort(s.newRS.Annotations[v1alpha1.RevisionAnnotation], strategy.AnalysisVerdict(st))
		s.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionFalse, reasonAborted, problem.Message)
	case completed:
		s.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionTrue, reasonNewRSAvailable,
			fmt.Sprintf("ReplicaSet %q has successfully progressed.", rsName))
	case paused:
		s.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionUnknown, reasonPaused, "Rollout is paused")
	case s.created:
		s.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionTrue, reasonNewRSCreated,
			fmt.Sprintf("Created new replica set %q", rsName))
	default:
		problem, requeue = s.checkProgress(prev, rsName, progressed)
	}
	s.setPausedConditions(paused, prev)
	if ro.Spec.Strategy.BlueGreen != nil {
		st.Phase, st.Message = strategy.BlueGreenPhase(ro, st, c, problem)
	} else {
		pc := c
		pc.Replicas -= o.waiting // not "old replicas pending termination"
		st.Phase, st.Message = strategy.Phase(ro, st, pc, problem)
	}
	s.setHealthConditions(c, completed)
	return requeue
}

// checkProgress keeps the Progressing condition fresh while pods move, and reports a problem
// once nothing moved for progressDeadlineSeconds.
func (s *syncState) checkProgress(prev v1alpha1.RolloutStatus, rsName string, progressed bool) (*strategy.Problem, time.Duration) {
	ro, st := s.ro, &s.ro.Status
	deadline := time.Duration(ro.Spec.EffectiveProgressDeadlineSeconds()) * time.Second
	cond := findCondition(st.Conditions, v1alpha1.RolloutProgressing)
	resumed := cond != nil && cond.Reason == reasonPaused
	if cond == nil || progressed || resumed || cond.Reason == reasonNewRSAvailable || cond.Reason == reasonAborted {
		reason := reasonRSUpdated
		if resumed {
			reason = reasonResumed
		}
		s.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionTrue, reason,
			fmt.Sprintf("ReplicaSet %q is progressing.", rsName))
		findCondition(st.Conditions, v1alpha1.RolloutProgressing).LastUpdateTime = nowTime(s.now)
		return nil, deadline
	}
	if cond.Reason == reasonDeadlineExceeded {
		return &strategy.Problem{Reason: reasonDeadlineExceeded, Message: cond.Message}, 0
	}
	left := cond.LastUpdateTime.Add(deadline).Sub(s.now)
	if left > 0 {
		return nil, left
	}
	msg := fmt.Sprintf("ReplicaSet %q has timed out progressing.", rsName)
	s.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionFalse, reasonDeadlineExceeded, msg)
	s.event(true, reasonDeadlineExceeded, "%s", msg)
	if ro.Spec.ProgressDeadlineAbort {
		st.Abort = true
	}
	return &strategy.Problem{Reason: reasonDeadlineExceeded, Message: msg}, 0
}

// setPausedConditions keeps the Paused condition and announces pause and resume.
func (s *syncState) setPausedConditions(paused bool, prev v1alpha1.RolloutStatus) {
	if paused {
		s.setCondition(v1alpha1.RolloutPaused, corev1.ConditionTrue, reasonPaused, "Rollout is paused")
		if s.ro.Spec.Paused && (findCondition(prev.Conditions, v1alpha1.RolloutPaused) == nil ||
			findCondition(prev.Conditions, v1alpha1.RolloutPaused).Status != corev1.ConditionTrue) && len(s.ro.Status.PauseConditions) == 0 {
			s.event(false, reasonPaused, "Rollout is paused (manually)")
		}
		return
	}
	old := findCondition(prev.Conditions, v1alpha1.RolloutPaused)
	if old == nil {
		return // never paused: no Paused condition at all
	}
	if old.Status == corev1.ConditionTrue && !s.hasEvent(reasonResumed) { // a timed pause says so already
		s.event(false, reasonResumed, "Rollout is resumed")
	}
	s.setCondition(v1alpha1.RolloutPaused, corev1.ConditionFalse, reasonResumed, "Rollout is resumed")
}

// setHealthConditions keeps Available, Completed and Healthy.
func (s *syncState) setHealthConditions(c strategy.Counts, completed bool) {
	ro, st := s.ro, &s.ro.Status
	replicas := ro.Spec.EffectiveReplicas()
	b, _ := budget(ro, replicas)
	if c.Available >= replicas-b.MaxUnavailable {
		s.setCondition(v1alpha1.RolloutAvailable, corev1.ConditionTrue, reasonAvailable, "Rollout has minimum availability")
	} else {
		s.setCondition(v1alpha1.RolloutAvailable, corev1.ConditionFalse, reasonAvailable, "Rollout does not have minimum availability")
	}
	if completed {
		s.setCondition(v1alpha1.RolloutCompleted, corev1.ConditionTrue, reasonCompleted, "Rollout completed update to revision "+
			s.newRS.Annotations[v1alpha1.RevisionAnnotation])
	} else if s.setCondition(v1alpha1.RolloutCompleted, corev1.ConditionFalse, reasonCompleted, "Rollout not completed, started update to revision "+
		s.newRS.Annotations[v1alpha1.RevisionAnnotation]) {
		s.event(false, "RolloutNotCompleted", "Rollout not completed, started update to revision %s", s.newRS.Annotations[v1alpha1.RevisionAnnotation])
	}
	if st.Phase == v1alpha1.RolloutPhaseHealthy {
		s.setCondition(v1alpha1.RolloutHealthy, corev1.ConditionTrue, reasonHealthy, "Rollout is healthy")
	} else {
		s.setCondition(v1alpha1.RolloutHealthy, corev1.ConditionFalse, reasonHealthy, "Rollout is not healthy")
	}
}

// budget resolves the strategy's maxSurge and maxUnavailable for replicas pods (blue/green has
// no surge: its new ReplicaSet is sized as a whole).
func budget(ro *v1alpha1.Rollout, replicas int32) (strategy.Budget, error) {
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		return strategy.ResolveBudget(intstr.FromInt32(0), bg.EffectiveMaxUnavailable(), replicas)
	}
	c := ro.Spec.Strategy.Canary
	return strategy.ResolveBudget(c.EffectiveMaxSurge(), c.EffectiveMaxUnavailable(), replicas)
}

// setCondition sets a condition, keeping its transition time while its status holds, and
// reports whether its status changed (a new condition counts as changed unless False).
func (s *syncState) setCondition(t v1alpha1.RolloutConditionType, status corev1.ConditionStatus, reason, msg string) bool {
	st := &s.ro.Status
	now := nowTime(s.now)
	if c := findCondition(st.Conditions, t); c != nil {
		if c.Status == status && c.Reason == reason && c.Message == msg {
			return false
		}
		changed := c.Status != status
		if changed {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message, c.LastUpdateTime = status, reason, msg, now
		return changed
	}
	st.Conditions = append(st.Conditions, v1alpha1.RolloutCondition{Type: t, Status: status, Reason: reason, Message: msg,
		LastTransitionTime: now, LastUpdateTime: now})
	return status != corev1.ConditionFalse
}

func findCondition(conds []v1alpha1.RolloutCondition, t v1alpha1.RolloutConditionType) *v1alpha1.RolloutCondition {
	c, _ := findConditionIndex(conds, t)
	return c
}

func findConditionIndex(conds []v1alpha1.RolloutCondition, t v1alpha1.RolloutConditionType) (*v1alpha1.RolloutCondition, int) {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i], i
		}
	}
	return nil, -1
}

func ptrVal(p *int32) int32 {
	if p == nil {
		return -1
	}
	return *p
}
