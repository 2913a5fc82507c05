package main

// The replica arithmetic of Argo's canary, as Argo's own functions compute it
// (utils/replicaset: MaxSurge, MaxUnavailable, CalculateReplicaCountsForBasicCanary,
// NewRSNewReplicas, CalculateReplicaCountsForTrafficRoutedCanary,
// AtDesiredReplicaCountsForCanary), written to testdata/argo/replicas.json:
//
//   - budget: maxSurge and maxUnavailable resolved for a number of replicas;
//   - basic: one call of CalculateReplicaCountsForBasicCanary (and AtDesiredReplicaCountsForCanary)
//     on a pseudo-random ReplicaSet state (any availability, with or without a stable and older
//     ReplicaSets, aborted or not);
//   - up, abort, older, promoted: trajectories of a basic canary whose pods are all available at
//     once, reconcile after reconcile until nothing scales any more (see replay);
//   - routed: one call of CalculateReplicaCountsForTrafficRoutedCanary (and
//     AtDesiredReplicaCountsForCanary) on a pseudo-random traffic-routed state (setCanaryScale,
//     dynamicStableScale, minPodsPerReplicaSet, maxTrafficWeight, status.canary.weights, abort).
//
// The random states come from a fixed-seed generator of our own, so that the file only changes
// when Argo's arithmetic or this grid does.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/argoproj/argo-rollouts/utils/annotations"
	replicasetutil "github.com/argoproj/argo-rollouts/utils/replicaset"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Pods is a ReplicaSet's [spec.replicas, status.replicas, status.availableReplicas].
type Pods [3]int32

// BudgetCase is maxSurge and maxUnavailable of a canary, resolved by Argo for Replicas.
type BudgetCase struct {
	Replicas       int32  `json:"r"`
	MaxSurge       string `json:"s"`
	MaxUnavailable string `json:"u"`
	// Want is [MaxSurge, MaxUnavailable].
	Want [2]int32 `json:"want"`
}

// BasicCase is one call of CalculateReplicaCountsForBasicCanary. The rollout has the steps
// [setWeight: Weight, pause: {}] at step 0, its stable ReplicaSet is "stable" and its new one
// "new" (revision 3 and 2 of them; older ones have revision 1, 0, ...).
type BasicCase struct {
	Replicas       int32  `json:"r"`
	MaxSurge       string `json:"s"`
	MaxUnavailable string `json:"u"`
	Weight         int32  `json:"w"`
	Abort          bool   `json:"abort,omitempty"`
	New            Pods   `json:"new"`
	// Stable is nil when the rollout's stable ReplicaSet does not exist, or (StableIsNew) is
	// the new one: the update is complete.
	Stable      *Pods  `json:"stable"`
	StableIsNew bool   `json:"stableIsNew,omitempty"`
	Older       []Pods `json:"older,omitempty"`
	// Want is Argo's [new, stable] replica counts; AtDesired whether the counts are reached.
	Want      [2]int32 `json:"want"`
	AtDesired bool     `json:"at"`
}

// Trajectory is a basic canary replayed reconcile after reconcile (see replay), with every pod
// available as soon as it exists. Start and each entry of a path are the spec.replicas of
// [new, stable, older...] (Promoted: the new ReplicaSet is the stable one, and the entries are
// [new, older...]); a path lists the state after each reconcile that scaled something.
type Trajectory struct {
	Replicas       int32  `json:"r"`
	MaxSurge       string `json:"s"`
	MaxUnavailable string `json:"u"`
	Weight         int32  `json:"w"`
	Promoted       bool   `json:"promoted,omitempty"`
	// Start is omitted in Up, which starts at [0, replicas].
	Start []int32 `json:"start,omitempty"`
	// Path goes from Start at Weight.
	Path [][]int32 `json:"path"`
	// Abort (up only) goes on from the end of Path once the update is aborted.
	Abort [][]int32 `json:"abort,omitempty"`
}

