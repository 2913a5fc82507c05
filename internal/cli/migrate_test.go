package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/auth"
	"github.com/vanedev/vane/internal/controller"
	"github.com/vanedev/vane/internal/plugin"
	"github.com/vanedev/vane/internal/strategy"
	"github.com/vanedev/vane/internal/traffic"
)

var migrateNow = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

// migrateClient is a client with the controller's scheme (traffic.New reads it).
func migrateClient(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	s, err := controller.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).
		WithIndex(&corev1.ConfigMap{}, "metadata.name", func(o client.Object) []string { return []string{o.GetName()} }).
		Build()
}

// decodeManifests reads every document of a multi-document YAML string.
func decodeManifests(t *testing.T, manifests string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("decoding manifests: %v", err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// inventoryOf builds what readInventory would from manifests: argoproj.io kinds through add,
// Argo's Deployments, Leases and notification ConfigMaps as they are, the plugins' ConfigMap
// through readPluginConfig.
func inventoryOf(t *testing.T, manifests string) *migrateInventory {
	t.Helper()
	inv := &migrateInventory{}
	var pluginCMs []client.Object
	for _, u := range decodeManifests(t, manifests) {
		if u.GetKind() == "ConfigMap" && u.GetName() == plugin.ConfigMapName {
			pluginCMs = append(pluginCMs, u)
			continue
		}
		var typed client.Object
		switch u.GetKind() {
		case "Deployment":
			typed = &appsv1.Deployment{}
		case "Lease":
			typed = &coordinationv1.Lease{}
		case "ConfigMap":
			typed = &corev1.ConfigMap{}
		default:
			if err := inv.add(u); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed); err != nil {
			t.Fatal(err)
		}
		inv.argo = append(inv.argo, typed)
	}
	if err := inv.readPluginConfig(context.Background(), &Options{Client: migrateClient(t, pluginCMs...)}); err != nil {
		t.Fatal(err)
	}
	return inv
}

const canaryHead = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: app, namespace: shop}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec: {containers: [{name: app, image: app:1}]}
`

const routedHead = canaryHead + `  strategy:
    canary:
      canaryService: app-canary
      stableService: app-stable
      steps: [{setWeight: 20}]
      trafficRouting:
`

const (
	unsupportedRouter = "InvalidSpec (Degraded, not updated): this traffic router is not supported by Vane; use the Gateway API, nginx, istio, smi, alb, ambassador, traefik or apisix"
	notSupportedYet   = "every measurement is an Error at once: the %s provider is not supported by this version of Vane (supported: cloudWatch, datadog, graphite, influxdb, job, kayenta, newRelic, plugin vane/dynatrace, plugin vane/judge, prometheus, skywalking, wavefront, web)"
	sigv4             = "every measurement is an Error at once: authentication.sigv4 is only supported by the prometheus provider: use authentication.oauth2 or basicAuth, or pass a token in a header from a secret argument"
	// noPluginConfig ends the line of a plugin when Argo's namespace has no argo-rollouts-config.
	noPluginConfig = `not configured: the ConfigMap argo-rollouts/argo-rollouts-config does not exist`
)

func notSupported(p string) string { return strings.Replace(notSupportedYet, "%s", p, 1) }

// pluginConfigMap is an argo-rollouts-config ConfigMap of namespace ns with the given data
// (YAML lines under data:).
func pluginConfigMap(ns, data string) string {
	return "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: argo-rollouts-config, namespace: " + ns + "}\ndata:\n" + data
}

func shop(kind, name, field, vane string) Finding {
	return Finding{Kind: kind, Namespace: "shop", Name: name, Field: field, Vane: vane}
}

func TestMigrateFindings(t *testing.T) {
	tests := map[string]struct {
		manifests string
		want      []Finding
	}{
		"a canary with background analysis, a plain canary and a blue/green: nothing differs": {
			manifests: seedManifests(t),
		},
		"plugin steps: one the ConfigMap lacks, one it lists (run as Argo does); experiment steps run": {
			manifests: canaryHead + `  strategy:
    canary:
      steps:
        - setWeight: 20
        - experiment:
            templates: [{name: baseline, specRef: stable}]
        - plugin: {name: acme/step, config: {x: 1}}
        - plugin: {name: acme/listed}
` + pluginConfigMap("argo-rollouts", "  stepPlugins: '[{name: acme/listed, location: \"file:///plugins/step\"}]'\n"),
			want: []Finding{
				shop("Rollout", "app", "spec.strategy.canary.steps[2].plugin",
					`InvalidSpec (Degraded, not updated): step plugin "acme/step": not configured: the ConfigMap argo-rollouts/argo-rollouts-config has no entry of that name in stepPlugins`),
			},
		},
		"routers Vane has: nginx, istio, smi, alb, ambassador, traefik, apisix, the Gateway API plugin": {
			manifests: routedHead + `        nginx: {stableIngress: app}
        istio: {virtualService: {name: app}}
        smi: {}
        alb: {ingress: app, servicePort: 80}
        ambassador: {mappings: [app]}
        traefik: {weightedTraefikServiceName: app}
        apisix: {route: {name: app}}
        plugins:
          argoproj-labs/gatewayAPI: {httpRoute: app, namespace: shop}
`,
		},
		"routers Vane lacks, each named; a Gateway API setting it lacks; a router plugin without a ConfigMap": {
			manifests: routedHead + `        appMesh: {virtualService: {name: app}, virtualNodeGroup: {canaryVirtualNodeRef: {name: c}, stableVirtualNodeRef: {name: s}}}
        plugins:
          argoproj-labs/openshift: {routes: [app]}
          argoproj-labs/gatewayAPI: {grpcRoute: app, namespace: shop}
`,
			want: []Finding{
				shop("Rollout", "app", "spec.strategy.canary.trafficRouting.appMesh", unsupportedRouter),
				shop("Rollout", "app", `spec.strategy.canary.trafficRouting.plugins["argoproj-labs/gatewayAPI"].grpcRoute`,
					"InvalidSpec (Degraded, not updated): GRPCRoutes are not supported by Vane's Gateway API router yet; use httpRoute or httpRoutes"),
				shop("Rollout", "app", `spec.strategy.canary.trafficRouting.plugins["argoproj-labs/openshift"]`,
					`InvalidSpec (Degraded, not updated): traffic router plugin "argoproj-labs/openshift": `+noPluginConfig),
			},
		},
		"router plugins: one the ConfigMap lists, one whose entry is unusable; the Gateway API one it lists is the plugin's": {
			manifests: routedHead + `        plugins:
          argoproj-labs/openshift: {routes: [app]}
          argoproj-labs/gatewayAPI: {grpcRoute: app, namespace: shop}
          acme/bad: {}
` + pluginConfigMap("argo-rollouts", `  trafficRouterPlugins: |
    - {name: argoproj-labs/openshift, location: "https://example.com/openshift"}
    - {name: acme/bad, location: "ftp://example.com/bad"}
    - {name: argoproj-labs/gatewayAPI, location: "file:///plugins/gatewayapi"}
`),
			want: []Finding{
				shop("Rollout", "app", `spec.strategy.canary.trafficRouting.plugins["acme/bad"]`,
					`InvalidSpec (Degraded, not updated): traffic router plugin "acme/bad": unusable (fix the ConfigMap entry and restart the controller): trafficRouterPlugins[1].location: the scheme must be file, http or https, not "ftp"`),
			},
		},
		"canary anti-affinity, notifications, instance id, a field of Argo 1.10": {
			manifests: `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: app
  namespace: shop
  labels: {argo-rollouts.argoproj.io/controller-instance-id: blue}
  annotations:
    notifications.argoproj.io/subscribe.on-rollout-completed.slack: releases
    notifications.argoproj.io/subscribe.on-rollout-aborted.slack: oncall
    notifications.argoproj.io/subscribe.on-canary-slow.slack: oncall
    notifications.argoproj.io/subscribe.slack: everyone
    notified.notifications.argoproj.io: "{}"
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec: {containers: [{name: app, image: app:1}]}
  strategy:
    canary:
      antiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {}}
      replicaProgressThreshold: {type: Percent, value: 90}
      steps:
        - {setWeight: 20}
