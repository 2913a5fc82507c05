// Package analysisrun reconciles AnalysisRuns: it takes each metric's measurements on time
// (interval, initialDelay, count) with the metric's provider, judges them (internal/analysis),
// and reports metric and run phases, with messages that name the metric, the value and the
// condition, and events. Everything it knows is in the run's status: a restarted controller
// continues where the last one stopped.
package analysisrun

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/cloudwatch"
	"github.com/vanedev/vane/internal/analysis/provider/credentials"
	"github.com/vanedev/vane/internal/analysis/provider/datadog"
	"github.com/vanedev/vane/internal/analysis/provider/dynatrace"
	"github.com/vanedev/vane/internal/analysis/provider/graphite"
	"github.com/vanedev/vane/internal/analysis/provider/influxdb"
	"github.com/vanedev/vane/internal/analysis/provider/job"
	"github.com/vanedev/vane/internal/analysis/provider/judge"
	"github.com/vanedev/vane/internal/analysis/provider/kayenta"
	"github.com/vanedev/vane/internal/analysis/provider/newrelic"
	"github.com/vanedev/vane/internal/analysis/provider/prometheus"
	"github.com/vanedev/vane/internal/analysis/provider/skywalking"
	"github.com/vanedev/vane/internal/analysis/provider/wavefront"
	"github.com/vanedev/vane/internal/analysis/provider/web"
	"github.com/vanedev/vane/internal/plugin"
	metricplugin "github.com/vanedev/vane/internal/plugin/metric"
	kit "github.com/vanedev/vane/internal/reconcile"
)

// Reconciler reconciles AnalysisRuns.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API.
	Client client.Client
	// APIReader reads Secrets straight from the API (they are not cached).
	APIReader client.Reader
	// Recorder emits events.
	Recorder record.EventRecorder
	// Settings are the clock and the controller instance (it serves only the AnalysisRuns
	// labelled with it).
	kit.Settings
	// Providers by name, as provider.Name gives it: "web", "prometheus", "job", "datadog",
	// "newRelic", "cloudWatch", "wavefront", "graphite", "influxdb", "kayenta", "skywalking".
	// A provider registered as "plugin <name>" serves that plugin name itself (the built-in
	// judge is "plugin vane/judge", the Dynatrace provider "plugin vane/dynatrace").
	Providers map[string]provider.Provider
	// Plugins runs the metric provider plugins of the argo-rollouts-config ConfigMap: a metric
	// whose provider is a plugin no Providers entry serves is measured by it (nil: such
	// metrics are unsupported).
	Plugins *plugin.Manager

	plugins *metricplugin.Provider
}

// New returns a Reconciler with every built-in provider. Providers that read Secrets (the keys
// of datadog, newRelic, influxdb, wavefront, Dynatrace's token) read them with apiReader, in
// the controller's namespace as Argo Rollouts finds its own (credentials.ControllerNamespace);
// so do the metric plugins' ConfigMap and Secrets when no WithPlugins option gives a plugin
// Manager (that one loads the plugins at their first use).
func New(c client.Client, apiReader client.Reader, rec record.EventRecorder, opts ...Option) *Reconciler {
	r := kit.Configure(&Reconciler{Client: c, APIReader: apiReader, Recorder: rec}, opts...)
	secrets := credentials.Store{Reader: apiReader}
	prom := prometheus.New(r.Clock)
	defaults := map[string]provider.Provider{
		"web":        web.New(),
		"prometheus": prom,
		"job":        &job.Provider{Client: c, Clock: r.Clock},
		"datadog":    datadog.New(secrets, r.Clock),
		"newRelic":   newrelic.New(secrets),
		"cloudWatch": cloudwatch.New(r.Clock),
		"wavefront":  wavefront.New(secrets, r.Clock),
		"graphite":   graphite.New(),
		"influxdb":   influxdb.New(secrets),
		"kayenta":    kayenta.New(r.Clock),
		"skywalking": skywalking.New(r.Clock),
		// the statistical canary judge, through Argo's plugin field (docs/judge.md)
		judge.ProviderName: judge.New(r.Clock, prom),
		// Dynatrace's Metrics API v2, through Argo's plugin field (docs/analysis.md)
		dynatrace.ProviderName: dynatrace.New(secrets),
	}
	if r.Providers == nil {
		r.Providers = map[string]provider.Provider{}
	}
	for name, p := range defaults {
		if _, ok := r.Providers[name]; !ok {
			r.Providers[name] = p
		}
	}
	if r.Plugins == nil {
		r.Plugins = plugin.NewManager(apiReader, plugin.Options{})
	}
	r.plugins = metricplugin.New(r.Plugins, r.Clock)
	return r
}

