package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/rest"
)

// Defaults of the scale flags (docs/performance.md measures them).
const (
	defaultWorkers = 10 // Argo Rollouts' --rollout-threads and --experiment-threads
	defaultQPS     = 100
	defaultBurst   = 200
)

// addScaleFlags adds the flags that size the controller: its workers per kind, its client's
// request limits (under Vane's and Argo's names) and its profiling endpoint.
func addScaleFlags(fl *pflag.FlagSet, f *controllerFlags) {
	fl.IntVar(&f.threads.workers, "workers", defaultWorkers,
		"objects of each kind (Rollouts, AnalysisRuns, Experiments) reconciled at once")
	fl.IntVar(&f.threads.rollouts, "rollout-threads", 0, "Rollouts reconciled at once (Argo's name; default: --workers)")
	fl.IntVar(&f.threads.analysis, "analysis-threads", 0, "AnalysisRuns reconciled at once (Argo's name; default: --workers)")
	fl.IntVar(&f.threads.experiments, "experiment-threads", 0, "Experiments reconciled at once (Argo's name; default: --workers)")
	fl.Float32Var(&f.client.qps, "kube-api-qps", defaultQPS,
		"requests per second the controller's client sends to the API server, per kind of object (--qps: Argo's name)")
	fl.Float32Var(&f.client.qps, "qps", defaultQPS, "the same as --kube-api-qps (Argo's name)")
	fl.IntVar(&f.client.burst, "kube-api-burst", defaultBurst,
		"requests the client may send at once above --kube-api-qps (--burst: Argo's name)")
	fl.IntVar(&f.client.burst, "burst", defaultBurst, "the same as --kube-api-burst (Argo's name)")
	fl.IntVar(&f.shards.n, "shards", 0, "split the Rollouts, AnalysisRuns, Experiments and Canaries into this many shards, "+
		"each held by one replica through a Lease (in --leader-election-namespace) and rebalanced as replicas come and go; "+
		"every replica must be given the same number (default: no sharding)")
	fl.StringVar(&f.shards.identity, "shard-identity", "", "this replica's name in the shards' Leases (default: $POD_NAME, else hostname_<uuid>)")
	fl.StringVar(&f.pprofAddr, "pprof-bind-address", "", "address of Go's /debug/pprof endpoints (default: none)")
	fl.StringVar(&f.pprofAddr, "enable-pprof-address", "", "the same as --pprof-bind-address (Argo's name)")
}

// shardFlags split the objects between replicas (internal/shard).
type shardFlags struct {
	n        int
	identity string
}

// check refuses a negative count and --leader-elect beside --shards; the identity defaults to
// $POD_NAME.
func (s shardFlags) check(leaderElect bool) (shardFlags, error) {
	switch {
	case s.n < 0:
		return s, fmt.Errorf("--shards: %d is negative", s.n)
	case s.n > 0 && leaderElect:
		return s, fmt.Errorf("--shards and --leader-elect: each shard has its own Lease and every replica acts on its own shards; leave --leader-elect out")
	}
	if s.identity == "" && s.n > 0 {
		if pod := os.Getenv("POD_NAME"); pod != "" {
			s.identity = pod + "_" + string(uuid.NewUUID())
		}
	}
	return s, nil
}

// workerCounts are the reconciles run at once per kind.
type workerCounts struct {
	rollouts, analysis, experiments int
}

// resolve gives each kind its own flag's count, or --workers when that flag is unset (0).
func (t threadFlags) resolve() (workerCounts, error) {
	for _, f := range []struct {
		name string
		v    int
	}{{"--workers", t.workers}, {"--rollout-threads", t.rollouts}, {"--analysis-threads", t.analysis},
		{"--experiment-threads", t.experiments}} {
		if f.v < 0 {
			return workerCounts{}, fmt.Errorf("%s: %d is negative", f.name, f.v)
		}
	}
	if t.workers == 0 {
		return workerCounts{}, fmt.Errorf("--workers: 0 reconciles nothing")
	}
	or := func(v int) int {
		if v > 0 {
			return v
		}
		return t.workers
	}
	return workerCounts{rollouts: or(t.rollouts), analysis: or(t.analysis), experiments: or(t.experiments)}, nil
}

// apply sets the client's request limits on cfg.
func (c clientFlags) apply(cfg *rest.Config) error {
	if c.qps <= 0 {
		return fmt.Errorf("--kube-api-qps: %g is not positive", c.qps)
	}
	if c.burst < 1 {
		return fmt.Errorf("--kube-api-burst: %d is less than 1", c.burst)
	}
	cfg.QPS, cfg.Burst = c.qps, c.burst
	return nil
}
