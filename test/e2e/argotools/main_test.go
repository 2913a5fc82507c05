// Package argotools runs the Argo ecosystem's own tools against rollouts that Vane's controller
// drives on the local control plane (internal/testenv): Argo Rollouts' kubectl plugin, built
// from the pinned module by `make argo-tools`, and Argo CD's health script for Rollouts, read
// from the pinned Argo CD module. Run it with `go test ./test/e2e/argotools/`.
package argotools

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/internal/controller"
	"github.com/vanedev/vane/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var controllerOnce sync.Once

// withController returns the shared control plane with Vane's controller running in this test
// process (started once, stopped before the control plane), acting as its ServiceAccount with
// the generated RBAC of config/rbac.
func withController(t *testing.T) *testenv.Env {
	t.Helper()
	env := testenv.Get(t)
	var startErr error
	controllerOnce.Do(func() {
		logf, err := os.CreateTemp("", "vane-argotools-controller-*.log")
		if err != nil {
			startErr = err
			return
		}
		ctrl.SetLogger(zap.New(zap.WriteTo(logf), zap.UseDevMode(true), zap.Level(zapcore.Level(-1))))
		fmt.Fprintf(os.Stderr, "argotools: controller log in %s\n", logf.Name())
		cfg, err := controllerIdentity(env)
		if err != nil {
			startErr = err
			return
		}
		mgr, err := controller.NewManager(cfg, controller.Options{MetricsAddr: "0", HealthAddr: "0", Workers: 4})
		if err != nil {
			startErr = err
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = mgr.Start(ctx) }()
		testenv.OnStop(func() { cancel(); <-done })
	})
	if startErr != nil {
		t.Fatalf("starting the controller: %v", startErr)
	}
	return env
}

func controllerIdentity(env *testenv.Env) (*rest.Config, error) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "vane-system"}}
	if err := env.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	for _, f := range []string{"role.yaml", "service_account.yaml", "role_binding.yaml"} {
		b, err := os.ReadFile(filepath.Join(env.RepoRoot, "config", "rbac", f))
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &u.Object); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if err := env.Client.Create(ctx, u); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:vane-system:vane-controller"}
	return cfg, nil
}
