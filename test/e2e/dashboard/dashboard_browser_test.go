package dashboard

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/actions"
)

const pageWait = 60 * time.Second

// TestDashboardBrowser opens the local dashboard in headless Chromium: the list shows the
// rollouts and filters them; a canary's page follows it from 20% to 50% without a reload;
// Promote moves it on; Abort turns it Degraded and the page says why; an analysis chart draws
// the measurements of a real run; blue/green shows active and preview; a page whose server
// goes away says it is stale, and one whose API server stops answering says so. It saves a
// screenshot of each page.
func TestDashboardBrowser(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	newCanary(t, env, ns, "shop", "shop:blue", 5, weightStep(20), pauseStep(), weightStep(50), pauseStep())
	newBlueGreen(t, env, ns, "checkout", "checkout:1")
	newAnalysed(t, env, ns, "search", scoreServer(t).URL)
	for _, name := range []string{"shop", "checkout", "search"} {
		waitPhase(t, env, ns, name, "Healthy")
	}
	d := startDashboard(t, env, env.Config, false, ns)
	ctx := newBrowser(t, 1280, 900)

	t.Run("list", func(t *testing.T) { listPage(t, ctx, d.URL) })
	t.Run("canary live from 20% to 50%", func(t *testing.T) { canaryLive(t, ctx, env, d.URL, ns) })
	t.Run("Promote", func(t *testing.T) {
		waitText(t, ctx, "#status", "Paused", pageWait)
		confirm(t, ctx, `button[data-action="promote"]:not([data-full])`)
		waitText(t, ctx, "#notice", "promoted", pageWait)
		waitPhase(t, env, ns, "shop", "Healthy")
		waitText(t, ctx, "#status", "Healthy", pageWait)
		waitText(t, ctx, "#step", "4/4", pageWait)
	})

	t.Run("Abort", func(t *testing.T) {
		setImage(t, env, ns, "shop", "shop:yellow")
		waitText(t, ctx, "#status", "Paused", pageWait)
		confirm(t, ctx, `button[data-action="abort"]`)
		waitText(t, ctx, "#status", "Degraded", pageWait)
		waitText(t, ctx, "#message", "RolloutAborted", pageWait)
		screenshot(t, ctx, "rollout-aborted")
	})

	t.Run("analysis chart", func(t *testing.T) { analysisChart(t, ctx, env, d.URL, ns) })
	t.Run("blue-green", func(t *testing.T) { blueGreenPage(t, ctx, env, d.URL, ns) })
	t.Run("phone", func(t *testing.T) {
		phone := newBrowser(t, 390, 844)
		do(t, phone, "opening the list on a phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(d.URL+"/"))
		waitText(t, phone, `tr.rollout[data-name="shop"]`, "Degraded", pageWait)
		if w := eval[int](t, phone, `document.documentElement.scrollWidth`); w > 400 {
			t.Errorf("the phone-sized list scrolls sideways: %d px wide", w)
		}
		screenshot(t, phone, "list-phone")
	})
	t.Run("stale", func(t *testing.T) { stalePage(t, env, ns) })
	t.Run("API server unreachable", func(t *testing.T) { unreachablePage(t, env, ns) })
}

func analysisChart(t *testing.T, ctx context.Context, env *testEnv, url, ns string) {
	setImage(t, env, ns, "search", "search:2")
	do(t, ctx, "opening the analysed canary", chromedp.Navigate(url+"/namespaces/"+ns+"/rollouts/search"))
	waitText(t, ctx, `.run .st`, "Successful", pageWait)
	var runs v1alpha1.AnalysisRunList
	if err := env.Client.List(context.Background(), &runs); err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, r := range runs.Items {
		if r.Namespace == ns {
			for _, m := range r.Status.MetricResults {
				for _, ms := range m.Measurements {
					values = append(values, ms.Value)
				}
			}
		}
	}
	if len(values) != 4 {
		t.Fatalf("the run has %d measurements, want 4", len(values))
	}
	got := eval[[]string](t, ctx, `Array.from(document.querySelectorAll(".metric svg.chart circle title")).map(e => e.textContent.split(" ")[0])`)
	if len(got) != len(values) {
		t.Fatalf("the chart has %d points %v, the run %d measurements %v", len(got), got, len(values), values)
	}
	for i := range values {
		if got[i] != values[i] {
			t.Errorf("point %d is %s, the run measured %s", i, got[i], values[i])
		}
	}
	waitText(t, ctx, ".metric .conds", "result >= 0.9", time.Second)
	screenshot(t, ctx, "analysis")
}

func blueGreenPage(t *testing.T, ctx context.Context, env *testEnv, url, ns string) {
	setImage(t, env, ns, "checkout", "checkout:2")
	do(t, ctx, "opening the blue/green rollout", chromedp.Navigate(url+"/namespaces/"+ns+"/rollouts/checkout"))
	waitText(t, ctx, "#bg-switch", "not switched yet", pageWait)
	ro := &v1alpha1.Rollout{}
	eventually(t, pageWait, "a preview ReplicaSet", func() (bool, string) {
		getRollout(t, env, ns, "checkout", ro)
		st := ro.Status.BlueGreen
		return st.PreviewSelector != "" && st.PreviewSelector != st.ActiveSelector, st.PreviewSelector
	})
	waitText(t, ctx, "#bg-active", "checkout-"+ro.Status.BlueGreen.ActiveSelector, pageWait)
	waitText(t, ctx, "#bg-preview", "checkout-"+ro.Status.BlueGreen.PreviewSelector, pageWait)
	waitText(t, ctx, ".side.preview", "checkout:2", pageWait)
	waitText(t, ctx, ".side.active", "checkout:1", pageWait)
	screenshot(t, ctx, "bluegreen")
	confirm(t, ctx, `button[data-action="promote"]:not([data-full])`)
	waitText(t, ctx, "#bg-switch", "switched: the new version is active", pageWait)
	waitText(t, ctx, ".side.active", "checkout:2", pageWait)
}

// stalePage opens a page on a second dashboard, stops that server and expects the page to
// say it is stale.
func stalePage(t *testing.T, env *testEnv, ns string) {
	d := startDashboard(t, env, env.Config, false, ns)
	ctx := newBrowser(t, 1024, 700)
	do(t, ctx, "opening the list", chromedp.Navigate(d.URL+"/"))
	waitText(t, ctx, "#live", "live", pageWait)
	d.Stop()
	waitText(t, ctx, "#live", "stale", pageWait)
	if !eval[bool](t, ctx, `document.body.classList.contains("stale")`) {
		t.Error("the page is not marked stale")
	}
}

// listPage shows the three rollouts and filters them by text.
func listPage(t *testing.T, ctx context.Context, url string) {
	do(t, ctx, "opening the list", chromedp.Navigate(url+"/"))
	for _, name := range []string{"shop", "checkout", "search"} {
		waitText(t, ctx, `tr.rollout[data-name="`+name+`"] td[data-label="Status"]`, "Healthy", pageWait)
	}
	do(t, ctx, "filtering", chromedp.SendKeys(chromedp.CSS("#filter"), "check"))
	if n := eval[int](t, ctx, `document.querySelectorAll("tr.rollout:not([hidden])").length`); n != 1 {
		t.Errorf("the filter 'check' leaves %d rows, want 1", n)
	}
	eval[bool](t, ctx, `(() => { const f = document.getElementById("filter"); f.value = "";
		return f.dispatchEvent(new Event("input", {bubbles: true})); })()`)
	if n := eval[int](t, ctx, `document.querySelectorAll("tr.rollout:not([hidden])").length`); n != 3 {
		t.Errorf("without a filter %d rows show, want 3", n)
	}
	screenshot(t, ctx, "list")

}

// canaryLive follows a canary from 20% to 50% on its page without a reload.
func canaryLive(t *testing.T, ctx context.Context, env *testEnv, url, ns string) {
	do(t, ctx, "opening the canary", chromedp.Navigate(url+"/namespaces/"+ns+"/rollouts/shop"))
	waitText(t, ctx, "#status", "Healthy", pageWait)
	eval[bool](t, ctx, `window.noReload = true`)
	setImage(t, env, ns, "shop", "shop:green")
	waitText(t, ctx, ".summary .set-weight", "20", pageWait)
	waitText(t, ctx, "#status", "Paused", pageWait)
	waitText(t, ctx, "ol.track li.step-current", "pause until promoted", pageWait)
	if _, err := actions.Promote(context.Background(), env.Client, ns, "shop", false); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, ".summary .set-weight", "50", pageWait)
	if !eval[bool](t, ctx, `window.noReload === true`) {
		t.Error("the page reloaded to show the change")
	}
	screenshot(t, ctx, "rollout-canary")

}
