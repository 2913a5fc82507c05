package experiment

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/podhash"
)

// Annotations Argo Rollouts puts on an experiment's ReplicaSets and Services: they tie each to
// its experiment and template.
const (
	annotationExperiment = "experiment.argoproj.io/name"
	annotationTemplate   = "experiment.argoproj.io/template-name"
)

// experimentKind is the owner kind of what an experiment creates.
var experimentKind = v1alpha1.GroupVersion.WithKind("Experiment")

// newReplicaSet builds (without creating) the ReplicaSet of a template as Argo does: named
// <experiment>-<template>, at 0 replicas, its pod template's labels and its selector given the
// rollouts-pod-template-hash of the template (computed without that label, with the
// template's collision count), carrying the template's labels and the experiment and template
// names as annotations, controlled by the experiment.
func newReplicaSet(ex *v1alpha1.Experiment, t *v1alpha1.TemplateSpec, collisionCount *int32) *appsv1.ReplicaSet {
	tmpl := t.Template.DeepCopy()
	delete(tmpl.Labels, v1alpha1.PodTemplateHashLabel)
	hash := podhash.Template(tmpl, collisionCount)
	labels := maps.Clone(tmpl.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[v1alpha1.PodTemplateHashLabel] = hash
	tmpl.Labels = maps.Clone(labels)
	sel := t.Selector.DeepCopy()
	if sel == nil {
		sel = &metav1.LabelSelector{}
	}
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[v1alpha1.PodTemplateHashLabel] = hash
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ex.Name + "-" + t.Name,
			Namespace:       ex.Namespace,
			Labels:          labels,
			Annotations:     map[string]string{annotationExperiment: ex.Name, annotationTemplate: t.Name},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ex, experimentKind)},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        ptr.To[int32](0),
			MinReadySeconds: t.MinReadySeconds,
			Selector:        sel,
			Template:        *tmpl,
		},
	}
}

// ownedReplicaSets returns the experiment's ReplicaSets by template name (only templates the
// spec still has).
func (r *Reconciler) ownedReplicaSets(ctx context.Context, ex *v1alpha1.Experiment) (map[string]*appsv1.ReplicaSet, error) {
	var list appsv1.ReplicaSetList
	if err := r.Client.List(ctx, &list, client.InNamespace(ex.Namespace)); err != nil {
		return nil, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	out := map[string]*appsv1.ReplicaSet{}
	for i := range list.Items {
		rs := &list.Items[i]
		name, ok := owns(ex, rs)
		if !ok || rs.DeletionTimestamp != nil {
			continue
		}
		if _, dup := out[name]; dup {
			return nil, errDuplicate("ReplicaSets", name)
		}
		if templateDefined(ex, name) {
			out[name] = rs
		}
	}
	return out, nil
}

// errSpec is a failure the user has to fix (a name taken by someone else's object, a request
// the API server refuses): the template or analysis reports it in the Error status instead of
// being retried.
type errSpec struct{ err error }

func (e errSpec) Error() string { return e.err.Error() }
func (e errSpec) Unwrap() error { return e.err }

// specError wraps err as errSpec unless the API server failed us (then it is retried).
func specError(err error) error {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || apierrors.IsNotFound(err) || apierrors.IsInvalid(err) || apierrors.IsForbidden(err) ||
		apierrors.IsBadRequest(err) || apierrors.IsAlreadyExists(err) {
		return errSpec{err}
	}
	return err
}

// createReplicaSet creates the template's ReplicaSet at 0 replicas (the next reconcile scales
// it, as Argo's does). One created by an earlier reconcile the cache has not seen yet is taken
// over; a ReplicaSet of that name that is not the template's is an errSpec.
func (r *Reconciler) createReplicaSet(ctx context.Context, s *syncState, t *v1alpha1.TemplateSpec, collisionCount *int32) (*appsv1.ReplicaSet, error) {
	rs := newReplicaSet(s.ex, t, collisionCount)
	err := r.Client.Create(ctx, rs)
	if apierrors.IsAlreadyExists(err) {
		existing := &appsv1.ReplicaSet{}
		if getErr := r.APIReader.Get(ctx, client.ObjectKeyFromObject(rs), existing); getErr != nil {
			return nil, fmt.Errorf("reading existing ReplicaSet %s: %w", rs.Name, getErr)
		}
		if name, ok := owns(s.ex, existing); ok && name == t.Name && sameTemplate(&existing.Spec.Template, &rs.Spec.Template) {
			return existing, nil
		}
		return nil, errSpec{err}
	}
	if err != nil {
		if err = specError(err); errors.As(err, new(errSpec)) {
			r.Recorder.Eventf(s.ex, corev1.EventTypeNormal, reasonRSCreateError, fmtCreateRSEvent, rs.Name, err)
			return nil, err
		}
		return nil, fmt.Errorf("creating ReplicaSet %s: %w", rs.Name, err)
	}
	log.FromContext(ctx).Info("created ReplicaSet", "replicaSet", rs.Name, "template", t.Name)
	return rs, nil
}

// sameTemplate compares pod templates without their rollouts-pod-template-hash labels.
func sameTemplate(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, v1alpha1.PodTemplateHashLabel)
	delete(b.Labels, v1alpha1.PodTemplateHashLabel)
	return equality.Semantic.DeepEqual(a, b)
}

