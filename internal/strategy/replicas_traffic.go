package strategy

import (
	"github.com/vanedev/vane/api/v1alpha1"
)

// TrafficReplicas returns how many of replicas pods take weight (out of maxWeight) of the traffic
// when a traffic router splits it: the share rounded up, so that a ReplicaSet never gets more
// traffic than its pods can take (Argo's rule: 10 replicas at 15% run 2 canary pods, 4 at 25% run
// 1).
func TrafficReplicas(replicas, weight, maxWeight int32) int32 {
	if replicas <= 0 || weight <= 0 {
		return 0
	}
	if maxWeight <= 0 {
		maxWeight = 100
	}
	if weight >= maxWeight {
		return replicas
	}
	return int32((int64(replicas)*int64(weight) + int64(maxWeight) - 1) / int64(maxWeight))
}

// withMinPods raises a non-zero count to minPodsPerReplicaSet.
func withMinPods(c *v1alpha1.CanaryStrategy, n int32) int32 {
	if n <= 0 {
		return n
	}
	return max(n, c.EffectiveMinPodsPerReplicaSet())
}

// ActiveCanaryScale returns the setCanaryScale in effect at step idx: the last one at or before
// idx, unless it says matchTrafficWeight. None once the steps are done.
func ActiveCanaryScale(steps []v1alpha1.CanaryStep, idx int32) *v1alpha1.SetCanaryScale {
	if idx < 0 || idx >= int32(len(steps)) {
		return nil
	}
	for i := idx; i >= 0; i-- {
		if s := steps[i].SetCanaryScale; s != nil {
			if s.MatchTrafficWeight {
				return nil
			}
			return s
		}
	}
	return nil
}

// RoutedCanaryReplicas is the canary's size with a traffic router at weight: setCanaryScale
// (replicas, or weight as a percentage of spec.replicas) when one is in effect, otherwise the
// traffic weight's share of replicas rounded up, and at least minPodsPerReplicaSet when not 0.
func RoutedCanaryReplicas(c *v1alpha1.CanaryStrategy, scale *v1alpha1.SetCanaryScale, replicas, weight int32) int32 {
	switch {
	case scale != nil && scale.Replicas != nil:
		return max(*scale.Replicas, 0)
	case scale != nil && scale.Weight != nil:
		return withMinPods(c, TrafficReplicas(replicas, *scale.Weight, 100))
	}
	return withMinPods(c, TrafficReplicas(replicas, weight, c.EffectiveMaxTrafficWeight()))
}

// RoutedStableReplicas is the stable's size with a traffic router: all of replicas, or with
// dynamicStableScale the share of the highest stable weight among those given (the step's
// remainder, and the stable weights the router carries or is about to), rounded up.
func RoutedStableReplicas(c *v1alpha1.CanaryStrategy, replicas int32, stableWeights ...int32) int32 {
	if !c.DynamicStableScale {
		return replicas
	}
	var w int32
	for _, sw := range stableWeights {
		w = max(w, sw)
	}
	return withMinPods(c, TrafficReplicas(replicas, w, c.EffectiveMaxTrafficWeight()))
}
