package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/getter"
	release "helm.sh/helm/v4/pkg/release/v1"
)

// values merges the -f files and -set values as helm does.
func (o *options) values() (map[string]any, error) {
	vo := &values.Options{ValueFiles: o.valueFiles, Values: o.sets}
	vals, err := vo.MergeValues(getter.Providers{})
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	return vals, nil
}

// template renders the chart as `helm template` does (client only, hooks included, values
// checked against values.schema.json) and writes the manifests to out.
func template(o *options, out io.Writer) error {
	vals, err := o.values()
	if err != nil {
		return err
	}
	chrt, err := loader.Load(o.chart)
	if err != nil {
		return fmt.Errorf("loading %s: %w", o.chart, err)
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName, install.Namespace, install.Replace = o.name, o.namespace, true
	if o.kubeVersion != "" {
		kv, err := common.ParseKubeVersion(o.kubeVersion)
		if err != nil {
			return fmt.Errorf("-kube-version %q: %w", o.kubeVersion, err)
		}
		install.KubeVersion = kv
	}
	r, err := install.Run(chrt, vals)
	if err != nil {
		return fmt.Errorf("rendering %s: %w", o.chart, err)
	}
	rel, ok := r.(*release.Release)
	if !ok {
		return fmt.Errorf("rendering %s: unexpected release type %T", o.chart, r)
	}
	var b strings.Builder
	b.WriteString(strings.TrimSpace(rel.Manifest) + "\n")
	for _, h := range rel.Hooks {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	if _, err := io.WriteString(out, b.String()); err != nil {
		return fmt.Errorf("writing the manifests: %w", err)
	}
	if o.notes != "" {
		if err := os.WriteFile(o.notes, []byte(rel.Info.Notes), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", o.notes, err)
		}
	}
	return nil
}

// lint runs Helm's linter (chart file, values and schema, templates, CRDs) as `helm lint
// --strict` does: it prints every message, and a warning or an error fails.
func lint(o *options, out io.Writer) error {
	vals, err := o.values()
	if err != nil {
		return err
	}
	l := action.NewLint()
	l.Strict, l.Namespace = true, o.namespace
	if o.kubeVersion != "" {
		kv, err := common.ParseKubeVersion(o.kubeVersion)
		if err != nil {
			return fmt.Errorf("-kube-version %q: %w", o.kubeVersion, err)
		}
		l.KubeVersion = kv
	}
	res := l.Run([]string{o.chart}, vals)
	for _, m := range res.Messages {
		fmt.Fprintln(out, m.Error())
	}
	for _, e := range res.Errors {
		fmt.Fprintln(out, "error:", e)
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("%s: %d warning(s) or error(s)", o.chart, len(res.Errors))
	}
	fmt.Fprintf(out, "%s: %d chart(s) linted, no warnings or errors\n", o.chart, res.TotalChartsLinted)
	return nil
}
