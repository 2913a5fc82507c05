package analysis

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

const (
	pending      = v1alpha1.AnalysisPhasePending
	running      = v1alpha1.AnalysisPhaseRunning
	successful   = v1alpha1.AnalysisPhaseSuccessful
	failed       = v1alpha1.AnalysisPhaseFailed
	inconclusive = v1alpha1.AnalysisPhaseInconclusive
	errored      = v1alpha1.AnalysisPhaseError
)

// result replays a sequence of measurement phases (S, F, I, E, R for Running) into a
// MetricResult, each with a message naming it.
func result(seq string) *v1alpha1.MetricResult {
	r := &v1alpha1.MetricResult{Name: "m"}
	codes := map[rune]v1alpha1.AnalysisPhase{'S': successful, 'F': failed, 'I': inconclusive, 'E': errored, 'R': running}
	for i, c := range seq {
		m := v1alpha1.Measurement{Phase: codes[c], Value: "v"}
		if c != 'S' && c != 'R' {
			m.Message = string(c) + "-reason-" + string(rune('0'+i))
		}
		Record(r, m)
	}
	return r
}

func limits(count *int32, failure, inconclusive, consErr, consSucc int32) Limits {
	return Limits{Count: count, FailureLimit: failure, InconclusiveLimit: inconclusive,
		ConsecutiveErrorLimit: consErr, ConsecutiveSuccessLimit: consSucc}
}

func TestAssessMetricMatrix(t *testing.T) {
	one, three, five := ptr.To[int32](1), ptr.To[int32](3), ptr.To[int32](5)
	def := func(count *int32) Limits { return limits(count, 0, 0, 4, 0) }
	for _, tc := range []struct {
		name        string
		l           Limits
		seq         string
		terminating bool
		want        v1alpha1.AnalysisPhase
		msg         string // substring of the message
	}{
		{name: "nothing measured yet", l: def(one), seq: "", want: pending},
		{name: "nothing measured, terminated", l: def(nil), seq: "", terminating: true, want: successful},
		{name: "measurement in progress", l: def(one), seq: "R", want: running},
		{name: "in progress after successes", l: def(three), seq: "SSR", want: running},
		{name: "single success", l: def(one), seq: "S", want: successful},
		{name: "single failure, default failureLimit 0", l: def(one), seq: "F", want: failed,
			msg: `metric "m" failed: F-reason-0 (1 failure, limit 0)`},
		{name: "failures within failureLimit", l: limits(three, 1, 0, 4, 0), seq: "FS", want: running},
		{name: "failures above failureLimit", l: limits(five, 1, 0, 4, 0), seq: "FSF", want: failed,
			msg: "F-reason-2 (2 failures, limit 1)"},
		{name: "failureLimit -1 disables", l: limits(three, -1, 0, 4, 0), seq: "FFF", want: successful},
		{name: "count reached with tolerated failures", l: limits(three, 1, 0, 4, 0), seq: "SFS", want: successful},
		{name: "indefinite metric keeps running", l: def(nil), seq: "SSSSSS", want: running},
		{name: "indefinite metric, terminated", l: def(nil), seq: "SSS", terminating: true, want: successful},
		{name: "failed metric stays failed when terminated", l: def(nil), seq: "SF", terminating: true, want: failed},
		{name: "inconclusive above limit", l: def(three), seq: "I", want: inconclusive,
			msg: `metric "m" is inconclusive: I-reason-0 (1 inconclusive measurement, limit 0)`},
		{name: "inconclusive within limit", l: limits(three, 0, 1, 4, 0), seq: "IS", want: running},
		{name: "inconclusiveLimit 2 tolerates two", l: limits(three, 0, 2, 4, 0), seq: "III", want: inconclusive},
		{name: "failure checked before inconclusive", l: def(three), seq: "IF", want: failed},
		{name: "errors within consecutiveErrorLimit", l: def(one), seq: "EEEE", want: running},
		{name: "errors above consecutiveErrorLimit", l: def(one), seq: "EEEEE", want: errored,
			msg: `metric "m" errored: E-reason-4 (5 errors in a row, limit 4)`},
		{name: "errors do not count towards count", l: def(one), seq: "EES", want: successful},
		{name: "a success resets consecutive errors", l: def(nil), seq: "EEEESEEEE", want: running},
		{name: "consecutiveErrorLimit 0", l: limits(one, 0, 0, 0, 0), seq: "E", want: errored},
		{name: "consecutiveSuccessLimit reached early", l: limits(five, -1, 0, 4, 2), seq: "FSS", want: successful},
		{name: "consecutiveSuccessLimit only, count reached", l: limits(three, -1, 0, 4, 2), seq: "SFS", want: failed,
			msg: "3 measurements taken without 2 successes in a row"},
		{name: "both limits, failure first", l: limits(five, 1, 0, 4, 3), seq: "FSF", want: failed},
		{name: "both limits, successes first", l: limits(five, 1, 0, 4, 2), seq: "FSS", want: successful},
		{name: "both limits, count reached undecided", l: limits(three, 1, 0, 4, 2), seq: "SFS", want: inconclusive,
			msg: "without 2 successes in a row"},
		{name: "consecutiveSuccessLimit, indefinite, terminated", l: limits(nil, -1, 0, 4, 3), seq: "SS", terminating: true, want: successful},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, msg := AssessMetric("m", tc.l, result(tc.seq), tc.terminating)
			if got != tc.want {
				t.Fatalf("phase %s (%q), want %s", got, msg, tc.want)
			}
			if !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q, want it to contain %q", msg, tc.msg)
			}
			if (got == failed || got == errored || got == inconclusive) && msg == "" {
				t.Error("an unsuccessful metric needs a message")
			}
		})
	}
}

