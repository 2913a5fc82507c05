package judge

import (
	"fmt"
	"math"
	"strings"
)

// Classification is a metric's outcome (Kayenta's labels).
type Classification string

// Classifications.
const (
	// Pass: no significant change, or one the metric's direction and effect size allow.
	Pass Classification = "Pass"
	// High: the canary is significantly higher, and its direction fails it.
	High Classification = "High"
	// Low: the canary is significantly lower, and its direction fails it.
	Low Classification = "Low"
	// NoData: the canary or the baseline has no samples; left out of its group's score.
	NoData Classification = "Nodata"
	// NoDataFail: no samples for a metric that must have data; counts as a failure.
	NoDataFail Classification = "NodataFailMetric"
	// Error: the metric could not be classified (e.g. an infinite sample); left out of the score.
	Error Classification = "Error"
)

// Summary describes one side's samples as they were compared.
type Summary struct {
	// Count is the number of samples compared (after NaN and outlier handling).
	Count int
	// Median and Mean of those samples (NaN without samples).
	Median, Mean float64
	// NaNs is the number of NaN samples received (removed or replaced by 0).
	NaNs int
	// Outliers is the number of samples dropped as outliers.
	Outliers int
}

// Result is the judgement of one metric.
type Result struct {
	// Name and Group are the metric's.
	Name, Group string
	// Direction is the change that fails the metric.
	Direction Direction
	// Classification is the outcome, Reason says why.
	Classification Classification
	Reason         string
	// Critical: the metric failed critically (High or Low beyond its critical effect size, or
	// Nodata or Error for a critical metric): the canary fails with score 0.
	Critical bool
	// Muted: left out of the score.
	Muted bool
	// Canary and Baseline describe the samples compared.
	Canary, Baseline Summary
	// PValue is the two-sided Mann-Whitney p-value of "no shift" (NaN when not tested, 1 for
	// identical samples).
	PValue float64
	// U is the Mann-Whitney statistic of the canary (pairs where it is higher, ties half).
	U float64
	// Shift estimates canary − baseline (Hodges-Lehmann); ShiftLower and ShiftUpper bound its
	// confidence interval at ConfidenceLevel. NaN when not tested.
	Shift, ShiftLower, ShiftUpper float64
	// Effect is the effect size in EffectMeasure (NaN when it cannot be computed: then only
	// the test decides).
	Effect        float64
	EffectMeasure EffectMeasure
	// MeanRatio is mean(canary) / mean(baseline), whatever the effect measure (NaN when a mean
	// is 0).
	MeanRatio float64
}

// classify judges one metric (with its defaults filled) from its raw samples.
func classify(m Metric, canary, baseline []float64) Result {
	nan := math.NaN()
	r := Result{Name: m.Name, Group: m.Group, Direction: m.Direction, Muted: m.Muted, EffectMeasure: m.EffectSize.Measure,
		PValue: nan, U: nan, Shift: nan, ShiftLower: nan, ShiftUpper: nan, Effect: nan, MeanRatio: nan}
	for _, side := range []struct {
		name    string
		samples []float64
	}{{"canary", canary}, {"baseline", baseline}} {
		if i := firstInfinite(side.samples); i >= 0 {
			r.Canary, r.Baseline = Summary{Median: nan, Mean: nan}, Summary{Median: nan, Mean: nan}
			r.Classification, r.Critical = Error, m.Critical
			r.Reason = fmt.Sprintf("the %s's sample %d is %v: make the query give finite values (or NaN)", side.name, i, side.samples[i])
			return r
		}
	}
	c, cs := prepare(canary, m)
	b, bs := prepare(baseline, m)
	r.Canary, r.Baseline = cs, bs
	if len(c) == 0 || len(b) == 0 {
		return noData(r, m, cs, bs)
	}
	r.MeanRatio = meanRatio(c, b)
	if sameSamples(c, b) || (constant(c) && constant(b) && c[0] == b[0]) {
		r.Classification = Pass
		r.Reason = "the canary's and the baseline's samples are identical"
		if !sameSamples(c, b) {
			r.Reason = fmt.Sprintf("every sample is %v", c[0])
		}
		r.PValue, r.U, r.Shift, r.ShiftLower, r.ShiftUpper = 1, float64(len(c)*len(b))/2, 0, 0, 0
		r.Effect = effect(m.EffectSize.Measure, r.U, c, b)
		return r
	}
	t, err := mannWhitney(c, b, ConfidenceLevel)
	if err != nil {
		r.Classification, r.Critical = Error, m.Critical
		r.Reason = "the comparison failed: " + err.Error()
		return r
	}
	r.PValue, r.U, r.Shift, r.ShiftLower, r.ShiftUpper = t.PValue, t.U, t.Estimate, t.Lower, t.Upper
	r.Effect = effect(m.EffectSize.Measure, t.U, c, b)
	return compare(r, m)
}

