package rollout

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// namedService is a Service field of the rollout's strategy.
type namedService struct {
	field, name string
}

// namedServices lists the Services the rollout's strategy names (those set).
func namedServices(ro *v1alpha1.Rollout) []namedService {
	var out []namedService
	add := func(field, name string) {
		if name != "" {
			out = append(out, namedService{field, name})
		}
	}
	switch s := ro.Spec.Strategy; {
	case s.BlueGreen != nil:
		add("spec.strategy.blueGreen.activeService", s.BlueGreen.ActiveService)
		add("spec.strategy.blueGreen.previewService", s.BlueGreen.PreviewService)
	case s.Canary != nil:
		add("spec.strategy.canary.canaryService", s.Canary.CanaryService)
		add("spec.strategy.canary.stableService", s.Canary.StableService)
	}
	return out
}

// checkServices makes sure the Services the strategy names exist and are not managed by another
// rollout (one that still exists), and returns them by name.
func (r *Reconciler) checkServices(ctx context.Context, ro *v1alpha1.Rollout) (map[string]*corev1.Service, error) {
	out := map[string]*corev1.Service{}
	for _, n := range namedServices(ro) {
		svc := &corev1.Service{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: n.name}, svc)
		if apierrors.IsNotFound(err) {
			return nil, errInvalid{fmt.Sprintf("%s: Service %q not found in namespace %q", n.field, n.name, ro.Namespace)}
		}
		if err != nil {
			return nil, fmt.Errorf("reading Service %s: %w", n.name, err)
		}
		if owner := svc.Annotations[v1alpha1.ManagedByRolloutsAnnotation]; owner != "" && owner != ro.Name {
			// taken over only from a rollout that is gone
			err := r.Client.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: owner}, &v1alpha1.Rollout{})
			if err == nil {
				return nil, errInvalid{fmt.Sprintf("%s: Service %q is managed by rollout %q", n.field, n.name, owner)}
			}
			if !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("reading rollout %s: %w", owner, err)
			}
		}
		out[n.name] = svc
	}
	return out, nil
}

// serviceRecheck is how often a rollout whose Services are not usable looks at them again.
const serviceRecheck = 10 * time.Second

// errInvalid is a problem with the rollout's spec or its Services that the user has to fix.
type errInvalid struct{ msg string }

func (e errInvalid) Error() string { return e.msg }

// serviceSwitch is a Service whose hash selector changed.
type serviceSwitch struct {
	name, from, to string
}

// syncServices makes each Service named in want select the pods of the hash it maps to (an
// empty hash leaves that Service as it is), and releases the Services the rollout managed but
// no longer names. It returns the selectors it changed.
func (r *Reconciler) syncServices(ctx context.Context, ro *v1alpha1.Rollout, want map[string]string) ([]serviceSwitch, error) {
	var list corev1.ServiceList
	if err := r.Client.List(ctx, &list, client.InNamespace(ro.Namespace)); err != nil {
		return nil, fmt.Errorf("listing Services: %w", err)
	}
	var switched []serviceSwitch
	for i := range list.Items {
		svc := &list.Items[i]
		hash, named := want[svc.Name]
		managed := svc.Annotations[v1alpha1.ManagedByRolloutsAnnotation] == ro.Name
		from := svc.Spec.Selector[v1alpha1.PodTemplateHashLabel]
		switch {
		case named && hash == "":
		case named:
			if err := r.patchService(ctx, svc, ro.Name, hash); err != nil {
				return switched, err
			}
			if from != hash {
				switched = append(switched, serviceSwitch{svc.Name, from, hash})
			}
		case managed:
			if err := r.patchService(ctx, svc, "", ""); err != nil {
				return switched, err
			}
		}
	}
	return switched, nil
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