func TestRecordCounters(t *testing.T) {
	r := result("SSFIEES")
	want := v1alpha1.MetricResult{Count: 5, Successful: 3, Failed: 1, Inconclusive: 1, Error: 2, ConsecutiveError: 0, ConsecutiveSuccess: 1}
	if r.Count != want.Count || r.Successful != want.Successful || r.Failed != want.Failed ||
		r.Inconclusive != want.Inconclusive || r.Error != want.Error || r.ConsecutiveError != want.ConsecutiveError ||
		r.ConsecutiveSuccess != want.ConsecutiveSuccess {
		t.Errorf("counters %+v", r)
	}
	if len(r.Measurements) != 7 {
		t.Errorf("%d measurements, want 7", len(r.Measurements))
	}
	// a measurement in progress is replaced by its completion, and counted once
	r = result("SR")
	Record(r, v1alpha1.Measurement{Phase: failed})
	if len(r.Measurements) != 2 || r.Count != 2 || r.Failed != 1 {
		t.Errorf("completing an in-progress measurement: %+v", r)
	}
}

func TestTrim(t *testing.T) {
	r := result("SSSSSF")
	Trim(r, 2)
	if len(r.Measurements) != 2 || r.Measurements[1].Phase != failed || r.Count != 6 {
		t.Errorf("trimmed to %d measurements, counters %+v", len(r.Measurements), r)
	}
	Trim(r, 0) // always keeps the last, to explain it
	if len(r.Measurements) != 1 {
		t.Errorf("limit 0 kept %d measurements", len(r.Measurements))
	}
}

func TestAssessRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		metrics []MetricState
		want    v1alpha1.AnalysisPhase
		msg     string
		summary v1alpha1.RunSummary
		dry     *v1alpha1.RunSummary
	}{
		{name: "all successful", metrics: []MetricState{{Name: "a", Phase: successful}, {Name: "b", Phase: successful}},
			want: successful, summary: v1alpha1.RunSummary{Count: 2, Successful: 2}},
		{name: "one still running", metrics: []MetricState{{Name: "a", Phase: successful}, {Name: "b", Phase: running}},
			want: running, summary: v1alpha1.RunSummary{Count: 2, Successful: 1}},
		{name: "pending", metrics: []MetricState{{Name: "a", Phase: pending}}, want: running, summary: v1alpha1.RunSummary{Count: 1}},
		{name: "worst wins: failed over error", metrics: []MetricState{
			{Name: "a", Phase: errored, Message: "a errored"}, {Name: "b", Phase: failed, Message: "b failed"}, {Name: "c", Phase: inconclusive}},
			want: failed, msg: "b failed", summary: v1alpha1.RunSummary{Count: 3, Failed: 1, Error: 1, Inconclusive: 1}},
		{name: "error over inconclusive", metrics: []MetricState{
			{Name: "a", Phase: inconclusive, Message: "a?"}, {Name: "b", Phase: errored, Message: "b errored"}},
			want: errored, msg: "b errored", summary: v1alpha1.RunSummary{Count: 2, Error: 1, Inconclusive: 1}},
		{name: "inconclusive over successful", metrics: []MetricState{
			{Name: "a", Phase: successful}, {Name: "b", Phase: inconclusive, Message: "b?"}},
			want: inconclusive, msg: "b?", summary: v1alpha1.RunSummary{Count: 2, Successful: 1, Inconclusive: 1}},
		{name: "two failures: both explained", metrics: []MetricState{
			{Name: "a", Phase: failed, Message: "a failed"}, {Name: "b", Phase: failed, Message: "b failed"}},
			want: failed, msg: "a failed; b failed", summary: v1alpha1.RunSummary{Count: 2, Failed: 2}},
		{name: "dry-run failure does not count", metrics: []MetricState{
			{Name: "a", Phase: successful}, {Name: "b", DryRun: true, Phase: failed, Message: `metric "b" failed: x`}},
			want: successful, msg: `dry-run metric "b" failed: x (dry run: does not count)`,
			summary: v1alpha1.RunSummary{Count: 1, Successful: 1}, dry: &v1alpha1.RunSummary{Count: 1, Failed: 1}},
		{name: "only dry-run metrics", metrics: []MetricState{{Name: "b", DryRun: true, Phase: errored}},
			want: successful, dry: &v1alpha1.RunSummary{Count: 1, Error: 1}},
		{name: "dry-run metric still running holds the run", metrics: []MetricState{
			{Name: "a", Phase: successful}, {Name: "b", DryRun: true, Phase: running}},
			want: running, summary: v1alpha1.RunSummary{Count: 1, Successful: 1}, dry: &v1alpha1.RunSummary{Count: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := AssessRun(tc.metrics)
			if a.Phase != tc.want {
				t.Errorf("phase %s, want %s", a.Phase, tc.want)
			}
			if !strings.Contains(a.Message, tc.msg) {
				t.Errorf("message %q, want it to contain %q", a.Message, tc.msg)
			}
			if a.Summary != tc.summary {
				t.Errorf("summary %+v, want %+v", a.Summary, tc.summary)
			}
			if (a.DryRun == nil) != (tc.dry == nil) || (a.DryRun != nil && *a.DryRun != *tc.dry) {
				t.Errorf("dry-run summary %+v, want %+v", a.DryRun, tc.dry)
			}
		})
	}
}

func TestTerminating(t *testing.T) {
	run := &v1alpha1.AnalysisRun{}
	if Terminating(run) {
		t.Error("a fresh run is not terminating")
	}
	run.Status.MetricResults = []v1alpha1.MetricResult{{Name: "dry", Phase: failed, DryRun: true}}
	if Terminating(run) {
		t.Error("a failed dry-run metric does not stop the run")
	}
	run.Status.MetricResults = append(run.Status.MetricResults, v1alpha1.MetricResult{Name: "m", Phase: inconclusive})
	if !Terminating(run) {
		t.Error("an inconclusive metric stops the run")
	}
	if !Terminating(&v1alpha1.AnalysisRun{Spec: v1alpha1.AnalysisRunSpec{Terminate: true}}) {
		t.Error("spec.terminate stops the run")
	}
}

