package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/internal/cli"
	"github.com/vanedev/vane/internal/controller"
)

// options builds the verbs' options from kubectl's connection flags.
func options(cmd *cobra.Command, cf *genericclioptions.ConfigFlags) (*cli.Options, error) {
	o := &cli.Options{Out: cmd.OutOrStdout(), Err: cmd.ErrOrStderr(), Clock: clock.RealClock{}}
	if f, ok := o.Out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		o.Terminal, o.Color = true, true
	}
	if cf.KubeConfig != nil {
		o.Kubeconfig = *cf.KubeConfig
	}
	if o.Kubeconfig == "" {
		o.Kubeconfig = os.Getenv("KUBECONFIG")
	}
	cfg, err := cf.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("no cluster configured (kubeconfig %q): %w", o.Kubeconfig, err)
	}
	o.Server = cfg.Host
	ns, _, err := cf.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, fmt.Errorf("resolving the namespace: %w", err)
	}
	o.Namespace = ns
	scheme, err := controller.Scheme()
	if err != nil {
		return nil, err
	}
	if o.Client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return nil, o.Explain(err, "cluster", "")
	}
	return o, nil
}

// rolloutName takes NAME, or the optional noun Argo's plugin accepts: `rollout NAME`.
func rolloutName(args []string) (string, error) {
	switch {
	case len(args) == 1:
		return args[0], nil
	case len(args) == 2 && isRolloutNoun(args[0]):
		return args[1], nil
	}
	return "", fmt.Errorf("expected a rollout name (optionally after the noun 'rollout'), got %q", args)
}

func isRolloutNoun(s string) bool { return s == "rollout" || s == "rollouts" || s == "ro" }

// verb is a command acting on one rollout by name.
func verb(cf *genericclioptions.ConfigFlags, use, short string, run func(cmd *cobra.Command, o *cli.Options, name string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := rolloutName(args)
			if err != nil {
				return err
			}
			o, err := options(cmd, cf)
			if err != nil {
				return err
			}
			return run(cmd, o, name)
		},
	}
}

func newGetCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	var watch, noColor bool
	get := &cobra.Command{Use: "get", Short: "Show a rollout, an experiment or a Flagger canary and what it owns"}
	ro := verb(cf, "rollout NAME", "Show a rollout: status, steps, images, ReplicaSets, pods and analyses",
		func(cmd *cobra.Command, o *cli.Options, name string) error {
			o.Color = o.Color && !noColor
			return cli.GetRollout(cmd.Context(), o, name, watch)
		})
	ro.Aliases = []string{"rollouts", "ro"}
	ro.Args = cobra.ExactArgs(1)
	ro.Flags().BoolVarP(&watch, "watch", "w", false, "keep watching: redrawn in place on a terminal")
	ro.Flags().BoolVar(&noColor, "no-color", false, "no colours")
	get.AddCommand(ro, newGetExperimentCommand(cf), newGetCanaryCommand(cf))
	return get
}

// newGetCanaryCommand is `get canary NAME`: a Flagger Canary with its workloads, Services,
// webhooks and gates.
func newGetCanaryCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	var watch, noColor bool
	cmd := named(cf, "canary NAME", "Show a Flagger canary: status, weight, checks, workloads, Services, webhooks and gates", cobra.ExactArgs(1),
		func(cmd *cobra.Command, o *cli.Options, names []string) error {
			o.Color = o.Color && !noColor
			return cli.GetCanary(cmd.Context(), o, names[0], watch)
		})
	cmd.Aliases = []string{"canaries"}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "keep watching: redrawn in place on a terminal")
	cmd.Flags().BoolVar(&noColor, "no-color", false, "no colours")
	return cmd
}

func newGetExperimentCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	var watch, noColor bool
	cmd := named(cf, "experiment NAME", "Show an experiment: status, images, ReplicaSets, pods and analyses", cobra.ExactArgs(1),
		func(cmd *cobra.Command, o *cli.Options, names []string) error {
			o.Color = o.Color && !noColor
			return cli.GetExperiment(cmd.Context(), o, names[0], watch)
		})
	cmd.Aliases = []string{"exp", "experiments"}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "keep watching: redrawn in place on a terminal")
	cmd.Flags().BoolVar(&noColor, "no-color", false, "no colours")
	return cmd
}

// named is a command acting on objects given by name (an experiment, analysis runs...).
func named(cf *genericclioptions.ConfigFlags, use, short string, args cobra.PositionalArgs,
	run func(cmd *cobra.Command, o *cli.Options, names []string) error) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: args,
		RunE: func(cmd *cobra.Command, names []string) error {
			o, err := options(cmd, cf)
			if err != nil {
				return err
			}
			return run(cmd, o, names)
		},
	}
}

func newListCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	var watch, all bool
	list := &cobra.Command{Use: "list", Short: "List rollouts, experiments or Flagger canaries"}
	ro := &cobra.Command{
		Use: "rollouts", Aliases: []string{"rollout", "ro"}, Short: "List rollouts in the namespace (-A: all)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := options(cmd, cf)
			if err != nil {
				return err
			}
			o.AllNamespaces = all
			return cli.ListRollouts(cmd.Context(), o, watch)
		},
	}
	ro.Flags().BoolVarP(&watch, "watch", "w", false, "keep watching")
	ro.Flags().BoolVarP(&all, "all-namespaces", "A", false, "every namespace")
	var allExp bool
	exp := named(cf, "experiments", "List experiments in the namespace (-A: all)", cobra.NoArgs,
		func(cmd *cobra.Command, o *cli.Options, _ []string) error {
			o.AllNamespaces = allExp
			return cli.ListExperiments(cmd.Context(), o)
		})
	exp.Aliases = []string{"experiment", "exp"}
	exp.Flags().BoolVarP(&allExp, "all-namespaces", "A", false, "every namespace")
	list.AddCommand(ro, exp, newListCanariesCommand(cf))
	return list
}

// newListCanariesCommand is `list canaries`: kubectl's columns for Flagger Canaries.
func newListCanariesCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	var watch, all bool
	cmd := named(cf, "canaries", "List Flagger canaries in the namespace (-A: all)", cobra.NoArgs,
		func(cmd *cobra.Command, o *cli.Options, _ []string) error {
			o.AllNamespaces = all
			return cli.ListCanaries(cmd.Context(), o, watch)
		})
	cmd.Aliases = []string{"canary"}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "keep watching")
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "every namespace")
	return cmd
}

func newStatusCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	var watch bool
	var timeout time.Duration
	cmd := verb(cf, "status NAME", "Wait until a rollout is Healthy (exit 0), Degraded or aborted (exit 1), or the timeout passes (exit 2)",
		func(cmd *cobra.Command, o *cli.Options, name string) error {
			return cli.Status(cmd.Context(), o, name, watch, timeout)
		})
	cmd.Flags().BoolVarP(&watch, "watch", "w", true, "wait for the rollout to finish (--watch=false: print the status once)")
	cmd.Flags().DurationVarP(&timeout, "timeout", "t", 0, "give up after this long (exit code 2); 0 waits forever")
	return cmd
}

func newPromoteCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	var full bool
	cmd := verb(cf, "promote [rollout] NAME", "End the current pause, or skip the current step (--full: skip every step)",
		func(cmd *cobra.Command, o *cli.Options, name string) error {
			return cli.Promote(cmd.Context(), o, name, full)
		})
	cmd.Flags().BoolVar(&full, "full", false, "skip every remaining step and analysis")
	return cmd
}

func newAbortCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	return verb(cf, "abort [rollout] NAME", "Stop the update and go back to the stable version",
		func(cmd *cobra.Command, o *cli.Options, name string) error { return cli.Abort(cmd.Context(), o, name) })
}

func newRetryCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	retry := verb(cf, "retry rollout NAME", "Start an aborted update again from its first step",
		func(cmd *cobra.Command, o *cli.Options, name string) error { return cli.Retry(cmd.Context(), o, name) })
	exp := named(cf, "experiment NAME...", "Run an experiment again from the start (its status is cleared)", cobra.MinimumNArgs(1),
		func(cmd *cobra.Command, o *cli.Options, names []string) error {
			return cli.RetryExperiment(cmd.Context(), o, names)
		})
	exp.Aliases = []string{"exp", "experiments"}
	retry.AddCommand(exp)
	return retry
}

func newTerminateCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	terminate := &cobra.Command{Use: "terminate", Short: "Stop an experiment or an analysis run (spec.terminate)"}
	exp := named(cf, "experiment NAME...", "End an experiment: its runs are terminated, its ReplicaSets scaled down", cobra.MinimumNArgs(1),
		func(cmd *cobra.Command, o *cli.Options, names []string) error {
			return cli.TerminateExperiment(cmd.Context(), o, names)
		})
	exp.Aliases = []string{"exp", "experiments"}
	run := named(cf, "analysisrun NAME...", "End an analysis run on the measurements it has", cobra.MinimumNArgs(1),
		func(cmd *cobra.Command, o *cli.Options, names []string) error {
			return cli.TerminateAnalysisRun(cmd.Context(), o, names)
		})
	run.Aliases = []string{"ar", "analysisruns"}
	terminate.AddCommand(exp, run)
	return terminate
}

func newCreateCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	var files []string
	var watch, noColor bool
	create := named(cf, "create -f FILE", "Create Rollouts, Experiments, AnalysisRuns and analysis templates from files", cobra.NoArgs,
		func(cmd *cobra.Command, o *cli.Options, _ []string) error {
			if len(files) == 0 {
				return fmt.Errorf("create needs -f FILE (or the subcommand analysisrun)")
			}
			o.Color = o.Color && !noColor
			return cli.Create(cmd.Context(), o, files, watch)
		})
	create.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file (repeatable)")
	create.Flags().BoolVarP(&watch, "watch", "w", false, "then watch the Rollout or Experiment created")
	create.Flags().BoolVar(&noColor, "no-color", false, "no colours")
	create.AddCommand(newCreateAnalysisRunCommand(cf))
	return create
}

func newCreateAnalysisRunCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	var f cli.RunFlags
	cmd := named(cf, "analysisrun --from TEMPLATE", "Create an AnalysisRun from an AnalysisTemplate or a ClusterAnalysisTemplate", cobra.NoArgs,
		func(cmd *cobra.Command, o *cli.Options, _ []string) error {
			return cli.CreateAnalysisRun(cmd.Context(), o, f)
		})
	cmd.Aliases = []string{"ar"}
	fl := cmd.Flags()
	fl.StringVar(&f.From, "from", "", "an AnalysisTemplate of the namespace (a ClusterAnalysisTemplate with --global)")
	fl.StringVar(&f.FromClusterTemplate, "from-cluster-template", "", "a ClusterAnalysisTemplate (same as --global --from)")
	fl.StringVar(&f.FromFile, "from-file", "", "a file holding an AnalysisTemplate or a ClusterAnalysisTemplate")
	fl.BoolVar(&f.Global, "global", false, "--from names a ClusterAnalysisTemplate")
	fl.StringArrayVarP(&f.Args, "argument", "a", nil, "NAME=VALUE for a template argument (repeatable)")
	fl.StringVar(&f.Name, "name", "", "the run's name")
	fl.StringVar(&f.GenerateName, "generate-name", "", "the run's name prefix (default: the template's name and -)")
	fl.StringVar(&f.InstanceID, "instance-id", "", "label the run for the controller with this instance id")
	return cmd
}

func newPauseCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	return verb(cf, "pause [rollout] NAME", "Hold the rollout where it is until it is promoted",
		func(cmd *cobra.Command, o *cli.Options, name string) error { return cli.Pause(cmd.Context(), o, name) })
}

func newRestartCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	var in time.Duration
	cmd := verb(cf, "restart [rollout] NAME", "Replace every pod, a few at a time",
		func(cmd *cobra.Command, o *cli.Options, name string) error {
			return cli.Restart(cmd.Context(), o, name, in)
		})
	cmd.Flags().DurationVar(&in, "in", 0, "restart after this long")
	return cmd
}

func newUndoCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	var to int64
	cmd := verb(cf, "undo [rollout] NAME", "Go back to the previous revision's template (or --to-revision)",
		func(cmd *cobra.Command, o *cli.Options, name string) error {
			return cli.Undo(cmd.Context(), o, name, to)
		})
	cmd.Flags().Int64Var(&to, "to-revision", 0, "the revision to go back to (default: the previous one)")
	return cmd
}

func newSetCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	set := &cobra.Command{Use: "set", Short: "Change a rollout's template"}
	set.AddCommand(&cobra.Command{
		Use: "image NAME CONTAINER=IMAGE", Short: "Set a container's image (CONTAINER * for every container)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := options(cmd, cf)
			if err != nil {
				return err
			}
			return cli.SetImage(cmd.Context(), o, args[0], args[1])
		},
	})
	return set
}

func newLintCommand() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use: "lint -f FILE", Short: "Check the Argo Rollouts and Flagger objects of manifest files (no cluster needed)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return fmt.Errorf("lint needs -f FILE")
			}
			return cli.Lint(&cli.Options{Out: cmd.OutOrStdout(), Err: cmd.ErrOrStderr()}, files)
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "manifest file (repeatable)")
	return cmd
}

func newMigrateCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	var all bool
	migrate := &cobra.Command{Use: "migrate", Short: "Prepare a switch from Argo Rollouts to Vane"}
	check := &cobra.Command{
		Use:   "check",
		Short: "List what Vane would treat differently from Argo Rollouts (exit 0: nothing, 1: something, 2: error)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := options(cmd, cf)
			if err != nil {
				return &cli.ExitError{Code: cli.ExitCheckFailed, Err: err}
			}
			o.AllNamespaces = all
			return cli.MigrateCheck(cmd.Context(), o)
		},
	}
	check.Flags().BoolVarP(&all, "all-namespaces", "A", false, "every namespace")
	migrate.AddCommand(check)
	return migrate
}
