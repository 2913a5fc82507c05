package main

import (
	"bufio"
	"bytes"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Names and ports of the install.
const (
	controllerName = "vane-controller"
	metricsPort    = 8090
	healthPort     = 8091
	webhookPort    = 9443
	// catReader is the one cluster-wide permission of the namespaced install: the controller's
	// cache watches ClusterAnalysisTemplates, which are cluster-scoped.
	catReader = "vane-clusteranalysistemplates-reader"
)

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

// selector is the label the Deployment's pods carry (config/manager's, immutable once
// applied, so kept as it is).
func selector() map[string]string { return map[string]string{"app.kubernetes.io/name": controllerName} }

func (in *install) labels(component string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      controllerName,
		"app.kubernetes.io/part-of":   "vane",
		"app.kubernetes.io/component": component,
	}
}

func (in *install) meta(name, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: in.namespace, Labels: in.labels(component)}
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

// objects are the install's objects after the CRDs, in apply order.
func (in *install) objects(namespaced bool) ([]any, error) {
	ns := in.nsObject.DeepCopy()
	ns.Name = in.namespace
	ns.TypeMeta = typeMeta("v1", "Namespace")
	// the controller's pods meet the "restricted" Pod Security Standard: enforce it, and warn
	// when a Deployment's template falls short (enforce checks only pods)
	ns.Labels = map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted",
		"app.kubernetes.io/part-of": "vane"}
	sa := &corev1.ServiceAccount{TypeMeta: typeMeta("v1", "ServiceAccount"), ObjectMeta: in.meta(controllerName, "controller")}
	out := []any{ns, sa}
	if namespaced {
		// the namespace is the team's, where its Rollouts and their pods run: it exists
		// already and its labels (Pod Security) are the team's, not the install's
		out = []any{sa}
	}
	out = append(out, in.rbac(namespaced)...)
	dep, err := in.deployment(namespaced)
	if err != nil {
		return nil, err
	}
	out = append(out, in.metricsService(), dep, in.pdb(), in.networkPolicy())
	return append(out, in.webhookObjects(namespaced)...), nil
}

// rbac is the ClusterRole and its binding, or namespaced the same rules in a Role with a
// RoleBinding plus the ClusterAnalysisTemplate reader.
func (in *install) rbac(namespaced bool) []any {
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: controllerName, Namespace: in.namespace}}
	if !namespaced {
		cr := &rbacv1.ClusterRole{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "ClusterRole"),
			ObjectMeta: metav1.ObjectMeta{Name: controllerName, Labels: in.labels("controller")}, Rules: in.rules}
		crb := &rbacv1.ClusterRoleBinding{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
			ObjectMeta: metav1.ObjectMeta{Name: controllerName, Labels: in.labels("controller")},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: controllerName},
			Subjects:   subject}
		return []any{cr, crb}
	}
	var rules []rbacv1.PolicyRule
	for _, r := range in.rules {
		if rest := without(r.Resources, "clusteranalysistemplates"); len(rest) > 0 {
			r.Resources = rest
			rules = append(rules, r)
		}
	}
	role := &rbacv1.Role{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "Role"), ObjectMeta: in.meta(controllerName, "controller"), Rules: rules}
	rb := &rbacv1.RoleBinding{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "RoleBinding"), ObjectMeta: in.meta(controllerName, "controller"),
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: controllerName}, Subjects: subject}
	cr := &rbacv1.ClusterRole{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "ClusterRole"),
		ObjectMeta: metav1.ObjectMeta{Name: catReader, Labels: in.labels("controller")},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"argoproj.io"}, Resources: []string{"clusteranalysistemplates"},
			Verbs: []string{"get", "list", "watch"}}}}
	crb := &rbacv1.ClusterRoleBinding{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
		ObjectMeta: metav1.ObjectMeta{Name: controllerName + "-" + in.namespace, Labels: in.labels("controller")},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: catReader}, Subjects: subject}
	return []any{role, rb, cr, crb}
}

func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

// deployment is config/manager's Deployment with the image, the namespace's flags, and a
// pod security context meeting the restricted Pod Security Standard.
func (in *install) deployment(namespaced bool) (*appsv1.Deployment, error) {
	d := in.manager.DeepCopy()
	d.TypeMeta = typeMeta("apps/v1", "Deployment")
	d.Namespace = in.namespace
	d.Labels = in.labels("controller")
	if len(d.Spec.Template.Spec.Containers) != 1 {
		return nil, fmt.Errorf("config/manager: want one container, found %d", len(d.Spec.Template.Spec.Containers))
	}
	c := &d.Spec.Template.Spec.Containers[0]
	c.Image = in.image
	c.Args = append(controllerArgs(in.namespace, namespaced), in.webhookArgs(namespaced)...)
	c.Ports = []corev1.ContainerPort{
		{Name: "metrics", ContainerPort: metricsPort, Protocol: corev1.ProtocolTCP},
		{Name: "health", ContainerPort: healthPort, Protocol: corev1.ProtocolTCP},
		{Name: "webhook", ContainerPort: webhookPort, Protocol: corev1.ProtocolTCP},
	}
	d.Spec.Template.Labels = mergeLabels(d.Spec.Template.Labels, in.labels("controller"))
	d.Spec.Template.Spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](65532),
		RunAsGroup:     ptr.To[int64](65532),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	return d, nil
}

// controllerArgs are the Deployment's arguments: leader election in its own namespace,
// endpoints on every interface of the pod, and namespaced -n NAMESPACE.
func controllerArgs(namespace string, namespaced bool) []string {
	args := []string{"controller", "--leader-elect", "--leader-election-namespace=" + namespace,
		fmt.Sprintf("--metrics-bind-address=:%d", metricsPort), fmt.Sprintf("--health-probe-bind-address=:%d", healthPort)}
	if namespaced {
		args = append(args, "--namespace="+namespace)
	}
	return args
}

func mergeLabels(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range []map[string]string{a, b} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func (in *install) metricsService() *corev1.Service {
	return &corev1.Service{TypeMeta: typeMeta("v1", "Service"), ObjectMeta: in.meta(controllerName+"-metrics", "metrics"),
		Spec: corev1.ServiceSpec{Selector: selector(), Ports: []corev1.ServicePort{{
			Name: "metrics", Port: metricsPort, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP}}}}
}

// pdb keeps one replica during voluntary disruptions (drains): with leader election the
// standby takes over at once.
func (in *install) pdb() *policyv1.PodDisruptionBudget {
	one := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{TypeMeta: typeMeta("policy/v1", "PodDisruptionBudget"), ObjectMeta: in.meta(controllerName, "controller"),
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: selector()}}}
}

// networkPolicy lets in only the metrics and webhook ports; the health port is for the
// kubelet, which network policies do not filter. Egress (API server, metric providers) is
// left open.
func (in *install) networkPolicy() *networkingv1.NetworkPolicy {
	tcp := corev1.ProtocolTCP
	port := func(p int32) networkingv1.NetworkPolicyPort {
		v := intstr.FromInt32(p)
		return networkingv1.NetworkPolicyPort{Protocol: &tcp, Port: &v}
	}
	return &networkingv1.NetworkPolicy{TypeMeta: typeMeta("networking.k8s.io/v1", "NetworkPolicy"), ObjectMeta: in.meta(controllerName, "controller"),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: selector()},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{port(metricsPort), port(webhookPort)}}},
		}}
}
