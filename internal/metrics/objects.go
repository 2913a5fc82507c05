package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/strategy"
)

// Argo's rollout phases of rollout_info and rollout_phase (not status.phase): computed from the
// Progressing condition's reason and the InvalidSpec condition.
const (
	phaseInvalidSpec = "InvalidSpec"
	phaseCompleted   = "Completed"
	phaseProgressing = "Progressing"
	phasePaused      = "Paused"
	phaseTimeout     = "Timeout"
	phaseError       = "Error"
	phaseAbort       = "Abort"
)

// rolloutPhases are the phases rollout_phase reports, in Argo's order (InvalidSpec is only in
// rollout_info).
var rolloutPhases = []string{phaseCompleted, phaseProgressing, phasePaused, phaseTimeout, phaseError, phaseAbort}

// progressingReasons map the Progressing condition's reason to the phase.
var progressingReasons = map[string]string{
	"NewReplicaSetAvailable":        phaseCompleted,
	strategy.ReasonPaused:           phasePaused,
	"ReplicaSetCreateError":         phaseError,
	strategy.ReasonDeadlineExceeded: phaseTimeout,
	strategy.ReasonAborted:          phaseAbort,
}

func metricsPhase(ro *v1alpha1.Rollout) string {
	phase := phaseProgressing
	for _, c := range ro.Status.Conditions {
		if c.Type == v1alpha1.InvalidSpec {
			return phaseInvalidSpec
		}
	}
	for _, c := range ro.Status.Conditions {
		if p, ok := progressingReasons[c.Reason]; ok && c.Type == v1alpha1.RolloutProgressing {
			phase = p
		}
	}
	return phase
}

// strategyAndRouter are Argo's strategy ("blueGreen", "canary" or "none") and traffic_router
// labels; a router Argo does not name (Traefik, Apisix, plugins) is "".
func strategyAndRouter(ro *v1alpha1.Rollout) (string, string) {
	switch {
	case ro.Spec.Strategy.BlueGreen != nil:
		return "blueGreen", ""
	case ro.Spec.Strategy.Canary == nil:
		return "none", ""
	}
	tr := ro.Spec.Strategy.Canary.TrafficRouting
	if tr == nil {
		return "canary", ""
	}
	router := ""
	// the last set wins, in Argo's order
	for _, r := range []struct {
		set  bool
		name string
	}{{tr.ALB != nil, "ALB"}, {tr.Ambassador != nil, "Ambassador"}, {tr.Istio != nil, "Istio"},
		{tr.Nginx != nil, "Nginx"}, {tr.SMI != nil, "SMI"}, {tr.AppMesh != nil, "AppMesh"}} {
		if r.set {
			router = r.name
		}
	}
	return "canary", router
}

func collectRollout(ch chan<- prometheus.Metric, ro *v1alpha1.Rollout) {
	g := gauges{ch: ch, namespace: ro.Namespace, name: ro.Name}
	strat, router := strategyAndRouter(ro)
	phase := metricsPhase(ro)
	st := ro.Status
	g.add(rolloutInfo, 1, strat, router, phase)
	g.add(rolloutAvailable, float64(st.AvailableReplicas))
	g.add(rolloutUnavailable, float64(st.Replicas-st.AvailableReplicas))
	g.add(rolloutDesired, float64(ro.Spec.EffectiveReplicas()))
	g.add(rolloutUpdated, float64(st.UpdatedReplicas))
	for _, p := range rolloutPhases {
		g.add(rolloutPhase, boolValue(p == phase), strat, p)
	}
	if c := ro.Spec.Strategy.Canary; c != nil {
		idx := ptr.Deref(st.CurrentStepIndex, 0)
		weight := strategy.CurrentWeight(c.Steps, idx)
		if st.Abort {
			weight = 0
		}
		g.add(canaryStep, float64(idx))
		g.add(canarySteps, float64(len(c.Steps)))
		g.add(canaryWeight, float64(weight))
	}
}

// analysisPhases are the phases analysis_run_phase and analysis_run_metric_phase report.
var analysisPhases = []v1alpha1.AnalysisPhase{v1alpha1.AnalysisPhasePending, v1alpha1.AnalysisPhaseError,
	v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseRunning,
	v1alpha1.AnalysisPhaseInconclusive}

func collectAnalysisRun(ch chan<- prometheus.Metric, run *v1alpha1.AnalysisRun) {
	g := gauges{ch: ch, namespace: run.Namespace, name: run.Name}
	g.add(runInfo, 1, string(run.Status.Phase))
	for _, p := range analysisPhases {
		g.add(runPhase, boolValue(isPhase(run.Status.Phase, p)), string(p))
	}
	results := map[string]v1alpha1.AnalysisPhase{}
	for _, r := range run.Status.MetricResults {
		results[r.Name] = r.Phase
	}
	for _, m := range run.Spec.Metrics {
		typ := providerType(m.Provider)
		dry := fmt.Sprint(v1alpha1.IsDryRun(m.Name, run.Spec.DryRun))
		g.add(runMetricType, 1, m.Name, typ)
		for _, p := range analysisPhases {
			g.add(runMetricPh, boolValue(isPhase(results[m.Name], p)), m.Name, typ, dry, string(p))
		}
	}
}

// isPhase reports whether got is want; no phase yet counts as Pending.
func isPhase(got, want v1alpha1.AnalysisPhase) bool {
	return got == want || (got == "" && want == v1alpha1.AnalysisPhasePending)
}

// experimentPhases are the phases experiment_phase reports (Argo's list: no Failed).
var experimentPhases = []v1alpha1.AnalysisPhase{v1alpha1.AnalysisPhasePending, v1alpha1.AnalysisPhaseError,
	v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseRunning, v1alpha1.AnalysisPhaseInconclusive}

func collectExperiment(ch chan<- prometheus.Metric, ex *v1alpha1.Experiment) {
	g := gauges{ch: ch, namespace: ex.Namespace, name: ex.Name}
	g.add(expInfo, 1, string(ex.Status.Phase))
	for _, p := range experimentPhases {
		g.add(expPhase, boolValue(isPhase(ex.Status.Phase, p)), string(p))
	}
}

// providerType is Argo's name of a metric's provider (its metricproviders.Type).
func providerType(p v1alpha1.MetricProvider) string {
	for _, t := range []struct {
		set  bool
		name string
	}{{p.Prometheus != nil, "Prometheus"}, {p.Job != nil, "Job"}, {p.Kayenta != nil, "Kayenta"},
		{p.Web != nil, "Web"}, {p.Datadog != nil, "Datadog"}, {p.Wavefront != nil, "Wavefront"},
		{p.NewRelic != nil, "NewRelic"}, {p.CloudWatch != nil, "CloudWatch"}, {p.Graphite != nil, "Graphite"},
		{p.Influxdb != nil, "Influxdb"}, {p.SkyWalking != nil, "skywalking"}, {p.Plugin != nil, "RPCPlugin"}} {
		if t.set {
			return t.name
		}
	}
	return "Unknown Provider"
}
