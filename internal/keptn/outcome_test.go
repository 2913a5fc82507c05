package keptn

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

type outcome struct {
	Done            bool
	Result, Message string
}

func rollout(phase v1alpha1.RolloutPhase, step int32, mutate func(*v1alpha1.RolloutStatus)) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{}
	ro.Status.Phase, ro.Status.CurrentStepIndex = phase, ptr.To(step)
	ro.Status.CurrentPodHash, ro.Status.StableRS, ro.Status.ObservedGeneration = "new", "old", "2"
	if mutate != nil {
		mutate(&ro.Status)
	}
	return ro
}

func TestReleaseOutcome(t *testing.T) {
	promoted := func(s *v1alpha1.RolloutStatus) { s.StableRS = s.CurrentPodHash }
	tests := map[string]struct {
		ro   *v1alpha1.Rollout
		from int32
		want outcome
	}{
		"still at the pause promoted from":   {ro: rollout(v1alpha1.RolloutPhasePaused, 1, nil), from: 1},
		"on the way":                         {ro: rollout(v1alpha1.RolloutPhaseProgressing, 2, nil), from: 1},
		"at the next pause":                  {ro: rollout(v1alpha1.RolloutPhasePaused, 3, nil), from: 1, want: outcome{true, ResultPass, "rollout paused at step 3"}},
		"Healthy":                            {ro: rollout(v1alpha1.RolloutPhaseHealthy, 6, promoted), from: 5, want: outcome{true, ResultPass, "rollout Healthy: the new version serves all replicas"}},
		"Healthy phase, stable not switched": {ro: rollout(v1alpha1.RolloutPhaseHealthy, 6, nil), from: 5},
		"aborted": {ro: rollout(v1alpha1.RolloutPhaseDegraded, 0, func(s *v1alpha1.RolloutStatus) {
			s.Abort, s.Message = true, "RolloutAborted: Rollout aborted update to revision 2"
		}), from: 3, want: outcome{true, ResultFail, "RolloutAborted: Rollout aborted update to revision 2"}},
		"degraded": {ro: rollout(v1alpha1.RolloutPhaseDegraded, 2, func(s *v1alpha1.RolloutStatus) { s.Message = "ProgressDeadlineExceeded" }),
			from: 1, want: outcome{true, ResultFail, "ProgressDeadlineExceeded"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got outcome
			got.Done, got.Result, got.Message = releaseOutcome(tc.ro, tc.from)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeploymentOutcome(t *testing.T) {
	tests := map[string]struct {
		ro         *v1alpha1.Rollout
		generation int64
		want       outcome
	}{
		"change not seen yet": {ro: rollout(v1alpha1.RolloutPhaseHealthy, 6, nil), generation: 3},
		"first pause":         {ro: rollout(v1alpha1.RolloutPhasePaused, 1, nil), generation: 2, want: outcome{true, ResultPass, "rollout paused at step 1"}},
		"Healthy":             {ro: rollout(v1alpha1.RolloutPhaseHealthy, 6, nil), generation: 2, want: outcome{true, ResultPass, "rollout Healthy"}},
		"progressing":         {ro: rollout(v1alpha1.RolloutPhaseProgressing, 0, nil), generation: 2},
		"aborted, no message": {ro: rollout(v1alpha1.RolloutPhaseDegraded, 0, func(s *v1alpha1.RolloutStatus) { s.Abort = true }), generation: 2, want: outcome{true, ResultFail, "the rollout was aborted"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got outcome
			got.Done, got.Result, got.Message = deploymentOutcome(tc.ro, tc.generation)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
