package metrics

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

func canary(name string, cond string, step int32, steps ...v1alpha1.CanaryStep) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	ro.Spec.Replicas = ptr.To[int32](4)
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{Steps: steps}
	ro.Status.Replicas, ro.Status.AvailableReplicas, ro.Status.UpdatedReplicas = 5, 4, 2
	ro.Status.CurrentStepIndex = ptr.To(step)
	if cond != "" {
		ro.Status.Conditions = []v1alpha1.RolloutCondition{{Type: v1alpha1.RolloutProgressing, Reason: cond}}
	}
	return ro
}

func TestCollectRollouts(t *testing.T) {
	steps := []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](25)}, {Pause: &v1alpha1.RolloutPause{}}, {SetWeight: ptr.To[int32](75)}}
	other := canary("other", "RolloutPaused", 1, steps...)
	other.Labels = map[string]string{v1alpha1.InstanceIDLabel: "someone-else"}
	aborted := canary("a", "RolloutAborted", 1, steps...)
	aborted.Status.Abort = true
	tests := map[string]struct {
		obj  *v1alpha1.Rollout
		want map[string]float64
	}{
		"canary paused at its second step": {obj: canary("a", "RolloutPaused", 1, steps...), want: map[string]float64{
			`rollout_info{name="a",namespace="ns",phase="Paused",strategy="canary",traffic_router=""}`: 1,
			`rollout_info_replicas_available{name="a",namespace="ns"}`:                                 4,
			`rollout_info_replicas_unavailable{name="a",namespace="ns"}`:                               1,
			`rollout_info_replicas_desired{name="a",namespace="ns"}`:                                   4,
			`rollout_info_replicas_updated{name="a",namespace="ns"}`:                                   2,
			`vane_rollout_canary_step{name="a",namespace="ns"}`:                                        1,
			`vane_rollout_canary_step_count{name="a",namespace="ns"}`:                                  3,
			`vane_rollout_canary_set_weight{name="a",namespace="ns"}`:                                  25,
		}},
		"aborted canary: weight 0": {obj: aborted, want: map[string]float64{
			`rollout_info{name="a",namespace="ns",phase="Abort",strategy="canary",traffic_router=""}`: 1,
			`rollout_info_replicas_available{name="a",namespace="ns"}`:                                4,
			`rollout_info_replicas_unavailable{name="a",namespace="ns"}`:                              1,
			`rollout_info_replicas_desired{name="a",namespace="ns"}`:                                  4,
			`rollout_info_replicas_updated{name="a",namespace="ns"}`:                                  2,
			`vane_rollout_canary_step{name="a",namespace="ns"}`:                                       1,
			`vane_rollout_canary_step_count{name="a",namespace="ns"}`:                                 3,
			`vane_rollout_canary_set_weight{name="a",namespace="ns"}`:                                 0,
		}},
		"another instance's rollout: no series": {obj: other, want: map[string]float64{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := &cacheCollector{sources: map[*source]struct{}{{reader: fakeReader(t, tc.obj)}: {}}}
			got := series(t, c, "rollout_info", "rollout_info_replicas_available", "rollout_info_replicas_unavailable",
				"rollout_info_replicas_desired", "rollout_info_replicas_updated", "vane_rollout_canary_step",
				"vane_rollout_canary_step_count", "vane_rollout_canary_set_weight")
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("series (-want +got):\n%s", d)
			}
		})
	}
}

