package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"text/template"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// model is what a query template may use: {{ name }}, {{ namespace }}, {{ target }},
// {{ service }}, {{ ingress }}, {{ route }}, {{ interval }} and {{ variables.NAME }}.
type model struct {
	name, namespace, target, service, ingress, route, interval string
	variables                                                  map[string]string
}

// modelFor is the model of a Canary's metric: service, ingress and route default to the
// target's name.
func modelFor(cd *flaggerv1.Canary, interval string, variables map[string]string) model {
	m := model{
		name: cd.Name, namespace: cd.Namespace, target: cd.Spec.TargetRef.Name,
		service: cd.Spec.TargetRef.Name, ingress: cd.Spec.TargetRef.Name, route: cd.Spec.TargetRef.Name,
		interval: interval, variables: variables,
	}
	if cd.Spec.Service.Name != "" {
		m.service = cd.Spec.Service.Name
	}
	if cd.Spec.IngressRef != nil {
		m.ingress = cd.Spec.IngressRef.Name
	}
	if cd.Spec.RouteRef != nil {
		m.route = cd.Spec.RouteRef.Name
	}
	return m
}

// render fills a query template; a variable it does not know is an error.
func render(query string, m model) (string, error) {
	funcs := template.FuncMap{
		"name":      func() string { return m.name },
		"namespace": func() string { return m.namespace },
		"target":    func() string { return m.target },
		"service":   func() string { return m.service },
		"ingress":   func() string { return m.ingress },
		"route":     func() string { return m.route },
		"interval":  func() string { return m.interval },
		"variables": func() map[string]string { return m.variables },
	}
	// The name and the texts of the errors are Flagger's: they are part of its events.
	t, err := template.New("tmpl").Option("missingkey=error").Funcs(funcs).Parse(query)
	if err != nil {
		return "", fmt.Errorf("template parsing failed: %w", err)
	}
	var out bytes.Buffer
	if err := t.Execute(&out, nil); err != nil {
		return "", fmt.Errorf("template excution failed: %w", err)
	}
	return out.String(), nil
}

// resolved is a metric's MetricTemplate and the provider its query runs on; halt is why there
// is none, in Flagger's words.
type resolved struct {
	template *flaggerv1.MetricTemplate
	provider provider
	halt     string
}

// resolveTemplate reads the metric's MetricTemplate (in the Canary's namespace unless the
// reference names one) and its Secret, and builds the provider. The messages start with
// prefix: Flagger writes "Metric template" in the analysis and "metric template" in the
// availability check.
func (c *Checker) resolveTemplate(ctx context.Context, cd *flaggerv1.Canary, m flaggerv1.CanaryMetric, prefix string) (resolved, error) {
	ref := m.TemplateRef
	ns := cd.Namespace
	if ref.Namespace != "" {
		ns = ref.Namespace
	}
	tpl := &flaggerv1.MetricTemplate{}
	if err := c.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, tpl); err != nil {
		if !apierrors.IsNotFound(err) {
			return resolved{}, fmt.Errorf("reading MetricTemplate %s/%s: %w", ns, ref.Name, err)
		}
		return resolved{halt: fmt.Sprintf("%s %s.%s error: %s", prefix, ref.Name, ns,
			notFound(flaggerv1.GroupVersion.Group, "metrictemplate", ref.Name))}, nil
	}
	var creds map[string][]byte
	if sr := tpl.Spec.Provider.SecretRef; sr != nil {
		secret := &corev1.Secret{}
		if err := c.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: sr.Name}, secret); err != nil {
			if !apierrors.IsNotFound(err) {
				return resolved{}, fmt.Errorf("reading Secret %s/%s of MetricTemplate %s: %w", ns, sr.Name, ref.Name, err)
			}
			return resolved{halt: fmt.Sprintf("%s %s.%s secret %s error: %s", prefix, ref.Name, ns, sr.Name,
				notFound("", "secrets", sr.Name))}, nil
		}
		creds = secret.Data
	}
	p, err := c.newProvider(m.Interval, tpl.Spec.Provider, creds)
	if err != nil {
		return resolved{halt: fmt.Sprintf("%s %s.%s provider %s error: %v", prefix, ref.Name, ns, tpl.Spec.Provider.Type, err)}, nil
	}
	return resolved{template: tpl, provider: p}, nil
}

// checkTemplates runs the metrics that reference a MetricTemplate. A metric that neither does
// nor is built in fails, as in Flagger (an inline query alone is such a metric).
func (c *Checker) checkTemplates(ctx context.Context, cd *flaggerv1.Canary) (string, error) {
	for _, m := range cd.Spec.Analysis.Metrics {
		if m.TemplateRef == nil {
			if m.Name != requestSuccessRate && m.Name != requestDuration {
				return "Metric query failed for no usable metrics template were configured", nil
			}
			continue
		}
		halt, err := c.checkTemplate(ctx, cd, m)
		if halt != "" || err != nil {
			return halt, err
		}
	}
	return "", nil
}

// checkTemplate runs one MetricTemplate metric. Its interval is the metric's own: Flagger does
// not default it here, so {{ interval }} of a metric without one is empty.
func (c *Checker) checkTemplate(ctx context.Context, cd *flaggerv1.Canary, m flaggerv1.CanaryMetric) (string, error) {
	r, err := c.resolveTemplate(ctx, cd, m, "Metric template")
	if err != nil || r.halt != "" {
		return r.halt, err
	}
	query, err := render(r.template.Spec.Query, modelFor(cd, m.Interval, m.TemplateVariables))
	log.FromContext(ctx).V(1).Info("metric template query", "template", r.template.Name,
		"namespace", r.template.Namespace, "query", query)
	if err != nil {
		return fmt.Sprintf("Metric template %s.%s query render error: %v", r.template.Name, r.template.Namespace, err), nil
	}
	val, err := r.provider.query(ctx, query)
	if err != nil {
		if errors.Is(err, errNoValues) {
			return fmt.Sprintf("Halt advancement no values found for custom metric: %s: %v", m.Name, err), nil
		}
		return fmt.Sprintf("Metric query failed for %s: %v", m.Name, err), nil
	}
	return valueHalt(cd, m, val), nil
}
