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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/auth"
	"github.com/vanedev/vane/internal/controller"
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
// Argo's Deployments, Leases and ConfigMaps as they are.
func inventoryOf(t *testing.T, manifests string) *migrateInventory {
	t.Helper()
	inv := &migrateInventory{}
	for _, u := range decodeManifests(t, manifests) {
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
	unsupportedRouter = "InvalidSpec (Degraded, not updated): this traffic router is not supported by Vane; use the Gateway API, nginx, istio or smi"
	unsupportedPlugin = `InvalidSpec (Degraded, not updated): traffic router plugins are not supported; Vane implements "argoproj-labs/gatewayAPI" natively`
	notSupportedYet   = "every measurement is an Error at once: the %s provider is not supported by this version of Vane (supported: cloudWatch, datadog, graphite, influxdb, job, kayenta, newRelic, prometheus, skywalking, wavefront, web)"
	sigv4             = "every measurement is an Error at once: authentication.sigv4 is only supported by the prometheus provider: use authentication.oauth2 or basicAuth, or pass a token in a header from a secret argument"
)

func notSupported(p string) string { return strings.Replace(notSupportedYet, "%s", p, 1) }

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
		"plugin steps are refused; experiment steps run": {
			manifests: canaryHead + `  strategy:
    canary:
      steps:
        - setWeight: 20
        - experiment:
            templates: [{name: baseline, specRef: stable}]
        - plugin: {name: acme/step, config: {x: 1}}
`,
			want: []Finding{
				shop("Rollout", "app", "spec.strategy.canary.steps[2].plugin", `InvalidSpec (Degraded, not updated): step plugins are not supported by Vane yet (plugin "acme/step")`),
			},
		},
		"routers Vane has: nginx, istio, smi, the Gateway API plugin": {
			manifests: routedHead + `        nginx: {stableIngress: app}
        istio: {virtualService: {name: app}}
        smi: {}
        plugins:
          argoproj-labs/gatewayAPI: {httpRoute: app, namespace: shop}
`,
		},
		"routers Vane lacks, each named; a Gateway API setting it lacks": {
			manifests: routedHead + `        alb: {ingress: app, servicePort: 80}
        traefik: {weightedTraefikServiceName: app}
        ambassador: {mappings: [app]}
        appMesh: {virtualService: {name: app}, virtualNodeGroup: {canaryVirtualNodeRef: {name: c}, stableVirtualNodeRef: {name: s}}}
        apisix: {route: {name: app}}
        plugins:
          argoproj-labs/openshift: {routes: [app]}
          argoproj-labs/gatewayAPI: {grpcRoute: app, namespace: shop}
`,
			want: []Finding{
				shop("Rollout", "app", "spec.strategy.canary.trafficRouting.alb", unsupportedRouter),
				shop("Rollout", "app", "spec.strategy.canary.trafficRouting.ambassador", unsupportedRouter),
				shop("Rollout", "app", "spec.strategy.canary.trafficRouting.appMesh", unsupportedRouter),
				shop("Rollout", "app", "spec.strategy.canary.trafficRouting.traefik", unsupportedRouter),
				shop("Rollout", "app", "spec.strategy.canary.trafficRouting.apisix", unsupportedRouter),
				shop("Rollout", "app", `spec.strategy.canary.trafficRouting.plugins["argoproj-labs/gatewayAPI"].grpcRoute`,
					"InvalidSpec (Degraded, not updated): GRPCRoutes are not supported by Vane's Gateway API router yet; use httpRoute or httpRoutes"),
				shop("Rollout", "app", `spec.strategy.canary.trafficRouting.plugins["argoproj-labs/openshift"]`, unsupportedPlugin),
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
				// datadog, prometheus sigv4, newRelic and kayenta are measured
				shop("AnalysisTemplate", "errors", `spec.metrics[3].provider.plugin["argoproj-labs/sample-prometheus"]`, notSupported("plugin argoproj-labs/sample-prometheus")),
				shop("AnalysisTemplate", "errors", "spec.metrics[4].provider.web.authentication.sigv4", sigv4),
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
// traffic router, migrate check reports the step exactly when the controller refuses the Rollout
// (its validation or strategy.UnsupportedSteps, both of which make it InvalidSpec), and the
// engine never completes a step migrate check reports.
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
	ch := newMigrateChecker(migrateClient(t), migrateNow)
	for name, step := range steps {
		for _, routed := range []bool{false, true} {
			ro := stepRollout(step, routed)
			refused := len(v1alpha1.ValidateRollout(ro)) > 0 || len(strategy.UnsupportedSteps(ro)) > 0
			reported := false
			for _, d := range ch.rollout(ro) {
				reported = reported || strings.Contains(d.vane, "InvalidSpec")
			}
			if reported != refused {
				t.Errorf("%s (routed %v): the controller refuses it: %v; migrate check reports it: %v", name, routed, refused, reported)
			}
			if name == "plugin" {
				if !refused {
					t.Errorf("%s (routed %v): not refused", name, routed)
				}
				plan, err := strategy.Canary(strategy.Input{Rollout: ro, NewHash: "n", StepsHash: "steps", Now: migrateNow,
					TrafficRouter: routed, RouterWeightVerified: true, Sets: []strategy.Set{
						{Hash: "n", Role: strategy.RoleNew, Pods: strategy.Pods{Spec: 1, Current: 1, Available: 1}},
						{Hash: "s", Role: strategy.RoleStable, Pods: strategy.Pods{Spec: 4, Current: 4, Available: 4}}}})
				if err != nil {
					t.Fatal(err)
				}
				if *plan.Status.CurrentStepIndex != *ro.Status.CurrentStepIndex {
					t.Errorf("%s (routed %v): the engine moved from step %d to %d", name, routed,
						*ro.Status.CurrentStepIndex, *plan.Status.CurrentStepIndex)
				}
			}
		}
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
	want := []string{"cloudWatch", "datadog", "graphite", "influxdb", "job", "kayenta", "newRelic", "prometheus", "skywalking", "wavefront", "web"}
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
	tests := map[string]struct {
		objs []client.Object
		code int
		want string
	}{
		"differences": {objs: objs, code: ExitDifferences, want: `KIND        NAMESPACE      NAME           FIELD                                 VANE
Deployment  argo-rollouts  argo-rollouts  spec.replicas                         Argo Rollouts' controller is running (1 replica): scale it to 0 before starting Vane, or both act on the same Rollouts
Rollout     shop           app            spec.strategy.canary.steps[0].plugin  InvalidSpec (Degraded, not updated): step plugins are not supported by Vane yet (plugin "acme/step")

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
			o := &Options{Client: migrateClient(t, tc.objs...), Namespace: "shop", Out: &out, Err: &errOut, Clock: testingclock.NewFakeClock(migrateNow)}
			err := MigrateCheck(context.Background(), o)
			var exit *ExitError
			code := ExitNoDifference
			if errors.As(err, &exit) {
				code = exit.Code
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || errOut.Len() > 0 {
				t.Errorf("exit code %d (want %d), error %v, stderr %q", code, tc.code, err, errOut.String())
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
