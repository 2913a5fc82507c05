package cli

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/auth"
	"github.com/vanedev/vane/internal/controller/analysisrun"
	"github.com/vanedev/vane/internal/notify"
	"github.com/vanedev/vane/internal/plugin"
	"github.com/vanedev/vane/internal/traffic"
	"github.com/vanedev/vane/internal/traffic/gatewayapi"
)

// Names Argo Rollouts' own installation uses, as its manifests and Helm chart set them.
const (
	// argoNameLabel labels the objects of an Argo Rollouts installation.
	argoNameLabel = "app.kubernetes.io/name"
	argoName      = "argo-rollouts"
	// argoDashboard is the component label of Argo's dashboard Deployment (not a controller).
	argoDashboard = "rollouts-dashboard"
	// argoLeasePrefix names Argo's leader Lease (plus "-<instance id>").
	argoLeasePrefix = "argo-rollouts-controller-lock"
	// argoNotificationConfigMap holds Argo's notification templates, triggers and
	// subscriptions.
	argoNotificationConfigMap = "argo-rollouts-notification-configmap"
	// notificationPrefix starts the annotations that subscribe a Rollout to notifications.
	notificationPrefix = "notifications.argoproj.io/subscribe"
	// leaseFresh is how recently a leader Lease must have been renewed to count as held.
	leaseFresh = time.Minute
)

// Finding is one thing Vane would treat differently from Argo Rollouts: an object, the field
// path, and what Vane does instead.
type Finding struct {
	Kind, Namespace, Name string
	Field                 string
	Vane                  string
}

// difference is a Finding within one object.
type difference struct{ field, vane string }

// migrateChecker decides what Vane treats differently. What Vane supports is read from the
// code the controller runs: the AnalysisRun controller's providers (built-in plugin names such
// as vane/judge among them), traffic.New for routers, the validation behind InvalidSpec, the
// authentication the providers apply, and for Argo's plugins the argo-rollouts-config
// ConfigMap as the controller's plugin.Manager reads it; the rest is checked against the
// controller in migrate_test.go.
type migrateChecker struct {
	// routers builds traffic routers with traffic.New, which only reads its scheme.
	routers   client.Client
	providers map[string]provider.Provider
	supported []string
	// plugins is the ConfigMap of the inventory being checked (nil: not read).
	plugins *pluginConfig
	now     time.Time
}

func newMigrateChecker(routers client.Client, now time.Time) *migrateChecker {
	providers := analysisrun.New(nil, nil, nil).Providers
	supported := make([]string, 0, len(providers))
	for name := range providers {
		supported = append(supported, name)
	}
	sort.Strings(supported)
	return &migrateChecker{routers: routers, providers: providers, supported: supported, now: now}
}

// check returns the findings of every object in inv, sorted by kind, namespace and name.
func (ch *migrateChecker) check(inv *migrateInventory) []Finding {
	ch.plugins = inv.plugins
	var out []Finding
	add := func(kind string, obj client.Object, diffs []difference) {
		seen := map[string]bool{}
		for _, d := range diffs {
			if seen[d.field] {
				continue
			}
			seen[d.field] = true
			out = append(out, Finding{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), Field: d.field, Vane: d.vane})
		}
	}
	for _, o := range inv.argo {
		add(kindOf(o), o, ch.argoInstallation(o))
	}
	for _, o := range inv.objects {
		add(kindOf(o.obj), o.obj, append(ch.object(o.obj), unknownFields(o.unknown)...))
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return kindRank(a.Kind) < kindRank(b.Kind)
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out
}

// migrateKinds orders the kinds in the report: Argo's installation first.
var migrateKinds = []string{"Deployment", "Lease", "ConfigMap", "Rollout", "AnalysisTemplate",
	"ClusterAnalysisTemplate", "AnalysisRun", "Experiment"}

func kindRank(kind string) int {
	for i, k := range migrateKinds {
		if k == kind {
			return i
		}
	}
	return len(migrateKinds)
}

