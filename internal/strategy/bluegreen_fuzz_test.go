package strategy

import (
	"testing"

	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

// fzBlueGreenSeeds are the blue/green Rollouts of the repository's manifests and of the table
// tests.
func fzBlueGreenSeeds(tb testing.TB) [][]byte {
	seeds := fzSeedDocs(tb, "Rollout")
	analysis := &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "check"}}}
	for _, ro := range []*v1alpha1.Rollout{
		bgRollout(nil, bgUpdating(bgPaused)),
		bgRollout(func(bg *v1alpha1.BlueGreenStrategy) {
			bg.AutoPromotionEnabled, bg.PreviewReplicaCount = nil, ptr.To[int32](1)
			bg.ScaleDownDelaySeconds, bg.ScaleDownDelayRevisionLimit = ptr.To[int32](10), ptr.To[int32](1)
		}, bgUpdating(nil)),
		bgRollout(func(bg *v1alpha1.BlueGreenStrategy) {
			bg.AutoPromotionEnabled, bg.AutoPromotionSeconds = nil, 30
			bg.PrePromotionAnalysis, bg.PostPromotionAnalysis = analysis, analysis
			bg.AbortScaleDownDelaySeconds = ptr.To[int32](5)
		}, bgUpdating(bgPromoted)),
	} {
		seeds = append(seeds, fzValidSeed(tb, ro))
	}
	return seeds
}

// FuzzBlueGreen runs the blue/green engine on any valid blue/green Rollout (the fuzzer's
// JSON) in any state (status, ReplicaSets, Service selectors, runs and clock drawn from the
// fuzzer's bytes) and checks the plan: no error, no panic, no hang, the same plan for the same
// input, the input left as it was, replica counts only for observed ReplicaSets and within
// 0..max(spec.replicas, previewReplicaCount, observed), Services pointed only at observed
// ReplicaSets, the active Service never moved from serving pods to a ReplicaSet whose pods are
// not all available, the stable ReplicaSet only ever moving to the new one, and runs wanted
// only for the analyses the spec has.
func FuzzBlueGreen(f *testing.F) {
	for _, js := range fzBlueGreenSeeds(f) {
		for _, st := range fzStates() {
			f.Add(js, st)
		}
	}
	f.Fuzz(func(t *testing.T, spec, state []byte) {
		ro, ok := fzDecode(spec)
		if !ok || ro.Spec.Strategy.BlueGreen == nil {
			return
		}
		fzBlueGreenDecide(t, fzBlueGreenInput(ro, &fuzzBytes{b: state}))
	})
}

// fzBlueGreenInput is the engine's input for ro in the state the bytes draw.
func fzBlueGreenInput(ro *v1alpha1.Rollout, r *fuzzBytes) BlueGreenInput {
	if r.bool() {
		st := &ro.Status
		fzCommonStatus(st, r)
		st.BlueGreen.ActiveSelector = pick(r, "", "s", "n", "o1")
		st.BlueGreen.PreviewSelector = pick(r, "", "n", "s")
		st.BlueGreen.ScaleUpPreviewCheckPoint = r.bool()
		st.BlueGreen.PrePromotionAnalysisRunStatus = fzRecord(r, "pre")
		st.BlueGreen.PostPromotionAnalysisRunStatus = fzRecord(r, "post")
	}
	in := BlueGreenInput{Rollout: ro, NewHash: "n", ActiveHash: pick(r, "s", "", "n", "o1", "gone"),
		PreviewHash: pick(r, "", "n", "s"), FastRollback: r.bool(), Now: fzT0.Add(fzSeconds(r, 3600))}
	n := 1 + r.intn(len(fzHashes))
	for i, h := range fzHashes[:n] {
		in.Sets = append(in.Sets, BlueGreenSet{Hash: h, Revision: int64(n - i), Pods: fzPods(r, ro.Spec.EffectiveReplicas()),
			ScaleDownDeadline: fzDeadline(r)})
	}
	in.Runs = fzRuns(r, &ro.Status, 0)
	return in
}

