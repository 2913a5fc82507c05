package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Exit codes of `vane migrate check`.
const (
	ExitNoDifference = 0 // Vane would treat everything as Argo Rollouts does
	ExitDifferences  = 1 // something would be treated differently: see the table
	ExitCheckFailed  = 2 // the cluster could not be read
)

// MigrateCheck reads the cluster (the namespace, or all with AllNamespaces) and prints what
// Vane would treat differently from Argo Rollouts: a table of object, field and what Vane
// does instead, then a summary. It returns nil when nothing differs, an ExitError with
// ExitDifferences when something does, and one with ExitCheckFailed when the cluster could not
// be read.
func MigrateCheck(ctx context.Context, o *Options) error {
	inv, err := readInventory(ctx, o)
	if err != nil {
		return &ExitError{Code: ExitCheckFailed, Err: err}
	}
	for _, w := range inv.warnings {
		fmt.Fprintln(o.Err, "warning:", w)
	}
	findings := newMigrateChecker(o.Client, o.Clock.Now()).check(inv)
	renderFindings(o.Out, findings)
	fmt.Fprintln(o.Out, inv.summary(o, findings))
	if len(findings) == 0 {
		fmt.Fprintln(o.Out, "No differences: Vane would act on these objects as Argo Rollouts does.")
		return nil
	}
	fmt.Fprintf(o.Out, "%s in %s: Vane would treat them differently from Argo Rollouts (exit code %d).\n",
		plural(len(findings), "difference"), plural(countObjects(findings), "object"), ExitDifferences)
	return &ExitError{Code: ExitDifferences, Err: fmt.Errorf("%s found", plural(len(findings), "difference"))}
}

// renderFindings prints the table (nothing when there are no findings).
func renderFindings(w io.Writer, findings []Finding) {
	if len(findings) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAMESPACE\tNAME\tFIELD\tVANE")
	for _, f := range findings {
		ns := f.Namespace
		if ns == "" {
			ns = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Kind, ns, f.Name, f.Field, f.Vane)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
}

func countObjects(findings []Finding) int {
	seen := map[string]bool{}
	for _, f := range findings {
		seen[f.Kind+"/"+f.Namespace+"/"+f.Name] = true
	}
	return len(seen)
}

func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// migrateObject is one argoproj.io object with the fields Vane's API does not have.
type migrateObject struct {
	obj     client.Object
	unknown []string
}

// migrateInventory is what migrate check read.
type migrateInventory struct {
	objects []migrateObject
	// argo are the parts of Argo's installation found: controller Deployments, leader Leases,
	// notification ConfigMaps.
	argo []client.Object
	// plugins is Argo's argo-rollouts-config ConfigMap (nil: it could not be read).
	plugins *pluginConfig
	// skipped lists what could not be checked, and why; warnings are printed on stderr.
	skipped, warnings []string
}

// argoprojKinds are the kinds migrate check reads, with their typed objects.
var argoprojKinds = []struct {
	kind string
	new  func() client.Object
}{
	{"Rollout", func() client.Object { return &v1alpha1.Rollout{} }},
	{"AnalysisTemplate", func() client.Object { return &v1alpha1.AnalysisTemplate{} }},
	{"ClusterAnalysisTemplate", func() client.Object { return &v1alpha1.ClusterAnalysisTemplate{} }},
	{"AnalysisRun", func() client.Object { return &v1alpha1.AnalysisRun{} }},
	{"Experiment", func() client.Object { return &v1alpha1.Experiment{} }},
}

// add converts an argoproj.io object to Vane's type, noting the fields Vane's API lacks.
func (inv *migrateInventory) add(u *unstructured.Unstructured) error {
	for _, k := range argoprojKinds {
		if k.kind != u.GetKind() {
			continue
		}
		obj := k.new()
		m := migrateObject{obj: obj}
		err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, obj, true)
		if strict, ok := runtime.AsStrictDecodingError(err); ok {
			for _, e := range strict.Errors() {
				m.unknown = append(m.unknown, strings.Trim(strings.TrimPrefix(e.Error(), "unknown field "), `"`))
			}
		} else if err != nil {
			return fmt.Errorf("reading %s %s: %w", u.GetKind(), client.ObjectKeyFromObject(u), err)
		}
		inv.objects = append(inv.objects, m)
		return nil
	}
	return fmt.Errorf("migrate check does not read %s objects", u.GetKind())
}

// readInventory lists the argoproj.io objects in scope and Argo's installation. Without
// AllNamespaces only the ClusterAnalysisTemplates the namespace's objects refer to are kept.
func readInventory(ctx context.Context, o *Options) (*migrateInventory, error) {
	inv := &migrateInventory{}
	for _, k := range argoprojKinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(k.kind + "List"))
		var opts []client.ListOption
		if !o.AllNamespaces && k.kind != "ClusterAnalysisTemplate" {
			opts = append(opts, client.InNamespace(o.Namespace))
		}
		err := o.Client.List(ctx, list, opts...)
		switch {
		case isNoMatch(err) && k.kind == "Rollout":
			return nil, fmt.Errorf("the cluster at %s does not serve argoproj.io/v1alpha1 Rollouts: neither Argo Rollouts' nor Vane's CRDs are installed, so there is nothing to check", o.Server)
		case isNoMatch(err):
			inv.skipped = append(inv.skipped, k.kind+"s (the cluster does not serve them)")
			continue
		case apierrors.IsForbidden(err) && k.kind == "ClusterAnalysisTemplate" && !o.AllNamespaces:
			inv.skip("ClusterAnalysisTemplates", o.Explain(err, "", ""))
			continue
		case err != nil:
			return nil, fmt.Errorf("listing %ss: %w", k.kind, o.Explain(err, k.kind, ""))
		}
		for i := range list.Items {
			if err := inv.add(&list.Items[i]); err != nil {
				return nil, err
			}
		}
	}
	if !o.AllNamespaces {
		inv.keepReferencedClusterTemplates()
	}
	if err := inv.readArgo(ctx, o); err != nil {
		return nil, err
	}
	if err := inv.readPluginConfig(ctx, o); err != nil {
		return nil, err
	}
	return inv, nil
}

