package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/vanedev/vane/internal/controller"
	"github.com/vanedev/vane/internal/keptn"
)

// Environment variables `vane keptn` reads its secrets and endpoints from.
const (
	envKeptnToken       = "VANE_KEPTN_TOKEN"
	envKeptnAPIEndpoint = "KEPTN_API_ENDPOINT"
	envKeptnAPIToken    = "KEPTN_API_TOKEN"
)

type keptnFlags struct {
	address     string
	port        int
	apiEndpoint string
	distributor string
	manifests   string
	interval    time.Duration
}

// newKeptnCommand is `vane keptn`: Keptn's deployment, release, rollback and canary-wait test
// tasks handled by Vane (see docs/keptn.md).
func newKeptnCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	var f keptnFlags
	cmd := &cobra.Command{
		Use:   "keptn",
		Short: "Receive Keptn's task events (deployment, release, rollback, canary-wait test) and act on the rollouts",
		Long: "Serves a CloudEvents receiver for Keptn's sh.keptn.event.*.triggered events and answers with\n" +
			".started and .finished events. Requests must carry the shared token of " + envKeptnToken + "\n" +
			"(x-token header or Authorization: Bearer). Events go to " + envKeptnAPIEndpoint + "/v1/event with\n" +
			"the x-token " + envKeptnAPIToken + ", or without an API endpoint to the distributor (--distributor).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runKeptn(cmd, cf, f) },
	}
	cmd.Flags().StringVar(&f.address, "address", "127.0.0.1", "address to listen on (empty: every interface)")
	cmd.Flags().IntVar(&f.port, "port", 8080, "port to listen on")
	cmd.Flags().StringVar(&f.apiEndpoint, "keptn-api-endpoint", os.Getenv(envKeptnAPIEndpoint), "Keptn's API (default $"+envKeptnAPIEndpoint+"); events go to ENDPOINT/v1/event")
	cmd.Flags().StringVar(&f.distributor, "distributor", "http://127.0.0.1:8081/event", "the distributor's local event endpoint, used without --keptn-api-endpoint")
	cmd.Flags().StringVar(&f.manifests, "manifests", "", "folder with SERVICE.yaml, applied by a service's first deployment")
	cmd.Flags().DurationVar(&f.interval, "interval", 2*time.Second, "how often pending tasks are looked at")
	return cmd
}

func runKeptn(cmd *cobra.Command, cf *genericclioptions.ConfigFlags, f keptnFlags) error {
	token := os.Getenv(envKeptnToken)
	if token == "" {
		return fmt.Errorf("$%s is empty: set the shared token Keptn's requests must carry", envKeptnToken)
	}
	logger := zap.New(zap.UseDevMode(false))
	ctrl.SetLogger(logger)
	ctx := ctrl.LoggerInto(cmd.Context(), logger.WithName("keptn"))
	cfg, err := cf.ToRESTConfig()
	if err != nil {
		return fmt.Errorf("no cluster configured: %w", err)
	}
	scheme, err := controller.Scheme()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("connecting to the cluster: %w", err)
	}
	sender := &keptn.Sender{URL: f.distributor, HTTP: &http.Client{Timeout: 10 * time.Second}}
	if f.apiEndpoint != "" {
		sender.URL, sender.Token = keptn.APIEventURL(f.apiEndpoint), os.Getenv(envKeptnAPIToken)
		if sender.Token == "" {
			return fmt.Errorf("$%s is empty: Keptn's API needs its token", envKeptnAPIToken)
		}
	}
	opts := keptn.Options{Client: c, Token: token, Sender: sender, Interval: f.interval, Manifests: f.manifests}
	if cf.Namespace != nil && *cf.Namespace != "" {
		opts.Namespaces = []string{*cf.Namespace}
	}
	svc, err := keptn.New(opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(f.address, strconv.Itoa(f.port)))
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "vane keptn: receiving events on %s, sending to %s\n", ln.Addr(), sender.URL)
	return serveKeptn(ctx, ln, svc)
}

// serveKeptn serves svc on ln and runs its scheduler until ctx ends.
func serveKeptn(ctx context.Context, ln net.Listener, svc *keptn.Service) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{Handler: svc, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	cancel()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, <-done)
}
