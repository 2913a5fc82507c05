package judge

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
)

// percentile is the p-th quantile (0 <= p <= 1) of x, interpolated between order statistics
// (Hyndman and Fan's type 7, as R's default and Kayenta use); NaN for no values.
func percentile(x []float64, p float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := slices.Clone(x)
	slices.Sort(s)
	h := (float64(len(s)) - 1) * p
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (h-lo)*(s[i+1]-s[i])
}

// median is the middle of x (the mean of the two middle values for an even count); NaN for none.
func median(x []float64) float64 { return percentile(x, 0.5) }

// mean is x's mean; NaN for no values.
func mean(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	return stat.Mean(x, nil)
}

// meanRatio is mean(canary) / mean(baseline), NaN when either mean is 0.
func meanRatio(canary, baseline []float64) float64 {
	mc, mb := mean(canary), mean(baseline)
	if mc == 0 || mb == 0 {
		return math.NaN()
	}
	return mc / mb
}

// cles is the common-language effect size U / (n·m): the probability that a canary sample is
// higher than a baseline sample, ties counting half.
func cles(u float64, canary, baseline []float64) float64 {
	return u / float64(len(canary)*len(baseline))
}

// handleNaN removes NaN samples or replaces them with 0; it also returns how many there were.
func handleNaN(x []float64, strategy NaNStrategy) ([]float64, int) {
	out := make([]float64, 0, len(x))
	n := 0
	for _, v := range x {
		switch {
		case !math.IsNaN(v):
			out = append(out, v)
		case strategy == ReplaceNaN:
			n++
			out = append(out, 0)
		default:
			n++
		}
	}
	return out, n
}

// removeOutliers drops the samples outside the fences min(Q1 − factor·IQR, P1) and
// max(Q3 + factor·IQR, P99) (Kayenta's IQR detector with reduced sensitivity); it also returns
// how many it dropped.
func removeOutliers(x []float64, factor float64) ([]float64, int) {
	if len(x) == 0 {
		return x, 0
	}
	q1, q3 := percentile(x, 0.25), percentile(x, 0.75)
	iqr := q3 - q1
	low := math.Min(percentile(x, 0.01), q1-factor*iqr)
	high := math.Max(percentile(x, 0.99), q3+factor*iqr)
	out := make([]float64, 0, len(x))
	for _, v := range x {
		if v >= low && v <= high {
			out = append(out, v)
		}
	}
	return out, len(x) - len(out)
}

// firstInfinite is the index of x's first infinite value, or -1.
func firstInfinite(x []float64) int {
	for i, v := range x {
		if math.IsInf(v, 0) {
			return i
		}
	}
	return -1
}
