package strategy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestCanaryCounts(t *testing.T) {
	type want struct{ canary, stable int32 }
	tests := map[string]struct {
		replicas, weight int32
		want             want
	}{
		"argo doc: 10 replicas at 10%":       {10, 10, want{1, 9}},
		"argo doc: 10 replicas at 41%":       {10, 41, want{4, 6}},
		"3 replicas at 10% never 0 canary":   {3, 10, want{1, 2}},
		"tie rounds up: 10 at 25%":           {10, 25, want{3, 7}},
		"tie rounds up: 3 at 50%":            {3, 50, want{2, 1}},
		"5 at 20%":                           {5, 20, want{1, 4}},
		"5 at 50%":                           {5, 50, want{3, 2}},
		"4 at 99% keeps one stable":          {4, 99, want{3, 1}},
		"weight 0":                           {10, 0, want{0, 10}},
		"weight 100":                         {10, 100, want{10, 0}},
		"1 replica at 10% rounds to nothing": {1, 10, want{0, 1}},
		"1 replica at 50% rounds up":         {1, 50, want{1, 0}},
		"no replicas":                        {0, 50, want{0, 0}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, s := CanaryCounts(tc.replicas, tc.weight, 100)
			if diff := cmp.Diff(tc.want, want{c, s}, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("CanaryCounts(%d, %d) (-want +got):\n%s", tc.replicas, tc.weight, diff)
			}
		})
	}
}

func TestResolveBudget(t *testing.T) {
	tests := map[string]struct {
		surge, unavailable intstr.IntOrString
		replicas           int32
		want               Budget
	}{
		"25% of 10":          {intstr.FromString("25%"), intstr.FromString("25%"), 10, Budget{3, 2}},
		"25% of 1":           {intstr.FromString("25%"), intstr.FromString("25%"), 1, Budget{1, 0}},
		"absolute":           {intstr.FromInt32(2), intstr.FromInt32(0), 5, Budget{2, 0}},
		"both zero move one": {intstr.FromInt32(0), intstr.FromString("0%"), 5, Budget{0, 1}},
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

func TestStep(t *testing.T) {
	tests := map[string]struct {
		sets     []Pods
		targets  []int32
		replicas int32
		budget   Budget
		want     []int32
	}{
		"canary up within surge, stable down within unavailable": {
			sets:    []Pods{{Spec: 0}, {Spec: 10, Current: 10, Available: 10}},
			targets: []int32{5, 5}, replicas: 10, budget: Budget{MaxSurge: 3, MaxUnavailable: 2},
			want: []int32{3, 8},
		},
		"unavailable canary pods hold back the stable scale-down": {
			sets:    []Pods{{Spec: 3, Current: 3, Available: 0}, {Spec: 8, Current: 8, Available: 8}},
			targets: []int32{5, 5}, replicas: 10, budget: Budget{MaxSurge: 3, MaxUnavailable: 2},
			want: []int32{5, 8},
		},
		"available canary lets the stable go": {
			sets:    []Pods{{Spec: 5, Current: 5, Available: 5}, {Spec: 8, Current: 8, Available: 8}},
			targets: []int32{5, 5}, replicas: 10, budget: Budget{MaxSurge: 3, MaxUnavailable: 2},
			want: []int32{5, 5},
		},
		"unavailable pods are removed freely": {
			sets:    []Pods{{Spec: 2, Current: 2, Available: 0}, {Spec: 3, Current: 3, Available: 3}},
			targets: []int32{0, 3}, replicas: 3, budget: Budget{MaxSurge: 1, MaxUnavailable: 0},
			want: []int32{0, 3},
		},
		"abort: stable back up first, canary down as it allows": {
			sets:    []Pods{{Spec: 3, Current: 3, Available: 3}, {Spec: 2, Current: 2, Available: 2}},
			targets: []int32{0, 5}, replicas: 5, budget: Budget{MaxSurge: 2, MaxUnavailable: 1},
			want: []int32{2, 4},
		},
		"already there": {
			sets:    []Pods{{Spec: 1, Current: 1, Available: 1}, {Spec: 9, Current: 9, Available: 9}},
			targets: []int32{1, 9}, replicas: 10, budget: Budget{MaxSurge: 3, MaxUnavailable: 2},
			want: []int32{1, 9},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Step(tc.sets, tc.targets, tc.replicas, tc.budget)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
