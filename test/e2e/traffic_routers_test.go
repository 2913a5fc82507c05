//go:build linux

package e2e

// Helpers of the Ambassador, Traefik, APISIX and mixed-router tests: the CRDs of the routers
// no module of go.mod publishes, and router objects written, read and compared as YAML.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/internal/testenv"
	"github.com/vanedev/vane/internal/traffic/routertest"
)

var (
	argoRouterCRDsOnce sync.Once
	argoRouterCRDsErr  error
)

// argoRouterCRDs installs, once, the CRDs of the routers whose CRDs no module of go.mod
// publishes: Traefik's (TraefikService, IngressRoute, ...) from the github.com/traefik/traefik/v3
// module hack/traefik pins, and APISIX's ApisixRoute (v2beta3 and v2), the published CRD Argo
// Rollouts v1.10.1's own end-to-end tests install, from its module. Ambassador's stand-ins are
// in testdata/crds (trafficClient installs them).
func argoRouterCRDs(t *testing.T, env *testenv.Env) {
	t.Helper()
	argoRouterCRDsOnce.Do(func() {
		traefik, err := moduleDir("github.com/traefik/traefik/v3@" + traefikVersion(env.RepoRoot))
		if err != nil {
			argoRouterCRDsErr = err
			return
		}
		argo, err := moduleDir("github.com/argoproj/argo-rollouts@v1.10.1")
		if err != nil {
			argoRouterCRDsErr = err
			return
		}
		argoRouterCRDsErr = installCRDFiles(context.Background(), env,
			filepath.Join(traefik, "docs", "content", "reference", "dynamic-configuration", "kubernetes-crd-definition-v1.yml"),
			filepath.Join(argo, "test", "e2e", "crds", "apisix.yaml"))
	})
	if argoRouterCRDsErr != nil {
		t.Fatal(argoRouterCRDsErr)
	}
}

// moduleDir is the directory of module@version in the Go module cache, downloaded there when it
// is not yet (outside any module, so that no go.mod or go.sum changes).
func moduleDir(modVersion string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", modVersion)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	out, err := cmd.Output()
	var m struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &m); err != nil || jerr != nil || m.Dir == "" {
		return "", fmt.Errorf("go mod download %s: %v %s (%s)", modVersion, err, m.Error, out)
	}
	return m.Dir, nil
}

// installCRDFiles installs the CRDs of YAML files that may hold several documents.
func installCRDFiles(ctx context.Context, env *testenv.Env, files ...string) error {
	dir, err := os.MkdirTemp("", "vane-crds-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("reading CRDs: %w", err)
		}
		for _, doc := range strings.Split("\n"+string(b), "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			n++
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d.yaml", n)), []byte(doc), 0o600); err != nil {
				return err
			}
		}
	}
	if err := testenv.InstallCRDs(ctx, env.Client, dir); err != nil {
		return fmt.Errorf("installing the CRDs of %v: %w", files, err)
	}
	return nil
}

// objectShape is an object as the router tests compare it, in the form JSON gives it:
// apiVersion, kind, spec and, of its metadata, the name, labels, annotations and its
// controller ("Rollout/colorapi"); nil when it does not exist.
func objectShape(t *testing.T, c client.Client, apiVersion, kind, ns, name string) map[string]any {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil
		}
		t.Fatalf("reading %s %s/%s: %v", kind, ns, name, err)
	}
	md := map[string]any{"name": u.GetName()}
	if l := u.GetLabels(); len(l) > 0 {
		md["labels"] = l
	}
	if a := u.GetAnnotations(); len(a) > 0 {
		md["annotations"] = a
	}
	if ref := metav1.GetControllerOf(u); ref != nil {
		md["controller"] = ref.Kind + "/" + ref.Name
	}
	out := map[string]any{"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(), "metadata": md, "spec": u.Object["spec"]}
	return routertest.Normalize(t, out).(map[string]any)
}

// objectVersion is an object's resourceVersion ("" when it does not exist).
func objectVersion(t *testing.T, c client.Client, apiVersion, kind, ns, name string) string {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return ""
		}
		t.Fatalf("reading %s %s/%s: %v", kind, ns, name, err)
	}
	return u.GetResourceVersion()
}

// unstructuredRef is an object of apiVersion and kind ns/name, to delete it.
func unstructuredRef(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// createObject creates an object written as YAML in namespace ns.
func createObject(t *testing.T, c client.Client, ns, doc string) {
	t.Helper()
	u := &unstructured.Unstructured{Object: routertest.Data(t, doc)}
	u.SetNamespace(ns)
	must(t, "creating "+u.GetKind()+" "+u.GetName(), c.Create(context.Background(), u))
}
