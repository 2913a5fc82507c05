package judge

import (
	"fmt"
	"math"
	"strings"
)

// Explain describes a metric's result in one line: its classification, the two medians, the
// p-value and why, e.g.
//
//	High (critical): canary median 0.18 (n=40), baseline median 0.12 (n=40), p-value 2.9e-14;
//	higher than the baseline (shift +0.06, 98% interval [0.052, 0.07]), mean ratio 1.5
func (r Result) Explain() string {
	var b strings.Builder
	b.WriteString(string(r.Classification))
	var tags []string
	if r.Critical {
		tags = append(tags, "critical")
	}
	if r.Muted {
		tags = append(tags, "muted")
	}
	if len(tags) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(tags, ", "))
	}
	fmt.Fprintf(&b, ": canary median %s, baseline median %s", side(r.Canary), side(r.Baseline))
	if !math.IsNaN(r.PValue) {
		fmt.Fprintf(&b, ", p-value %.2g", r.PValue)
	}
	b.WriteString("; " + r.Reason)
	return b.String()
}

func side(s Summary) string {
	text := fmt.Sprintf("%s (n=%d", num(s.Median), s.Count)
	if s.NaNs > 0 {
		text += fmt.Sprintf(", %d NaN", s.NaNs)
	}
	if s.Outliers > 0 {
		text += fmt.Sprintf(", %d outliers dropped", s.Outliers)
	}
	return text + ")"
}

// Summary describes the verdict in one line: the outcome and the score, then why the score was
// forced to 0, or each metric's classification.
func (v Verdict) Summary() string {
	head := fmt.Sprintf("%s (score %v)", v.Outcome, v.Score)
	if v.Reason != "" {
		return head + ": " + v.Reason
	}
	parts := make([]string, 0, len(v.Metrics))
	for _, r := range v.Metrics {
		p := r.Name + " " + string(r.Classification)
		if r.Muted {
			p += " (muted)"
		}
		parts = append(parts, p)
	}
	return head + ": " + strings.Join(parts, ", ")
}
