// Command rollouts measures Vane's controller at scale: it starts a local control plane
// (internal/localcluster) with enough kwok nodes, runs `vane controller` as a subprocess, creates
// N canary Rollouts (setWeight 50, pause {}), updates them all, promotes them all, then does the
// same update with N plain Deployments (the floor: the cluster's own pod churn), and prints per
// phase the wall time, the rate, the controller's reaction times, its requests and the API
// server's, its CPU and peak memory.
//
//	go run ./test/bench/rollouts -n 200      # make bench
//	go run ./test/bench/rollouts -n 1000 -pprof /tmp/prof   # make bench N=1000
//
// It prints figures; it asserts nothing about them. It fails (exit 1) only when the objects do
// not reach the expected state within -timeout, and then says which ones and where they stand.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/controller"
	"github.com/vanedev/vane/internal/localcluster"
	"github.com/vanedev/vane/internal/testenv"
)

const (
	namespace = "bench"
	imageV1   = "bench/app:1"
	imageV2   = "bench/app:2"
	// parallel requests of the driver when it creates, updates or promotes
	driverParallelism = 32
	progressEvery     = 5 * time.Second
	podsPerNode       = 110 // internal/localcluster's kwok nodes
)

type config struct {
	n, replicas, nodes, workers int
	shards                      int
	qps                         float64
	burst                       int
	floor, keep                 bool
	pprofDir                    string
	pprofSecs                   int
	ctrlArgs                    string
	timeout                     time.Duration
	// pause: the second step's duration; 0 is pause {} and a promote phase
	pause time.Duration
}

func main() {
	var cfg config
	flag.IntVar(&cfg.n, "n", 200, "number of Rollouts (and of the floor's Deployments)")
	flag.IntVar(&cfg.replicas, "replicas", 3, "pods per Rollout (and per Deployment)")
	flag.IntVar(&cfg.nodes, "nodes", 0, "kwok nodes (110 pods each; 0: enough for every phase's pods)")
	flag.IntVar(&cfg.workers, "workers", 0, "controller --workers (0: the controller's default)")
	flag.IntVar(&cfg.shards, "shards", 1, "controller processes, each run with --shards K (1: one, without --shards)")
	flag.Float64Var(&cfg.qps, "qps", 0, "controller --kube-api-qps (0: the controller's default)")
	flag.IntVar(&cfg.burst, "burst", 0, "controller --kube-api-burst (0: the controller's default)")
	flag.BoolVar(&cfg.floor, "floor", true, "also update as many plain Deployments (the floor) after the Rollouts")
	flag.StringVar(&cfg.pprofDir, "pprof", "", "folder for the controller's CPU and heap profiles of the update and promote phases (of process 0 with -shards)")
	flag.IntVar(&cfg.pprofSecs, "pprof-seconds", 30, "length of each CPU profile (from the phase's start)")
	flag.StringVar(&cfg.ctrlArgs, "controller-args", "", "more arguments for `vane controller`, space-separated")
	flag.BoolVar(&cfg.keep, "keep", false, "leave the cluster running at the end (the controller is stopped)")
	flag.DurationVar(&cfg.pause, "pause", 0, "the second step: pause {duration} (the update then runs to the end by itself, no promote phase); 0: pause {} and a promote phase")
	flag.DurationVar(&cfg.timeout, "timeout", 0, "bound on the whole run, cluster start included (0: 6m + 1.5s per rollout)")
	flag.Parse()
	if cfg.n < 1 || cfg.replicas < 1 || cfg.pprofSecs < 1 || cfg.shards < 1 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: rollouts [-n N] [-replicas R] [-nodes K] [-workers W] [-shards K] [-qps Q] [-burst B] [-floor=false] [-pprof DIR] [-controller-args ARGS] [-keep] [-timeout D]")
		os.Exit(2)
	}
	if cfg.shards > 1 && strings.Contains(cfg.ctrlArgs, "-shards") {
		fmt.Fprintln(os.Stderr, "rollouts: -controller-args must not set --shards: -shards sets it")
		os.Exit(2)
	}
	if cfg.nodes <= 0 {
		cfg.nodes = autoNodes(cfg)
	}
	if cfg.timeout <= 0 {
		cfg.timeout = 6*time.Minute + time.Duration(cfg.n)*1500*time.Millisecond
	}
	if err := run(cfg); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "\nbench: interrupted:", err)
		} else {
			fmt.Fprintln(os.Stderr, "\nbench: FAILED:", err)
		}
		os.Exit(1)
	}
}

// autoNodes is enough nodes for twice the Rollouts' pods (an update's surge, terminating pods)
// and, with the floor, the Deployments' pods and their surge next to them.
func autoNodes(cfg config) int {
	pods := 2 * cfg.n * cfg.replicas
	if cfg.floor {
		pods += cfg.n*cfg.replicas + cfg.n
	}
	return max(3, (pods+podsPerNode-1)/podsPerNode)
}