// RoutedCase is one call of CalculateReplicaCountsForTrafficRoutedCanary. Steps are "w<N>"
// (setWeight), "scale:r<N>", "scale:w<N>", "scale:match" (setCanaryScale) and "pause"; the
// rollout is at step Index (len(Steps): done).
type RoutedCase struct {
	Replicas         int32    `json:"r"`
	MaxTrafficWeight *int32   `json:"maxW,omitempty"`
	Steps            []string `json:"steps"`
	Index            int32    `json:"index"`
	Dynamic          bool     `json:"dynamic,omitempty"`
	MinPods          *int32   `json:"minPods,omitempty"`
	Abort            bool     `json:"abort,omitempty"`
	AbortDelay       *int32   `json:"abortDelay,omitempty"`
	PromoteFull      bool     `json:"full,omitempty"`
	// Weights is status.canary.weights as [canary, stable] (nil: none recorded).
	Weights   *[2]int32 `json:"weights,omitempty"`
	New       Pods      `json:"new"`
	Stable    *Pods     `json:"stable"`
	Want      [2]int32  `json:"want"`
	AtDesired bool      `json:"at"`
}

// Replicas is testdata/argo/replicas.json.
type Replicas struct {
	Budget []BudgetCase `json:"budget"`
	Basic  []BasicCase  `json:"basic"`
	// Up starts with every pod on the stable ReplicaSet, and aborts at its end.
	Up []Trajectory `json:"up"`
	// Older starts with an older ReplicaSet or two still scaled up (an update superseded
	// mid-way).
	Older []Trajectory `json:"older"`
	// Promoted starts right after the update completed: the previous stable is older now.
	Promoted []Trajectory `json:"promoted"`
	Routed   []RoutedCase `json:"routed"`
}

var (
	gridReplicas = []int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 100}
	gridWeights  = []int32{0, 1, 5, 10, 20, 25, 33, 50, 66, 75, 90, 99, 100}
	gridBudget   = []string{"0", "1", "2", "0%", "10%", "25%", "50%"}
)

// writeReplicas writes replicas.json into dir.
func writeReplicas(dir string) error {
	var out Replicas
	for _, r := range append([]int32{0}, gridReplicas...) {
		forBudgets(func(s, u string) {
			ro := basicRollout(r, s, u, 0, false)
			out.Budget = append(out.Budget, BudgetCase{Replicas: r, MaxSurge: s, MaxUnavailable: u,
				Want: [2]int32{replicasetutil.MaxSurge(ro), replicasetutil.MaxUnavailable(ro)}})
		})
	}
	rnd := newRand(20260512)
	for range 2000 {
		out.Basic = append(out.Basic, basicCase(rnd))
	}
	for _, r := range gridReplicas {
		forBudgets(func(s, u string) {
			for _, w := range gridWeights {
				up := replay(r, s, u, w, false, false, []int32{0, r})
				last := up.Start
				if n := len(up.Path); n > 0 {
					last = up.Path[n-1]
				}
				up.Abort = replay(r, s, u, w, true, false, last).Path
				up.Start = nil
				out.Up = append(out.Up, up)
			}
			if r > 20 {
				return // the up trajectories have the large counts
			}
			for _, w := range []int32{10, 50, 100} {
				for _, k := range dedup(1, r/2) {
					// an update superseded mid-way: k pods on the intermediate canary
					out.Older = append(out.Older, replay(r, s, u, w, false, false, []int32{0, r - k, k}))
				}
				if r >= 2 {
					out.Older = append(out.Older, replay(r, s, u, w, false, false, []int32{0, r - 1, 1, 1}))
				}
			}
			for _, k := range dedup(1, r/2, r) {
				// completed: the previous stable is an older ReplicaSet now
				out.Promoted = append(out.Promoted, replay(r, s, u, 100, false, true, []int32{r, k}))
			}
		})
	}
	rnd = newRand(20260513)
	for range 2000 {
		out.Routed = append(out.Routed, routedCase(rnd))
	}
	return writeCompact(filepath.Join(dir, "replicas.json"), out)
}

// forBudgets calls f for every maxSurge and maxUnavailable of the grid that Argo's validation
// accepts (not both zero).
func forBudgets(f func(surge, unavailable string)) {
	for _, s := range gridBudget {
		for _, u := range gridBudget {
			if isZero(s) && isZero(u) {
				continue
			}
			f(s, u)
		}
	}
}

func isZero(v string) bool { return strings.TrimSuffix(v, "%") == "0" }

func dedup(vs ...int32) []int32 {
	var out []int32
	for _, v := range vs {
		if v > 0 && (len(out) == 0 || out[len(out)-1] != v) {
			out = append(out, v)
		}
	}
	return out
}

