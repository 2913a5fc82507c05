package kayenta

import (
	"errors"
	"fmt"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
)

// canaryRequest is the body of POST /canary/<config id> (Kayenta's CanaryExecutionRequest).
type canaryRequest struct {
	Scopes     map[string]scopePair `json:"scopes"`
	Thresholds thresholds           `json:"thresholds"`
}

type scopePair struct {
	ControlScope    scope `json:"controlScope"`
	ExperimentScope scope `json:"experimentScope"`
}

type scope struct {
	Scope    string `json:"scope"`
	Location string `json:"location"`
	Step     int64  `json:"step"`
	Start    string `json:"start,omitempty"`
	End      string `json:"end,omitempty"`
}

type thresholds struct {
	Pass     int64 `json:"pass"`
	Marginal int64 `json:"marginal"`
}

// request builds the canary execution request of a measurement taken now: scopes without a
// start begin when the run started (lookback) or one metric interval ago; scopes without an
// end end now. Times are RFC 3339.
func (p *Provider) request(run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) (canaryRequest, error) {
	k := metric.Provider.Kayenta
	now := p.Clock.Now()
	req := canaryRequest{Scopes: map[string]scopePair{}, Thresholds: thresholds{Pass: k.Threshold.Pass, Marginal: k.Threshold.Marginal}}
	for i, s := range k.Scopes {
		if (s.ControlScope.Start == "") != (s.ExperimentScope.Start == "") {
			return req, fmt.Errorf("kayenta.scopes[%d]: set start in both controlScope and experimentScope, or in neither", i)
		}
		if (s.ControlScope.End == "") != (s.ExperimentScope.End == "") {
			return req, fmt.Errorf("kayenta.scopes[%d]: set end in both controlScope and experimentScope, or in neither", i)
		}
		if s.ControlScope.Start == "" {
			start, err := startOf(run, metric, now)
			if err != nil {
				return req, fmt.Errorf("kayenta.scopes[%d] has no start: %w", i, err)
			}
			s.ControlScope.Start, s.ExperimentScope.Start = start, start
		}
		if s.ControlScope.End == "" {
			end := now.UTC().Format(time.RFC3339)
			s.ControlScope.End, s.ExperimentScope.End = end, end
		}
		req.Scopes[s.Name] = scopePair{ControlScope: scopeOf(s.ControlScope), ExperimentScope: scopeOf(s.ExperimentScope)}
	}
	return req, nil
}

// startOf is the start of scopes that set none.
func startOf(run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric, now time.Time) (string, error) {
	if metric.Provider.Kayenta.Lookback {
		if run == nil || run.Status.StartedAt == nil {
			return "", errors.New("lookback needs the time the analysis started, and the run has none")
		}
		return run.Status.StartedAt.UTC().Format(time.RFC3339), nil
	}
	if metric.Interval == nil {
		return "", errors.New("give the metric an interval (the scopes cover the interval before each measurement), set lookback: true, or give start and end")
	}
	d, err := metric.Interval.Duration()
	if err != nil || d <= 0 {
		return "", fmt.Errorf("the metric's interval %q is not a positive duration", metric.Interval.String())
	}
	return now.Add(-d).UTC().Format(time.RFC3339), nil
}

func scopeOf(d v1alpha1.ScopeDetail) scope {
	return scope{Scope: d.Scope, Location: d.Region, Step: d.Step, Start: d.Start, End: d.End}
}
