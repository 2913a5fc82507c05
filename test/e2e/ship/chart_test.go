package ship

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// The values sets the chart is linted, rendered and applied with.
var (
	defaultValues = chartValues{name: "defaults"}

	namespacedValues = chartValues{name: "namespaced", values: `
namespaced: true
instanceID: ship
replicas: 3
image:
  tag: v0.0.0-ship-test
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
controller: {workers: 2, verbosity: 1}
resources:
  requests: {cpu: 100m, memory: 128Mi}
  limits: {cpu: "1", memory: 256Mi}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: platform, effect: NoSchedule}]
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector: {matchLabels: {app.kubernetes.io/name: vane}}
podAnnotations: {example.com/team: platform}
metrics:
  serviceMonitor: {enabled: true, labels: {release: prometheus}}
notifications:
  configMap:
    create: true
    data:
      trigger.on-rollout-completed: |
        - send: [rollout-completed]
webhook:
  certManager: {enabled: true}
`}

	minimalValues = chartValues{name: "minimal", values: `
replicas: 1
leaderElection: {enabled: false}
crds: {install: false}
metrics: {enabled: false}
networkPolicy: {enabled: false}
podDisruptionBudget: {enabled: false}
serviceAccount: {create: false, name: platform-sa}
webhook: {enabled: false}
`}
)

// TestChartLint: Helm's linter (as helm lint --strict) finds no warning or error with any
// of the values sets.
func TestChartLint(t *testing.T) {
	for _, v := range []chartValues{defaultValues, namespacedValues, minimalValues} {
		out, err := helmLint(t, v)
		if err != nil {
			t.Errorf("lint with %s values: %v\n%s", v.name, err, out)
		}
		t.Logf("lint %s: %s", v.name, strings.TrimSpace(out))
	}
}

// TestChartValuesSchema: values.schema.json refuses wrong types, unknown keys and a bad
// digest; several replicas without leader election are refused by the template.
func TestChartValuesSchema(t *testing.T) {
	for _, c := range []struct{ values, want string }{
		{"replicas: two", "replicas"},
		{"replica: 2", "replica"},
		{"image: {digest: latest}", "digest"},
		{"metrics: {serviceMonitor: {interval: often}}", "interval"},
		{"webhook: {failurePolicy: Never}", "failurePolicy"},
		{"replicas: 2\nleaderElection: {enabled: false}", "replicas > 1 needs leaderElection.enabled"},
		{"shards: -1", "shards"},
	} {
		_, _, err := helmTemplate(t, chartValues{name: "bad", values: c.values}, "vane", "vane-system")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("values %q: error %v, want one naming %q", c.values, err, c.want)
			continue
		}
		t.Logf("values %q: %s", c.values, lastLine(err.Error()))
	}
}

// TestChartShards: with shards, every replica runs with --shards in the release's namespace and
// its pod's name in POD_NAME, without leader election (several replicas are then allowed
// without it).
func TestChartShards(t *testing.T) {
	for name, values := range map[string]string{
		"leader election on":  "replicas: 3\nshards: 6",
		"leader election off": "replicas: 3\nshards: 6\nleaderElection: {enabled: false}",
	} {
		out, _, err := helmTemplate(t, chartValues{name: "shards", values: values}, "vane", "vane-system")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		objs := decodeYAML(t, out)
		_, args := deploymentArgs(t, objs)
		if !slices.Contains(args, "--shards=6") || !slices.Contains(args, "--leader-election-namespace=vane-system") || slices.Contains(args, "--leader-elect") {
			t.Errorf("%s: args %v, want --shards=6 and the lease namespace, without --leader-elect", name, args)
		}
		d := find(t, objs, "Deployment", "vane-controller")
		cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
		env, _, _ := unstructured.NestedSlice(cs[0].(map[string]any), "env")
		if len(env) != 1 || env[0].(map[string]any)["name"] != "POD_NAME" {
			t.Errorf("%s: env %v, want POD_NAME from the pod's name", name, env)
		}
	}
}