func kindOf(o client.Object) string {
	switch o.(type) {
	case *appsv1.Deployment:
		return "Deployment"
	case *coordinationv1.Lease:
		return "Lease"
	case *corev1.ConfigMap:
		return "ConfigMap"
	}
	return reflect.TypeOf(o).Elem().Name()
}

// object dispatches on the argoproj.io kinds.
func (ch *migrateChecker) object(o client.Object) []difference {
	switch o := o.(type) {
	case *v1alpha1.Rollout:
		return ch.rollout(o)
	case *v1alpha1.AnalysisTemplate:
		return ch.template(v1alpha1.ValidateAnalysisTemplate(o), o.Spec.Metrics)
	case *v1alpha1.ClusterAnalysisTemplate:
		return ch.template(v1alpha1.ValidateClusterAnalysisTemplate(o), o.Spec.Metrics)
	case *v1alpha1.AnalysisRun:
		return ch.analysisRun(o)
	}
	return nil
}

func unknownFields(paths []string) []difference {
	var out []difference
	for _, p := range paths {
		out = append(out, difference{p, "not in Vane's API: ignored, and not kept once Vane's CRDs replace Argo's"})
	}
	return out
}

// instanceID reminds that a labelled object needs a controller started with the same id.
func instanceID(labels map[string]string) []difference {
	id, ok := labels[v1alpha1.InstanceIDLabel]
	if !ok {
		return nil
	}
	return []difference{{"metadata.labels[" + v1alpha1.InstanceIDLabel + "]",
		fmt.Sprintf("reconciled only by a Vane controller started with --instance-id %s (without it Vane acts on unlabelled objects only)", id)}}
}

// rollout checks a Rollout: validation (InvalidSpec), plugin steps, routers, the fields Vane
// stores but does not act on (v1alpha1.RolloutWarnings) and the instance id. Notification
// subscriptions give no line: Vane sends them as Argo does (internal/notify).
func (ch *migrateChecker) rollout(ro *v1alpha1.Rollout) []difference {
	var out []difference
	for _, e := range v1alpha1.ValidateRollout(ro) {
		out = append(out, difference{e.Field, "InvalidSpec (Degraded, not updated): " + e.ErrorBody()})
	}
	if c := ro.Spec.Strategy.Canary; c != nil {
		out = append(out, ch.stepPlugins(c)...)
		out = append(out, ch.trafficRouters(ro)...)
	}
	for _, w := range v1alpha1.RolloutWarnings(ro) {
		out = append(out, difference{w.Field, w.Message})
	}
	return append(out, instanceID(ro.Labels)...)
}

// stepPlugins reports the plugin steps whose plugin the ConfigMap does not list (or lists with
// an entry that cannot be used): the rollout controller, which runs step plugins through its
// plugin.Manager, makes such a Rollout InvalidSpec naming the step and the plugin; it runs the
// others as Argo does. (The check reads the ConfigMap as the Manager does, without fetching
// the binaries: a Manager would download them.)
func (ch *migrateChecker) stepPlugins(c *v1alpha1.CanaryStrategy) []difference {
	var out []difference
	for i, step := range c.Steps {
		if step.Plugin == nil {
			continue
		}
		if err := ch.plugins.problem(plugin.Step, step.Plugin.Name); err != nil {
			out = append(out, difference{fmt.Sprintf("spec.strategy.canary.steps[%d].plugin", i), "InvalidSpec (Degraded, not updated): " + err.Error()})
		}
	}
	return out
}

