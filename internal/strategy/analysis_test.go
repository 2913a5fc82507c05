package strategy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

func analysisStep() v1alpha1.CanaryStep {
	return v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "check"}}}}
}

func run(phase v1alpha1.AnalysisPhase) *Run {
	return &Run{Name: "r", Phase: phase, Message: `metric "m" failed: result "nok" does not satisfy result == "ok"`}
}

// withBackground gives a canary rollout background analysis from startingStep.
func withBackground(r *v1alpha1.Rollout, startingStep *int32) *v1alpha1.Rollout {
	r.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{StartingStep: startingStep,
		RolloutAnalysis: v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "check"}}}}
	return r
}

func inconclusivePause(st *v1alpha1.RolloutStatus) {
	st.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonInconclusiveAnalysis, StartTime: metav1.NewTime(t0)}}
	st.ControllerPause = true
}

func recorded(st *v1alpha1.RolloutStatus) {
	rec := &v1alpha1.RolloutAnalysisRunStatus{Name: "old", Status: v1alpha1.AnalysisPhaseFailed}
	st.Canary.CurrentBackgroundAnalysisRunStatus, st.Canary.CurrentStepAnalysisRunStatus = rec, rec
}

// analysisSteps: 20%, analysis, 60%, then done.
var analysisSteps = []v1alpha1.CanaryStep{weight(20), analysisStep(), weight(60)}