`,
			want: []Finding{
				shop("Rollout", "app", "spec.strategy.canary.replicaProgressThreshold", thresholdWarning),
				shop("Rollout", "app", "metadata.labels[argo-rollouts.argoproj.io/controller-instance-id]", "reconciled only by a Vane controller started with --instance-id blue (without it Vane acts on unlabelled objects only)"),
			},
		},
		"metric providers and authentication Vane lacks, in templates and runs in progress": {
			manifests: `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: errors, namespace: shop}
spec:
  metrics:
    - {name: web, provider: {web: {url: "http://app/health"}}}
    - {name: dd, provider: {datadog: {query: "sum:errors{*}"}}}
    - {name: amp, provider: {prometheus: {address: "https://amp", query: up, authentication: {sigv4: {region: eu-west-1}}}}}
    - {name: plug, provider: {plugin: {argoproj-labs/sample-prometheus: {address: "http://p"}}}}
    - {name: signed, provider: {web: {url: "https://api.example.com/health", authentication: {sigv4: {region: eu-west-1}}}}}
    - {name: judged, provider: {plugin: {vane/judge: {prometheus: {address: "http://p"}, window: {start: 'now() - duration("10m")', step: 30s}, metrics: [{name: l, query: "x{role='{{role}}'}"}]}}}}
    - {name: dt, provider: {plugin: {vane/dynatrace: {address: "https://abc.live.dynatrace.com", query: "builtin:service.errors.total.rate:avg"}}}}
