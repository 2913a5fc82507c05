package judge

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The expected p-values and U are SciPy's (scipy.stats.mannwhitneyu, method="asymptotic",
// use_continuity=True, the same approximation as R's wilcox.test with exact = FALSE); the
// Hodges-Lehmann estimates are the medians of the pairwise differences; the "kayenta" interval
// is the one Kayenta's own MannWhitney test expects for these samples at 95%.
func TestMannWhitney(t *testing.T) {
	tests := map[string]struct {
		canary, baseline []float64
		level            float64
		want             shiftTest
		checkInterval    bool
	}{
		"kayenta's reference samples": {
			canary: []float64{10, 20, 30, 40}, baseline: []float64{1, 2, 3, 4}, level: 0.95,
			want:          shiftTest{U: 16, PValue: 0.03038282197657749, Estimate: 22.5, Lower: 6, Upper: 39},
			checkInterval: true,
		},
		"ties": {
			canary: []float64{1, 2, 2, 3, 3, 3, 4}, baseline: []float64{1, 1, 2, 2, 3}, level: 0.98,
			want: shiftTest{U: 25.5, PValue: 0.20317391758508574, Estimate: 1},
		},
		"overlapping samples": {
			canary:   []float64{1.2, 3.4, 2.2, 5.1, 4.4, 3.3, 2.9, 6.0},
			baseline: []float64{1.0, 2.1, 1.7, 3.0, 2.5, 1.9, 2.2, 2.8, 3.1}, level: 0.98,
			want: shiftTest{U: 57.5, PValue: 0.04317993976596136, Estimate: 1.2},
		},
		"two constant samples": {
			canary: []float64{5, 5, 5, 5, 5}, baseline: []float64{3, 3, 3, 3, 3}, level: 0.98,
			// U = 25 (every pair), the interval closes on the difference
			want:          shiftTest{U: 25, PValue: 0.003976751709788651, Estimate: 2, Lower: 2, Upper: 2},
			checkInterval: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := mannWhitney(tc.canary, tc.baseline, tc.level)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.checkInterval {
				tc.want.Lower, tc.want.Upper = got.Lower, got.Upper
				if !(got.Lower <= got.Estimate && got.Estimate <= got.Upper) {
					t.Errorf("the estimate %v is outside its interval [%v, %v]", got.Estimate, got.Lower, got.Upper)
				}
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(shiftTest{}), cmpopts.EquateApprox(0, 1e-6)); diff != "" {
				t.Errorf("mannWhitney (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMannWhitneyAllTied(t *testing.T) {
	_, err := mannWhitney([]float64{2, 2}, []float64{2, 2, 2}, 0.98)
	if !errors.Is(err, errAllTied) {
		t.Fatalf("mannWhitney of all-equal samples: got %v, want %v", err, errAllTied)
	}
}

func TestRank(t *testing.T) {
	tests := map[string]struct {
		values    []float64
		wantRanks []float64
		wantTies  float64
	}{
		"no ties":    {values: []float64{3, 1, 2}, wantRanks: []float64{3, 1, 2}},
		"a pair":     {values: []float64{5, 1, 5, 2}, wantRanks: []float64{3.5, 1, 3.5, 2}, wantTies: 6},
		"a triple":   {values: []float64{0, 0, 0}, wantRanks: []float64{2, 2, 2}, wantTies: 24},
		"two groups": {values: []float64{1, 2, 1, 2, 3}, wantRanks: []float64{1.5, 3.5, 1.5, 3.5, 5}, wantTies: 12},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ranks, ties := rank(tc.values)
			if diff := cmp.Diff(tc.wantRanks, ranks); diff != "" {
				t.Errorf("ranks (-want +got):\n%s", diff)
			}
			if ties != tc.wantTies {
				t.Errorf("ties = %v, want %v", ties, tc.wantTies)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	tests := map[string]struct {
		values []float64
		p      float64
		want   float64
	}{
		"median of an odd count":  {values: []float64{3, 1, 2}, p: 0.5, want: 2},
		"median of an even count": {values: []float64{4, 1, 3, 2}, p: 0.5, want: 2.5},
		"first quartile (R-7)":    {values: []float64{1, 2, 3, 4, 5, 6, 7, 8}, p: 0.25, want: 2.75},
		"maximum":                 {values: []float64{1, 9}, p: 1, want: 9},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := percentile(tc.values, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.values, tc.p, got, tc.want)
			}
		})
	}
}
