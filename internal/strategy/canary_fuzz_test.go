package strategy

import (
	"testing"

	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

// fzStates are the seed states: none (the status the JSON carries, one new ReplicaSet), and
// two spread over every choice.
func fzStates() [][]byte {
	spread, ones := make([]byte, 96), make([]byte, 96)
	for i := range spread {
		spread[i], ones[i] = byte(i*37+11), 1
	}
	return [][]byte{nil, ones, spread}
}

// fzCanarySeeds are the canary Rollouts of the repository's manifests and of the table tests.
func fzCanarySeeds(tb testing.TB) [][]byte {
	seeds := fzSeedDocs(tb, "Rollout")
	routedExperiment := routedRollout(10, []v1alpha1.CanaryStep{weight(20), experimentStep(5, 5), weight(60)},
		updating(1, naming), nil)
	routedRoutes := routedRollout(4, []v1alpha1.CanaryStep{
		headerStep("header", v1alpha1.HeaderRoutingMatch{HeaderName: "x-canary", HeaderValue: &v1alpha1.StringMatch{Exact: "1"}}),
		mirrorStep("mirror"), weight(50), {SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptr.To[int32](3)}}, pauseForever(),
	}, updating(2, applied(50, "n")), func(c *v1alpha1.CanaryStrategy) { c.DynamicStableScale = true })
	for _, ro := range []*v1alpha1.Rollout{
		rollout(5, demoSteps, updating(1, nil)),
		rollout(3, nil, v1alpha1.RolloutStatus{}),
		routedRollout(5, demoSteps, updating(0, applied(20, "n")), nil),
		withBackground(rollout(5, analysisSteps, updating(1, recorded)), ptr.To[int32](1)),
		rollout(5, experimentSteps, updating(1, naming)),
		routedExperiment, routedRoutes,
	} {
		seeds = append(seeds, fzValidSeed(tb, ro))
	}
	return seeds
}

// FuzzCanary runs the canary engine on any valid canary Rollout (the fuzzer's JSON) in any
// state (status, ReplicaSets, runs, Experiment, Services, router and clock drawn from the
// fuzzer's bytes) and checks the plan: no error for a valid rollout, no panic, no hang, the
// same plan for the same input, the input left as it was, replica counts only for observed
// ReplicaSets and within 0..max(spec.replicas, observed, setCanaryScale)+maxSurge, weights
// within 0..maxTrafficWeight and adding up to it, the step index within the steps, the
// stable ReplicaSet only ever moving to the new one, and a run or Experiment wanted only for a
// step of that kind.
func FuzzCanary(f *testing.F) {
	for _, js := range fzCanarySeeds(f) {
		for _, st := range fzStates() {
			f.Add(js, st)
		}
	}
	f.Fuzz(func(t *testing.T, spec, state []byte) {
		ro, ok := fzDecode(spec)
		if !ok || ro.Spec.Strategy.Canary == nil {
			return
		}
		fzCanaryDecide(t, fzCanaryInput(ro, &fuzzBytes{b: state}))
	})
}

// fzCanaryInput is the engine's input for ro in the state the bytes draw.
func fzCanaryInput(ro *v1alpha1.Rollout, r *fuzzBytes) Input {
	c := ro.Spec.Strategy.Canary
	if r.bool() {
		fzCanaryStatus(&ro.Status, r, c)
	}
	in := Input{Rollout: ro, NewHash: "n", StepsHash: "steps", FastRollback: r.bool(), TrafficRouter: r.bool(),
		RouterWeightVerified: r.bool(), Now: fzT0.Add(fzSeconds(r, 3600))}
	n := 1 + r.intn(len(fzHashes))
	for i, h := range fzHashes[:n] {
		in.Sets = append(in.Sets, Set{Hash: h, Role: fzRole(h, ro.Status.StableRS), Pods: fzPods(r, ro.Spec.EffectiveReplicas()),
			Revision: int64(n - i), ScaleDownDeadline: fzDeadline(r)})
		if r.bool() {
			in.ServiceHashes = append(in.ServiceHashes, h)
		}
	}
	in.Runs = fzRuns(r, &ro.Status, len(c.Steps))
	if name := ro.Status.Canary.CurrentExperiment; name != "" && r.bool() {
		in.Experiment = &Experiment{Name: name, Phase: fzPhase(r), Message: "metric \"m\" failed",
			Templates: fzTemplateStatuses(r, c.Steps)}
	}
	return in
}

