package judge

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gonum.org/v1/gonum/stat/distuv"
)

// normal gives n samples of N(mean, sd²): its quantiles at (i + offset) / n. Two offsets give
// two samples of the same distribution that are not the same samples.
func normal(n int, mean, sd, offset float64) []float64 {
	d := distuv.Normal{Mu: mean, Sigma: sd}
	out := make([]float64, n)
	for i := range out {
		out[i] = d.Quantile((float64(i) + offset) / float64(n))
	}
	return out
}

func with(x []float64, extra ...float64) []float64 {
	return append(append([]float64{}, x...), extra...)
}

func nans(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = math.NaN()
	}
	return out
}

func ptr(v float64) *float64 { return &v }

// outcome is the part of a verdict the table tests compare.
type outcome struct {
	Score    float64
	Outcome  Outcome
	Classes  map[string]Classification
	Critical []string
}

func outcomeOf(v Verdict) outcome {
	o := outcome{Score: v.Score, Outcome: v.Outcome, Classes: map[string]Classification{}}
	for _, r := range v.Metrics {
		o.Classes[r.Name] = r.Classification
		if r.Critical {
			o.Critical = append(o.Critical, r.Name)
		}
	}
	return o
}

var (
	baseline = normal(40, 100, 10, 0.25)
	sameDist = normal(40, 100, 10, 0.75)
	higher   = normal(40, 130, 10, 0.75)
	lower    = normal(40, 70, 10, 0.75)
	scoring  = Scoring{Pass: 95, Marginal: 75}
)

type judgeCase struct {
	metrics          []Metric
	canary, baseline map[string][]float64
	scoring          Scoring
	want             outcome
	// wantReason is in the verdict's reason, wantMetric in the first metric's explanation
	wantReason, wantMetric string
	// check tests the first metric's result further
	check func(t *testing.T, r Result)
}

// one is a case of a single metric m.
func one(m Metric, canary, base []float64, want Classification, score float64) judgeCase {
	o := OutcomeFail
	if score >= 95 {
		o = OutcomePass
	}
	return judgeCase{metrics: []Metric{m}, canary: map[string][]float64{m.Name: canary}, baseline: map[string][]float64{m.Name: base},
		scoring: scoring, want: outcome{Score: score, Outcome: o, Classes: map[string]Classification{m.Name: want}}}
}

func pBelow(limit float64) func(t *testing.T, r Result) {
	return func(t *testing.T, r Result) {
		if !(r.PValue < limit) {
			t.Errorf("p-value %v, want below %v", r.PValue, limit)
		}
	}
}

func pAbove(limit float64) func(t *testing.T, r Result) {
	return func(t *testing.T, r Result) {
		if !(r.PValue > limit) {
			t.Errorf("p-value %v, want above %v", r.PValue, limit)
		}
	}
}

