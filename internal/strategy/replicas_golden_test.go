package strategy

// The golden tests compare Vane's canary arithmetic with testdata/argo/replicas.json, which
// Argo Rollouts' own functions computed (hack/tools/argo/golden/replicas.go, `make
// argo-golden`; the types there document the file).

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/vanedev/vane/api/v1alpha1"
)

// goldenPods is a ReplicaSet's [spec.replicas, status.replicas, status.availableReplicas].
type goldenPods [3]int32

func (g *goldenPods) pods() *Pods {
	if g == nil {
		return nil
	}
	return &Pods{Spec: g[0], Current: g[1], Available: g[2]}
}

type goldenFile struct {
	Budget []struct {
		Replicas int32    `json:"r"`
		Surge    string   `json:"s"`
		Unavail  string   `json:"u"`
		Want     [2]int32 `json:"want"`
	} `json:"budget"`
	Basic []struct {
		Replicas    int32        `json:"r"`
		Surge       string       `json:"s"`
		Unavail     string       `json:"u"`
		Weight      int32        `json:"w"`
		Abort       bool         `json:"abort"`
		New         goldenPods   `json:"new"`
		Stable      *goldenPods  `json:"stable"`
		StableIsNew bool         `json:"stableIsNew"`
		Older       []goldenPods `json:"older"`
		Want        [2]int32     `json:"want"`
		AtDesired   bool         `json:"at"`
	} `json:"basic"`
	Up       []goldenTrajectory `json:"up"`
	Older    []goldenTrajectory `json:"older"`
	Promoted []goldenTrajectory `json:"promoted"`
	Routed   []goldenRouted     `json:"routed"`
}

type goldenTrajectory struct {
	Replicas int32     `json:"r"`
	Surge    string    `json:"s"`
	Unavail  string    `json:"u"`
	Weight   int32     `json:"w"`
	Promoted bool      `json:"promoted"`
	Start    []int32   `json:"start"`
	Path     [][]int32 `json:"path"`
	Abort    [][]int32 `json:"abort"`
}

type goldenRouted struct {
	Replicas    int32       `json:"r"`
	MaxWeight   *int32      `json:"maxW"`
	Steps       []string    `json:"steps"`
	Index       int32       `json:"index"`
	Dynamic     bool        `json:"dynamic"`
	MinPods     *int32      `json:"minPods"`
	Abort       bool        `json:"abort"`
	AbortDelay  *int32      `json:"abortDelay"`
	PromoteFull bool        `json:"full"`
	Weights     *[2]int32   `json:"weights"`
	New         goldenPods  `json:"new"`
	Stable      *goldenPods `json:"stable"`
	Want        [2]int32    `json:"want"`
	AtDesired   bool        `json:"at"`
}

var golden = sync.OnceValues(func() (*goldenFile, error) {
	raw, err := os.ReadFile("../../testdata/argo/replicas.json")
	if err != nil {
		return nil, err
	}
	var g goldenFile
	return &g, json.Unmarshal(raw, &g)
})

func loadGolden(t *testing.T) *goldenFile {
	t.Helper()
	g, err := golden()
	if err != nil {
		t.Fatalf("testdata/argo/replicas.json: %v", err)
	}
	return g
}

func intOrPercent(s string) intstr.IntOrString {
	if strings.HasSuffix(s, "%") {
		return intstr.FromString(s)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(s)
	}
	return intstr.FromInt32(int32(n))
}

func TestGoldenBudget(t *testing.T) {
	g := loadGolden(t)
	if len(g.Budget) == 0 {
		t.Fatal("no budget cases")
	}
	for _, c := range g.Budget {
		b, err := ResolveBudget(intOrPercent(c.Surge), intOrPercent(c.Unavail), c.Replicas)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c.Want, [2]int32{b.MaxSurge, b.MaxUnavailable}); diff != "" {
			t.Errorf("budget r%d maxSurge %s maxUnavailable %s: [maxSurge, maxUnavailable] (-argo +vane):\n%s", c.Replicas, c.Surge, c.Unavail, diff)
		}
	}
}

