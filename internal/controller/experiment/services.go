package experiment

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vanedev/vane/api/v1alpha1"
)

// newService builds (without creating) a template's Service as Argo does: named as the
// template's service asks (the ReplicaSet's name by default), selecting the ReplicaSet's
// labels (so its pod-template hash), one port per container port, annotated with the
// experiment and template names, controlled by the experiment. It is nil when the pods have
// no port.
func newService(ex *v1alpha1.Experiment, t *v1alpha1.TemplateSpec, rs *appsv1.ReplicaSet) *corev1.Service {
	var ports []corev1.ServicePort
	for _, c := range rs.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			ports = append(ports, corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, Port: p.ContainerPort,
				TargetPort: intstr.FromInt32(p.ContainerPort)})
		}
	}
	if len(ports) == 0 {
		return nil
	}
	name := rs.Name
	if t.Service != nil && t.Service.Name != "" {
		name = t.Service.Name
	}
	selector := map[string]string{}
	for k, v := range rs.Labels {
		selector[k] = v
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       ex.Namespace,
			Annotations:     map[string]string{annotationExperiment: ex.Name, annotationTemplate: t.Name},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ex, experimentKind)},
		},
		Spec: corev1.ServiceSpec{Selector: selector, Ports: ports},
	}
}

// ownedServices returns the experiment's Services by template name (only templates the spec
// still has).
func (r *Reconciler) ownedServices(ctx context.Context, ex *v1alpha1.Experiment) (map[string]*corev1.Service, error) {
	var list corev1.ServiceList
	if err := r.Client.List(ctx, &list, client.InNamespace(ex.Namespace)); err != nil {
		return nil, fmt.Errorf("listing Services: %w", err)
	}
	out := map[string]*corev1.Service{}
	for i := range list.Items {
		svc := &list.Items[i]
		name, ok := owns(ex, svc)
		if !ok || svc.DeletionTimestamp != nil {
			continue
		}
		if _, dup := out[name]; dup {
			return nil, errDuplicate("Services", name)
		}
		if templateDefined(ex, name) {
			out[name] = svc
		}
	}
	return out, nil
}

// syncService keeps a template's Service: there while the template is to run pods (when it asks
// for one), deleted once its ReplicaSet has no available pod left, or when it asks for none.
func (r *Reconciler) syncService(ctx context.Context, s *syncState, t *v1alpha1.TemplateSpec, ts *v1alpha1.TemplateStatus,
	rs *appsv1.ReplicaSet, desired int32) error {
	switch {
	case t.Service != nil && desired != 0:
		return r.ensureService(ctx, s, t, ts, rs)
	case t.Service != nil && rs.Status.AvailableReplicas != 0:
		return nil
	}
	if svc := s.services[t.Name]; svc != nil {
		if err := r.Client.Delete(ctx, svc, client.Preconditions{UID: &svc.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting Service %s: %w", svc.Name, err)
		}
		log.FromContext(ctx).Info("deleted Service", "service", svc.Name, "template", t.Name)
		delete(s.services, t.Name)
	}
	// also when it is gone already (a reconcile deleted it and lost its status write)
	ts.ServiceName, ts.PodTemplateHash = "", ""
	return nil
}

// ensureService creates the template's Service when it is missing, and records its name and
// the pod-template hash it selects. A Service of that name that is not the template's makes
// the template Error.
func (r *Reconciler) ensureService(ctx context.Context, s *syncState, t *v1alpha1.TemplateSpec, ts *v1alpha1.TemplateStatus, rs *appsv1.ReplicaSet) error {
	want := newService(s.ex, t, rs)
	if want == nil {
		return nil
	}
	hash := rs.Labels[v1alpha1.PodTemplateHashLabel]
	if svc := s.services[t.Name]; svc != nil {
		ts.ServiceName, ts.PodTemplateHash = svc.Name, hash
		return nil
	}
	err := r.Client.Create(ctx, want)
	if apierrors.IsAlreadyExists(err) {
		existing := &corev1.Service{}
		if err = r.APIReader.Get(ctx, client.ObjectKeyFromObject(want), existing); err != nil {
			return fmt.Errorf("reading existing Service %s: %w", want.Name, err)
		}
		if name, ok := owns(s.ex, existing); !ok || name != t.Name {
			err = errSpec{fmt.Errorf(fmtSvcNotOwned, want.Name, t.Name)}
		}
		want = existing
	} else if err == nil {
		log.FromContext(ctx).Info("created Service", "service", want.Name, "template", t.Name)
	}
	if err != nil {
		var spec errSpec
		if !errors.As(specError(err), &spec) {
			return fmt.Errorf("creating Service %s: %w", want.Name, err)
		}
		ts.Status, ts.Message = v1alpha1.TemplateStatusError, sprintf(fmtCreateSvcFailed, want.Name, t.Name, spec.err)
		return nil
	}
	s.services[t.Name] = want
	ts.ServiceName, ts.PodTemplateHash = want.Name, hash
	return nil
}
