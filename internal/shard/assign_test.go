package shard

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestQuota(t *testing.T) {
	tests := map[string]struct {
		n       int
		members []string
		want    map[string]int
	}{
		"alone: every shard":         {n: 4, members: []string{"a"}, want: map[string]int{"a": 4}},
		"two: halves":                {n: 4, members: []string{"b", "a"}, want: map[string]int{"a": 2, "b": 2}},
		"three: the first one more":  {n: 4, members: []string{"c", "a", "b"}, want: map[string]int{"a": 2, "b": 1, "c": 1}},
		"more replicas than shards":  {n: 2, members: []string{"a", "b", "c"}, want: map[string]int{"a": 1, "b": 1, "c": 0}},
		"a member listed twice":      {n: 4, members: []string{"a", "b", "a"}, want: map[string]int{"a": 2, "b": 2}},
		"not a member: none":         {n: 4, members: []string{"a"}, want: map[string]int{"z": 0}},
		"one shard, several members": {n: 1, members: []string{"a", "b"}, want: map[string]int{"a": 1, "b": 0}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := map[string]int{}
			for me := range tc.want {
				got[me] = Quota(tc.n, me, tc.members)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestOf: the shard of an object is FNV-1a of namespace/name (values checked against an
// independent FNV-1a; fixed here because replicas of
// different versions must agree), and 10,000 names spread evenly over 4 shards.
func TestOf(t *testing.T) {
	tests := map[string]struct {
		ns, name string
		n, want  int
	}{
		"one shard":      {ns: "default", name: "app", n: 1, want: 0},
		"no shards":      {ns: "default", name: "app", n: 0, want: 0},
		"default/app":    {ns: "default", name: "app", n: 4, want: 2},
		"bench/app-0000": {ns: "bench", name: "app-0000", n: 4, want: 0},
		"bench/app-0001": {ns: "bench", name: "app-0001", n: 4, want: 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Of(tc.ns, tc.name, tc.n); got != tc.want {
				t.Errorf("Of(%q, %q, %d) = %d, want %d", tc.ns, tc.name, tc.n, got, tc.want)
			}
		})
	}
	counts := make([]int, 4)
	for i := range 10000 {
		counts[Of("bench", fmt.Sprintf("app-%04d", i), 4)]++
	}
	for i, c := range counts {
		if c < 2250 || c > 2750 {
			t.Errorf("shard %d of 4 has %d of 10000 names (counts %v), not within 10%% of 2500", i, c, counts)
		}
	}
}
