package main

import (
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// The webhook's names (internal/webhook's defaults).
const (
	webhookService = "vane-webhook"
	webhookSecret  = "vane-webhook-tls"
	webhookConfig  = "vane-validating-webhook"
	// webhookName is what kubectl shows: admission webhook "validate.vane.dev" denied ...
	webhookName = "validate.vane.dev"
)

// webhookConfigName is the ValidatingWebhookConfiguration's name: one per namespaced install.
func (in *install) webhookConfigName(namespaced bool) string {
	if namespaced {
		return webhookConfig + "-" + in.namespace
	}
	return webhookConfig
}

// webhookArgs are the controller's webhook flags.
func (in *install) webhookArgs(namespaced bool) []string {
	args := []string{fmt.Sprintf("--webhook-bind-address=:%d", webhookPort), "--webhook-secret-namespace=" + in.namespace}
	if namespaced {
		args = append(args, "--webhook-configuration="+in.webhookConfigName(true))
	}
	return args
}

// webhookObjects are the webhook's Service, its RBAC (the Secret in the install's namespace,
// the one ValidatingWebhookConfiguration) and the configuration, failurePolicy Ignore: a
// controller outage never blocks deploys. Vane fills in the caBundle.
func (in *install) webhookObjects(namespaced bool) []any {
	cfgName := in.webhookConfigName(namespaced)
	svc := &corev1.Service{TypeMeta: typeMeta("v1", "Service"), ObjectMeta: in.meta(webhookService, "webhook"),
		Spec: corev1.ServiceSpec{Selector: selector(), Ports: []corev1.ServicePort{{
			Name: "webhook", Port: 443, TargetPort: intstr.FromString("webhook"), Protocol: corev1.ProtocolTCP}}}}
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: controllerName, Namespace: in.namespace}}
	role := &rbacv1.Role{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "Role"), ObjectMeta: in.meta(webhookService, "webhook"),
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{webhookSecret}, Verbs: []string{"get", "update"}},
		}}
	rb := &rbacv1.RoleBinding{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "RoleBinding"), ObjectMeta: in.meta(webhookService, "webhook"),
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: webhookService}, Subjects: subject}
	crMeta := metav1.ObjectMeta{Name: cfgName, Labels: in.labels("webhook")}
	cr := &rbacv1.ClusterRole{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "ClusterRole"), ObjectMeta: crMeta,
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"validatingwebhookconfigurations"},
			ResourceNames: []string{cfgName}, Verbs: []string{"get", "patch"}}}}
	crb := &rbacv1.ClusterRoleBinding{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"), ObjectMeta: crMeta,
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: cfgName}, Subjects: subject}
	return []any{svc, role, rb, cr, crb, in.webhookConfiguration(namespaced)}
}

// webhookConfiguration sends creates and updates of the five kinds to the webhook; a
// namespaced install's only those of its namespace (and the cluster-scoped
// ClusterAnalysisTemplates, which a namespace selector does not filter).
func (in *install) webhookConfiguration(namespaced bool) *admissionregistrationv1.ValidatingWebhookConfiguration {
	ignore := admissionregistrationv1.Ignore
	none := admissionregistrationv1.SideEffectClassNone
	equivalent := admissionregistrationv1.Equivalent
	all := admissionregistrationv1.AllScopes
	w := admissionregistrationv1.ValidatingWebhook{
		Name:                    webhookName,
		AdmissionReviewVersions: []string{"v1"},
		SideEffects:             &none,
		FailurePolicy:           &ignore,
		MatchPolicy:             &equivalent,
		TimeoutSeconds:          ptr.To[int32](5),
		ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
			Namespace: in.namespace, Name: webhookService, Path: ptr.To("/validate"), Port: ptr.To[int32](443)}},
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{"argoproj.io"}, APIVersions: []string{"v1alpha1"},
				Resources: []string{"rollouts", "analysistemplates", "clusteranalysistemplates", "analysisruns", "experiments"}, Scope: &all},
		}},
	}
	if namespaced {
		w.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": in.namespace}}
	}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   typeMeta("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
		ObjectMeta: metav1.ObjectMeta{Name: in.webhookConfigName(namespaced), Labels: in.labels("webhook")},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{w},
	}
}
