package migration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/internal/testenv"
	"github.com/vanedev/vane/internal/testenv/vaneproc"
)

// vaneSA is the ServiceAccount of config/rbac; Vane's controller acts as it (impersonated), as
// it would once installed, so the migration also proves its ClusterRole is enough.
const vaneSA = "system:serviceaccount:vane-system:vane-controller"

// argoTools are Argo Rollouts' binaries and CRDs, built by `make argo-tools`.
type argoTools struct {
	controller, plugin, crds string
}

// requireArgo fails the test (never skips it) when `make argo-tools` has not been run.
func requireArgo(t *testing.T, env *testenv.Env) argoTools {
	t.Helper()
	dir := env.ArgoToolsDir(t)
	a := argoTools{
		controller: filepath.Join(dir, "rollouts-controller"),
		plugin:     filepath.Join(dir, "kubectl-argo-rollouts"),
		crds:       filepath.Join(dir, "crds"),
	}
	for _, f := range []string{filepath.Join(dir, ".stamp"), a.controller, a.plugin, filepath.Join(a.crds, "rollout-crd.yaml")} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Fatalf("Argo Rollouts' controller, plugin and CRDs are not built in %s (%s missing): run `make argo-tools` first", dir, filepath.Base(f))
		}
	}
	return a
}

// process is a controller run as a child process (internal/testenv/vaneproc): killed when the
// test ends, its log printed when the test fails.
type process struct {
	*vaneproc.Process
	t       *testing.T
	name    string
	metrics string // URL of its Prometheus endpoint on 127.0.0.1
}

func startProcess(t *testing.T, name, metricsURL string, env []string, bin string, args ...string) *process {
	t.Helper()
	p := vaneproc.Start(t, vaneproc.Options{Name: name, Bin: bin, Args: args, Env: env})
	return &process{Process: p, t: t, name: name, metrics: metricsURL}
}

// stop sends SIGTERM, as a Deployment being deleted or scaled down would, and waits for the
// process to exit (SIGKILL after 20s); a process that exited before fails the test.
func (p *process) stop() {
	p.t.Helper()
	p.RequireRunning()
	if p.Stop(20 * time.Second) {
		p.t.Logf("%s still running 20s after SIGTERM: killed", p.name)
		return
	}
	_, state := p.Exited()
	p.t.Logf("%s stopped by SIGTERM (%v)", p.name, state)
}

// scrape reads the process's metrics.
func (p *process) scrape() (vaneproc.Metrics, error) { return vaneproc.Scrape(p.metrics) }

// startArgo runs Argo Rollouts' controller scoped to ns, without leader election, its metrics
// and health endpoints on free ports (Argo binds them on every interface; the test reads only
// 127.0.0.1).
func startArgo(t *testing.T, env *testenv.Env, a argoTools, ns string) *process {
	t.Helper()
	metricsPort, healthPort := vaneproc.FreePort(t), vaneproc.FreePort(t)
	return startProcess(t, "argo-controller", fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort),
		[]string{"POD_NAMESPACE=" + ns}, a.controller,
		"--kubeconfig", env.Kubeconfig, "--namespaced", "--namespace", ns, "--leader-elect=false",
		"--metricsPort", strconv.Itoa(metricsPort), "--healthzPort", strconv.Itoa(healthPort),
		"--loglevel", "info", "--logformat", "text")
}

// startVane runs `vane controller` scoped to ns as its ServiceAccount.
func startVane(t *testing.T, env *testenv.Env, ns string) *process {
	t.Helper()
	installVaneRBAC(t, env)
	metricsPort := vaneproc.FreePort(t)
	return startProcess(t, "vane-controller", fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort), nil,
		vaneproc.Build(t, env.RepoRoot), "controller", "--kubeconfig", env.Kubeconfig, "-n", ns, "--as", vaneSA,
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", metricsPort), "--health-probe-bind-address", "0", "-v", "1")
}