// fzRole is a ReplicaSet's role, as the controller gives it.
func fzRole(h, stableRS string) Role {
	switch h {
	case "n":
		return RoleNew
	case stableRS:
		return RoleStable
	}
	return RoleOther
}

// fzCanaryStatus fuzzes the canary's status.
func fzCanaryStatus(st *v1alpha1.RolloutStatus, r *fuzzBytes, c *v1alpha1.CanaryStrategy) {
	fzCommonStatus(st, r)
	st.CurrentStepHash = pick(r, "steps", "", "other")
	st.CurrentStepIndex = nil
	if r.bool() {
		st.CurrentStepIndex = ptr.To(int32(r.intn(len(c.Steps)+4) - 2))
	}
	st.Canary.CurrentBackgroundAnalysisRunStatus = fzRecord(r, "bg")
	st.Canary.CurrentStepAnalysisRunStatus = fzRecord(r, "step")
	st.Canary.CurrentExperiment = pick(r, "", "ex")
	st.Canary.Weights = nil
	if maxW := c.EffectiveMaxTrafficWeight(); r.bool() {
		w := int32(r.intn(int(maxW) + 1))
		st.Canary.Weights = &v1alpha1.TrafficWeights{
			Canary: v1alpha1.WeightDestination{Weight: w, PodTemplateHash: pick(r, "n", "s", "")},
			Stable: v1alpha1.WeightDestination{Weight: maxW - w, PodTemplateHash: "s"}}
	}
}

// fzTemplateStatuses are the Experiment's templates (each name of the experiment steps at
// most once), running behind their Services.
func fzTemplateStatuses(r *fuzzBytes, steps []v1alpha1.CanaryStep) []v1alpha1.TemplateStatus {
	seen := map[string]bool{}
	var out []v1alpha1.TemplateStatus
	for _, s := range steps {
		if s.Experiment == nil {
			continue
		}
		for _, tmpl := range s.Experiment.Templates {
			if !seen[tmpl.Name] && r.bool() {
				seen[tmpl.Name] = true
				out = append(out, v1alpha1.TemplateStatus{Name: tmpl.Name, ServiceName: "svc-" + tmpl.Name,
					PodTemplateHash: "x-" + tmpl.Name, Status: "Running"})
			}
		}
	}
	return out
}

// fzCopyInput is a deep copy of in.
func fzCopyInput(in Input) Input {
	out := in
	out.Rollout = in.Rollout.DeepCopy()
	out.Sets = append([]Set(nil), in.Sets...)
	out.ServiceHashes = append([]string(nil), in.ServiceHashes...)
	for _, r := range []**Run{&out.Runs.Background, &out.Runs.Step, &out.Runs.PrePromotion, &out.Runs.PostPromotion} {
		if *r != nil {
			c := **r
			*r = &c
		}
	}
	if in.Experiment != nil {
		ex := *in.Experiment
		ex.Templates = append([]v1alpha1.TemplateStatus(nil), ex.Templates...)
		out.Experiment = &ex
	}
	return out
}

// fzCanaryDecide decides twice on in (under the hang guard) and checks the plan.
func fzCanaryDecide(t *testing.T, in Input) Plan {
	t.Helper()
	before := fzCopyInput(in)
	var p1, p2 Plan
	var err1, err2 error
	within(t, fzDecisionTimeout, "Canary", func() {
		p1, err1 = Canary(in)
		p2, err2 = Canary(fzCopyInput(before))
	})
	fzUnchanged(t, before, in)
	if err1 != nil || err2 != nil {
		t.Fatalf("a valid rollout gave an error: %v / %v", err1, err2)
	}
	fzSameOutcome(t, "the canary plan", p1, p2)
	fzCheckCanaryPlan(t, in, p1)
	fzCheckProgress(t, &in.Rollout.Spec, &in.Rollout.Status, &p1.Status, in.Now)
	if t.Failed() {
		t.Logf("input: %s\nplan: %s", fzDescribe(in), fzDescribe(p1))
		t.FailNow()
	}
	return p1
}

