package rollout

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// checkServices makes sure the Services the canary strategy names exist.
func (r *Reconciler) checkServices(ctx context.Context, ro *v1alpha1.Rollout) error {
	c := ro.Spec.Strategy.Canary
	for field, name := range map[string]string{"canaryService": c.CanaryService, "stableService": c.StableService} {
		if name == "" {
			continue
		}
		var svc corev1.Service
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: name}, &svc)
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("spec.strategy.canary.%s: Service %q not found in namespace %q", field, name, ro.Namespace)
		}
		if err != nil {
			return fmt.Errorf("reading Service %s: %w", name, err)
		}
	}
	return nil
}

// syncServices points the canary Service at the new pods and the stable Service at the stable
// ones, and releases Services the rollout managed but no longer names.
func (r *Reconciler) syncServices(ctx context.Context, ro *v1alpha1.Rollout, newHash, stableHash string) error {
	c := ro.Spec.Strategy.Canary
	want := map[string]string{}
	if c.CanaryService != "" {
		want[c.CanaryService] = newHash
	}
	if c.StableService != "" {
		want[c.StableService] = stableHash
	}
	var list corev1.ServiceList
	if err := r.Client.List(ctx, &list, client.InNamespace(ro.Namespace)); err != nil {
		return fmt.Errorf("listing Services: %w", err)
	}
	for i := range list.Items {
		svc := &list.Items[i]
		hash, named := want[svc.Name]
		managed := svc.Annotations[v1alpha1.ManagedByRolloutsAnnotation] == ro.Name
		switch {
		case named:
			if err := r.patchService(ctx, svc, ro.Name, hash); err != nil {
				return err
			}
		case managed:
			if err := r.patchService(ctx, svc, "", ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// patchService sets (or, with an empty owner, removes) the hash selector and the managed-by
// annotation.
func (r *Reconciler) patchService(ctx context.Context, svc *corev1.Service, owner, hash string) error {
	if owner != "" && svc.Spec.Selector[v1alpha1.PodTemplateHashLabel] == hash &&
		svc.Annotations[v1alpha1.ManagedByRolloutsAnnotation] == owner {
		return nil
	}
	patch := client.MergeFrom(svc.DeepCopy())
	if owner == "" {
		delete(svc.Spec.Selector, v1alpha1.PodTemplateHashLabel)
		delete(svc.Annotations, v1alpha1.ManagedByRolloutsAnnotation)
	} else {
		if svc.Spec.Selector == nil {
			svc.Spec.Selector = map[string]string{}
		}
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		svc.Spec.Selector[v1alpha1.PodTemplateHashLabel] = hash
		svc.Annotations[v1alpha1.ManagedByRolloutsAnnotation] = owner
	}
	if err := r.Client.Patch(ctx, svc, patch); err != nil {
		return fmt.Errorf("updating Service %s: %w", svc.Name, err)
	}
	return nil
}
