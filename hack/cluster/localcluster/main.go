// Command localcluster starts and stops Vane's local control plane (see internal/localcluster).
//
//	go run ./hack/cluster/localcluster up   [-dir D] [-nodes N] [-port P]
//	go run ./hack/cluster/localcluster down [-dir D] [-wipe]
//
// `make cluster-up` and `make cluster-down` call it. The processes of `up` keep running after
// it exits; `down` stops them by the pids recorded in D/pids.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/internal/localcluster"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: localcluster up|down [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dir := fs.String("dir", ".cache/cluster", "state folder: kubeconfig, logs, pids, pki, etcd data")
	nodes := fs.Int("nodes", 3, "number of fake kwok nodes")
	port := fs.Int("port", 0, "apiserver port on 127.0.0.1 (0: a free one)")
	bin := fs.String("bin", "", "folder with the control-plane binaries (default: the versioned cache)")
	wipe := fs.Bool("wipe", false, "down: also delete the state folder")
	crds := fs.String("crds", "config/crd/bases", "up: install the CRDs of this folder (empty: none)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return fmt.Errorf("resolving -dir: %w", err)
	}
	switch args[0] {
	case "up":
		return up(abs, *bin, *crds, *nodes, *port)
	case "down":
		return down(abs, *wipe)
	default:
		return fmt.Errorf("unknown command %q: use up or down", args[0])
	}
}

func up(dir, bin, crds string, nodes, port int) error {
	if bin == "" {
		wd, _ := os.Getwd()
		root, err := localcluster.RepoRoot(wd)
		if err != nil {
			return err
		}
		if bin, err = localcluster.DefaultBinDir(root); err != nil {
			return err
		}
	}
	// Ctrl-C or SIGTERM during start stops what was started (Start cleans up on error).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t0 := time.Now()
	logf := func(format string, a ...any) {
		fmt.Printf("%6.2fs %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, a...))
	}
	c, err := localcluster.Start(ctx, localcluster.Options{
		BinDir: bin, Dir: dir, Nodes: nodes, APIServerPort: port, Detached: true, Logf: logf,
	})
	if err != nil {
		return err
	}
	if crds != "" {
		if err := installCRDs(ctx, c, crds); err != nil {
			_, _ = localcluster.StopDir(dir) // already failing: report the CRD error
			return err
		}
		logf("CRDs of %s installed", crds)
	}
	logf("cluster up; logs in %s", filepath.Join(dir, "logs"))
	fmt.Printf("\nexport KUBECONFIG=%s\n", c.Kubeconfig)
	return nil
}

func down(dir string, wipe bool) error {
	report, err := localcluster.StopDir(dir)
	for _, line := range report {
		fmt.Println(line)
	}
	if err != nil {
		return err
	}
	if len(report) == 0 {
		fmt.Println("no cluster running from", dir)
	}
	if wipe {
		return os.RemoveAll(dir)
	}
	return nil
}

func installCRDs(ctx context.Context, c *localcluster.Cluster, dir string) error {
	scheme := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return err
	}
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	return localcluster.InstallCRDs(ctx, cl, dir)
}
