package server

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	flaggerv1beta1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

var canaryTime = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// flaggerCanary is a Canary of analysis a with the given status.
func flaggerCanary(a *flaggerv1beta1.CanaryAnalysis, st flaggerv1beta1.CanaryStatus) *flaggerv1beta1.Canary {
	return &flaggerv1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec:   flaggerv1beta1.CanarySpec{TargetRef: flaggerv1beta1.TargetRef{Kind: "Deployment", Name: "podinfo"}, Analysis: a},
		Status: st}
}

func TestSummarizeCanary(t *testing.T) {
	progressing := flaggerv1beta1.CanaryStatus{Phase: "Progressing", CanaryWeight: 20, FailedChecks: 1,
		LastTransitionTime: ptr.To(metav1.NewTime(canaryTime)),
		Conditions:         []flaggerv1beta1.CanaryCondition{{Type: "Promoted", Status: "Unknown", Message: "New revision detected"}}}
	base := CanarySummary{Namespace: "test", Name: "podinfo", Target: "Deployment/podinfo", Provider: "(controller default)"}
	with := func(f func(*CanarySummary)) CanarySummary { s := base; f(&s); return s }
	tests := map[string]struct {
		canary *flaggerv1beta1.Canary
		want   CanarySummary
	}{
		"weighted, mid-analysis": {
			canary: flaggerCanary(&flaggerv1beta1.CanaryAnalysis{StepWeight: ptr.To[int32](10), MaxWeight: ptr.To[int32](50), Threshold: ptr.To[int32](5)}, progressing),
			want: with(func(s *CanarySummary) {
				s.Phase, s.Status, s.Icon, s.Message, s.Weight, s.MaxWeight = "Progressing", stProgressing, "◌", "New revision detected", 20, 50
				s.FailedChecks, s.Threshold, s.LastTransitionTime = 1, 5, &canaryTime
			})},
		// stepWeights promote at the last one; no threshold is Flagger's 1
		"step weights, waiting for promotion": {
			canary: flaggerCanary(&flaggerv1beta1.CanaryAnalysis{StepWeights: []int32{5, 10, 40}}, flaggerv1beta1.CanaryStatus{Phase: "WaitingPromotion", CanaryWeight: 40}),
			want: with(func(s *CanarySummary) {
				s.Phase, s.Status, s.Icon, s.Weight, s.MaxWeight, s.Threshold = "WaitingPromotion", stPaused, "‖", 40, 40, 1
			})},
		// stepWeight without maxWeight goes up to 100
		"step weight, succeeded": {
			canary: flaggerCanary(&flaggerv1beta1.CanaryAnalysis{StepWeight: ptr.To[int32](25)}, flaggerv1beta1.CanaryStatus{Phase: "Succeeded"}),
			want: with(func(s *CanarySummary) {
				s.Phase, s.Status, s.Icon, s.MaxWeight, s.Threshold = "Succeeded", stHealthy, "✔", 100, 1
			})},
		// blue/green: iterations of N, no weights
		"iterations, failed": {
			canary: flaggerCanary(&flaggerv1beta1.CanaryAnalysis{Iterations: ptr.To[int32](10), Threshold: ptr.To[int32](2)},
				flaggerv1beta1.CanaryStatus{Phase: "Failed", Iterations: 4, FailedChecks: 2}),
			want: with(func(s *CanarySummary) {
				s.Phase, s.Status, s.Icon, s.Iterations, s.IterationsWanted, s.FailedChecks, s.Threshold = "Failed", stDegraded, "✖", 4, 10, 2, 2
			})},
		"no status yet": {canary: flaggerCanary(nil, flaggerv1beta1.CanaryStatus{}),
			want: with(func(s *CanarySummary) { s.Icon, s.Threshold = "?", 1 })},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, summarizeCanary(tc.canary)); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCanaryPagesRender renders the canary page and the list with canaries and checks what
// they show: the phase, weight, checks, gates (or why not) and webhooks, escaped.
func TestCanaryPagesRender(t *testing.T) {
	p, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	sum := summarizeCanary(flaggerCanary(&flaggerv1beta1.CanaryAnalysis{StepWeight: ptr.To[int32](10), MaxWeight: ptr.To[int32](50), Threshold: ptr.To[int32](5)},
		flaggerv1beta1.CanaryStatus{Phase: "Progressing", CanaryWeight: 20, FailedChecks: 1, LastTransitionTime: ptr.To(metav1.NewTime(canaryTime))}))
	d := &CanaryDetail{CanarySummary: sum, Interval: "1m", StepWeight: 10,
		Webhooks: []WebhookView{{Name: "gate", Type: "confirm-rollout", URL: "http://flagger-loadtester.test/gate/check?a=1&b=<2>"}},
		Gates:    &GatesView{ConfigMap: true, Confirm: gateOpen, Rollback: gateClosed}}
	noGates := *d
	noGates.Gates, noGates.GatesNote = nil, "the dashboard's own identity may not list and watch the ConfigMaps vane-gate"
	tests := map[string]struct {
		template string
		page     *page
		want     []string
	}{
		"canary page": {"canary.html", &page{Name: "podinfo", Namespace: "test", Kind: KindCanary, Now: canaryTime.Add(3 * time.Minute), Canary: d}, []string{
			`data-kind="Canary"`, `◌ Progressing`, `<dd id="target">Deployment/podinfo</dd>`, `<span class="canary-weight">20</span>%`,
			`(promotes at 50%)`, `<dd id="failed-checks">1/5</dd>`, `<dd id="last-transition">3m ago`, `+10% per interval`,
			`id="gate-confirm">open</span>`, `id="gate-rollback">closed</span>`,
			`<code>http://flagger-loadtester.test/gate/check?a=1&amp;b=&lt;2&gt;</code>`}},
		"canary page without gates": {"canary-body", &page{Canary: &noGates}, []string{
			`Not shown: the dashboard&#39;s own identity may not list and watch the ConfigMaps vane-gate.`}},
		"list with canaries": {"list-body", &page{List: &RolloutList{}, Canaries: &CanaryList{Items: []CanarySummary{sum}, Namespaces: []string{"test"}}}, []string{
			`<h2 id="canaries">Canaries`, `<tr class="canary" data-name="podinfo" data-namespace="test" data-status="Progressing"`,
			`<a href="/namespaces/test/canaries/podinfo">podinfo</a>`, `<td data-label="Failed checks" class="failed-checks">1/5</td>`}},
		"list, no canary may be listed": {"list-body", &page{List: &RolloutList{}, Canaries: &CanaryList{}}, []string{
			`No canaries in a namespace you may list.`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := p.ExecuteTemplate(&b, tc.template, tc.page); err != nil {
				t.Fatal(err)
			}
			var missing []string
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					missing = append(missing, w)
				}
			}
			if diff := cmp.Diff([]string(nil), missing); diff != "" {
				t.Errorf("%s lacks (-want +got):\n%s\n%s", tc.template, diff, b.String())
			}
		})
	}
}
