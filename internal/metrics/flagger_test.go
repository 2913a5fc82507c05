package metrics

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

func TestCanaryMetrics(t *testing.T) {
	m := &CanaryMetrics{total: map[string]map[string]bool{}}
	cd := func(name, target string) *flaggerv1.Canary {
		return &flaggerv1.Canary{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "dev"},
			Spec: flaggerv1.CanarySpec{TargetRef: flaggerv1.TargetRef{Name: target}}}
	}
	m.SetStatus(cd("gw", "api-gateway"), flaggerv1.PhaseProgressing)
	m.SetStatus(cd("web", "web"), flaggerv1.PhaseFailed)
	m.SetStatus(cd("web", "web"), flaggerv1.PhaseFailed)
	m.SetWeight(cd("gw", "api-gateway"), 70, 30)
	m.ObserveDuration(cd("gw", "api-gateway"), 1500*time.Millisecond)
	want := map[string]float64{
		`flagger_canary_status{name="api-gateway",namespace="dev"}`:                 0,
		`flagger_canary_status{name="web",namespace="dev"}`:                         2,
		`flagger_canary_total{namespace="dev"}`:                                     2,
		`flagger_canary_weight{namespace="dev",workload="api-gateway"}`:             30,
		`flagger_canary_weight{namespace="dev",workload="api-gateway-primary"}`:     70,
		`flagger_canary_duration_seconds_count{name="api-gateway",namespace="dev"}`: 1,
		`flagger_canary_duration_seconds_sum{name="api-gateway",namespace="dev"}`:   1.5,
	}
	got := map[string]float64{}
	for k, v := range series(t, flaggerStatus, "flagger_canary_status") {
		got[k] = v
	}
	for k, v := range series(t, flaggerTotal, "flagger_canary_total") {
		got[k] = v
	}
	for k, v := range series(t, flaggerWeight, "flagger_canary_weight") {
		got[k] = v
	}
	for k, v := range series(t, flaggerDuration, "flagger_canary_duration_seconds") {
		got[k] = v
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
	m.Forget("dev", "web", "web")
	if got := series(t, flaggerStatus, "flagger_canary_status"); len(got) != 1 {
		t.Errorf("after Forget, status series = %v", got)
	}
	if got := series(t, flaggerTotal, "flagger_canary_total"); got[`flagger_canary_total{namespace="dev"}`] != 1 {
		t.Errorf("after Forget, total = %v", got)
	}
}