---
apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata: {name: nr}
spec:
  metrics: [{name: nr, provider: {newRelic: {query: "SELECT 1"}}}]
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: running, namespace: shop}
spec:
  metrics: [{name: k, provider: {kayenta: {address: "http://k", application: a, canaryConfigName: c, threshold: {pass: 90, marginal: 75}, scopes: [{name: s, controlScope: {scope: a, step: 60, start: "2026-01-01T00:00:00Z", end: "2026-01-01T01:00:00Z"}, experimentScope: {scope: b, step: 60, start: "2026-01-01T00:00:00Z", end: "2026-01-01T01:00:00Z"}}]}}}]
status: {phase: Running}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: done, namespace: shop}
spec:
  metrics: [{name: dd, provider: {datadog: {query: "sum:errors{*}"}}}]
status: {phase: Successful}
`,
			want: []Finding{
				// datadog, prometheus sigv4, newRelic, kayenta and the built-in plugins vane/judge
				// and vane/dynatrace are measured
				shop("AnalysisTemplate", "errors", `spec.metrics[3].provider.plugin["argoproj-labs/sample-prometheus"]`,
					`every measurement is an Error at once: metric provider plugin "argoproj-labs/sample-prometheus": `+noPluginConfig),
				shop("AnalysisTemplate", "errors", "spec.metrics[4].provider.web.authentication.sigv4", sigv4),
			},
		},
		"metric plugins, judged by the ConfigMap of Argo's controller namespace (not argo-rollouts')": {
			manifests: `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: plugins, namespace: shop}
spec:
  metrics:
    - {name: listed, provider: {plugin: {argoproj-labs/sample-prometheus: {address: "http://p", query: up}}}}
    - {name: elsewhere, provider: {plugin: {acme/other: {}}}}
    - {name: dt, provider: {plugin: {vane/dynatrace: {query: "m"}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: argo-rollouts, namespace: rollouts, labels: {app.kubernetes.io/name: argo-rollouts}}
spec: {replicas: 0}
` + pluginConfigMap("rollouts", `  metricProviderPlugins: |
    - name: argoproj-labs/sample-prometheus
      location: https://example.com/metric-plugin-linux-amd64
      sha256: 08f588b1c799a37bbe8d0fc74cc1b1492dd70b2c6ee2a1acba7f41e2d1a3d0c4
`) + pluginConfigMap("argo-rollouts", `  metricProviderPlugins: '[{name: acme/other, location: "file:///x"}]'
`),
			want: []Finding{
				shop("AnalysisTemplate", "plugins", `spec.metrics[1].provider.plugin["acme/other"]`,
					`every measurement is an Error at once: metric provider plugin "acme/other": not configured: the ConfigMap rollouts/argo-rollouts-config has no entry of that name in metricProviderPlugins`),
			},
		},
		"experiments, in progress or finished: Vane runs them as Argo does": {
			manifests: `apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata: {name: running, namespace: shop}
spec:
  templates: [{name: a, selector: {matchLabels: {x: a}}, template: {metadata: {labels: {x: a}}, spec: {containers: [{name: a, image: a}]}}}]
---
apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata: {name: done, namespace: shop}
spec:
  templates: [{name: a, selector: {matchLabels: {x: a}}, template: {metadata: {labels: {x: a}}, spec: {containers: [{name: a, image: a}]}}}]
status: {phase: Successful}
`,
		},
		"Argo's controller running, its Lease held, its notifications configured": {
			manifests: `apiVersion: apps/v1
kind: Deployment
metadata: {name: argo-rollouts, namespace: argo-rollouts, labels: {app.kubernetes.io/name: argo-rollouts}}
spec: {replicas: 2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: argo-rollouts-old, namespace: argo-rollouts, labels: {app.kubernetes.io/name: argo-rollouts}}
spec: {replicas: 0}
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: argo-rollouts-controller-lock, namespace: argo-rollouts}
spec: {holderIdentity: argo-rollouts-7d9f-x2k4p, renewTime: "2026-05-04T11:59:50.000000Z"}
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: argo-rollouts-controller-lock-green, namespace: argo-rollouts}
spec: {holderIdentity: gone, renewTime: "2026-05-04T10:00:00.000000Z"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: argo-rollouts-notification-configmap, namespace: argo-rollouts}
data: {service.slack: "token: $slack-token"}
`,
			want: []Finding{
				{Kind: "Deployment", Namespace: "argo-rollouts", Name: "argo-rollouts", Field: "spec.replicas",
					Vane: "Argo Rollouts' controller is running (2 replicas): scale it to 0 before starting Vane, or both act on the same Rollouts"},
				{Kind: "Lease", Namespace: "argo-rollouts", Name: "argo-rollouts-controller-lock", Field: "spec.holderIdentity",
					Vane: "an Argo Rollouts controller (argo-rollouts-7d9f-x2k4p) holds the leader Lease, renewed 10s ago: stop it before starting Vane"},
				{Kind: "ConfigMap", Namespace: "argo-rollouts", Name: "argo-rollouts-notification-configmap", Field: "data",
					Vane: "read from the Vane controller's own namespace (--notifications-namespace, default the pod's): keep it, and argo-rollouts-notification-secret, in that namespace; its keys replace Vane's built-in triggers and templates of the same name"},
			},
		},
	}
	ch := newMigrateChecker(migrateClient(t), migrateNow)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := ch.check(inventoryOf(t, tc.manifests))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMigrateValidation: what the controller's validation refuses (a step with two actions) is
// reported field by field, with the validation's own words.
func TestMigrateValidation(t *testing.T) {
	inv := inventoryOf(t, canaryHead+`  strategy:
    canary:
      steps:
        - {setWeight: 20, pause: {}}