// TestGoldenBasic: one call of the basic-canary arithmetic on a ReplicaSet state, as
// CalculateReplicaCountsForBasicCanary and AtDesiredReplicaCountsForCanary answer it.
func TestGoldenBasic(t *testing.T) {
	g := loadGolden(t)
	if len(g.Basic) == 0 {
		t.Fatal("no basic cases")
	}
	type result struct {
		Counts    [2]int32
		AtDesired bool
	}
	for i, c := range g.Basic {
		name := fmt.Sprintf("basic[%d] r%d s%s u%s w%d abort=%t new=%v stable=%v stableIsNew=%t older=%v", i, c.Replicas,
			c.Surge, c.Unavail, c.Weight, c.Abort, c.New, c.Stable, c.StableIsNew, c.Older)
		ro := goldenRollout(c.Replicas, c.Surge, c.Unavail, c.Weight)
		st := &ro.Status
		st.Abort = c.Abort
		sets := CanarySets{New: c.New.pods(), Stable: c.Stable.pods()}
		if c.StableIsNew {
			sets.Stable, st.StableRS = sets.New, "new"
		}
		for _, o := range c.Older {
			sets.Older = append(sets.Older, *o.pods())
		}
		co := ro.Spec.Strategy.Canary
		b, err := ResolveBudget(co.EffectiveMaxSurge(), co.EffectiveMaxUnavailable(), c.Replicas)
		if err != nil {
			t.Fatal(err)
		}
		_, w := CanaryScaleOrWeight(co, c.Replicas, st, sets.New, sets.Stable)
		n, s := BasicCanaryCounts(sets, c.Replicas, w, 100, b)
		got := result{[2]int32{n, s}, AtDesiredCounts(co, sets, n, s)}
		if diff := cmp.Diff(result{c.Want, c.AtDesired}, got); diff != "" {
			t.Errorf("%s: [new, stable] (-argo +vane):\n%s", name, diff)
		}
	}
}

// goldenRollout is the golden basic rollout: [setWeight: weight, pause: {}] at step 0, from
// "stable" to "new".
func goldenRollout(replicas int32, surge, unavailable string, weight int32) *v1alpha1.Rollout {
	s, u := intOrPercent(surge), intOrPercent(unavailable)
	r := rollout(replicas, []v1alpha1.CanaryStep{{SetWeight: ptr32(weight)}, pauseForever()},
		v1alpha1.RolloutStatus{StableRS: "stable", CurrentPodHash: "new", CurrentStepHash: "steps", CurrentStepIndex: ptr32(0)})
	r.Spec.Strategy.Canary.MaxSurge, r.Spec.Strategy.Canary.MaxUnavailable = &s, &u
	return r
}

// TestGoldenTrajectories replays the golden trajectories with Vane's engine: one plan a
// reconcile, its replicas applied with every pod available at once, until a plan changes
// nothing; each state must be Argo's, in Argo's order.
func TestGoldenTrajectories(t *testing.T) {
	g := loadGolden(t)
	families := map[string][]goldenTrajectory{"up": g.Up, "older": g.Older, "promoted": g.Promoted}
	for family, cases := range families {
		if len(cases) == 0 {
			t.Fatalf("no %s trajectories", family)
		}
		for i, c := range cases {
			start := c.Start
			if start == nil {
				start = []int32{0, c.Replicas}
			}
			name := fmt.Sprintf("%s[%d] r%d s%s u%s w%d from %v", family, i, c.Replicas, c.Surge, c.Unavail, c.Weight, start)
			ro := goldenRollout(c.Replicas, c.Surge, c.Unavail, c.Weight)
			if c.Promoted {
				ro.Status.StableRS, ro.Status.CurrentStepIndex = "new", ptr32(2)
			}
			sets := trajectorySets(start, c.Promoted)
			got := replayEngine(t, ro, sets)
			if diff := cmp.Diff(c.Path, got); diff != "" {
				t.Errorf("%s: states after each reconcile that scaled (-argo +vane):\n%s", name, diff)
				continue
			}
			if family != "up" {
				continue
			}
			ro.Status.Abort = true
			if got := replayEngine(t, ro, sets); !cmp.Equal(c.Abort, got, cmp.Comparer(equalPaths)) {
				t.Errorf("%s, then aborted: states after each reconcile that scaled (-argo +vane):\n%s", name, cmp.Diff(c.Abort, got))
			}
		}
	}
}

func equalPaths(a, b [][]int32) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b) }

// trajectorySets are [new, stable, older...] (promoted: [new, older...]) with every pod
// available; the new ReplicaSet has revision 3, the stable 2, the older ones 1, 0, ...
func trajectorySets(start []int32, promoted bool) []Set {
	full := func(n int32) Pods { return Pods{n, n, n} }
	sets := []Set{{Hash: "new", Role: RoleNew, Pods: full(start[0]), Revision: 3}}
	rest := start[1:]
	if !promoted {
		sets = append(sets, Set{Hash: "stable", Role: RoleStable, Pods: full(start[1]), Revision: 2})
		rest = start[2:]
	}
	for i, n := range rest {
		sets = append(sets, Set{Hash: fmt.Sprintf("older%d", i), Role: RoleOther, Pods: full(n), Revision: int64(1 - i)})
	}
	return sets
}

