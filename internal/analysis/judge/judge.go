// Package judge compares a canary's samples with a baseline's, metric by metric, and scores the
// canary from 0 to 100, with the classification and scoring rules of Kayenta's NetflixACAJudge:
//
//   - each metric's samples are cleaned (NaN values removed or replaced by 0, outliers optionally
//     removed), then compared with a two-sided Mann-Whitney U test: the shift canary − baseline
//     is estimated (Hodges-Lehmann) with a 98% confidence interval;
//   - a metric is High when the whole interval lies above +25% of the estimate's size and the
//     effect size (the ratio of the means, or the common-language effect size) reaches the
//     allowed increase; Low likewise below; otherwise Pass. Its direction says which of High and
//     Low fails it (increase, decrease or either); a metric without samples is Nodata;
//   - metrics are scored by group: a group's score is the share of its classified metrics that
//     passed, the verdict's score the groups' scores weighted; a critical metric that fails, or
//     Nodata for half of the metrics or more, makes the score 0;
//   - the score is a Pass, a Marginal or a Fail against the pass and marginal thresholds.
//
// Everything is deterministic (Kayenta adds random noise to two constant samples; this package
// computes the limit that noise tends to instead).
package judge

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// ConfidenceLevel is the level of the confidence interval of the shift (Kayenta's).
const ConfidenceLevel = 0.98

// Tolerance is the share of the estimated shift's size that the confidence interval must clear
// (on the side of zero) for a metric to be High or Low (Kayenta's).
const Tolerance = 0.25

// NoDataThreshold is the percentage of metrics without data at which the score is 0.
const NoDataThreshold = 50

// Direction says which change of a metric fails it.
type Direction string

// Directions.
const (
	// Increase fails the metric when the canary is significantly higher (latency, errors).
	Increase Direction = "increase"
	// Decrease fails it when the canary is significantly lower (throughput, successes).
	Decrease Direction = "decrease"
	// Either fails it on a significant change either way (the default).
	Either Direction = "either"
)

// NaNStrategy says what happens to NaN samples.
type NaNStrategy string

// NaN strategies.
const (
	// RemoveNaN drops NaN samples (the default); a metric left without samples is Nodata.
	RemoveNaN NaNStrategy = "remove"
	// ReplaceNaN counts NaN samples as 0; a metric without any samples passes.
	ReplaceNaN NaNStrategy = "replace"
)

// EffectMeasure names how the size of a change is measured.
type EffectMeasure string

// Effect measures.
const (
	// MeanRatio is mean(canary) / mean(baseline) (the default); NaN when a mean is 0.
	MeanRatio EffectMeasure = "meanRatio"
	// CLES is the common-language effect size: the probability that a canary sample is higher
	// than a baseline sample (ties count half); 0.5 means no difference.
	CLES EffectMeasure = "cles"
)

// EffectSize sets how large a significant change must be to fail a metric, and to fail it
// critically. A nil threshold takes the default: 1 for MeanRatio, 0.5 for CLES (any
// significant change counts).
type EffectSize struct {
	// Measure is MeanRatio (default) or CLES.
	Measure EffectMeasure `json:"measure,omitempty"`
	// AllowedIncrease: a High canary fails only when the effect is at least this (e.g. 1.1: 10% higher).
	AllowedIncrease *float64 `json:"allowedIncrease,omitempty"`
	// AllowedDecrease: a Low canary fails only when the effect is at most this (e.g. 0.9).
	AllowedDecrease *float64 `json:"allowedDecrease,omitempty"`
	// CriticalIncrease: a critical metric fails the whole canary when High with at least this effect.
	CriticalIncrease *float64 `json:"criticalIncrease,omitempty"`
	// CriticalDecrease: a critical metric fails the whole canary when Low with at most this effect.
	CriticalDecrease *float64 `json:"criticalDecrease,omitempty"`
}

// Outliers says whether outliers are dropped before the comparison.
type Outliers struct {
	// Strategy is "keep" (default) or "remove": drop the samples below min(Q1 − factor·IQR, P1)
	// or above max(Q3 + factor·IQR, P99), per side.
	Strategy string `json:"strategy,omitempty"`
	// Factor is the IQR multiplier (default 3).
	Factor float64 `json:"outlierFactor,omitempty"`
}

