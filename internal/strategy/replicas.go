// Package strategy is Vane's pure rollout step engine: from a Rollout's spec and status and the
// ReplicaSets observed in the cluster it computes the next desired state (replica counts, step
// index, pause conditions, phase), with no Kubernetes client and an injected clock.
package strategy

import (
	"math"
	"sort"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/vanedev/vane/api/v1alpha1"
)

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

// ResolveBudget turns maxSurge (a percentage rounded up) and maxUnavailable (rounded down) into
// pod counts for replicas, as Argo does for a canary: when both come out 0 one pod may be
// unavailable, so that the rollout can always move; maxUnavailable never exceeds replicas, and
// is 0 for a rollout of 0 replicas. A maxSurge too large to add to replicas in an int32 (people
// write 2147483647 for "no limit") is as large as can be added: it allows every pod at once
// instead of overflowing into a ceiling below zero that stops the rollout.
func ResolveBudget(maxSurge, maxUnavailable intstr.IntOrString, replicas int32) (Budget, error) {
	surge, err := intstr.GetScaledValueFromIntOrPercent(&maxSurge, int(replicas), true)
	if err != nil {
		return Budget{}, err
	}
	unavailable, err := intstr.GetScaledValueFromIntOrPercent(&maxUnavailable, int(replicas), false)
	if err != nil {
		return Budget{}, err
	}
	surge = min(max(surge, 0), math.MaxInt32-int(max(replicas, 0)))
	b := Budget{MaxSurge: int32(surge), MaxUnavailable: int32(min(max(unavailable, 0), math.MaxInt32))}
	if b.MaxSurge == 0 && b.MaxUnavailable == 0 {
		b.MaxUnavailable = 1
	}
	b.MaxUnavailable = min(b.MaxUnavailable, max(replicas, 0))
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

// CanarySets are a canary update's ReplicaSets as the replica arithmetic sees them.
type CanarySets struct {
	// New is the ReplicaSet of the current template (nil: none yet).
	New *Pods
	// Stable is the stable ReplicaSet: nil when it does not exist, New itself once the new
	// ReplicaSet is the stable one.
	Stable *Pods
	// Older are the other ReplicaSets.
	Older []Pods
}

// stableDiffers reports whether the update has a stable ReplicaSet apart from the new one.
func (s CanarySets) stableDiffers() bool { return s.Stable != nil && s.Stable != s.New }

func specOf(p *Pods) int32 {
	if p == nil {
		return 0
	}
	return p.Spec
}

func olderSpec(older []Pods) int32 {
	var n int32
	for _, o := range older {
		n += o.Spec
	}
	return n
}

// BasicCanaryCounts returns the spec.replicas the new and the stable ReplicaSet move to next
// in a canary without a traffic router (Argo's CalculateReplicaCountsForBasicCanary), for
// weight (out of maxWeight) of replicas pods:
//
//   - the goal is ApproximateCounts (all pods on the new ReplicaSet when there is no distinct
//     stable one);
//   - both grow, the stable first, while all ReplicaSets together stay within replicas+MaxSurge;
//   - while older ReplicaSets have pods, nothing shrinks: they are scaled down first;
//   - then one of them shrinks towards its goal while replicas-MaxUnavailable pods stay
//     available: the stable while the canary grows (counting the canary's available pods and
//     the stable's desired ones), the canary while it shrinks (the other way round).
func BasicCanaryCounts(sets CanarySets, replicas, weight, maxWeight int32, b Budget) (newCount, stableCount int32) {
	wantNew, wantStable := ApproximateCounts(replicas, weight, maxWeight, b.MaxSurge)
	if !sets.stableDiffers() {
		wantNew, wantStable = replicas, 0
	}
	newCount = specOf(sets.New)
	if sets.stableDiffers() {
		stableCount = sets.Stable.Spec
	}
	ceiling := replicas + b.MaxSurge
	room := ceiling - newCount - olderSpec(sets.Older)
	if sets.stableDiffers() {
		room -= stableCount
		if grow := min(wantStable-stableCount, room); grow > 0 {
			stableCount += grow
			room -= grow
		}
	}
	if sets.New != nil {
		newCount += max(min(wantNew-newCount, room), 0)
	}
	if olderSpec(sets.Older) > 0 {
		return newCount, stableCount
	}
	floor := replicas - b.MaxUnavailable
	growing := sets.New == nil || wantNew >= sets.New.Spec
	counted := podsForScaleDown(sets.New, !growing) + podsForScaleDown(sets.Stable, growing)
	if counted <= floor {
		return newCount, stableCount
	}
	spare := counted - floor
	switch {
	case !growing:
		newCount = drainTowards(sets.New, wantNew, spare, newCount)
		newCount, stableCount = keepWithinBudget(sets.New, sets.Stable, newCount, stableCount, ceiling, floor)
	case sets.stableDiffers():
		stableCount = drainTowards(sets.Stable, wantStable, spare, stableCount)
		stableCount, newCount = keepWithinBudget(sets.Stable, sets.New, stableCount, newCount, ceiling, floor)
	}
	return newCount, stableCount
}

// podsForScaleDown is what a ReplicaSet counts towards the pods that must stay available: its
// available pods, or its spec.replicas when that is lower or when its availability is ignored.
func podsForScaleDown(p *Pods, ignoreAvailability bool) int32 {
	switch {
	case p == nil:
		return 0
	case p.Spec < p.Available, ignoreAvailability:
		return p.Spec
	}
	return p.Available
}

// drainTowards lowers a ReplicaSet above its goal by up to spare pods, never below the goal.
func drainTowards(p *Pods, goal, spare, count int32) int32 {
	if p != nil && p.Spec > goal {
		return max(goal, p.Spec-spare)
	}
	return count
}

// keepWithinBudget corrects the counts of the ReplicaSet being drained and of the other one so
// that together they stay within ceiling pods, giving the other one back pods it would lose
// while fewer than floor would be available.
func keepWithinBudget(drain, other *Pods, drainCount, otherCount, ceiling, floor int32) (int32, int32) {
	if other == nil {
		return drainCount, otherCount
	}
	available := int32(0)
	if drain != nil {
		available = min(drain.Available, drainCount)
	}
	otherCount -= max(0, otherCount+drainCount-ceiling)
	available += min(other.Available, otherCount)
	lost := max(0, other.Available-otherCount)
	otherCount += min(lost, max(0, floor-available))
	drainCount -= max(0, otherCount+drainCount-ceiling)
	return drainCount, otherCount
}

// ApproximateCounts returns the canary and stable counts whose ratio comes closest to weight
// (out of maxWeight) for replicas pods (Argo's approximateWeightedCanaryStableReplicaCounts):
// the weighted share rounded either way (a tie rounds up), of replicas pods or, when maxSurge
// allows, of replicas+1; a weight strictly between 0 and maxWeight never gets 0 canary pods
// (unless a single pod cannot surge) nor all of them. 3 replicas at 10% give 1 canary and 3
// stable pods; at 50% 2 and 2.
func ApproximateCounts(replicas, weight, maxWeight, maxSurge int32) (canary, stable int32) {
	if replicas == 0 {
		return 0, 0
	}
	share := float64(int64(replicas)*int64(weight)) / float64(maxWeight)
	up, down := int32(math.Ceil(share)), int32(math.Floor(share))
	zeroOK := weight == maxWeight || weight == 0 || (replicas == 1 && maxSurge == 0)
	type option struct{ canary, total int32 }
	var options []option
	for _, total := range []int32{replicas, replicas + 1} {
		if total > replicas && maxSurge <= 0 {
			break
		}
		if up < replicas || zeroOK || total > replicas {
			options = append(options, option{up, total})
		}
		if !halfway(weight, maxWeight, total) && (down != 0 || zeroOK) {
			options = append(options, option{down, total})
		}
	}
	if len(options) == 0 {
		return 0, replicas
	}
	best := options[0]
	for _, o := range options[1:] {
		if weightError(weight, maxWeight, o.canary, o.total) < weightError(weight, maxWeight, best.canary, best.total) {
			best = o
		}
	}
	return best.canary, best.total - best.canary
}

// halfway reports whether weight's share of total pods lies exactly between two counts.
func halfway(weight, maxWeight, total int32) bool {
	_, frac := math.Modf(float64(total) * (float64(weight) / float64(maxWeight)))
	return frac == 0.5
}

// weightError is how far canary pods out of total are from weight.
func weightError(weight, maxWeight, canary, total int32) float64 {
	return math.Abs(float64(int64(canary)*int64(maxWeight))/float64(total) - float64(weight))
}

// OlderSet is a ReplicaSet that is neither the new nor the stable one.
type OlderSet struct {
	Hash     string
	Pods     Pods
	Revision int64
}

// ScaleDownOlder returns the spec.replicas of the older ReplicaSets that change in a canary
// without a traffic router (Argo's scaleDownOldReplicaSetsForCanary): first each one drops its
// unavailable pods (oldest first; a ReplicaSet with more available pods than spec.replicas
// stops this reconcile there), then the newest ones lose available pods while more than
// replicas-maxUnavailable pods of all the ReplicaSets (totalAvailable) are available.
func ScaleDownOlder(older []OlderSet, totalAvailable, replicas, maxUnavailable int32) map[string]int32 {
	out := map[string]int32{}
	sets := append([]OlderSet(nil), older...)
	sort.SliceStable(sets, func(i, j int) bool { return sets[i].Revision < sets[j].Revision })
	for i := range sets {
		p := &sets[i].Pods
		if p.Spec == 0 || p.Spec == p.Available {
			continue
		}
		if p.Available > p.Spec {
			return out
		}
		p.Spec = p.Available
		out[sets[i].Hash] = p.Spec
	}
	spare := totalAvailable - (replicas - maxUnavailable)
	for i := len(sets) - 1; i >= 0 && spare > 0; i-- {
		spec := sets[i].Pods.Spec
		if spec == 0 {
			continue
		}
		keep := max(spec-spare, 0)
		out[sets[i].Hash] = keep
		spare -= spec - keep
	}
	return out
}

// BudgetOf is the surge and unavailability budget of a rollout of replicas pods: a canary's
// maxSurge and maxUnavailable, a blue/green's maxUnavailable (it never surges).
func BudgetOf(ro *v1alpha1.Rollout, replicas int32) (Budget, error) {
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		return ResolveBudget(intstr.FromInt32(0), bg.EffectiveMaxUnavailable(), replicas)
	}
	c := ro.Spec.Strategy.Canary
	return ResolveBudget(c.EffectiveMaxSurge(), c.EffectiveMaxUnavailable(), replicas)
}