func TestCanaryAnalysis(t *testing.T) {
	type want struct {
		Analysis  AnalysisPlan
		StepIndex int32
		Abort     bool
		Pauses    []v1alpha1.PauseReason
		Replicas  map[string]int32
		Records   bool // status still records runs
		Reasons   []string
	}
	at20 := []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(4)}}
	tests := map[string]struct {
		rollout *v1alpha1.Rollout
		runs    Runs
		sets    []Set
		want    want
	}{
		"background runs from the first step": {
			rollout: withBackground(rollout(5, analysisSteps, updating(0, nil)), nil),
			sets:    at20,
			want:    want{Analysis: AnalysisPlan{Background: true, Step: ptr.To[int32](1)}, StepIndex: 1, Replicas: map[string]int32{"n": 1, "s": 4}, Reasons: []string{"RolloutStepCompleted"}},
		},
		"background waits for startingStep": {
			rollout: withBackground(rollout(5, analysisSteps, updating(0, nil)), ptr.To[int32](2)),
			sets:    at20,
			want:    want{Analysis: AnalysisPlan{Step: ptr.To[int32](1)}, StepIndex: 1, Replicas: map[string]int32{"n": 1, "s": 4}, Reasons: []string{"RolloutStepCompleted"}},
		},
		"no background analysis once stable": {
			rollout: withBackground(rollout(5, analysisSteps, v1alpha1.RolloutStatus{StableRS: "n", CurrentPodHash: "n", CurrentStepHash: "steps", CurrentStepIndex: ptr.To[int32](3)}), nil),
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(5)}},
			want:    want{StepIndex: 3, Replicas: map[string]int32{"n": 5}},
		},
		"background failure aborts": {
			rollout: withBackground(rollout(5, analysisSteps, updating(0, nil)), nil),
			runs:    Runs{Background: run(v1alpha1.AnalysisPhaseFailed)},
			sets:    at20,
			want:    want{Abort: true, Replicas: map[string]int32{"n": 1, "s": 5}, Reasons: []string{"AnalysisRunFailed", "RolloutAborted"}},
		},
		"background error aborts": {
			rollout: withBackground(rollout(5, analysisSteps, updating(0, nil)), nil),
			runs:    Runs{Background: run(v1alpha1.AnalysisPhaseError)},
			sets:    at20,
			want:    want{Abort: true, Replicas: map[string]int32{"n": 1, "s": 5}, Reasons: []string{"AnalysisRunError", "RolloutAborted"}},
		},
		"inconclusive background pauses": {
			rollout: withBackground(rollout(5, analysisSteps, updating(0, nil)), nil),
			runs:    Runs{Background: run(v1alpha1.AnalysisPhaseInconclusive)},
			sets:    at20,
			want: want{Analysis: AnalysisPlan{Background: true, Step: ptr.To[int32](1)}, StepIndex: 1, Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonInconclusiveAnalysis},
				Replicas: map[string]int32{"n": 1, "s": 4}, Reasons: []string{"AnalysisRunInconclusive", "RolloutPaused", "RolloutStepCompleted"}},
		},
		"inconclusive background promoted starts a new background run": {
			rollout: withBackground(rollout(5, analysisSteps, updating(0, func(st *v1alpha1.RolloutStatus) { st.ControllerPause = true })), nil),
			runs:    Runs{Background: run(v1alpha1.AnalysisPhaseInconclusive)},
			sets:    at20,
			want: want{Analysis: AnalysisPlan{Background: true, RestartBackground: true, Step: ptr.To[int32](1)}, StepIndex: 1,
				Replicas: map[string]int32{"n": 1, "s": 4}, Reasons: []string{"RolloutStepCompleted"}},
		},
		"analysis step waits for its run": {
			rollout: rollout(5, analysisSteps, updating(1, nil)),
			runs:    Runs{Step: run(v1alpha1.AnalysisPhaseRunning), StepIndex: 1},
			sets:    at20,
			want:    want{Analysis: AnalysisPlan{Step: ptr.To[int32](1)}, StepIndex: 1, Replicas: map[string]int32{"n": 1, "s": 4}},
		},
		"a run of another step does not count": {
			rollout: rollout(5, analysisSteps, updating(1, nil)),
			runs:    Runs{Step: run(v1alpha1.AnalysisPhaseSuccessful), StepIndex: 0},
			sets:    at20,
			want:    want{Analysis: AnalysisPlan{Step: ptr.To[int32](1)}, StepIndex: 1, Replicas: map[string]int32{"n": 1, "s": 4}},
		},
		"successful step analysis moves on": {
			rollout: rollout(5, analysisSteps, updating(1, nil)),
			runs:    Runs{Step: run(v1alpha1.AnalysisPhaseSuccessful), StepIndex: 1},
			sets:    at20,
			want:    want{StepIndex: 2, Replicas: map[string]int32{"n": 1, "s": 3}, Reasons: []string{"RolloutStepCompleted"}},
		},
		"failed step analysis aborts": {
			rollout: rollout(5, analysisSteps, updating(1, nil)),
			runs:    Runs{Step: run(v1alpha1.AnalysisPhaseFailed), StepIndex: 1},
			sets:    at20,
			want:    want{Abort: true, Replicas: map[string]int32{"n": 1, "s": 5}, StepIndex: 0, Reasons: []string{"AnalysisRunFailed", "RolloutAborted"}},
		},
		"inconclusive step analysis pauses": {
			rollout: rollout(5, analysisSteps, updating(1, nil)),
			runs:    Runs{Step: run(v1alpha1.AnalysisPhaseInconclusive), StepIndex: 1},
			sets:    at20,
			want: want{Analysis: AnalysisPlan{Step: ptr.To[int32](1)}, StepIndex: 1, Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonInconclusiveAnalysis},
				Replicas: map[string]int32{"n": 1, "s": 4}, Reasons: []string{"AnalysisRunInconclusive", "RolloutPaused"}},
		},
		"inconclusive step stays paused": {
			rollout: rollout(5, analysisSteps, updating(1, inconclusivePause)),
			runs:    Runs{Step: run(v1alpha1.AnalysisPhaseInconclusive), StepIndex: 1},
			sets:    at20,
			want: want{Analysis: AnalysisPlan{Step: ptr.To[int32](1)}, StepIndex: 1, Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonInconclusiveAnalysis},
				Replicas: map[string]int32{"n": 1, "s": 4}},
		},
		"inconclusive step promoted moves on": {
			rollout: rollout(5, analysisSteps, updating(1, func(st *v1alpha1.RolloutStatus) { st.ControllerPause = true })),
			runs:    Runs{Step: run(v1alpha1.AnalysisPhaseInconclusive), StepIndex: 1},
			sets:    at20,
			want:    want{StepIndex: 2, Replicas: map[string]int32{"n": 1, "s": 3}, Reasons: []string{"RolloutStepCompleted"}},
		},
		"completion ends the background analysis": {
			rollout: withBackground(rollout(5, analysisSteps, updating(3, nil)), nil),
			runs:    Runs{Background: run(v1alpha1.AnalysisPhaseRunning)},
			sets:    []Set{{Hash: "n", Role: RoleNew, Pods: ready(5)}, {Hash: "s", Role: RoleStable}},
			want:    want{StepIndex: 3, Replicas: map[string]int32{"n": 5, "s": 0}, Reasons: []string{"RolloutCompleted"}},
		},
		"retry forgets the failed runs and starts again": {
			rollout: withBackground(rollout(5, analysisSteps, updating(1, func(st *v1alpha1.RolloutStatus) {
				recorded(st)
				at := metav1.NewTime(t0)
				st.AbortedAt = &at
			})), nil),
			runs: Runs{Background: run(v1alpha1.AnalysisPhaseFailed), Step: run(v1alpha1.AnalysisPhaseFailed), StepIndex: 1},
			sets: []Set{{Hash: "n", Role: RoleNew}, {Hash: "s", Role: RoleStable, Pods: ready(5)}},
			want: want{Analysis: AnalysisPlan{Background: true}, Replicas: map[string]int32{"n": 0, "s": 4}, Reasons: nil},
		},
		"a new revision forgets the runs of the previous one": {
			rollout: withBackground(rollout(5, analysisSteps, updating(1, recorded)), nil),
			runs:    Runs{Background: run(v1alpha1.AnalysisPhaseFailed)},
			sets:    []Set{{Hash: "m", Role: RoleNew}, {Hash: "n", Role: RoleOther, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(4)}},
			want:    want{Analysis: AnalysisPlan{Background: true}, Replicas: map[string]int32{"m": 1, "n": 1, "s": 4}},
		},
		"promote full skips the analysis": {
			rollout: withBackground(rollout(5, analysisSteps, updating(1, func(st *v1alpha1.RolloutStatus) { st.PromoteFull = true })), nil),
			runs:    Runs{Step: run(v1alpha1.AnalysisPhaseRunning), StepIndex: 1},
			sets:    at20,
			want:    want{StepIndex: 3, Replicas: map[string]int32{"n": 1, "s": 3}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := Canary(Input{Rollout: tc.rollout, NewHash: tc.sets[0].Hash, StepsHash: "steps", Sets: tc.sets, Now: t0, Runs: tc.runs})
			if err != nil {
				t.Fatal(err)
			}
			got := want{Analysis: p.Analysis, StepIndex: *p.Status.CurrentStepIndex, Abort: p.Status.Abort, Replicas: p.Replicas,
				Records: p.Status.Canary.CurrentBackgroundAnalysisRunStatus != nil || p.Status.Canary.CurrentStepAnalysisRunStatus != nil}
			for _, c := range p.Status.PauseConditions {
				got.Pauses = append(got.Pauses, c.Reason)
			}
			for _, e := range p.Events {
				got.Reasons = append(got.Reasons, e.Reason)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCanaryAnalysisVerdict(t *testing.T) {
	p, err := Canary(Input{Rollout: rollout(5, analysisSteps, updating(1, nil)), NewHash: "n", StepsHash: "steps", Now: t0,
		Sets: []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(4)}},
		Runs: Runs{Step: &Run{Name: "ro-n-2-1", Phase: v1alpha1.AnalysisPhaseFailed, Message: `metric "webcheck" failed: result "nok" does not satisfy result == "ok" (2 of limit 1)`}, StepIndex: 1}})
	if err != nil {
		t.Fatal(err)
	}
	wantEvent := `analysis of step 2 ro-n-2-1 failed: metric "webcheck" failed: result "nok" does not satisfy result == "ok" (2 of limit 1)`
	if len(p.Events) == 0 || p.Events[0].Message != wantEvent || !p.Events[0].Warning {
		t.Errorf("first event = %+v, want the Warning %q", p.Events, wantEvent)
	}
	// the controller records the run's phase; the rollout's message then carries the verdict
	st := p.Status
	st.Canary.CurrentStepAnalysisRunStatus = &v1alpha1.RolloutAnalysisRunStatus{Name: "ro-n-2-1", Status: v1alpha1.AnalysisPhaseFailed,
		Message: `metric "webcheck" failed: result "nok" does not satisfy result == "ok" (2 of limit 1)`}
	_, msg := Phase(rollout(5, analysisSteps, st), &st, Counts{5, 0, 5, 5}, Abort("2", AnalysisVerdict(&st)))
	want := `RolloutAborted: Rollout aborted update to revision 2: step analysis ro-n-2-1 failed: metric "webcheck" failed: result "nok" does not satisfy result == "ok" (2 of limit 1)`
	if msg != want {
		t.Errorf("message = %q, want %q", msg, want)
	}
}

func TestCanaryRoutedAnalysis(t *testing.T) {
	steps := []v1alpha1.CanaryStep{weight(20), analysisStep(), weight(60)}
	sets := []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(5)}}
	tests := map[string]struct {
		run       *Run
		wantIdx   int32
		wantAbort bool
		wantW     int32
	}{
		"waits for the run":          {run: run(v1alpha1.AnalysisPhaseRunning), wantIdx: 1, wantW: 20},
		"moves on when it succeeded": {run: run(v1alpha1.AnalysisPhaseSuccessful), wantIdx: 2, wantW: 20},
		"aborts to weight 0":         {run: run(v1alpha1.AnalysisPhaseFailed), wantIdx: 0, wantAbort: true, wantW: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ro := routedRollout(5, steps, updating(1, applied(20, "n")), nil)
			p, err := Canary(Input{Rollout: ro, NewHash: "n", StepsHash: "steps", Sets: sets, Now: t0, TrafficRouter: true,
				RouterWeightVerified: true, Runs: Runs{Step: tc.run, StepIndex: 1}})
			if err != nil {
				t.Fatal(err)
			}
			got := []any{*p.Status.CurrentStepIndex, p.Status.Abort, p.RouterWeight}
			if diff := cmp.Diff([]any{tc.wantIdx, tc.wantAbort, tc.wantW}, got); diff != "" {
				t.Errorf("(-want +got) [step, abort, router weight]:\n%s", diff)
			}
		})
	}
}

