package rollout

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/podhash"
	"github.com/vanedev/vane/internal/strategy"
)

// errHashCollision means the ReplicaSet name for the template is taken by another template.
var errHashCollision = fmt.Errorf("pod template hash collision")

// errCreatedBefore: the ReplicaSet createNew was to make exists, made by an earlier reconcile of
// the same rollout that the cache has not shown yet (returned with it: that reconcile announced
// it).
var errCreatedBefore = errors.New("ReplicaSet created by an earlier reconcile")

// ownedReplicaSets lists the ReplicaSets the rollout controls.
func (r *Reconciler) ownedReplicaSets(ctx context.Context, ro *v1alpha1.Rollout) ([]*appsv1.ReplicaSet, error) {
	var list appsv1.ReplicaSetList
	if err := r.Client.List(ctx, &list, client.InNamespace(ro.Namespace), client.MatchingFields{rsOwnerIndex: string(ro.UID)}); err != nil {
		return nil, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	var out []*appsv1.ReplicaSet
	for i := range list.Items {
		if ref := metav1.GetControllerOf(&list.Items[i]); ref != nil && ref.UID == ro.UID {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

// findNew returns the ReplicaSet of the rollout's current template, looked up as Argo looks it
// up: by the template's hash under the current collisionCount, then by the hash Kubernetes'
// Deployments (and earlier Vane versions) give it, then by a ReplicaSet whose template, without
// what the controller added to it, equals the rollout's (what `undo` copies back). Among
// several candidates the oldest wins.
func findNew(sets []*appsv1.ReplicaSet, template *corev1.PodTemplateSpec, collisionCount *int32) *appsv1.ReplicaSet {
	var live []*appsv1.ReplicaSet
	for _, rs := range sets {
		if rs.DeletionTimestamp == nil {
			live = append(live, rs)
		}
	}
	sort.SliceStable(live, func(i, j int) bool {
		return live[i].CreationTimestamp.Before(&live[j].CreationTimestamp)
	})
	for _, h := range []string{podhash.Template(template, collisionCount), podhash.Legacy(template, collisionCount)} {
		for _, rs := range live {
			if hashOf(rs) == h {
				return rs
			}
		}
	}
	want := template.DeepCopy()
	delete(want.Labels, v1alpha1.PodTemplateHashLabel)
	for _, rs := range live {
		if equality.Semantic.DeepEqual(strategy.UserTemplate(rs), want) {
			return rs
		}
	}
	return nil
}

// revision reads a ReplicaSet's revision annotation (0 when absent or malformed).
func revision(rs *appsv1.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Annotations[v1alpha1.RevisionAnnotation], 10, 64)
	return n
}

func maxRevision(sets []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range sets {
		m = max(m, revision(rs))
	}
	return m
}

// createNew creates the ReplicaSet for template at 0 replicas. When a ReplicaSet of that name
// exists with another template it returns errHashCollision.
func (r *Reconciler) createNew(ctx context.Context, ro *v1alpha1.Rollout, template *corev1.PodTemplateSpec,
	selector *metav1.LabelSelector, hash string, rev int64) (*appsv1.ReplicaSet, error) {
	tmpl := template.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[v1alpha1.PodTemplateHashLabel] = hash
	sel := selector.DeepCopy()
	if sel == nil {
		sel = &metav1.LabelSelector{}
	}
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[v1alpha1.PodTemplateHashLabel] = hash
	labels := map[string]string{}
	for k, v := range tmpl.Labels {
		labels[k] = v
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ro.Name + "-" + hash,
			Namespace:   ro.Namespace,
			Labels:      labels,
			Annotations: newReplicaSetAnnotations(ro, rev),
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        ptr.To[int32](0),
			MinReadySeconds: ro.Spec.MinReadySeconds,
			Selector:        sel,
			Template:        *tmpl,
		},
	}
	if err := controllerutil.SetControllerReference(ro, rs, r.Client.Scheme()); err != nil {
		return nil, fmt.Errorf("owner reference: %w", err)
	}
	err := r.Client.Create(ctx, rs)
	if apierrors.IsAlreadyExists(err) {
		var existing appsv1.ReplicaSet
		if getErr := r.APIReader.Get(ctx, client.ObjectKeyFromObject(rs), &existing); getErr != nil {
			return nil, fmt.Errorf("reading existing ReplicaSet %s: %w", rs.Name, getErr)
		}
		if ref := metav1.GetControllerOf(&existing); ref != nil && ref.UID == ro.UID && hashOf(&existing) == hash {
			return &existing, errCreatedBefore // created by an earlier reconcile our cache has not seen yet
		}
		return nil, errHashCollision
	}
	if err != nil {
		return nil, fmt.Errorf("creating ReplicaSet %s: %w", rs.Name, err)
	}
	return rs, nil
}

// bumpRevision gives a reused ReplicaSet the next revision, recording the one it had.
func (r *Reconciler) bumpRevision(ctx context.Context, rs *appsv1.ReplicaSet, rev int64) error {
	old := rs.Annotations[v1alpha1.RevisionAnnotation]
	patch := client.MergeFrom(rs.DeepCopy())
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	rs.Annotations[v1alpha1.RevisionAnnotation] = strconv.FormatInt(rev, 10)
	if old != "" {
		hist := rs.Annotations[v1alpha1.RevisionHistoryAnnotation]
		if hist != "" {
			hist += ","
		}
		rs.Annotations[v1alpha1.RevisionHistoryAnnotation] = hist + old
	}
	if err := r.Client.Patch(ctx, rs, patch); err != nil {
		return fmt.Errorf("updating revision of ReplicaSet %s: %w", rs.Name, err)
	}
	return nil
}

// scale sets a ReplicaSet's replicas; it reports whether it changed anything.
func (r *Reconciler) scale(ctx context.Context, ro *v1alpha1.Rollout, rs *appsv1.ReplicaSet, n int32, lock bool) (bool, error) {
	desired := strconv.Itoa(int(ro.Spec.EffectiveReplicas()))
	if ptr.Deref(rs.Spec.Replicas, 1) == n && rs.Annotations[v1alpha1.DesiredReplicasAnnotation] == desired &&
		rs.Spec.MinReadySeconds == ro.Spec.MinReadySeconds {
		return false, nil
	}
	// optimistic lock: a decision taken on a stale ReplicaSet must not be applied
	var opts []client.MergeFromOption
	if lock {
		opts = append(opts, client.MergeFromWithOptimisticLock{})
	}
	patch := client.MergeFromWithOptions(rs.DeepCopy(), opts...)
	from := ptr.Deref(rs.Spec.Replicas, 1)
	rs.Spec.Replicas = ptr.To(n)
	rs.Spec.MinReadySeconds = ro.Spec.MinReadySeconds // may change without a new template
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	rs.Annotations[v1alpha1.DesiredReplicasAnnotation] = desired
	if n == 0 && from != 0 {
		// a ReplicaSet scaled down for good has no deadline left, as Argo's full scale-down says
		delete(rs.Annotations, v1alpha1.ScaleDownDeadlineAnnotation)
		delete(rs.Annotations, v1alpha1.LegacyScaleDownDeadlineAnnotation)
	}
	if err := r.Client.Patch(ctx, rs, patch); err != nil {
		return false, fmt.Errorf("scaling ReplicaSet %s: %w", rs.Name, err)
	}
	if from != n {
		dir := "up"
		if n < from {
			dir = "down"
		}
		r.Recorder.Eventf(ro, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s ReplicaSet %s (revision %d) from %d to %d",
			dir, rs.Name, revision(rs), from, n)
	}
	return from != n, nil
}

// prune is Argo's reconcileRevisionHistoryLimit: of the old ReplicaSets (neither in keep nor
// being deleted), the oldest by creation beyond spec.revisionHistoryLimit are deleted, each
// only once it has no pod (one that still has pods is skipped, not replaced by a newer one),
// and with it the AnalysisRuns and Experiments of its pod-template hash that the status no
// longer records.
func (r *Reconciler) prune(ctx context.Context, s *syncState, keep ...string) error {
	var old []*appsv1.ReplicaSet
	for _, rs := range s.sets {
		if !contains(keep, hashOf(rs)) && rs.DeletionTimestamp == nil {
			old = append(old, rs)
		}
	}
	diff := len(old) - int(s.ro.Spec.EffectiveRevisionHistoryLimit())
	if diff <= 0 {
		return nil
	}
	sort.SliceStable(old, func(i, j int) bool {
		if !old[i].CreationTimestamp.Equal(&old[j].CreationTimestamp) {
			return old[i].CreationTimestamp.Before(&old[j].CreationTimestamp)
		}
		return old[i].Name < old[j].Name
	})
	for _, rs := range old[:diff] {
		if rs.Status.Replicas != 0 || ptr.Deref(rs.Spec.Replicas, 1) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		if err := r.Client.Delete(ctx, rs, client.Preconditions{UID: &rs.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting old ReplicaSet %s: %w", rs.Name, err)
		}
		if err := r.deleteHistoryOf(ctx, s, hashOf(rs)); err != nil {
			return err
		}
	}
	return nil
}

// deleteHistoryOf deletes the AnalysisRuns and Experiments of a pruned ReplicaSet's hash that
// the status does not record.
func (r *Reconciler) deleteHistoryOf(ctx context.Context, s *syncState, hash string) error {
	var objs []client.Object
	recorded := map[string]bool{s.ro.Status.Canary.CurrentExperiment: true}
	for _, rec := range runRecords(&s.ro.Status) {
		if rec != nil {
			recorded[rec.Name] = true
		}
	}
	if s.runs != nil {
		for _, run := range s.runs.owned {
			objs = append(objs, run)
		}
	}
	if s.exps != nil {
		for _, ex := range s.exps.owned {
			objs = append(objs, ex)
		}
	}
	for _, o := range objs {
		if o.GetLabels()[v1alpha1.PodTemplateHashLabel] != hash || recorded[o.GetName()] || o.GetDeletionTimestamp() != nil {
			continue
		}
		if err := r.Client.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting %s of pruned ReplicaSet (hash %s): %w", o.GetName(), hash, err)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s && s != "" {
			return true
		}
	}
	return false
}

// notCopied are the Rollout annotations a new ReplicaSet does not inherit (Argo's list).
var notCopied = map[string]bool{
	corev1.LastAppliedConfigAnnotation:   true,
	v1alpha1.RevisionAnnotation:          true,
	v1alpha1.RevisionHistoryAnnotation:   true,
	v1alpha1.DesiredReplicasAnnotation:   true,
	"notified.notifications.argoproj.io": true,
}

// newReplicaSetAnnotations are a new ReplicaSet's annotations, as Argo writes them: the
// Rollout's own (but those above), its revision and the Rollout's spec.replicas.
func newReplicaSetAnnotations(ro *v1alpha1.Rollout, rev int64) map[string]string {
	out := map[string]string{}
	for k, v := range ro.Annotations {
		if !notCopied[k] {
			out[k] = v
		}
	}
	out[v1alpha1.RevisionAnnotation] = strconv.FormatInt(rev, 10)
	out[v1alpha1.DesiredReplicasAnnotation] = strconv.Itoa(int(ro.Spec.EffectiveReplicas()))
	return out
}

// rsOwnerIndex indexes ReplicaSets by the UID of the Rollout that controls them.
const rsOwnerIndex = "metadata.controller.rollout"

func indexRSOwner(o client.Object) []string {
	if ref := metav1.GetControllerOf(o); ref != nil && ref.Kind == "Rollout" {
		return []string{string(ref.UID)}
	}
	return nil
}
