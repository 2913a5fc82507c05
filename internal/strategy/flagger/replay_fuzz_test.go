package flagger

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// fzReplayable reports whether a Canary's analysis can end without a person: weights within
// 0..100, a traffic step that always moves (stepWeight above 0, or stepWeights rising), a
// bounded number of iterations, not suspended. Flagger itself never ends the others (a
// stepWeight of 0 never moves, a maxWeight above 100 is never reached).
func fzReplayable(cd *flaggerv1.Canary) bool {
	a := cd.AnalysisSpec()
	if !fzSane(cd) || cd.Suspended() || ptr.Deref(a.Iterations, 0) < 0 || ptr.Deref(a.Iterations, 0) > 100 {
		return false
	}
	if ptr.Deref(a.Iterations, 0) > 0 || cd.SkipAnalysis() {
		return true
	}
	if len(a.StepWeights) == 0 {
		return ptr.Deref(a.StepWeight, 0) > 0
	}
	return a.StepWeights[0] > 0 && slices.IsSorted(a.StepWeights) && len(slices.Compact(slices.Clone(a.StepWeights))) == len(a.StepWeights)
}

// FuzzReplay plays a Canary's life tick after tick, as the controller would: initialization,
// then a new revision of the target analysed to its end, with the webhooks and metric checks
// answering, the workloads becoming ready and the routes following each plan, all as the
// fuzzer's bytes say (by default every gate opens and every check passes). Every plan passes
// FuzzDecide's checks. The analysis must end, Succeeded (the new revision promoted, all
// traffic on the primary, the target scaled to zero) or Failed (all traffic on the primary,
// the target scaled to zero), within a bounded number of ticks.
func FuzzReplay(f *testing.F) {
	for _, js := range fzSeeds(f) {
		for _, st := range fzStates() {
			f.Add(js, st)
		}
	}
	f.Fuzz(func(t *testing.T, spec, world []byte) {
		cd, ok := fzDecode(spec)
		if !ok || !fzReplayable(cd) {
			return
		}
		cd.Status = flaggerv1.CanaryStatus{}
		fzReplay(t, cd, &fuzzBytes{b: world}, 1000+2*len(world))
	})
}

// fzWorld is a Canary's life being replayed.
type fzWorld struct {
	cd     *flaggerv1.Canary
	obs    Observed
	routed bool // a router keeps the weights (not the kubernetes provider)
	// scaled: the target runs pods; primaryLag, canaryLag: ticks until the primary (after a
	// promotion) and the target (after scaling up) are ready
	scaled                bool
	primaryLag, canaryLag int
	trace                 []string
}

// fzReplay plays initialization and the analysis of a new revision.
func fzReplay(t *testing.T, cd *flaggerv1.Canary, r *fuzzBytes, maxTicks int) {
	provider := cd.Spec.Provider
	if provider == "" {
		provider = flaggerv1.KubernetesProvider
	}
	w := &fzWorld{cd: cd, routed: provider != flaggerv1.KubernetesProvider, scaled: true,
		obs: Observed{Now: fzT0, Provider: provider, TargetHash: "v1"}}
	for i := 0; i < maxTicks; i++ {
		w.tick(t, r)
		switch w.cd.Status.Phase {
		case flaggerv1.PhaseInitialized:
			if w.obs.TargetHash == "v1" {
				w.obs.TargetHash = "v2" // the new revision
			}
		case flaggerv1.PhaseSucceeded, flaggerv1.PhaseFailed:
			w.checkEnd(t)
			return
		}
	}
	w.fatalf(t, "the analysis did not end within %d ticks", maxTicks)
}

// tick runs one tick and applies its plan.
func (w *fzWorld) tick(t *testing.T, r *fuzzBytes) {
	t.Helper()
	w.obs.Now = w.obs.Now.Add(10 * time.Second)
	w.obs.Primary = Readiness{Ready: w.primaryLag == 0, Retriable: true, Message: "primary not ready"}
	w.obs.Canary = Readiness{Ready: w.canaryLag == 0, Retriable: true, Message: "canary not ready"}
	w.primaryLag, w.canaryLag = max(w.primaryLag-1, 0), max(w.canaryLag-1, 0)
	obs := w.obs
	if !w.routed || w.cd.Status.Phase == "" || w.cd.Status.Phase == flaggerv1.PhaseInitializing {
		obs.Routes = Routes{} // what the controller reads then
	}
	p, calls := fzDecideChecked(t, w.cd, obs, r.b)
	for range calls {
		r.byte() // the answers the Oracle used
	}
	w.trace = append(w.trace, fmt.Sprintf("%s %s routes %+v -> %s calls %v", w.obs.Now.Format(time.TimeOnly), w.cd.Status.Phase,
		obs.Routes, fzDescribe(p.Actions), calls))
	if p.Status != nil {
		w.cd.Status = *p.Status
	}
	for _, a := range p.Actions {
		switch a.Kind {
		case ReconcileRoutes:
			if w.obs.Routes == (Routes{}) {
				w.obs.Routes = Routes{Primary: 100} // the router's objects, made: all traffic on the primary
			}
		case SetRoutes:
			w.obs.Routes = a.Routes
		case ScaleToZero:
			w.scaled = false
		case ScaleFromZero:
			w.scaled, w.canaryLag = true, r.intn(3)
		case Promote:
			w.primaryLag = r.intn(3)
		}
	}
}

// checkEnd checks the state an ended analysis leaves.
func (w *fzWorld) checkEnd(t *testing.T) {
	t.Helper()
	s := w.cd.Status
	if w.scaled {
		w.fatalf(t, "the analysis ended %s with the target still running", s.Phase)
	}
	if w.routed && (w.obs.Routes.Primary != 100 || w.obs.Routes.Canary != 0 || w.obs.Routes.Mirrored) {
		w.fatalf(t, "the analysis ended %s with routes %+v, want all traffic on the primary", s.Phase, w.obs.Routes)
	}
	if s.Phase == flaggerv1.PhaseSucceeded && s.LastPromotedSpec != "v2" {
		w.fatalf(t, "succeeded with lastPromotedSpec %q, want the new revision", s.LastPromotedSpec)
	}
	if s.Phase == flaggerv1.PhaseFailed && s.LastPromotedSpec != "v1" {
		w.fatalf(t, "failed with lastPromotedSpec %q, want the first revision", s.LastPromotedSpec)
	}
}

func (w *fzWorld) fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Fatalf(format+"\nstatus: %s\ntrace:\n%s", append(args, fzDescribe(w.cd.Status), strings.Join(w.trace, "\n"))...)
}
