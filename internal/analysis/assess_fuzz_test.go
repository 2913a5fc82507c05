package analysis

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vanedev/vane/api/v1alpha1"
)

// fzLimitFields are the fields MetricLimits names in its errors.
var fzLimitFields = []string{"count", "failureLimit", "inconclusiveLimit", "consecutiveErrorLimit", "consecutiveSuccessLimit"}

// fzCompleted are the phases a metric ends in.
var fzCompleted = map[v1alpha1.AnalysisPhase]bool{v1alpha1.AnalysisPhaseSuccessful: true, v1alpha1.AnalysisPhaseFailed: true,
	v1alpha1.AnalysisPhaseInconclusive: true, v1alpha1.AnalysisPhaseError: true}

// fzRecordPhases are the phases a measurement is recorded with, by the fuzzer's byte.
var fzRecordPhases = []v1alpha1.AnalysisPhase{v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseFailed,
	v1alpha1.AnalysisPhaseInconclusive, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseRunning}

// FuzzAssessMetric judges any metric (the fuzzer's JSON: its count and limits, literal or
// not) on any recorded result (the fuzzer's JSON, as a status patched by hand may hold), and
// then measures it afresh, measurement after measurement as the fuzzer's bytes say, with
// Record, Trim and AssessMetric as the AnalysisRun controller calls them. It checks: no panic,
// no hang, a limit that cannot be read named in the error, a known phase, Pending only before
// any measurement and never while terminating, a message naming the metric for every failing
// phase, the result left as it was, counters that add up, at most measurementRetention
// measurements kept, a metric with a count complete once that many measurements completed,
// no measurement due once the metric completed, and AssessRun's counts and phase consistent
// with its metrics.
func FuzzAssessMetric(f *testing.F) {
	for i, m := range fzMetrics(f) {
		f.Add(m, []byte(`{"name":"m","phase":"Running","count":2,"successful":1,"failed":1,"measurements":[{"phase":"Failed","value":"7"}]}`),
			[]byte("\x00\x01\x00\x03\x04\x00"), byte(i), i%2 == 0)
		f.Add(m, []byte(`{}`), []byte("\x03\x03\x03\x03\x03\x03\x00\x00"), byte(1), false)
	}
	f.Fuzz(func(t *testing.T, metric, result, seq []byte, retention byte, terminating bool) {
		var m v1alpha1.Metric
		if json.Unmarshal(metric, &m) != nil {
			return
		}
		name := m.Name
		var l Limits
		var err error
		within(t, fzTimeout, "MetricLimits", func() { l, err = MetricLimits(&m) })
		if err != nil {
			fzCheckLimitsError(t, err)
			return
		}
		var r v1alpha1.MetricResult
		if json.Unmarshal(result, &r) == nil {
			fzAssessOnce(t, name, l, &r, terminating)
		}
		fzMeasureAfresh(t, &m, l, seq, int32(retention%6))
	})
}

func fzCheckLimitsError(t *testing.T, err error) {
	t.Helper()
	for _, f := range fzLimitFields {
		if strings.HasPrefix(err.Error(), f) {
			return
		}
	}
	t.Fatalf("the limits error %q names no field", err)
}

// fzAssessOnce judges a recorded result, twice, and checks the verdict.
func fzAssessOnce(t *testing.T, name string, l Limits, r *v1alpha1.MetricResult, terminating bool) v1alpha1.AnalysisPhase {
	t.Helper()
	before, _ := json.Marshal(r)
	var phase, again v1alpha1.AnalysisPhase
	var msg, msgAgain string
	within(t, fzTimeout, "AssessMetric", func() {
		phase, msg = AssessMetric(name, l, r, terminating)
		again, msgAgain = AssessMetric(name, l, r, terminating)
	})
	if after, _ := json.Marshal(r); string(after) != string(before) {
		t.Fatalf("AssessMetric changed the result:\n%s\n%s", before, after)
	}
	if phase != again || msg != msgAgain {
		t.Fatalf("not deterministic: %s %q, then %s %q", phase, msg, again, msgAgain)
	}
	switch {
	case !fzCompleted[phase] && phase != v1alpha1.AnalysisPhaseRunning && phase != v1alpha1.AnalysisPhasePending:
		t.Fatalf("phase %q", phase)
	case phase == v1alpha1.AnalysisPhasePending && (terminating || len(r.Measurements) > 0):
		t.Fatalf("Pending while terminating or with measurements: %s", before)
	case fzCompleted[phase] && phase != v1alpha1.AnalysisPhaseSuccessful && !strings.Contains(msg, fmt.Sprintf("%q", name)):
		t.Fatalf("phase %s with the message %q, which does not name the metric %q", phase, msg, name)
	}
	return phase
}

