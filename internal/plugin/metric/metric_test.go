package metric_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/plugin"
	"github.com/vanedev/vane/internal/plugin/metric"
	"github.com/vanedev/vane/internal/plugin/plugintest"
)

// sample is the name Argo's sample metric plugin reads its configuration under.
const sample = "argoproj/sample-prometheus"

// newPrometheus is Prometheus' instant-query API on loopback (POST or GET /api/v1/query, form
// field query), answering each query from values: a vector with one sample, or, for a query
// it does not know, the API's bad_data error.
func newPrometheus(t *testing.T, values map[string]string) *httptest.Server {
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" || r.ParseForm() != nil {
			http.Error(w, "unexpected request "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		q := r.Form.Get("query")
		w.Header().Set("Content-Type", "application/json")
		v, ok := values[q]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			msg, _ := json.Marshal("1:1: parse error: unexpected identifier " + q)
			fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":%s}`, msg)
			return
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"web"},"value":[%d,%q]}]}}`, time.Now().Unix(), v)
	}))
	t.Cleanup(p.Close)
	return p
}

func pluginMetric(address, query string, plugins ...string) *v1alpha1.Metric {
	cfg, _ := json.Marshal(map[string]string{"address": address, "query": query})
	m := &v1alpha1.Metric{Name: "success-rate", SuccessCondition: "result[0] >= 0.95", FailureCondition: "result[0] < 0.95",
		Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{}}}
	for _, p := range plugins {
		m.Provider.Plugin[p] = cfg
	}
	return m
}

func newProvider(t *testing.T) (*metric.Provider, *plugin.Manager) {
	bin := plugintest.Binary(t, plugintest.MetricsSample)
	pm := plugintest.NewManager(t, plugin.Options{}, []plugin.Item{{Kind: plugin.MetricProvider, Name: sample, Location: "file://" + bin}})
	return metric.New(pm, clocktesting.NewFakePassiveClock(time.Now())), pm
}

// TestMeasure measures through Argo's sample plugin, which queries the Prometheus stand-in and
// judges the value with the metric's conditions itself.
func TestMeasure(t *testing.T) {
	prom := newPrometheus(t, map[string]string{"rate_ok": "0.99", "rate_bad": "0.5"})
	p, _ := newProvider(t)
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "run", Namespace: "shop"}}
	type want struct {
		Phase     v1alpha1.AnalysisPhase
		Display   string
		Metadata  map[string]string
		Err       string
		Permanent bool
	}
	for name, tc := range map[string]struct {
		metric *v1alpha1.Metric
		want   want
	}{
		"successful": {metric: pluginMetric(prom.URL, "rate_ok", sample),
			want: want{Phase: v1alpha1.AnalysisPhaseSuccessful, Display: "[0.99]", Metadata: map[string]string{"ResolvedPrometheusQuery": "rate_ok"}}},
		"failed": {metric: pluginMetric(prom.URL, "rate_bad", sample),
			want: want{Phase: v1alpha1.AnalysisPhaseFailed, Display: "[0.5]", Metadata: map[string]string{"ResolvedPrometheusQuery": "rate_bad"}}},
		"the query errors": {metric: pluginMetric(prom.URL, "nonsense", sample),
			want: want{Err: "failed to run via plugin: bad_data: 1:1: parse error: unexpected identifier nonsense"}},
		"no address": {metric: pluginMetric("", "rate_ok", sample),
			want: want{Err: "failed to run via plugin: prometheus address is not configured"}},
		"a plugin not configured": {metric: pluginMetric(prom.URL, "rate_ok", "argoproj/other"),
			want: want{Err: `metric provider plugin "argoproj/other": not configured`, Permanent: true}},
		"two plugins": {metric: pluginMetric(prom.URL, "rate_ok", sample, "argoproj/other"),
			want: want{Err: "provider.plugin must name exactly one plugin, not 2 (argoproj/other, argoproj/sample-prometheus)", Permanent: true}},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := p.Measure(ctx, run, tc.metric)
			got := want{Phase: res.Phase, Display: res.Display, Metadata: res.MetricMetadata}
			if err != nil {
				got.Err, got.Permanent = err.Error(), provider.IsPermanent(err)
				if strings.HasPrefix(got.Err, tc.want.Err) {
					got.Err = tc.want.Err
				}
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("-want +got:\n%s", d)
			}
		})
	}
}

// TestInProgress: the sample plugin hands back the measurement it is given on Resume and
// Terminate, garbage-collects nothing and calls itself "RPCPlugin".
func TestInProgress(t *testing.T) {
	p, pm := newProvider(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "run", Namespace: "shop"}}
	m := pluginMetric("http://127.0.0.1:1", "up", sample)
	resumeAt := metav1.NewTime(time.Now().Add(time.Minute).Truncate(time.Second))
	running := &v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseRunning, ResumeAt: &resumeAt, Metadata: map[string]string{"job": "j-1"}}
	res, err := p.Resume(ctx, run, m, running)
	if err != nil || res.Phase != v1alpha1.AnalysisPhaseRunning || res.ResumeAfter <= 50*time.Second || res.Metadata["job"] != "j-1" {
		t.Errorf("Resume: %+v, %v", res, err)
	}
	if err := p.Terminate(ctx, run, m, running); err != nil {
		t.Errorf("Terminate: %v", err)
	}
	if err := p.GarbageCollect(ctx, run, m, 2); err != nil {
		t.Errorf("GarbageCollect: %v", err)
	}
	if typ, err := (metric.Client{Plugins: pm, Name: sample}).Type(ctx); typ != "RPCPlugin" || err != nil {
		t.Errorf("Type: %q, %v", typ, err)
	}
}

// TestCrash: a measurement after the plugin's process was killed starts it again.
func TestCrash(t *testing.T) {
	prom := newPrometheus(t, map[string]string{"rate_ok": "0.99"})
	p, pm := newProvider(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "run", Namespace: "shop"}}
	var pids []int
	for i := 0; i < 2; i++ {
		res, err := p.Measure(ctx, run, pluginMetric(prom.URL, "rate_ok", sample))
		if err != nil || res.Phase != v1alpha1.AnalysisPhaseSuccessful {
			t.Fatalf("measurement %d: %+v, %v", i, res, err)
		}
		pids = append(pids, pm.PID(plugin.MetricProvider, sample))
		if err := syscall.Kill(pids[i], syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	if pids[0] == pids[1] {
		t.Errorf("the crashed plugin was not started again: pids %v", pids)
	}
}
