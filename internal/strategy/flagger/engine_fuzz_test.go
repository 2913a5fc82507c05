package flagger

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

var fzT0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// fzDecisionTimeout bounds one tick's decision; it takes microseconds, so running out of it
// means a loop that does not end.
const fzDecisionTimeout = 5 * time.Second

// fuzzBytes hands out the fuzzer's bytes as small choices; once they run out every choice is
// the zero one.
type fuzzBytes struct{ b []byte }

func (r *fuzzBytes) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// intn returns a number in [0, n).
func (r *fuzzBytes) intn(n int) int {
	if n <= 0 {
		return 0
	}
	return (int(r.byte())<<8 | int(r.byte())) % n
}

func (r *fuzzBytes) bool() bool { return r.byte()&1 == 1 }

func pick[T any](r *fuzzBytes, choices ...T) T { return choices[r.intn(len(choices))] }

// within runs fn and fails t when fn panics (with its stack) or does not return within d.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	var panicked any
	var stack []byte
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				panicked, stack = p, debug.Stack()
			}
		}()
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %s", what, d)
	}
	if panicked != nil {
		t.Fatalf("%s panicked: %v\n%s", what, panicked, stack)
	}
}

// fzOracle answers hooks and metric checks as the fuzzer's bytes say: by default (a zero
// byte) every gate opens, every check passes and no rollback hook signals. It records the
// questions, in order.
type fzOracle struct {
	r     *fuzzBytes
	calls []string
}

func (o *fzOracle) Hook(w flaggerv1.CanaryWebhook, phase flaggerv1.CanaryPhase) error {
	o.calls = append(o.calls, fmt.Sprintf("hook %s %q %s", w.Type, w.Name, phase))
	yes := o.r.byte()%4 != 1
	if w.Type == flaggerv1.HookRollback {
		yes = !yes
	}
	if yes {
		return nil
	}
	return errors.New("Forbidden")
}

func (o *fzOracle) Metrics() string {
	o.calls = append(o.calls, "metrics")
	if o.r.byte()%4 == 1 {
		return "Halt advancement no values found for custom metric: error-rate"
	}
	return ""
}

// fzSeeds are the Canaries of the repository's examples and variants of the table tests' seed
// 003: progressive with stepWeight, with stepWeights, A/B, blue/green with mirroring,
// skipping the analysis.
func fzSeeds(tb testing.TB) [][]byte {
	seeds := fzSeedDocs(tb, "Canary")
	variant := func(mod func(a *flaggerv1.CanaryAnalysis, s *flaggerv1.CanarySpec)) *flaggerv1.Canary {
		cd := seed003()
		cd.Spec.Analysis.Iterations = nil
		mod(cd.Spec.Analysis, &cd.Spec)
		return cd
	}
	for _, cd := range []*flaggerv1.Canary{
		seed003(),
		variant(func(a *flaggerv1.CanaryAnalysis, s *flaggerv1.CanarySpec) {
			s.Provider, a.StepWeight, a.MaxWeight, a.StepWeightPromotion = "istio", ptr.To[int32](20), ptr.To[int32](50), ptr.To[int32](30)
		}),
		variant(func(a *flaggerv1.CanaryAnalysis, s *flaggerv1.CanarySpec) {
			s.Provider, a.StepWeights = "gatewayapi", []int32{5, 10, 25, 50}
			a.Webhooks = append(a.Webhooks, flaggerv1.CanaryWebhook{Name: "more", Type: "confirm-traffic-increase", URL: "http://gate/more"},
				flaggerv1.CanaryWebhook{Name: "load", Type: "pre-rollout", URL: "http://load/start"})
		}),
		variant(func(a *flaggerv1.CanaryAnalysis, s *flaggerv1.CanarySpec) {
			s.Provider, a.Iterations = "istio", ptr.To[int32](4)
			a.Match = []flaggerv1.AnalysisMatch{{Headers: map[string]flaggerv1.HeaderMatch{"x-canary": {Exact: "insider"}}}}
		}),
		variant(func(a *flaggerv1.CanaryAnalysis, s *flaggerv1.CanarySpec) {
			s.Provider, a.Iterations, a.Mirror = "istio", ptr.To[int32](3), ptr.To(true)
		}),
		variant(func(a *flaggerv1.CanaryAnalysis, s *flaggerv1.CanarySpec) {
			a.Iterations, s.SkipAnalysis = ptr.To[int32](2), ptr.To(true)
		}),
	} {
		js, err := json.Marshal(cd)
		if err != nil {
			tb.Fatalf("encoding seed: %v", err)
		}
		seeds = append(seeds, js)
	}
	return seeds
}