func TestJudgeDistributions(t *testing.T) {
	latency := Metric{Name: "latency", Direction: Increase}
	tests := map[string]judgeCase{
		"identical samples pass": func() judgeCase {
			c := one(latency, baseline, baseline, Pass, 100)
			c.wantMetric = "Pass: canary median 99.84 (n=40), baseline median 99.84 (n=40), p-value 1; the canary's and the baseline's samples are identical"
			return c
		}(),
		"another sample of the same distribution passes": func() judgeCase {
			c := one(latency, sameDist, baseline, Pass, 100)
			c.check, c.wantMetric = pAbove(0.5), "no significant difference (shift +"
			return c
		}(),
		"a canary shifted up fails with p < 0.05": func() judgeCase {
			c := one(latency, higher, baseline, High, 0)
			c.wantMetric = "High: canary median 130.2 (n=40), baseline median 99.84 (n=40), p-value 5.5e-14; higher than the baseline (shift +30.39, 98% interval [25.04, 36.06]), mean ratio 1.308"
			c.check = func(t *testing.T, r Result) {
				pBelow(0.05)(t, r)
				if math.Abs(r.Shift-30) > 1.5 || !(r.ShiftLower > 0 && r.ShiftUpper > r.ShiftLower) || math.Abs(r.MeanRatio-1.3) > 0.01 {
					t.Errorf("shift %v [%v, %v], mean ratio %v: want about +30, an interval above 0, 1.3", r.Shift, r.ShiftLower, r.ShiftUpper, r.MeanRatio)
				}
			}
			return c
		}(),
		"small samples: 3 against 3 is not evidence enough": func() judgeCase {
			c := one(latency, []float64{12, 13, 14}, []float64{10, 10.5, 11}, Pass, 100)
			c.check, c.wantMetric = pAbove(0.05), "p-value 0.081; no significant difference (shift +2.5, 98% interval [-Inf, +Inf]: too few samples for 98% confidence)"
			return c
		}(),
		"small samples: 6 against 6 that do not overlap": func() judgeCase {
			c := one(latency, []float64{20, 21, 22, 23, 24, 25}, []float64{10, 11, 12, 13, 14, 15}, High, 0)
			c.check = pBelow(0.02)
			return c
		}(),
		"ties: counts shifted by 2": func() judgeCase {
			c := one(latency, []float64{3, 3, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 7, 7}, []float64{1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5}, High, 0)
			c.check = func(t *testing.T, r Result) {
				pBelow(0.05)(t, r)
				if r.Shift != 2 {
					t.Errorf("shift %v, want 2", r.Shift)
				}
			}
			return c
		}(),
		"ties: every sample the same value": one(latency, []float64{4, 4, 4}, []float64{4, 4, 4, 4}, Pass, 100),
		"ties: two constant samples": func() judgeCase {
			c := one(latency, []float64{5, 5, 5, 5, 5, 5}, []float64{3, 3, 3, 3, 3, 3}, High, 0)
			c.wantMetric = "High: canary median 5 (n=6), baseline median 3 (n=6), p-value 0.0013; higher than the baseline (shift +2, 98% interval [2, 2]), mean ratio 1.667"
			return c
		}(),
	}
	runJudge(t, tests)
}

func TestJudgeNaNAndNoData(t *testing.T) {
	latency := Metric{Name: "latency", Direction: Increase}
	replace := Metric{Name: "latency", NaNStrategy: ReplaceNaN}
	tests := map[string]judgeCase{
		"NaN samples are removed": func() judgeCase {
			c := one(latency, with(sameDist, nans(5)...), baseline, Pass, 100)
			c.wantMetric = "Pass: canary median 100.2 (n=40, 5 NaN)"
			return c
		}(),
		"only NaN samples: no data, and a verdict of 0": func() judgeCase {
			c := one(latency, nans(10), baseline, NoData, 0)
			c.wantReason, c.wantMetric = "1 of 1 metrics had no data (50% or more)", "no canary data (10 NaN samples removed)"
			return c
		}(),
		"no samples at all": func() judgeCase {
			c := one(latency, nil, nil, NoData, 0)
			c.wantMetric = "Nodata: canary median NaN (n=0), baseline median NaN (n=0); no canary data, no baseline data"
			return c
		}(),
		"NaN samples replaced by 0 pull the canary down": one(replace, with(sameDist[:10], nans(30)...), baseline, Low, 0),
		"replace: a metric without data passes":          one(replace, nil, baseline, Pass, 100),
		"mustHaveData: no data fails the metric": func() judgeCase {
			m := latency
			m.MustHaveData = true
			c := one(m, nil, baseline, NoDataFail, 0)
			c.wantMetric = "no canary data: the metric must have data"
			return c
		}(),
		"less than half the metrics without data": {
			metrics:  []Metric{{Name: "a"}, {Name: "b"}, {Name: "c"}},
			canary:   map[string][]float64{"a": sameDist, "b": sameDist},
			baseline: map[string][]float64{"a": baseline, "b": baseline, "c": baseline}, scoring: scoring,
			// c's group has no classified metric: it counts as 100
			want: outcome{Score: 100, Outcome: OutcomePass, Classes: map[string]Classification{"a": Pass, "b": Pass, "c": NoData}},
		},
		"a critical metric without data fails the canary": {
			metrics:  []Metric{{Name: "a"}, {Name: "b"}, {Name: "c", Critical: true}},
			canary:   map[string][]float64{"a": sameDist, "b": sameDist},
			baseline: map[string][]float64{"a": baseline, "b": baseline, "c": baseline}, scoring: scoring,
			want:       outcome{Score: 0, Outcome: OutcomeFail, Classes: map[string]Classification{"a": Pass, "b": Pass, "c": NoData}, Critical: []string{"c"}},
			wantReason: `metric "c" failed critically (Nodata): no canary data`,
		},
		"an infinite sample is an Error, left out of the score": {
			metrics:  []Metric{{Name: "a"}, {Name: "b"}},
			canary:   map[string][]float64{"a": sameDist, "b": with(sameDist, math.Inf(1))},
			baseline: map[string][]float64{"a": baseline, "b": baseline}, scoring: scoring,
			want: outcome{Score: 100, Outcome: OutcomePass, Classes: map[string]Classification{"a": Pass, "b": Error}},
		},
		"an Error of a critical metric fails the canary": {
			metrics:  []Metric{{Name: "b", Critical: true}},
			canary:   map[string][]float64{"b": with(sameDist, math.Inf(-1))},
			baseline: map[string][]float64{"b": baseline}, scoring: scoring,
			want:       outcome{Score: 0, Outcome: OutcomeFail, Classes: map[string]Classification{"b": Error}, Critical: []string{"b"}},
			wantReason: `metric "b" failed critically (Error): the canary's sample 40 is -Inf`,
		},
	}
	runJudge(t, tests)
}

