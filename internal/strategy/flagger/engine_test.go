package flagger

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// oracle answers hooks by URL (a missing URL refuses) and metrics with a queue of results.
type oracle struct {
	open    map[string]bool
	metrics []string
	calls   []string
}

func (o *oracle) Hook(w flaggerv1.CanaryWebhook, phase flaggerv1.CanaryPhase) error {
	o.calls = append(o.calls, fmt.Sprintf("%s %s", w.Type, phase))
	if o.open[w.URL] {
		return nil
	}
	return errors.New("Forbidden")
}

func (o *oracle) Metrics() string {
	if len(o.metrics) == 0 {
		return ""
	}
	m := o.metrics[0]
	o.metrics = o.metrics[1:]
	return m
}

// seed003 is seed 003's api-gateway Canary.
func seed003() *flaggerv1.Canary {
	return &flaggerv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "api-gateway", Namespace: "dev"},
		Spec: flaggerv1.CanarySpec{
			Provider:  "kubernetes",
			TargetRef: flaggerv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "api-gateway"},
			Service:   flaggerv1.CanaryService{Port: 8080},
			Analysis: &flaggerv1.CanaryAnalysis{Interval: "5s", Threshold: ptr.To[int32](2), Iterations: ptr.To[int32](10),
				Webhooks: []flaggerv1.CanaryWebhook{
					{Name: "ask for confirmation", Type: "confirm-rollout", URL: "http://gate/check"},
					{Name: "notify", Type: "event", URL: "http://chat/hook"},
					{Name: "promote", Type: "confirm-promotion", URL: "http://gate/halt"},
					{Name: "rollback", Type: "rollback", URL: "http://rollback/check"},
				}},
		},
	}
}

var ready = Readiness{Ready: true, Retriable: true}

// world ticks a Canary through the engine, applying each plan's status as the controller would.
type world struct {
	cd   *flaggerv1.Canary
	obs  Observed
	o    *oracle
	log  []string
	tick int
}

func (w *world) step() Plan {
	w.tick++
	w.obs.Now = time.Unix(int64(1000+w.tick), 0)
	p := Decide(w.cd, w.obs, w.o)
	if p.Status != nil {
		w.cd.Status = *p.Status
	}
	for _, a := range p.Actions {
		if a.Kind == SetRoutes {
			w.obs.Routes = a.Routes
		}
		if a.Kind != ReconcileRoutes {
			w.log = append(w.log, string(a.Kind))
		}
	}
	for _, e := range p.Events {
		w.log = append(w.log, e.Message)
	}
	return p
}

func (w *world) phaseAfter(n int) (flaggerv1.CanaryPhase, int32) {
	for i := 0; i < n; i++ {
		w.step()
	}
	return w.cd.Status.Phase, w.cd.Status.Iterations
}

func newWorld(cd *flaggerv1.Canary, open ...string) *world {
	o := &oracle{open: map[string]bool{}}
	for _, u := range open {
		o.open[u] = true
	}
	return &world{cd: cd, o: o, obs: Observed{Provider: cd.Spec.Provider, TargetHash: "v1",
		Primary: ready, Canary: ready, Routes: Routes{}}}
}

