package canary

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// sidecars are containers whose ports port discovery skips.
var sidecars = map[string]bool{"istio-proxy": true, "envoy": true}

// discoveredPorts are the target's container ports other than the Service's own, named as
// Flagger names them (the port's name, else tcp-<container>-<index>).
func discoveredPorts(cd *flaggerv1.Canary, cs []corev1.Container) map[string]int32 {
	ports := map[string]int32{}
	tp := cd.Spec.Service.TargetPort
	for _, c := range cs {
		if sidecars[c.Name] {
			continue
		}
		for i, p := range c.Ports {
			switch {
			case tp == nil || tp.String() == "0":
				if p.ContainerPort == cd.Spec.Service.Port {
					continue
				}
			case tp.Type == intstr.Int && p.ContainerPort == tp.IntVal,
				tp.Type == intstr.String && p.Name == tp.StrVal:
				continue
			}
			name := fmt.Sprintf("tcp-%s-%v", c.Name, i)
			if p.Name != "" {
				name = p.Name
			}
			ports[name] = p.ContainerPort
		}
	}
	return ports
}

// serviceSpec is the ClusterIP Service Flagger makes for pods labelled label=value.
func serviceSpec(cd *flaggerv1.Canary, label, value string, extra map[string]int32) corev1.ServiceSpec {
	s := cd.Spec.Service
	name := s.PortName
	if name == "" {
		name = "http"
	}
	target := intstr.FromInt32(s.Port)
	if s.TargetPort != nil && s.TargetPort.String() != "0" {
		target = *s.TargetPort
	}
	port := corev1.ServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: s.Port, TargetPort: target}
	if s.AppProtocol != "" {
		port.AppProtocol = &s.AppProtocol
	}
	spec := corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{label: value},
		Ports: []corev1.ServicePort{port}}
	names := make([]string, 0, len(extra))
	for n := range extra {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		spec.Ports = append(spec.Ports, corev1.ServicePort{Name: n, Protocol: corev1.ProtocolTCP, Port: extra[n],
			TargetPort: intstr.FromInt32(extra[n])})
	}
	return spec
}

// reconcileService creates or updates a Service: its ports and selector always, its labels and
// annotations (spec.service.apex/primary/canary) when the Canary owns it.
func (r *Reconciler) reconcileService(ctx context.Context, cd *flaggerv1.Canary, w *workload, name, value string, md *flaggerv1.CustomMetadata) error {
	want := serviceSpec(cd, w.label, value, w.ports)
	labels, annotations := map[string]string{}, map[string]string{}
	if md != nil {
		for k, v := range md.Labels {
			labels[k] = v
		}
		annotations = filterToolkit(md.Annotations)
	}
	labels[w.label] = name
	var svc corev1.Service
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: cd.Namespace, Name: name}, &svc)
	if apierrors.IsNotFound(err) {
		svc = corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cd.Namespace, Labels: labels,
			Annotations: annotations, OwnerReferences: []metav1.OwnerReference{ownerRef(cd)}}, Spec: want}
		if err := r.Client.Create(ctx, &svc); err != nil {
			return fmt.Errorf("service %s.%s create error: %w", name, cd.Namespace, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("service %s get query error: %w", name, err)
	}
	return r.updateService(ctx, cd, &svc, want, labels, annotations)
}

func (r *Reconciler) updateService(ctx context.Context, cd *flaggerv1.Canary, svc *corev1.Service, want corev1.ServiceSpec,
	labels, annotations map[string]string) error {
	for i := range want.Ports {
		for _, have := range svc.Spec.Ports {
			if have.Name == want.Ports[i].Name && have.NodePort > 0 {
				want.Ports[i].NodePort = have.NodePort
			}
		}
	}
	next := svc.DeepCopy()
	if !samePorts(svc.Spec.Ports, want.Ports) || !equality.Semantic.DeepEqual(svc.Spec.Selector, want.Selector) {
		next.Spec.Ports, next.Spec.Selector = want.Ports, want.Selector
	}
	if owner := metav1.GetControllerOf(svc); owner != nil && owner.Kind == "Canary" && owner.Name == cd.Name {
		if len(annotations) > 0 || len(svc.Annotations) > 0 {
			next.Annotations = annotations
		}
		next.Labels = labels
	}
	if equality.Semantic.DeepEqual(svc, next) {
		return nil
	}
	next.Annotations = filterToolkit(next.Annotations)
	if err := r.Client.Patch(ctx, next, client.MergeFrom(svc)); err != nil {
		return fmt.Errorf("service %s update error: %w", svc.Name, err)
	}
	return nil
}

// samePorts compares ports regardless of order.
func samePorts(a, b []corev1.ServicePort) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(ps []corev1.ServicePort) []corev1.ServicePort {
		out := append([]corev1.ServicePort{}, ps...)
		sort.Slice(out, func(i, j int) bool { return out[i].Port < out[j].Port })
		return out
	}
	return equality.Semantic.DeepEqual(key(a), key(b))
}

// initServices makes the -primary and -canary Services (Flagger's Initialize).
func (r *Reconciler) initServices(ctx context.Context, cd *flaggerv1.Canary, w *workload) error {
	_, primary, canary := cd.ServiceNames()
	if err := r.reconcileService(ctx, cd, w, canary, w.value, cd.Spec.Service.Canary); err != nil {
		return fmt.Errorf("reconcileService failed: %w", err)
	}
	if err := r.reconcileService(ctx, cd, w, primary, w.primaryValue(), cd.Spec.Service.Primary); err != nil {
		return fmt.Errorf("reconcileService failed: %w", err)
	}
	return nil
}

// apexService points the apex Service at the primary's pods.
func (r *Reconciler) apexService(ctx context.Context, cd *flaggerv1.Canary, w *workload) error {
	apex, _, _ := cd.ServiceNames()
	if err := r.reconcileService(ctx, cd, w, apex, w.primaryValue(), cd.Spec.Service.Apex); err != nil {
		return fmt.Errorf("reconcileService failed: %w", err)
	}
	return nil
}