`)
	errs := v1alpha1.ValidateRollout(inv.objects[0].obj.(*v1alpha1.Rollout))
	if len(errs) == 0 {
		t.Fatal("the controller's validation accepts a step with two actions")
	}
	var want []Finding
	for _, e := range errs {
		want = append(want, shop("Rollout", "app", e.Field, "InvalidSpec (Degraded, not updated): "+e.ErrorBody()))
	}
	got := newMigrateChecker(migrateClient(t), migrateNow).check(inv)
	if diff := cmp.Diff(want, got); diff != "" || !strings.Contains(got[0].Field, "steps[0]") {
		t.Errorf("findings %+v (-want +got):\n%s", got, diff)
	}
}

// seedManifests are the argoproj.io documents of examples/seeds (the Flagger seed is not one).
func seedManifests(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "seeds", "*.yaml"))
	if err != nil || len(files) < 5 {
		t.Fatalf("seeds: %v %v", files, err)
	}
	var docs []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(b), "\n---\n") {
			if strings.Contains(doc, "apiVersion: argoproj.io/") {
				docs = append(docs, doc)
			}
		}
	}
	if len(docs) < 7 {
		t.Fatalf("only %d argoproj.io documents in the seeds", len(docs))
	}
	return strings.Join(docs, "\n---\n")
}

// TestUnsupportedStepsAreTheControllers: for every kind of canary step, with and without a
// traffic router, with and without the step's plugin in the ConfigMap, migrate check reports
// the step exactly when the controller refuses the Rollout (its validation, or for a plugin
// step a plugin its plugin.Manager cannot use for good, both of which make it InvalidSpec), and
// the engine never completes a step migrate check reports.
func TestUnsupportedStepsAreTheControllers(t *testing.T) {
	steps := map[string]v1alpha1.CanaryStep{
		"setWeight":      {SetWeight: ptr.To[int32](20)},
		"pause":          {Pause: &v1alpha1.RolloutPause{}},
		"analysis":       {Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "t"}}}},
		"setCanaryScale": {SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptr.To[int32](1)}},
		"setHeaderRoute": {SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "hdr"}},
		"setMirrorRoute": {SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "mirror"}},
		"experiment": {Experiment: &v1alpha1.RolloutExperimentStep{Templates: []v1alpha1.RolloutExperimentTemplate{
			{Name: "baseline", SpecRef: v1alpha1.StableSpecRef}}}},
		"plugin": {Plugin: &v1alpha1.PluginStep{Name: "acme/step"}},
	}
	configs := map[string]*corev1.ConfigMap{
		"no ConfigMap": nil,
		"the plugin listed": {ObjectMeta: metav1.ObjectMeta{Namespace: "argo-rollouts", Name: plugin.ConfigMapName},
			Data: map[string]string{"stepPlugins": "- {name: acme/step, location: " + strconvQuote("file://"+pluginBinary(t)) + "}"}},
	}
	ch := newMigrateChecker(migrateClient(t), migrateNow)
	for cfgName, cm := range configs {
		var objs []client.Object
		if cm != nil {
			objs = append(objs, cm)
		}
		c := migrateClient(t, objs...)
		inv := &migrateInventory{}
		if err := inv.readPluginConfig(context.Background(), &Options{Client: c}); err != nil {
			t.Fatal(err)
		}
		ch.plugins = inv.plugins
		_, err := plugin.NewManager(c, plugin.Options{Namespace: "argo-rollouts", Dir: t.TempDir()}).Item(context.Background(), plugin.Step, "acme/step")
		perr, managerRefuses := plugin.AsError(err)
		managerRefuses = managerRefuses && perr.Permanent
		for name, step := range steps {
			for _, routed := range []bool{false, true} {
				ro := stepRollout(step, routed)
				refused := len(v1alpha1.ValidateRollout(ro)) > 0 || (step.Plugin != nil && managerRefuses)
				reported := false
				for _, d := range ch.rollout(ro) {
					reported = reported || strings.Contains(d.vane, "InvalidSpec")
				}
				if reported != refused {
					t.Errorf("%s, %s (routed %v): the controller refuses it: %v; migrate check reports it: %v", name, cfgName, routed, refused, reported)
				}
				if name == "plugin" && reported {
					checkEngineHolds(t, ro, routed)
				}
			}
		}
		if want := cm == nil; managerRefuses != want {
			t.Errorf("%s: the Manager refuses the plugin: %v (%v)", cfgName, managerRefuses, err)
		}
	}
}

// checkEngineHolds: the engine, given no step plugin statuses, does not move past the step.
func checkEngineHolds(t *testing.T, ro *v1alpha1.Rollout, routed bool) {
	t.Helper()
	plan, err := strategy.Canary(strategy.Input{Rollout: ro, NewHash: "n", StepsHash: "steps", Now: migrateNow,
		TrafficRouter: routed, RouterWeightVerified: true, Sets: []strategy.Set{
			{Hash: "n", Role: strategy.RoleNew, Pods: strategy.Pods{Spec: 1, Current: 1, Available: 1}},
			{Hash: "s", Role: strategy.RoleStable, Pods: strategy.Pods{Spec: 4, Current: 4, Available: 4}}}})
	if err != nil {
		t.Fatal(err)
	}
	if *plan.Status.CurrentStepIndex != *ro.Status.CurrentStepIndex {
		t.Errorf("plugin (routed %v): the engine moved from step %d to %d", routed, *ro.Status.CurrentStepIndex, *plan.Status.CurrentStepIndex)
	}
}

// pluginBinary is a file a plugin.Manager can load (it is not started).
func pluginBinary(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plugin")
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestPluginMessagesAreTheManagers: what migrate check says of a plugin, from the ConfigMap
// alone, is the error the controller's plugin.Manager gives for it (nil when the Manager can
// use it), for each kind and each way a plugin can be missing or unusable.
func TestPluginMessagesAreTheManagers(t *testing.T) {
	good := strconvQuote("file://" + pluginBinary(t))
	configs := map[string]map[string]string{
		"no ConfigMap": nil,
		"empty":        {},
		"every kind lists acme/good": {"metricProviderPlugins": "- {name: acme/good, location: " + good + "}",
			"trafficRouterPlugins": "- {name: acme/good, location: " + good + "}", "stepPlugins": "- {name: acme/good, location: " + good + "}"},
		"bad entries": {"metricProviderPlugins": "- {name: acme/bad, location: ftp://x}\n- {name: acme/good, location: " + good + "}",
			"trafficRouterPlugins": "- {name: acme/bad, location: " + good + ", sha256: abc}",
			"stepPlugins":          "- {name: acme/bad}\n- {name: acme/bad, location: " + good + "}"},
		"lists that are not lists": {"metricProviderPlugins": "name: acme/good", "trafficRouterPlugins": "[", "stepPlugins": "42"},
		"a name of the wrong form": {"metricProviderPlugins": "- {name: bad, location: " + good + "}"},
	}
	for cfgName, data := range configs {
		t.Run(cfgName, func(t *testing.T) {
			var objs []client.Object
			if data != nil {
				objs = append(objs, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "argo-rollouts", Name: plugin.ConfigMapName}, Data: data})
			}
			c := migrateClient(t, objs...)
			inv := &migrateInventory{}
			if err := inv.readPluginConfig(context.Background(), &Options{Client: c}); err != nil {
				t.Fatal(err)
			}
			m := plugin.NewManager(c, plugin.Options{Namespace: "argo-rollouts", Dir: t.TempDir()})
			for _, kind := range plugin.Kinds {
				for _, name := range []string{"acme/good", "acme/bad", "acme/absent", "bad"} {
					_, err := m.Item(context.Background(), kind, name)
					want := ""
					if err != nil {
						want = err.Error()
					}
					got := ""
					if err := inv.plugins.problem(kind, name); err != nil {
						got = err.Error()
					}
					if got != want {
						t.Errorf("%s %s: migrate check says %q, the Manager %q", kind, name, got, want)
					}
					if listed, configured := inv.plugins.lists(kind, name), m.Configured(context.Background(), kind, name); listed != configured {
						t.Errorf("%s %s: listed %v, the Manager says configured %v", kind, name, listed, configured)
					}
				}
			}
		})
	}
}

// TestPluginNamespaces: Argo's argo-rollouts-config is looked for where Argo's controller runs,
// then in argo-rollouts.
func TestPluginNamespaces(t *testing.T) {
	deploy := func(ns string) client.Object {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "argo-rollouts"}}
	}
	for name, tc := range map[string]struct {
		argo []client.Object
		want []string
	}{
		"no controller":                      {want: []string{"argo-rollouts"}},
		"controllers in two namespaces":      {argo: []client.Object{deploy("rollouts-b"), deploy("rollouts-a"), deploy("rollouts-b")}, want: []string{"rollouts-a", "rollouts-b", "argo-rollouts"}},
		"a controller in argo-rollouts":      {argo: []client.Object{deploy("argo-rollouts")}, want: []string{"argo-rollouts"}},
		"Leases and ConfigMaps do not count": {argo: []client.Object{&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "x"}}, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "y"}}}, want: []string{"argo-rollouts"}},
	} {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, pluginNamespaces(tc.argo)); diff != "" {
				t.Errorf("namespaces (-want +got):\n%s", diff)
			}
		})
	}
}

// stepRollout is a canary at its first step, moving from ReplicaSet "s" to "n".
func stepRollout(step v1alpha1.CanaryStep, routed bool) *v1alpha1.Rollout {
	idx := int32(0)
	c := &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{step, {SetWeight: ptr.To[int32](100)}}}
	if routed {
		c.CanaryService, c.StableService = "canary", "stable"
		c.TrafficRouting = &v1alpha1.RolloutTrafficRouting{
			ManagedRoutes: []v1alpha1.MangedRoutes{{Name: "hdr"}, {Name: "mirror"}},
			Plugins:       map[string]json.RawMessage{"argoproj-labs/gatewayAPI": json.RawMessage(`{"httpRoute":"app"}`)},
		}
	}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "shop"},
		Spec: v1alpha1.RolloutSpec{Replicas: ptr.To[int32](5),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "app"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "app"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:2"}}}},
			Strategy: v1alpha1.RolloutStrategy{Canary: c}},
		Status: v1alpha1.RolloutStatus{StableRS: "s", CurrentPodHash: "n", CurrentStepHash: "steps", CurrentStepIndex: &idx},
	}
}

// TestSplitRoutersCoversEveryRouter: every field of trafficRouting but the shared settings is
// a router, judged on its own.
func TestSplitRoutersCoversEveryRouter(t *testing.T) {
	tr := &v1alpha1.RolloutTrafficRouting{
		Istio: &v1alpha1.IstioTrafficRouting{}, Nginx: &v1alpha1.NginxTrafficRouting{}, ALB: &v1alpha1.ALBTrafficRouting{},
		SMI: &v1alpha1.SMITrafficRouting{}, Ambassador: &v1alpha1.AmbassadorTrafficRouting{}, AppMesh: &v1alpha1.AppMeshTrafficRouting{},
		Traefik: &v1alpha1.TraefikTrafficRouting{}, Apisix: &v1alpha1.ApisixTrafficRouting{},
		Plugins:          map[string]json.RawMessage{"b/two": json.RawMessage(`{}`), "a/one": json.RawMessage(`{}`)},
		ManagedRoutes:    []v1alpha1.MangedRoutes{{Name: "r"}},
		MaxTrafficWeight: ptr.To[int32](1000),
	}
	var got []string
	for _, one := range splitRouters(tr) {
		got = append(got, one.field)
		if one.routing.MaxTrafficWeight == nil || len(one.routing.ManagedRoutes) != 1 {
			t.Errorf("%s: the shared settings are lost: %+v", one.field, one.routing)
		}
		if n := len(splitRouters(one.routing)); n != 1 {
			t.Errorf("%s: names %d routers, want 1", one.field, n)
		}
	}
	want := []string{"istio", "nginx", "alb", "smi", "ambassador", "appMesh", "traefik", "apisix", `plugins["a/one"]`, `plugins["b/two"]`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("routers (-want +got):\n%s", diff)
	}
}

// TestUnsupportedMessagesAreTheControllers: the texts migrate check quotes are the errors the
// AnalysisRun controller's providers give.
func TestUnsupportedMessagesAreTheControllers(t *testing.T) {
	ch := newMigrateChecker(migrateClient(t), migrateNow)
	want := []string{"cloudWatch", "datadog", "graphite", "influxdb", "job", "kayenta", "newRelic", "plugin vane/dynatrace", "plugin vane/judge",
		"prometheus", "skywalking", "wavefront", "web"}
	if diff := cmp.Diff(want, ch.supported); diff != "" {
		t.Errorf("providers of the AnalysisRun controller (-want +got):\n%s", diff)
	}
	_, err := provider.Unsupported{Provider: "plugin acme/x", Supported: ch.supported}.Measure(context.Background(), nil, nil)
	if !provider.IsPermanent(err) || "every measurement is an Error at once: "+err.Error() != notSupported("plugin acme/x") {
		t.Errorf("unsupported provider: %v", err)
	}
	a := &v1alpha1.Authentication{Sigv4: v1alpha1.Sigv4Config{Region: "eu-west-1"}}
	if err := auth.Apply(context.Background(), nil, a, nil); !provider.IsPermanent(err) || "every measurement is an Error at once: "+err.Error() != sigv4 {
		t.Errorf("sigv4: %v", err)
	}
	if _, err := traffic.New(stepRollout(v1alpha1.CanaryStep{SetWeight: ptr.To[int32](1)}, true), ch.routers); err != nil {
		t.Errorf("the Gateway API router cannot be built with the checker's client: %v", err)
	}
}

// TestMigrateReferencedClusterTemplates: in one namespace, only the ClusterAnalysisTemplates
// its objects use (directly, through a template, or through another one) are checked.
func TestMigrateReferencedClusterTemplates(t *testing.T) {
	inv := inventoryOf(t, canaryHead+`  strategy:
    canary:
      steps:
        - analysis: {templates: [{templateName: by-step, clusterScope: true}, {templateName: local}]}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: local, namespace: shop}
