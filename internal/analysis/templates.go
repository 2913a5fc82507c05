package analysis

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Template is the spec of an AnalysisTemplate or a ClusterAnalysisTemplate, with its name.
type Template struct {
	// Kind is "AnalysisTemplate" or "ClusterAnalysisTemplate".
	Kind string
	// Name of the template.
	Name string
	// Spec of the template.
	Spec v1alpha1.AnalysisTemplateSpec
}

func (t Template) String() string {
	if t.Kind == "ClusterAnalysisTemplate" {
		return "ClusterAnalysisTemplate " + t.Name
	}
	return "AnalysisTemplate " + t.Name
}

// ResolveTemplates reads the templates that refs name (AnalysisTemplates in namespace,
// ClusterAnalysisTemplates for refs with clusterScope) and, after each, the templates it
// includes through spec.templates, depth first; the AnalysisTemplates come first, then the
// ClusterAnalysisTemplates (Argo's order). A template included several times is used once; a
// template that includes itself, directly or not, is an error.
func ResolveTemplates(ctx context.Context, c client.Reader, namespace string, refs []v1alpha1.AnalysisTemplateRef) ([]Template, error) {
	var out []Template
	done := map[string]bool{}
	var visit func(refs []v1alpha1.AnalysisTemplateRef, path []string) error
	visit = func(refs []v1alpha1.AnalysisTemplateRef, path []string) error {
		for _, ref := range refs {
			t := Template{Kind: "AnalysisTemplate", Name: ref.TemplateName}
			if ref.IsClusterScope() {
				t.Kind = "ClusterAnalysisTemplate"
			}
			key := t.String()
			for _, p := range path {
				if p == key {
					return fmt.Errorf("templates include each other in a cycle: %s -> %s", strings.Join(path, " -> "), key)
				}
			}
			if done[key] {
				continue
			}
			if ref.IsClusterScope() {
				var ct v1alpha1.ClusterAnalysisTemplate
				if err := c.Get(ctx, client.ObjectKey{Name: ref.TemplateName}, &ct); err != nil {
					return fmt.Errorf("reading %s: %w", key, err)
				}
				t.Spec = ct.Spec
			} else {
				var at v1alpha1.AnalysisTemplate
				if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.TemplateName}, &at); err != nil {
					return fmt.Errorf("reading %s: %w", key, err)
				}
				t.Spec = at.Spec
			}
			done[key] = true
			out = append(out, t)
			if err := visit(t.Spec.Templates, append(path[:len(path):len(path)], key)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(refs, nil); err != nil {
		return nil, err
	}
	// the AnalysisTemplates first, then the ClusterAnalysisTemplates, each in the order found,
	// as Argo's FlattenTemplates orders the metrics and arguments of a run
	slices.SortStableFunc(out, func(a, b Template) int { return cmp.Compare(a.clusterScoped(), b.clusterScoped()) })
	return out, nil
}

// clusterScoped is 1 for a ClusterAnalysisTemplate, 0 for an AnalysisTemplate.
func (t Template) clusterScoped() int {
	if t.Kind == "ClusterAnalysisTemplate" {
		return 1
	}
	return 0
}

// RunOptions are what goes into an AnalysisRun besides its templates.
type RunOptions struct {
	// Name or GenerateName, and Namespace of the run.
	Name, GenerateName, Namespace string
	// Labels, Annotations and OwnerReferences of the run.
	Labels, Annotations map[string]string
	OwnerReferences     []metav1.OwnerReference
	// Args are the caller's values for the templates' arguments: a value, or valueFrom a
	// Secret (kept as a reference: the controller reads it when it measures) or a field.
	// Arguments no template declares are ignored.
	Args []v1alpha1.Argument
	// DryRun and MeasurementRetention are added to the templates' own.
	DryRun               []v1alpha1.DryRun
	MeasurementRetention []v1alpha1.MeasurementRetention
	// FieldRefObject is the object that `valueFrom.fieldRef` arguments read (the Rollout that
	// starts the run). When nil they stay references and the controller reads them from the
	// run's owning Rollout (or from the run itself when no Rollout owns it).
	FieldRefObject runtime.Object
}

// NewRunFromTemplates builds an AnalysisRun (not created) from templates, in order: their
// metrics, their arguments merged and given the caller's values, the caller's then their
// dryRun and measurementRetention settings. Placeholders stay in the metrics: the controller substitutes
// them each time it measures, so a secret's value is never stored. It is an error when two
// templates define a metric of the same name, give one argument two different values, when an
// argument ends up without a value, or when a metric refers to an undeclared argument.
func NewRunFromTemplates(templates []Template, o RunOptions) (*v1alpha1.AnalysisRun, error) {
	if len(templates) == 0 {
		return nil, fmt.Errorf("no analysis template given")
	}
	run := &v1alpha1.AnalysisRun{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "AnalysisRun"},
		ObjectMeta: metav1.ObjectMeta{
			Name: o.Name, GenerateName: o.GenerateName, Namespace: o.Namespace,
			Labels: o.Labels, Annotations: o.Annotations, OwnerReferences: o.OwnerReferences,
		},
	}
	metricFrom := map[string]string{}
	argFrom := map[string]string{}
	for _, t := range templates {
		for _, m := range t.Spec.Metrics {
			if prev, ok := metricFrom[m.Name]; ok {
				return nil, fmt.Errorf("metric %q is defined by both %s and %s", m.Name, prev, t)
			}
			metricFrom[m.Name] = t.String()
			run.Spec.Metrics = append(run.Spec.Metrics, *m.DeepCopy())
		}
		for _, a := range t.Spec.Args {
			i := argIndex(run.Spec.Args, a.Name)
			if i < 0 {
				argFrom[a.Name] = t.String()
				run.Spec.Args = append(run.Spec.Args, *a.DeepCopy())
				continue
			}
			prev := &run.Spec.Args[i]
			switch {
			case a.Value != nil && prev.Value != nil && *a.Value != *prev.Value:
				return nil, fmt.Errorf("argument %q has the value %q in %s and %q in %s", a.Name, *prev.Value, argFrom[a.Name], *a.Value, t)
			case prev.Value == nil && prev.ValueFrom == nil:
				*prev = *a.DeepCopy()
				argFrom[a.Name] = t.String()
			}
		}
		run.Spec.DryRun = append(run.Spec.DryRun, t.Spec.DryRun...)
		run.Spec.MeasurementRetention = append(run.Spec.MeasurementRetention, t.Spec.MeasurementRetention...)
	}
	// the caller's settings before the templates', as Argo's mergeDryRunMetrics puts them
	run.Spec.DryRun = append(slices.Clone(o.DryRun), run.Spec.DryRun...)
	run.Spec.MeasurementRetention = append(slices.Clone(o.MeasurementRetention), run.Spec.MeasurementRetention...)

	if err := giveArgs(run.Spec.Args, o, argFrom); err != nil {
		return nil, err
	}
	for i := range run.Spec.Metrics {
		m := &run.Spec.Metrics[i]
		for _, name := range Placeholders(m) {
			if argIndex(run.Spec.Args, name) < 0 {
				return nil, fmt.Errorf("metric %q of %s uses {{args.%s}}, which no template declares", m.Name, metricFrom[m.Name], name)
			}
		}
	}
	if errs := v1alpha1.ValidateAnalysisRun(run); len(errs) > 0 {
		return nil, fmt.Errorf("the AnalysisRun built from the templates is invalid: %w", errs.ToAggregate())
	}
	return run, nil
}

