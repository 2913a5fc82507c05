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

// recordRuns records in st each run of runs with the phase it has.
func recordRuns(st *v1alpha1.RolloutStatus, runs Runs) {
	for _, x := range []struct {
		rec **v1alpha1.RolloutAnalysisRunStatus
		run *Run
	}{{&st.Canary.CurrentBackgroundAnalysisRunStatus, runs.Background}, {&st.Canary.CurrentStepAnalysisRunStatus, runs.Step},
		{&st.BlueGreen.PrePromotionAnalysisRunStatus, runs.PrePromotion}, {&st.BlueGreen.PostPromotionAnalysisRunStatus, runs.PostPromotion}} {
		if x.run != nil {
			*x.rec = &v1alpha1.RolloutAnalysisRunStatus{Name: x.run.Name, Status: x.run.Phase, Message: x.run.Message}
		}
	}
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
			want:    want{Records: true, Abort: true, Replicas: map[string]int32{"n": 1, "s": 5}, Reasons: []string{"RolloutAborted"}},
		},
		"background error aborts": {
			rollout: withBackground(rollout(5, analysisSteps, updating(0, nil)), nil),
			runs:    Runs{Background: run(v1alpha1.AnalysisPhaseError)},
			sets:    at20,
			want:    want{Records: true, Abort: true, Replicas: map[string]int32{"n": 1, "s": 5}, Reasons: []string{"RolloutAborted"}},
		},
		"inconclusive background pauses": {
			rollout: withBackground(rollout(5, analysisSteps, updating(0, nil)), nil),
			runs:    Runs{Background: run(v1alpha1.AnalysisPhaseInconclusive)},
			sets:    at20,
			want: want{Records: true, Analysis: AnalysisPlan{Background: true, Step: ptr.To[int32](1)}, StepIndex: 1, Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonInconclusiveAnalysis},
				Replicas: map[string]int32{"n": 1, "s": 4}, Reasons: []string{"RolloutPaused", "RolloutStepCompleted"}},
		},
		"inconclusive background promoted starts a new background run": {
			rollout: withBackground(rollout(5, analysisSteps, updating(0, func(st *v1alpha1.RolloutStatus) { st.ControllerPause = true })), nil),
			runs:    Runs{Background: run(v1alpha1.AnalysisPhaseInconclusive)},
			sets:    at20,
			want: want{Records: true, Analysis: AnalysisPlan{Background: true, RestartBackground: true, Step: ptr.To[int32](1)}, StepIndex: 1,
				Replicas: map[string]int32{"n": 1, "s": 4}, Reasons: []string{"RolloutStepCompleted"}},
		},
		"analysis step waits for its run": {
			rollout: rollout(5, analysisSteps, updating(1, nil)),
			runs:    Runs{Step: run(v1alpha1.AnalysisPhaseRunning), StepIndex: 1},
			sets:    at20,
			want:    want{Records: true, Analysis: AnalysisPlan{Step: ptr.To[int32](1)}, StepIndex: 1, Replicas: map[string]int32{"n": 1, "s": 4}},
		},
		"a run of another step does not count": {
			rollout: rollout(5, analysisSteps, updating(1, nil)),
			runs:    Runs{Step: run(v1alpha1.AnalysisPhaseSuccessful), StepIndex: 0},
			sets:    at20,
			want:    want{Records: true, Analysis: AnalysisPlan{Step: ptr.To[int32](1)}, StepIndex: 1, Replicas: map[string]int32{"n": 1, "s": 4}},
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
			want:    want{Records: true, Abort: true, Replicas: map[string]int32{"n": 1, "s": 5}, StepIndex: 0, Reasons: []string{"RolloutAborted"}},
		},
		"inconclusive step analysis pauses": {
			rollout: rollout(5, analysisSteps, updating(1, nil)),
			runs:    Runs{Step: run(v1alpha1.AnalysisPhaseInconclusive), StepIndex: 1},
			sets:    at20,
			want: want{Records: true, Analysis: AnalysisPlan{Step: ptr.To[int32](1)}, StepIndex: 1, Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonInconclusiveAnalysis},
				Replicas: map[string]int32{"n": 1, "s": 4}, Reasons: []string{"RolloutPaused"}},
		},
		"inconclusive step stays paused": {
			rollout: rollout(5, analysisSteps, updating(1, inconclusivePause)),
			runs:    Runs{Step: run(v1alpha1.AnalysisPhaseInconclusive), StepIndex: 1},
			sets:    at20,
			want: want{Records: true, Analysis: AnalysisPlan{Step: ptr.To[int32](1)}, StepIndex: 1, Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonInconclusiveAnalysis},
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
			want:    want{Records: true, StepIndex: 3, Replicas: map[string]int32{"n": 5, "s": 0}, Reasons: []string{"RolloutCompleted"}},
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
			// each run is recorded with the phase it has: its phase changes are TestAnalysisRunEvents's
			recordRuns(&tc.rollout.Status, tc.runs)
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

// TestAnalysisRunEvents: Argo's reconcileAnalysisRunStatusChanges announces each phase change
// of a current run, and a canary's status forgets its runs once the update is over
// (reconcileAnalysisRuns: fully promoted, aborted, promoted in full or the first revision).
func TestAnalysisRunEvents(t *testing.T) {
	type want struct {
		Events           []Event
		Background, Step string // the run each record names after the plan
	}
	verdict := `metric "webcheck" failed: result "nok" does not satisfy result == "ok" (2 of limit 1)`
	rec := func(name string, phase v1alpha1.AnalysisPhase) *v1alpha1.RolloutAnalysisRunStatus {
		return &v1alpha1.RolloutAnalysisRunStatus{Name: name, Status: phase}
	}
	at := func(idx int32, bg, step *v1alpha1.RolloutAnalysisRunStatus, mod func(*v1alpha1.RolloutStatus)) v1alpha1.RolloutStatus {
		return updating(idx, func(st *v1alpha1.RolloutStatus) {
			st.Canary.CurrentBackgroundAnalysisRunStatus, st.Canary.CurrentStepAnalysisRunStatus = bg, step
			if mod != nil {
				mod(st)
			}
		})
	}
	tests := map[string]struct {
		status v1alpha1.RolloutStatus
		runs   Runs
		want   want
	}{
		"a new run has no phase: no event": {
			status: at(1, rec("bg", ""), rec("st", ""), nil),
			runs:   Runs{Background: &Run{Name: "bg"}, Step: &Run{Name: "st"}, StepIndex: 1},
			want:   want{Background: "bg", Step: "st"},
		},
		"running, previously empty": {
			status: at(1, rec("bg", ""), nil, nil),
			runs:   Runs{Background: &Run{Name: "bg", Phase: v1alpha1.AnalysisPhaseRunning}},
			want: want{Background: "bg", Events: []Event{{Reason: "AnalysisRunRunning",
				Message: "Background Analysis Run 'bg' Status New: 'Running' Previous: ''"}}},
		},
		"unchanged phase: no event": {
			status: at(1, rec("bg", v1alpha1.AnalysisPhaseRunning), nil, nil),
			runs:   Runs{Background: &Run{Name: "bg", Phase: v1alpha1.AnalysisPhaseRunning}},
			want:   want{Background: "bg"},
		},
		"step run failed: Argo's text, then the verdict; the update aborts": {
			status: at(1, nil, rec("ro-n-2-1", v1alpha1.AnalysisPhaseRunning), nil),
			runs:   Runs{Step: &Run{Name: "ro-n-2-1", Phase: v1alpha1.AnalysisPhaseFailed, Message: verdict}, StepIndex: 1},
			want: want{Step: "ro-n-2-1", Events: []Event{
				{Warning: true, Reason: "AnalysisRunFailed", Message: "Step Analysis Run 'ro-n-2-1' Status New: 'Failed' Previous: 'Running': " + verdict},
				{Warning: true, Reason: "RolloutAborted", Message: "Rollout aborted update to revision 0: Step-based analysis phase error/failed: " + verdict + " (AnalysisRun ro-n-2-1)"}}},
		},
		"step run passed: announced, and the step's record goes with the step": {
			status: at(1, nil, rec("st", v1alpha1.AnalysisPhaseRunning), nil),
			runs:   Runs{Step: &Run{Name: "st", Phase: v1alpha1.AnalysisPhaseSuccessful}, StepIndex: 1},
			want: want{Events: []Event{{Reason: "AnalysisRunSuccessful", Message: "Step Analysis Run 'st' Status New: 'Successful' Previous: 'Running'"},
				{Reason: "RolloutStepCompleted", Message: "Rollout step 2/3 completed (analysis)"}}},
		},
		"inconclusive is a Normal event": {
			status: at(1, nil, rec("st", v1alpha1.AnalysisPhaseRunning), nil),
			runs:   Runs{Step: &Run{Name: "st", Phase: v1alpha1.AnalysisPhaseInconclusive}, StepIndex: 1},
			want: want{Step: "st", Events: []Event{{Reason: "AnalysisRunInconclusive", Message: "Step Analysis Run 'st' Status New: 'Inconclusive' Previous: 'Running'"},
				{Reason: "RolloutPaused", Message: "Rollout is paused (InconclusiveAnalysisRun): promote to go on, abort to roll back"}}},
		},
		"aborted as read: the runs are forgotten, no event": {
			status: at(0, rec("bg", v1alpha1.AnalysisPhaseFailed), rec("st", v1alpha1.AnalysisPhaseRunning), func(st *v1alpha1.RolloutStatus) {
				st.Abort, st.AbortedAt = true, &metav1.Time{Time: t0}
			}),
			runs: Runs{Background: &Run{Name: "bg", Phase: v1alpha1.AnalysisPhaseFailed}, Step: &Run{Name: "st", Phase: v1alpha1.AnalysisPhaseSuccessful}},
			want: want{},
		},
		"fully promoted as read: the background run is forgotten unannounced": {
			status: at(3, rec("bg", v1alpha1.AnalysisPhaseRunning), nil, func(st *v1alpha1.RolloutStatus) { st.StableRS = "n" }),
			runs:   Runs{Background: &Run{Name: "bg", Phase: v1alpha1.AnalysisPhaseSuccessful}},
			want:   want{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := withBackground(rollout(5, analysisSteps, tc.status), nil)
			sets := []Set{{Hash: "n", Role: RoleNew, Pods: ready(1)}, {Hash: "s", Role: RoleStable, Pods: ready(4)}}
			if tc.status.StableRS == "n" {
				sets = []Set{{Hash: "n", Role: RoleNew, Pods: ready(5)}}
			}
			p, err := Canary(Input{Rollout: r, NewHash: "n", StepsHash: "steps", Sets: sets, Now: t0, Runs: tc.runs})
			if err != nil {
				t.Fatal(err)
			}
			got := want{Events: p.Events}
			if rec := p.Status.Canary.CurrentBackgroundAnalysisRunStatus; rec != nil {
				got.Background = rec.Name
			}
			if rec := p.Status.Canary.CurrentStepAnalysisRunStatus; rec != nil {
				got.Step = rec.Name
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
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
			want: want{Abort: true, Active: "a", Stable: "a", Replicas: map[string]int32{"n": 5, "a": 5}, Reasons: []string{"RolloutAborted"}},
		},
		"inconclusive pre-promotion pauses": {
			status: bgUpdating(nil), active: "a", runs: Runs{PrePromotion: run(v1alpha1.AnalysisPhaseInconclusive)},
			want: want{Analysis: AnalysisPlan{PrePromotion: true}, Active: "a", Stable: "a", Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonInconclusiveAnalysis},
				Replicas: map[string]int32{"n": 5, "a": 5}, Reasons: []string{"RolloutPaused"}},
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
			want: want{Abort: true, Active: "a", Stable: "a", Replicas: map[string]int32{"n": 5, "a": 5}, Reasons: []string{"RolloutAborted"}},
		},
		"promote full skips both": {
			status: bgUpdating(func(st *v1alpha1.RolloutStatus) { st.PromoteFull = true }), active: "a",
			want: want{Active: "n", Stable: "n", Replicas: map[string]int32{"n": 5, "a": 5}, Reasons: []string{"RolloutCompleted"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := bgRollout(withAnalysis, tc.status)
			recordRuns(&r.Status, tc.runs) // as they are: no phase change
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

// TestBlueGreenRunEvents: a blue/green announces its runs' phase changes as Argo does, kind
// PrePromotion or PostPromotion.
func TestBlueGreenRunEvents(t *testing.T) {
	r := bgRollout(func(bg *v1alpha1.BlueGreenStrategy) {
		bg.PrePromotionAnalysis = &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "check"}}}
	}, bgUpdating(func(st *v1alpha1.RolloutStatus) {
		st.BlueGreen.PrePromotionAnalysisRunStatus = &v1alpha1.RolloutAnalysisRunStatus{Name: "ro-n-2-pre", Status: v1alpha1.AnalysisPhaseRunning}
	}))
	p, err := BlueGreen(BlueGreenInput{Rollout: r, NewHash: "n", ActiveHash: "a", PreviewHash: "n", Now: t0,
		Sets: []BlueGreenSet{set("n", 2, ready(5)), set("a", 1, ready(5))},
		Runs: Runs{PrePromotion: &Run{Name: "ro-n-2-pre", Phase: v1alpha1.AnalysisPhaseFailed, Message: "m failed"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := Event{Warning: true, Reason: "AnalysisRunFailed", Message: "PrePromotion Analysis Run 'ro-n-2-pre' Status New: 'Failed' Previous: 'Running': m failed"}
	if len(p.Events) == 0 || !cmp.Equal(p.Events[0], want) {
		t.Errorf("events %+v, want first %+v", p.Events, want)
	}
}