// TestSeed003: initialization, the confirm-rollout gate, ten iterations, the confirm-promotion
// gate holding in WaitingPromotion, then promotion once it opens.
func TestSeed003(t *testing.T) {
	w := newWorld(seed003())
	w.step()
	if diff := cmp.Diff([]string{"ScaleToZero", "Initialization done! api-gateway.dev"}, w.log); diff != "" {
		t.Fatalf("initialization (-want +got):\n%s", diff)
	}
	if got := w.cd.Status; got.Phase != "Initialized" || got.LastAppliedSpec != "v1" || got.LastPromotedSpec != "v1" ||
		got.Conditions[0].Status != "True" || got.Conditions[0].Message != "Deployment initialization completed." {
		t.Fatalf("status after initialization: %+v", got)
	}
	if phase, _ := w.phaseAfter(2); phase != "Initialized" {
		t.Fatalf("nothing changed, phase = %s", phase)
	}
	w.obs.TargetHash, w.log = "v2", nil
	if phase, _ := w.phaseAfter(2); phase != "Waiting" {
		t.Fatalf("new revision behind a closed gate: phase = %s", phase)
	}
	if diff := cmp.Diff([]string{"Halt api-gateway.dev advancement waiting for approval ask for confirmation"}, w.log); diff != "" {
		t.Fatalf("waiting (-want +got):\n%s", diff)
	}
	w.o.open["http://gate/check"], w.log = true, nil
	w.step()
	if diff := cmp.Diff([]string{"ScaleFromZero", "Confirm-rollout check ask for confirmation passed",
		"New revision detected! Scaling up api-gateway.dev"}, w.log); diff != "" {
		t.Fatalf("gate opened (-want +got):\n%s", diff)
	}
	if phase, it := w.phaseAfter(10); phase != "Progressing" || it != 10 {
		t.Fatalf("after 10 ticks: phase %s iterations %d, want Progressing 10", phase, it)
	}
	if phase, it := w.phaseAfter(1); phase != "WaitingPromotion" || it != 9 {
		t.Fatalf("promotion refused: phase %s iterations %d, want WaitingPromotion 9", phase, it)
	}
	if phase, it := w.phaseAfter(2); phase != "WaitingPromotion" || it != 9 {
		t.Fatalf("still refused: phase %s iterations %d, want WaitingPromotion 9", phase, it)
	}
	w.cd.Spec.Analysis.Webhooks[2].URL, w.o.open["http://gate/approve"], w.log = "http://gate/approve", true, nil
	for _, want := range []flaggerv1.CanaryPhase{"WaitingPromotion", "WaitingPromotion", "Promoting", "Finalising", "Succeeded"} {
		if phase, _ := w.phaseAfter(1); phase != want {
			t.Fatalf("phase = %s, want %s (log %q)", phase, want, w.log)
		}
	}
	if w.cd.Status.LastPromotedSpec != "v2" {
		t.Errorf("lastPromotedSpec = %q, want v2", w.cd.Status.LastPromotedSpec)
	}
	if diff := cmp.Diff([]string{"Promote", "ScaleToZero"}, actions(w.log)); diff != "" {
		t.Errorf("promotion actions (-want +got):\n%s", diff)
	}
	if phase, _ := w.phaseAfter(2); phase != "Succeeded" {
		t.Errorf("after promotion, phase = %s", phase)
	}
}

func actions(log []string) []string {
	var out []string
	for _, l := range log {
		switch ActionKind(l) {
		case ScaleToZero, ScaleFromZero, Promote, SetRoutes:
			out = append(out, l)
		}
	}
	return out
}

// progressing returns seed 003 in the middle of its analysis.
func progressing(open ...string) *world {
	w := newWorld(seed003(), open...)
	w.step()
	w.obs.TargetHash = "v2"
	w.o.open["http://gate/check"] = true
	w.phaseAfter(3)
	return w
}

func TestRollback(t *testing.T) {
	tests := map[string]struct {
		setup      func(w *world)
		ticks      int
		wantEvents []string
	}{
		"rollback webhook opened": {
			setup: func(w *world) { w.o.open["http://rollback/check"] = true },
			ticks: 1,
			wantEvents: []string{"Rollback check rollback passed", "Rolling back api-gateway.dev manual webhook invoked",
				"Canary failed! Scaling down api-gateway.dev"},
		},
		"failed metric checks reach the threshold": {
			setup: func(w *world) {
				w.o.metrics = []string{"Halt advancement: error-rate 7 > 1", "Halt advancement: error-rate 8 > 1"}
			},
			ticks: 3,
			wantEvents: []string{"Halt advancement: error-rate 7 > 1", "Halt advancement: error-rate 8 > 1",
				"Rolling back api-gateway.dev failed checks threshold reached 2", "Canary failed! Scaling down api-gateway.dev"},
		},
		"canary past its progress deadline": {
			setup: func(w *world) {
				w.obs.Canary = Readiness{Message: `deployment "api-gateway" exceeded its progress deadline`}
			},
			ticks:      1,
			wantEvents: []string{`deployment "api-gateway" exceeded its progress deadline`, "Canary failed! Scaling down api-gateway.dev"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := progressing()
			tc.setup(w)
			var events []string
			for i := 0; i < tc.ticks; i++ {
				for _, e := range w.step().Events {
					if e.Warning {
						events = append(events, e.Message)
					}
				}
			}
			if diff := cmp.Diff(tc.wantEvents, events); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if s := w.cd.Status; s.Phase != "Failed" || s.FailedChecks != 0 || s.Conditions[0].Status != "False" {
				t.Errorf("status = %+v, want Failed", s)
			}
			if phase, _ := w.phaseAfter(2); phase != "Failed" {
				t.Errorf("the same revision must not start again: phase %s", phase)
			}
		})
	}
}

