// Command vane is Vane's one binary: `vane controller` runs the controller (Rollouts and
// Flagger's Canaries), `vane dashboard` the dashboard, `vane keptn` the Keptn task service and
// `vane gate` the flagger-loadtester compatible gates; the other subcommands are the CLI (get
// rollout|canary, list rollouts|canaries, status, promote, abort, retry,
// pause, restart, undo, set image, create, terminate, lint, migrate check, notifications, gate
// open|close, rollback, version, completion). Installed as kubectl-vane it is also a kubectl
// plugin (`kubectl vane promote my-app`).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/vanedev/vane/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand(filepath.Base(os.Args[0])).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		var exit *cli.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.Code)
		}
		os.Exit(cli.ExitFailed)
	}
}

func newRootCommand(invokedAs string) *cobra.Command {
	root := &cobra.Command{
		Use:           "vane",
		Short:         "Progressive delivery for Kubernetes, compatible with Argo Rollouts",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	if strings.HasPrefix(invokedAs, "kubectl-") { // run as a kubectl plugin
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl " + strings.TrimPrefix(invokedAs, "kubectl-")}
	}
	// kubectl's connection flags: --kubeconfig, --context, -n/--namespace, --server, --token...
	cf := genericclioptions.NewConfigFlags(true)
	cf.AddFlags(root.PersistentFlags())
	root.AddCommand(
		newControllerCommand(cf),
		newGetCommand(cf), newListCommand(cf), newStatusCommand(cf),
		newPromoteCommand(cf), newAbortCommand(cf), newRetryCommand(cf), newPauseCommand(cf),
		newRestartCommand(cf), newUndoCommand(cf), newSetCommand(cf), newCreateCommand(cf), newTerminateCommand(cf),
		newLintCommand(), newMigrateCommand(cf), newNotificationsCommand(cf), newDashboardCommand(cf), newKeptnCommand(cf), newGateCommand(cf), newRollbackCommand(cf), newVersionCommand(),
	)
	return root
}