spec: {templates: [{templateName: by-template, clusterScope: true}]}
---
apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata: {name: by-step}
spec: {templates: [{templateName: nested, clusterScope: true}]}
`+clusterTemplate("by-template")+clusterTemplate("nested")+clusterTemplate("unused")+clusterTemplate("local"))
	inv.keepReferencedClusterTemplates()
	var got []string
	for _, m := range inv.objects {
		got = append(got, kindOf(m.obj)+"/"+m.obj.GetName())
	}
	want := []string{"Rollout/app", "AnalysisTemplate/local", "ClusterAnalysisTemplate/by-step",
		"ClusterAnalysisTemplate/by-template", "ClusterAnalysisTemplate/nested"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("objects checked (-want +got):\n%s", diff)
	}
}

func clusterTemplate(name string) string {
	return "---\napiVersion: argoproj.io/v1alpha1\nkind: ClusterAnalysisTemplate\nmetadata: {name: " + name +
		"}\nspec: {metrics: [{name: m, provider: {web: {url: 'http://x'}}}]}\n"
}

// TestMigrateCheckOutput runs the verb over a client: the table, the summary and the exit code.
func TestMigrateCheckOutput(t *testing.T) {
	var objs []client.Object
	for _, u := range decodeManifests(t, seedManifests(t)+"\n---\n"+canaryHead+`  strategy:
    canary:
      steps: [{plugin: {name: acme/step}}]