func intOrPercent(s string) *intstr.IntOrString {
	if strings.HasSuffix(s, "%") {
		v := intstr.FromString(s)
		return &v
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	v := intstr.FromInt32(int32(n))
	return &v
}

func ptr[T any](v T) *T { return &v }

// basicRollout is a canary of replicas pods at [setWeight: weight, pause: {}], step 0, updating
// from "stable" to "new".
func basicRollout(replicas int32, surge, unavailable string, weight int32, abort bool) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		Spec: v1alpha1.RolloutSpec{Replicas: ptr(replicas), Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			MaxSurge: intOrPercent(surge), MaxUnavailable: intOrPercent(unavailable),
			Steps: []v1alpha1.CanaryStep{{SetWeight: ptr(weight)}, {Pause: &v1alpha1.RolloutPause{}}},
		}}},
		Status: v1alpha1.RolloutStatus{StableRS: "stable", CurrentPodHash: "new", CurrentStepIndex: ptr[int32](0), Abort: abort},
	}
}

func replicaSet(hash string, revision int, p Pods) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ro-" + hash, Labels: map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: hash},
			Annotations: map[string]string{annotations.RevisionAnnotation: strconv.Itoa(revision)}},
		Spec:   appsv1.ReplicaSetSpec{Replicas: ptr(p[0])},
		Status: appsv1.ReplicaSetStatus{Replicas: p[1], AvailableReplicas: p[2]},
	}
}

func olderSets(older []Pods) []*appsv1.ReplicaSet {
	out := []*appsv1.ReplicaSet{}
	for i, p := range older {
		out = append(out, replicaSet(fmt.Sprintf("older%d", i), 1-i, p))
	}
	return out
}

// randomPods is a ReplicaSet of at most limit pods in any state of availability: more pods may
// exist or be available than spec.replicas while it scales down.
func randomPods(rnd *splitmix, limit int32) Pods {
	spec := rnd.n(limit + 1)
	avail := rnd.n(spec + 2)
	current := max(spec, avail)
	if rnd.n(3) == 0 {
		current = avail + rnd.n(2)
	}
	return Pods{spec, current, avail}
}

func basicCase(rnd *splitmix) BasicCase {
	r := []int32{0, 1, 2, 3, 4, 5, 7, 10, 20}[rnd.n(9)]
	s, u := "0", "0"
	for isZero(s) && isZero(u) { // Argo's validation rejects both zero
		s, u = gridBudget[rnd.n(int32(len(gridBudget)))], gridBudget[rnd.n(int32(len(gridBudget)))]
	}
	c := BasicCase{Replicas: r, MaxSurge: s, MaxUnavailable: u, Weight: gridWeights[rnd.n(int32(len(gridWeights)))],
		Abort: rnd.n(8) == 0, New: randomPods(rnd, r+2)}
	switch rnd.n(16) {
	case 0: // no stable ReplicaSet
	case 1:
		c.StableIsNew = true
	default:
		c.Stable = ptr(randomPods(rnd, r+2))
	}
	for n := rnd.n(4) - 1; n > 0; n-- {
		c.Older = append(c.Older, randomPods(rnd, r))
	}
	ro := basicRollout(r, s, u, c.Weight, c.Abort)
	newRS := replicaSet("new", 3, c.New)
	var stableRS *appsv1.ReplicaSet
	switch {
	case c.Stable != nil:
		stableRS = replicaSet("stable", 2, *c.Stable)
	case c.StableIsNew:
		stableRS = newRS
		ro.Status.StableRS = "new"
	}
	older := olderSets(c.Older)
	n, st := replicasetutil.CalculateReplicaCountsForBasicCanary(ro, newRS, stableRS, older)
	c.Want = [2]int32{n, st}
	c.AtDesired = replicasetutil.AtDesiredReplicaCountsForCanary(ro, newRS, stableRS, older, nil)
	return c
}

