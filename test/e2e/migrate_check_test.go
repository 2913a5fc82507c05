package e2e

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// migrateSeeds are the seed files whose objects the cluster serves (the Flagger one is not
// an argoproj.io manifest).
var migrateSeeds = []string{"canary-demo-prometheus.yaml", "colorapi-canary.yaml", "gradual-rollout.yaml",
	"keptn-podtatohead-rollout.yaml", "rollouts-demo-bluegreen-workloadref.yaml"}

// migrateUnsupported uses what Vane does not act on: an App Mesh router, an instance id,
// authentication Vane lacks, an AnalysisRun in progress that uses a metric plugin Argo's
// argo-rollouts-config does not list; and what it now runs as Argo does, which gives no line:
// subscriptions to a built-in trigger and to a trigger of the user's, an experiment step, a
// plugin step whose plugin the ConfigMap lists, an Experiment in progress. CAT is replaced by
// the name of a ClusterAnalysisTemplate unique to the test.
const migrateUnsupported = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: edge
  annotations:
    notifications.argoproj.io/subscribe.on-rollout-aborted.slack: oncall
    notifications.argoproj.io/subscribe.on-edge-slow.slack: oncall
spec:
  replicas: 2
  selector: {matchLabels: {app: edge}}
  template:
    metadata: {labels: {app: edge}}
    spec: {containers: [{name: edge, image: "edge:1"}]}
  strategy:
    canary:
      canaryService: edge-canary
      stableService: edge-stable
      trafficRouting:
        appMesh: {virtualService: {name: edge}, virtualNodeGroup: {canaryVirtualNodeRef: {name: edge-canary}, stableVirtualNodeRef: {name: edge-stable}}}
      steps: [{setWeight: 20}, {pause: {}}]
---
apiVersion: v1
kind: Service
metadata: {name: edge-canary}
spec: {selector: {app: edge}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: edge-stable}
spec: {selector: {app: edge}, ports: [{port: 80}]}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: exp
  labels: {argo-rollouts.argoproj.io/controller-instance-id: blue}
spec:
  replicas: 2
  selector: {matchLabels: {app: exp}}
  template:
    metadata: {labels: {app: exp}}
    spec: {containers: [{name: exp, image: "exp:1"}]}
  strategy:
    canary:
      steps:
        - setWeight: 20
        - experiment:
            templates: [{name: baseline, specRef: stable}]
            analyses: [{name: nr, templateName: CAT, clusterScope: true}]
        - plugin: {name: acme/step}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: errors}
spec:
  metrics:
    - {name: health, provider: {web: {url: "http://edge/health"}}}
    - {name: dd, provider: {datadog: {query: "sum:errors{*}"}}}
    - {name: amp, provider: {prometheus: {address: "https://amp.example", query: up, authentication: {sigv4: {region: eu-west-1}}}}}
    - {name: signed, provider: {web: {url: "https://api.example/health", authentication: {sigv4: {region: eu-west-1}}}}}
---
apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata: {name: CAT}
spec:
  metrics: [{name: nr, provider: {newRelic: {query: "SELECT count(*) FROM Transaction"}}}]
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
# labelled for an instance no controller of this test process runs: it stays in progress
# whatever the other tests started (its Error under Vane is TestAnalysisTTLAndUnsupportedProvider's)
metadata: {name: probe, labels: {argo-rollouts.argoproj.io/controller-instance-id: blue}}
spec:
  metrics: [{name: p, provider: {plugin: {argoproj-labs/sample-prometheus: {address: "http://prometheus:9090", query: up}}}}]
---
apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata: {name: baseline}
spec:
  templates:
    - name: a
      selector: {matchLabels: {x: a}}
      template: {metadata: {labels: {x: a}}, spec: {containers: [{name: a, image: "a:1"}]}}
`

// migrateArgo is what an Argo Rollouts installation leaves running: its controller Deployment,
// the leader Lease it renews (RENEW is replaced by the current time) and the ConfigMap of its
// plugins, which lists a step plugin only.
const migrateArgo = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: argo-rollouts
  labels: {app.kubernetes.io/name: argo-rollouts, app.kubernetes.io/component: rollouts-controller}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: argo-rollouts}}
  template:
    metadata: {labels: {app.kubernetes.io/name: argo-rollouts}}
    spec: {containers: [{name: argo-rollouts, image: "quay.io/argoproj/argo-rollouts:v1.10.1"}]}
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: argo-rollouts-controller-lock}
spec: {holderIdentity: argo-rollouts-5f7d9c-abcde, leaseDurationSeconds: 15, renewTime: "RENEW"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: argo-rollouts-config}
data:
  stepPlugins: |-
    - name: acme/step
      location: file:///home/argo-rollouts/plugin-bin/acme-step
`