// fzMeasureAfresh measures the metric from nothing, as seq says, until it completes.
func fzMeasureAfresh(t *testing.T, m *v1alpha1.Metric, l Limits, seq []byte, retention int32) {
	t.Helper()
	r := &v1alpha1.MetricResult{Name: m.Name}
	started := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for i, c := range seq {
		at := metav1.NewTime(started.Add(time.Duration(i) * time.Minute))
		p := fzRecordPhases[int(c)%len(fzRecordPhases)]
		within(t, fzTimeout, "Record", func() {
			Record(r, v1alpha1.Measurement{Phase: p, Value: fmt.Sprint(i), Message: fmt.Sprintf("measurement %d: %s", i, p), FinishedAt: &at})
			Trim(r, retention)
		})
		fzCheckCounters(t, r, retention)
		phase := fzAssessOnce(t, m.Name, l, r, false)
		if p.Completed() && l.Count != nil && r.Count >= *l.Count && !fzCompleted[phase] {
			t.Fatalf("%d of %d measurements taken, yet the metric is %s", r.Count, *l.Count, phase)
		}
		if fzCompleted[phase] {
			r.Phase = phase
			var ok bool
			within(t, fzTimeout, "NextMeasurement", func() { _, ok, _ = NextMeasurement(m, l, r, started) })
			if ok {
				t.Fatalf("a measurement is due for a metric that completed (%s)", phase)
			}
			fzCheckRun(t, m.Name, phase)
			return
		}
	}
}

// fzCheckCounters checks that the counters of a result built by Record add up.
func fzCheckCounters(t *testing.T, r *v1alpha1.MetricResult, retention int32) {
	t.Helper()
	switch {
	case r.Count != r.Successful+r.Failed+r.Inconclusive:
		t.Fatalf("count %d is not successful %d + failed %d + inconclusive %d", r.Count, r.Successful, r.Failed, r.Inconclusive)
	case r.ConsecutiveSuccess > r.Successful || r.ConsecutiveError > r.Error:
		t.Fatalf("more in a row than in all: %+v", r)
	case int32(len(r.Measurements)) > max(retention, 1):
		t.Fatalf("%d measurements kept, retention %d", len(r.Measurements), retention)
	}
}

// fzCheckRun judges a run of the metric in its phase next to a dry-run copy and a running one.
func fzCheckRun(t *testing.T, name string, phase v1alpha1.AnalysisPhase) {
	t.Helper()
	states := []MetricState{{Name: name, Phase: phase, Message: "m"}, {Name: "dry", DryRun: true, Phase: phase, Message: "d"}}
	var done, running RunAssessment
	within(t, fzTimeout, "AssessRun", func() {
		done = AssessRun(states)
		running = AssessRun(append(states, MetricState{Name: "other", Phase: v1alpha1.AnalysisPhaseRunning}))
	})
	if done.Phase != phase || done.Summary.Count != 1 || done.DryRun == nil || done.DryRun.Count != 1 {
		t.Fatalf("a run of one %s metric and a dry-run one: %+v", phase, done)
	}
	if running.Phase != v1alpha1.AnalysisPhaseRunning || running.Summary.Count != 2 {
		t.Fatalf("a run with a metric still running: %+v", running)
	}
}