func TestJudgeDirectionAndEffect(t *testing.T) {
	m := func(d Direction, e EffectSize) Metric { return Metric{Name: "m", Direction: d, EffectSize: e} }
	bigBaseline := with(normal(100, 100, 10, 0.5), 100000)
	tests := map[string]judgeCase{
		"higher, direction increase": one(m(Increase, EffectSize{}), higher, baseline, High, 0),
		"higher, direction either":   one(m(Either, EffectSize{}), higher, baseline, High, 0),
		"higher, direction decrease": one(m(Decrease, EffectSize{}), higher, baseline, Pass, 100),
		"lower, direction increase":  one(m(Increase, EffectSize{}), lower, baseline, Pass, 100),
		"lower, direction decrease":  one(m(Decrease, EffectSize{}), lower, baseline, Low, 0),
		"lower, direction either":    one(m("", EffectSize{}), lower, baseline, Low, 0),
		"higher, within allowedIncrease 1.5": func() judgeCase {
			c := one(m(Increase, EffectSize{AllowedIncrease: ptr(1.5)}), higher, baseline, Pass, 100)
			c.wantMetric = "but the mean ratio 1.308 is below allowedIncrease 1.5"
			return c
		}(),
		"higher, beyond allowedIncrease 1.2": one(m(Increase, EffectSize{AllowedIncrease: ptr(1.2)}), higher, baseline, High, 0),
		"lower, within allowedDecrease 0.5":  one(m(Decrease, EffectSize{AllowedDecrease: ptr(0.5)}), lower, baseline, Pass, 100),
		"cles: higher, within allowedIncrease 0.99": func() judgeCase {
			c := one(m(Increase, EffectSize{Measure: CLES, AllowedIncrease: ptr(0.99)}), higher, baseline, Pass, 100)
			c.check = func(t *testing.T, r Result) {
				if r.Effect < 0.95 || r.Effect > 0.99 || r.EffectMeasure != CLES {
					t.Errorf("effect %v %s, want a CLES of about 0.98", r.Effect, r.EffectMeasure)
				}
			}
			return c
		}(),
		"cles: higher, beyond allowedIncrease 0.9": one(m(Increase, EffectSize{Measure: CLES, AllowedIncrease: ptr(0.9)}), higher, baseline, High, 0),
		"an outlier in the baseline hides the increase from the mean ratio": func() judgeCase {
			c := one(m(Increase, EffectSize{}), higher, bigBaseline, Pass, 100)
			c.wantMetric = "is below allowedIncrease 1"
			return c
		}(),
		"outliers removed, the increase counts": func() judgeCase {
			mm := m(Increase, EffectSize{})
			mm.Outliers = Outliers{Strategy: "remove"}
			c := one(mm, higher, bigBaseline, High, 0)
			c.wantMetric = "baseline median 100 (n=100, 1 outliers dropped)"
			return c
		}(),
	}
	runJudge(t, tests)
}