// fzSeedDocs returns, as JSON, every document of kind in the repository's examples.
func fzSeedDocs(tb testing.TB, kind string) [][]byte {
	files, err := filepath.Glob("../../../examples/seeds/*.yaml")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no seed manifests: %v", err)
	}
	var out [][]byte
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			tb.Fatalf("reading seed file: %v", err)
		}
		rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := rd.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				tb.Fatalf("%s: %v", file, err)
			}
			js, err := yaml.YAMLToJSON(doc)
			if err != nil {
				tb.Fatalf("%s: %v", file, err)
			}
			var head struct{ Kind string }
			if json.Unmarshal(js, &head) == nil && head.Kind == kind {
				out = append(out, js)
			}
		}
	}
	return out
}

// fzStates are the seed states: none, and two spread over every choice.
func fzStates() [][]byte {
	spread, ones := make([]byte, 64), make([]byte, 64)
	for i := range spread {
		spread[i], ones[i] = byte(i*37+11), 1
	}
	return [][]byte{nil, ones, spread}
}

// fzDecode decodes a Canary the API server would store (Flagger's CRD validation, which
// ValidateCanary mirrors).
func fzDecode(data []byte) (*flaggerv1.Canary, bool) {
	var cd flaggerv1.Canary
	if json.Unmarshal(data, &cd) != nil || len(flaggerv1.ValidateCanary(&cd)) > 0 {
		return nil, false
	}
	return &cd, true
}

// FuzzDecide runs one analysis tick of any valid Canary (the fuzzer's JSON) in any state
// (status, what was observed of the workloads and routes, the webhooks' and metrics' answers
// and the clock, drawn from the fuzzer's bytes) and checks the plan: no panic, no hang, the
// same plan and the same questions to the Oracle for the same input, the Canary left as it
// was, weights within 0..100 and adding up to 100 for a Canary whose weights are within
// 0..100, counters not negative, a known phase, and a promotion recorded as such.
func FuzzDecide(f *testing.F) {
	for _, js := range fzSeeds(f) {
		for _, st := range fzStates() {
			f.Add(js, st, []byte(nil))
			f.Add(js, st, []byte{1, 0, 1, 1, 0, 0, 1})
		}
	}
	f.Fuzz(func(t *testing.T, spec, state, answers []byte) {
		cd, ok := fzDecode(spec)
		if !ok {
			return
		}
		r := &fuzzBytes{b: state}
		fzStatus(&cd.Status, r)
		fzDecideChecked(t, cd, fzObserved(cd, r), answers)
	})
}

// fzStatus fuzzes the Canary's status (the controller's to write, a user's to patch).
func fzStatus(st *flaggerv1.CanaryStatus, r *fuzzBytes) {
	if !r.bool() {
		return
	}
	st.Phase = pick(r, "", flaggerv1.PhaseInitializing, flaggerv1.PhaseInitialized, flaggerv1.PhaseWaiting, flaggerv1.PhaseProgressing,
		flaggerv1.PhaseWaitingPromotion, flaggerv1.PhasePromoting, flaggerv1.PhaseFinalising, flaggerv1.PhaseSucceeded,
		flaggerv1.PhaseFailed, flaggerv1.PhaseTerminating, flaggerv1.PhaseTerminated, "Bogus")
	st.Iterations, st.FailedChecks, st.CanaryWeight = int32(r.intn(14)), int32(r.intn(6)), int32(r.intn(101))
	st.LastAppliedSpec, st.LastPromotedSpec = pick(r, "", "v1", "v2"), pick(r, "", "v1", "v2")
	st.TrackedConfigs = nil
	if r.bool() {
		st.TrackedConfigs = map[string]string{"configmap/app": pick(r, "a", "b")}
	}
}

// fzObserved is what the controller observed, as the bytes draw it.
func fzObserved(cd *flaggerv1.Canary, r *fuzzBytes) Observed {
	provider := cd.Spec.Provider
	if provider == "" {
		provider = pick(r, flaggerv1.KubernetesProvider, "istio")
	}
	readiness := func() Readiness {
		return Readiness{Ready: !r.bool(), Retriable: !r.bool(), Message: "deployment not ready"}
	}
	obs := Observed{Now: fzT0.Add(time.Duration(r.intn(3600)) * time.Second), Provider: provider,
		TargetHash: pick(r, "v1", "v2", "v3"), TargetPromoted: r.bool(), Primary: readiness(), Canary: readiness()}
	if r.bool() {
		obs.Configs = map[string]string{"configmap/app": pick(r, "a", "b")}
	}
	c := r.intn(101)
	obs.Routes = Routes{Primary: 100 - c, Canary: c, Mirrored: r.bool()}
	return obs
}

