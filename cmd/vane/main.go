// Command vane is Vane's one binary: the controller, the CLI verbs, the dashboard and the event
// API are its subcommands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vanedev/vane/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "vane",
		Short:         "Progressive delivery for Kubernetes, compatible with Argo Rollouts",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(newControllerCommand())
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "vane", version.String())
		},
	})
	return root
}
