// Package chaos tests that Vane's controller survives what a cluster does to it (issue 22):
// killed at random moments, its leader killed, its API server restarted and etcd stopped,
// other writers fighting over the objects it manages, and overload and bad input (a burst of
// Rollouts, a Rollout with 1,000 steps, a 1 MiB pod template, a metric provider that answers
// after five minutes or with 50 MB). Every rollout must end in its right state, with no
// ReplicaSet, AnalysisRun, event or notification made twice; the counts are printed.
//
// The package starts its own control plane (internal/localcluster) with an audit log of
// every write, so that it can restart kube-apiserver and etcd and tell which controller
// replica wrote what; the tests get it through internal/testenv. `vane controller` runs as a
// process (internal/testenv/vaneproc) that the tests SIGKILL and start again.
//
// CI runs it at a small size within `make test`; `make chaos` runs the sizes of the issue:
//
//	go test ./test/e2e/chaos/ -args -rollouts=100 -burst=1000 -leader-kills=2
package chaos

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/internal/localcluster"
	"github.com/vanedev/vane/internal/testenv"
)

var (
	rolloutsFlag = flag.Int("rollouts", 20, "rollouts updated while the controller is killed (make chaos: 100)")
	leaderFlag   = flag.Int("leader-rollouts", 10, "rollouts updated while the leader is killed")
	killsFlag    = flag.Int("leader-kills", 1, "leaders killed, one after the other (make chaos: 2)")
	burstFlag    = flag.Int("burst", 150, "Rollouts created in one second by the overload test (make chaos: 1000)")
	seedFlag     = flag.Int64("seed", 0, "seed of the kill times (0: the clock's)")
)

// cluster is the package's control plane; nil when the tests run against VANE_TEST_KUBECONFIG.
var cluster *localcluster.Cluster

// auditLog is the file of the API server's audit log (writes only).
var auditLog string

func TestMain(m *testing.M) {
	flag.Parse()
	raiseParallel()
	stop, err := startCluster()
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos: %v\n", err)
		os.Exit(1)
	}
	code := testenv.Main(m)
	stop(code != 0)
	os.Exit(code)
}

// raiseParallel lets 4 tests run at once unless -test.parallel says otherwise: they wait for
// rollouts far more than they compute. TestAPIServerRestarted, which stops the API server
// every test uses, is the only one not parallel: it runs alone, before the others.
func raiseParallel() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "4")
	}
}

// startCluster starts the package's control plane, unless the tests are short or run against
// an existing cluster, and points internal/testenv at it.
func startCluster() (func(failed bool), error) {
	nothing := func(bool) {}
	if testing.Short() || os.Getenv(testenv.KubeconfigEnv) != "" {
		return nothing, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	root, err := localcluster.RepoRoot(wd)
	if err != nil {
		return nil, err
	}
	bin, err := localcluster.DefaultBinDir(root)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vane-chaos-")
	if err != nil {
		return nil, err
	}
	auditLog = filepath.Join(dir, "logs", "audit.log")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// kwok nodes take 110 pods each: room for the burst and for two revisions of the others
	nodes := max(3, (*burstFlag+4*(*rolloutsFlag)+200)/100)
	c, err := localcluster.Start(ctx, localcluster.Options{BinDir: bin, Dir: dir, Nodes: nodes, AuditLog: auditLog})
	if err != nil {
		return nil, fmt.Errorf("control plane not started: %w", err)
	}
	cluster = c
	if err := os.Setenv(testenv.KubeconfigEnv, c.Kubeconfig); err != nil {
		return nil, err
	}
	return func(failed bool) {
		c.Stop()
		if failed {
			fmt.Fprintf(os.Stderr, "chaos: cluster logs and audit log kept in %s\n", filepath.Join(dir, "logs"))
			return
		}
		_ = os.RemoveAll(dir)
	}, nil
}

var fastOnce sync.Once

// getEnv is testenv.Get with clients that are not throttled: against a kubeconfig, testenv's
// clients have client-go's default 5 requests per second, and the tests update and read
// hundreds of rollouts.
func getEnv(t *testing.T) *testenv.Env {
	t.Helper()
	env := testenv.Get(t)
	var err error
	fastOnce.Do(func() {
		cfg := rest.CopyConfig(env.Config)
		cfg.QPS, cfg.Burst = 1000, 2000
		var c client.Client
		if c, err = client.New(cfg, client.Options{Scheme: env.Scheme}); err == nil {
			env.Config, env.Client = cfg, c
		}
	})
	if err != nil {
		t.Fatalf("a client for the tests: %v", err)
	}
	return env
}

// requireCluster fails a test that needs to stop parts of the control plane or read its audit
// log when the tests run against another cluster.
func requireCluster(t *testing.T) *localcluster.Cluster {
	t.Helper()
	if cluster == nil {
		t.Fatalf("this test restarts the control plane or reads its audit log: it needs the package's own cluster, not %s", testenv.KubeconfigEnv)
	}
	return cluster
}