func TestRolloutPhaseAndLabels(t *testing.T) {
	bg := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b"}}
	bg.Spec.Strategy.BlueGreen = &v1alpha1.BlueGreenStrategy{}
	bg.Status.Conditions = []v1alpha1.RolloutCondition{{Type: v1alpha1.RolloutProgressing, Reason: "NewReplicaSetAvailable"},
		{Type: v1alpha1.InvalidSpec, Reason: "InvalidSpec"}}
	routed := canary("r", "ProgressDeadlineExceeded", 0)
	routed.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Istio: &v1alpha1.IstioTrafficRouting{},
		SMI: &v1alpha1.SMITrafficRouting{}}
	traefik := canary("t", "", 0)
	traefik.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Traefik: &v1alpha1.TraefikTrafficRouting{}}
	tests := map[string]struct {
		obj  *v1alpha1.Rollout
		want [3]string // strategy, traffic_router, phase
	}{
		"InvalidSpec wins over a completed update":  {obj: bg, want: [3]string{"blueGreen", "", "InvalidSpec"}},
		"the last router in Argo's order":           {obj: routed, want: [3]string{"canary", "SMI", "Timeout"}},
		"a router Argo does not name; no condition": {obj: traefik, want: [3]string{"canary", "", "Progressing"}},
		"no strategy": {obj: &v1alpha1.Rollout{}, want: [3]string{"none", "", "Progressing"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, r := strategyAndRouter(tc.obj)
			if d := cmp.Diff(tc.want, [3]string{s, r, metricsPhase(tc.obj)}); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestCollectRolloutPhase(t *testing.T) {
	c := &cacheCollector{sources: map[*source]struct{}{{reader: fakeReader(t, canary("a", "RolloutPaused", 1))}: {}}}
	want := map[string]float64{}
	for _, p := range []string{"Completed", "Progressing", "Paused", "Timeout", "Error", "Abort"} {
		want[`rollout_phase{name="a",namespace="ns",phase="`+p+`",strategy="canary"}`] = boolValue(p == "Paused")
	}
	if d := cmp.Diff(want, series(t, c, "rollout_phase")); d != "" {
		t.Errorf("rollout_phase (-want +got):\n%s", d)
	}
}

func TestCollectAnalysisRunsAndExperiments(t *testing.T) {
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "run"}}
	run.Spec.Metrics = []v1alpha1.Metric{{Name: "errors", Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{}}},
		{Name: "smoke", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{}}}}
	run.Spec.DryRun = []v1alpha1.DryRun{{MetricName: "smoke"}}
	run.Status.Phase = v1alpha1.AnalysisPhaseFailed
	run.Status.MetricResults = []v1alpha1.MetricResult{{Name: "errors", Phase: v1alpha1.AnalysisPhaseFailed}}
	ex := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "ex"}}
	ex.Status.Phase = v1alpha1.AnalysisPhaseRunning
	c := &cacheCollector{sources: map[*source]struct{}{{reader: fakeReader(t, []client.Object{run, ex}...)}: {}}}
	got := series(t, c, "analysis_run_info", "analysis_run_metric_type", "analysis_run_metric_phase", "experiment_info",
		"experiment_phase", "analysis_run_phase")
	want := map[string]float64{
		`analysis_run_info{name="run",namespace="ns",phase="Failed"}`:                           1,
		`analysis_run_metric_type{metric="errors",name="run",namespace="ns",type="Prometheus"}`: 1,
		`analysis_run_metric_type{metric="smoke",name="run",namespace="ns",type="Job"}`:         1,
		`experiment_info{name="ex",namespace="ns",phase="Running"}`:                             1,
	}
	for _, p := range []string{"Pending", "Error", "Failed", "Successful", "Running", "Inconclusive"} {
		want[`analysis_run_phase{name="run",namespace="ns",phase="`+p+`"}`] = boolValue(p == "Failed")
		want[`analysis_run_metric_phase{dry_run="false",metric="errors",name="run",namespace="ns",phase="`+p+`",type="Prometheus"}`] = boolValue(p == "Failed")
		// no result yet: Pending
		want[`analysis_run_metric_phase{dry_run="true",metric="smoke",name="run",namespace="ns",phase="`+p+`",type="Job"}`] = boolValue(p == "Pending")
		if p != "Failed" { // Argo's experiment_phase has no Failed
			want[`experiment_phase{name="ex",namespace="ns",phase="`+p+`"}`] = boolValue(p == "Running")
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("series (-want +got):\n%s", d)
	}
}

// Two managers serving the same objects report them once (a registry refuses duplicates).
func TestCollectTwoSources(t *testing.T) {
	ro := canary("a", "RolloutPaused", 1)
	c := &cacheCollector{sources: map[*source]struct{}{{reader: fakeReader(t, ro)}: {}, {reader: fakeReader(t, ro)}: {}}}
	want := map[string]float64{`rollout_info{name="a",namespace="ns",phase="Paused",strategy="canary",traffic_router=""}`: 1}
	if d := cmp.Diff(want, series(t, c, "rollout_info")); d != "" {
		t.Errorf("rollout_info (-want +got):\n%s", d)
	}
}
