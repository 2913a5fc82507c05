package judge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/vanedev/vane/api/v1alpha1"
	aca "github.com/vanedev/vane/internal/analysis/judge"
)

// Config is the judge's configuration, the value of `provider.plugin["vane/judge"]`.
type Config struct {
	// Prometheus is the source of the samples: Argo's prometheus provider fields (address,
	// timeout, headers, insecure, authentication) without query or rangeQuery.
	Prometheus *v1alpha1.PrometheusMetric `json:"prometheus,omitempty"`
	// Window is the time range whose samples are compared, the same for every query.
	Window Window `json:"window"`
	// Roles are what {{role}} stands for in a metric's query (default canary and baseline).
	Roles Roles `json:"roles,omitzero"`
	// Metrics are compared one by one.
	Metrics []MetricConfig `json:"metrics"`
	// GroupWeights weigh the metrics' groups in the score (see aca.Scoring).
	GroupWeights map[string]float64 `json:"groupWeights,omitempty"`
	// Thresholds of the verdict (default pass 95, marginal 75).
	Thresholds Thresholds `json:"thresholds,omitzero"`
}

// Window is a range query's window: expr expressions of a time with now(), as the prometheus
// provider's rangeQuery takes them.
type Window struct {
	// Start, e.g. `now() - duration("10m")` (required).
	Start string `json:"start"`
	// End, default `now()`.
	End string `json:"end,omitempty"`
	// Step between samples, e.g. 30s (required).
	Step string `json:"step"`
}

// Roles are the values {{role}} takes in a metric's query.
type Roles struct {
	// Canary is {{role}} in the canary's query (default "canary").
	Canary string `json:"canary,omitempty"`
	// Baseline is {{role}} in the baseline's query (default "baseline").
	Baseline string `json:"baseline,omitempty"`
}

// Thresholds are the verdict's pass and marginal scores.
type Thresholds struct {
	// Pass is the lowest passing score (default 95).
	Pass *float64 `json:"pass,omitempty"`
	// Marginal is the lowest marginal score (default 75).
	Marginal *float64 `json:"marginal,omitempty"`
}

// MetricConfig is one metric: how it is judged, and its queries: either query with a {{role}}
// placeholder, or canaryQuery and baselineQuery.
type MetricConfig struct {
	aca.Metric
	// Query is run twice, {{role}} replaced by roles.canary, then by roles.baseline.
	Query string `json:"query,omitempty"`
	// CanaryQuery and BaselineQuery are the two queries, instead of query.
	CanaryQuery   string `json:"canaryQuery,omitempty"`
	BaselineQuery string `json:"baselineQuery,omitempty"`
}

// rolePlaceholder matches {{role}}, with optional spaces inside the braces.
var rolePlaceholder = regexp.MustCompile(`\{\{\s*role\s*\}\}`)

// Parse decodes and checks a configuration. Unknown fields are errors, and every error names
// the field at fault.
func Parse(raw json.RawMessage) (Config, error) {
	var c Config
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return c, errors.New("give the judge's configuration: prometheus, window and metrics")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("reading the configuration: %w", err)
	}
	if c.Roles.Canary == "" {
		c.Roles.Canary = "canary"
	}
	if c.Roles.Baseline == "" {
		c.Roles.Baseline = "baseline"
	}
	return c, c.validate()
}

func (c Config) validate() error {
	var errs []error
	switch p := c.Prometheus; {
	case p == nil:
		errs = append(errs, errors.New("prometheus: give the source of the samples (prometheus.address)"))
	case strings.TrimSpace(p.Address) == "":
		errs = append(errs, errors.New("prometheus.address: give Prometheus' address, e.g. http://prometheus.monitoring:9090"))
	case p.Query != "" || p.RangeQuery != nil:
		errs = append(errs, errors.New("prometheus: query and rangeQuery belong under metrics[] and window, not here"))
	}
	if strings.TrimSpace(c.Window.Start) == "" {
		errs = append(errs, errors.New(`window.start: give the window's start, e.g. now() - duration("10m")`))
	}
	if strings.TrimSpace(c.Window.Step) == "" {
		errs = append(errs, errors.New("window.step: give the time between samples, e.g. 30s"))
	}
	if c.Roles.Canary == c.Roles.Baseline {
		errs = append(errs, fmt.Errorf("roles: the canary and the baseline are both %q", c.Roles.Canary))
	}
	for i, m := range c.Metrics {
		errs = append(errs, m.validate(fmt.Sprintf("metrics[%d]", i)))
	}
	return errors.Join(errs...)
}

func (m MetricConfig) validate(at string) error {
	pair := m.CanaryQuery != "" || m.BaselineQuery != ""
	switch {
	case m.Query != "" && pair:
		return fmt.Errorf("%s: give query or canaryQuery and baselineQuery, not both", at)
	case pair && (m.CanaryQuery == "" || m.BaselineQuery == ""):
		return fmt.Errorf("%s: give both canaryQuery and baselineQuery", at)
	case m.Query == "" && !pair:
		return fmt.Errorf("%s.query: give the query, with {{role}} where the canary's and the baseline's differ", at)
	case m.Query != "" && !rolePlaceholder.MatchString(m.Query):
		return fmt.Errorf("%s.query: has no {{role}} placeholder, so the canary and the baseline would be the same samples", at)
	}
	return nil
}

// queries returns a metric's canary and baseline queries.
func (m MetricConfig) queries(r Roles) (canary, baseline string) {
	if m.Query == "" {
		return m.CanaryQuery, m.BaselineQuery
	}
	return rolePlaceholder.ReplaceAllLiteralString(m.Query, r.Canary), rolePlaceholder.ReplaceAllLiteralString(m.Query, r.Baseline)
}

// scoring returns the thresholds and weights, defaults filled.
func (c Config) scoring() aca.Scoring {
	s := aca.Scoring{Pass: 95, Marginal: 75, GroupWeights: c.GroupWeights}
	if c.Thresholds.Pass != nil {
		s.Pass = *c.Thresholds.Pass
	}
	if c.Thresholds.Marginal != nil {
		s.Marginal = *c.Thresholds.Marginal
	}
	return s
}
