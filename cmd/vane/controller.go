package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/controller"
	"github.com/vanedev/vane/internal/metrics"
	"github.com/vanedev/vane/internal/notify"
	"github.com/vanedev/vane/internal/webhook"
)

// controllerFlags are the settings of `vane controller`.
type controllerFlags struct {
	instanceID     string
	leaderElect    bool
	leaseNamespace string
	metricsAddr    string
	healthAddr     string
	threads        threadFlags
	client         clientFlags
	shards         shardFlags
	pprofAddr      string
	verbosity      int
	webhook        *webhook.Options
	notify         notifyFlags
	canary         controller.CanaryOptions
	resolve        string
	alb            *albFlags
	traffic        *trafficFlags
}

// threadFlags are how many objects of each kind the controller reconciles at once: --workers
// for every kind, overridden per kind by Argo's --rollout-threads, --analysis-threads and
// --experiment-threads.
type threadFlags struct {
	workers, rollouts, analysis, experiments int
}

// clientFlags are the controller's client-side limits on API requests.
type clientFlags struct {
	qps   float32
	burst int
}

// notifyFlags are the notification settings of `vane controller`.
type notifyFlags struct {
	namespace   string
	selfService bool
	sendTimeout time.Duration
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
	addScaleFlags(fl, f)
	fl.IntVarP(&f.verbosity, "verbosity", "v", 0, "log verbosity (1: every status change)")
	f.webhook = webhook.AddFlags(fl)
	fl.StringVar(&f.notify.namespace, "notifications-namespace", "", "namespace of "+notify.ConfigMapName+" and "+notify.SecretName+
		" (default: $POD_NAMESPACE, the pod's, -n, then argo-rollouts)")
	fl.BoolVar(&f.notify.selfService, "self-service-notification-enabled", false,
		"also read the notification ConfigMap and Secret of each rollout's own namespace")
	fl.DurationVar(&f.notify.sendTimeout, "notification-send-timeout", 10*time.Second, "give up on a notification receiver after this long")
	addCanaryFlags(fl, f)
	f.alb = addALBFlags(fl)
	f.traffic = addTrafficFlags(fl)
	return cmd
}

// runController runs the manager. The global --kubeconfig/--context select the cluster (in a
// pod: the in-cluster config); an explicit -n/--namespace limits the controller to it.
func runController(cmd *cobra.Command, cf *genericclioptions.ConfigFlags, f *controllerFlags) error {
	ctrl.SetLogger(zap.New(zap.UseDevMode(false), zap.Level(zapLevel(f.verbosity))))
	notify.RouteEngineLogs(ctrl.Log)
	cfg, err := cf.ToRESTConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	if err := f.client.apply(cfg); err != nil {
		return err
	}
	workers, err := f.threads.resolve()
	if err != nil {
		return err
	}
	shards, err := f.shards.check(f.leaderElect)
	if err != nil {
		return err
	}
	notifier, err := newNotifier(*cf.Namespace, f.instanceID, f.notify)
	if err != nil {
		return err
	}
	canaryOpts, err := f.canaryOptions()
	if err != nil {
		return err
	}
	ropts, err := f.alb.rolloutOptions(cmd.Context())
	if err != nil {
		return err
	}
	ropts = append(ropts, f.traffic.rolloutOptions()...)
	mgr, err := controller.NewManager(cfg, controller.Options{
		Namespace:               *cf.Namespace,
		InstanceID:              f.instanceID,
		LeaderElection:          f.leaderElect,
		LeaderElectionNamespace: f.leaseNamespace,
		MetricsAddr:             f.metricsAddr,
		HealthAddr:              f.healthAddr,
		Workers:                 workers.rollouts,
		AnalysisWorkers:         workers.analysis,
		ExperimentWorkers:       workers.experiments,
		PprofAddr:               f.pprofAddr,
		EventObservers:          []controller.EventObserver{notifier},
		Canary:                  canaryOpts,
		RolloutOptions:          ropts,
		Shards:                  shards.n,
		ShardIdentity:           shards.identity,
	})
	if err != nil {
		return err
	}
	if err := notifier.SetupWithManager(mgr); err != nil {
		return err
	}
	if err := webhook.Setup(mgr, *f.webhook); err != nil {
		return err
	}
	return mgr.Start(cmd.Context())
}

func zapLevel(v int) zapcore.Level { return zapcore.Level(-v) }

// newNotifier builds the notifier of `vane controller` for the Rollouts of instanceID.
func newNotifier(watchNamespace, instanceID string, f notifyFlags) (*notify.Notifier, error) {
	if f.selfService && watchNamespace != "" {
		return nil, errors.New("--self-service-notification-enabled reads every namespace's ConfigMap: it needs a cluster-wide controller (no -n)")
	}
	return notify.New(notify.Options{
		Namespace:   notificationsNamespace(f.namespace, watchNamespace),
		InstanceID:  instanceID,
		SelfService: f.selfService,
		SendTimeout: f.sendTimeout,
		Metrics:     metrics.Notifications,
	}), nil
}

// notificationsNamespace is the controller's namespace, where its notification ConfigMap and
// Secret live: the flag, $POD_NAMESPACE, the pod's namespace, -n, then Argo's default.
func notificationsNamespace(flag, watchNamespace string) string {
	if flag != "" {
		return flag
	}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(b) > 0 {
		return strings.TrimSpace(string(b))
	}
	if watchNamespace != "" {
		return watchNamespace
	}
	return "argo-rollouts"
}
