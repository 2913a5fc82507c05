package main

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/vanedev/vane/internal/controller"
	"github.com/vanedev/vane/internal/server"
)

type dashboardFlags struct {
	port      int
	all       bool
	inCluster bool
	address   string
}

// newDashboardCommand is `vane dashboard`: the local dashboard on 127.0.0.1 with the user's
// kubeconfig, or with --in-cluster the shared, authenticated one (see docs/dashboard.md).
func newDashboardCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	var f dashboardFlags
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve the dashboard: on 127.0.0.1 with your kubeconfig, or --in-cluster with authentication",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDashboard(cmd, cf, f)
		},
	}
	cmd.Flags().IntVar(&f.port, "port", 3100, "port to listen on")
	cmd.Flags().BoolVarP(&f.all, "all-namespaces", "A", false, "every namespace (local mode; in-cluster serves every namespace unless -n is given)")
	cmd.Flags().BoolVar(&f.inCluster, "in-cluster", false, "serve a shared dashboard: every request authenticated with TokenReview, actions impersonated")
	cmd.Flags().StringVar(&f.address, "address", "", "address to listen on (--in-cluster only; default every interface)")
	return cmd
}

func runDashboard(cmd *cobra.Command, cf *genericclioptions.ConfigFlags, f dashboardFlags) error {
	logger := zap.New(zap.UseDevMode(false))
	ctrl.SetLogger(logger)
	ctx := log.IntoContext(cmd.Context(), logger.WithName("dashboard"))
	cfg, err := cf.ToRESTConfig()
	if err != nil {
		return fmt.Errorf("no cluster configured: %w", err)
	}
	scheme, err := controller.Scheme()
	if err != nil {
		return err
	}
	opts := server.Options{Config: cfg, Scheme: scheme, InCluster: f.inCluster}
	ns, _, err := cf.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return fmt.Errorf("resolving the namespace: %w", err)
	}
	if (!f.inCluster && !f.all) || (f.inCluster && cf.Namespace != nil && *cf.Namespace != "") {
		opts.Namespaces = []string{ns}
	}
	if f.address != "" && !f.inCluster {
		return fmt.Errorf("--address is for --in-cluster: the local dashboard listens on 127.0.0.1 only")
	}
	host := "127.0.0.1"
	if f.inCluster {
		host = f.address
	}
	return serveDashboard(ctx, cmd, opts, net.JoinHostPort(host, strconv.Itoa(f.port)))
}

func serveDashboard(ctx context.Context, cmd *cobra.Command, opts server.Options, addr string) error {
	srv, err := server.New(opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	defer ln.Close()
	if err := srv.Start(ctx); err != nil {
		return err
	}
	url := "http://" + ln.Addr().String() + "/"
	if opts.InCluster {
		fmt.Fprintf(cmd.OutOrStdout(), "Vane dashboard (authenticated) listening on %s\n", ln.Addr())
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "Vane dashboard: %s\n", url)
	}
	return server.Serve(ctx, ln, srv.Handler())
}
