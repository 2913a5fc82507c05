package experiment

import (
	"context"
	"errors"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

// syncTemplate reconciles one template (Argo's reconcileTemplate): it creates the template's
// ReplicaSet, or keeps its Service and its replicas where they belong, then records its counts
// and status and announces a new status (Template<Status>).
func (r *Reconciler) syncTemplate(ctx context.Context, s *syncState, t *v1alpha1.TemplateSpec) error {
	prev := findTemplateStatus(s.read.Status.TemplateStatuses, t.Name)
	ts := v1alpha1.TemplateStatus{Name: t.Name}
	if prev != nil {
		ts = *prev.DeepCopy()
	} else if s.read.Status.Phase.Completed() {
		return nil // an experiment that ended before this template started
	}
	prevCode := ts.Status
	desired := desiredReplicas(s.read, t)
	rs := s.sets[t.Name]
	switch {
	case rs == nil && s.ending:
		// nothing is created for an experiment that is ending (Argo creates an empty ReplicaSet)
	case rs == nil:
		created, err := r.createReplicaSet(ctx, s, t, ts.CollisionCount)
		var spec errSpec
		switch {
		case errors.As(err, &spec):
			ts.Status, ts.Message = v1alpha1.TemplateStatusError, sprintf(fmtCreateRSFailed, t.Name, spec.err)
		case err != nil:
			return err
		default:
			rs, s.sets[t.Name] = created, created
			ts.LastTransitionTime = &metav1.Time{Time: s.now}
		}
	default:
		var err error
		if rs, err = r.syncReplicaSet(ctx, s, t, &ts, rs, desired); err != nil {
			return err
		}
	}
	observeCounts(&ts, rs, s.now)
	passed, _ := passedDuration(s.read, s.now)
	judgeTemplate(&ts, desired, passed, s.ending, s.ex.Spec.EffectiveProgressDeadlineSeconds(), s.now)
	if ts.Status != prevCode {
		msg := sprintf(fmtTemplateTransition, t.Name, prevCode, ts.Status)
		if ts.Message != "" {
			msg += ": " + ts.Message
		}
		failed := ts.Status == v1alpha1.TemplateStatusFailed || ts.Status == v1alpha1.TemplateStatusError
		s.event(failed, "Template"+string(ts.Status), "%s", msg)
	}
	setTemplateStatus(&s.ex.Status, ts)
	return nil
}

// syncReplicaSet keeps an existing ReplicaSet's Service and replicas where they belong: the
// Service while the template runs (deleted once the ReplicaSet has no available pod left), and
// desired replicas, zero only once the scale-down deadline passed. A change of replicas asked
// for is a transition of the template.
func (r *Reconciler) syncReplicaSet(ctx context.Context, s *syncState, t *v1alpha1.TemplateSpec, ts *v1alpha1.TemplateStatus,
	rs *appsv1.ReplicaSet, desired int32) (*appsv1.ReplicaSet, error) {
	if err := r.syncService(ctx, s, t, ts, rs, desired); err != nil {
		return nil, err
	}
	var err error
	marked := false
	if desired == 0 {
		if rs, marked, err = r.markScaleDown(ctx, s, rs); err != nil {
			return nil, err
		}
	}
	if current := ptr.Deref(rs.Spec.Replicas, 1); current != desired {
		target := desired
		if at, ok := scaleDownAt(rs); desired == 0 && ok && at.After(s.now) {
			s.wakeAt(at)
			target = current // until the deadline
		}
		if rs, err = r.scale(ctx, s.ex, rs, target); err != nil {
			return nil, err
		}
		// Argo moves the transition time at each look while it waits for the deadline; Vane
		// when the wait starts and when the replicas change (a status that changes at each
		// look would be written at each look)
		if marked || target != current {
			ts.LastTransitionTime = &metav1.Time{Time: s.now}
		}
	}
	s.sets[t.Name] = rs
	return rs, nil
}

// observeCounts copies the ReplicaSet's pod counts into the template status (updatedReplicas
// is its replicas, as Argo reports it); a change is a transition.
func observeCounts(ts *v1alpha1.TemplateStatus, rs *appsv1.ReplicaSet, now time.Time) {
	var n, ready, available int32
	if rs != nil {
		n, ready, available = rs.Status.Replicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas
	}
	if ts.Replicas != n || ts.UpdatedReplicas != n || ts.ReadyReplicas != ready || ts.AvailableReplicas != available {
		ts.LastTransitionTime = &metav1.Time{Time: now}
	}
	ts.Replicas, ts.UpdatedReplicas, ts.ReadyReplicas, ts.AvailableReplicas = n, n, ready, available
}