// replay plays Argo's canary ReplicaSet reconciliation (rollout/canary.go
// reconcileCanaryReplicaSets) on ReplicaSets whose pods are available as soon as they exist,
// until a reconcile scales nothing. Each reconcile does the first of:
//
//  1. scale the stable ReplicaSet to CalculateReplicaCountsForBasicCanary's stable count
//     (reconcileCanaryStableReplicaSet);
//  2. scale the new ReplicaSet to NewRSNewReplicas (reconcileNewReplicaSet);
//  3. scale the older ReplicaSets down, newest revision first, by at most the available pods
//     above spec.replicas - MaxUnavailable in all (scaleDownOldReplicaSetsForCanary without a
//     traffic router; its unhealthy-replica cleanup has nothing to do when every pod is
//     available).
//
// Those rolloutContext methods are not exported; the order and the older ReplicaSets' step are
// restated here around Argo's exported functions.
func replay(r int32, s, u string, w int32, abort, promoted bool, start []int32) Trajectory {
	c := Trajectory{Replicas: r, MaxSurge: s, MaxUnavailable: u, Weight: w, Promoted: promoted,
		Start: append([]int32(nil), start...), Path: [][]int32{}}
	ro := basicRollout(r, s, u, w, abort)
	full := func(n int32) Pods { return Pods{n, n, n} }
	newRS := replicaSet("new", 3, full(start[0]))
	stableRS := newRS
	rest := start[1:]
	if promoted {
		ro.Status.StableRS = "new"
	} else {
		stableRS = replicaSet("stable", 2, full(start[1]))
		rest = start[2:]
	}
	var older []*appsv1.ReplicaSet
	for i, n := range rest {
		older = append(older, replicaSet(fmt.Sprintf("older%d", i), 1-i, full(n)))
	}
	all := append([]*appsv1.ReplicaSet{newRS}, older...)
	if !promoted {
		all = append(all, stableRS)
	}
	state := func() []int32 {
		out := []int32{*newRS.Spec.Replicas}
		if !promoted {
			out = append(out, *stableRS.Spec.Replicas)
		}
		for _, o := range older {
			out = append(out, *o.Spec.Replicas)
		}
		return out
	}
	for i := 0; i < 1000 && reconcileOnce(ro, newRS, stableRS, older, all); i++ {
		c.Path = append(c.Path, state())
	}
	return c
}

func scaleTo(rs *appsv1.ReplicaSet, n int32) {
	rs.Spec.Replicas = ptr(n)
	rs.Status.Replicas, rs.Status.AvailableReplicas = n, n
}

// reconcileOnce is one reconcile of replay; it reports whether it scaled anything.
func reconcileOnce(ro *v1alpha1.Rollout, newRS, stableRS *appsv1.ReplicaSet, older, all []*appsv1.ReplicaSet) bool {
	if replicasetutil.CheckStableRSExists(newRS, stableRS) {
		_, s := replicasetutil.CalculateReplicaCountsForBasicCanary(ro, newRS, stableRS, older)
		if s != *stableRS.Spec.Replicas {
			scaleTo(stableRS, s)
			return true
		}
	}
	n, err := replicasetutil.NewRSNewReplicas(ro, all, newRS, nil)
	if err != nil {
		panic(err)
	}
	if n != *newRS.Spec.Replicas {
		scaleTo(newRS, n)
		return true
	}
	if replicasetutil.GetReplicaCountForReplicaSets(older) == 0 {
		return false
	}
	maxScaleDown := replicasetutil.GetAvailableReplicaCountForReplicaSets(all) - (*ro.Spec.Replicas - replicasetutil.MaxUnavailable(ro))
	byRevision := append([]*appsv1.ReplicaSet(nil), older...)
	sort.Sort(sort.Reverse(replicasetutil.ReplicaSetsByRevisionNumber(byRevision)))
	scaled := false
	for _, rs := range byRevision {
		if maxScaleDown <= 0 {
			break
		}
		spec := *rs.Spec.Replicas
		if spec == 0 {
			continue
		}
		desired := max(spec-maxScaleDown, 0)
		scaleTo(rs, desired)
		maxScaleDown -= spec - desired
		scaled = true
	}
	return scaled
}

