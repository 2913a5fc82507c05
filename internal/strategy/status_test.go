package strategy

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

// TestRolloutPhase: status.phase and status.message as Argo's CalculateRolloutPhase
// (utils/rollout/rolloututil.go) computes them; every expected message is Argo's text.
func TestRolloutPhase(t *testing.T) {
	type want struct {
		Phase   v1alpha1.RolloutPhase
		Message string
	}
	canarySpec := func(mod func(*v1alpha1.RolloutSpec)) v1alpha1.RolloutSpec {
		s := v1alpha1.RolloutSpec{Replicas: ptr.To[int32](5), Strategy: v1alpha1.RolloutStrategy{
			Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](20)}, {Pause: &v1alpha1.RolloutPause{}}}}}}
		if mod != nil {
			mod(&s)
		}
		return s
	}
	bgSpec := func(mod func(*v1alpha1.BlueGreenStrategy)) v1alpha1.RolloutSpec {
		return bgRollout(mod, v1alpha1.RolloutStatus{}).Spec
	}
	routed := func(s *v1alpha1.RolloutSpec) {
		s.Strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Plugins: map[string]json.RawMessage{"p": nil}}
	}
	// counts of a 5-replica rollout: all pods updated and available, plus old ones
	counts := func(st v1alpha1.RolloutStatus, replicas, updated, available int32) v1alpha1.RolloutStatus {
		st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas = replicas, updated, available, available
		return st
	}
	done := v1alpha1.RolloutStatus{StableRS: "n", CurrentPodHash: "n", BlueGreen: v1alpha1.BlueGreenStatus{ActiveSelector: "n", PreviewSelector: "n"}}
	moving := v1alpha1.RolloutStatus{StableRS: "s", CurrentPodHash: "n", BlueGreen: v1alpha1.BlueGreenStatus{ActiveSelector: "s", PreviewSelector: "n"}}
	switched := v1alpha1.RolloutStatus{StableRS: "s", CurrentPodHash: "n", BlueGreen: v1alpha1.BlueGreenStatus{ActiveSelector: "n", PreviewSelector: "n"}}
	cond := func(st v1alpha1.RolloutStatus, conds ...v1alpha1.RolloutCondition) v1alpha1.RolloutStatus {
		st.Conditions = conds
		return st
	}
	aborted := v1alpha1.RolloutCondition{Type: v1alpha1.RolloutProgressing, Status: "False", Reason: "RolloutAborted",
		Message: "Rollout aborted update to revision 2"}
	timedOut := v1alpha1.RolloutCondition{Type: v1alpha1.RolloutProgressing, Status: "False", Reason: "ProgressDeadlineExceeded",
		Message: `ReplicaSet "app-n" has timed out progressing.`}
	invalid := v1alpha1.RolloutCondition{Type: v1alpha1.InvalidSpec, Status: "True", Reason: "InvalidSpec",
		Message: `The Rollout "app" is invalid: spec.strategy.strategy: Required value: Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'`}
	paused := func(st v1alpha1.RolloutStatus, r v1alpha1.PauseReason) v1alpha1.RolloutStatus {
		st.PauseConditions = []v1alpha1.PauseCondition{{Reason: r}}
		return st
	}
	restartAt := metav1.NewTime(t0)
	tests := map[string]struct {
		spec   v1alpha1.RolloutSpec
		status v1alpha1.RolloutStatus
		want   want
	}{
		"canary healthy": {spec: canarySpec(nil), status: counts(done, 5, 5, 5), want: want{"Healthy", ""}},
		"canary at a step": {spec: canarySpec(nil), status: counts(moving, 6, 1, 6),
			want: want{"Progressing", "more replicas need to be updated"}},
		"new pods not available yet": {spec: canarySpec(nil), status: counts(done, 5, 5, 3),
			want: want{"Progressing", "updated replicas are still becoming available"}},
		"basic canary, old pods left": {spec: canarySpec(nil), status: counts(done, 7, 5, 7),
			want: want{"Progressing", "old replicas are pending termination"}},
		"routed canary, old pods kept for their scale-down delay": {spec: canarySpec(routed), status: counts(done, 7, 5, 7),
			want: want{"Healthy", ""}},
		"canary at 100% with steps left": {spec: canarySpec(nil), status: counts(moving, 5, 5, 5),
			want: want{"Progressing", "waiting for all steps to complete"}},
		"canary pause step": {spec: canarySpec(nil), status: paused(counts(moving, 6, 1, 6), v1alpha1.PauseReasonCanaryPauseStep),
			want: want{"Paused", "CanaryPauseStep"}},
		"spec.paused wins over a pause condition": {spec: canarySpec(func(s *v1alpha1.RolloutSpec) { s.Paused = true }),
			status: paused(counts(moving, 6, 1, 6), v1alpha1.PauseReasonCanaryPauseStep), want: want{"Paused", "manually paused"}},
		"restart asked for": {spec: canarySpec(func(s *v1alpha1.RolloutSpec) { s.RestartAt = &restartAt }), status: counts(done, 5, 5, 5),
			want: want{"Progressing", "rollout is restarting"}},
		"restart done": {spec: canarySpec(func(s *v1alpha1.RolloutSpec) { s.RestartAt = &restartAt }),
			status: func() v1alpha1.RolloutStatus { st := counts(done, 5, 5, 5); st.RestartedAt = &restartAt; return st }(),
			want:   want{"Healthy", ""}},
		"aborted": {spec: canarySpec(nil), status: cond(counts(moving, 5, 0, 5), aborted),
			want: want{"Degraded", "RolloutAborted: Rollout aborted update to revision 2"}},
		"aborted while paused by hand": {spec: canarySpec(func(s *v1alpha1.RolloutSpec) { s.Paused = true }),
			status: cond(counts(moving, 5, 0, 5), aborted), want: want{"Degraded", "RolloutAborted: Rollout aborted update to revision 2"}},
		"timed out": {spec: canarySpec(nil), status: cond(counts(moving, 6, 1, 5), timedOut),
			want: want{"Degraded", `ProgressDeadlineExceeded: ReplicaSet "app-n" has timed out progressing.`}},
		"invalid spec": {spec: canarySpec(nil), status: cond(counts(done, 5, 5, 5), invalid),
			want: want{"Degraded", "InvalidSpec: " + invalid.Message}},
		"the first degrading condition in the list wins": {spec: canarySpec(nil), status: cond(counts(moving, 5, 0, 5), aborted, invalid),
			want: want{"Degraded", "RolloutAborted: Rollout aborted update to revision 2"}},
		"blue/green healthy": {spec: bgSpec(nil), status: counts(done, 5, 5, 5), want: want{"Healthy", ""}},
		"blue/green old ReplicaSet in its scale-down delay": {spec: bgSpec(nil), status: counts(done, 10, 5, 5),
			want: want{"Healthy", ""}},
		"preview scaling up": {spec: bgSpec(nil), status: counts(moving, 7, 2, 5),
			want: want{"Progressing", "more replicas need to be updated"}},
		"first revision becoming available": {spec: bgSpec(nil), status: counts(v1alpha1.RolloutStatus{CurrentPodHash: "n"}, 5, 5, 3),
			want: want{"Progressing", "updated replicas are still becoming available"}},
		"preview ready, active not switched": {spec: bgSpec(nil), status: counts(moving, 10, 5, 5),
			want: want{"Progressing", "active service cutover pending"}},
		"blue/green pause": {spec: bgSpec(nil), status: paused(counts(moving, 10, 5, 5), v1alpha1.PauseReasonBlueGreenPause),
			want: want{"Paused", "BlueGreenPause"}},
		"switched, not stable yet": {spec: bgSpec(nil), status: counts(switched, 10, 5, 5),
			want: want{"Progressing", "waiting for post-promotion verification to complete"}},
		"switched, post-promotion analysis running": {
			spec: bgSpec(func(bg *v1alpha1.BlueGreenStrategy) {
				bg.PostPromotionAnalysis = &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "t"}}}
			}),
			status: func() v1alpha1.RolloutStatus {
				st := counts(switched, 10, 5, 5)
				st.BlueGreen.PostPromotionAnalysisRunStatus = &v1alpha1.RolloutAnalysisRunStatus{Name: "r", Status: v1alpha1.AnalysisPhaseRunning}
				return st
			}(),
			want: want{"Progressing", "waiting for analysis to complete"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ph, msg := RolloutPhase(&tc.spec, &tc.status)
			if diff := cmp.Diff(tc.want, want{ph, msg}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestAbortDetail: the abort message Argo writes when analysis aborts the update
// (rollout/analysis.go, conditions.RolloutAbortedMessage), the run's name after it.
func TestAbortDetail(t *testing.T) {
	failed := func(name string, phase v1alpha1.AnalysisPhase, msg string) *v1alpha1.RolloutAnalysisRunStatus {
		return &v1alpha1.RolloutAnalysisRunStatus{Name: name, Status: phase, Message: msg}
	}
	tests := map[string]struct {
		status v1alpha1.RolloutStatus
		want   string
	}{
		"a user's abort": {want: "Rollout aborted update to revision 3"},
		"background analysis failed": {
			status: v1alpha1.RolloutStatus{Canary: v1alpha1.CanaryStatus{
				CurrentBackgroundAnalysisRunStatus: failed("app-h-3", v1alpha1.AnalysisPhaseFailed, `Metric "webcheck" assessed Failed due to failed (2) > failureLimit (1)`)}},
			want: `Rollout aborted update to revision 3: Background analysis phase error/failed: Metric "webcheck" assessed Failed due to failed (2) > failureLimit (1) (AnalysisRun app-h-3)`,
		},
		"step analysis errored, without a message": {
			status: v1alpha1.RolloutStatus{Canary: v1alpha1.CanaryStatus{CurrentStepAnalysisRunStatus: failed("app-h-3-1", v1alpha1.AnalysisPhaseError, "")}},
			want:   "Rollout aborted update to revision 3: Step-based analysis phase error/failed (AnalysisRun app-h-3-1)",
		},
		"background and step failed: background, judged last": {
			status: v1alpha1.RolloutStatus{Canary: v1alpha1.CanaryStatus{
				CurrentStepAnalysisRunStatus:       failed("app-h-3-1", v1alpha1.AnalysisPhaseFailed, "step"),
				CurrentBackgroundAnalysisRunStatus: failed("app-h-3", v1alpha1.AnalysisPhaseFailed, "bg")}},
			want: "Rollout aborted update to revision 3: Background analysis phase error/failed: bg (AnalysisRun app-h-3)",
		},
		"pre-promotion failed": {
			status: v1alpha1.RolloutStatus{BlueGreen: v1alpha1.BlueGreenStatus{PrePromotionAnalysisRunStatus: failed("app-h-3-pre", v1alpha1.AnalysisPhaseFailed, "m")}},
			want:   "Rollout aborted update to revision 3: Blue/green pre-promotion analysis phase error/failed: m (AnalysisRun app-h-3-pre)",
		},
		"post-promotion failed": {
			status: v1alpha1.RolloutStatus{BlueGreen: v1alpha1.BlueGreenStatus{
				PrePromotionAnalysisRunStatus:  failed("app-h-3-pre", v1alpha1.AnalysisPhaseSuccessful, ""),
				PostPromotionAnalysisRunStatus: failed("app-h-3-post", v1alpha1.AnalysisPhaseError, "m")}},
			want: "Rollout aborted update to revision 3: Blue/green post-promotion analysis phase error/failed: m (AnalysisRun app-h-3-post)",
		},
		"inconclusive does not abort": {
			status: v1alpha1.RolloutStatus{Canary: v1alpha1.CanaryStatus{CurrentBackgroundAnalysisRunStatus: failed("r", v1alpha1.AnalysisPhaseInconclusive, "m")}},
			want:   "Rollout aborted update to revision 3",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Abort("3", AbortDetail(&tc.status)).Message); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