func TestBlueGreenAnalysis(t *testing.T) {
	type want struct {
		Analysis AnalysisPlan
		Active   string
		Stable   string
		Abort    bool
		Pauses   []v1alpha1.PauseReason
		Replicas map[string]int32
		Reasons  []string
	}
	withAnalysis := func(bg *v1alpha1.BlueGreenStrategy) {
		a := &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "check"}}}
		bg.PrePromotionAnalysis, bg.PostPromotionAnalysis = a, a.DeepCopy()
		bg.AutoPromotionEnabled = nil // promote on its own once the analysis passed
	}
	preview := []BlueGreenSet{set("n", 2, ready(5)), set("a", 1, ready(5))}
	switched := func(st *v1alpha1.RolloutStatus) { st.BlueGreen.ActiveSelector, st.BlueGreen.PreviewSelector = "n", "n" }
	tests := map[string]struct {
		status v1alpha1.RolloutStatus
		active string
		runs   Runs
		want   want
	}{
		"pre-promotion analysis starts on a ready preview": {
			status: bgUpdating(nil), active: "a",
			want: want{Analysis: AnalysisPlan{PrePromotion: true}, Active: "a", Stable: "a", Replicas: map[string]int32{"n": 5, "a": 5}},
		},
		"pre-promotion success switches, post-promotion starts and the stable keeps its pods": {
			status: bgUpdating(nil), active: "a", runs: Runs{PrePromotion: run(v1alpha1.AnalysisPhaseSuccessful)},
			want: want{Analysis: AnalysisPlan{PrePromotion: true, PostPromotion: true}, Active: "n", Stable: "a", Replicas: map[string]int32{"n": 5, "a": 5}},
		},
		"pre-promotion failure aborts": {
			status: bgUpdating(nil), active: "a", runs: Runs{PrePromotion: run(v1alpha1.AnalysisPhaseFailed)},
			want: want{Abort: true, Active: "a", Stable: "a", Replicas: map[string]int32{"n": 5, "a": 5}, Reasons: []string{"AnalysisRunFailed", "RolloutAborted"}},
		},
		"inconclusive pre-promotion pauses": {
			status: bgUpdating(nil), active: "a", runs: Runs{PrePromotion: run(v1alpha1.AnalysisPhaseInconclusive)},
			want: want{Analysis: AnalysisPlan{PrePromotion: true}, Active: "a", Stable: "a", Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonInconclusiveAnalysis},
				Replicas: map[string]int32{"n": 5, "a": 5}, Reasons: []string{"AnalysisRunInconclusive", "RolloutPaused"}},
		},
		"inconclusive pre-promotion promoted switches": {
			status: bgUpdating(bgPromoted), active: "a", runs: Runs{PrePromotion: run(v1alpha1.AnalysisPhaseInconclusive)},
			want: want{Analysis: AnalysisPlan{PrePromotion: true, PostPromotion: true}, Active: "n", Stable: "a", Replicas: map[string]int32{"n": 5, "a": 5}},
		},
		"post-promotion success completes": {
			status: bgUpdating(switched), active: "n", runs: Runs{PostPromotion: run(v1alpha1.AnalysisPhaseSuccessful)},
			want: want{Active: "n", Stable: "n", Replicas: map[string]int32{"n": 5, "a": 5}, Reasons: []string{"RolloutCompleted"}},
		},
		"post-promotion failure switches back": {
			status: bgUpdating(switched), active: "n", runs: Runs{PostPromotion: run(v1alpha1.AnalysisPhaseFailed)},
			want: want{Abort: true, Active: "a", Stable: "a", Replicas: map[string]int32{"n": 5, "a": 5}, Reasons: []string{"AnalysisRunFailed", "RolloutAborted"}},
		},
		"promote full skips both": {
			status: bgUpdating(func(st *v1alpha1.RolloutStatus) { st.PromoteFull = true }), active: "a",
			want: want{Active: "n", Stable: "n", Replicas: map[string]int32{"n": 5, "a": 5}, Reasons: []string{"RolloutCompleted"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := bgRollout(withAnalysis, tc.status)
			p, err := BlueGreen(BlueGreenInput{Rollout: r, NewHash: "n", ActiveHash: tc.active, PreviewHash: "n", Sets: preview, Now: t0, Runs: tc.runs})
			if err != nil {
				t.Fatal(err)
			}
			got := want{Analysis: p.Analysis, Active: p.Status.BlueGreen.ActiveSelector, Stable: p.Status.StableRS, Abort: p.Status.Abort, Replicas: p.Replicas}
			for _, c := range p.Status.PauseConditions {
				got.Pauses = append(got.Pauses, c.Reason)
			}
			for _, e := range p.Events {
				got.Reasons = append(got.Reasons, e.Reason)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
