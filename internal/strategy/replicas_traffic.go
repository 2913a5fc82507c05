package strategy

import (
	"github.com/vanedev/vane/api/v1alpha1"
)

// TrafficReplicas returns how many of replicas pods take weight (out of maxWeight) of the traffic
// when a traffic router splits it: the share rounded up, so that a ReplicaSet never gets more
// traffic than its pods can take (Argo's trafficWeightToReplicas: 10 replicas at 15% run 2
// canary pods, 4 at 25% run 1).
func TrafficReplicas(replicas, weight, maxWeight int32) int32 {
	if replicas <= 0 || weight <= 0 {
		return 0
	}
	if maxWeight <= 0 {
		maxWeight = v1alpha1.DefaultMaxTrafficWeight
	}
	return int32((int64(replicas)*int64(weight) + int64(maxWeight) - 1) / int64(maxWeight))
}

// withMinPods raises a non-zero count to minPodsPerReplicaSet, itself at most replicas (Argo's
// CheckMinPodsPerReplicaSet; only with trafficRouting).
func withMinPods(c *v1alpha1.CanaryStrategy, replicas, n int32) int32 {
	if n == 0 || c.MinPodsPerReplicaSet == nil || c.TrafficRouting == nil {
		return n
	}
	return max(n, min(*c.MinPodsPerReplicaSet, replicas))
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

// canaryScale is the setCanaryScale that sizes the canary now (Argo's UseSetCanaryScale): only
// with trafficRouting, and not once the update is aborted unless abortScaleDownDelaySeconds is
// explicitly 0.
func canaryScale(c *v1alpha1.CanaryStrategy, st *v1alpha1.RolloutStatus) *v1alpha1.SetCanaryScale {
	if c.TrafficRouting == nil {
		return nil
	}
	if st.Abort && (c.AbortScaleDownDelaySeconds == nil || *c.AbortScaleDownDelaySeconds != 0) {
		return nil
	}
	return ActiveCanaryScale(c.Steps, stepIndex(st))
}

func stepIndex(st *v1alpha1.RolloutStatus) int32 {
	if st.CurrentStepIndex == nil {
		return 0
	}
	return *st.CurrentStepIndex
}

// CanaryScaleOrWeight returns what the canary is sized by now (Argo's GetCanaryReplicasOrWeight):
// a setCanaryScale's replicas (weight 0), or a weight out of maxTrafficWeight: the full weight
// once there is nothing to update or a full promotion was asked for, a setCanaryScale's weight,
// or the update's canary weight (DesiredCanaryWeight). newSet and stable are the new and the
// stable ReplicaSets (nil: none).
func CanaryScaleOrWeight(c *v1alpha1.CanaryStrategy, replicas int32, st *v1alpha1.RolloutStatus, newSet, stable *Pods) (*int32, int32) {
	if st.PromoteFull || st.StableRS == "" || st.CurrentPodHash == st.StableRS {
		return nil, c.EffectiveMaxTrafficWeight()
	}
	if s := canaryScale(c, st); s != nil {
		switch {
		case s.Replicas != nil:
			return s.Replicas, 0
		case s.Weight != nil:
			return nil, *s.Weight
		}
	}
	return nil, DesiredCanaryWeight(c, replicas, st, newSet, stable)
}

// DesiredCanaryWeight is the canary weight of the update (Argo's GetDesiredCanaryWeight): the
// last setWeight at or before the current step (the full weight once the steps are done), 0
// once aborted; but an aborted update with dynamicStableScale steps back down through its
// setWeight steps, to the highest one whose pods fewer than the canary still needs (the pods
// the stable lacks, or the canary's available pods) - 0 at the end.
func DesiredCanaryWeight(c *v1alpha1.CanaryStrategy, replicas int32, st *v1alpha1.RolloutStatus, newSet, stable *Pods) int32 {
	maxW := c.EffectiveMaxTrafficWeight()
	if st.Abort && c.DynamicStableScale && newSet != nil && stable != nil {
		needed := max(replicas-stable.Available, newSet.Available)
		for i := len(c.Steps) - 1; i >= 0; i-- {
			if w := c.Steps[i].SetWeight; w != nil && TrafficReplicas(replicas, *w, maxW) < needed {
				return *w
			}
		}
		return 0
	}
	if st.Abort {
		return 0
	}
	idx := stepIndex(st)
	if idx >= int32(len(c.Steps)) {
		return maxW
	}
	for i := idx; i >= 0; i-- {
		if w := c.Steps[i].SetWeight; w != nil {
			return *w
		}
	}
	return 0
}

// RoutedCanaryCounts returns the spec.replicas of the new and the stable ReplicaSet of a canary
// whose traffic a router splits (Argo's CalculateReplicaCountsForTrafficRoutedCanary); weights
// is status.canary.weights (nil: none recorded). maxSurge and maxUnavailable do not apply:
//
//   - the canary runs a setCanaryScale's replicas, or its weight's share of replicas rounded up
//     (at least minPodsPerReplicaSet when not 0);
//   - the stable keeps all replicas; with dynamicStableScale it runs the share of the higher of
//     the stable's weight in the goal and the stable weight the router carries, and an aborted
//     canary keeps the share of the canary weight the router still carries.
func RoutedCanaryCounts(c *v1alpha1.CanaryStrategy, replicas int32, st *v1alpha1.RolloutStatus, sets CanarySets, weights *v1alpha1.TrafficWeights) (newCount, stableCount int32) {
	maxW := c.EffectiveMaxTrafficWeight()
	scale, weight := CanaryScaleOrWeight(c, replicas, st, sets.New, sets.Stable)
	if scale != nil {
		newCount = *scale
	} else {
		newCount = withMinPods(c, replicas, TrafficReplicas(replicas, weight, maxW))
	}
	if !c.DynamicStableScale {
		return newCount, replicas
	}
	stableCount = TrafficReplicas(replicas, maxW-weight, maxW)
	if weights != nil {
		stableCount = max(stableCount, TrafficReplicas(replicas, weights.Stable.Weight, maxW))
		if st.Abort {
			newCount = max(newCount, TrafficReplicas(replicas, weights.Canary.Weight, maxW))
		}
	}
	return withMinPods(c, replicas, newCount), withMinPods(c, replicas, stableCount)
}

// AtDesiredCounts reports whether a canary's ReplicaSets are where the arithmetic wants them
// (Argo's AtDesiredReplicaCountsForCanary): the new ReplicaSet runs exactly newCount pods, all
// available; the stable runs exactly stableCount pods (not checked with a router and
// dynamicStableScale); and, without a router, no older ReplicaSet has an available pod.
func AtDesiredCounts(c *v1alpha1.CanaryStrategy, sets CanarySets, newCount, stableCount int32) bool {
	if sets.New == nil || sets.New.Spec != newCount || sets.New.Available != newCount {
		return false
	}
	routed := c.TrafficRouting != nil
	if !routed || !c.DynamicStableScale {
		if sets.Stable == nil || sets.Stable.Spec != stableCount || sets.Stable.Current != stableCount {
			return false
		}
	}
	if !routed {
		for _, o := range sets.Older {
			if o.Available != 0 {
				return false
			}
		}
	}
	return true
}
