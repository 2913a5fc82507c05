// Package testenv gives end-to-end tests a real Kubernetes control plane (internal/localcluster):
// one cluster per `go test` process, started in TestMain, with the project's CRDs installed and a
// fresh namespace per test.
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		env := testenv.Get(t)
//		ns := env.Namespace(t)
//		...
//	}
//
// Tests are skipped only under `go test -short`. When the control-plane binaries are missing or
// the cluster cannot start, every test that asks for it fails with the reason. Setting
// VANE_TEST_KUBECONFIG runs the tests against an already running cluster instead (for example one
// from `make cluster-up`).
package testenv

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	flaggerv1beta1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/localcluster"
)

// KubeconfigEnv names an existing cluster to test against instead of starting one.
const KubeconfigEnv = "VANE_TEST_KUBECONFIG"

// Env is the control plane shared by the tests of one package.
type Env struct {
	// Config is an admin REST config.
	Config *rest.Config
	// Client is a controller-runtime client whose scheme knows the built-in kinds, CRDs and
	// the project's API.
	Client client.Client
	// Clientset is a typed client-go clientset.
	Clientset kubernetes.Interface
	// Scheme is Client's scheme.
	Scheme *runtime.Scheme
	// Dir holds the cluster's state and logs (empty for an external cluster).
	Dir string
	// Kubeconfig is the path of an admin kubeconfig for the cluster (for subprocesses).
	Kubeconfig string
	// RepoRoot is the repository's root folder.
	RepoRoot string
}

var (
	shared   *Env
	startErr error
)

// Main starts the control plane, runs the package's tests and stops it; it returns the exit code.
func Main(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	t0 := time.Now()
	stop, err := start()
	if err != nil {
		startErr = err
		fmt.Fprintf(os.Stderr, "testenv: control plane not started: %v\n", err)
	} else {
		fmt.Fprintf(os.Stderr, "testenv: control plane ready in %.1fs (%s)\n", time.Since(t0).Seconds(), shared.Config.Host)
	}
	code := m.Run()
	for i := len(onStop) - 1; i >= 0; i-- {
		onStop[i]()
	}
	if stop != nil {
		stop(code != 0)
	}
	return code
}

// Get returns the shared control plane. It skips the test under -short and fails it when the
// control plane could not start (or TestMain does not call Main).
func Get(t testing.TB) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the local control plane; skipped by -short")
	}
	if startErr != nil {
		t.Fatalf("local control plane unavailable: %v", startErr)
	}
	if shared == nil {
		t.Fatal("testenv.Main was not called from TestMain")
	}
	return shared
}

// start brings up (or connects to) the cluster and installs the CRDs. The returned function
// stops what it started; on failure it keeps the state folder for the logs.
func start() (func(failed bool), error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	root, err := localcluster.RepoRoot(wd)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var (
		cfg  *rest.Config
		dir  string
		kc   = os.Getenv(KubeconfigEnv)
		stop func(bool)
	)
	if kc != "" {
		if cfg, err = clientcmd.BuildConfigFromFlags("", kc); err != nil {
			return nil, fmt.Errorf("%s=%s: %w", KubeconfigEnv, kc, err)
		}
	} else {
		bin, err := localcluster.DefaultBinDir(root)
		if err != nil {
			return nil, err
		}
		if dir, err = os.MkdirTemp("", "vane-testenv-"); err != nil {
			return nil, err
		}
		c, err := localcluster.Start(ctx, localcluster.Options{BinDir: bin, Dir: dir})
		if err != nil {
			return nil, err
		}
		cfg, kc = c.Config, c.Kubeconfig
		stop = func(failed bool) {
			c.Stop()
			if failed {
				fmt.Fprintf(os.Stderr, "testenv: cluster logs kept in %s\n", filepath.Join(dir, "logs"))
				return
			}
			_ = os.RemoveAll(dir)
		}
	}
	env, err := newEnv(cfg, root, dir, kc)
	if err == nil {
		err = InstallCRDs(ctx, env.Client, filepath.Join(root, "config", "crd", "bases"))
	}
	if err != nil {
		if stop != nil {
			stop(true)
		}
		return nil, err
	}
	shared = env
	return stop, nil
}

func newEnv(cfg *rest.Config, root, dir, kubeconfig string) (*Env, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1alpha1.AddToScheme, flaggerv1beta1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("clientset: %w", err)
	}
	return &Env{Config: cfg, Client: c, Clientset: cs, Scheme: scheme, Dir: dir, RepoRoot: root, Kubeconfig: kubeconfig}, nil
}

var onStop []func()

// OnStop registers f to run after the tests and before the control plane stops (for example
// to stop a controller that watches it).
func OnStop(f func()) { onStop = append(onStop, f) }