// fzCopyBlueGreenInput is a deep copy of in.
func fzCopyBlueGreenInput(in BlueGreenInput) BlueGreenInput {
	out := in
	out.Rollout = in.Rollout.DeepCopy()
	out.Sets = append([]BlueGreenSet(nil), in.Sets...)
	for _, r := range []**Run{&out.Runs.PrePromotion, &out.Runs.PostPromotion} {
		if *r != nil {
			c := **r
			*r = &c
		}
	}
	return out
}

// fzBlueGreenDecide decides twice on in (under the hang guard) and checks the plan.
func fzBlueGreenDecide(t *testing.T, in BlueGreenInput) BlueGreenPlan {
	t.Helper()
	before := fzCopyBlueGreenInput(in)
	var p1, p2 BlueGreenPlan
	var err1, err2 error
	within(t, fzDecisionTimeout, "BlueGreen", func() {
		p1, err1 = BlueGreen(in)
		p2, err2 = BlueGreen(fzCopyBlueGreenInput(before))
	})
	fzUnchanged(t, before, in)
	if err1 != nil || err2 != nil {
		t.Fatalf("a valid rollout gave an error: %v / %v", err1, err2)
	}
	fzSameOutcome(t, "the blue/green plan", p1, p2)
	fzCheckBlueGreenPlan(t, in, p1)
	fzCheckProgress(t, &in.Rollout.Spec, &in.Rollout.Status, &p1.Status, in.Now)
	if t.Failed() {
		t.Logf("input: %s\nplan: %s", fzDescribe(in), fzDescribe(p1))
		t.FailNow()
	}
	return p1
}

// fzCheckBlueGreenPlan checks what every blue/green plan must satisfy.
func fzCheckBlueGreenPlan(t *testing.T, in BlueGreenInput, p BlueGreenPlan) {
	t.Helper()
	bg, replicas := in.Rollout.Spec.Strategy.BlueGreen, in.Rollout.Spec.EffectiveReplicas()
	observed, sets, specs := map[string]bool{}, map[string]BlueGreenSet{}, []int32{}
	for _, s := range in.Sets {
		observed[s.Hash], sets[s.Hash] = true, s
		specs = append(specs, s.Pods.Spec)
	}
	fzCheckReplicas(t, p.Replicas, observed, max(int64(replicas), int64(ptr.Deref(bg.PreviewReplicaCount, 0)), fzMaxObserved(specs...)))
	fzCheckDeadlines(t, p.ScaleDownDeadlines, observed)
	fzCheckEvents(t, p.Events)
	read := in.Rollout.Status.BlueGreen
	for name, sel := range map[string][2]string{"active": {p.Status.BlueGreen.ActiveSelector, read.ActiveSelector},
		"preview": {p.Status.BlueGreen.PreviewSelector, read.PreviewSelector}} {
		if sel[0] != "" && !observed[sel[0]] && sel[0] != sel[1] {
			t.Errorf("the %s Service is to select %q, which was not observed", name, sel[0])
		}
	}
	if to := p.Status.BlueGreen.ActiveSelector; p.Switched && observed[in.ActiveHash] && to != in.ActiveHash {
		if s := sets[to]; s.Pods.Available < replicas {
			t.Errorf("the active Service moved from %q to %q, which has %d of %d pods available", in.ActiveHash, to, s.Pods.Available, replicas)
		}
	}
	if p.Switched && p.Status.BlueGreen.ActiveSelector == "" {
		t.Error("switched the active Service to nothing")
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
	if p.Analysis.PrePromotion && bg.PrePromotionAnalysis == nil || p.Analysis.PostPromotion && bg.PostPromotionAnalysis == nil {
		t.Errorf("a run wanted for an analysis the spec does not have: %+v", p.Analysis)
	}
	if p.Analysis.Background || p.Analysis.Step != nil {
		t.Errorf("a canary run wanted by a blue/green rollout: %+v", p.Analysis)
	}
	if p.Status.CurrentStepIndex != nil || p.Status.Canary.Weights != nil {
		t.Errorf("canary bookkeeping left in a blue/green status: %s", fzDescribe(p.Status))
	}
}