// bench holds what the phases share.
type bench struct {
	cfg       config
	c         client.WithWatch
	apiserver *apiServer
	writes    *rsWrites
	ctrls     controllers
	prof      *profiler // nil without -pprof; of process 0 only with -shards
	procs     []namedPid
	oldHash   map[string]string // the first revision's pod-template hash, per rollout
	peaks     []int64           // each controller process' largest VmHWM so far, KiB
	logf      func(format string, args ...any)
}

func run(cfg config) (err error) {
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	go func() { <-sigCtx.Done(); stopSignals() }() // a second Ctrl-C kills at once
	ctx, cancel := context.WithTimeout(sigCtx, cfg.timeout)
	defer cancel()
	t0 := time.Now()
	b := &bench{cfg: cfg, oldHash: map[string]string{}, logf: func(format string, args ...any) {
		fmt.Printf("%7.1fs  %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
	}}
	root, err := printHeader(cfg)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "vane-bench-")
	if err != nil {
		return err
	}
	b.logf("building ./cmd/vane")
	vane, err := buildVane(ctx, root, dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	binDir, err := localcluster.DefaultBinDir(root)
	if err != nil {
		return err
	}
	b.logf("starting the control plane (%d kwok nodes) in %s", cfg.nodes, dir)
	cl, err := localcluster.Start(ctx, localcluster.Options{BinDir: binDir, Dir: dir, Nodes: cfg.nodes,
		Detached: cfg.keep, Logf: b.logf, Timeout: 3 * time.Minute})
	if err != nil {
		return err
	}
	defer func() { stopCluster(cl, dir, cfg, err) }()
	if err := b.prepare(ctx, root, cl); err != nil {
		return err
	}
	defer func() { b.ctrls.stop() }()
	if err := b.startController(ctx, vane, cl.Kubeconfig, dir); err != nil {
		return err
	}
	defer b.reportLog()
	return b.runPhases(ctx)
}

// printHeader prints the machine, the code and the settings, and returns the repository root.
func printHeader(cfg config) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root, err := localcluster.RepoRoot(wd)
	if err != nil {
		return "", err
	}
	fmt.Println("== Vane rollout benchmark ==")
	for _, l := range machineInfo() {
		fmt.Println(l)
	}
	fmt.Printf("loadavg: %s (at start)\n", loadavg())
	fmt.Println("code:    " + codeVersion(root))
	fmt.Printf("command: %s %s\n", filepath.Base(os.Args[0]), strings.Join(os.Args[1:], " "))
	fmt.Printf("settings: -n=%d -replicas=%d -nodes=%d -workers=%d -shards=%d -qps=%g -burst=%d -floor=%t -pprof=%q -controller-args=%q -timeout=%s -keep=%t\n\n",
		cfg.n, cfg.replicas, cfg.nodes, cfg.workers, cfg.shards, cfg.qps, cfg.burst, cfg.floor, cfg.pprofDir, cfg.ctrlArgs, cfg.timeout, cfg.keep)
	return root, nil
}

func stopCluster(cl *localcluster.Cluster, dir string, cfg config, err error) {
	switch {
	case cfg.keep:
		logs := ctrlLogPath(dir, 0, 1)
		if cfg.shards > 1 {
			logs = filepath.Join(dir, "logs", "vane-controller-*.log")
		}
		fmt.Printf("\ncluster kept: export KUBECONFIG=%s\n  controller log: %s\n  stop it: go run ./hack/cluster/localcluster down -dir %s -wipe\n",
			cl.Kubeconfig, logs, dir)
	case err != nil:
		cl.Stop()
		fmt.Printf("\ncluster stopped; logs kept in %s\n", filepath.Join(dir, "logs"))
	default:
		cl.Stop()
		_ = os.RemoveAll(dir)
	}
}

// prepare makes the driver's clients, installs the CRDs, creates the namespaces and starts
// following ReplicaSets.
func (b *bench) prepare(ctx context.Context, root string, cl *localcluster.Cluster) error {
	var err error
	if b.c, err = newClient(cl.Config); err != nil {
		return err
	}
	if b.apiserver, err = newAPIServer(cl.Config); err != nil {
		return err
	}
	if err := testenv.InstallCRDs(ctx, b.c, filepath.Join(root, "config", "crd", "bases")); err != nil {
		return fmt.Errorf("installing CRDs: %w", err)
	}
	for _, ns := range []string{namespace, floorNamespace} {
		if err := createNamespace(ctx, b.c, ns); err != nil {
			return err
		}
	}
	// the client's first request for a kind runs discovery: keep it out of the first phase
	if err := b.c.List(ctx, &v1alpha1.RolloutList{}, client.InNamespace(namespace)); err != nil {
		return fmt.Errorf("listing rollouts: %w", err)
	}
	if b.writes, err = watchReplicaSets(ctx, driverConfig(cl.Config)); err != nil {
		return err
	}
	b.logf("CRDs installed, namespaces %q and %q ready", namespace, floorNamespace)
	return nil
}

