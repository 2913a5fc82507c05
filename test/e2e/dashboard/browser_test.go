package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// chromium is Debian's browser (hack/deps.sh installs it).
const chromium = "/usr/bin/chromium"

// screenshotsEnv names a folder the browser tests also write their screenshots to (for
// docs/images).
const screenshotsEnv = "VANE_DASHBOARD_SCREENSHOTS"

// newBrowser starts headless Chromium with a fresh profile and a window of w x h; it stops
// with the test.
func newBrowser(t *testing.T, w, h int) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing (run hack/deps.sh): %v", chromium, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(w, h),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	return ctx
}

// do runs browser steps, failing the test on error.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitText waits until the first element matching sel contains want.
func waitText(t *testing.T, ctx context.Context, sel, want string, timeout time.Duration) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.PollFunction[bool](
		`(sel, want) => { const e = document.querySelector(sel); return !!e && e.textContent.includes(want); }`,
		chromedp.WithPollingArgs(sel, want), chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const e = document.querySelector(`+jsString(sel)+`); return e ? e.textContent : "(no element)"; })()`))
		note, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("notice").textContent`))
		t.Fatalf("waiting %s for %q in %s: %v; it says %q (notice %q)", timeout, want, sel, err, got, note)
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

// confirm presses an action's button and then Confirm in the dialog.
func confirm(t *testing.T, ctx context.Context, button string) {
	t.Helper()
	do(t, ctx, "pressing "+button, chromedp.Click(chromedp.CSS(button)), chromedp.WaitVisible(chromedp.CSS("#confirm-yes")),
		chromedp.Click(chromedp.CSS("#confirm-yes")))
}

// screenshot saves the page as name.png in the test's artifact folder (kept with
// `go test -artifacts`) and in $VANE_DASHBOARD_SCREENSHOTS when set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dirs := []string{t.ArtifactDir()}
	if d := os.Getenv(screenshotsEnv); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s", p)
	}
}

// scoreServer answers {"score": X} with X going round values, all >= 0.9: a metric source
// on loopback for a real AnalysisRun.
func scoreServer(t *testing.T) *httptest.Server {
	t.Helper()
	values := []float64{0.97, 0.93, 0.99, 0.95, 0.91, 0.98}
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		v := values[int(n.Add(1)-1)%len(values)]
		_ = json.NewEncoder(w).Encode(map[string]float64{"score": v})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// newAnalysed creates a canary whose second step runs the "score" analysis (4 measurements,
// 1 s apart) against url.
func newAnalysed(t *testing.T, env *testenv.Env, ns, name, url string) {
	t.Helper()
	at := &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: "score", Namespace: ns},
		Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{
			Name: "score", Interval: ptr.To(v1alpha1.DurationFromString("1s")), Count: ptr.To(intstr.FromInt32(4)),
			SuccessCondition: "result >= 0.9", FailureCondition: "result < 0.5",
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: url, JSONPath: "{$.score}"}},
		}}}}
	if err := env.Client.Create(context.Background(), at); err != nil {
		t.Fatal(err)
	}
	newCanary(t, env, ns, name, "search:1", 2, weightStep(50),
		v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "score"}}}},
		pauseStep())
}