func TestJudgeScoring(t *testing.T) {
	three := func(latency Metric) []Metric {
		return []Metric{latency, {Name: "errors", Direction: Increase}, {Name: "throughput", Direction: Decrease}}
	}
	canary := map[string][]float64{"latency": higher, "errors": sameDist, "throughput": sameDist}
	base := map[string][]float64{"latency": baseline, "errors": baseline, "throughput": baseline}
	classes := map[string]Classification{"latency": High, "errors": Pass, "throughput": Pass}
	tests := map[string]judgeCase{
		"one failure in three groups": {
			metrics: three(Metric{Name: "latency", Direction: Increase}), canary: canary, baseline: base, scoring: scoring,
			want: outcome{Score: 66.67, Outcome: OutcomeFail, Classes: classes},
		},
		"a critical metric failing forces a fail": {
			metrics: three(Metric{Name: "latency", Direction: Increase, Critical: true}), canary: canary, baseline: base, scoring: scoring,
			want:       outcome{Score: 0, Outcome: OutcomeFail, Classes: classes, Critical: []string{"latency"}},
			wantReason: `metric "latency" failed critically (High): higher than the baseline (shift +30`,
			wantMetric: "High (critical): ",
		},
		"a critical metric short of criticalIncrease only counts in its group": {
			metrics: three(Metric{Name: "latency", Direction: Increase, Critical: true, EffectSize: EffectSize{CriticalIncrease: ptr(2)}}),
			canary:  canary, baseline: base, scoring: scoring,
			want:       outcome{Score: 66.67, Outcome: OutcomeFail, Classes: classes},
			wantMetric: "(not critical: short of criticalIncrease 2)",
		},
		"group weights: the failing group weighs 20": {
			metrics: three(Metric{Name: "latency", Direction: Increase}), canary: canary, baseline: base,
			scoring: Scoring{Pass: 95, Marginal: 75, GroupWeights: map[string]float64{"latency": 20}},
			want:    outcome{Score: 80, Outcome: OutcomeMarginal, Classes: classes},
		},
		"groups: two of the three metrics in one group": {
			metrics: []Metric{{Name: "latency", Group: "perf", Direction: Increase}, {Name: "throughput", Group: "perf", Direction: Decrease}, {Name: "errors"}},
			canary:  canary, baseline: base,
			scoring: Scoring{Pass: 95, Marginal: 75, GroupWeights: map[string]float64{"perf": 50, "errors": 50}},
			want:    outcome{Score: 75, Outcome: OutcomeMarginal, Classes: classes},
		},
		"a muted metric does not count": {
			metrics: three(Metric{Name: "latency", Direction: Increase, Muted: true, Critical: true}), canary: canary, baseline: base, scoring: scoring,
			want:       outcome{Score: 100, Outcome: OutcomePass, Classes: classes, Critical: []string{"latency"}},
			wantMetric: "High (critical, muted): ",
		},
		"thresholds: 66.67 passes at 60": {
			metrics: three(Metric{Name: "latency", Direction: Increase}), canary: canary, baseline: base, scoring: Scoring{Pass: 60, Marginal: 50},
			want: outcome{Score: 66.67, Outcome: OutcomePass, Classes: classes},
		},
	}
	runJudge(t, tests)
}

func runJudge(t *testing.T, tests map[string]judgeCase) {
	t.Helper()
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v, err := Judge(tc.metrics, tc.canary, tc.baseline, tc.scoring)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, outcomeOf(v)); diff != "" {
				t.Errorf("verdict (-want +got):\n%s\n%s\n%s", diff, v.Summary(), v.Metrics[0].Explain())
			}
			if !strings.Contains(v.Reason, tc.wantReason) || (tc.wantReason == "" && v.Reason != "" && tc.want.Score != 0) {
				t.Errorf("reason %q, want it to contain %q", v.Reason, tc.wantReason)
			}
			if got := v.Metrics[0].Explain(); !strings.Contains(got, tc.wantMetric) {
				t.Errorf("explanation %q, want it to contain %q", got, tc.wantMetric)
			}
			if tc.check != nil {
				tc.check(t, v.Metrics[0])
			}
		})
	}
}

