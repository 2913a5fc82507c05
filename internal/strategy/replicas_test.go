package strategy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/vanedev/vane/api/v1alpha1"
)

func TestResolveBudget(t *testing.T) {
	tests := map[string]struct {
		surge, unavailable intstr.IntOrString
		replicas           int32
		want               Budget
	}{
		"25% of 10":                     {intstr.FromString("25%"), intstr.FromString("25%"), 10, Budget{3, 2}},
		"25% of 1":                      {intstr.FromString("25%"), intstr.FromString("25%"), 1, Budget{1, 0}},
		"absolute":                      {intstr.FromInt32(2), intstr.FromInt32(0), 5, Budget{2, 0}},
		"both zero move one":            {intstr.FromInt32(0), intstr.FromString("0%"), 5, Budget{0, 1}},
		"both round to zero: one":       {intstr.FromInt32(0), intstr.FromString("10%"), 3, Budget{0, 1}},
		"maxUnavailable at most all":    {intstr.FromInt32(1), intstr.FromInt32(7), 5, Budget{1, 5}},
		"no replicas: none unavailable": {intstr.FromInt32(0), intstr.FromInt32(2), 0, Budget{0, 0}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ResolveBudget(tc.surge, tc.unavailable, tc.replicas)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestBasicCanaryCountsArgoExamples: cases of Argo's own table for
// CalculateReplicaCountsForBasicCanary (utils/replicaset/canary_test.go), by their names there.
// (The example "10 replicas at 5%, surge 1, unavailable 1 gives 1 and 9" in that function's
// comment is stale: its code, and the golden file, give 1 and 10.)
func TestBasicCanaryCountsArgoExamples(t *testing.T) {
	type counts struct{ New, Stable int32 }
	pods := func(spec, available int32) *Pods { return &Pods{Spec: spec, Current: spec, Available: available} }
	tests := map[string]struct {
		replicas, weight int32
		budget           Budget
		newSet, stable   *Pods
		older            []Pods
		want             counts
	}{
		"Do not round past maxSurge with uneven setWeight divisor": {
			replicas: 10, weight: 5, budget: Budget{0, 1}, newSet: pods(0, 0), stable: pods(10, 10), want: counts{0, 9}},
		"Do not round past maxSurge with uneven setWeight divisor (part 2)": {
			replicas: 10, weight: 5, budget: Budget{0, 1}, newSet: pods(0, 0), stable: pods(9, 9), want: counts{1, 9}},
		"Scale down stable and canary available": {
			replicas: 10, weight: 100, budget: Budget{1, 0}, newSet: pods(10, 8), stable: pods(10, 2), want: counts{9, 2}},
		"Do not scale down canaryRS or stable when older RS count >= scaleDownCount": {
			replicas: 10, weight: 30, budget: Budget{0, 1}, newSet: pods(4, 2), stable: pods(8, 6),
			older: []Pods{*pods(3, 3)}, want: counts{4, 8}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sets := CanarySets{New: tc.newSet, Stable: tc.stable, Older: tc.older}
			n, s := BasicCanaryCounts(sets, tc.replicas, tc.weight, 100, tc.budget)
			if diff := cmp.Diff(tc.want, counts{n, s}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestBudgetOf: a canary surges by maxSurge (rounded up) and loses at most maxUnavailable
// (rounded down); a blue/green never surges; both zero leaves one pod unavailable (Argo).
func TestBudgetOf(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	num := func(n int) *intstr.IntOrString { v := intstr.FromInt(n); return &v }
	cases := map[string]struct {
		strategy v1alpha1.RolloutStrategy
		replicas int32
		want     Budget
	}{
		"canary defaults (25%/25%) of 10": {strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}}, replicas: 10,
			want: Budget{MaxSurge: 3, MaxUnavailable: 2}},
		"canary 0/0 of 4": {strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{MaxSurge: num(0), MaxUnavailable: num(0)}},
			replicas: 4, want: Budget{MaxSurge: 0, MaxUnavailable: 1}},
		"blue/green never surges": {strategy: v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{MaxUnavailable: pct("50%")}},
			replicas: 4, want: Budget{MaxSurge: 0, MaxUnavailable: 2}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := BudgetOf(&v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Strategy: tc.strategy}}, tc.replicas)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
