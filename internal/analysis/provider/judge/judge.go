// Package judge is Vane's built-in statistical canary judge: a metric provider that compares a
// canary's samples with a baseline's over the same window, the way Kayenta's NetflixACAJudge
// does (package internal/analysis/judge), without a Kayenta service.
//
// A metric reaches it through Argo's plugin field, so AnalysisTemplates need no new field:
//
//	provider:
//	  plugin:
//	    vane/judge:
//	      prometheus: {address: http://prometheus.monitoring:9090}
//	      window: {start: 'now() - duration("10m")', step: 30s}
//	      roles: {canary: "{{args.canary-hash}}", baseline: "{{args.stable-hash}}"}
//	      metrics:
//	        - name: latency
//	          query: histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{rollouts_pod_template_hash="{{role}}"}[1m])))
//	          direction: increase
//
// Each metric's query runs twice as a Prometheus range query over the window, {{role}} replaced
// by roles.canary and by roles.baseline (or canaryQuery and baselineQuery run as they are);
// every sample of every series returned is compared. The measurement's value, the `result` of
// the metric's conditions, is the score (0-100), so `successCondition: result >= 95` works; a
// metric without conditions is Successful, Inconclusive or Failed as the verdict is Pass,
// Marginal or Fail. The measurement's metadata explains the verdict: `verdict`, `score`,
// `groups`, and `metric.<name>` per metric (the two medians, the p-value, the shift and its
// interval, the effect size and why); the metric's metadata has each query as sent and the
// window.
package judge

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vanedev/vane/api/v1alpha1"
	aca "github.com/vanedev/vane/internal/analysis/judge"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/prometheus"
)

// PluginName is the key of the judge's configuration under a metric's provider.plugin.
const PluginName = "vane/judge"

// ProviderName is the judge's name as provider.Name gives it.
const ProviderName = "plugin " + PluginName

// Provider judges canaries.
type Provider struct {
	clock clock.PassiveClock
	prom  *prometheus.Provider
}

// New returns a judge whose windows are evaluated at clk's now() and whose samples come from
// prom (its transports and SigV4 signer; nil makes one with prometheus.New(clk)).
func New(clk clock.PassiveClock, prom *prometheus.Provider) *Provider {
	if prom == nil {
		prom = prometheus.New(clk)
	}
	return &Provider{clock: clk, prom: prom}
}

// Measure implements provider.Provider: it fetches every metric's samples, judges the canary
// and returns the score. A configuration error is permanent; a failed query is an error that a
// later measurement may not have.
func (p *Provider) Measure(ctx context.Context, _ *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) (provider.Result, error) {
	raw, ok := metric.Provider.Plugin[PluginName]
	if !ok {
		return provider.Result{}, provider.Permanent(fmt.Errorf("the metric has no provider.plugin[%q]", PluginName))
	}
	cfg, err := Parse(raw)
	if err != nil {
		return provider.Result{}, provider.Permanent(fmt.Errorf("%s: %w", PluginName, err))
	}
	metrics := make([]aca.Metric, len(cfg.Metrics))
	for i, m := range cfg.Metrics {
		metrics[i] = m.Metric
	}
	if err := aca.Validate(metrics, cfg.scoring()); err != nil {
		return provider.Result{}, provider.Permanent(fmt.Errorf("%s: %w", PluginName, err))
	}
	canary, baseline, meta, err := p.fetch(ctx, cfg)
	if err != nil {
		return provider.Result{MetricMetadata: meta}, fmt.Errorf("%s: %w", PluginName, err)
	}
	v, err := aca.Judge(metrics, canary, baseline, cfg.scoring())
	if err != nil {
		return provider.Result{MetricMetadata: meta}, provider.Permanent(fmt.Errorf("%s: %w", PluginName, err))
	}
	log.FromContext(ctx).V(1).Info("canary judged", "metric", metric.Name, "score", v.Score, "outcome", v.Outcome)
	return result(metric, v, meta), nil
}

// fetch runs each metric's canary and baseline queries over the window, all evaluated at the
// same now(). meta gets each query as sent and the window.
func (p *Provider) fetch(ctx context.Context, cfg Config) (canary, baseline map[string][]float64, meta map[string]string, err error) {
	prom := *p.prom
	prom.Clock = fixedClock(p.clock.Now())
	base := prometheus.QueryOf(cfg.Prometheus)
	base.Range = &prometheus.RangeQuery{Start: cfg.Window.Start, End: cfg.Window.End, Step: cfg.Window.Step}
	canary, baseline, meta = map[string][]float64{}, map[string][]float64{}, map[string]string{}
	for _, m := range cfg.Metrics {
		cq, bq := m.queries(cfg.Roles)
		for _, side := range []struct {
			role, query string
			into        map[string][]float64
		}{{"canary", cq, canary}, {"baseline", bq, baseline}} {
			q := base
			q.Query = side.query
			meta[fmt.Sprintf("query.%s.%s", m.Name, side.role)] = side.query
			res, err := prom.Run(ctx, q)
			if w, ok := res.MetricMetadata["RangeQuery"]; ok {
				meta["window"] = w
			}
			if err != nil {
				return nil, nil, meta, fmt.Errorf("metric %q, %s query: %w", m.Name, side.role, err)
			}
			values, ok := res.Value.([]float64)
			if !ok {
				return nil, nil, meta, fmt.Errorf("metric %q, %s query: gave %T, not samples", m.Name, side.role, res.Value)
			}
			side.into[m.Name] = values
		}
	}
	return canary, baseline, meta, nil
}

// result turns a verdict into the measurement's outcome.
func result(metric *v1alpha1.Metric, v aca.Verdict, meta map[string]string) provider.Result {
	display := strconv.FormatFloat(v.Score, 'f', -1, 64)
	res := provider.Result{Value: v.Score, Display: display, MetricMetadata: meta, Metadata: map[string]string{
		"verdict": v.Summary(),
		"score":   display,
	}}
	groups := make([]string, len(v.Groups))
	for i, g := range v.Groups {
		score := strconv.FormatFloat(g.Score, 'f', -1, 64)
		if g.NoData {
			score = "no data"
		}
		groups[i] = fmt.Sprintf("%s %s (weight %s)", g.Name, score, strconv.FormatFloat(g.Weight, 'f', -1, 64))
	}
	res.Metadata["groups"] = strings.Join(groups, ", ")
	for _, r := range v.Metrics {
		res.Metadata["metric."+r.Name] = r.Explain()
	}
	if metric.SuccessCondition == "" && metric.FailureCondition == "" {
		res.Message = v.Summary()
		switch v.Outcome {
		case aca.OutcomePass:
			res.Phase = v1alpha1.AnalysisPhaseSuccessful
		case aca.OutcomeMarginal:
			res.Phase = v1alpha1.AnalysisPhaseInconclusive
		default:
			res.Phase = v1alpha1.AnalysisPhaseFailed
		}
	}
	return res
}

// fixedClock is a clock stopped at one time.
type fixedClock time.Time

func (c fixedClock) Now() time.Time                  { return time.Time(c) }
func (c fixedClock) Since(t time.Time) time.Duration { return time.Time(c).Sub(t) }
