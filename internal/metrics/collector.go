package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vanedev/vane/api/v1alpha1"
)

func desc(name, help string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append(append([]string{}, nsName...), extra...), nil)
}

// The series read from the cache at scrape time.
var (
	rolloutInfo        = desc("rollout_info", "Information about rollout.", "strategy", "traffic_router", "phase")
	rolloutAvailable   = desc("rollout_info_replicas_available", "The number of available replicas per rollout.")
	rolloutUnavailable = desc("rollout_info_replicas_unavailable", "The number of unavailable replicas per rollout.")
	rolloutDesired     = desc("rollout_info_replicas_desired", "The number of desired replicas per rollout.")
	rolloutUpdated     = desc("rollout_info_replicas_updated", "The number of updated replicas per rollout.")
	rolloutPhase       = desc("rollout_phase", "Information on the state of the rollout (DEPRECATED - use rollout_info)", "strategy", "phase")
	canaryStep         = desc("vane_rollout_canary_step", "Index of the canary step a Rollout runs (status.currentStepIndex; Vane only).")
	canarySteps        = desc("vane_rollout_canary_step_count", "Number of steps of a canary Rollout (Vane only).")
	canaryWeight       = desc("vane_rollout_canary_set_weight", "Canary weight the current step sets, 0 once aborted (Vane only).")

	runInfo       = desc("analysis_run_info", "Information about analysis run.", "phase")
	runPhase      = desc("analysis_run_phase", "Information on the state of the Analysis Run (DEPRECATED - use analysis_run_info)", "phase")
	runMetricType = desc("analysis_run_metric_type", "Information on the type of a specific metric in the Analysis Runs", "metric", "type")
	runMetricPh   = desc("analysis_run_metric_phase", "Information on the duration of a specific metric in the Analysis Run",
		"metric", "type", "dry_run", "phase")

	expInfo  = desc("experiment_info", "Information about Experiment.", "phase")
	expPhase = desc("experiment_phase", "Information on the state of the experiment (DEPRECATED - use experiment_info)", "phase")
)

var cacheDescs = []*prometheus.Desc{rolloutInfo, rolloutAvailable, rolloutUnavailable, rolloutDesired, rolloutUpdated,
	rolloutPhase, canaryStep, canarySteps, canaryWeight, runInfo, runPhase, runMetricType, runMetricPh, expInfo, expPhase}

// listTimeout bounds a scrape's reads of a cache (they are in memory once it is synced).
const listTimeout = 5 * time.Second

// source is one manager's view of the objects: its cache, and the instance id it serves.
type source struct {
	reader     client.Reader
	instanceID string
}

// owns reports whether obj is one the source's controllers serve.
func (s *source) owns(obj client.Object) bool {
	return obj.GetLabels()[v1alpha1.InstanceIDLabel] == s.instanceID
}

// cacheCollector collects the cache-read series of every running manager's source. Two
// managers serving the same object report it once.
type cacheCollector struct {
	mu      sync.Mutex
	sources map[*source]struct{}
}

// caches is the process' one cache collector, registered once.
var caches = &cacheCollector{sources: map[*source]struct{}{}}

func (c *cacheCollector) attach(s *source) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sources[s] = struct{}{}
}

func (c *cacheCollector) detach(s *source) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.sources, s)
}

func (c *cacheCollector) current() []*source {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*source, 0, len(c.sources))
	for s := range c.sources {
		out = append(out, s)
	}
	return out
}

// Describe sends the descriptions of the cache-read series.
func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range cacheDescs {
		ch <- d
	}
}

// Collect reads every source's Rollouts, AnalysisRuns and Experiments.
func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	seen := map[string]bool{}
	first := func(kind string, o client.Object) bool {
		k := kind + "/" + o.GetNamespace() + "/" + o.GetName()
		if seen[k] {
			return false
		}
		seen[k] = true
		return true
	}
	for _, s := range c.current() {
		collectSource(ctx, s, ch, first)
	}
}

// noCopy lists the cache's own objects rather than copies of them: a scrape only reads them,
// and copying every Rollout, AnalysisRun and Experiment at each scrape made garbage in
// proportion to the cluster (docs/performance.md).
var noCopy = client.UnsafeDisableDeepCopy

func collectSource(ctx context.Context, s *source, ch chan<- prometheus.Metric, first func(string, client.Object) bool) {
	log := logf.FromContext(ctx).WithName("metrics")
	var ros v1alpha1.RolloutList
	if err := s.reader.List(ctx, &ros, noCopy); err != nil {
		log.Error(err, "listing rollouts for the metrics")
	}
	for i := range ros.Items {
		if ro := &ros.Items[i]; s.owns(ro) && first("Rollout", ro) {
			collectRollout(ch, ro)
		}
	}
	var runs v1alpha1.AnalysisRunList
	if err := s.reader.List(ctx, &runs, noCopy); err != nil {
		log.Error(err, "listing analysis runs for the metrics")
	}
	for i := range runs.Items {
		if run := &runs.Items[i]; s.owns(run) && first("AnalysisRun", run) {
			collectAnalysisRun(ch, run)
		}
	}
	var exps v1alpha1.ExperimentList
	if err := s.reader.List(ctx, &exps, noCopy); err != nil {
		log.Error(err, "listing experiments for the metrics")
	}
	for i := range exps.Items {
		if ex := &exps.Items[i]; s.owns(ex) && first("Experiment", ex) {
			collectExperiment(ch, ex)
		}
	}
}

// gauges sends gauges of one object, its namespace and name first among the label values.
type gauges struct {
	ch              chan<- prometheus.Metric
	namespace, name string
}

func (g gauges) add(d *prometheus.Desc, v float64, labels ...string) {
	g.ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{g.namespace, g.name}, labels...)...)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