// Metric is how one metric is judged.
type Metric struct {
	// Name identifies the metric and its samples.
	Name string `json:"name"`
	// Group is the scoring group (default: the metric's name, a group of its own).
	Group string `json:"group,omitempty"`
	// Direction is which change fails the metric (default Either).
	Direction Direction `json:"direction,omitempty"`
	// Critical: a failure of this metric (or no data) fails the whole canary with score 0.
	Critical bool `json:"critical,omitempty"`
	// MustHaveData: no data fails the metric (NodataFailMetric) instead of leaving it out.
	MustHaveData bool `json:"mustHaveData,omitempty"`
	// Muted metrics are judged and reported but do not count in the score.
	Muted bool `json:"muted,omitempty"`
	// NaNStrategy is RemoveNaN (default) or ReplaceNaN.
	NaNStrategy NaNStrategy `json:"nanStrategy,omitempty"`
	// EffectSize sets how large a change must be to count.
	EffectSize EffectSize `json:"effectSize,omitzero"`
	// Outliers says whether outliers are dropped.
	Outliers Outliers `json:"outliers,omitzero"`
}

// Scoring turns group scores into a verdict.
type Scoring struct {
	// Pass is the lowest score that passes, Marginal the lowest that is Marginal (0-100,
	// Marginal <= Pass).
	Pass, Marginal float64
	// GroupWeights weighs groups (the weights total at most 100); groups without a weight share
	// what is left equally.
	GroupWeights map[string]float64
}

// Judge classifies each metric's canary samples against its baseline samples (both keyed by
// the metric's name; a missing key is a metric without data) and scores the canary. The error
// is about the configuration only, and names the field at fault.
func Judge(metrics []Metric, canary, baseline map[string][]float64, s Scoring) (Verdict, error) {
	if err := validate(metrics, s); err != nil {
		return Verdict{}, err
	}
	results := make([]Result, len(metrics))
	for i, m := range metrics {
		results[i] = classify(withDefaults(m), canary[m.Name], baseline[m.Name])
	}
	return score(results, s), nil
}

// Validate checks metrics and scoring as Judge does, before any sample is fetched.
func Validate(metrics []Metric, s Scoring) error { return validate(metrics, s) }

// withDefaults fills a metric's unset options.
func withDefaults(m Metric) Metric {
	if m.Group == "" {
		m.Group = m.Name
	}
	if m.Direction == "" {
		m.Direction = Either
	}
	if m.NaNStrategy == "" {
		m.NaNStrategy = RemoveNaN
	}
	if m.EffectSize.Measure == "" {
		m.EffectSize.Measure = MeanRatio
	}
	neutral := 1.0
	if m.EffectSize.Measure == CLES {
		neutral = 0.5
	}
	for _, p := range []**float64{&m.EffectSize.AllowedIncrease, &m.EffectSize.AllowedDecrease,
		&m.EffectSize.CriticalIncrease, &m.EffectSize.CriticalDecrease} {
		if *p == nil {
			*p = &neutral
		}
	}
	if m.Outliers.Strategy == "" {
		m.Outliers.Strategy = "keep"
	}
	if m.Outliers.Factor == 0 {
		m.Outliers.Factor = 3
	}
	return m
}

// validate checks the metrics and the scoring.
func validate(metrics []Metric, s Scoring) error {
	if len(metrics) == 0 {
		return errors.New("metrics: give at least one metric")
	}
	var errs []error
	seen := map[string]bool{}
	groups := map[string]bool{}
	active := map[string]bool{}
	for i, m := range metrics {
		if seen[m.Name] {
			errs = append(errs, fmt.Errorf("metrics[%d].name: %q is used twice", i, m.Name))
		}
		seen[m.Name] = true
		errs = append(errs, validateMetric(fmt.Sprintf("metrics[%d]", i), m))
		g := withDefaults(m).Group
		groups[g] = true
		if !m.Muted {
			active[g] = true
		}
	}
	if len(active) == 0 {
		errs = append(errs, errors.New("metrics: every metric is muted, nothing would be scored"))
	}
	errs = append(errs, validateScoring(s, groups, active))
	return errors.Join(errs...)
}

