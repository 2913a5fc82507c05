package rollout

import (
	"context"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// errWorkload is a problem with spec.workloadRef the user has to fix.
type errWorkload struct{ msg string }

func (e errWorkload) Error() string { return e.msg }

// resolveWorkload sets s.template and s.selector: the rollout's own, or those of the workload
// spec.workloadRef names (a Deployment, ReplicaSet or PodTemplate in the rollout's namespace).
func (r *Reconciler) resolveWorkload(ctx context.Context, s *syncState) error {
	ro := s.ro
	s.selector = ro.Spec.Selector
	ref := ro.Spec.WorkloadRef
	if ref == nil {
		s.template = ro.Spec.Template.DeepCopy()
		ro.Status.WorkloadObservedGeneration = ""
		return nil
	}
	key := client.ObjectKey{Namespace: ro.Namespace, Name: ref.Name}
	var (
		obj      client.Object
		template *corev1.PodTemplateSpec
		selector *metav1.LabelSelector
	)
	switch ref.Kind {
	case "Deployment":
		d := &appsv1.Deployment{}
		obj, template, selector = d, &d.Spec.Template, d.Spec.Selector
		s.workload = d
	case "ReplicaSet":
		// not in the cache, which holds only the ReplicaSets rollouts manage
		rs := &appsv1.ReplicaSet{}
		if err := r.APIReader.Get(ctx, key, rs); err != nil {
			return workloadErr(ref, err)
		}
		s.template, s.selector = rs.Spec.Template.DeepCopy(), firstSelector(ro.Spec.Selector, rs.Spec.Selector)
		return r.observeWorkloadGeneration(ctx, s, rs.Generation)
	case "PodTemplate":
		pt := &corev1.PodTemplate{}
		obj, template = pt, &pt.Template
	default:
		return errWorkload{fmt.Sprintf("spec.workloadRef.kind: %q is not supported (Deployment, ReplicaSet or PodTemplate)", ref.Kind)}
	}
	if err := r.Client.Get(ctx, key, obj); err != nil {
		return workloadErr(ref, err)
	}
	s.template = template.DeepCopy()
	if selector == nil && ro.Spec.Selector == nil {
		selector = &metav1.LabelSelector{MatchLabels: template.Labels}
	}
	s.selector = firstSelector(ro.Spec.Selector, selector)
	return r.observeWorkloadGeneration(ctx, s, obj.GetGeneration())
}

// observeWorkloadGeneration records the generation of the workload a rollout references, as
// Argo does and Argo CD's health check reads it: in the Rollout's annotation
// rollout.argoproj.io/workload-generation (patched when it changes) and, once observed, in
// status.workloadObservedGeneration.
func (r *Reconciler) observeWorkloadGeneration(ctx context.Context, s *syncState, generation int64) error {
	gen := strconv.FormatInt(generation, 10)
	if _, err := r.annotate(ctx, s, v1alpha1.WorkloadGenerationAnnotation, gen); err != nil {
		return err
	}
	s.ro.Status.WorkloadObservedGeneration = gen
	return nil
}

func workloadErr(ref *v1alpha1.ObjectRef, err error) error {
	if apierrors.IsNotFound(err) {
		return errWorkload{fmt.Sprintf("spec.workloadRef: %s %q not found", ref.Kind, ref.Name)}
	}
	return fmt.Errorf("reading workload %s %s: %w", ref.Kind, ref.Name, err)
}

func firstSelector(a, b *metav1.LabelSelector) *metav1.LabelSelector {
	if a != nil {
		return a
	}
	return b
}

// scaleDownWorkload scales a referenced Deployment down while a rollout takes over from it, as
// spec.workloadRef.scaleDown asks: never; onsuccess, to 0 once the rollout is healthy;
// progressively, by as many pods as the new ReplicaSet has available. The migration ends when
// the Deployment reaches 0: later updates of its template never scale it up again. A rollout
// aborted during the migration gives the Deployment its pods back.
func (r *Reconciler) scaleDownWorkload(ctx context.Context, s *syncState) error {
	d, ok := s.workload.(*appsv1.Deployment)
	if !ok || d == nil {
		return nil
	}
	ro := s.ro
	current := ptr.Deref(d.Spec.Replicas, 1)
	mode := ro.Spec.WorkloadRef.EffectiveScaleDown()
	if current == 0 || mode == v1alpha1.ScaleDownNever {
		return nil
	}
	replicas := ro.Spec.EffectiveReplicas()
	want := current
	switch {
	case ro.Status.Abort:
		want = max(current, replicas)
	case ro.Status.Phase == v1alpha1.RolloutPhaseHealthy:
		want = 0
	case mode == v1alpha1.ScaleDownProgressively:
		want = min(current, max(replicas-s.newRS.Status.AvailableReplicas, 0))
	}
	if ptr.Deref(d.Spec.Replicas, 1) == want {
		return nil
	}
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Replicas = ptr.To(want)
	if err := r.Client.Patch(ctx, d, patch); err != nil {
		return fmt.Errorf("scaling Deployment %s: %w", d.Name, err)
	}
	// announced at once: the scale happened even if this reconcile's status write retries
	r.Recorder.Eventf(ro, corev1.EventTypeNormal, "ScalingDeployment", "Scaled Deployment %s from %d to %d (workloadRef.scaleDown: %s)",
		d.Name, current, want, mode)
	return nil
}
