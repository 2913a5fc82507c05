package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis"
)

// RunFlags are the flags of `create analysisrun`, Argo's plugin's: where the template comes
// from, the arguments, and the run's name.
type RunFlags struct {
	// From names an AnalysisTemplate of the namespace (a ClusterAnalysisTemplate with Global).
	From string
	// FromClusterTemplate names a ClusterAnalysisTemplate (the same as Global with From).
	FromClusterTemplate string
	// FromFile is a file holding an AnalysisTemplate or a ClusterAnalysisTemplate.
	FromFile string
	// Global makes From name a ClusterAnalysisTemplate.
	Global bool
	// Args are NAME=VALUE assignments for the template's arguments.
	Args []string
	// Name or GenerateName of the run; neither: GenerateName "<template>-".
	Name, GenerateName string
	// InstanceID labels the run for the controller started with that instance id.
	InstanceID string
}

// CreateAnalysisRun runs `create analysisrun`: it reads the template (and the templates it
// includes), gives the arguments their values, builds the run with internal/analysis (as the
// controller builds a Rollout's runs), creates it and prints `analysisrun.argoproj.io/<name>
// created`. An argument the templates declare without a value and -a does not give is an
// error naming it; one they do not declare is ignored, as Argo does, with a warning.
func CreateAnalysisRun(ctx context.Context, o *Options, f RunFlags) error {
	args, err := parseRunArgs(f.Args)
	if err != nil {
		return err
	}
	if f.Name != "" && f.GenerateName != "" {
		return fmt.Errorf("--name and --generate-name exclude each other: give one")
	}
	templates, err := runTemplates(ctx, o, f)
	if err != nil {
		return err
	}
	if err := checkRunArgs(o, templates, args); err != nil {
		return err
	}
	ro := analysis.RunOptions{Name: f.Name, GenerateName: f.GenerateName, Namespace: o.Namespace, Args: args}
	if ro.Name == "" && ro.GenerateName == "" {
		if templates[0].Name == "" {
			return fmt.Errorf("the template of %s has no metadata.name: name the run with --name or --generate-name", f.FromFile)
		}
		ro.GenerateName = templates[0].Name + "-"
	}
	if f.InstanceID != "" {
		ro.Labels = map[string]string{v1alpha1.InstanceIDLabel: f.InstanceID}
	}
	run, err := analysis.NewRunFromTemplates(templates, ro)
	if err != nil {
		return fmt.Errorf("building the AnalysisRun from %s: %w", templates[0], err)
	}
	if err := o.Client.Create(ctx, run); err != nil {
		return fmt.Errorf("creating AnalysisRun %s: %w", nameOf(run), o.explainWrite(err))
	}
	fmt.Fprintf(o.Out, "analysisrun.%s/%s created\n", v1alpha1.GroupVersion.Group, run.Name)
	return nil
}

// parseRunArgs reads -a NAME=VALUE flags (a value may be empty, or hold "=").
func parseRunArgs(flags []string) ([]v1alpha1.Argument, error) {
	var args []v1alpha1.Argument
	seen := map[string]bool{}
	for _, a := range flags {
		name, value, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--argument %q: expected NAME=VALUE", a)
		}
		if seen[name] {
			return nil, fmt.Errorf("--argument %s is given twice", name)
		}
		seen[name] = true
		args = append(args, v1alpha1.Argument{Name: name, Value: &value})
	}
	return args, nil
}

// runTemplates reads the template the flags name, then the templates it includes.
func runTemplates(ctx context.Context, o *Options, f RunFlags) ([]analysis.Template, error) {
	var sources []string
	for _, s := range []struct{ flag, value string }{{"--from", f.From}, {"--from-cluster-template", f.FromClusterTemplate}, {"--from-file", f.FromFile}} {
		if s.value != "" {
			sources = append(sources, s.flag)
		}
	}
	switch {
	case len(sources) == 0:
		return nil, fmt.Errorf("no template: give one with --from, --from-cluster-template or --from-file")
	case len(sources) > 1:
		return nil, fmt.Errorf("%s exclude each other: give the template with one of them", strings.Join(sources, " and "))
	}
	if f.FromFile != "" {
		return templateFromFile(ctx, o, f.FromFile)
	}
	ref := v1alpha1.AnalysisTemplateRef{TemplateName: f.From, ClusterScope: &f.Global}
	flag := "--from"
	if f.FromClusterTemplate != "" {
		ref.TemplateName, ref.ClusterScope, flag = f.FromClusterTemplate, ptr.To(true), "--from-cluster-template"
	}
	templates, err := analysis.ResolveTemplates(ctx, o.Client, o.Namespace, []v1alpha1.AnalysisTemplateRef{ref})
	if err != nil {
		return nil, templateError(o, flag+" "+ref.TemplateName, ref.IsClusterScope(), err)
	}
	return templates, nil
}

// templateError says which flag's template could not be read; a missing template (or one it
// includes) keeps the API server's sentence, with the namespace searched.
func templateError(o *Options, what string, cluster bool, err error) error {
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("%s: %w", what, o.Explain(err, "", ""))
	}
	if cluster {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s (namespace %q): %w", what, o.Namespace, err)
}

// templateFromFile reads an AnalysisTemplate or ClusterAnalysisTemplate from a file (checked as
// `create -f` checks it), then the templates it includes from the cluster.
func templateFromFile(ctx context.Context, o *Options, path string) ([]analysis.Template, error) {
	all, err := readManifests(path)
	if err != nil {
		return nil, err
	}
	if len(all) != 1 || (all[0].kind != "AnalysisTemplate" && all[0].kind != "ClusterAnalysisTemplate") {
		return nil, fmt.Errorf("--from-file %s: expected one AnalysisTemplate or ClusterAnalysisTemplate, found %s", path, describe(all))
	}
	t := analysis.Template{Kind: all[0].kind, Name: all[0].obj.GetName()}
	switch obj := all[0].obj.(type) {
	case *v1alpha1.AnalysisTemplate:
		t.Spec = obj.Spec
	case *v1alpha1.ClusterAnalysisTemplate:
		t.Spec = obj.Spec
	}
	included, err := analysis.ResolveTemplates(ctx, o.Client, o.Namespace, t.Spec.Templates)
	if err != nil {
		return nil, templateError(o, "--from-file "+path, false, err)
	}
	return append([]analysis.Template{t}, included...), nil
}

// checkRunArgs fails on arguments that the templates declare without a value (or valueFrom)
// and that args do not give, naming them and the flag that gives them; it warns of args no
// template declares (ignored, as Argo's plugin ignores them).
func checkRunArgs(o *Options, templates []analysis.Template, args []v1alpha1.Argument) error {
	declared, valued := map[string]string{}, map[string]bool{}
	for _, t := range templates {
		for _, a := range t.Spec.Args {
			if _, ok := declared[a.Name]; !ok {
				declared[a.Name] = t.String()
			}
			valued[a.Name] = valued[a.Name] || a.Value != nil || a.ValueFrom != nil
		}
	}
	for _, a := range args {
		if _, ok := declared[a.Name]; !ok {
			fmt.Fprintf(o.Err, "warning: --argument %s: %s declares no such argument (ignored)\n", a.Name, templates[0])
		}
		valued[a.Name] = true
	}
	var missing []string
	for name, from := range declared {
		if !valued[name] {
			missing = append(missing, fmt.Sprintf("argument %q of %s has no value: pass it with -a %s=VALUE", name, from, name))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		return fmt.Errorf("%s", strings.Join(missing, "; "))
	}
	return nil
}
