package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/vanedev/vane/internal/gate"
)

// newGateCommand is `vane gate`: the gate service compatible with flagger-loadtester's gate API
// (see docs/gate.md), and `vane gate open|close CANARY` to flip a canary's confirmation gate.
func newGateCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "gate",
		Short: "Serve Flagger's webhook gates (flagger-loadtester's /gate/* and /rollback/* API)",
		Long: "Serves /gate/approve, /gate/halt, /gate/check, /gate/open, /gate/close, /rollback/check,\n" +
			"/rollback/open and /rollback/close as flagger-loadtester does, keyed by the canary's name and\n" +
			"namespace in Flagger's webhook payload. The gates live in the ConfigMap " + gate.ConfigMapName + " of each\n" +
			"canary's namespace, shared by every replica and by `vane gate open|close` and `vane rollback`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runGate(cmd, cf, listen) },
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on (\":8080\": every interface)")
	cmd.AddCommand(
		gateVerb(cf, "open CANARY", "Open the canary's confirmation gate: /gate/check answers 200", gate.Confirm, true),
		gateVerb(cf, "close CANARY", "Close the canary's confirmation gate: /gate/check answers 403", gate.Confirm, false),
	)
	return cmd
}

// newRollbackCommand is `vane rollback CANARY`: open the canary's rollback switch, so that its
// rollback webhook (/rollback/check) answers 200 and Flagger rolls the canary back.
func newRollbackCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	var closeIt bool
	cmd := &cobra.Command{
		Use:   "rollback CANARY",
		Short: "Roll a Flagger canary back through its rollback webhook (/rollback/check answers 200)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return setGate(cmd, cf, gate.Key{Kind: gate.Rollback, Name: args[0]}, !closeIt)
		},
	}
	cmd.Flags().BoolVar(&closeIt, "close", false, "close the rollback switch instead: /rollback/check answers 403")
	return cmd
}

// gateVerb is `vane gate open|close CANARY`.
func gateVerb(cf *genericclioptions.ConfigFlags, use, short string, kind gate.Kind, open bool) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return setGate(cmd, cf, gate.Key{Kind: kind, Name: args[0]}, open)
		},
	}
}

// setGate writes the gate k (in the namespace of -n) to the cluster, as /gate/open and friends do.
func setGate(cmd *cobra.Command, cf *genericclioptions.ConfigFlags, k gate.Key, open bool) error {
	if errs := validation.IsDNS1123Subdomain(k.Name); len(errs) > 0 {
		return fmt.Errorf("canary name %q: %v", k.Name, errs)
	}
	o, err := options(cmd, cf)
	if err != nil {
		return err
	}
	k.Namespace = o.Namespace
	store := &gate.ConfigMapStore{Client: o.Client}
	if err := store.Set(cmd.Context(), k, open); err != nil {
		return err
	}
	state := "closed"
	if open {
		state = "open"
	}
	fmt.Fprintf(o.Out, "%s of canary %s/%s is %s\n", k.Kind, k.Namespace, k.Name, state)
	return nil
}

// runGate serves the gate API until the command's context ends.
func runGate(cmd *cobra.Command, cf *genericclioptions.ConfigFlags, listen string) error {
	logger := zap.New(zap.UseDevMode(false))
	ctrl.SetLogger(logger)
	ctx := ctrl.LoggerInto(cmd.Context(), logger.WithName("gate"))
	o, err := options(cmd, cf)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	fmt.Fprintf(o.Out, "vane gate: serving Flagger's gate API on %s\n", ln.Addr())
	return serveGate(ctx, ln, gate.NewHandler(&gate.ConfigMapStore{Client: o.Client}))
}

// serveGate serves h on ln until ctx ends, then shuts the server down.
func serveGate(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}
