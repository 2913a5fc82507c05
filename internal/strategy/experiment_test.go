package strategy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

// experimentStep is Argo's documented experiment step: a baseline of the stable pods and a
// canary of the new ones, 5% of the traffic each when a router splits it (weights given).
func experimentStep(weights ...int32) v1alpha1.CanaryStep {
	e := &v1alpha1.RolloutExperimentStep{Templates: []v1alpha1.RolloutExperimentTemplate{
		{Name: "baseline", SpecRef: v1alpha1.StableSpecRef}, {Name: "canary", SpecRef: v1alpha1.CanarySpecRef}}}
	for i, w := range weights {
		e.Templates[i].Weight = ptr.To(w)
	}
	return v1alpha1.CanaryStep{Experiment: e}
}

// experimentSteps: 20%, experiment, 60%, then done.
var experimentSteps = []v1alpha1.CanaryStep{weight(20), experimentStep(), weight(60)}

// exp is the Experiment "ex" of the update in phase, with its failed run's verdict.
func exp(phase v1alpha1.AnalysisPhase) *Experiment {
	return &Experiment{Name: "ex", Phase: phase, Message: `metric "m" failed: result "nok" does not satisfy result == "ok"`}
}

// naming records the Experiment "ex" in the status.
func naming(st *v1alpha1.RolloutStatus) { st.Canary.CurrentExperiment = "ex" }