// fzCheckCanaryPlan checks what every canary plan must satisfy.
func fzCheckCanaryPlan(t *testing.T, in Input, p Plan) {
	t.Helper()
	c := in.Rollout.Spec.Strategy.Canary
	replicas, maxW := in.Rollout.Spec.EffectiveReplicas(), c.EffectiveMaxTrafficWeight()
	observed, specs := map[string]bool{}, []int32{}
	for _, s := range in.Sets {
		observed[s.Hash] = true
		specs = append(specs, s.Pods.Spec)
	}
	budget, _ := ResolveBudget(c.EffectiveMaxSurge(), c.EffectiveMaxUnavailable(), replicas)
	bound := max(int64(replicas), fzMaxObserved(specs...), fzMaxCanaryScale(c.Steps)) + int64(budget.MaxSurge)
	fzCheckReplicas(t, p.Replicas, observed, bound)
	fzCheckDeadlines(t, p.ScaleDownDeadlines, observed)
	fzCheckEvents(t, p.Events)
	if p.Weight < 0 || p.Weight > max(100, maxW) {
		t.Errorf("weight %d, want within 0..%d", p.Weight, max(100, maxW))
	}
	if p.RouterWeight < 0 || p.RouterWeight > maxW {
		t.Errorf("router weight %d, want within 0..%d", p.RouterWeight, maxW)
	}
	if p.Weights != nil {
		fzCheckWeights(t, p.Weights, maxW)
	}
	// an index beyond the steps, patched into the status by hand, stays as Argo leaves it
	read := in.Rollout.Status.CurrentStepIndex
	if i := p.Status.CurrentStepIndex; i != nil && (*i < 0 || int(*i) > len(c.Steps) && (read == nil || *read != *i)) {
		t.Errorf("currentStepIndex %d, want within 0..%d", *i, len(c.Steps))
	}
	if p.RequeueAfter < 0 {
		t.Errorf("requeue after %s", p.RequeueAfter)
	}
	if p.Completed && p.Status.StableRS != in.NewHash {
		t.Errorf("completed with stableRS %q, want the new ReplicaSet %q", p.Status.StableRS, in.NewHash)
	}
	if s := p.Status.StableRS; s != in.Rollout.Status.StableRS && s != in.NewHash {
		t.Errorf("stableRS moved from %q to %q, which is not the new ReplicaSet", in.Rollout.Status.StableRS, s)
	}
	if i := p.Analysis.Step; i != nil && (*i < 0 || int(*i) >= len(c.Steps) || c.Steps[*i].Analysis == nil) {
		t.Errorf("a run wanted for step %d, which is not an analysis step", *i)
	}
	if i := p.Experiment.Step; i != nil && (*i < 0 || int(*i) >= len(c.Steps) || c.Steps[*i].Experiment == nil) {
		t.Errorf("an Experiment wanted for step %d, which is not an experiment step", *i)
	}
}

// fzCheckWeights checks status.canary.weights: each share within 0..maxW, all adding to maxW.
func fzCheckWeights(t *testing.T, w *v1alpha1.TrafficWeights, maxW int32) {
	t.Helper()
	all := append([]v1alpha1.WeightDestination{w.Canary, w.Stable}, w.Additional...)
	var sum int64
	for _, d := range all {
		if d.Weight < 0 || d.Weight > maxW {
			t.Errorf("traffic weight %d (%s), want within 0..%d", d.Weight, fzDescribe(d), maxW)
		}
		sum += int64(d.Weight)
	}
	if sum != int64(maxW) {
		t.Errorf("traffic weights add up to %d, want %d: %s", sum, maxW, fzDescribe(w))
	}
}

// fzMaxCanaryScale is the largest setCanaryScale.replicas of the steps.
func fzMaxCanaryScale(steps []v1alpha1.CanaryStep) int64 {
	var m int64
	for _, s := range steps {
		if s.SetCanaryScale != nil && s.SetCanaryScale.Replicas != nil {
			m = max(m, int64(*s.SetCanaryScale.Replicas))
		}
	}
	return m
}