func TestMetricLimits(t *testing.T) {
	m := &v1alpha1.Metric{Name: "m"}
	l, err := MetricLimits(m)
	if err != nil {
		t.Fatal(err)
	}
	if *l.Count != 1 || l.FailureLimit != 0 || l.InconclusiveLimit != 0 || l.ConsecutiveErrorLimit != 4 || l.ConsecutiveSuccessLimit != 0 {
		t.Errorf("defaults %+v", l)
	}
	m.Interval = ptr.To(v1alpha1.DurationFromString("5s"))
	if l, _ = MetricLimits(m); l.Count != nil {
		t.Errorf("with an interval and no count the metric runs until terminated, got count %d", *l.Count)
	}
	m.FailureLimit = ptr.To(intstr.FromString("{{args.limit}}"))
	if _, err := MetricLimits(m); err == nil || !strings.Contains(err.Error(), "failureLimit") {
		t.Errorf("an unresolved placeholder: %v", err)
	}
}

func TestNextMeasurement(t *testing.T) {
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { return ptr.To(metav1.NewTime(start.Add(d))) }
	measured := func(phase v1alpha1.AnalysisPhase, finished time.Duration) *v1alpha1.MetricResult {
		r := &v1alpha1.MetricResult{Name: "m", Phase: running}
		Record(r, v1alpha1.Measurement{Phase: phase, StartedAt: at(finished), FinishedAt: at(finished)})
		return r
	}
	interval := func(s string) *v1alpha1.DurationString { return ptr.To(v1alpha1.DurationFromString(s)) }
	for _, tc := range []struct {
		name   string
		m      v1alpha1.Metric
		r      *v1alpha1.MetricResult
		wantOK bool
		want   time.Duration // after start
	}{
		{name: "first measurement at once", m: v1alpha1.Metric{}, r: &v1alpha1.MetricResult{}, wantOK: true, want: 0},
		{name: "first after initialDelay", m: v1alpha1.Metric{InitialDelay: interval("30s")}, r: &v1alpha1.MetricResult{}, wantOK: true, want: 30 * time.Second},
		{name: "measured once: done", m: v1alpha1.Metric{}, r: measured(successful, time.Second)},
		{name: "next at interval", m: v1alpha1.Metric{Interval: interval("5")}, r: measured(successful, 2*time.Second), wantOK: true, want: 7 * time.Second},
		{name: "count reached", m: v1alpha1.Metric{Interval: interval("5s"), Count: ptr.To(intstr.FromInt32(1))}, r: measured(successful, 0)},
		{name: "retry an error at the interval when shorter", m: v1alpha1.Metric{Interval: interval("1s")}, r: measured(errored, 3*time.Second), wantOK: true, want: 4 * time.Second},
		{name: "retry an error after 10s at most", m: v1alpha1.Metric{Interval: interval("1m")}, r: measured(errored, 0), wantOK: true, want: ErrorRetryInterval},
		{name: "retry a one-shot metric's error", m: v1alpha1.Metric{}, r: measured(errored, 0), wantOK: true, want: ErrorRetryInterval},
		{name: "in progress: nothing new", m: v1alpha1.Metric{Interval: interval("1s")}, r: measured(running, 0)},
		{name: "completed metric", m: v1alpha1.Metric{Interval: interval("1s")}, r: &v1alpha1.MetricResult{Phase: failed, Count: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := MetricLimits(&tc.m)
			if err != nil {
				t.Fatal(err)
			}
			got, ok, err := NextMeasurement(&tc.m, l, tc.r, start)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantOK || (ok && !got.Equal(start.Add(tc.want))) {
				t.Errorf("got %v ok=%v, want start+%v ok=%v", got.Sub(start), ok, tc.want, tc.wantOK)
			}
		})
	}
	if _, _, err := NextMeasurement(&v1alpha1.Metric{Interval: interval("soon")}, Limits{}, measured(successful, 0), start); err == nil {
		t.Error("an unparsable interval is an error")
	}
}
