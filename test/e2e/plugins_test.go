package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider/prometheus/promtest"
	"github.com/vanedev/vane/internal/controller"
	"github.com/vanedev/vane/internal/controller/analysisrun"
	"github.com/vanedev/vane/internal/plugin"
	"github.com/vanedev/vane/internal/plugin/plugintest"
	"github.com/vanedev/vane/internal/testenv"
)

// samplePlugin is the name Argo's sample metric plugin reads its configuration under.
const samplePlugin = "argoproj/sample-prometheus"

// TestPluginsAnalysisRun measures AnalysisRuns with Argo Rollouts' own sample metric plugin,
// unchanged: the AnalysisRun controller (as config/rbac's ServiceAccount) reads the plugin from
// the argo-rollouts-config ConfigMap of its namespace, copies it from file:// or downloads it
// from a loopback http:// server with its sha256, and the plugin queries a real Prometheus and
// judges each value with the metric's conditions. A wrong sha256 makes the run an Error that
// names the plugin, at once.
func TestPluginsAnalysisRun(t *testing.T) {
	t.Parallel() // its own namespaces and controllers: runs beside the others
	env := testenv.Get(t)
	bin := plugintest.Binary(t, plugintest.MetricsSample)
	srv := plugintest.Serve(t, map[string]string{"sample-prometheus": bin})
	exp := promtest.NewExporter(t)
	exp.Set(`http_success_ratio{app="web"}`, 0.99)
	exp.Set(`http_success_ratio{app="legacy"}`, 0.5)
	prom := promtest.Start(t, time.Second, exp.Target())
	prom.WaitForData(t, `http_success_ratio`, 30*time.Second)

	for name, tc := range map[string]struct {
		item     plugin.Item
		app      string
		want     v1alpha1.AnalysisPhase
		value    string
		messages []string
	}{
		"file://, successful": {item: plugin.Item{Location: "file://" + bin}, app: "web",
			want: v1alpha1.AnalysisPhaseSuccessful, value: "[0.99]"},
		"http:// with sha256, failed": {item: plugin.Item{Location: srv.URL + "/sample-prometheus", Sha256: plugintest.SHA256(t, bin)}, app: "legacy",
			want: v1alpha1.AnalysisPhaseFailed, value: "[0.5]", messages: []string{`metric "success-rate" failed: result [0.5] (1 failure, limit 0)`}},
		"http:// with a wrong sha256": {item: plugin.Item{Location: srv.URL + "/sample-prometheus", Sha256: strings.Repeat("ab", 32)}, app: "web",
			want: v1alpha1.AnalysisPhaseError, messages: []string{`metric "success-rate" errored: metric provider plugin "argoproj/sample-prometheus": unusable`,
				"has sha256 " + plugintest.SHA256(t, bin) + ", the ConfigMap expects " + strings.Repeat("ab", 32) + ": refusing to run it", "(not retried)"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := env.Namespace(t)
			tc.item.Kind, tc.item.Name = plugin.MetricProvider, samplePlugin
			if err := env.Client.Create(context.Background(), plugintest.ConfigMap(t, ns, tc.item)); err != nil {
				t.Fatal(err)
			}
			id := "plugins-" + ns
			startPluginController(t, env, ns, id)
			createPluginRun(t, env, ns, id, prom.URL, `http_success_ratio{app="`+tc.app+`"}`)
			run := waitPhase(t, env, ns, "success-rate", time.Minute, tc.want)
			mr := metricResult(run, "success-rate")
			for _, msg := range tc.messages {
				if !strings.Contains(run.Status.Message, msg) {
					t.Errorf("run message %q lacks %q", run.Status.Message, msg)
				}
			}
			if tc.value == "" {
				return
			}
			if n := len(mr.Measurements); n == 0 || mr.Measurements[n-1].Value != tc.value {
				t.Errorf("measurements %+v, want the last one's value %s", mr.Measurements, tc.value)
			}
			if q := mr.Metadata["ResolvedPrometheusQuery"]; q != `http_success_ratio{app="`+tc.app+`"}` {
				t.Errorf("the plugin's metadata on the metric result: %v", mr.Metadata)
			}
		})
	}
}

// createPluginRun creates the AnalysisRun "success-rate" for the controller id: two
// measurements a second apart through the sample plugin, of query against the Prometheus at
// address.
func createPluginRun(t *testing.T, env *testenv.Env, ns, id, address, query string) {
	t.Helper()
	cfg, err := json.Marshal(map[string]string{"address": address, "query": query})
	if err != nil {
		t.Fatal(err)
	}
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "success-rate", Namespace: ns, Labels: map[string]string{v1alpha1.InstanceIDLabel: id}},
		Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{Name: "success-rate",
			Interval: ptr.To(v1alpha1.DurationFromInt(1)), Count: ptr.To(intstr.FromInt32(2)),
			SuccessCondition: "result[0] >= 0.95", FailureCondition: "result[0] < 0.95",
			Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{samplePlugin: cfg}}}}}}
	if err := env.Client.Create(context.Background(), run); err != nil {
		t.Fatal(err)
	}
}

// startPluginController runs the AnalysisRun controller alone, for the runs labelled id in ns,
// with the plugins of ns's argo-rollouts-config ConfigMap (ns stands for the controller's
// namespace), until the test ends.
func startPluginController(t *testing.T, env *testenv.Env, ns, id string) {
	t.Helper()
	scheme, err := controller.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.ControllerIdentity()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.CreateTemp("", "plugins-controller-*.log")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	t.Logf("controller log in %s", logf.Name())
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Logger:                 zap.New(zap.WriteTo(logf), zap.UseDevMode(true), zap.Level(zapcore.Level(-1))),
		HealthProbeBindAddress: "0", Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}}})
	if err != nil {
		t.Fatal(err)
	}
	pm := plugin.NewManager(mgr.GetAPIReader(), plugin.Options{Namespace: ns, Dir: t.TempDir()})
	// the plugin manager logs what it loads into the controller's log
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		return pm.Start(log.IntoContext(ctx, mgr.GetLogger()))
	})); err != nil {
		t.Fatal(err)
	}
	if err := analysisrun.Setup(mgr, 2, analysisrun.WithInstanceID(id), analysisrun.WithPlugins(pm)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}