// BuildRun reads the templates refs name (see ResolveTemplates) and builds a run from them
// (see NewRunFromTemplates) in o.Namespace.
func BuildRun(ctx context.Context, c client.Reader, refs []v1alpha1.AnalysisTemplateRef, o RunOptions) (*v1alpha1.AnalysisRun, error) {
	templates, err := ResolveTemplates(ctx, c, o.Namespace, refs)
	if err != nil {
		return nil, err
	}
	return NewRunFromTemplates(templates, o)
}

// giveArgs gives the run's arguments the caller's values (a value, or valueFrom), reads the
// fieldRef ones from o.FieldRefObject when there is one, and fails on an argument left without
// a value (argFrom names the template that declared it).
func giveArgs(args []v1alpha1.Argument, o RunOptions, argFrom map[string]string) error {
	for _, a := range o.Args {
		i := argIndex(args, a.Name)
		if i < 0 {
			continue
		}
		switch {
		case a.Value != nil:
			args[i].Value, args[i].ValueFrom = a.Value, nil
		case a.ValueFrom != nil:
			args[i].Value, args[i].ValueFrom = nil, a.ValueFrom.DeepCopy()
		}
	}
	for i := range args {
		a := &args[i]
		if a.Value == nil && a.ValueFrom == nil {
			return fmt.Errorf("argument %q of %s needs a value: pass one in the analysis args", a.Name, argFrom[a.Name])
		}
		if a.ValueFrom != nil && a.ValueFrom.FieldRef != nil && o.FieldRefObject != nil {
			v, err := FieldValue(o.FieldRefObject, a.ValueFrom.FieldRef.FieldPath)
			if err != nil {
				return fmt.Errorf("argument %q: %w", a.Name, err)
			}
			a.Value, a.ValueFrom = &v, nil
		}
	}
	return nil
}

func argIndex(args []v1alpha1.Argument, name string) int {
	for i := range args {
		if args[i].Name == name {
			return i
		}
	}
	return -1
}
