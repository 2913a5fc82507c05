// Package plugintest gives tests Argo Rollouts' own sample plugins, built from Argo's published
// module by `make argo-plugins` (hack/tools/argoplugins/install.sh, which `make test` runs
// first), a loopback HTTP server to download them from, and plugin Managers over a ConfigMap.
package plugintest

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/internal/localcluster"
	"github.com/vanedev/vane/internal/plugin"
)

// The sample plugins of Argo Rollouts' test/cmd, by binary name.
const (
	// MetricsSample is a metric provider plugin ("argoproj/sample-prometheus") that runs a
	// Prometheus query and judges it with the metric's conditions.
	MetricsSample = "metrics-plugin-sample"
	// RouterSample is a traffic router plugin ("argoproj/sample-nginx") that keeps an
	// ingress-nginx canary Ingress at the weight it is given.
	RouterSample = "trafficrouter-plugin-sample"
	// StepSample is a step plugin that draws a random number (`--seed N` fixes the sequence),
	// at once or, with config {"async": true}, a minute later.
	StepSample = "step-plugin-sample"
	// StepE2E is a step plugin that answers with the phases its config asks for
	// ({"return": "Failed", "abort": {"return": ...}, "terminate": {"return": ...}}).
	StepE2E = "step-plugin-e2e"
)

// Namespace is the controller namespace of Managers made by NewManager.
const Namespace = "argo-rollouts-test"

// Dir returns the folder the sample plugins are built into: what
// hack/tools/argoplugins/bindir.sh prints (VANE_ARGO_PLUGINS_BIN when set).
func Dir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := localcluster.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(root, "hack", "tools", "argoplugins", "bindir.sh")).Output()
	if err != nil {
		t.Fatalf("hack/tools/argoplugins/bindir.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// Binary returns the path of the sample plugin name. The test is skipped under -short (it
// runs plugin processes) and fails when the plugins are not built.
func Binary(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs Argo Rollouts' sample plugins; skipped by -short")
	}
	p := filepath.Join(Dir(t), name)
	if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
		t.Fatalf("the sample plugin %s is not built in %s: run `make argo-plugins` (hack/tools/argoplugins/install.sh)", name, filepath.Dir(p))
	}
	return p
}

// SHA256 returns the hex SHA-256 checksum of the file at path.
func SHA256(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Server serves files on loopback and records the requests' headers.
type Server struct {
	// URL is the server's base URL.
	URL string

	mu      sync.Mutex
	headers []http.Header
}

// Serve starts a loopback HTTP server that answers GET /<name> with the file files[name] and
// 404 otherwise; it stops when the test ends.
func Serve(t testing.TB, files map[string]string) *Server {
	t.Helper()
	s := &Server{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.headers = append(s.headers, r.Header.Clone())
		s.mu.Unlock()
		p, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, p)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Headers returns the headers of the requests so far.
func (s *Server) Headers() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.headers...)
}

// ConfigMap returns the argo-rollouts-config ConfigMap in namespace ns that lists items
// (under their kinds' keys).
func ConfigMap(t testing.TB, ns string, items ...plugin.Item) *corev1.ConfigMap {
	t.Helper()
	byKind := map[plugin.Kind][]plugin.Item{}
	for _, it := range items {
		byKind[it.Kind] = append(byKind[it.Kind], it)
	}
	data := map[string]string{}
	for k, list := range byKind {
		b, err := yaml.Marshal(list)
		if err != nil {
			t.Fatal(err)
		}
		data[k.ConfigKey()] = string(b)
	}
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: plugin.ConfigMapName, Namespace: ns}, Data: data}
}

// NewManager returns a plugin Manager whose ConfigMap (in Namespace) lists items, beside the
// other objects given, read through a fake client; binaries go to a temporary folder and
// processes stop when the test ends.
func NewManager(t testing.TB, opts plugin.Options, items []plugin.Item, objs ...client.Object) *plugin.Manager {
	t.Helper()
	objs = append(objs, ConfigMap(t, Namespace, items...))
	c := fake.NewClientBuilder().WithObjects(objs...).Build()
	opts.Namespace = Namespace
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	m := plugin.NewManager(c, opts)
	t.Cleanup(m.Close)
	return m
}