// trafficRouters builds each built-in router the Rollout names, one at a time, with the
// controller's traffic.New: a router Vane lacks (or a setting its router refuses) makes the
// Rollout InvalidSpec. A router plugin is served by the plugin the ConfigMap lists, as the
// controller's traffic.New does with its plugin.Manager (the built-in Gateway API router
// serves argoproj-labs/gatewayAPI unless the ConfigMap lists a plugin of that name): one it
// does not list, or lists with an entry that cannot be used, makes the Rollout InvalidSpec.
func (ch *migrateChecker) trafficRouters(ro *v1alpha1.Rollout) []difference {
	tr := ro.Spec.Strategy.Canary.TrafficRouting
	if tr == nil {
		return nil
	}
	var out []difference
	for _, one := range splitRouters(tr) {
		if one.plugin != "" && (one.plugin != gatewayapi.PluginName || ch.plugins.lists(plugin.TrafficRouter, one.plugin)) {
			if err := ch.plugins.problem(plugin.TrafficRouter, one.plugin); err != nil {
				out = append(out, difference{"spec.strategy.canary.trafficRouting." + one.field, "InvalidSpec (Degraded, not updated): " + err.Error()})
			}
			continue
		}
		cp := ro.DeepCopy()
		cp.Spec.Strategy.Canary.TrafficRouting = one.routing
		_, err := traffic.New(cp, ch.routers)
		if err == nil {
			continue
		}
		field, msg := "spec.strategy.canary.trafficRouting."+one.field, err.Error()
		if e, ok := traffic.AsError(err); ok {
			if e.Kind == "Rollout" && e.Field != "" {
				field = e.Field
			}
			msg = e.Message
		}
		out = append(out, difference{field, "InvalidSpec (Degraded, not updated): " + msg})
	}
	return out
}

// oneRouter is a copy of a trafficRouting that names one router only.
type oneRouter struct {
	field string
	// plugin is the name of the router plugin, for an entry of plugins
	plugin  string
	routing *v1alpha1.RolloutTrafficRouting
}

// splitRouters returns one copy of tr per router it names (per entry of plugins), keeping the
// settings every router shares. It walks the struct so that a router added to the API is
// judged too.
func splitRouters(tr *v1alpha1.RolloutTrafficRouting) []oneRouter {
	shared := map[string]bool{"ManagedRoutes": true, "MaxTrafficWeight": true}
	v := reflect.ValueOf(*tr)
	var out []oneRouter
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		if shared[f.Name] || v.Field(i).IsZero() {
			continue
		}
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		keep := func(set func(reflect.Value)) *v1alpha1.RolloutTrafficRouting {
			cp := &v1alpha1.RolloutTrafficRouting{ManagedRoutes: tr.ManagedRoutes, MaxTrafficWeight: tr.MaxTrafficWeight}
			set(reflect.ValueOf(cp).Elem().Field(i))
			return cp
		}
		if f.Type.Kind() != reflect.Map {
			out = append(out, oneRouter{field: name, routing: keep(func(dst reflect.Value) { dst.Set(v.Field(i)) })})
			continue
		}
		keys := v.Field(i).MapKeys()
		sort.Slice(keys, func(a, b int) bool { return keys[a].String() < keys[b].String() })
		for _, k := range keys {
			out = append(out, oneRouter{field: fmt.Sprintf("%s[%q]", name, k.String()), plugin: k.String(), routing: keep(func(dst reflect.Value) {
				dst.Set(reflect.MakeMap(f.Type))
				dst.SetMapIndex(k, v.Field(i).MapIndex(k))
			})})
		}
	}
	return out
}

// template checks an AnalysisTemplate or ClusterAnalysisTemplate.
func (ch *migrateChecker) template(errs field.ErrorList, metrics []v1alpha1.Metric) []difference {
	var out []difference
	for _, e := range errs {
		out = append(out, difference{e.Field, "fails Vane's validation: " + e.ErrorBody()})
	}
	return append(out, ch.metrics(metrics)...)
}