// prepare applies the metric's NaN strategy and outlier handling to one side's samples.
func prepare(x []float64, m Metric) ([]float64, Summary) {
	var s Summary
	x, s.NaNs = handleNaN(x, m.NaNStrategy)
	if m.Outliers.Strategy == "remove" {
		x, s.Outliers = removeOutliers(x, m.Outliers.Factor)
	}
	s.Count, s.Median, s.Mean = len(x), median(x), mean(x)
	return x, s
}

func effect(measure EffectMeasure, u float64, c, b []float64) float64 {
	if measure == CLES {
		return cles(u, c, b)
	}
	return meanRatio(c, b)
}

// noData classifies a metric that has no samples on one side at least.
func noData(r Result, m Metric, cs, bs Summary) Result {
	var missing []string
	for _, side := range []struct {
		name string
		s    Summary
	}{{"canary", cs}, {"baseline", bs}} {
		if side.s.Count == 0 {
			text := "no " + side.name + " data"
			if side.s.NaNs > 0 {
				text += fmt.Sprintf(" (%d NaN samples removed)", side.s.NaNs)
			}
			missing = append(missing, text)
		}
	}
	reason := strings.Join(missing, ", ")
	switch {
	case m.NaNStrategy == ReplaceNaN:
		r.Classification, r.Reason = Pass, reason+": with nanStrategy replace, a metric without data passes"
	case m.MustHaveData && !m.Critical:
		r.Classification, r.Reason = NoDataFail, reason+": the metric must have data"
	default:
		r.Classification, r.Reason, r.Critical = NoData, reason, m.Critical
	}
	return r
}

// compare classifies a tested metric: High or Low when the confidence interval clears zero by
// Tolerance of the estimate and the effect is large enough, in a direction that fails it.
func compare(r Result, m Metric) Result {
	bound := Tolerance * math.Abs(r.Shift)
	higher, lower := r.ShiftLower > bound, r.ShiftUpper < -bound
	interval := fmt.Sprintf("shift %s, %g%% interval [%s, %s]", signed(r.Shift), ConfidenceLevel*100, num(r.ShiftLower), num(r.ShiftUpper))
	e := m.EffectSize
	effectName := "mean ratio"
	if m.EffectSize.Measure == CLES {
		effectName = "CLES"
	}
	unknown := math.IsNaN(r.Effect)
	switch {
	case !higher && !lower:
		r.Classification, r.Reason = Pass, "no significant difference ("+interval+")"
		if math.IsInf(r.ShiftLower, 0) || math.IsInf(r.ShiftUpper, 0) {
			r.Reason = fmt.Sprintf("no significant difference (%s: too few samples for %g%% confidence)", interval, ConfidenceLevel*100)
		}
	case higher && m.Direction == Decrease:
		r.Classification, r.Reason = Pass, "higher than the baseline ("+interval+"), which direction decrease allows"
	case lower && m.Direction == Increase:
		r.Classification, r.Reason = Pass, "lower than the baseline ("+interval+"), which direction increase allows"
	case higher && !unknown && r.Effect < *e.AllowedIncrease:
		r.Classification = Pass
		r.Reason = fmt.Sprintf("higher than the baseline (%s), but the %s %s is below allowedIncrease %v", interval, effectName, num(r.Effect), *e.AllowedIncrease)
	case lower && !unknown && r.Effect > *e.AllowedDecrease:
		r.Classification = Pass
		r.Reason = fmt.Sprintf("lower than the baseline (%s), but the %s %s is above allowedDecrease %v", interval, effectName, num(r.Effect), *e.AllowedDecrease)
	case higher:
		r.Classification = High
		r.Reason = fmt.Sprintf("higher than the baseline (%s), %s %s", interval, effectName, num(r.Effect))
		r.Critical = m.Critical && (unknown || r.Effect >= *e.CriticalIncrease)
	default:
		r.Classification = Low
		r.Reason = fmt.Sprintf("lower than the baseline (%s), %s %s", interval, effectName, num(r.Effect))
		r.Critical = m.Critical && (unknown || r.Effect <= *e.CriticalDecrease)
	}
	if !r.Critical && m.Critical && (r.Classification == High || r.Classification == Low) {
		threshold, name := *e.CriticalIncrease, "criticalIncrease"
		if r.Classification == Low {
			threshold, name = *e.CriticalDecrease, "criticalDecrease"
		}
		r.Reason += fmt.Sprintf(" (not critical: short of %s %v)", name, threshold)
	}
	return r
}

// num formats a statistic compactly.
func num(v float64) string { return fmt.Sprintf("%.4g", v) }

// signed formats a statistic with its sign.
func signed(v float64) string { return fmt.Sprintf("%+.4g", v) }
