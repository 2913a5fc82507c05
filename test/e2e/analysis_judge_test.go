package e2e

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider/prometheus/promtest"
)

// TestAnalysisJudge runs the built-in vane/judge provider in AnalysisRuns against a real
// Prometheus: an exporter serves the request latency of a baseline and of a canary (new samples
// every scrape); a canary that is as fast as its baseline scores 100 and passes, a slower one
// fails, and the measurement explains the verdict.
func TestAnalysisJudge(t *testing.T) {
	t.Parallel()
	env := withController(t)
	ns := env.Namespace(t)
	exp := promtest.NewExporter(t)
	rng := rand.New(rand.NewPCG(7, 7))
	series := map[string]float64{"baseline": 0.100, "same": 0.100, "slow": 0.160}
	set := func() {
		for role, mean := range series {
			exp.Set(`latency_seconds{role="`+role+`"}`, mean+rng.NormFloat64()*0.004)
		}
	}
	set()
	prom := promtest.Start(t, 200*time.Millisecond, exp.Target())
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			set()
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	prom.WaitForData(t, `count_over_time(latency_seconds{role="slow"}[20s]) > 25`, 60*time.Second)

	cfg, err := json.Marshal(map[string]any{
		"prometheus": map[string]any{"address": prom.URL},
		"window":     map[string]any{"start": `now() - duration("20s")`, "step": "1s"},
		"roles":      map[string]any{"canary": "{{args.canary}}", "baseline": "baseline"},
		"metrics": []any{map[string]any{"name": "latency", "query": `latency_seconds{role="{{role}}"}`,
			"direction": "increase", "critical": true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "judge"},
		Spec: v1alpha1.AnalysisTemplateSpec{Args: []v1alpha1.Argument{{Name: "canary"}}, Metrics: []v1alpha1.Metric{{
			Name: "judge", SuccessCondition: "result >= 95", FailureCondition: "result < 75",
			Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"vane/judge": cfg}}}}}}
	must(t, "AnalysisTemplate", env.Client.Create(context.Background(), tmpl))

	for canary, want := range map[string]v1alpha1.AnalysisPhase{"same": v1alpha1.AnalysisPhaseSuccessful, "slow": v1alpha1.AnalysisPhaseFailed} {
		startRun(t, env, ns, "judge-"+canary, []string{"judge"}, map[string]string{"canary": canary})
		run := waitPhase(t, env, ns, "judge-"+canary, 60*time.Second, want)
		m := metricResult(run, "judge").Measurements
		if len(m) != 1 {
			t.Fatalf("%s: measurements %+v", canary, m)
		}
		t.Logf("%s: score %s, %v", canary, m[0].Value, m[0].Metadata)
		if canary == "slow" && (m[0].Value != "0" || !strings.Contains(m[0].Metadata["metric.latency"], "High")) {
			t.Errorf("slow canary: score %s, metadata %v: want 0 and latency High", m[0].Value, m[0].Metadata)
		}
		if canary == "same" && m[0].Value != "100" {
			t.Errorf("same canary: score %s, want 100", m[0].Value)
		}
	}
}
