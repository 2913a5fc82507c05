package judge

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/clock"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/api/v1alpha1"
	aca "github.com/vanedev/vane/internal/analysis/judge"
	"github.com/vanedev/vane/internal/analysis/provider"
)

// TestMeasureRejectsBadConfiguration: each bad configuration is a permanent error naming its
// fields, before any query is sent (the address is a closed port).
func TestMeasureRejectsBadConfiguration(t *testing.T) {
	const src = `"prometheus": {"address": "http://127.0.0.1:9"}, "window": {"start": "now() - duration(\"5m\")", "step": "30s"}`
	tests := map[string]struct {
		config string
		want   []string
	}{
		"no configuration": {config: `null`, want: []string{"vane/judge: give the judge's configuration: prometheus, window and metrics"}},
		"an unknown field": {
			config: `{` + src + `, "metrics": [{"name": "a", "query": "x{r=\"{{role}}\"}", "diretion": "increase"}]}`,
			want:   []string{`vane/judge: reading the configuration: json: unknown field "diretion"`},
		},
		"no source, no window": {
			config: `{"metrics": [{"name": "a", "query": "x{r=\"{{role}}\"}"}]}`,
			want: []string{"vane/judge: prometheus: give the source of the samples (prometheus.address)",
				`window.start: give the window's start, e.g. now() - duration("10m")`, "window.step: give the time between samples, e.g. 30s"},
		},
		"a query in the source, the same roles": {
			config: `{"prometheus": {"address": "http://p:9090", "query": "up"}, "window": {"start": "now()", "step": "1m"},
				"roles": {"canary": "abc", "baseline": "abc"}, "metrics": [{"name": "a", "query": "x{r=\"{{role}}\"}"}]}`,
			want: []string{"vane/judge: prometheus: query and rangeQuery belong under metrics[] and window, not here",
				`roles: the canary and the baseline are both "abc"`},
		},
		"queries": {
			config: `{` + src + `, "metrics": [{"name": "a", "query": "x"}, {"name": "b"}, {"name": "c", "canaryQuery": "x"},
				{"name": "d", "query": "x{r=\"{{role}}\"}", "canaryQuery": "y", "baselineQuery": "z"}]}`,
			want: []string{"vane/judge: metrics[0].query: has no {{role}} placeholder, so the canary and the baseline would be the same samples",
				"metrics[1].query: give the query, with {{role}} where the canary's and the baseline's differ",
				"metrics[2]: give both canaryQuery and baselineQuery", "metrics[3]: give query or canaryQuery and baselineQuery, not both"},
		},
		"judging options": {
			config: `{` + src + `, "metrics": [{"name": "a", "query": "x{r=\"{{role}}\"}", "direction": "up", "effectSize": {"measure": "cles", "allowedIncrease": 2}}],
				"thresholds": {"pass": 70}, "groupWeights": {"b": 10}}`,
			want: []string{`vane/judge: metrics[0].direction: "up" is not increase, decrease or either`,
				"metrics[0].effectSize.allowedIncrease: 2 is out of range [0, 1] for cles",
				"thresholds.marginal: 75 is above thresholds.pass 70", `groupWeights.b: no metric is in group "b"`},
		},
		"no metrics": {config: `{` + src + `}`, want: []string{"vane/judge: metrics: give at least one metric"}},
	}
	p := New(clock.RealClock{}, nil)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := v1alpha1.Metric{Name: "judge", Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{PluginName: json.RawMessage(tc.config)}}}
			res, err := p.Measure(context.Background(), &v1alpha1.AnalysisRun{}, &m)
			if err == nil {
				t.Fatalf("accepted, gave %+v", res)
			}
			if !provider.IsPermanent(err) {
				t.Errorf("%v: not permanent", err)
			}
			if diff := cmp.Diff(tc.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMeasureWithoutItsPlugin(t *testing.T) {
	m := v1alpha1.Metric{Name: "judge", Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"acme/other": json.RawMessage(`{}`)}}}
	_, err := New(clock.RealClock{}, nil).Measure(context.Background(), &v1alpha1.AnalysisRun{}, &m)
	if err == nil || !provider.IsPermanent(err) || err.Error() != `the metric has no provider.plugin["vane/judge"]` {
		t.Errorf("got %v", err)
	}
}

func TestQueries(t *testing.T) {
	roles := Roles{Canary: "7f9c", Baseline: "6d4f"}
	tests := map[string]struct {
		metric               MetricConfig
		wantCanary, wantBase string
	}{
		"one query, {{role}} twice and spaced": {
			metric:     MetricConfig{Query: `a{h="{{role}}"} / b{h="{{ role }}"}`},
			wantCanary: `a{h="7f9c"} / b{h="7f9c"}`, wantBase: `a{h="6d4f"} / b{h="6d4f"}`,
		},
		"two queries as they are": {
			metric:     MetricConfig{CanaryQuery: `a{v="new"}`, BaselineQuery: `a{v="old"}`},
			wantCanary: `a{v="new"}`, wantBase: `a{v="old"}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, b := tc.metric.queries(roles)
			if diff := cmp.Diff([]string{tc.wantCanary, tc.wantBase}, []string{c, b}); diff != "" {
				t.Errorf("queries (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDocsTemplate checks that the first template of docs/judge.md is a valid AnalysisTemplate
// whose judge configuration the provider accepts.
func TestDocsTemplate(t *testing.T) {
	b, err := os.ReadFile("../../../../docs/judge.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "```yaml\n")
	doc, _, _ := strings.Cut(rest, "```")
	var tmpl v1alpha1.AnalysisTemplate
	if err := yaml.UnmarshalStrict([]byte(doc), &tmpl); err != nil {
		t.Fatalf("docs/judge.md's template: %v", err)
	}
	if errs := v1alpha1.ValidateAnalysisTemplate(&tmpl); len(errs) > 0 {
		t.Fatalf("docs/judge.md's template: %v", errs)
	}
	m := tmpl.Spec.Metrics[0]
	cfg, err := Parse(m.Provider.Plugin[PluginName])
	if err != nil {
		t.Fatal(err)
	}
	metrics := make([]aca.Metric, len(cfg.Metrics))
	var names []string
	for i, mc := range cfg.Metrics {
		metrics[i], names = mc.Metric, append(names, mc.Name)
	}
	if err := aca.Validate(metrics, cfg.scoring()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"latency-p99", "error-ratio", "throughput"}, names); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}