// TestCanaryExperimentStep: the engine's decisions at an experiment step (Argo's
// reconcileExperiments and completedCurrentCanaryStep): which Experiment runs, what its phase
// does to the update, and what status.canary.currentExperiment names afterwards.
func TestCanaryExperimentStep(t *testing.T) {
	type want struct {
		Step        *int32 // the experiment step whose Experiment must run
		Recorded    string // status.canary.currentExperiment
		StepIndex   int32
		Abort       bool
		AbortDetail string
		Pauses      []v1alpha1.PauseReason
		Events      []Event
	}
	at20 := []Set{{Hash: "n", Role: RoleNew, Pods: ready(1), Revision: 2}, {Hash: "s", Role: RoleStable, Pods: ready(4), Revision: 1}}
	failed := `Experiment analysis phase is error/failed: metric "m" failed: result "nok" does not satisfy result == "ok" (Experiment ex)`
	stepDone := Event{Reason: "RolloutStepCompleted", Message: "Rollout step 1/3 completed (setWeight: 20)"}
	tests := map[string]struct {
		rollout *v1alpha1.Rollout
		ex      *Experiment
		runs    Runs
		sets    []Set
		want    want
	}{
		"reaching the step asks for its Experiment": {
			rollout: rollout(5, experimentSteps, updating(0, nil)),
			want:    want{Step: ptr.To[int32](1), StepIndex: 1, Events: []Event{stepDone}},
		},
		"a running Experiment is kept and named": {
			rollout: rollout(5, experimentSteps, updating(1, naming)),
			ex:      exp(v1alpha1.AnalysisPhaseRunning),
			want:    want{Step: ptr.To[int32](1), Recorded: "ex", StepIndex: 1},
		},
		"a new Experiment (no phase yet) is kept": {
			rollout: rollout(5, experimentSteps, updating(1, naming)),
			ex:      exp(""),
			want:    want{Step: ptr.To[int32](1), Recorded: "ex", StepIndex: 1},
		},
		"the named Experiment is gone: a new one": {
			rollout: rollout(5, experimentSteps, updating(1, naming)),
			want:    want{Step: ptr.To[int32](1), StepIndex: 1},
		},
		"Successful completes the step, which no longer names it": {
			rollout: rollout(5, experimentSteps, updating(1, naming)),
			ex:      exp(v1alpha1.AnalysisPhaseSuccessful),
			want:    want{StepIndex: 2, Events: []Event{{Reason: "RolloutStepCompleted", Message: "Rollout step 2/3 completed (experiment)"}}},
		},
		"Failed aborts with Argo's text": {
			rollout: rollout(5, experimentSteps, updating(1, naming)),
			ex:      exp(v1alpha1.AnalysisPhaseFailed),
			want: want{Abort: true, AbortDetail: failed,
				Events: []Event{{Warning: true, Reason: "RolloutAborted", Message: "Rollout aborted update to revision 2: " + failed}}},
		},
		"Error aborts": {
			rollout: rollout(5, experimentSteps, updating(1, naming)),
			ex:      &Experiment{Name: "ex", Phase: v1alpha1.AnalysisPhaseError},
			want: want{Abort: true, AbortDetail: "Experiment analysis phase is error/failed (Experiment ex)", Events: []Event{{Warning: true,
				Reason: "RolloutAborted", Message: "Rollout aborted update to revision 2: Experiment analysis phase is error/failed (Experiment ex)"}}},
		},
		"a failed background run and a failed Experiment: the run's verdict wins, as Argo judges it last": {
			rollout: withBackground(rollout(5, experimentSteps, updating(1, naming)), nil),
			ex:      exp(v1alpha1.AnalysisPhaseFailed),
			runs:    Runs{Background: &Run{Name: "bg", Phase: v1alpha1.AnalysisPhaseFailed, Message: "bad"}},
			want: want{Abort: true, AbortDetail: "Background analysis phase error/failed: bad (AnalysisRun bg)", Events: []Event{{Warning: true,
				Reason: "RolloutAborted", Message: "Rollout aborted update to revision 2: Background analysis phase error/failed: bad (AnalysisRun bg)"}}},
		},
		"Failed aborts even while spec.paused": {
			rollout: paused(rollout(5, experimentSteps, updating(1, naming))),
			ex:      exp(v1alpha1.AnalysisPhaseFailed),
			want: want{Abort: true, AbortDetail: failed,
				Events: []Event{{Warning: true, Reason: "RolloutAborted", Message: "Rollout aborted update to revision 2: " + failed}}},
		},
		"Inconclusive pauses and no longer names it": {
			rollout: rollout(5, experimentSteps, updating(1, naming)),
			ex:      exp(v1alpha1.AnalysisPhaseInconclusive),
			want: want{StepIndex: 1, Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonInconclusiveExperiment},
				Events: []Event{{Reason: "RolloutPaused", Message: "Rollout is paused (InconclusiveExperiment)"}}},
		},
		"paused for an inconclusive Experiment: no new one until a promote": {
			rollout: rollout(5, experimentSteps, updating(1, inconclusiveExperimentPause)),
			want:    want{StepIndex: 1, Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonInconclusiveExperiment}},
		},
		"promoted after an inconclusive Experiment: a new one": {
			rollout: rollout(5, experimentSteps, updating(1, func(st *v1alpha1.RolloutStatus) { st.ControllerPause = true })),
			want:    want{Step: ptr.To[int32](1), StepIndex: 1},
		},
		"an inconclusive analysis holds the rollout: no new Experiment": {
			rollout: rollout(5, experimentSteps, updating(1, inconclusivePause)),
			want:    want{StepIndex: 1, Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonInconclusiveAnalysis}},
		},
		"spec.paused keeps a Successful Experiment named; the step waits": {
			rollout: paused(rollout(5, experimentSteps, updating(1, naming))),
			ex:      exp(v1alpha1.AnalysisPhaseSuccessful),
			want:    want{Step: ptr.To[int32](1), Recorded: "ex", StepIndex: 1},
		},
		"spec.paused at the step: the Experiment starts all the same": {
			rollout: paused(rollout(5, experimentSteps, updating(1, nil))),
			want:    want{Step: ptr.To[int32](1), StepIndex: 1},
		},
		"abort: no Experiment": {
			rollout: rollout(5, experimentSteps, updating(1, all(naming, abortedAt(t0)))),
			ex:      exp(v1alpha1.AnalysisPhaseRunning),
			want:    want{Abort: true},
		},
		"promote full: no Experiment": {
			rollout: rollout(5, experimentSteps, updating(1, all(naming, func(st *v1alpha1.RolloutStatus) { st.PromoteFull = true }))),
			ex:      exp(v1alpha1.AnalysisPhaseRunning),
			want:    want{StepIndex: 3},
		},
		"the step skipped (currentStepIndex moved on): no Experiment": {
			rollout: rollout(5, experimentSteps, updating(2, naming)),
			ex:      exp(v1alpha1.AnalysisPhaseRunning),
			want:    want{StepIndex: 2},
		},
		"a new revision forgets the Experiment of the previous one": {
			rollout: rollout(5, []v1alpha1.CanaryStep{experimentStep(), weight(60)}, updating(0, naming)),
			ex:      exp(v1alpha1.AnalysisPhaseRunning),
			sets:    []Set{{Hash: "m", Role: RoleNew, Revision: 3}, {Hash: "n", Role: RoleOther, Pods: ready(1), Revision: 2}, {Hash: "s", Role: RoleStable, Pods: ready(4)}},
			want:    want{Step: ptr.To[int32](0)},
		},
		"the steps changed: the steps and their Experiment start over": {
			rollout: rollout(5, []v1alpha1.CanaryStep{experimentStep(), weight(60)}, updating(0, all(naming, func(st *v1alpha1.RolloutStatus) { st.CurrentStepHash = "old" }))),
			ex:      exp(v1alpha1.AnalysisPhaseRunning),
			want:    want{Step: ptr.To[int32](0)},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sets := tc.sets
			if sets == nil {
				sets = at20
			}
			recordRuns(&tc.rollout.Status, tc.runs)
			p, err := Canary(Input{Rollout: tc.rollout, NewHash: sets[0].Hash, StepsHash: "steps", Sets: sets, Now: t0,
				Runs: tc.runs, Experiment: tc.ex})
			if err != nil {
				t.Fatal(err)
			}
			got := want{Step: p.Experiment.Step, Recorded: p.Status.Canary.CurrentExperiment, StepIndex: *p.Status.CurrentStepIndex,
				Abort: p.Status.Abort, AbortDetail: p.AbortDetail, Events: p.Events}
			for _, c := range p.Status.PauseConditions {
				got.Pauses = append(got.Pauses, c.Reason)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func paused(r *v1alpha1.Rollout) *v1alpha1.Rollout { r.Spec.Paused = true; return r }

func inconclusiveExperimentPause(st *v1alpha1.RolloutStatus) {
	inconclusivePause(st)
	st.PauseConditions[0].Reason = v1alpha1.PauseReasonInconclusiveExperiment
}

// TestPlanExperimentWaitsForStable: like Argo, no Experiment is created before the stable
// ReplicaSet exists (the engine makes a new ReplicaSet stable at once when there is none, so
// the controller never gets there; the rule holds all the same).
func TestPlanExperimentWaitsForStable(t *testing.T) {
	in := Input{Rollout: rollout(5, experimentSteps, updating(1, nil)), NewHash: "n",
		Sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}}}
	p := Plan{Status: *in.Rollout.Status.DeepCopy()}
	p.planExperiment(in)
	if p.Experiment.Step != nil {
		t.Errorf("an Experiment is asked for (step %d) without a stable ReplicaSet", *p.Experiment.Step)
	}
}