`) {
		u.SetNamespace("shop")
		objs = append(objs, u)
	}
	objs = append(objs, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "argo-rollouts", Namespace: "argo-rollouts",
		Labels: map[string]string{"app.kubernetes.io/name": "argo-rollouts", "app.kubernetes.io/component": "rollouts-controller"}}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "argo-rollouts-dashboard", Namespace: "argo-rollouts",
			Labels: map[string]string{"app.kubernetes.io/name": "argo-rollouts", "app.kubernetes.io/component": "rollouts-dashboard"}}})
	listed := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "argo-rollouts", Name: plugin.ConfigMapName},
		Data: map[string]string{"stepPlugins": "- name: acme/step\n  location: https://example.com/step-plugin-linux-amd64\n"}}
	tests := map[string]struct {
		objs []client.Object
		// forbidConfigMaps refuses the reading of ConfigMaps
		forbidConfigMaps bool
		code             int
		want, wantErr    string
	}{
		"the plugins' ConfigMap lists the step plugin": {objs: append(append([]client.Object(nil), objs...), listed), code: ExitDifferences, want: `KIND        NAMESPACE      NAME           FIELD          VANE
Deployment  argo-rollouts  argo-rollouts  spec.replicas  Argo Rollouts' controller is running (1 replica): scale it to 0 before starting Vane, or both act on the same Rollouts