// TestMigrateCheck applies the seeds (nothing differs: exit 0), then objects Vane treats
// differently and a running Argo controller (exit 1, one line per difference), checks that
// the controller does what the check announced for two of them, and that errors exit 2.
func TestMigrateCheck(t *testing.T) {
	env := testenv.Get(t)
	ns, argoNS := env.Namespace(t), env.Namespace(t)
	cli := vaneCLI{t: t, bin: buildVane(t, env), env: env, ns: ns}
	for _, f := range migrateSeeds {
		applyManifests(t, env, ns, filepath.Join("examples", "seeds", f), nil)
	}

	out, code := cli.run("migrate", "check")
	wantLines(t, out, code, 0,
		`Checked namespace "`+ns+`": 5 Rollouts, 2 AnalysisTemplates, 0 ClusterAnalysisTemplates, 0 AnalysisRuns (0 in progress), 0 Experiments (0 in progress); Argo Rollouts' controller: not running.`,
		"No differences: Vane would act on these objects as Argo Rollouts does.")

	cat := ns + "-nr"
	createYAML(t, env, ns, strings.ReplaceAll(migrateUnsupported, "CAT", cat))
	t.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), &v1alpha1.ClusterAnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: cat}})
	})
	createYAML(t, env, argoNS, strings.ReplaceAll(migrateArgo, "RENEW", time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")))

	out, code = cli.run("migrate", "check")
	wantLines(t, out, code, 1,
		"KIND NAMESPACE NAME FIELD VANE",
		"Deployment "+argoNS+" argo-rollouts spec.replicas Argo Rollouts' controller is running (1 replica): scale it to 0 before starting Vane, or both act on the same Rollouts",
		"Lease "+argoNS+" argo-rollouts-controller-lock spec.holderIdentity an Argo Rollouts controller (argo-rollouts-5f7d9c-abcde) holds the leader Lease, renewed ",
		"Rollout "+ns+" edge spec.strategy.canary.trafficRouting.appMesh InvalidSpec (Degraded, not updated): this traffic router is not supported by Vane; use the Gateway API, nginx, istio, smi, alb, ambassador, traefik or apisix",
		// the plugin step is listed in the ConfigMap of Argo's namespace: no line
		"Rollout "+ns+" exp metadata.labels[argo-rollouts.argoproj.io/controller-instance-id] reconciled only by a Vane controller started with --instance-id blue (without it Vane acts on unlabelled objects only)",
		// datadog, prometheus sigv4 and newRelic metrics are measured: no line
		"AnalysisTemplate "+ns+" errors spec.metrics[3].provider.web.authentication.sigv4 every measurement is an Error at once: authentication.sigv4 is only supported by the prometheus provider: use authentication.oauth2 or basicAuth, or pass a token in a header from a secret argument",
		`AnalysisRun `+ns+` probe spec.metrics[0].provider.plugin["argoproj-labs/sample-prometheus"] every measurement is an Error at once: metric provider plugin "argoproj-labs/sample-prometheus": not configured: the ConfigMap `+argoNS+`/argo-rollouts-config has no entry of that name in metricProviderPlugins`,
		"AnalysisRun "+ns+" probe metadata.labels[argo-rollouts.argoproj.io/controller-instance-id] reconciled only by a Vane controller started with --instance-id blue (without it Vane acts on unlabelled objects only)",
		"",
		`Checked namespace "`+ns+`": 7 Rollouts, 3 AnalysisTemplates, 1 ClusterAnalysisTemplate, 1 AnalysisRun (1 in progress), 1 Experiment (1 in progress); Argo Rollouts' controller: running.`,
		"7 differences in 6 objects: Vane would treat them differently from Argo Rollouts (exit code 1).",
		"Error: 7 differences found")

	migrateCheckPlugin(t, env, cli.bin)

	migrateCheckNamespaceUser(t, env, cli)
	migrateCheckErrors(t, cli)
	migrateCheckPredictions(t, env, ns)
}

// migrateCheckPlugin runs `kubectl vane migrate check -A` (the binary installed as the plugin
// kubectl-vane; the control plane's kubectl when there is one): every namespace is read.
func migrateCheckPlugin(t *testing.T, env *testenv.Env, bin string) {
	dir := t.TempDir()
	copyFile(t, bin, filepath.Join(dir, "kubectl-vane"))
	cmd := exec.Command(filepath.Join(dir, "kubectl-vane"), "--kubeconfig", env.Kubeconfig, "migrate", "check", "-A")
	kubectl := filepath.Join(os.Getenv("VANE_K8S_BIN"), "kubectl")
	if _, err := os.Stat(kubectl); err == nil {
		cmd = exec.Command(kubectl, "vane", "--kubeconfig", env.Kubeconfig, "migrate", "check", "-A")
		cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	} else {
		t.Logf("no kubectl in $VANE_K8S_BIN: running kubectl-vane directly")
	}
	all, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(all), "Checked all namespaces: ") ||
		!strings.Contains(string(all), "edge") || !strings.Contains(string(all), "argo-rollouts-controller-lock") {
		t.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, all)
	}
}

