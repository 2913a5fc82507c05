package rollout

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/strategy"
)

// judgeProgress asks the engine for its verdict on the update's progress (completed, healthy,
// progressing, timed out, aborted by the progress deadline), on the status as read and as this
// reconcile made it so far.
func (s *syncState) judgeProgress() strategy.Progress {
	return strategy.JudgeProgress(strategy.ProgressInput{Spec: &s.ro.Spec, Generation: s.ro.Generation,
		Read: &s.origStatus, Status: &s.ro.Status, Now: s.now, ScaleDownPending: s.waitingForScaleDown(), NewRS: s.newRS.Name})
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
