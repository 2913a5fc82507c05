package ship

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/internal/testenv"
	"github.com/vanedev/vane/internal/testenv/vaneproc"
)

// warningLog collects the API server's warnings.
type warningLog struct {
	mu   sync.Mutex
	list []string
}

// HandleWarningHeader records one warning.
func (w *warningLog) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// decodeYAML splits a multi-document YAML text into objects.
func decodeYAML(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
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

// applyServerSide applies every object in order with server-side apply and fails the test on
// any error or any warning the API server returns.
func applyServerSide(t *testing.T, env *testenv.Env, what string, objs []*unstructured.Unstructured) {
	t.Helper()
	if warnings := applyObjects(t, env, what, objs); len(warnings) > 0 {
		t.Errorf("%s: the API server warned:\n  %s", what, strings.Join(warnings, "\n  "))
		return
	}
	t.Logf("%s: %d objects applied server-side, no warning", what, len(objs))
}

// applyObjects applies the objects server-side, in order, waiting for CRDs to be served, and
// returns the API server's warnings.
func applyObjects(t *testing.T, env *testenv.Env, what string, objs []*unstructured.Unstructured) []string {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	w := &warningLog{}
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, u := range objs {
		u = u.DeepCopy()
		//nolint:staticcheck // client.Apply with an unstructured object is server-side apply
		if err := c.Patch(ctx, u, client.Apply, client.FieldOwner("vane-ship-test"), client.ForceOwnership); err != nil {
			t.Fatalf("%s: applying %s %s: %v", what, u.GetKind(), u.GetName(), err)
		}
		if u.GetKind() == "CustomResourceDefinition" {
			if err := testenv.WaitEstablished(ctx, c, u.GetName()); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.list)
}

// find returns the object of kind and name.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, u := range objs {
		if u.GetKind() == kind && u.GetName() == name {
			return u
		}
	}
	t.Fatalf("no %s %s in the manifests", kind, name)
	return nil
}

// kinds counts the objects by kind.
func kinds(objs []*unstructured.Unstructured) map[string]int {
	out := map[string]int{}
	for _, u := range objs {
		out[u.GetKind()]++
	}
	return out
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates as the ServiceAccount with
// a token the API server issues for it (TokenRequest), as a pod's projected token would.
func serviceAccountKubeconfig(t *testing.T, env *testenv.Env, ns, name string) string {
	t.Helper()
	tr, err := env.Clientset.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, name, err)
	}
	ca := env.Config.CAFile
	if ca == "" {
		ca = filepath.Join(t.TempDir(), "ca.crt")
		if err := os.WriteFile(ca, env.Config.CAData, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: %q, certificate-authority: %q}
users:
- name: sa
  user: {token: %q}
contexts:
- name: sa
  context: {cluster: local, user: sa}
current-context: sa
`, env.Config.Host, ca, tr.Status.Token)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// deploymentArgs returns the image and arguments of the one Deployment's container.
func deploymentArgs(t *testing.T, objs []*unstructured.Unstructured) (string, []string) {
	t.Helper()
	var d *unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == "Deployment" {
			if d != nil {
				t.Fatal("more than one Deployment in the manifests")
			}
			d = u
		}
	}
	if d == nil {
		t.Fatal("no Deployment in the manifests")
	}
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("the Deployment has %d containers, want 1", len(cs))
	}
	c := cs[0].(map[string]any)
	var args []string
	for _, a := range c["args"].([]any) {
		args = append(args, a.(string))
	}
	return c["image"].(string), args
}

// controllerProcess is the image's binary running as the controller (internal/testenv/vaneproc).
type controllerProcess struct {
	*vaneproc.Process
	metrics, health, webhook string
}

// startController runs bin with the Deployment's args (bind addresses moved to free
// loopback ports; a --flag=value of extra replaces the Deployment's, other extra args are
// added) and the kubeconfig; it waits until /readyz answers, and stops it (SIGTERM) when the
// test ends.
func startController(t *testing.T, bin string, args []string, kubeconfig string, extra ...string) *controllerProcess {
	t.Helper()
	p := &controllerProcess{}
	var run []string
	for _, a := range withOverrides(args, extra) {
		switch {
		case strings.HasPrefix(a, "--metrics-bind-address="):
			p.metrics = vaneproc.FreeAddr(t)
			a = "--metrics-bind-address=" + p.metrics
		case strings.HasPrefix(a, "--health-probe-bind-address="):
			p.health = vaneproc.FreeAddr(t)
			a = "--health-probe-bind-address=" + p.health
		case strings.HasPrefix(a, "--webhook-bind-address="):
			p.webhook = strings.TrimPrefix(a, "--webhook-bind-address=")
			if !slices.Contains(extra, a) {
				p.webhook = vaneproc.FreeAddr(t)
			}
			a = "--webhook-bind-address=" + p.webhook
		}
		run = append(run, a)
	}
	p.Process = vaneproc.Start(t, vaneproc.Options{Name: "controller", Bin: bin, Args: append(run, "--kubeconfig", kubeconfig)})
	t.Cleanup(func() { p.stop() })
	p.WaitReady("http://"+p.health+"/readyz", 60*time.Second)
	return p
}

// withOverrides replaces each --flag=value of args that extra sets again, and adds the rest
// of extra.
func withOverrides(args, extra []string) []string {
	out := slices.Clone(args)
	for _, e := range extra {
		name, _, _ := strings.Cut(e, "=")
		i := slices.IndexFunc(out, func(a string) bool { return strings.HasPrefix(a, name+"=") })
		if i >= 0 {
			out[i] = e
		} else {
			out = append(out, e)
		}
	}
	return out
}

// stop stops the controller as a Deployment being deleted would (SIGTERM, SIGKILL after 15 s).
func (p *controllerProcess) stop() { p.Stop(15 * time.Second) }