// migrateCheckNamespaceUser: a user who may read the namespace only is warned about what was
// not checked (the ClusterAnalysisTemplates, Argo's controller, the plugins' ConfigMap) and
// gets the rest.
func migrateCheckNamespaceUser(t *testing.T, env *testenv.Env, cli vaneCLI) {
	ctx := context.Background()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "argoproj-reader", Namespace: cli.ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"argoproj.io"}, Verbs: []string{"get", "list"},
			Resources: []string{"rollouts", "analysistemplates", "analysisruns", "experiments"}}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "argoproj-reader", Namespace: cli.ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "dev"}}}
	for _, o := range []client.Object{role, binding} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	out, code := cli.run("--as", "dev", "migrate", "check")
	for _, want := range []string{
		`warning: ClusterAnalysisTemplates not checked: forbidden: clusteranalysistemplates.argoproj.io is forbidden: User "dev" cannot list resource "clusteranalysistemplates"`,
		`warning: a running Argo Rollouts controller not checked: forbidden: deployments.apps is forbidden: User "dev" cannot list resource "deployments"`,
		`warning: the plugins' ConfigMap argo-rollouts-config not checked: forbidden: configmaps "argo-rollouts-config" is forbidden: User "dev" cannot get resource "configmaps"`,
		"Argo Rollouts' controller: not checked. Not checked: ClusterAnalysisTemplates, a running Argo Rollouts controller, the plugins' ConfigMap argo-rollouts-config.",
		"4 differences in 4 objects",
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("a user of the namespace only: exit %d (want 1), no %q in output:\n%s", code, want, out)
		}
	}
}

// migrateCheckErrors: a user who may read nothing, and a cluster that is not there, exit 2.
func migrateCheckErrors(t *testing.T, cli vaneCLI) {
	out, code := cli.run("--as", "nobody", "migrate", "check")
	if code != 2 || !strings.Contains(out, `listing Rollouts: forbidden: rollouts.argoproj.io is forbidden: User "nobody" cannot list resource "rollouts" in API group "argoproj.io" in the namespace "`+cli.ns+`"`) {
		t.Errorf("forbidden: exit %d (want 2), output:\n%s", code, out)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]\n" +
		"users: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	unreachable, err := exec.Command(cli.bin, "--kubeconfig", kc, "migrate", "check").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 ||
		!strings.Contains(string(unreachable), "cannot reach the cluster at https://127.0.0.1:1 (kubeconfig "+kc+")") {
		t.Errorf("unreachable cluster: %v, output %q", err, unreachable)
	}
}

// migrateCheckPredictions starts Vane's controller and checks that it does what the check
// announced: the App Mesh Rollout is InvalidSpec.
func migrateCheckPredictions(t *testing.T, env *testenv.Env, ns string) {
	withController(t)
	ctx := context.Background()
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, waitLong, true, func(ctx context.Context) (bool, error) {
		ro := &v1alpha1.Rollout{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "edge"}, ro); err != nil {
			return false, err
		}
		return ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && strings.Contains(ro.Status.Message, "trafficRouting.appMesh"), nil
	})
	if err != nil {
		t.Errorf("the App Mesh Rollout did not become InvalidSpec: %v", err)
	}
}

// wantLines checks the exit code and that the output, with runs of spaces collapsed (the
// table's alignment), has the wanted lines in order; a wanted line matches a line it starts.
func wantLines(t *testing.T, out string, code, want int, lines ...string) {
	t.Helper()
	if code != want {
		t.Errorf("exit code %d, want %d; output:\n%s", code, want, out)
	}
	got := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i := range got {
		got[i] = strings.Join(strings.Fields(got[i]), " ")
	}
	if len(got) != len(lines) {
		t.Errorf("%d lines, want %d; output:\n%s", len(got), len(lines), out)
		return
	}
	for i, l := range lines {
		if !strings.HasPrefix(got[i], l) || (l == "" && got[i] != "") {
			t.Errorf("line %d:\n got %q\nwant %q", i+1, got[i], l)
		}
	}
}

// createYAML creates every document of manifests in ns (cluster-scoped kinds stay so).
func createYAML(t *testing.T, env *testenv.Env, ns, manifests string) {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return
		} else if err != nil {
			t.Fatal(err)
		}
		if u.GetKind() != "ClusterAnalysisTemplate" {
			u.SetNamespace(ns)
		}
		if err := env.Client.Create(context.Background(), u); err != nil {
			t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}