// TestChartDefaults: the default values render the cluster-wide install; it applies
// server-side without warning (the namespace warns on pods below the restricted Pod Security
// Standard), its NOTES say how to check it, and the image's binary run with its Deployment's
// arguments as its ServiceAccount runs a canary in another namespace.
func TestChartDefaults(t *testing.T) {
	env := testenv.Get(t)
	ns := restrictedNamespace(t, env)
	objs, notes := renderAndApply(t, env, defaultValues, ns)
	wantKinds(t, objs, map[string]int{"CustomResourceDefinition": 8, "ServiceAccount": 1, "ClusterRole": 2,
		"ClusterRoleBinding": 2, "Role": 1, "RoleBinding": 1, "Deployment": 1, "Service": 2, "PodDisruptionBudget": 1,
		"NetworkPolicy": 1, "ValidatingWebhookConfiguration": 1})
	if fp := webhookFailurePolicy(t, objs); fp != "Ignore" {
		t.Errorf("webhook failurePolicy %s, want Ignore by default", fp)
	}
	for _, want := range []string{"in every namespace", "rollout status deployment/ship-vane-controller", "get lease vane-controller-lock", "-n " + ns} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, notes)
		}
	}
	crd := find(t, objs, "CustomResourceDefinition", "rollouts.argoproj.io")
	if crd.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
		t.Errorf("the CRDs are not kept on uninstall: annotations %v", crd.GetAnnotations())
	}
	_, args := deploymentArgs(t, objs)
	startController(t, hostBinary(t), args, serviceAccountKubeconfig(t, env, ns, "ship-vane-controller"))
	waitLease(t, env, ns, "vane-controller-lock")
	waitCABundle(t, env, "ship-vane-"+ns+"-webhook", ns, "ship-vane-webhook-tls")
	runCanary(t, env, env.Namespace(t), "chart")
}

// TestChartNamespaced: namespaced, with an instance id, three replicas, resources, scheduling
// constraints, a ServiceMonitor and the notifications ConfigMap; the controller runs a canary
// labelled with its instance id in the release's namespace.
func TestChartNamespaced(t *testing.T) {
	env := testenv.Get(t)
	applyServerSide(t, env, "ServiceMonitor CRD stand-in", decodeYAML(t, readTestdata(t, "servicemonitor-crd.yaml")))
	applyServerSide(t, env, "cert-manager CRD stand-ins", decodeYAML(t, readTestdata(t, "cert-manager-crds.yaml")))
	ns := restrictedNamespace(t, env)
	objs, notes := renderAndApply(t, env, namespacedValues, ns)
	wantKinds(t, objs, map[string]int{"CustomResourceDefinition": 8, "ServiceAccount": 1, "Role": 1, "RoleBinding": 1,
		"ClusterRole": 1, "ClusterRoleBinding": 1, "Deployment": 1, "Service": 2, "ServiceMonitor": 1,
		"PodDisruptionBudget": 1, "NetworkPolicy": 1, "ConfigMap": 1, "ValidatingWebhookConfiguration": 1,
		"Issuer": 1, "Certificate": 1})
	cfg := find(t, objs, "ValidatingWebhookConfiguration", "ship-vane-"+ns+"-webhook")
	if cfg.GetAnnotations()["cert-manager.io/inject-ca-from"] != ns+"/ship-vane-webhook" {
		t.Errorf("the webhook configuration does not ask cert-manager for its caBundle: %v", cfg.GetAnnotations())
	}
	// cert-manager is not here: the test writes the Secret its Certificate would
	writeTLSSecret(t, env, ns, "ship-vane-webhook-tls", "ship-vane-webhook."+ns+".svc")
	if !strings.Contains(notes, "in namespace "+ns+" only") {
		t.Errorf("NOTES.txt does not say the install is namespaced:\n%s", notes)
	}
	image, args := deploymentArgs(t, objs)
	for _, a := range []string{"--namespace=" + ns, "--instance-id=ship", "--workers=2", "--verbosity=1", "--webhook-manage-certs=false"} {
		if !slices.Contains(args, a) {
			t.Errorf("Deployment args %q lack %s", args, a)
		}
	}
	if !strings.HasSuffix(image, ":v0.0.0-ship-test@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef") {
		t.Errorf("image %s is not pinned by the digest", image)
	}
	spec := find(t, objs, "Deployment", "ship-vane-controller").Object["spec"].(map[string]any)
	pod := spec["template"].(map[string]any)["spec"].(map[string]any)
	for _, k := range []string{"nodeSelector", "tolerations", "affinity"} {
		if pod[k] == nil {
			t.Errorf("the Deployment's pods have no %s", k)
		}
	}
	startController(t, hostBinary(t), args, serviceAccountKubeconfig(t, env, ns, "ship-vane-controller"))
	runRollout(t, env, withInstanceID(canary(ns, "chart", "registry.example/app:1"), "ship"))
}

