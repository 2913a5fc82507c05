package strategy

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vanedev/vane/api/v1alpha1"
)

func TestTrafficReplicas(t *testing.T) {
	tests := map[string]struct {
		replicas, weight, max int32
		want                  int32
	}{
		"argo doc: 4 replicas at 25% run 1 canary":       {4, 25, 100, 1},
		"argo doc: 10 replicas at 10% run 1 canary":      {10, 10, 100, 1},
		"rounds up: 10 replicas at 15% run 2":            {10, 15, 100, 2},
		"rounds up: 5 replicas at 1% run 1":              {5, 1, 100, 1},
		"5 at 20%":                                       {5, 20, 100, 1},
		"5 at 50%":                                       {5, 50, 100, 3},
		"weight 0 runs none":                             {5, 0, 100, 0},
		"full weight runs all":                           {5, 100, 100, 5},
		"maxTrafficWeight 1000: 0.5% of 10 rounds to 1":  {10, 5, 1000, 1},
		"maxTrafficWeight 1000: 50% of 10":               {10, 500, 1000, 5},
		"no replicas":                                    {0, 50, 100, 0},
		"1 replica at 1%":                                {1, 1, 100, 1},
		"large counts do not overflow: 100000 at 99.99%": {100000, 9999, 10000, 99990},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := TrafficReplicas(tc.replicas, tc.weight, tc.max); got != tc.want {
				t.Errorf("TrafficReplicas(%d, %d, %d) = %d, want %d", tc.replicas, tc.weight, tc.max, got, tc.want)
			}
		})
	}
}

func TestRoutedCanaryCounts(t *testing.T) {
	type want struct{ Canary, Stable int32 }
	scale := func(sc v1alpha1.SetCanaryScale) v1alpha1.CanaryStep { return v1alpha1.CanaryStep{SetCanaryScale: &sc} }
	tests := map[string]struct {
		canary   v1alpha1.CanaryStrategy
		replicas int32
		// the rollout is at the last step
		steps []v1alpha1.CanaryStep
		// status.canary.weights as canary/stable (nil: none)
		weights *[2]int32
		abort   bool
		want    want
	}{
		"argo doc: 10 replicas at setWeight 10: 1 canary, stable stays at 10": {
			replicas: 10, steps: []v1alpha1.CanaryStep{weight(10)}, want: want{1, 10}},
		"argo doc: setCanaryScale replicas 3": {
			replicas: 10, steps: []v1alpha1.CanaryStep{scale(v1alpha1.SetCanaryScale{Replicas: ptr32(3)})}, want: want{3, 10}},
		"argo doc: setCanaryScale weight 25 of 10 rounds up": {
			replicas: 10, steps: []v1alpha1.CanaryStep{weight(90), scale(v1alpha1.SetCanaryScale{Weight: ptr32(25)})}, want: want{3, 10}},
		"setCanaryScale matchTrafficWeight: the weight again": {
			replicas: 10, steps: []v1alpha1.CanaryStep{scale(v1alpha1.SetCanaryScale{Replicas: ptr32(3)}), weight(50),
				scale(v1alpha1.SetCanaryScale{MatchTrafficWeight: true})}, want: want{5, 10}},
		"setCanaryScale is dropped once aborted": {
			replicas: 10, steps: []v1alpha1.CanaryStep{scale(v1alpha1.SetCanaryScale{Replicas: ptr32(3)})}, abort: true, want: want{0, 10}},
		"minPodsPerReplicaSet raises a small canary": {
			canary: v1alpha1.CanaryStrategy{MinPodsPerReplicaSet: ptr32(2)}, replicas: 10, steps: []v1alpha1.CanaryStep{weight(10)}, want: want{2, 10}},
		"minPodsPerReplicaSet is at most spec.replicas": {
			canary: v1alpha1.CanaryStrategy{MinPodsPerReplicaSet: ptr32(5)}, replicas: 2, steps: []v1alpha1.CanaryStep{weight(10)}, want: want{2, 2}},
		"minPodsPerReplicaSet leaves an empty canary empty": {
			canary: v1alpha1.CanaryStrategy{MinPodsPerReplicaSet: ptr32(2)}, replicas: 10, steps: []v1alpha1.CanaryStep{weight(0)}, want: want{0, 10}},
		"dynamicStableScale: stable runs the remaining weight once the router carries it": {
			canary: v1alpha1.CanaryStrategy{DynamicStableScale: true}, replicas: 10, steps: []v1alpha1.CanaryStep{weight(30)},
			weights: &[2]int32{30, 70}, want: want{3, 7}},
		"dynamicStableScale: stable stays up while the router still sends it everything": {
			canary: v1alpha1.CanaryStrategy{DynamicStableScale: true}, replicas: 10, steps: []v1alpha1.CanaryStep{weight(30)},
			weights: &[2]int32{0, 100}, want: want{3, 10}},
		"dynamicStableScale with maxTrafficWeight 1000 rounds up": {
			canary:   v1alpha1.CanaryStrategy{DynamicStableScale: true, TrafficRouting: &v1alpha1.RolloutTrafficRouting{MaxTrafficWeight: ptr32(1000)}},
			replicas: 10, steps: []v1alpha1.CanaryStep{weight(5)}, weights: &[2]int32{5, 995}, want: want{1, 10}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := tc.canary
			c.Steps = tc.steps
			if c.TrafficRouting == nil {
				c.TrafficRouting = &v1alpha1.RolloutTrafficRouting{}
			}
			st := &v1alpha1.RolloutStatus{StableRS: "s", CurrentPodHash: "n", CurrentStepIndex: ptr32(int32(len(tc.steps) - 1)), Abort: tc.abort}
			var w *v1alpha1.TrafficWeights
			if tc.weights != nil {
				w = &v1alpha1.TrafficWeights{Canary: v1alpha1.WeightDestination{Weight: tc.weights[0]}, Stable: v1alpha1.WeightDestination{Weight: tc.weights[1]}}
			}
			sets := CanarySets{New: &Pods{}, Stable: &Pods{tc.replicas, tc.replicas, tc.replicas}}
			n, s := RoutedCanaryCounts(&c, tc.replicas, st, sets, w)
			if diff := cmp.Diff(tc.want, want{n, s}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestActiveCanaryScale(t *testing.T) {
	three := &v1alpha1.SetCanaryScale{Replicas: ptr32(3)}
	steps := []v1alpha1.CanaryStep{weight(10), {SetCanaryScale: three}, weight(20), {SetCanaryScale: &v1alpha1.SetCanaryScale{MatchTrafficWeight: true}}, weight(50)}
	tests := map[string]struct {
		idx  int32
		want *v1alpha1.SetCanaryScale
	}{
		"before any setCanaryScale":                 {0, nil},
		"at the step":                               {1, three},
		"kept by a later setWeight":                 {2, three},
		"matchTrafficWeight ends it":                {3, nil},
		"and stays ended":                           {4, nil},
		"steps done: the canary goes to full size":  {5, nil},
		"an index past the steps is handled safely": {9, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := ActiveCanaryScale(steps, tc.idx); got != tc.want {
				t.Errorf("ActiveCanaryScale(%d) = %v, want %v", tc.idx, got, tc.want)
			}
		})
	}
}