// waitVaneSettled waits until Vane's controller has reconciled at least rollouts Rollouts and
// runs AnalysisRuns since it started and has nothing queued or in progress: the initial list
// puts every object of the namespace in the queue before the workers start.
func waitVaneSettled(t *testing.T, p *process, rollouts, runs int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for {
		p.RequireRunning()
		m, err := p.scrape()
		if err == nil {
			ro := m.Sum("controller_runtime_reconcile_total", `controller="rollout"`)
			ar := m.Sum("controller_runtime_reconcile_total", `controller="analysisrun"`)
			busy := m.Sum("workqueue_depth", `name="rollout"`) + m.Sum("workqueue_depth", `name="analysisrun"`) +
				m.Sum("controller_runtime_active_workers", `controller="rollout"`) + m.Sum("controller_runtime_active_workers", `controller="analysisrun"`)
			last = fmt.Sprintf("rollout reconciles %v, analysisrun reconciles %v, queued or in progress %v", ro, ar, busy)
			if ro >= float64(rollouts) && ar >= float64(runs) && busy == 0 {
				t.Logf("vane settled %.1fs after start: %s", time.Since(p.Started()).Seconds(), last)
				return
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("vane's controller did not reconcile every rollout and run within 60s: %s", last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitArgoSettled waits until Argo's controller has reconciled each named Rollout and
// AnalysisRun of ns at least once (its per-object reconcile histograms).
func waitArgoSettled(t *testing.T, p *process, ns string, rollouts, runs []string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var missing []string
	for {
		p.RequireRunning()
		m, err := p.scrape()
		missing = nil
		if err != nil {
			missing = []string{err.Error()}
		} else {
			for _, n := range rollouts {
				if m.Sum("rollout_reconcile_count", `namespace="`+ns+`"`, `name="`+n+`"`) == 0 {
					missing = append(missing, "rollout "+n)
				}
			}
			for _, n := range runs {
				if m.Sum("analysis_run_reconcile_count", `namespace="`+ns+`"`, `name="`+n+`"`) == 0 {
					missing = append(missing, "analysisrun "+n)
				}
			}
		}
		if len(missing) == 0 {
			t.Logf("argo reconciled every rollout and run %.1fs after start", time.Since(p.Started()).Seconds())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("argo's controller did not reconcile within 60s: %v", missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// applyCRDs creates or replaces every CustomResourceDefinition in dir's YAML files (other
// documents, such as a kustomization.yaml, are skipped), as `kubectl apply` of a release's CRDs
// does, and waits until each is Established.
func applyCRDs(t *testing.T, env *testenv.Env, dir string) {
	t.Helper()
	ctx := context.Background()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s (%v)", dir, err)
	}
	n := 0
	for _, f := range files {
		for _, doc := range readDocs(t, f) {
			if doc.GetKind() != "CustomResourceDefinition" {
				continue
			}
			var crd apiextensionsv1.CustomResourceDefinition
			b, _ := yaml.Marshal(doc.Object)
			if err := yaml.Unmarshal(b, &crd); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var cur apiextensionsv1.CustomResourceDefinition
			switch err := env.Client.Get(ctx, client.ObjectKey{Name: crd.Name}, &cur); {
			case apierrors.IsNotFound(err):
				err = env.Client.Create(ctx, &crd)
				if err != nil {
					t.Fatalf("creating CRD %s: %v", crd.Name, err)
				}
			case err != nil:
				t.Fatal(err)
			default:
				crd.ResourceVersion = cur.ResourceVersion
				if err := env.Client.Update(ctx, &crd); err != nil {
					t.Fatalf("replacing CRD %s: %v", crd.Name, err)
				}
			}
			if err := testenv.WaitEstablished(ctx, env.Client, crd.Name); err != nil {
				t.Fatalf("CRD %s not established: %v", crd.Name, err)
			}
			n++
		}
	}
	t.Logf("applied %d CRDs from %s", n, dir)
}

// readDocs reads every YAML document of a file.
func readDocs(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeDocs(t, path, b)
}

func decodeDocs(t *testing.T, what string, b []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// installVaneRBAC installs config/rbac (namespace vane-system, ServiceAccount, ClusterRole and
// binding), as a user installing Vane would.
func installVaneRBAC(t *testing.T, env *testenv.Env) {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "vane-system"}}
	if err := env.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, f := range []string{"role.yaml", "service_account.yaml", "role_binding.yaml"} {
		for _, u := range readDocs(t, filepath.Join(env.RepoRoot, "config", "rbac", f)) {
			if err := env.Client.Create(ctx, u); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("%s: %v", f, err)
			}
		}
	}
}

// run runs a CLI (Argo's kubectl plugin or Vane's) against the test cluster in ns.
func run(t *testing.T, env *testenv.Env, ns, bin string, args ...string) string {
	t.Helper()
	args = append(args, "--kubeconfig", env.Kubeconfig, "-n", ns)
	cmd := exec.Command(bin, args...)
	out, err := cmd.CombinedOutput()
	t.Logf("$ %s %s\n%s", filepath.Base(bin), strings.Join(args[:len(args)-4], " "), strings.TrimSpace(string(out)))
	if err != nil {
		t.Errorf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return string(out)
}