// replayEngine runs plans on sets (changed in place) until one scales nothing, and returns the
// states after each plan that scaled. The rollout's status follows the plans.
func replayEngine(t *testing.T, ro *v1alpha1.Rollout, sets []Set) [][]int32 {
	t.Helper()
	path := [][]int32{}
	for range 1000 {
		p, err := Canary(Input{Rollout: ro, NewHash: "new", StepsHash: "steps", Sets: sets, Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		ro.Status = p.Status
		changed := false
		state := make([]int32, len(sets))
		for i := range sets {
			if n, ok := p.Replicas[sets[i].Hash]; ok && n != sets[i].Pods.Spec {
				sets[i].Pods, changed = Pods{n, n, n}, true
			}
			state[i] = sets[i].Pods.Spec
		}
		if !changed {
			return path
		}
		path = append(path, state)
	}
	t.Fatal("no fixed point after 1000 plans")
	return nil
}

// TestGoldenRouted: the traffic-routed arithmetic on a state, as
// CalculateReplicaCountsForTrafficRoutedCanary and AtDesiredReplicaCountsForCanary answer it.
func TestGoldenRouted(t *testing.T) {
	g := loadGolden(t)
	if len(g.Routed) == 0 {
		t.Fatal("no routed cases")
	}
	type result struct {
		Counts    [2]int32
		AtDesired bool
	}
	for i, c := range g.Routed {
		name := fmt.Sprintf("routed[%d] r%d maxW=%v steps=%v@%d dynamic=%t minPods=%v abort=%t delay=%v full=%t weights=%v new=%v stable=%v",
			i, c.Replicas, deref(c.MaxWeight), c.Steps, c.Index, c.Dynamic, deref(c.MinPods), c.Abort, deref(c.AbortDelay),
			c.PromoteFull, c.Weights, c.New, c.Stable)
		co, st := goldenRoutedRollout(c)
		sets := CanarySets{New: c.New.pods(), Stable: c.Stable.pods()}
		var weights *v1alpha1.TrafficWeights
		if c.Weights != nil {
			weights = &v1alpha1.TrafficWeights{Canary: v1alpha1.WeightDestination{Weight: c.Weights[0]},
				Stable: v1alpha1.WeightDestination{Weight: c.Weights[1]}}
		}
		n, s := RoutedCanaryCounts(co, c.Replicas, st, sets, weights)
		got := result{[2]int32{n, s}, AtDesiredCounts(co, sets, n, s)}
		if diff := cmp.Diff(result{c.Want, c.AtDesired}, got); diff != "" {
			t.Errorf("%s: [canary, stable] (-argo +vane):\n%s", name, diff)
		}
	}
}

func deref(p *int32) any {
	if p == nil {
		return "-"
	}
	return *p
}

func goldenRoutedRollout(c goldenRouted) (*v1alpha1.CanaryStrategy, *v1alpha1.RolloutStatus) {
	co := &v1alpha1.CanaryStrategy{DynamicStableScale: c.Dynamic, MinPodsPerReplicaSet: c.MinPods,
		AbortScaleDownDelaySeconds: c.AbortDelay, CanaryService: "canary", StableService: "stable",
		TrafficRouting: &v1alpha1.RolloutTrafficRouting{MaxTrafficWeight: c.MaxWeight}}
	for _, s := range c.Steps {
		co.Steps = append(co.Steps, goldenStep(s))
	}
	st := &v1alpha1.RolloutStatus{StableRS: "stable", CurrentPodHash: "new", CurrentStepIndex: ptr32(c.Index),
		Abort: c.Abort, PromoteFull: c.PromoteFull}
	return co, st
}

// goldenStep reads a step of the golden file: w<N>, scale:r<N>, scale:w<N>, scale:match, pause.
func goldenStep(s string) v1alpha1.CanaryStep {
	num := func(prefix string) *int32 {
		n, err := strconv.Atoi(strings.TrimPrefix(s, prefix))
		if err != nil {
			panic(s)
		}
		return ptr32(int32(n))
	}
	switch {
	case s == "pause":
		return pauseForever()
	case s == "scale:match":
		return v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{MatchTrafficWeight: true}}
	case strings.HasPrefix(s, "scale:r"):
		return v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: num("scale:r")}}
	case strings.HasPrefix(s, "scale:w"):
		return v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Weight: num("scale:w")}}
	}
	return v1alpha1.CanaryStep{SetWeight: num("w")}
}
