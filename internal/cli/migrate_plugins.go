package cli

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/internal/analysis/provider/credentials"
	"github.com/vanedev/vane/internal/plugin"
)

// pluginConfig is the argo-rollouts-config ConfigMap migrate check judges plugins by: the one
// of Argo's controller namespace, which the Vane controller reads once it runs there.
type pluginConfig struct {
	// namespace is the ConfigMap's namespace (where it is looked for when it does not exist).
	namespace string
	// found says whether the ConfigMap exists; cfg is its parsed plugin lists.
	found bool
	cfg   plugin.Config
}

// readPluginConfig finds the argo-rollouts-config ConfigMap of Argo's controller: in the
// namespace of a controller Deployment readArgo found (the first, by name, that has one), else
// in argo-rollouts, the default controller namespace. A user who may not read it gets a
// warning, and plugins are not checked.
func (inv *migrateInventory) readPluginConfig(ctx context.Context, o *Options) error {
	namespaces := pluginNamespaces(inv.argo)
	for _, ns := range namespaces {
		cm := &corev1.ConfigMap{}
		err := o.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: plugin.ConfigMapName}, cm)
		switch {
		case err == nil:
			inv.plugins = &pluginConfig{namespace: ns, found: true, cfg: plugin.ParseConfig(cm.Data)}
			return nil
		case apierrors.IsForbidden(err):
			inv.skip("the plugins' ConfigMap "+plugin.ConfigMapName, o.Explain(err, "", ""))
			return nil
		case !apierrors.IsNotFound(err):
			return fmt.Errorf("reading the ConfigMap %s/%s: %w", ns, plugin.ConfigMapName, o.Explain(err, "", ""))
		}
	}
	inv.plugins = &pluginConfig{namespace: namespaces[0]}
	return nil
}

// pluginNamespaces lists where Argo's argo-rollouts-config may be, in the order it is looked
// for: the namespaces of Argo's controller Deployments (in argo), sorted, then argo-rollouts.
func pluginNamespaces(argo []client.Object) []string {
	var out []string
	seen := map[string]bool{}
	for _, obj := range argo {
		if d, ok := obj.(*appsv1.Deployment); ok && !seen[d.Namespace] {
			seen[d.Namespace] = true
			out = append(out, d.Namespace)
		}
	}
	sort.Strings(out)
	if !seen[credentials.DefaultControllerNamespace] {
		out = append(out, credentials.DefaultControllerNamespace)
	}
	return out
}

// problem says why the controller could not use the plugin of that kind and name, in the
// words of its plugin.Manager: not listed, the ConfigMap missing, the list or the entry
// unusable. nil when the ConfigMap lists it with an entry that can be used (the binary itself,
// on the controller's file system or behind its URL, is not checked), or when the ConfigMap
// was not read.
func (pc *pluginConfig) problem(kind plugin.Kind, name string) error {
	if pc == nil {
		return nil
	}
	fail := func(err error) error { return &plugin.Error{Kind: kind, Name: name, Permanent: true, Err: err} }
	if !pc.found {
		return fail(fmt.Errorf("not configured: the ConfigMap %s/%s does not exist", pc.namespace, plugin.ConfigMapName))
	}
	if err := pc.cfg.ListErrs[kind]; err != nil {
		return fail(err)
	}
	for _, e := range pc.cfg.Entries {
		if e.Kind != kind || e.Name != name {
			continue
		}
		if e.Err != nil { // the first entry of a name is the one kept
			return fail(fmt.Errorf("unusable (fix the ConfigMap entry and restart the controller): %w", e.Err))
		}
		return nil
	}
	return fail(fmt.Errorf("not configured: the ConfigMap %s/%s has no entry of that name in %s",
		pc.namespace, plugin.ConfigMapName, kind.ConfigKey()))
}

// lists reports whether the ConfigMap lists a plugin of that kind and name, usable or not (the
// Manager's Configured).
func (pc *pluginConfig) lists(kind plugin.Kind, name string) bool {
	if pc == nil {
		return false
	}
	for _, e := range pc.cfg.Entries {
		if e.Kind == kind && e.Name == name {
			return true
		}
	}
	return false
}
