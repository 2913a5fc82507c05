package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func canaryRollout(phase v1alpha1.RolloutPhase, msg string, step int32) *v1alpha1.Rollout {
	w20, w50 := int32(20), int32(50)
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "colorapi", Namespace: "default", CreationTimestamp: ago(2 * time.Hour)},
		Spec: v1alpha1.RolloutSpec{Replicas: ptr.To[int32](5), Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			Steps: []v1alpha1.CanaryStep{{SetWeight: &w20}, {Pause: &v1alpha1.RolloutPause{}}, {SetWeight: &w50}, {Pause: &v1alpha1.RolloutPause{}}}}}},
		Status: v1alpha1.RolloutStatus{Phase: phase, Message: msg, CurrentStepIndex: &step, StableRS: "aaa", CurrentPodHash: "bbb",
			Replicas: 5, UpdatedReplicas: 1, ReadyReplicas: 5, AvailableReplicas: 5},
	}
}

func replicaSet(hash, image string, rev int, replicas, ready int32, created time.Duration) ReplicaSetInfo {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "colorapi-" + hash, CreationTimestamp: ago(created),
			Labels: map[string]string{v1alpha1.PodTemplateHashLabel: hash}},
		Spec: appsv1.ReplicaSetSpec{Replicas: &replicas, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "colorapi", Image: image}}}}},
		Status: appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: ready, AvailableReplicas: ready},
	}
	info := ReplicaSetInfo{RS: rs, Revision: rev}
	for i := int32(0); i < replicas; i++ {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: rs.Name + "-" + string(rune('a'+i)), CreationTimestamp: ago(created)},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "colorapi"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{{Ready: true}}}}
		if i >= ready {
			p.Status.Conditions[0].Status = corev1.ConditionFalse
			p.Status.ContainerStatuses[0].Ready = false
		}
		info.Pods = append(info.Pods, p)
	}
	return info
}

func TestRenderRollout(t *testing.T) {
	aborted := canaryRollout(v1alpha1.RolloutPhaseDegraded, "RolloutAborted: Rollout aborted update to revision 2", 1)
	aborted.Status.Abort = true
	bg := canaryRollout(v1alpha1.RolloutPhasePaused, "BlueGreenPause", 0)
	bg.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: "active", PreviewService: "preview"}}
	bg.Status.BlueGreen = v1alpha1.BlueGreenStatus{ActiveSelector: "aaa", PreviewSelector: "bbb"}
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "colorapi-bbb-2", UID: "run", CreationTimestamp: ago(90 * time.Second)},
		Status: v1alpha1.AnalysisRunStatus{Phase: v1alpha1.AnalysisPhaseFailed,
			MetricResults: []v1alpha1.MetricResult{{Name: "webcheck", Successful: 3, Failed: 2}}}}
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "colorapi-bbb-2-job", CreationTimestamp: ago(80 * time.Second)},
		Status: batchv1.JobStatus{Failed: 1}}
	routed := canaryRollout(v1alpha1.RolloutPhasePaused, "CanaryPauseStep", 1)
	routed.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{}
	routed.Status.Canary.Weights = &v1alpha1.TrafficWeights{Canary: v1alpha1.WeightDestination{Weight: 20}, Stable: v1alpha1.WeightDestination{Weight: 80}}
	tests := map[string]*RolloutInfo{
		// with a router, the actual weight is the router's (20), not the pods' share (1 of 6)
		"canary-routed": {Rollout: routed,
			ReplicaSets: []ReplicaSetInfo{replicaSet("bbb", "colorapi:2.0", 2, 1, 1, 30*time.Second), replicaSet("aaa", "colorapi:1.0", 1, 5, 5, time.Hour)}},
		"canary-mid-step": {Rollout: canaryRollout(v1alpha1.RolloutPhaseProgressing, "more replicas need to be updated", 0),
			ReplicaSets: []ReplicaSetInfo{replicaSet("bbb", "colorapi:2.0", 2, 1, 0, 5*time.Second), replicaSet("aaa", "colorapi:1.0", 1, 5, 5, time.Hour)}},
		"canary-paused": {Rollout: canaryRollout(v1alpha1.RolloutPhasePaused, "CanaryPauseStep", 1),
			ReplicaSets: []ReplicaSetInfo{replicaSet("bbb", "colorapi:2.0", 2, 1, 1, 30*time.Second), replicaSet("aaa", "colorapi:1.0", 1, 4, 4, time.Hour)}},
		"canary-aborted-with-analysis": {Rollout: aborted,
			ReplicaSets: []ReplicaSetInfo{replicaSet("bbb", "colorapi:2.0", 2, 0, 0, 3*time.Minute), replicaSet("aaa", "colorapi:1.0", 1, 5, 5, time.Hour)},
			Runs:        []AnalysisRunInfo{{Run: run, Jobs: []*batchv1.Job{job}}}},
		// an experiment step: its Experiment hangs under the rollout with its own tree
		"canary-experiment-step": {Rollout: canaryRollout(v1alpha1.RolloutPhaseProgressing, "", 1),
			ReplicaSets: []ReplicaSetInfo{replicaSet("bbb", "colorapi:2.0", 2, 1, 1, 30*time.Second), replicaSet("aaa", "colorapi:1.0", 1, 5, 5, time.Hour)},
			Experiments: []ExperimentInfo{*experimentCases()["experiment-running"]}},
		"bluegreen-preview": {Rollout: bg,
			ReplicaSets: []ReplicaSetInfo{replicaSet("bbb", "colorapi:2.0", 2, 2, 2, time.Minute), replicaSet("aaa", "colorapi:1.0", 1, 5, 5, 3*24*time.Hour)}},
	}
	for name, info := range tests {
		for _, color := range []bool{false, true} {
			file := name + ".golden"
			if color {
				file = name + ".color.golden"
			}
			t.Run(file, func(t *testing.T) {
				var buf bytes.Buffer
				RenderRollout(&buf, info, now, color)
				golden := filepath.Join("testdata", file)
				if *update {
					if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./internal/cli -update to create it)", err)
				}
				if diff := cmp.Diff(string(want), buf.String()); diff != "" {
					t.Errorf("rendering differs from %s (-want +got):\n%s", golden, diff)
				}
			})
		}
	}
}