// pluginProvider returns the provider of a metric that names only a plugin, which the
// argo-rollouts-config ConfigMap should list (a name it lacks errors the metric, naming it).
func (r *Reconciler) pluginProvider(m *v1alpha1.Metric) provider.Provider {
	if r.plugins == nil || len(m.Provider.Plugin) == 0 || len(provider.Names(&m.Provider)) != 1 {
		return nil
	}
	return r.plugins
}

// +kubebuilder:rbac:groups=argoproj.io,resources=analysisruns,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=argoproj.io,resources=analysisruns/status,verbs=get;patch
// +kubebuilder:rbac:groups=argoproj.io,resources=rollouts,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile takes the measurements that are due and judges the run. Status is written once, at
// the end, with an optimistic lock; events are emitted only once it is stored.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	return kit.Run(ctx, r.Client, r.Recorder, &r.Settings, req, &v1alpha1.AnalysisRun{}, runStatus, r.reconcileRun)
}

// runStatus is the part of an AnalysisRun a reconcile writes.
func runStatus(run *v1alpha1.AnalysisRun) any { return run.Status }

// reconcileRun is one reconcile of the AnalysisRun in the session sess: a completed run waits
// for its ttlStrategy, another one is measured and judged.
func (r *Reconciler) reconcileRun(ctx context.Context, sess *kit.Session[*v1alpha1.AnalysisRun]) (reconcile.Result, error) {
	run := sess.Obj
	s := &syncState{run: run, now: r.Clock.Now(), events: &sess.Events}
	if run.Status.Phase.Completed() {
		return r.expire(ctx, s)
	}
	return r.sync(ctx, s)
}

// syncState is what one reconcile learns and decides about a run.
type syncState struct {
	run *v1alpha1.AnalysisRun
	now time.Time
	// events are emitted once the status is stored (internal/reconcile)
	events *kit.Events
	// next is the earliest time something is due (zero: nothing)
	next time.Time
}

func (s *syncState) event(warning bool, reason, format string, args ...any) {
	s.events.Add(warning, reason, format, args...)
}

// wakeAt asks for a reconcile at t (the earliest asked for wins).
func (s *syncState) wakeAt(t time.Time) {
	if s.next.IsZero() || t.Before(s.next) {
		s.next = t
	}
}

func (s *syncState) result() reconcile.Result {
	if s.next.IsZero() {
		return reconcile.Result{}
	}
	// a little late rather than early: stored times are whole seconds
	return reconcile.Result{RequeueAfter: max(s.next.Sub(s.now), 0) + 10*time.Millisecond}
}

// expire deletes a completed run once its ttlStrategy says so.
func (r *Reconciler) expire(ctx context.Context, s *syncState) (reconcile.Result, error) {
	run := s.run
	ttl := ttlFor(run)
	if ttl == nil {
		return reconcile.Result{}, nil
	}
	if run.Status.CompletedAt == nil {
		run.Status.CompletedAt = &metav1.Time{Time: s.now}
	}
	deadline := run.Status.CompletedAt.Add(time.Duration(*ttl) * time.Second)
	if s.now.Before(deadline) {
		s.wakeAt(deadline)
		return s.result(), nil
	}
	log.FromContext(ctx).Info("deleting the AnalysisRun: its ttlStrategy expired", "phase", run.Status.Phase, "ttlSeconds", *ttl)
	if err := r.Client.Delete(ctx, run, client.Preconditions{UID: &run.UID}); err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, fmt.Errorf("deleting expired AnalysisRun: %w", err)
	}
	return reconcile.Result{}, nil
}

// ttlFor returns how many seconds a completed run is kept: secondsAfterSuccess for a
// Successful run, secondsAfterFailure for a Failed or Error one, else (and when those are
// unset) secondsAfterCompletion; nil keeps it.
func ttlFor(run *v1alpha1.AnalysisRun) *int32 {
	t := run.Spec.TTLStrategy
	if t == nil {
		return nil
	}
	switch run.Status.Phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		if t.SecondsAfterSuccess != nil {
			return t.SecondsAfterSuccess
		}
	case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError:
		if t.SecondsAfterFailure != nil {
			return t.SecondsAfterFailure
		}
	}
	return t.SecondsAfterCompletion
}