Checked namespace "shop": 6 Rollouts, 2 AnalysisTemplates, 0 ClusterAnalysisTemplates, 0 AnalysisRuns (0 in progress), 0 Experiments (0 in progress); Argo Rollouts' controller: running.
1 difference in 1 object: Vane would treat them differently from Argo Rollouts (exit code 1).
`},
		"the plugins' ConfigMap may not be read": {objs: objs, forbidConfigMaps: true, code: ExitDifferences, want: `KIND        NAMESPACE      NAME           FIELD          VANE
Deployment  argo-rollouts  argo-rollouts  spec.replicas  Argo Rollouts' controller is running (1 replica): scale it to 0 before starting Vane, or both act on the same Rollouts

Checked namespace "shop": 6 Rollouts, 2 AnalysisTemplates, 0 ClusterAnalysisTemplates, 0 AnalysisRuns (0 in progress), 0 Experiments (0 in progress); Argo Rollouts' controller: running. Not checked: the plugins' ConfigMap argo-rollouts-config.
1 difference in 1 object: Vane would treat them differently from Argo Rollouts (exit code 1).
`, wantErr: `warning: the plugins' ConfigMap argo-rollouts-config not checked: forbidden: configmaps "argo-rollouts-config" is forbidden: User "dev" cannot get resource "configmaps"
`},
		"differences": {objs: objs, code: ExitDifferences, want: `KIND        NAMESPACE      NAME           FIELD                                 VANE