func isNoMatch(err error) bool {
	return err != nil && (meta.IsNoMatchError(err) || discovery.IsGroupDiscoveryFailedError(err))
}

// skip notes what could not be checked (a warning on stderr, and a word in the summary).
func (inv *migrateInventory) skip(what string, err error) {
	inv.skipped = append(inv.skipped, what)
	inv.warnings = append(inv.warnings, fmt.Sprintf("%s not checked: %v", what, err))
}

// readArgo looks across the cluster for Argo Rollouts' controller Deployments, leader Leases
// and notification ConfigMap. A user who may not list them gets a warning, not an error.
func (inv *migrateInventory) readArgo(ctx context.Context, o *Options) error {
	lists := []struct {
		list client.ObjectList
		opts []client.ListOption
	}{
		{&appsv1.DeploymentList{}, []client.ListOption{client.MatchingLabels{argoNameLabel: argoName}}},
		{&coordinationv1.LeaseList{}, nil},
		{&corev1.ConfigMapList{}, []client.ListOption{client.MatchingFields{"metadata.name": argoNotificationConfigMap}}},
	}
	for _, l := range lists {
		err := o.Client.List(ctx, l.list, l.opts...)
		if apierrors.IsForbidden(err) {
			inv.skip("a running Argo Rollouts controller", o.Explain(err, "", ""))
			return nil
		}
		if err != nil {
			return fmt.Errorf("looking for Argo Rollouts' controller: %w", o.Explain(err, "", ""))
		}
	}
	for _, d := range lists[0].list.(*appsv1.DeploymentList).Items {
		if d.Labels["app.kubernetes.io/component"] != argoDashboard {
			inv.argo = append(inv.argo, &d)
		}
	}
	for _, l := range lists[1].list.(*coordinationv1.LeaseList).Items {
		if l.Name == argoLeasePrefix || strings.HasPrefix(l.Name, argoLeasePrefix+"-") {
			inv.argo = append(inv.argo, &l)
		}
	}
	for _, c := range lists[2].list.(*corev1.ConfigMapList).Items {
		inv.argo = append(inv.argo, &c)
	}
	return nil
}

// keepReferencedClusterTemplates drops the ClusterAnalysisTemplates that no object in scope
// uses, directly or through another ClusterAnalysisTemplate.
func (inv *migrateInventory) keepReferencedClusterTemplates() {
	cats := map[string]client.Object{}
	want := map[string]bool{}
	var queue []string
	for _, m := range inv.objects {
		if _, ok := m.obj.(*v1alpha1.ClusterAnalysisTemplate); ok {
			cats[m.obj.GetName()] = m.obj
			continue
		}
		queue = append(queue, clusterTemplateRefs(m.obj)...)
	}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if want[name] {
			continue
		}
		want[name] = true
		if cat, ok := cats[name]; ok {
			queue = append(queue, clusterTemplateRefs(cat)...)
		}
	}
	kept := inv.objects[:0]
	for _, m := range inv.objects {
		if _, ok := m.obj.(*v1alpha1.ClusterAnalysisTemplate); !ok || want[m.obj.GetName()] {
			kept = append(kept, m)
		}
	}
	inv.objects = kept
}

// clusterTemplateRefs returns the names of the ClusterAnalysisTemplates an object's spec
// refers to: every {templateName, clusterScope: true}, wherever the kind puts them.
func clusterTemplateRefs(obj client.Object) []string {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if name, ok := v["templateName"].(string); ok && v["clusterScope"] == true {
				out = append(out, name)
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(u["spec"])
	return out
}

// summary says what was checked.
func (inv *migrateInventory) summary(o *Options, findings []Finding) string {
	counts := map[string]int{}
	inProgress := map[string]int{}
	for _, m := range inv.objects {
		k := kindOf(m.obj)
		counts[k]++
		switch obj := m.obj.(type) {
		case *v1alpha1.AnalysisRun:
			if !obj.Status.Phase.Completed() {
				inProgress[k]++
			}
		case *v1alpha1.Experiment:
			if !obj.Status.Phase.Completed() {
				inProgress[k]++
			}
		}
	}
	var parts []string
	for _, k := range argoprojKinds {
		p := plural(counts[k.kind], k.kind)
		if k.kind == "AnalysisRun" || k.kind == "Experiment" {
			p += fmt.Sprintf(" (%d in progress)", inProgress[k.kind])
		}
		parts = append(parts, p)
	}
	scope := fmt.Sprintf("namespace %q", o.Namespace)
	if o.AllNamespaces {
		scope = "all namespaces"
	}
	line := fmt.Sprintf("Checked %s: %s; Argo Rollouts' controller: %s.", scope, strings.Join(parts, ", "), argoState(inv, findings))
	if len(inv.skipped) > 0 {
		line += " Not checked: " + strings.Join(inv.skipped, ", ") + "."
	}
	return line
}

// argoState says whether Argo's controller was found running.
func argoState(inv *migrateInventory, findings []Finding) string {
	for _, s := range inv.skipped {
		if strings.HasPrefix(s, "a running Argo Rollouts controller") {
			return "not checked"
		}
	}
	for _, f := range findings {
		if f.Kind == "Deployment" || f.Kind == "Lease" {
			return "running"
		}
	}
	return "not running"
}
