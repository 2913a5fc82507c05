package dashboard

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	flaggerv1beta1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/gate"
	"github.com/vanedev/vane/internal/testenv"
)

// TestDashboardCanaryBrowser opens Flagger canaries in headless Chromium: the list shows them
// under the rollouts and its status filter applies to them; a canary's page follows a change
// of its status and of its gate without a reload, and says so when the canary is deleted. It
// saves a screenshot of each page.
func TestDashboardCanaryBrowser(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	d, c := startFlaggerDashboard(t, env, env.Config, false, ns)
	cn := newFlaggerCanary(t, c, ns, "podinfo", midAnalysis(20))
	newFlaggerCanary(t, c, ns, "backend", flaggerv1beta1.CanaryStatus{Phase: "Succeeded",
		LastTransitionTime: &metav1.Time{Time: transition},
		Conditions: []flaggerv1beta1.CanaryCondition{{Type: "Promoted", Status: "True", Reason: "Succeeded",
			Message: "Canary analysis completed successfully, promotion finished."}}})
	ctx := newBrowser(t, 1280, 900)

	do(t, ctx, "opening the list", chromedp.Navigate(d.URL+"/"))
	waitText(t, ctx, `tr.canary[data-name="podinfo"] .status`, "Progressing", pageWait)
	waitText(t, ctx, `tr.canary[data-name="backend"] .status`, "Succeeded", pageWait)
	screenshot(t, ctx, "list-canaries")
	hidden := `[...document.querySelectorAll("tr.canary")].filter(tr => tr.hidden).map(tr => tr.dataset.name).join(",")`
	eval[bool](t, ctx, `(() => { const s = document.getElementById("status-filter"); s.value = "Healthy";
		s.dispatchEvent(new Event("input", {bubbles: true})); return true; })()`)
	if got := eval[string](t, ctx, hidden); got != "podinfo" {
		t.Errorf("the status filter Healthy hides the canaries %q, want podinfo", got)
	}

	do(t, ctx, "opening the canary", chromedp.Navigate(d.URL+"/namespaces/"+ns+"/canaries/podinfo"))
	waitText(t, ctx, "#status", "Progressing", pageWait)
	waitText(t, ctx, "#gate-none", "No gate was ever set in this namespace", pageWait)
	eval[bool](t, ctx, `window.noReload = true`)
	next := midAnalysis(30)
	next.Phase = "WaitingPromotion"
	writeCanaryStatus(t, c, cn, next)
	waitText(t, ctx, "#weight .canary-weight", "30", pageWait)
	waitText(t, ctx, "#status", "WaitingPromotion", pageWait)
	if err := (&gate.ConfigMapStore{Client: c}).Set(context.Background(), gate.Key{Kind: gate.Confirm, Namespace: ns, Name: "podinfo"}, true); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#gate-confirm", "open", pageWait)
	if !eval[bool](t, ctx, `window.noReload === true`) {
		t.Error("the page reloaded to show the change")
	}
	screenshot(t, ctx, "canary")
	if err := c.Delete(context.Background(), cn); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#notice", "This canary no longer exists", 30*time.Second)
}