// metrics finds the metrics whose measurements the AnalysisRun controller cannot take: a
// provider it does not have, a metric plugin the ConfigMap does not list, or authentication
// it does not do.
func (ch *migrateChecker) metrics(metrics []v1alpha1.Metric) []difference {
	var out []difference
	for i := range metrics {
		mp := &metrics[i].Provider
		path := fmt.Sprintf("spec.metrics[%d].provider", i)
		if err := ch.providerProblem(mp); err != nil {
			out = append(out, difference{path + "." + providerField(provider.Name(mp)), "every measurement is an Error at once: " + err.Error()})
		}
		// the prometheus provider signs sigv4 itself; auth.Apply, which the web provider
		// calls, refuses it
		for _, a := range []struct {
			field string
			auth  *v1alpha1.Authentication
		}{{"web", webAuth(mp)}} {
			if a.auth == nil || a.auth.Sigv4.IsZero() {
				continue
			}
			err := auth.Apply(context.Background(), nil, a.auth, nil) // sigv4 fails before any request
			if err == nil {
				continue // supported now
			}
			out = append(out, difference{path + "." + a.field + ".authentication.sigv4", "every measurement is an Error at once: " + err.Error()})
		}
	}
	return out
}

// providerProblem is the error every measurement of a metric with that provider would be, as
// the AnalysisRun controller picks its provider: a built-in one by name ("plugin vane/judge"
// included), else for a metric naming one plugin alone the plugin the ConfigMap lists.
func (ch *migrateChecker) providerProblem(mp *v1alpha1.MetricProvider) error {
	name := provider.Name(mp)
	if _, ok := ch.providers[name]; ok || name == "" {
		return nil
	}
	if len(mp.Plugin) == 1 && len(provider.Names(mp)) == 1 {
		for p := range mp.Plugin {
			return ch.plugins.problem(plugin.MetricProvider, p)
		}
	}
	_, err := provider.Unsupported{Provider: name, Supported: ch.supported}.Measure(context.Background(), nil, nil)
	return err
}

// providerField turns provider.Name's "plugin NAME" into the field path plugin["NAME"].
func providerField(name string) string {
	if p, ok := strings.CutPrefix(name, "plugin "); ok {
		return fmt.Sprintf("plugin[%q]", p)
	}
	return name
}

func webAuth(mp *v1alpha1.MetricProvider) *v1alpha1.Authentication {
	if mp.Web == nil {
		return nil
	}
	return &mp.Web.Authentication
}

// analysisRun checks a run that is still in progress (Vane's controller takes it over);
// finished runs are kept as they are.
func (ch *migrateChecker) analysisRun(run *v1alpha1.AnalysisRun) []difference {
	if run.Status.Phase.Completed() {
		return nil
	}
	var out []difference
	for _, e := range v1alpha1.ValidateAnalysisRun(run) {
		out = append(out, difference{e.Field, "the run ends in Error (invalid AnalysisRun): " + e.ErrorBody()})
	}
	out = append(out, ch.metrics(run.Spec.Metrics)...)
	return append(out, instanceID(run.Labels)...)
}

// experiment: Vane runs no Experiments; one still in progress stays as it is.
// argoInstallation reports the parts of Argo Rollouts that still act: a controller Deployment
// with replicas, a leader Lease renewed recently, the notification settings.
func (ch *migrateChecker) argoInstallation(o client.Object) []difference {
	switch o := o.(type) {
	case *appsv1.Deployment:
		if n := ptr.Deref(o.Spec.Replicas, 1); n > 0 {
			return []difference{{"spec.replicas", fmt.Sprintf("Argo Rollouts' controller is running (%s): scale it to 0 before starting Vane, or both act on the same Rollouts", plural(int(n), "replica"))}}
		}
	case *coordinationv1.Lease:
		holder := ptr.Deref(o.Spec.HolderIdentity, "")
		if holder == "" || o.Spec.RenewTime == nil || ch.now.Sub(o.Spec.RenewTime.Time) > leaseFresh {
			return nil
		}
		ago := ch.now.Sub(o.Spec.RenewTime.Time).Round(time.Second)
		return []difference{{"spec.holderIdentity", fmt.Sprintf("an Argo Rollouts controller (%s) holds the leader Lease, renewed %s ago: stop it before starting Vane", holder, ago)}}
	case *corev1.ConfigMap:
		return []difference{{"data", "read from the Vane controller's own namespace (--notifications-namespace, default the pod's): keep it, and " +
			notify.SecretName + ", in that namespace; its keys replace Vane's built-in triggers and templates of the same name"}}
	}
	return nil
}
