package judge

import (
	"errors"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat/distuv"
)

// shiftTest is the outcome of a two-sided Mann-Whitney U test of canary against baseline.
type shiftTest struct {
	// U counts the (canary, baseline) pairs where the canary sample is higher, ties half.
	U float64
	// PValue is the two-sided p-value of "no shift", from the normal approximation with
	// continuity and tie corrections (R's wilcox.test with exact = FALSE).
	PValue float64
	// Estimate is the Hodges-Lehmann estimate of the shift canary − baseline.
	Estimate float64
	// Lower and Upper bound the shift's confidence interval.
	Lower, Upper float64
}

// errAllTied is returned when every sample has the same value, where the test has no variance.
var errAllTied = errors.New("cannot compute the confidence interval: every sample has the same value")

// mannWhitney tests canary (x) against baseline (y), both non-empty and finite, with a
// confidence interval at level.
//
// As Kayenta does, the interval's bounds and the estimate are the shifts mu at which the
// normal-approximated rank statistic of (x − mu) against y equals the normal quantiles of the
// interval (and 0 for the estimate), found here by bisection.
func mannWhitney(x, y []float64, level float64) (shiftTest, error) {
	z0, r1, err := wilcoxonZ(0, x, y)
	if err != nil {
		return shiftTest{}, err
	}
	nx := float64(len(x))
	t := shiftTest{U: r1 - nx*(nx+1)/2, PValue: math.Min(1, 2*distuv.UnitNormal.CDF(-math.Abs(z0)))}
	if constant(x) && constant(y) {
		// Kayenta adds tiny noise here; as the noise vanishes, the interval and the estimate
		// close on the difference of the two values.
		d := x[0] - y[0]
		t.Estimate, t.Lower, t.Upper = d, d, d
		return t, nil
	}
	q := distuv.UnitNormal.Quantile(1 - (1-level)/2)
	lo, hi := floats.Min(x)-floats.Max(y), floats.Max(x)-floats.Min(y)
	if t.Lower, err = root(q, lo, hi, x, y, false); err != nil {
		return shiftTest{}, err
	}
	if t.Upper, err = root(-q, lo, hi, x, y, false); err != nil {
		return shiftTest{}, err
	}
	// the statistic is 0 on a whole range of shifts: take its middle
	left, err := root(0, lo, hi, x, y, false)
	if err != nil {
		return shiftTest{}, err
	}
	right, err := root(0, lo, hi, x, y, true)
	if err != nil {
		return shiftTest{}, err
	}
	t.Estimate = left + (right-left)/2
	return t, nil
}

// root finds the shift mu in [lo, hi] where wilcoxonZ(mu) crosses q. The statistic falls as mu
// grows; on a range where it equals q, zeroRight picks the range's right end, else its left.
//
// When even samples shifted apart completely do not reach q, the samples are too few for the
// interval's level: the bound is then -Inf (for the lower one) or +Inf (for the upper one),
// where Kayenta, like R, would clip it to the range of differences and claim more confidence
// than the samples give (three samples against three would look significant at 98%).
func root(q, lo, hi float64, x, y []float64, zeroRight bool) (float64, error) {
	f := func(mu float64) (float64, error) {
		z, _, err := wilcoxonZ(mu, x, y)
		return z - q, err
	}
	span := math.Max(hi-lo, 1)
	if q != 0 {
		apart, err := f(lo - span)
		if err != nil {
			return 0, err
		}
		if q > 0 && apart < 0 {
			return math.Inf(-1), nil
		}
		if apart, err = f(hi + span); err != nil {
			return 0, err
		}
		if q < 0 && apart > 0 {
			return math.Inf(1), nil
		}
	}
	flo, err := f(lo)
	if err != nil {
		return 0, err
	}
	if flo <= 0 {
		return lo, nil
	}
	fhi, err := f(hi)
	if err != nil {
		return 0, err
	}
	if fhi >= 0 {
		return hi, nil
	}
	tol := (hi - lo) * 1e-12
	for i := 0; i < 200 && hi-lo > tol; i++ {
		mid := lo + (hi-lo)/2
		v, err := f(mid)
		if err != nil {
			return 0, err
		}
		if v > 0 || (v == 0 && zeroRight) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + (hi-lo)/2, nil
}

// wilcoxonZ is the rank-sum statistic of (x − mu) against y, standardized with the tie
// correction and a continuity correction of ½ towards 0; r1 is the rank sum of x.
func wilcoxonZ(mu float64, x, y []float64) (z, r1 float64, err error) {
	nx, ny := float64(len(x)), float64(len(y))
	all := make([]float64, 0, len(x)+len(y))
	for _, v := range x {
		all = append(all, v-mu)
	}
	all = append(all, y...)
	ranks, ties := rank(all)
	r1 = floats.Sum(ranks[:len(x)])
	dz := r1 - nx*(nx+1)/2 - nx*ny/2
	n := nx + ny
	sigma := math.Sqrt(nx * ny / 12 * ((n + 1) - ties/(n*(n-1))))
	if sigma == 0 || math.IsNaN(sigma) {
		return 0, r1, errAllTied
	}
	correction := 0.5
	switch {
	case dz < 0:
		correction = -0.5
	case dz == 0:
		correction = 0
	}
	return (dz - correction) / sigma, r1, nil
}

// rank gives each value its rank among values (1 for the smallest), tied values the average of
// their ranks; ties is the sum of t³ − t over the groups of t tied values.
func rank(values []float64) (ranks []float64, ties float64) {
	order := make([]int, len(values))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return values[order[a]] < values[order[b]] })
	ranks = make([]float64, len(values))
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && values[order[j]] == values[order[i]] {
			j++
		}
		avg := float64(i+1+j) / 2
		for k := i; k < j; k++ {
			ranks[order[k]] = avg
		}
		if t := float64(j - i); t > 1 {
			ties += t*t*t - t
		}
		i = j
	}
	return ranks, ties
}

// constant reports whether every value of x is the same.
func constant(x []float64) bool {
	for _, v := range x[1:] {
		if v != x[0] {
			return false
		}
	}
	return true
}

// sameSamples reports whether a and b hold the same values, in any order.
func sameSamples(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	sa, sb := slices.Clone(a), slices.Clone(b)
	slices.Sort(sa)
	slices.Sort(sb)
	return slices.Equal(sa, sb)
}