// TestChartMinimal: no CRDs, no metrics, no policies, one replica without leader election,
// the team's own ServiceAccount.
func TestChartMinimal(t *testing.T) {
	env := testenv.Get(t)
	ns := restrictedNamespace(t, env)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "platform-sa", Namespace: ns}}
	if err := env.Client.Create(context.Background(), sa); err != nil {
		t.Fatal(err)
	}
	objs, _ := renderAndApply(t, env, minimalValues, ns)
	wantKinds(t, objs, map[string]int{"ClusterRole": 1, "ClusterRoleBinding": 1, "Deployment": 1})
	_, args := deploymentArgs(t, objs)
	if slices.Contains(args, "--leader-elect") || !slices.Contains(args, "--metrics-bind-address=0") {
		t.Errorf("Deployment args %q: want no leader election and no metrics", args)
	}
	subjects, _, _ := unstructured.NestedSlice(find(t, objs, "ClusterRoleBinding", "ship-vane-controller").Object, "subjects")
	if len(subjects) != 1 || subjects[0].(map[string]any)["name"] != "platform-sa" {
		t.Errorf("ClusterRoleBinding subjects %v, want the ServiceAccount platform-sa", subjects)
	}
}

// restrictedNamespace is a test namespace that warns about pods below the restricted Pod
// Security Standard (warn, not enforce: the canaries' pods are not restricted).
func restrictedNamespace(t *testing.T, env *testenv.Env) string {
	t.Helper()
	ns := env.Namespace(t)
	obj := &corev1.Namespace{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: ns}, obj); err != nil {
		t.Fatal(err)
	}
	obj.Labels["pod-security.kubernetes.io/warn"] = "restricted"
	if err := env.Client.Update(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	return ns
}

// renderAndApply renders the chart as release "ship" in ns with the Helm library and applies
// the result server-side.
func renderAndApply(t *testing.T, env *testenv.Env, v chartValues, ns string) ([]*unstructured.Unstructured, string) {
	t.Helper()
	out, notes, err := helmTemplate(t, v, "ship", ns)
	if err != nil {
		t.Fatal(err)
	}
	objs := decodeYAML(t, out)
	applyServerSide(t, env, "chart with "+v.name+" values", objs)
	return objs, notes
}

func wantKinds(t *testing.T, objs []*unstructured.Unstructured, want map[string]int) {
	t.Helper()
	if got := kinds(objs); !mapsEqual(got, want) {
		t.Errorf("rendered kinds %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func withInstanceID(ro *v1alpha1.Rollout, id string) *v1alpha1.Rollout {
	ro.Labels = map[string]string{v1alpha1.InstanceIDLabel: id}
	return ro
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestWarningsAreCaught: the warning check the install tests rely on works: a Deployment whose
// pods are below the restricted Pod Security Standard draws the API server's warning in a
// namespace of restrictedNamespace.
func TestWarningsAreCaught(t *testing.T) {
	env := testenv.Get(t)
	ns := restrictedNamespace(t, env)
	bare := decodeYAML(t, []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: bare, namespace: `+ns+`}
spec:
  selector: {matchLabels: {app: bare}}
  template:
    metadata: {labels: {app: bare}}
    spec: {containers: [{name: app, image: registry.example/app:1}]}
`))
	warnings := applyObjects(t, env, "bare Deployment", bare)
	if len(warnings) == 0 || !strings.Contains(strings.Join(warnings, " "), "would violate PodSecurity") {
		t.Errorf("warnings %q, want the PodSecurity warning", warnings)
	}
}