// TestExperimentTrafficRouted: with a router, the running Experiment's weighted templates are
// additional destinations (Argo's calculateWeightDestinationsFromExperiment): the canary keeps
// its weight and the stable gets what is left (calculateWeightStatus); they go once the
// Experiment is no longer Running, and TrafficWeightUpdated says so as Argo words it.
func TestExperimentTrafficRouted(t *testing.T) {
	type want struct {
		RouterWeight int32
		Additional   []v1alpha1.WeightDestination
		Weights      *v1alpha1.TrafficWeights
		StepIndex    int32
		Events       []Event
	}
	steps := []v1alpha1.CanaryStep{weight(20), experimentStep(5, 10), weight(60)}
	running := &Experiment{Name: "ex", Phase: v1alpha1.AnalysisPhaseRunning, Templates: []v1alpha1.TemplateStatus{
		{Name: "baseline", ServiceName: "ex-baseline", PodTemplateHash: "b1"}, {Name: "canary", ServiceName: "ex-canary", PodTemplateHash: "c1"}}}
	dests := []v1alpha1.WeightDestination{{Weight: 5, ServiceName: "ex-baseline", PodTemplateHash: "b1"}, {Weight: 10, ServiceName: "ex-canary", PodTemplateHash: "c1"}}
	weights := func(canary, stable int32, add []v1alpha1.WeightDestination) *v1alpha1.TrafficWeights {
		return &v1alpha1.TrafficWeights{Canary: v1alpha1.WeightDestination{Weight: canary, ServiceName: "canary", PodTemplateHash: "n"},
			Stable: v1alpha1.WeightDestination{Weight: stable, ServiceName: "stable", PodTemplateHash: "s"}, Additional: add}
	}
	withAdditional := func(st *v1alpha1.RolloutStatus) { st.Canary.Weights.Additional = dests }
	sets := []Set{{Hash: "n", Role: RoleNew, Pods: ready(1), Revision: 2}, {Hash: "s", Role: RoleStable, Pods: ready(5), Revision: 1}}
	tests := map[string]struct {
		rollout *v1alpha1.Rollout
		ex      *Experiment
		want    want
	}{
		"Running: its weighted templates are destinations, the stable gets the rest": {
			rollout: routedRollout(5, steps, updating(1, all(naming, applied(20, "n"))), nil),
			ex:      running,
			want: want{RouterWeight: 20, Additional: dests, Weights: weights(20, 65, dests), StepIndex: 1, Events: []Event{{Reason: "TrafficWeightUpdated",
				Message: "Traffic weight updated additional: [{5 ex-baseline b1} {10 ex-canary c1}]"}}},
		},
		"still Running: unchanged, no event": {
			rollout: routedRollout(5, steps, updating(1, all(naming, applied(20, "n"), withAdditional)), nil),
			ex:      running,
			want:    want{RouterWeight: 20, Additional: dests, Weights: weights(20, 65, dests), StepIndex: 1},
		},
		"a template without a weight, or without a Service yet, is no destination": {
			rollout: routedRollout(5, []v1alpha1.CanaryStep{weight(20), experimentStep(0), weight(60)}, updating(1, all(naming, applied(20, "n"))), nil),
			ex: &Experiment{Name: "ex", Phase: v1alpha1.AnalysisPhaseRunning, Templates: []v1alpha1.TemplateStatus{
				{Name: "baseline", ServiceName: "ex-baseline", PodTemplateHash: "b1"}, {Name: "canary", ServiceName: "ex-canary"}}},
			want: want{RouterWeight: 20, Additional: []v1alpha1.WeightDestination{{ServiceName: "ex-baseline", PodTemplateHash: "b1"}},
				Weights: weights(20, 80, []v1alpha1.WeightDestination{{ServiceName: "ex-baseline", PodTemplateHash: "b1"}}), StepIndex: 1,
				Events: []Event{{Reason: "TrafficWeightUpdated", Message: "Traffic weight updated additional: [{0 ex-baseline b1}]"}}},
		},
		"Pending: no destination yet": {
			rollout: routedRollout(5, steps, updating(1, all(naming, applied(20, "n"))), nil),
			ex:      &Experiment{Name: "ex", Phase: v1alpha1.AnalysisPhasePending, Templates: running.Templates},
			want:    want{RouterWeight: 20, Weights: weights(20, 80, nil), StepIndex: 1},
		},
		"Successful: the destinations go and the step completes": {
			rollout: routedRollout(5, steps, updating(1, all(naming, applied(20, "n"), withAdditional)), nil),
			ex:      &Experiment{Name: "ex", Phase: v1alpha1.AnalysisPhaseSuccessful, Templates: running.Templates},
			want: want{RouterWeight: 20, Weights: weights(20, 80, nil), StepIndex: 2, Events: []Event{
				{Reason: "RolloutStepCompleted", Message: "Rollout step 2/3 completed (experiment)"},
				{Reason: "TrafficWeightUpdated", Message: "Traffic weight updated additional: []"}}},
		},
		"reaching the step: the canary's weight, no destination until the Experiment runs": {
			rollout: routedRollout(5, steps, updating(0, applied(20, "n")), nil),
			want: want{RouterWeight: 20, Weights: weights(20, 80, nil), StepIndex: 1,
				Events: []Event{{Reason: "RolloutStepCompleted", Message: "Rollout step 1/3 completed (setWeight: 20)"}}},
		},
		"abort: back to the stable, no destination": {
			rollout: routedRollout(5, steps, updating(1, all(naming, applied(20, "n"), withAdditional, abortedAt(t0))), nil),
			ex:      running,
			want: want{Weights: weights(0, 100, nil), Events: []Event{
				{Reason: "TrafficWeightUpdated", Message: "Traffic weight updated from 20 to 0, additional: []"}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := Canary(Input{Rollout: tc.rollout, NewHash: "n", StepsHash: "steps", Sets: sets, Now: t0, Experiment: tc.ex,
				TrafficRouter: true, RouterWeightVerified: true})
			if err != nil {
				t.Fatal(err)
			}
			got := want{RouterWeight: p.RouterWeight, Additional: p.AdditionalDestinations, Weights: p.Weights,
				StepIndex: *p.Status.CurrentStepIndex, Events: p.Events}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
