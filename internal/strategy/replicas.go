// Package strategy is Vane's pure rollout step engine: from a Rollout's spec and status and the
// ReplicaSets observed in the cluster it computes the next desired state (replica counts, step
// index, pause conditions, phase), with no Kubernetes client and an injected clock.
package strategy

import (
	"k8s.io/apimachinery/pkg/util/intstr"
)

// CanaryCounts returns how many canary and stable pods realise weight (0..maxWeight) of
// replicas without a traffic router: the canary count is the weighted share rounded to the
// nearest pod (ties round up), never 0 for a non-zero weight when there are 2+ replicas, and
// never all of them for a weight below the maximum when there are 2+ replicas. The stable
// ReplicaSet runs the rest. 10 replicas at 10% give 1/9, at 41% 4/6; 3 replicas at 10% give 1/2.
func CanaryCounts(replicas, weight, maxWeight int32) (canary, stable int32) {
	if replicas <= 0 {
		return 0, 0
	}
	if maxWeight <= 0 {
		maxWeight = 100
	}
	switch {
	case weight <= 0:
		return 0, replicas
	case weight >= maxWeight:
		return replicas, 0
	}
	// round(replicas*weight/maxWeight), ties up, in integers
	canary = int32((2*int64(replicas)*int64(weight) + int64(maxWeight)) / (2 * int64(maxWeight)))
	if replicas >= 2 {
		canary = max(canary, 1)
		canary = min(canary, replicas-1)
	}
	return canary, replicas - canary
}

// ActualWeight is the share of canary pods among all available pods, in percent.
func ActualWeight(canaryAvailable, totalAvailable int32) int32 {
	if totalAvailable <= 0 {
		return 0
	}
	return int32(int64(canaryAvailable) * 100 / int64(totalAvailable))
}

// Budget is how far a rollout may go beyond, and below, its desired size while it moves pods
// between ReplicaSets.
type Budget struct {
	// MaxSurge pods above spec.replicas.
	MaxSurge int32
	// MaxUnavailable pods below spec.replicas.
	MaxUnavailable int32
}

// ResolveBudget turns maxSurge (rounded up) and maxUnavailable (rounded down) into pod counts for
// replicas, as Deployments do. When both come out 0, one pod may be unavailable, so that a
// rollout can always move.
func ResolveBudget(maxSurge, maxUnavailable intstr.IntOrString, replicas int32) (Budget, error) {
	surge, err := intstr.GetScaledValueFromIntOrPercent(&maxSurge, int(replicas), true)
	if err != nil {
		return Budget{}, err
	}
	unavailable, err := intstr.GetScaledValueFromIntOrPercent(&maxUnavailable, int(replicas), false)
	if err != nil {
		return Budget{}, err
	}
	b := Budget{MaxSurge: int32(max(surge, 0)), MaxUnavailable: int32(max(unavailable, 0))}
	if b.MaxSurge == 0 && b.MaxUnavailable == 0 {
		b.MaxUnavailable = 1
	}
	return b, nil
}

// Pods is what the engine observes of one ReplicaSet.
type Pods struct {
	// Spec is the ReplicaSet's spec.replicas.
	Spec int32
	// Current is status.replicas: pods that exist.
	Current int32
	// Available is status.availableReplicas.
	Available int32
}

// Step moves sets towards targets (same order, same length) within budget for a rollout of
// replicas pods, and returns the spec.replicas each set gets now. Scaling up stops at
// replicas+MaxSurge pods in all; scaling down removes unavailable pods freely and available
// pods only while replicas-MaxUnavailable stay available.
func Step(sets []Pods, targets []int32, replicas int32, b Budget) []int32 {
	next := make([]int32, len(sets))
	var total, available int32
	for i, s := range sets {
		next[i] = s.Spec
		total += s.Spec
		available += min(s.Available, s.Spec)
	}
	for i := range sets {
		if up := targets[i] - next[i]; up > 0 {
			room := replicas + b.MaxSurge - total
			inc := max(min(up, room), 0)
			next[i] += inc
			total += inc
		}
	}
	spare := available - (replicas - b.MaxUnavailable)
	for i, s := range sets {
		down := next[i] - targets[i]
		if down <= 0 {
			continue
		}
		unavailable := max(s.Spec-min(s.Available, s.Spec), 0)
		dec := min(down, unavailable+max(spare, 0))
		next[i] -= dec
		spare -= max(dec-unavailable, 0)
	}
	return next
}