// fzDecideChecked decides twice (under the hang guard) with the Oracle answering from answers,
// and checks the plan.
func fzDecideChecked(t *testing.T, cd *flaggerv1.Canary, obs Observed, answers []byte) (Plan, []string) {
	t.Helper()
	before := cd.DeepCopy()
	o1, o2 := &fzOracle{r: &fuzzBytes{b: answers}}, &fzOracle{r: &fuzzBytes{b: answers}}
	var p1, p2 Plan
	within(t, fzDecisionTimeout, "Decide", func() {
		p1 = Decide(cd, obs, o1)
		p2 = Decide(before.DeepCopy(), obs, o2)
	})
	// reflect compares cheaply; cmp explains a difference
	if !reflect.DeepEqual(before, cd) {
		t.Fatalf("Decide changed the Canary (-before +after):\n%s", cmp.Diff(before, cd))
	}
	if !reflect.DeepEqual(p1, p2) {
		t.Fatalf("the plan is not deterministic (-first +second):\n%s", cmp.Diff(p1, p2))
	}
	if !reflect.DeepEqual(o1.calls, o2.calls) {
		t.Fatalf("the Oracle's questions are not deterministic (-first +second):\n%s", cmp.Diff(o1.calls, o2.calls))
	}
	fzCheckPlan(t, cd, obs, p1)
	if t.Failed() {
		t.Logf("canary: %s\nobserved: %+v\nplan: %s", fzDescribe(cd), obs, fzDescribe(p1))
		t.FailNow()
	}
	return p1, o1.calls
}

// fzSane: every weight the Canary's analysis names is within 0..100.
func fzSane(cd *flaggerv1.Canary) bool {
	a := cd.AnalysisSpec()
	ws := append([]int32{ptr.Deref(a.StepWeight, 0), ptr.Deref(a.MaxWeight, 0), ptr.Deref(a.StepWeightPromotion, 0)}, a.StepWeights...)
	for _, w := range ws {
		if w < 0 || w > 100 {
			return false
		}
	}
	return true
}

var fzPhases = map[flaggerv1.CanaryPhase]bool{flaggerv1.PhaseInitializing: true, flaggerv1.PhaseInitialized: true,
	flaggerv1.PhaseWaiting: true, flaggerv1.PhaseProgressing: true, flaggerv1.PhaseWaitingPromotion: true,
	flaggerv1.PhasePromoting: true, flaggerv1.PhaseFinalising: true, flaggerv1.PhaseSucceeded: true, flaggerv1.PhaseFailed: true}

// fzCheckPlan checks what every plan must satisfy.
func fzCheckPlan(t *testing.T, cd *flaggerv1.Canary, obs Observed, p Plan) {
	t.Helper()
	sane := fzSane(cd)
	for _, a := range p.Actions {
		if a.Kind == SetRoutes && sane {
			fzCheckRoutes(t, "SetRoutes", a.Routes)
		}
	}
	if p.Weights != nil && sane {
		if w := p.Weights; w.Primary < 0 || w.Primary > 100 || w.Canary < 0 || w.Canary > 100 {
			t.Errorf("reported weights %+v, want within 0..100", *w)
		}
	}
	for _, e := range p.Events {
		if e.Message == "" {
			t.Errorf("an event without a message: %+v", e)
		}
	}
	for _, a := range p.Alerts {
		if a.Message == "" || (a.Severity != SeverityInfo && a.Severity != SeverityWarn && a.Severity != SeverityError) {
			t.Errorf("an alert without a message or with severity %q", a.Severity)
		}
	}
	if s := p.Status; s != nil {
		fzCheckStatus(t, cd, s, sane)
	}
	for _, a := range p.Actions {
		if a.Kind == Promote && (p.Status == nil || (p.Status.Phase != flaggerv1.PhasePromoting && p.Status.Phase != flaggerv1.PhaseSucceeded)) {
			t.Errorf("promoted without the phase saying so: %s", fzDescribe(p.Status))
		}
	}
}

func fzCheckRoutes(t *testing.T, what string, r Routes) {
	t.Helper()
	if r.Primary < 0 || r.Primary > 100 || r.Canary < 0 || r.Canary > 100 || r.Primary+r.Canary != 100 {
		t.Errorf("%s %+v, want weights within 0..100 adding up to 100", what, r)
	}
}

func fzCheckStatus(t *testing.T, cd *flaggerv1.Canary, s *flaggerv1.CanaryStatus, sane bool) {
	t.Helper()
	if s.Phase != cd.Status.Phase && !fzPhases[s.Phase] {
		t.Errorf("phase %q", s.Phase)
	}
	if sane && (s.CanaryWeight < 0 || s.CanaryWeight > 100) {
		t.Errorf("canaryWeight %d, want within 0..100", s.CanaryWeight)
	}
	// waiting for promotion, Flagger records one iteration short of the spec's (-1 without)
	if s.Iterations < min(0, cd.Iterations()-1) || s.FailedChecks < 0 {
		t.Errorf("iterations %d, failedChecks %d", s.Iterations, s.FailedChecks)
	}
	if s.Phase == flaggerv1.PhaseSucceeded && cd.Status.Phase != flaggerv1.PhaseSucceeded && s.LastPromotedSpec != s.LastAppliedSpec {
		t.Errorf("succeeded with lastPromotedSpec %q, lastAppliedSpec %q", s.LastPromotedSpec, s.LastAppliedSpec)
	}
	if len(s.Conditions) > 1 {
		t.Errorf("%d conditions, want at most the Promoted one", len(s.Conditions))
	}
}

func fzDescribe(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}
