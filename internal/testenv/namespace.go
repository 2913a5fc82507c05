package testenv

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/internal/localcluster"
)

// Namespace creates a namespace for t, named after the test, and deletes it when t ends
// (unless the test failed, so that its objects can be inspected on a kept cluster).
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: nsPrefix(t.Name())}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() && e.Dir == "" {
			t.Logf("namespace %s kept for inspection", ns.Name)
			return
		}
		_ = e.Client.Delete(context.Background(), ns)
	})
	// pods are refused until the namespace's default ServiceAccount exists
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true,
		func(ctx context.Context) (bool, error) {
			var sa corev1.ServiceAccount
			return e.Client.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "default"}, &sa) == nil, nil
		})
	if err != nil {
		t.Fatalf("namespace %s has no default ServiceAccount: %v", ns.Name, err)
	}
	return ns.Name
}

// nsPrefix turns a test name into a DNS-1123 namespace prefix.
func nsPrefix(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	p := strings.Trim(b.String(), "-")
	if len(p) > 40 {
		p = strings.Trim(p[:40], "-")
	}
	return p + "-"
}

// InstallCRDs creates (or updates) the CRDs in dir and waits until they are served; see
// localcluster.InstallCRDs.
var InstallCRDs = localcluster.InstallCRDs

// WaitEstablished waits until the named CRD is Established; see localcluster.WaitEstablished.
var WaitEstablished = localcluster.WaitEstablished

// ArgoToolsDir is the folder `make argo-tools` builds Argo Rollouts' controller, kubectl plugin
// and CRDs into: the one hack/tools/argo/bindir.sh prints (VANE_ARGO_BIN when set).
func (e *Env) ArgoToolsDir(t testing.TB) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(e.RepoRoot, "hack", "tools", "argo", "bindir.sh")).Output()
	if err != nil {
		t.Fatalf("hack/tools/argo/bindir.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}