Deployment  argo-rollouts  argo-rollouts  spec.replicas                         Argo Rollouts' controller is running (1 replica): scale it to 0 before starting Vane, or both act on the same Rollouts
Rollout     shop           app            spec.strategy.canary.steps[0].plugin  InvalidSpec (Degraded, not updated): step plugin "acme/step": not configured: the ConfigMap argo-rollouts/argo-rollouts-config does not exist

Checked namespace "shop": 6 Rollouts, 2 AnalysisTemplates, 0 ClusterAnalysisTemplates, 0 AnalysisRuns (0 in progress), 0 Experiments (0 in progress); Argo Rollouts' controller: running.
2 differences in 2 objects: Vane would treat them differently from Argo Rollouts (exit code 1).
`},
		"the seeds alone": {objs: objs[:len(objs)-3], code: ExitNoDifference, want: `Checked namespace "shop": 5 Rollouts, 2 AnalysisTemplates, 0 ClusterAnalysisTemplates, 0 AnalysisRuns (0 in progress), 0 Experiments (0 in progress); Argo Rollouts' controller: not running.
No differences: Vane would act on these objects as Argo Rollouts does.
`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			c := migrateClient(t, tc.objs...)
			if tc.forbidConfigMaps {
				c = interceptor.NewClient(c.(client.WithWatch), interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
					if _, ok := obj.(*corev1.ConfigMap); ok {
						return apierrors.NewForbidden(corev1.Resource("configmaps"), key.Name, errors.New(`User "dev" cannot get resource "configmaps"`))
					}
					return c.Get(ctx, key, obj, opts...)
				}})
			}
			o := &Options{Client: c, Namespace: "shop", Out: &out, Err: &errOut, Clock: testingclock.NewFakeClock(migrateNow)}
			err := MigrateCheck(context.Background(), o)
			var exit *ExitError
			code := ExitNoDifference
			if errors.As(err, &exit) {
				code = exit.Code
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || errOut.String() != tc.wantErr {
				t.Errorf("exit code %d (want %d), error %v, stderr %q (want %q)", code, tc.code, err, errOut.String(), tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

// The text v1alpha1.RolloutWarnings gives for a canary's replicaProgressThreshold, spelled out
// so that a change shows here.
const thresholdWarning = "stored but not acted on: Vane waits until all the canary pods a step asks for are available before going on (Argo Rollouts goes on once this threshold is met)"
