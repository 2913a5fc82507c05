package rollout

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vanedev/vane/api/v1alpha1"
)

// rolloutHealthy: every pod runs the new template and is available, the spec's generation is
// observed, and the strategy is done: blue/green's Services select the new pods, a canary ran
// all its steps, made the new ReplicaSet stable and has no old pods left (Argo's
// conditions.RolloutHealthy).
func (s *syncState) rolloutHealthy() bool {
	ro, st := s.ro, &s.ro.Status
	replicas := ro.Spec.EffectiveReplicas()
	done := true
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		done = st.BlueGreen.ActiveSelector == st.CurrentPodHash &&
			(bg.PreviewService == "" || st.BlueGreen.PreviewSelector == st.CurrentPodHash)
	} else if c := ro.Spec.Strategy.Canary; c != nil {
		allSteps := len(c.Steps) == 0 || st.CurrentStepIndex == nil || int(*st.CurrentStepIndex) == len(c.Steps)
		done = allSteps && completed(st) && st.Replicas == replicas
	}
	return done && st.UpdatedReplicas == replicas && st.AvailableReplicas == replicas &&
		s.origStatus.ObservedGeneration == fmt.Sprint(ro.Generation)
}

// progressing: the status moved since it was read: pods updated, old pods gone, pods ready or
// available, or a step, the stable ReplicaSet or a Service selector changed (Argo's
// conditions.RolloutProgressing).
func (s *syncState) progressing() bool {
	old, st := &s.origStatus, &s.ro.Status
	moved := false
	if s.ro.Spec.Strategy.BlueGreen != nil {
		moved = old.BlueGreen.ActiveSelector != st.BlueGreen.ActiveSelector || old.BlueGreen.PreviewSelector != st.BlueGreen.PreviewSelector
	} else {
		stepMoved := old.CurrentStepIndex != nil && st.CurrentStepIndex != nil && *old.CurrentStepIndex != *st.CurrentStepIndex
		moved = old.StableRS != st.StableRS || stepMoved || old.CurrentStepHash != st.CurrentStepHash
	}
	return moved || st.UpdatedReplicas != old.UpdatedReplicas || st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		st.ReadyReplicas > old.ReadyReplicas || st.AvailableReplicas > old.AvailableReplicas
}

// indefiniteStep: the rollout waits at something that does not count against the progress
// deadline: a pause, analysis or experiment step, or a pause (Argo's isIndefiniteStep; the
// step as read, the Paused condition as checkPausedConditions left it).
func (s *syncState) indefiniteStep() bool {
	if c := s.ro.Spec.Strategy.Canary; c != nil && len(c.Steps) > 0 {
		idx := 0
		if p := s.origStatus.CurrentStepIndex; p != nil {
			idx = int(*p)
		}
		if idx < len(c.Steps) {
			if step := c.Steps[idx]; step.Pause != nil || step.Analysis != nil || step.Experiment != nil {
				return true
			}
		}
	}
	pc := findCondition(s.ro.Status.Conditions, v1alpha1.RolloutPaused)
	return pc != nil && pc.Status == corev1.ConditionTrue
}

// waitingForScaleDown: a ReplicaSet neither new nor stable still has a scale-down deadline
// (Argo's isWaitingForReplicaSetScaleDown).
func (s *syncState) waitingForScaleDown() bool {
	for _, rs := range s.sets {
		h := hashOf(rs)
		if h != hashOf(s.newRS) && h != s.origStatus.StableRS && v1alpha1.ScaleDownDeadlineOf(rs.Annotations) != "" {
			return true
		}
	}
	return false
}

// timedOut: the Progressing condition says the deadline passed, or was last updated more than
// progressDeadlineSeconds ago; never while paused or aborted (Argo's RolloutTimedOut).
func (s *syncState) timedOut(cond *v1alpha1.RolloutCondition) bool {
	if cond == nil || cond.Reason == reasonAborted || cond.Reason == reasonPaused {
		return false
	}
	if cond.Reason == reasonDeadlineExceeded {
		return true
	}
	deadline := time.Duration(s.ro.Spec.EffectiveProgressDeadlineSeconds()) * time.Second
	return cond.LastUpdateTime.Add(deadline).Before(s.now)
}

// revision is the rollout's revision: its new ReplicaSet's.
func (s *syncState) revision() string {
	if r := s.newRS.Annotations[v1alpha1.RevisionAnnotation]; r != "" {
		return r
	}
	return "0"
}

// setOf is the rollout's ReplicaSet of a pod-template hash (nil for none).
func (s *syncState) setOf(hash string) *appsv1.ReplicaSet {
	for _, rs := range s.sets {
		if hash != "" && hashOf(rs) == hash {
			return rs
		}
	}
	return nil
}

// setCondition sets a condition as Argo's SetRolloutCondition does, updated now.
func (s *syncState) setCondition(t v1alpha1.RolloutConditionType, status corev1.ConditionStatus, reason, msg string) bool {
	now := nowTime(s.now)
	return setRolloutCondition(&s.ro.Status, v1alpha1.RolloutCondition{Type: t, Status: status, Reason: reason, Message: msg,
		LastUpdateTime: now, LastTransitionTime: now})
}

// setRolloutCondition is Argo's SetRolloutCondition: a condition with the same status and
// reason stays as it is (its message too); otherwise the new one goes to the end of the list,
// with the old transition time when only the reason changed. It reports whether it changed.
func setRolloutCondition(st *v1alpha1.RolloutStatus, c v1alpha1.RolloutCondition) bool {
	cur := findCondition(st.Conditions, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return false
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	removeCondition(st, c.Type)
	st.Conditions = append(st.Conditions, c)
	return true
}

func removeCondition(st *v1alpha1.RolloutStatus, t v1alpha1.RolloutConditionType) {
	var kept []v1alpha1.RolloutCondition
	for _, c := range st.Conditions {
		if c.Type != t {
			kept = append(kept, c)
		}
	}
	st.Conditions = kept
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

func ptrTime(t metav1.Time) *metav1.Time { return &t }