// startController runs the controller with the settings' flags: one process, or with -shards K
// (K>1) K processes with --shards K, and then waits until they hold every shard.
func (b *bench) startController(ctx context.Context, vane, kubeconfig, dir string) error {
	var args []string
	if b.cfg.workers > 0 {
		args = append(args, "--workers", strconv.Itoa(b.cfg.workers))
	}
	if b.cfg.qps > 0 {
		args = append(args, "--kube-api-qps", strconv.FormatFloat(b.cfg.qps, 'g', -1, 64))
	}
	if b.cfg.burst > 0 {
		args = append(args, "--kube-api-burst", strconv.Itoa(b.cfg.burst))
	}
	k := b.cfg.shards
	if k > 1 {
		args = append(args, "--shards", strconv.Itoa(k))
	}
	for i := range k {
		procArgs := slices.Clone(args)
		if i == 0 && b.cfg.pprofDir != "" {
			pprofArgs, err := b.pprofArgs()
			if err != nil {
				return err
			}
			procArgs = append(procArgs, pprofArgs...)
		}
		procArgs = append(procArgs, strings.Fields(b.cfg.ctrlArgs)...)
		p, err := startController(ctx, vane, kubeconfig, ctrlLogPath(dir, i, k), procArgs)
		if err != nil {
			if k > 1 {
				return fmt.Errorf("controller process %d: %w", i, err)
			}
			return err
		}
		b.ctrls = append(b.ctrls, p)
	}
	b.procs = append(append(clusterPids(dir), b.ctrls.named()...), namedPid{"bench driver", os.Getpid()})
	if k == 1 {
		b.logf("controller running; %d rollouts x %d replicas", b.cfg.n, b.cfg.replicas)
		return nil
	}
	if b.prof != nil {
		b.logf("-pprof: profiling controller process 0 only (of %d)", k)
	}
	if err := b.waitShards(ctx); err != nil {
		return err
	}
	b.logf("%d controller processes running; %d rollouts x %d replicas", k, b.cfg.n, b.cfg.replicas)
	return nil
}

// pprofArgs gives a controller a pprof endpoint on a free port and points b.prof at it.
func (b *bench) pprofArgs() ([]string, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	pprofAddr := "127.0.0.1:" + strconv.Itoa(port)
	if err := os.MkdirAll(b.cfg.pprofDir, 0o755); err != nil {
		return nil, fmt.Errorf("-pprof: %w", err)
	}
	b.prof = &profiler{base: "http://" + pprofAddr + "/debug/pprof", dir: b.cfg.pprofDir, secs: b.cfg.pprofSecs}
	return []string{"--pprof-bind-address", pprofAddr}, nil
}

// runPhases runs Vane's phases, checks the end state, runs the floor's and reports.
func (b *bench) runPhases(ctx context.Context) error {
	each, _, _ := b.ctrls.mem()
	b.peaks = make([]int64, len(b.ctrls))
	for i, m := range each {
		b.peaks[i] = m.hwm
	}
	var phases []*phase
	check := "not checked: a phase failed"
	err := b.runRollouts(ctx, &phases)
	if err == nil {
		check, err = b.finalCheck(ctx)
	}
	if err == nil && b.cfg.floor {
		for _, ps := range b.floorPhases() {
			var p *phase
			if p, err = b.phase(ctx, ps); err != nil {
				break
			}
			phases = append(phases, p)
		}
	}
	// the phases done are reported even when a later one failed
	if _, mem, merr := b.ctrls.mem(); merr == nil && len(phases) > 0 {
		b.report(phases, check, mem)
	}
	return err
}

// runRollouts runs Vane's phases, appending each one done to phases.
func (b *bench) runRollouts(ctx context.Context, phases *[]*phase) error {
	for i, ps := range b.rolloutPhases() {
		if i == 1 {
			if err := b.recordHashes(ctx); err != nil {
				return err
			}
		}
		p, err := b.phase(ctx, ps)
		if err != nil {
			return err
		}
		*phases = append(*phases, p)
		for i, m := range p.mems {
			b.peaks[i] = max(b.peaks[i], m.hwm)
		}
	}
	return nil
}

// driverConfig is the driver's client configuration: far above what it sends.
func driverConfig(base *rest.Config) *rest.Config {
	cfg := rest.CopyConfig(base)
	cfg.QPS, cfg.Burst = 1000, 2000
	return cfg
}

func newClient(base *rest.Config) (client.WithWatch, error) {
	scheme, err := controller.Scheme()
	if err != nil {
		return nil, err
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return client.NewWithWatch(driverConfig(base), client.Options{Scheme: scheme})
}

func createNamespace(ctx context.Context, c client.Client, name string) error {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	// pods are refused until the namespace's default ServiceAccount exists
	for {
		var sa corev1.ServiceAccount
		if err := c.Get(ctx, client.ObjectKey{Namespace: name, Name: "default"}, &sa); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s has no default ServiceAccount: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (b *bench) reportLog() {
	for i, p := range b.ctrls {
		errs, throttled, samples := logFindings(p.log, 8)
		which := "controller log"
		if len(b.ctrls) > 1 {
			which = fmt.Sprintf("controller process %d log", i)
		}
		fmt.Printf("\n%s (%s): %d error lines, %d client-side throttling notices\n", which, p.log, errs, throttled)
		for _, s := range samples {
			if len(s) > 400 {
				s = s[:400] + "..."
			}
			fmt.Println("  " + s)
		}
	}
}