// TestProgressive: weights by stepWeight up to maxWeight, then promotion and the shift back by
// stepWeightPromotion.
func TestProgressive(t *testing.T) {
	cd := seed003()
	cd.Spec.Provider = "gatewayapi"
	cd.Spec.Analysis.Iterations = nil
	cd.Spec.Analysis.StepWeight, cd.Spec.Analysis.MaxWeight = ptr.To[int32](20), ptr.To[int32](50)
	cd.Spec.Analysis.StepWeightPromotion = ptr.To[int32](30)
	cd.Spec.Analysis.Webhooks = nil
	w := newWorld(cd)
	w.obs.Routes = Routes{Primary: 100}
	w.step()
	w.obs.TargetHash = "v2"
	var weights []Routes
	for i := 0; i < 12 && w.cd.Status.Phase != "Succeeded"; i++ {
		for _, a := range w.step().Actions {
			if a.Kind == SetRoutes {
				weights = append(weights, a.Routes)
			}
		}
	}
	want := []Routes{{80, 20, false}, {60, 40, false}, {40, 60, false}, {70, 30, false}, {100, 0, false}}
	if diff := cmp.Diff(want, weights); diff != "" {
		t.Errorf("weights (-want +got):\n%s", diff)
	}
	if w.cd.Status.Phase != "Succeeded" {
		t.Errorf("phase = %s", w.cd.Status.Phase)
	}
}

func TestNextStepWeight(t *testing.T) {
	tests := map[string]struct {
		step, max *int32
		steps     []int32
		current   int
		want, mx  int
	}{
		"stepWeight":                 {step: ptr.To[int32](10), current: 30, want: 10, mx: 100},
		"stepWeight with maxWeight":  {step: ptr.To[int32](10), max: ptr.To[int32](50), current: 30, want: 10, mx: 50},
		"stepWeights from zero":      {steps: []int32{1, 10, 50}, current: 0, want: 1, mx: 50},
		"stepWeights to the next":    {steps: []int32{1, 10, 50}, current: 10, want: 40, mx: 50},
		"stepWeights off the list":   {steps: []int32{1, 10, 50}, current: 30, want: 70, mx: 50},
		"stepWeights at 100":         {steps: []int32{50, 100}, current: 100, want: 1, mx: 100},
		"nothing set moves nothing":  {current: 0, want: 0, mx: 100},
		"stepWeights above 100 caps": {steps: []int32{60, 120}, current: 60, want: 40, mx: 100},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cd := &flaggerv1.Canary{Spec: flaggerv1.CanarySpec{Analysis: &flaggerv1.CanaryAnalysis{
				StepWeight: tc.step, MaxWeight: tc.max, StepWeights: tc.steps}}}
			if got := nextStepWeight(cd, tc.current); got != tc.want {
				t.Errorf("nextStepWeight = %d, want %d", got, tc.want)
			}
			if got := maxWeight(cd); got != tc.mx {
				t.Errorf("maxWeight = %d, want %d", got, tc.mx)
			}
		})
	}
}

// TestTakenOverFromFlagger: a Succeeded Canary whose hashes Flagger computed (Vane's differ)
// starts nothing when the primary runs the target's template; it adopts Vane's hash. A target
// the primary does not run is a new revision.
func TestTakenOverFromFlagger(t *testing.T) {
	tests := map[string]struct {
		promoted  bool
		wantPhase flaggerv1.CanaryPhase
		wantHash  string
	}{
		"primary runs the target": {promoted: true, wantPhase: "Succeeded", wantHash: "vane-hash"},
		"primary runs another":    {promoted: false, wantPhase: "Progressing", wantHash: "vane-hash"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cd := seed003()
			cd.Spec.Analysis.Webhooks = nil
			cd.Status = flaggerv1.CanaryStatus{Phase: "Succeeded", LastAppliedSpec: "flagger-hash", LastPromotedSpec: "flagger-hash"}
			w := newWorld(cd)
			w.obs.TargetHash, w.obs.TargetPromoted = "vane-hash", tc.promoted
			w.phaseAfter(2)
			if got := w.cd.Status; got.Phase != tc.wantPhase || got.LastAppliedSpec != tc.wantHash {
				t.Errorf("phase %s, lastAppliedSpec %s; want %s, %s (log %q)", got.Phase, got.LastAppliedSpec, tc.wantPhase, tc.wantHash, w.log)
			}
		})
	}
}