func routedCase(rnd *splitmix) RoutedCase {
	c := RoutedCase{Replicas: []int32{0, 1, 2, 3, 4, 5, 7, 10, 20}[rnd.n(9)]}
	maxW := int32(100)
	if rnd.n(4) == 0 {
		maxW = 1000
		c.MaxTrafficWeight = ptr(maxW)
	}
	weightOf := func() int32 {
		w := gridWeights[rnd.n(int32(len(gridWeights)))]
		return w * maxW / 100
	}
	scales := []string{"pause", fmt.Sprintf("scale:r%d", rnd.n(c.Replicas+2)), fmt.Sprintf("scale:w%d", weightOf()), "scale:match"}
	c.Steps = []string{fmt.Sprintf("w%d", weightOf()), scales[rnd.n(4)], fmt.Sprintf("w%d", weightOf()), scales[rnd.n(4)], "pause"}
	c.Index = rnd.n(int32(len(c.Steps)) + 1)
	c.Dynamic = rnd.n(2) == 0
	if rnd.n(2) == 0 {
		c.MinPods = ptr(rnd.n(4) + 1)
	}
	c.Abort = rnd.n(4) == 0
	if d := rnd.n(3); d > 0 {
		c.AbortDelay = ptr([]int32{0, 0, 30}[d])
	}
	c.PromoteFull = rnd.n(10) == 0
	if rnd.n(4) != 0 {
		cw := weightOf()
		c.Weights = &[2]int32{cw, maxW - cw}
	}
	c.New = randomPods(rnd, c.Replicas+1)
	if rnd.n(16) != 0 {
		c.Stable = ptr(randomPods(rnd, c.Replicas+1))
	}

	ro := routedRollout(c)
	newRS := replicaSet("new", 3, c.New)
	var stableRS *appsv1.ReplicaSet
	if c.Stable != nil {
		stableRS = replicaSet("stable", 2, *c.Stable)
	}
	var weights *v1alpha1.TrafficWeights
	if c.Weights != nil {
		weights = &v1alpha1.TrafficWeights{Canary: v1alpha1.WeightDestination{Weight: c.Weights[0], PodTemplateHash: "new"},
			Stable: v1alpha1.WeightDestination{Weight: c.Weights[1], PodTemplateHash: "stable"}}
	}
	n, s := replicasetutil.CalculateReplicaCountsForTrafficRoutedCanary(ro, newRS, stableRS, weights)
	c.Want = [2]int32{n, s}
	c.AtDesired = replicasetutil.AtDesiredReplicaCountsForCanary(ro, newRS, stableRS, nil, weights)
	return c
}

func routedRollout(c RoutedCase) *v1alpha1.Rollout {
	var steps []v1alpha1.CanaryStep
	for _, s := range c.Steps {
		steps = append(steps, parseStep(s))
	}
	return &v1alpha1.Rollout{
		Spec: v1alpha1.RolloutSpec{Replicas: ptr(c.Replicas), Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			Steps: steps, DynamicStableScale: c.Dynamic, MinPodsPerReplicaSet: c.MinPods, AbortScaleDownDelaySeconds: c.AbortDelay,
			CanaryService: "canary", StableService: "stable",
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{MaxTrafficWeight: c.MaxTrafficWeight,
				Plugins: map[string]json.RawMessage{"example/router": json.RawMessage(`{}`)}},
		}}},
		Status: v1alpha1.RolloutStatus{StableRS: "stable", CurrentPodHash: "new", CurrentStepIndex: ptr(c.Index),
			Abort: c.Abort, PromoteFull: c.PromoteFull},
	}
}

func parseStep(s string) v1alpha1.CanaryStep {
	num := func(p string) *int32 {
		n, err := strconv.Atoi(strings.TrimPrefix(s, p))
		if err != nil {
			panic(s)
		}
		return ptr(int32(n))
	}
	switch {
	case s == "pause":
		return v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{}}
	case s == "scale:match":
		return v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{MatchTrafficWeight: true}}
	case strings.HasPrefix(s, "scale:r"):
		return v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: num("scale:r")}}
	case strings.HasPrefix(s, "scale:w"):
		return v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Weight: num("scale:w")}}
	default:
		return v1alpha1.CanaryStep{SetWeight: num("w")}
	}
}

// splitmix is splitmix64: a generator whose sequence no Go release changes.
type splitmix struct{ state uint64 }

func newRand(seed uint64) *splitmix { return &splitmix{state: seed} }

// n returns a number in [0, limit) (0 when limit <= 0).
func (r *splitmix) n(limit int32) int32 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	if limit <= 0 {
		return 0
	}
	return int32(z % uint64(limit))
}

// writeCompact writes v as JSON with one case a line, so that a change of Argo's figures shows
// as a readable diff.
func writeCompact(path string, v Replicas) error {
	var b bytes.Buffer
	b.WriteString("{")
	families := []struct {
		name  string
		cases any
	}{{"budget", v.Budget}, {"basic", v.Basic}, {"up", v.Up}, {"older", v.Older}, {"promoted", v.Promoted}, {"routed", v.Routed}}
	for i, f := range families {
		raw, err := json.Marshal(f.cases)
		if err != nil {
			return err
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return err
		}
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n%q: [", f.name)
		for j, it := range items {
			if j > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n")
			b.Write(it)
		}
		b.WriteString("\n]")
	}
	b.WriteString("\n}\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
