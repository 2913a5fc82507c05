package judge

import (
	"fmt"
	"math"
	"sort"
)

// Outcome is the verdict on the canary.
type Outcome string

// Outcomes.
const (
	// OutcomePass: the score reaches the pass threshold.
	OutcomePass Outcome = "Pass"
	// OutcomeMarginal: the score reaches the marginal threshold only.
	OutcomeMarginal Outcome = "Marginal"
	// OutcomeFail: the score is below the marginal threshold.
	OutcomeFail Outcome = "Fail"
)

// GroupScore is the score of one group of metrics.
type GroupScore struct {
	// Name of the group.
	Name string
	// Score is 100 × passed / (passed + High + Low + NodataFailMetric) of its metrics that are
	// not muted; 0 when none of them was classified (NoData).
	Score float64
	// NoData: none of its metrics was classified; the group counts as 100 in the verdict's score.
	NoData bool
	// Weight is the group's share of the verdict's score (0-100).
	Weight float64
	// Metrics counts the group's metrics by classification.
	Metrics map[Classification]int
}

// Verdict is the judgement of a canary.
type Verdict struct {
	// Score is 0-100, rounded to two decimals: the groups' scores weighted, or 0 when a
	// critical metric failed or half the metrics or more had no data.
	Score float64
	// Outcome is the score against the thresholds.
	Outcome Outcome
	// Reason says why the score was forced to 0 (empty otherwise).
	Reason string
	// Groups are the groups' scores, by name.
	Groups []GroupScore
	// Metrics are the metrics' results, in the order they were given.
	Metrics []Result
}

// score scores classified metrics.
func score(results []Result, s Scoring) Verdict {
	v := Verdict{Metrics: results}
	var active []Result
	for _, r := range results {
		if !r.Muted {
			active = append(active, r)
		}
	}
	v.Groups = groupScores(active, s.GroupWeights)
	noData := 0
	for _, r := range active {
		if r.Classification == NoData {
			noData++
		}
	}
	switch {
	case firstCritical(active) != nil:
		r := firstCritical(active)
		v.Reason = fmt.Sprintf("metric %q failed critically (%s): %s", r.Name, r.Classification, r.Reason)
	case float64(noData)/float64(len(active))*100 >= NoDataThreshold:
		v.Reason = fmt.Sprintf("%d of %d metrics had no data (%d%% or more)", noData, len(active), NoDataThreshold)
	default:
		total := 0.0
		for _, g := range v.Groups {
			gs := g.Score
			if g.NoData {
				gs = 100
			}
			total += gs * g.Weight / 100
		}
		v.Score = math.Round(total*100) / 100
	}
	switch {
	case v.Score >= s.Pass:
		v.Outcome = OutcomePass
	case v.Score >= s.Marginal:
		v.Outcome = OutcomeMarginal
	default:
		v.Outcome = OutcomeFail
	}
	return v
}

// firstCritical is the first metric that failed critically, or nil.
func firstCritical(results []Result) *Result {
	for i := range results {
		if results[i].Critical && results[i].Classification != Pass {
			return &results[i]
		}
	}
	return nil
}

// groupScores scores each group of the results; groups without a weight share what the
// weights leave of 100.
func groupScores(results []Result, weights map[string]float64) []GroupScore {
	byName := map[string]*GroupScore{}
	var groups []*GroupScore
	for _, r := range results {
		g := byName[r.Group]
		if g == nil {
			g = &GroupScore{Name: r.Group, Metrics: map[Classification]int{}}
			byName[r.Group] = g
			groups = append(groups, g)
		}
		g.Metrics[r.Classification]++
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Name < groups[j].Name })
	left, unweighted := 100.0, 0
	for _, g := range groups {
		if w, ok := weights[g.Name]; ok {
			left -= w
		} else {
			unweighted++
		}
	}
	out := make([]GroupScore, len(groups))
	for i, g := range groups {
		passed := g.Metrics[Pass]
		counted := passed + g.Metrics[High] + g.Metrics[Low] + g.Metrics[NoDataFail]
		if counted == 0 {
			g.NoData = true
		} else {
			g.Score = float64(passed) / float64(counted) * 100
		}
		if w, ok := weights[g.Name]; ok {
			g.Weight = w
		} else {
			g.Weight = left / float64(unweighted)
		}
		out[i] = *g
	}
	return out
}
