package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/controller"
	"github.com/vanedev/vane/internal/webhook"
)

// controllerFlags are the settings of `vane controller`.
type controllerFlags struct {
	instanceID     string
	leaderElect    bool
	leaseNamespace string
	metricsAddr    string
	healthAddr     string
	workers        int
	verbosity      int
	webhook        *webhook.Options
}

func newControllerCommand(cf *genericclioptions.ConfigFlags) *cobra.Command {
	f := &controllerFlags{}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the controller that reconciles Rollouts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runController(cmd, cf, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.instanceID, "instance-id", "", "only reconcile Rollouts labelled "+v1alpha1.InstanceIDLabel+" with this value (default: unlabelled ones)")
	fl.BoolVar(&f.leaderElect, "leader-elect", false, "elect a leader through a Lease, so that only one replica acts")
	fl.StringVar(&f.leaseNamespace, "leader-election-namespace", "", "namespace of the leader Lease (default: the pod's, or -n)")
	fl.StringVar(&f.metricsAddr, "metrics-bind-address", "127.0.0.1:8090", "address of the Prometheus metrics endpoint (0 disables)")
	fl.StringVar(&f.healthAddr, "health-probe-bind-address", "127.0.0.1:8091", "address of /healthz and /readyz (0 disables)")
	fl.IntVar(&f.workers, "workers", 4, "rollouts reconciled at once")
	fl.IntVarP(&f.verbosity, "verbosity", "v", 0, "log verbosity (1: every status change)")
	f.webhook = webhook.AddFlags(fl)
	return cmd
}

// runController runs the manager. The global --kubeconfig/--context select the cluster (in a
// pod: the in-cluster config); an explicit -n/--namespace limits the controller to it.
func runController(cmd *cobra.Command, cf *genericclioptions.ConfigFlags, f *controllerFlags) error {
	ctrl.SetLogger(zap.New(zap.UseDevMode(false), zap.Level(zapLevel(f.verbosity))))
	cfg, err := cf.ToRESTConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	mgr, err := controller.NewManager(cfg, controller.Options{
		Namespace:               *cf.Namespace,
		InstanceID:              f.instanceID,
		LeaderElection:          f.leaderElect,
		LeaderElectionNamespace: f.leaseNamespace,
		MetricsAddr:             f.metricsAddr,
		HealthAddr:              f.healthAddr,
		Workers:                 f.workers,
	})
	if err != nil {
		return err
	}
	if err := webhook.Setup(mgr, *f.webhook); err != nil {
		return err
	}
	return mgr.Start(cmd.Context())
}

func zapLevel(v int) zapcore.Level { return zapcore.Level(-v) }