// markScaleDown gives a ReplicaSet about to be scaled to zero its scale-down-deadline
// annotation, now + scaleDownDelaySeconds (30 by default), unless it has one; with a delay of
// 0 it takes the annotation off instead. It reports whether it set a deadline.
func (r *Reconciler) markScaleDown(ctx context.Context, s *syncState, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, bool, error) {
	delay := s.ex.Spec.EffectiveScaleDownDelaySeconds()
	_, has := rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotation]
	if has == (delay != 0) {
		return rs, false, nil
	}
	rs = rs.DeepCopy()
	patch := client.MergeFrom(rs.DeepCopy())
	if delay == 0 {
		delete(rs.Annotations, v1alpha1.ScaleDownDeadlineAnnotation)
	} else {
		if rs.Annotations == nil {
			rs.Annotations = map[string]string{}
		}
		at := s.now.Add(time.Duration(delay) * time.Second).UTC().Format(time.RFC3339)
		rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotation] = at
	}
	if err := r.Client.Patch(ctx, rs, patch); err != nil {
		return nil, false, fmt.Errorf("setting the scale-down deadline of ReplicaSet %s: %w", rs.Name, err)
	}
	return rs, delay != 0, nil
}

// scaleDownAt reads a ReplicaSet's scale-down deadline (ok false when it has none, or one that
// does not parse: it is then scaled down at once, as Argo does).
func scaleDownAt(rs *appsv1.ReplicaSet) (time.Time, bool) {
	v, ok := rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotation]
	if !ok {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339, v)
	return at, err == nil
}

// scale sets a ReplicaSet's replicas (with an optimistic lock: a decision taken on a stale
// ReplicaSet is not applied) and announces it, as Argo does: "Scaled up ReplicaSet x from 0 to 1".
func (r *Reconciler) scale(ctx context.Context, ex *v1alpha1.Experiment, rs *appsv1.ReplicaSet, n int32) (*appsv1.ReplicaSet, error) {
	from := ptr.Deref(rs.Spec.Replicas, 1)
	if from == n {
		return rs, nil
	}
	rs = rs.DeepCopy()
	patch := client.MergeFromWithOptions(rs.DeepCopy(), client.MergeFromWithOptimisticLock{})
	rs.Spec.Replicas = ptr.To(n)
	if err := r.Client.Patch(ctx, rs, patch); err != nil {
		return nil, fmt.Errorf("scaling ReplicaSet %s: %w", rs.Name, err)
	}
	dir := "up"
	if n < from {
		dir = "down"
	}
	r.Recorder.Eventf(ex, corev1.EventTypeNormal, reasonScaling, fmtScaled, dir, rs.Name, from, n)
	return rs, nil
}
