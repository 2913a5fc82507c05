// Command demo is `make demo`: it starts a local control plane and Vane's controller, deploys
// the colorapi canary from examples/seeds/colorapi-canary.yaml, ships 2.0 through its steps
// (20% -> 50% -> 100%), then 3.0, which it aborts, and stops everything.
//
//	go run ./hack/demo [-pause 30s] [-keep]
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
	"syscall"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/internal/controller"
	"github.com/vanedev/vane/internal/localcluster"
)

func main() {
	pause := flag.Duration("pause", 0, "replace the manifest's timed pauses (30s) by this duration; 0 keeps them")
	keep := flag.Bool("keep", false, "leave the cluster and the controller running at the end (stop with make cluster-down)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *pause, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, pause time.Duration, keep bool) error {
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
	if _, err := localcluster.StopDir(dir); err != nil { // a demo interrupted earlier
		return err
	}
	say("starting a local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)")
	cluster, err := localcluster.Start(ctx, localcluster.Options{BinDir: bin, Dir: dir, Detached: keep})
	if err != nil {
		return err
	}
	if !keep {
		defer cluster.Stop()
	}
	c, err := demoClient(cluster)
	if err != nil {
		return err
	}
	if err := localcluster.InstallCRDs(ctx, c, filepath.Join(root, "config", "crd", "bases")); err != nil {
		return err
	}
	ctl, err := startController(root, dir, cluster.Kubeconfig, keep)
	if err != nil {
		return err
	}
	if !keep {
		defer func() { _ = ctl.Process.Signal(syscall.SIGTERM); _ = ctl.Wait() }()
	}
	say("vane controller running (log: %s)", filepath.Join(dir, "logs", "vane-controller.log"))
	d := &demo{c: c, ns: "default", name: "colorapi"}
	err = d.play(ctx, filepath.Join(root, "examples", "seeds", "colorapi-canary.yaml"), pause)
	if keep && err == nil {
		say("left running: export KUBECONFIG=%s; stop with: go run ./hack/cluster/localcluster down -dir %s", cluster.Kubeconfig, dir)
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

func say(format string, args ...any) {
	fmt.Printf("==> "+format+"\n", args...)
}

var errTimeout = errors.New("timed out")