func TestJudgeRejectsBadConfiguration(t *testing.T) {
	ok := Metric{Name: "latency"}
	tests := map[string]struct {
		metrics []Metric
		scoring Scoring
		want    []string
	}{
		"no metrics": {scoring: scoring, want: []string{"metrics: give at least one metric"}},
		"a metric without a name and a duplicate": {
			metrics: []Metric{{}, ok, ok}, scoring: scoring,
			want: []string{"metrics[0].name: give the metric a name", `metrics[2].name: "latency" is used twice`},
		},
		"unknown options": {
			metrics: []Metric{{Name: "m", Direction: "up", NaNStrategy: "zero", Outliers: Outliers{Strategy: "drop", Factor: -1}}},
			scoring: scoring,
			want: []string{`metrics[0].direction: "up" is not increase, decrease or either`, `metrics[0].nanStrategy: "zero" is not remove or replace`,
				`metrics[0].outliers.strategy: "drop" is not keep or remove`, "metrics[0].outliers.outlierFactor: -1 is not a positive number"},
		},
		"effect sizes out of range": {
			metrics: []Metric{{Name: "a", EffectSize: EffectSize{Measure: CLES, AllowedIncrease: ptr(1.5)}},
				{Name: "b", EffectSize: EffectSize{AllowedDecrease: ptr(-1)}}, {Name: "c", EffectSize: EffectSize{Measure: "ratio"}}},
			scoring: scoring,
			want: []string{"metrics[0].effectSize.allowedIncrease: 1.5 is out of range [0, 1] for cles",
				"metrics[1].effectSize.allowedDecrease: -1 is out of range [0, +Inf] for meanRatio", `metrics[2].effectSize.measure: "ratio" is not meanRatio or cles`},
		},
		"every metric muted": {metrics: []Metric{{Name: "m", Muted: true}}, scoring: scoring, want: []string{"metrics: every metric is muted, nothing would be scored"}},
		"thresholds": {
			metrics: []Metric{ok}, scoring: Scoring{Pass: 50, Marginal: 101},
			want: []string{"thresholds.marginal: 101 is not a score from 0 to 100", "thresholds.marginal: 101 is above thresholds.pass 50"},
		},
		"a weight for an unknown group, and a negative one": {
			metrics: []Metric{ok, {Name: "errors"}}, scoring: Scoring{Pass: 95, Marginal: 75, GroupWeights: map[string]float64{"latncy": 50, "errors": -5}},
			want: []string{"groupWeights.errors: -5 is not a weight from 0 to 100", `groupWeights.latncy: no metric is in group "latncy"`},
		},
		"weights over 100": {
			metrics: []Metric{ok, {Name: "errors"}}, scoring: Scoring{Pass: 95, Marginal: 75, GroupWeights: map[string]float64{"latency": 70, "errors": 40}},
			want: []string{"groupWeights: the weights total 110, more than 100"},
		},
		"every group weighed, not totalling 100": {
			metrics: []Metric{ok, {Name: "errors"}}, scoring: Scoring{Pass: 95, Marginal: 75, GroupWeights: map[string]float64{"latency": 50, "errors": 40}},
			want: []string{"groupWeights: every group has a weight, so they must total 100 (they total 90)"},
		},
		"nothing left for a group without weight": {
			metrics: []Metric{ok, {Name: "errors"}}, scoring: Scoring{Pass: 95, Marginal: 75, GroupWeights: map[string]float64{"latency": 100}},
			want: []string{`groupWeights: the weights total 100 and leave nothing for the groups without one: ["errors"]`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Judge(tc.metrics, nil, nil, tc.scoring)
			if err == nil {
				t.Fatalf("Judge accepted it, want errors %q", tc.want)
			}
			got := strings.Split(err.Error(), "\n")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
