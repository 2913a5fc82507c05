package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
)

// namedService is a Service field of the rollout's strategy.
type namedService struct {
	field, name string
}

// namedServices lists the Services the rollout's strategy names (those set), in the order Argo
// checks them (getReferencedServices).
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
		add("spec.strategy.canary.stableService", s.Canary.StableService)
		add("spec.strategy.canary.canaryService", s.Canary.CanaryService)
		if pp := s.Canary.PingPong; pp != nil {
			add("spec.strategy.canary.pingPong.pingService", pp.PingService)
			add("spec.strategy.canary.pingPong.pongService", pp.PongService)
		}
	}
	return out
}

// checkServices makes sure the Services the strategy names exist and are not managed by another
// rollout (one that still exists), and returns them by name. Its errInvalid texts are Argo's
// (rollout/controller.go getReferencedService, validation ValidateService): `<field>: Invalid
// value: "<name>": service "<name>" not found` and `...: Service "<name>" is managed by another
// Rollout`.
func (r *Reconciler) checkServices(ctx context.Context, ro *v1alpha1.Rollout) (map[string]*corev1.Service, error) {
	out := map[string]*corev1.Service{}
	for _, n := range namedServices(ro) {
		svc := &corev1.Service{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: n.name}, svc)
		if apierrors.IsNotFound(err) {
			notFound := apierrors.NewNotFound(corev1.Resource("service"), n.name)
			return nil, errInvalid{field.Invalid(n.path(), n.name, notFound.Error()).Error()}
		}
		if err != nil {
			return nil, fmt.Errorf("reading Service %s: %w", n.name, err)
		}
		if owner := svc.Annotations[v1alpha1.ManagedByRolloutsAnnotation]; owner != "" && owner != ro.Name {
			// taken over only from a rollout that is gone
			err := r.Client.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: owner}, &v1alpha1.Rollout{})
			if err == nil {
				return nil, errInvalid{field.Invalid(n.path(), n.name, fmt.Sprintf("Service %q is managed by another Rollout", n.name)).Error()}
			}
			if !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("reading rollout %s: %w", owner, err)
			}
		}
		out[n.name] = svc
	}
	return out, nil
}

// path is the field of the Service name.
func (n namedService) path() *field.Path {
	parts := strings.Split(n.field, ".")
	return field.NewPath(parts[0], parts[1:]...)
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
// no longer names. It returns the selectors it changed. Each Service it points at a hash gets
// Argo's event SwitchService, "Switched selector for service '<name>' from '<old hash>' to
// '<hash>'" (rollout/service.go switchServiceSelector), the first one it takes over too.
func (r *Reconciler) syncServices(ctx context.Context, ro *v1alpha1.Rollout, want map[string]string) ([]serviceSwitch, error) {
	services, err := r.serviceCandidates(ctx, ro, want)
	if err != nil {
		return nil, err
	}
	var switched []serviceSwitch
	for _, svc := range services {
		hash, named := want[svc.Name]
		managed := svc.Annotations[v1alpha1.ManagedByRolloutsAnnotation] == ro.Name
		from := svc.Spec.Selector[v1alpha1.PodTemplateHashLabel]
		switch {
		case named && hash == "":
		case named:
			patched, err := r.patchService(ctx, svc, ro.Name, hash)
			if err != nil {
				return switched, err
			}
			if patched {
				r.Recorder.Eventf(ro, corev1.EventTypeNormal, "SwitchService", "Switched selector for service '%s' from '%s' to '%s'",
					svc.Name, from, hash)
			}
			if from != hash {
				switched = append(switched, serviceSwitch{svc.Name, from, hash})
			}
		case managed:
			if _, err := r.patchService(ctx, svc, "", ""); err != nil {
				return switched, err
			}
		}
	}
	return switched, nil
}

// serviceCandidates are the Services syncServices looks at, by name: those named in want that
// exist and those the rollout manages (through the managed-by index, so that a reconcile reads
// its own Services and not every Service of the namespace).
func (r *Reconciler) serviceCandidates(ctx context.Context, ro *v1alpha1.Rollout, want map[string]string) ([]*corev1.Service, error) {
	var list corev1.ServiceList
	if err := r.Client.List(ctx, &list, client.InNamespace(ro.Namespace), client.MatchingFields{managedServiceIndex: ro.Name}); err != nil {
		return nil, fmt.Errorf("listing the rollout's Services: %w", err)
	}
	byName := make(map[string]*corev1.Service, len(list.Items)+len(want))
	for i := range list.Items {
		byName[list.Items[i].Name] = &list.Items[i]
	}
	for name := range want {
		if _, ok := byName[name]; ok {
			continue
		}
		svc := &corev1.Service{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: name}, svc)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("reading Service %s: %w", name, err)
		}
		byName[name] = svc
	}
	out := make([]*corev1.Service, 0, len(byName))
	for _, svc := range byName {
		out = append(out, svc)
	}
	slices.SortFunc(out, func(a, b *corev1.Service) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// managedServiceIndex indexes Services by the rollout named in their managed-by annotation.
const managedServiceIndex = "metadata.annotations.managed-by"

func indexManagedService(o client.Object) []string {
	if name := o.GetAnnotations()[v1alpha1.ManagedByRolloutsAnnotation]; name != "" {
		return []string{name}
	}
	return nil
}

// patchService sets (or, with an empty owner, removes) the hash selector and the managed-by
// annotation; it reports whether it had to.
func (r *Reconciler) patchService(ctx context.Context, svc *corev1.Service, owner, hash string) (bool, error) {
	if owner != "" && svc.Spec.Selector[v1alpha1.PodTemplateHashLabel] == hash &&
		svc.Annotations[v1alpha1.ManagedByRolloutsAnnotation] == owner {
		return false, nil
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
		return false, fmt.Errorf("updating Service %s: %w", svc.Name, err)
	}
	return true, nil
}

// invalidServices turns a Service problem the user has to fix into InvalidSpec, looked at again
// in serviceRecheck (a Service change is watched; a managed Service going away is not); other
// errors are retried.
func (s *syncState) invalidServices(err error) (reconcile.Result, error) {
	var inv errInvalid
	if errors.As(err, &inv) {
		s.invalid(inv.Error())
		return reconcile.Result{RequeueAfter: serviceRecheck}, nil
	}
	return reconcile.Result{}, err
}
