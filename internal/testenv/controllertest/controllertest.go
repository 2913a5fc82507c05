// Package controllertest starts Vane's controller in a test process against the control plane
// of internal/testenv (a package of its own, so that packages the controller imports can use
// testenv in their tests).
package controllertest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/vanedev/vane/internal/controller"
	"github.com/vanedev/vane/internal/testenv"
)

var (
	controllerOnce sync.Once
	controllerErr  error
)

// Start starts Vane's controller in this test process, once (later calls return the
// first call's error): as the ServiceAccount of the generated RBAC (ControllerIdentity), so that
// every scenario also proves the ClusterRole grants enough, logging to a temporary file whose
// name starts with name (printed on standard error), and stopped before the control plane.
func Start(e *testenv.Env, name string) error {
	controllerOnce.Do(func() { controllerErr = start(e, name) })
	return controllerErr
}

func start(e *testenv.Env, name string) error {
	logf, err := os.CreateTemp("", name+"-controller-*.log")
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logf), zap.UseDevMode(true), zap.Level(zapcore.Level(-1))))
	fmt.Fprintf(os.Stderr, "%s: controller log in %s\n", name, logf.Name())
	cfg, err := e.ControllerIdentity()
	if err != nil {
		return fmt.Errorf("installing the controller's RBAC: %w", err)
	}
	mgr, err := controller.NewManager(cfg, controller.Options{MetricsAddr: "0", HealthAddr: "0", Workers: 4,
		// Canaries tick every second at most (Flagger's floor is 10s) and reach webhooks served
		// on Services' loopback ClusterIPs
		Canary: controller.CanaryOptions{MinInterval: time.Second, ResolveServices: true}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	testenv.OnStop(func() { cancel(); <-done })
	return nil
}