func validateMetric(at string, m Metric) error {
	var errs []error
	if m.Name == "" {
		errs = append(errs, fmt.Errorf("%s.name: give the metric a name", at))
	}
	switch m.Direction {
	case "", Increase, Decrease, Either:
	default:
		errs = append(errs, fmt.Errorf("%s.direction: %q is not increase, decrease or either", at, m.Direction))
	}
	switch m.NaNStrategy {
	case "", RemoveNaN, ReplaceNaN:
	default:
		errs = append(errs, fmt.Errorf("%s.nanStrategy: %q is not remove or replace", at, m.NaNStrategy))
	}
	switch m.Outliers.Strategy {
	case "", "keep", "remove":
	default:
		errs = append(errs, fmt.Errorf("%s.outliers.strategy: %q is not keep or remove", at, m.Outliers.Strategy))
	}
	if m.Outliers.Factor < 0 || math.IsNaN(m.Outliers.Factor) || math.IsInf(m.Outliers.Factor, 0) {
		errs = append(errs, fmt.Errorf("%s.outliers.outlierFactor: %v is not a positive number", at, m.Outliers.Factor))
	}
	return errors.Join(append(errs, validateEffect(at+".effectSize", m.EffectSize))...)
}

func validateEffect(at string, e EffectSize) error {
	lo, hi := 0.0, math.Inf(1)
	measure := e.Measure
	switch measure {
	case "":
		measure = MeanRatio
	case MeanRatio:
	case CLES:
		hi = 1
	default:
		return fmt.Errorf("%s.measure: %q is not meanRatio or cles", at, e.Measure)
	}
	var errs []error
	for _, f := range []struct {
		name string
		v    *float64
	}{{"allowedIncrease", e.AllowedIncrease}, {"allowedDecrease", e.AllowedDecrease},
		{"criticalIncrease", e.CriticalIncrease}, {"criticalDecrease", e.CriticalDecrease}} {
		if f.v != nil && (math.IsNaN(*f.v) || *f.v < lo || *f.v > hi) {
			errs = append(errs, fmt.Errorf("%s.%s: %v is out of range [%v, %v] for %s", at, f.name, *f.v, lo, hi, measure))
		}
	}
	return errors.Join(errs...)
}

// validateScoring checks the thresholds and the group weights: groups are every metric's
// group, active those of metrics that are not muted.
func validateScoring(s Scoring, groups, active map[string]bool) error {
	var errs []error
	for _, t := range []struct {
		name string
		v    float64
	}{{"pass", s.Pass}, {"marginal", s.Marginal}} {
		if math.IsNaN(t.v) || t.v < 0 || t.v > 100 {
			errs = append(errs, fmt.Errorf("thresholds.%s: %v is not a score from 0 to 100", t.name, t.v))
		}
	}
	if s.Marginal > s.Pass {
		errs = append(errs, fmt.Errorf("thresholds.marginal: %v is above thresholds.pass %v", s.Marginal, s.Pass))
	}
	sum := 0.0
	for _, name := range sortedKeys(s.GroupWeights) {
		w := s.GroupWeights[name]
		switch {
		case !groups[name]:
			errs = append(errs, fmt.Errorf("groupWeights.%s: no metric is in group %q", name, name))
		case math.IsNaN(w) || math.IsInf(w, 0) || w < 0:
			errs = append(errs, fmt.Errorf("groupWeights.%s: %v is not a weight from 0 to 100", name, w))
		case active[name]:
			sum += w
		}
	}
	var unweighted []string
	for _, g := range sortedKeys(active) {
		if _, ok := s.GroupWeights[g]; !ok {
			unweighted = append(unweighted, g)
		}
	}
	const eps = 1e-9
	switch {
	case sum > 100+eps:
		errs = append(errs, fmt.Errorf("groupWeights: the weights total %v, more than 100", sum))
	case len(unweighted) == 0 && len(s.GroupWeights) > 0 && math.Abs(sum-100) > eps:
		errs = append(errs, fmt.Errorf("groupWeights: every group has a weight, so they must total 100 (they total %v)", sum))
	case len(unweighted) > 0 && sum >= 100-eps:
		errs = append(errs, fmt.Errorf("groupWeights: the weights total %v and leave nothing for the groups without one: %q", sum, unweighted))
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
