package rollout

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// recordRevision gives the Rollout the revision of its new ReplicaSet in the annotation
// rollout.argoproj.io/revision, as Argo does, with Argo's RolloutUpdated event when it changes
// (the first revision included). The event goes out at once: the annotation is written.
func (r *Reconciler) recordRevision(ctx context.Context, s *syncState) error {
	rev := strconv.FormatInt(revision(s.newRS), 10)
	changed, err := r.annotate(ctx, s, v1alpha1.RevisionAnnotation, rev)
	if changed {
		r.Recorder.Eventf(s.ro, corev1.EventTypeNormal, "RolloutUpdated", "Rollout updated to revision %s", rev)
	}
	return err
}

// annotate sets one annotation on the Rollout (a merge patch of metadata only) when it differs,
// and reports whether it did, with an optimistic lock. The rollout in hand and the one the
// deferred status patch starts from take the new resourceVersion, so that the status patch is
// checked against it.
func (r *Reconciler) annotate(ctx context.Context, s *syncState, key, value string) (bool, error) {
	ro := s.ro
	if v, ok := ro.Annotations[key]; ok && v == value {
		return false, nil
	}
	patched := ro.DeepCopy()
	// with the resourceVersion read, as Argo's Update: a copy older than the stored Rollout
	// (a stale cache) conflicts, and the reconcile starts again from the stored one, instead of
	// taking the new resourceVersion for the status it computed from the old copy
	patch := client.MergeFromWithOptions(ro.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if patched.Annotations == nil {
		patched.Annotations = map[string]string{}
	}
	patched.Annotations[key] = value
	if err := r.Client.Patch(ctx, patched, patch); err != nil {
		return false, fmt.Errorf("setting annotation %s on the rollout: %w", key, err)
	}
	r.Writes.Replaced(patched, ro.ResourceVersion)
	ro.Annotations, ro.ResourceVersion = patched.Annotations, patched.ResourceVersion
	s.orig.Annotations, s.orig.ResourceVersion = patched.Annotations, patched.ResourceVersion
	return true, nil
}
