// Command demo is `make demo` and `make demo-traffic`: it starts a local control plane and
// Vane's controller, deploys seed 001's colorapi canary, ships 2.0 (blue) through its steps
// (20% -> 50% -> 100%), then 3.0 (black, "status": "nok"), which the canary's background web
// analysis catches and rolls back, and stops everything.
//
// The local cluster's pods run no containers, so the demo plays them (internal/colorapi): an
// HTTP server on a Service's ClusterIP (a loopback address) answers as the pods the Service
// selects would. Without -traffic it deploys examples/seeds/colorapi-canary.yaml as it is,
// except the analysis's host, pointed at the Service the demo plays, and prints the rollout's
// state at each change. With -traffic it deploys manifests/colorapi-traffic.yaml: the same
// Rollout behind a Gateway that Traefik (built by `make traefik`) serves on 127.0.0.1, Vane's
// Gateway API router moving the weights, and prints where 200 requests through Traefik go at
// each weight, with the rollout's events.
//
//	go run ./hack/demo [-traffic] [-pause 30s] [-keep]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/internal/controller"
	"github.com/vanedev/vane/internal/localcluster"
)

func main() {
	pause := flag.Duration("pause", 0, "replace the manifest's timed pauses (30s) by this duration; 0 keeps them "+
		"(shorter pauses may let 3.0 finish before its analysis sees two nok answers: the rollback is reliable from 25s, 10s with -traffic)")
	keep := flag.Bool("keep", false, "leave the cluster and the controller running at the end; with -traffic, "+
		"keep everything (Traefik, the played pods) running until Ctrl-C")
	traffic := flag.Bool("traffic", false, "real traffic: the Rollout behind Traefik (Gateway API), requests counted at each weight")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, options{pause: *pause, keep: *keep, traffic: *traffic}); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	pause   time.Duration // replaces the timed pauses when not 0
	keep    bool
	traffic bool
}

func run(ctx context.Context, o options) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := localcluster.RepoRoot(wd)
	if err != nil {
		return err
	}
	bin, err := localcluster.DefaultBinDir(root)
	if err != nil {
		return err
	}
	dir := filepath.Join(root, ".cache", "demo")
	var traefik string
	if o.traffic { // fail early, before starting anything
		if traefik, err = traefikBinary(root); err != nil {
			return err
		}
	}
	// with -traffic the demo itself plays the pods: -keep keeps it running in the foreground
	detached := o.keep && !o.traffic
	if _, err := localcluster.StopDir(dir); err != nil { // a demo interrupted earlier
		return err
	}
	say("starting a local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)")
	cluster, err := localcluster.Start(ctx, localcluster.Options{BinDir: bin, Dir: dir, Detached: detached})
	if err != nil {
		return err
	}
	if !detached {
		defer cluster.Stop()
	}
	c, err := demoClient(cluster)
	if err != nil {
		return err
	}
	if err := localcluster.InstallCRDs(ctx, c, filepath.Join(root, "config", "crd", "bases")); err != nil {
		return err
	}
	ctl, err := startController(root, dir, cluster.Kubeconfig, detached)
	if err != nil {
		return err
	}
	if !detached {
		defer func() { _ = ctl.Process.Signal(syscall.SIGTERM); _ = ctl.Wait() }()
	}
	say("vane controller running (log: %s)", filepath.Join(dir, "logs", "vane-controller.log"))
	d := &demo{c: c, ns: "default", name: "colorapi", pause: o.pause}
	if o.traffic {
		return d.playTraffic(ctx, root, dir, traefik, cluster, o.keep)
	}
	err = d.play(ctx, filepath.Join(root, "examples", "seeds", "colorapi-canary.yaml"))
	if o.keep && err == nil {
		say("left running: export KUBECONFIG=%s; stop with: kill %d; go run ./hack/cluster/localcluster down -dir %s",
			cluster.Kubeconfig, ctl.Process.Pid, dir)
	}
	return err
}

func demoClient(cluster *localcluster.Cluster) (client.Client, error) {
	scheme, err := controller.Scheme()
	if err != nil {
		return nil, err
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return client.New(cluster.Config, client.Options{Scheme: scheme})
}

// startController builds bin/vane and runs `vane controller` against the cluster.
func startController(root, dir, kubeconfig string, detached bool) (*exec.Cmd, error) {
	vane := filepath.Join(root, "bin", "vane")
	build := exec.Command("go", "build", "-o", vane, "./cmd/vane")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building vane: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "logs", "vane-controller.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(vane, "controller", "--kubeconfig", kubeconfig,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: detached}
	if !detached {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting vane controller: %w", err)
	}
	return cmd, nil
}

// out serialises the demo's printing (the traffic and the events are printed as they come).
var out sync.Mutex

func say(format string, args ...any) {
	out.Lock()
	defer out.Unlock()
	fmt.Printf("==> "+format+"\n", args...)
}

// emit prints a line stamped with the time since the Rollout was created.
func (d *demo) emit(line string) {
	out.Lock()
	defer out.Unlock()
	fmt.Printf("%6.1fs  %s\n", time.Since(d.t0).Seconds(), line)
}

var errTimeout = errors.New("timed out")
