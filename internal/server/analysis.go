package server

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
)

// RunView is one AnalysisRun with its metrics.
type RunView struct {
	Name    string       `json:"name"`
	Phase   string       `json:"phase"`
	Message string       `json:"message,omitempty"`
	Created time.Time    `json:"created"`
	Metrics []MetricView `json:"metrics"`
}

// MetricView is one metric: its conditions, measurements and their chart.
type MetricView struct {
	Name             string        `json:"name"`
	Phase            string        `json:"phase"`
	Message          string        `json:"message,omitempty"`
	SuccessCondition string        `json:"successCondition,omitempty"`
	FailureCondition string        `json:"failureCondition,omitempty"`
	Measurements     []Measurement `json:"measurements"`
	Chart            *Chart        `json:"-"`
}

// Measurement is one measured value.
type Measurement struct {
	At    time.Time `json:"at"`
	Value string    `json:"value"`
	Phase string    `json:"phase"`
}

// Chart is a metric's measurements laid out for an SVG of Width x Height.
type Chart struct {
	Width, Height int
	Line          string // polyline points
	Points        []ChartPoint
	Min, Max      string
}

// ChartPoint is one measurement on the chart.
type ChartPoint struct {
	X, Y  float64
	Phase string
	Title string
}

// runViews lists the AnalysisRuns the rollout owns (its steps' and background runs), newest
// first; an experiment's own runs show under the experiment's status.
func runViews(ro *v1alpha1.Rollout, runs []v1alpha1.AnalysisRun) []RunView {
	var out []RunView
	for i := range runs {
		run := &runs[i]
		if ref := controllerOf(run); ref == nil || ref.UID != ro.UID {
			continue
		}
		v := RunView{Name: run.Name, Phase: string(run.Status.Phase), Message: run.Status.Message, Created: run.CreationTimestamp.Time}
		if v.Phase == "" {
			v.Phase = "Pending"
		}
		for _, m := range run.Spec.Metrics {
			v.Metrics = append(v.Metrics, metricView(m, run.Status.MetricResults))
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

func metricView(m v1alpha1.Metric, results []v1alpha1.MetricResult) MetricView {
	v := MetricView{Name: m.Name, Phase: "Pending", SuccessCondition: m.SuccessCondition, FailureCondition: m.FailureCondition}
	for _, r := range results {
		if r.Name != m.Name {
			continue
		}
		v.Phase, v.Message = string(r.Phase), r.Message
		for _, ms := range r.Measurements {
			at := time.Time{}
			if ms.FinishedAt != nil {
				at = ms.FinishedAt.Time
			} else if ms.StartedAt != nil {
				at = ms.StartedAt.Time
			}
			v.Measurements = append(v.Measurements, Measurement{At: at, Value: ms.Value, Phase: string(ms.Phase)})
		}
	}
	v.Chart = chart(v.Measurements)
	return v
}

var firstNumber = regexp.MustCompile(`-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?`)

// numeric reads a measurement's value: a number, or the first number of a vector like "[0.97]".
func numeric(s string) (float64, bool) {
	if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
		return f, true
	}
	if m := firstNumber.FindString(s); m != "" {
		f, err := strconv.ParseFloat(m, 64)
		return f, err == nil
	}
	return 0, false
}

// chart lays the numeric measurements out over time (x) and value (y); nil without any.
func chart(ms []Measurement) *Chart {
	const w, h, pad = 320, 90, 8
	type pt struct {
		t time.Time
		v float64
		m Measurement
	}
	var pts []pt
	for _, m := range ms {
		if f, ok := numeric(m.Value); ok && !m.At.IsZero() {
			pts = append(pts, pt{m.At, f, m})
		}
	}
	if len(pts) == 0 {
		return nil
	}
	lo, hi := pts[0].v, pts[0].v
	t0, t1 := pts[0].t, pts[0].t
	for _, p := range pts {
		lo, hi = math.Min(lo, p.v), math.Max(hi, p.v)
		if p.t.Before(t0) {
			t0 = p.t
		}
		if p.t.After(t1) {
			t1 = p.t
		}
	}
	c := &Chart{Width: w, Height: h, Min: strconv.FormatFloat(lo, 'g', 4, 64), Max: strconv.FormatFloat(hi, 'g', 4, 64)}
	var line []string
	for _, p := range pts {
		x, y := float64(w)/2, float64(h)/2
		if span := t1.Sub(t0); span > 0 {
			x = pad + float64(w-2*pad)*float64(p.t.Sub(t0))/float64(span)
		}
		if hi > lo {
			y = pad + float64(h-2*pad)*(hi-p.v)/(hi-lo)
		}
		line = append(line, fmt.Sprintf("%.1f,%.1f", x, y))
		c.Points = append(c.Points, ChartPoint{X: x, Y: y, Phase: p.m.Phase,
			Title: fmt.Sprintf("%s at %s: %s", p.m.Value, p.t.UTC().Format(time.TimeOnly), p.m.Phase)})
	}
	c.Line = strings.Join(line, " ")
	return c
}

// ExperimentView is one Experiment of the rollout's experiment steps.
type ExperimentView struct {
	Name      string   `json:"name"`
	Phase     string   `json:"phase"`
	Message   string   `json:"message,omitempty"`
	Templates []string `json:"templates"`
}

func experimentViews(ro *v1alpha1.Rollout, exps []v1alpha1.Experiment) []ExperimentView {
	var out []ExperimentView
	for i := range exps {
		ex := &exps[i]
		if ref := controllerOf(ex); ref == nil || ref.UID != ro.UID {
			continue
		}
		v := ExperimentView{Name: ex.Name, Phase: string(ex.Status.Phase), Message: ex.Status.Message}
		for _, t := range ex.Status.TemplateStatuses {
			v.Templates = append(v.Templates, fmt.Sprintf("%s: %s (%d/%d ready)", t.Name, t.Status, t.ReadyReplicas, t.Replicas))
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name > out[j].Name })
	return out
}
