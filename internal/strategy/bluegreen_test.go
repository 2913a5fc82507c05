package strategy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

// bgRollout is a 5-replica blue/green rollout with a preview Service; mod changes its strategy.
func bgRollout(mod func(*v1alpha1.BlueGreenStrategy), st v1alpha1.RolloutStatus) *v1alpha1.Rollout {
	bg := &v1alpha1.BlueGreenStrategy{ActiveService: "active", PreviewService: "preview", AutoPromotionEnabled: ptr.To(false)}
	if mod != nil {
		mod(bg)
	}
	return &v1alpha1.Rollout{
		Spec:   v1alpha1.RolloutSpec{Replicas: ptr.To[int32](5), Strategy: v1alpha1.RolloutStrategy{BlueGreen: bg}},
		Status: st,
	}
}

// bgUpdating is the status of a rollout moving from active and stable "a" to new "n".
func bgUpdating(mod func(*v1alpha1.RolloutStatus)) v1alpha1.RolloutStatus {
	st := v1alpha1.RolloutStatus{StableRS: "a", CurrentPodHash: "n",
		BlueGreen: v1alpha1.BlueGreenStatus{ActiveSelector: "a", PreviewSelector: "a"}}
	if mod != nil {
		mod(&st)
	}
	return st
}

func bgPaused(st *v1alpha1.RolloutStatus) {
	st.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonBlueGreenPause, StartTime: metav1.NewTime(t0)}}
	st.ControllerPause = true
}

func bgPromoted(st *v1alpha1.RolloutStatus) { st.ControllerPause = true }

func set(hash string, rev int64, pods Pods) BlueGreenSet {
	return BlueGreenSet{Hash: hash, Revision: rev, Pods: pods}
}

func withDeadline(s BlueGreenSet, d time.Time) BlueGreenSet { s.ScaleDownDeadline = d; return s }

func TestBlueGreen(t *testing.T) {
	type want struct {
		Replicas        map[string]int32
		Active, Preview string
		Stable          string
		Pauses          []v1alpha1.PauseReason
		ControllerPause bool
		CheckPoint      bool
		Aborted         bool
		Switched        bool
		Completed       bool
		Deadlines       map[string]time.Time // zero: taken off
		RequeueAfter    time.Duration
		Reasons         []string
	}
	updateSets := func(n Pods) []BlueGreenSet { return []BlueGreenSet{set("n", 2, n), set("a", 1, ready(5))} }
	tests := map[string]struct {
		rollout       *v1alpha1.Rollout
		sets          []BlueGreenSet
		active        string // what the active Service selects ("" for none)
		preview       string
		now           time.Time
		fastRollback  bool
		want          want
		wantNoPreview bool
	}{
		// stable at once, as Argo's shouldFullPromote ("Initial deploy" while the active Service
		// selects nothing)
		"first revision scales to full size and is stable; nothing is active before its pods are available": {
			rollout: bgRollout(nil, v1alpha1.RolloutStatus{}),
			sets:    []BlueGreenSet{set("n", 1, Pods{})},
			want:    want{Replicas: map[string]int32{"n": 5}, Stable: "n", Reasons: []string{"RolloutCompleted"}},
		},
		"first revision fully available goes straight to active, without a pause": {
			rollout: bgRollout(nil, v1alpha1.RolloutStatus{CurrentPodHash: "n"}),
			sets:    []BlueGreenSet{set("n", 1, ready(5))},
			want: want{Replicas: map[string]int32{"n": 5}, Active: "n", Preview: "n", Stable: "n", Switched: true,
				Reasons: []string{"RolloutCompleted"}},
		},
		"first revision with unavailable pods is not made active": {
			rollout: bgRollout(nil, v1alpha1.RolloutStatus{CurrentPodHash: "n"}),
			sets:    []BlueGreenSet{set("n", 1, Pods{Spec: 5, Current: 5, Available: 4})},
			want:    want{Replicas: map[string]int32{"n": 5}, Stable: "n", Reasons: []string{"RolloutCompleted"}},
		},
		"new template: the new ReplicaSet scales to full size beside the active one": {
			rollout: bgRollout(nil, v1alpha1.RolloutStatus{StableRS: "a", CurrentPodHash: "a",
				BlueGreen: v1alpha1.BlueGreenStatus{ActiveSelector: "a", PreviewSelector: "a"}}),
			sets: updateSets(Pods{}), active: "a", preview: "a",
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "a", Preview: "a", Stable: "a"},
		},
		"previewReplicaCount sizes the preview": {
			rollout: bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { bg.PreviewReplicaCount = ptr.To[int32](1) }, bgUpdating(nil)),
			sets:    updateSets(Pods{}), active: "a", preview: "a",
			want: want{Replicas: map[string]int32{"n": 1, "a": 5}, Active: "a", Preview: "a", Stable: "a"},
		},
		"preview fully available: the preview Service selects it and the rollout pauses": {
			rollout: bgRollout(nil, bgUpdating(nil)),
			sets:    updateSets(ready(5)), active: "a", preview: "a", now: t0,
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "a", Preview: "n", Stable: "a",
				Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonBlueGreenPause}, ControllerPause: true,
				Reasons: []string{"RolloutPaused"}},
		},
		"paused rollout waits for promote": {
			rollout: bgRollout(nil, bgUpdating(bgPaused)),
			sets:    updateSets(ready(5)), active: "a", preview: "n", now: t0.Add(time.Hour),
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "a", Preview: "n", Stable: "a",
				Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonBlueGreenPause}, ControllerPause: true},
		},
		"promote (pause condition removed) switches the active Service; the old one waits scaleDownDelaySeconds": {
			rollout: bgRollout(nil, bgUpdating(bgPromoted)),
			sets:    updateSets(ready(5)), active: "a", preview: "n", now: t0,
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "n", Preview: "n", Stable: "n", Switched: true,
				Completed: true, Deadlines: map[string]time.Time{"a": t0.Add(30 * time.Second)}, RequeueAfter: 30 * time.Second,
				Reasons: []string{"RolloutCompleted"}},
		},
		"the scale-down deadline is rounded up to a whole second (RFC3339)": {
			rollout: bgRollout(nil, bgUpdating(bgPromoted)),
			sets:    updateSets(ready(5)), active: "a", preview: "n", now: t0.Add(300 * time.Millisecond),
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "n", Preview: "n", Stable: "n", Switched: true,
				Completed: true, Deadlines: map[string]time.Time{"a": t0.Add(31 * time.Second)}, RequeueAfter: 30*time.Second + 700*time.Millisecond,
				Reasons: []string{"RolloutCompleted"}},
		},
		"promoted but a pod of the new ReplicaSet is not available: no switch": {
			rollout: bgRollout(nil, bgUpdating(bgPromoted)),
			sets:    updateSets(Pods{Spec: 5, Current: 5, Available: 4}), active: "a", preview: "n",
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "a", Preview: "n", Stable: "a", ControllerPause: true},
		},
		"autoPromotionEnabled (default) switches as soon as the new ReplicaSet is available": {
			rollout: bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { bg.AutoPromotionEnabled = nil }, bgUpdating(nil)),
			sets:    updateSets(ready(5)), active: "a", preview: "a", now: t0,
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "n", Preview: "n", Stable: "n", Switched: true,
				Completed: true, Deadlines: map[string]time.Time{"a": t0.Add(30 * time.Second)}, RequeueAfter: 30 * time.Second,
				Reasons: []string{"RolloutCompleted"}},
		},
		"autoPromotionSeconds pauses first": {
			rollout: bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { bg.AutoPromotionEnabled, bg.AutoPromotionSeconds = nil, 10 }, bgUpdating(nil)),
			sets:    updateSets(ready(5)), active: "a", preview: "a", now: t0,
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "a", Preview: "n", Stable: "a",
				Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonBlueGreenPause}, ControllerPause: true,
				RequeueAfter: 10 * time.Second, Reasons: []string{"RolloutPaused"}},
		},
		"autoPromotionSeconds counts from the pause": {
			rollout: bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { bg.AutoPromotionEnabled, bg.AutoPromotionSeconds = nil, 10 }, bgUpdating(bgPaused)),
			sets:    updateSets(ready(5)), active: "a", preview: "n", now: t0.Add(4 * time.Second),
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "a", Preview: "n", Stable: "a",
				Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonBlueGreenPause}, ControllerPause: true, RequeueAfter: 6 * time.Second},
		},
		"autoPromotionSeconds elapsed: promoted": {
			rollout: bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { bg.AutoPromotionEnabled, bg.AutoPromotionSeconds = nil, 10 }, bgUpdating(bgPaused)),
			sets:    updateSets(ready(5)), active: "a", preview: "n", now: t0.Add(10 * time.Second),
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "n", Preview: "n", Stable: "n", Switched: true, Completed: true,
				Deadlines: map[string]time.Time{"a": t0.Add(40 * time.Second)}, RequeueAfter: 30 * time.Second,
				Reasons: []string{"RolloutResumed", "RolloutCompleted"}},
		},
		"autoPromotionSeconds is ignored when autoPromotionEnabled is false": {
			rollout: bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { bg.AutoPromotionSeconds = 10 }, bgUpdating(bgPaused)),
			sets:    updateSets(ready(5)), active: "a", preview: "n", now: t0.Add(time.Hour),
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "a", Preview: "n", Stable: "a",
				Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonBlueGreenPause}, ControllerPause: true},
		},
		"previewReplicaCount: promote scales the preview to full size first": {
			rollout: bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { bg.PreviewReplicaCount = ptr.To[int32](1) }, bgUpdating(bgPromoted)),
			sets:    updateSets(ready(1)), active: "a", preview: "n",
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "a", Preview: "n", Stable: "a", ControllerPause: true, CheckPoint: true},
		},
		"previewReplicaCount: the checkpoint holds while the preview scales up": {
			rollout: bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { bg.PreviewReplicaCount = ptr.To[int32](1) },
				bgUpdating(func(st *v1alpha1.RolloutStatus) {
					st.ControllerPause, st.BlueGreen.ScaleUpPreviewCheckPoint = true, true
				})),
			sets: updateSets(Pods{Spec: 5, Current: 5, Available: 3}), active: "a", preview: "n",
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "a", Preview: "n", Stable: "a", ControllerPause: true, CheckPoint: true},
		},
		"previewReplicaCount: full size and available switches and resets the checkpoint": {
			rollout: bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { bg.PreviewReplicaCount = ptr.To[int32](1) },
				bgUpdating(func(st *v1alpha1.RolloutStatus) {
					st.ControllerPause, st.BlueGreen.ScaleUpPreviewCheckPoint = true, true
				})),
			sets: updateSets(ready(5)), active: "a", preview: "n", now: t0,
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "n", Preview: "n", Stable: "n", Switched: true, Completed: true,
				Deadlines: map[string]time.Time{"a": t0.Add(30 * time.Second)}, RequeueAfter: 30 * time.Second,
				Reasons: []string{"RolloutCompleted"}},
		},
		"previewReplicaCount with immediate auto-promotion: preview switches at once, active at full size": {
			rollout: bgRollout(func(bg *v1alpha1.BlueGreenStrategy) {
				bg.PreviewReplicaCount, bg.AutoPromotionEnabled = ptr.To[int32](2), nil
			}, bgUpdating(nil)),
			sets: updateSets(ready(2)), active: "a", preview: "a",
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "a", Preview: "n", Stable: "a", CheckPoint: true},
		},
		"promote full skips the pause and previewReplicaCount": {
			rollout: bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { bg.PreviewReplicaCount = ptr.To[int32](1) },
				bgUpdating(func(st *v1alpha1.RolloutStatus) { bgPaused(st); st.PromoteFull = true })),
			sets: updateSets(ready(1)), active: "a", preview: "n",
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "a", Preview: "n", Stable: "a", ControllerPause: true},
		},
		"a manual pause holds the switch and adds no pause condition": {
			rollout: func() *v1alpha1.Rollout {
				r := bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { bg.AutoPromotionEnabled = nil }, bgUpdating(nil))
				r.Spec.Paused = true
				return r
			}(),
			sets: updateSets(ready(5)), active: "a", preview: "a",
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "a", Preview: "n", Stable: "a"},
		},
		"rollback window: promoted without a pause": {
			rollout:      bgRollout(nil, bgUpdating(nil)),
			fastRollback: true,
			sets:         updateSets(ready(5)), active: "a", preview: "n", now: t0,
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "n", Preview: "n", Stable: "n", Switched: true, Completed: true,
				Deadlines: map[string]time.Time{"a": t0.Add(30 * time.Second)}, RequeueAfter: 30 * time.Second,
				Reasons: []string{"RolloutCompleted"}},
		},
		"controller stopped after the switch, before its status: the Service already selects the new ReplicaSet": {
			rollout: bgRollout(nil, bgUpdating(bgPromoted)),
			sets:    updateSets(ready(5)), active: "n", preview: "n", now: t0,
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "n", Preview: "n", Stable: "n", Completed: true,
				Deadlines: map[string]time.Time{"a": t0.Add(30 * time.Second)}, RequeueAfter: 30 * time.Second,
				Reasons: []string{"RolloutCompleted"}},
		},
		"the old active ReplicaSet keeps its pods until its deadline": {
			rollout: bgRollout(nil, v1alpha1.RolloutStatus{StableRS: "n", CurrentPodHash: "n",
				BlueGreen: v1alpha1.BlueGreenStatus{ActiveSelector: "n", PreviewSelector: "n"}}),
			sets:   []BlueGreenSet{set("n", 2, ready(5)), withDeadline(set("a", 1, ready(5)), t0.Add(30*time.Second))},
			active: "n", preview: "n", now: t0.Add(10 * time.Second),
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "n", Preview: "n", Stable: "n", RequeueAfter: 20 * time.Second},
		},
		"the old active ReplicaSet past its deadline scales to 0": {
			rollout: bgRollout(nil, v1alpha1.RolloutStatus{StableRS: "n", CurrentPodHash: "n",
				BlueGreen: v1alpha1.BlueGreenStatus{ActiveSelector: "n", PreviewSelector: "n"}}),
			sets:   []BlueGreenSet{set("n", 2, ready(5)), withDeadline(set("a", 1, ready(5)), t0.Add(30*time.Second))},
			active: "n", preview: "n", now: t0.Add(30 * time.Second),
			want: want{Replicas: map[string]int32{"n": 5, "a": 0}, Active: "n", Preview: "n", Stable: "n"},
		},
		"scaleDownDelayRevisionLimit keeps the newest old ReplicaSets only": {
			rollout: bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { bg.ScaleDownDelayRevisionLimit = ptr.To[int32](1) },
				v1alpha1.RolloutStatus{StableRS: "n", CurrentPodHash: "n", BlueGreen: v1alpha1.BlueGreenStatus{ActiveSelector: "n", PreviewSelector: "n"}}),
			sets: []BlueGreenSet{set("n", 3, ready(5)), withDeadline(set("a", 1, ready(5)), t0.Add(20*time.Second)),
				withDeadline(set("b", 2, ready(5)), t0.Add(30*time.Second))},
			active: "n", preview: "n", now: t0,
			want: want{Replicas: map[string]int32{"n": 5, "a": 0, "b": 5}, Active: "n", Preview: "n", Stable: "n", RequeueAfter: 30 * time.Second},
		},
		"scaleDownDelaySeconds 0: the old active ReplicaSet scales down at the switch": {
			rollout: bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { bg.ScaleDownDelaySeconds = ptr.To[int32](0) }, bgUpdating(bgPromoted)),
			sets:    updateSets(ready(5)), active: "a", preview: "n",
			want: want{Replicas: map[string]int32{"n": 5, "a": 0}, Active: "n", Preview: "n", Stable: "n", Switched: true, Completed: true,
				Reasons: []string{"RolloutCompleted"}},
		},
		"a superseded preview that never was active scales down at once": {
			rollout: bgRollout(nil, bgUpdating(func(st *v1alpha1.RolloutStatus) { st.CurrentPodHash = "p"; bgPaused(st) })),
			sets:    []BlueGreenSet{set("n", 3, Pods{}), set("p", 2, ready(5)), set("a", 1, ready(5))}, active: "a", preview: "p",
			want: want{Replicas: map[string]int32{"n": 5, "p": 0, "a": 5}, Active: "a", Preview: "a", Stable: "a"},
		},
		"back to the stable template mid-update: nothing to promote": {
			rollout: bgRollout(nil, bgUpdating(func(st *v1alpha1.RolloutStatus) { bgPaused(st) })),
			sets:    []BlueGreenSet{set("a", 3, ready(5)), set("n", 2, ready(5))}, active: "a", preview: "n",
			want: want{Replicas: map[string]int32{"a": 5, "n": 0}, Active: "a", Preview: "a", Stable: "a"},
		},
		"abort: active stays on stable, the preview keeps its pods for abortScaleDownDelaySeconds": {
			rollout: bgRollout(nil, bgUpdating(func(st *v1alpha1.RolloutStatus) { bgPaused(st); st.Abort = true })),
			sets:    updateSets(ready(5)), active: "a", preview: "n", now: t0,
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "a", Preview: "n", Stable: "a", Aborted: true,
				Deadlines: map[string]time.Time{"n": t0.Add(30 * time.Second)}, RequeueAfter: 30 * time.Second,
				Reasons: []string{"RolloutAborted"}},
		},
		"abort past abortScaleDownDelaySeconds: the preview scales down and the preview Service returns to active": {
			rollout: bgRollout(nil, bgUpdating(func(st *v1alpha1.RolloutStatus) {
				st.Abort, st.AbortedAt = true, ptr.To(metav1.NewTime(t0))
			})),
			sets:   []BlueGreenSet{withDeadline(set("n", 2, ready(5)), t0.Add(30*time.Second)), set("a", 1, ready(5))},
			active: "a", preview: "n", now: t0.Add(30 * time.Second),
			want: want{Replicas: map[string]int32{"n": 0, "a": 5}, Active: "a", Preview: "a", Stable: "a", Aborted: true},
		},
		"abortScaleDownDelaySeconds 0 keeps the preview": {
			rollout: bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { bg.AbortScaleDownDelaySeconds = ptr.To[int32](0) },
				bgUpdating(func(st *v1alpha1.RolloutStatus) { st.Abort, st.AbortedAt = true, ptr.To(metav1.NewTime(t0)) })),
			sets: updateSets(ready(5)), active: "a", preview: "n", now: t0.Add(time.Hour),
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "a", Preview: "n", Stable: "a", Aborted: true},
		},
		"abort after the switch returns the active Service to the stable ReplicaSet": {
			rollout: bgRollout(nil, bgUpdating(func(st *v1alpha1.RolloutStatus) { st.Abort = true })),
			sets:    updateSets(ready(5)), active: "n", preview: "n", now: t0,
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "a", Preview: "n", Stable: "a", Aborted: true, Switched: true,
				Deadlines: map[string]time.Time{"n": t0.Add(30 * time.Second)}, RequeueAfter: 30 * time.Second,
				Reasons: []string{"RolloutAborted"}},
		},
		"retry takes the abort deadline off and pauses again": {
			rollout: bgRollout(nil, bgUpdating(func(st *v1alpha1.RolloutStatus) { st.AbortedAt = ptr.To(metav1.NewTime(t0)) })),
			sets:    []BlueGreenSet{withDeadline(set("n", 2, ready(5)), t0.Add(30*time.Second)), set("a", 1, ready(5))},
			active:  "a", preview: "n", now: t0.Add(time.Second),
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "a", Preview: "n", Stable: "a",
				Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonBlueGreenPause}, ControllerPause: true,
				Deadlines: map[string]time.Time{"n": {}}, Reasons: []string{"RolloutPaused"}},
		},
		"without a preview Service the preview selector stays empty": {
			rollout: bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { bg.PreviewService = "" }, bgUpdating(bgPaused)),
			sets:    updateSets(ready(5)), active: "a",
			wantNoPreview: true,
			want: want{Replicas: map[string]int32{"n": 5, "a": 5}, Active: "a", Stable: "a",
				Pauses: []v1alpha1.PauseReason{v1alpha1.PauseReasonBlueGreenPause}, ControllerPause: true},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := BlueGreen(BlueGreenInput{Rollout: tc.rollout, NewHash: tc.sets[0].Hash, ActiveHash: tc.active,
				PreviewHash: tc.preview, Sets: tc.sets, FastRollback: tc.fastRollback, Now: tc.now})
			if err != nil {
				t.Fatal(err)
			}
			st := p.Status
			got := want{Replicas: p.Replicas, Active: st.BlueGreen.ActiveSelector, Preview: st.BlueGreen.PreviewSelector,
				Stable: st.StableRS, ControllerPause: st.ControllerPause, CheckPoint: st.BlueGreen.ScaleUpPreviewCheckPoint,
				Aborted: st.AbortedAt != nil, Switched: p.Switched, Completed: p.Completed, RequeueAfter: p.RequeueAfter}
			if len(p.ScaleDownDeadlines) > 0 {
				got.Deadlines = p.ScaleDownDeadlines
			}
			for _, c := range st.PauseConditions {
				got.Pauses = append(got.Pauses, c.Reason)
			}
			for _, e := range p.Events {
				got.Reasons = append(got.Reasons, e.Reason)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if st.CurrentPodHash != tc.sets[0].Hash || st.CurrentStepIndex != nil {
				t.Errorf("currentPodHash %q, currentStepIndex %v", st.CurrentPodHash, st.CurrentStepIndex)
			}
		})
	}
}

// TestBlueGreenEventMessages: the blue/green engine's events carry Argo's reasons and texts
// (utils/conditions: RolloutPausedMessage, RolloutResumedMessage, RolloutCompletedMessage with
// the reasons of rollout/sync.go shouldFullPromote, RolloutAbortedMessage with the
// setPauseOrAbortForBlueGreen text of rollout/analysis.go); the run's name comes after Argo's
// text.
func TestBlueGreenEventMessages(t *testing.T) {
	auto := func(bg *v1alpha1.BlueGreenStrategy) { bg.AutoPromotionEnabled, bg.AutoPromotionSeconds = nil, 30 }
	noDelay := func(bg *v1alpha1.BlueGreenStrategy) { bg.ScaleDownDelaySeconds = ptr.To[int32](0) }
	withPre := func(bg *v1alpha1.BlueGreenStrategy) {
		bg.PrePromotionAnalysis = &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "t"}}}
	}
	updateSets := []BlueGreenSet{set("n", 2, ready(5)), set("a", 1, ready(5))}
	tests := map[string]struct {
		rollout      *v1alpha1.Rollout
		sets         []BlueGreenSet
		active       string
		now          time.Time
		fastRollback bool
		runs         Runs
		want         []Event
	}{
		"first revision": {
			rollout: bgRollout(noDelay, v1alpha1.RolloutStatus{CurrentPodHash: "n"}),
			sets:    []BlueGreenSet{set("n", 1, ready(5))},
			want:    []Event{{Reason: "RolloutCompleted", Message: "Rollout completed update to revision 1 (n): Initial deploy"}},
		},
		"paused for promotion": {
			rollout: bgRollout(noDelay, bgUpdating(nil)), sets: updateSets, active: "a",
			want: []Event{{Reason: "RolloutPaused", Message: "Rollout is paused (BlueGreenPause)"}},
		},
		"promoted by hand": {
			rollout: bgRollout(noDelay, bgUpdating(bgPromoted)), sets: updateSets, active: "a",
			want: []Event{{Reason: "RolloutCompleted", Message: "Rollout completed update to revision 2 (n): Completed blue-green update"}},
		},
		"promoted after autoPromotionSeconds": {
			rollout: bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { auto(bg); noDelay(bg) }, bgUpdating(bgPaused)),
			sets:    updateSets, active: "a", now: t0.Add(30 * time.Second),
			want: []Event{{Reason: "RolloutResumed", Message: "Rollout is resumed"},
				{Reason: "RolloutCompleted", Message: "Rollout completed update to revision 2 (n): Completed blue-green update"}},
		},
		"full promotion": {
			rollout: bgRollout(noDelay, bgUpdating(func(st *v1alpha1.RolloutStatus) { st.PromoteFull = true })),
			sets:    updateSets, active: "a",
			want: []Event{{Reason: "RolloutCompleted", Message: "Rollout completed update to revision 2 (n): Full promotion requested"}},
		},
		"rollback within the window": {
			rollout: bgRollout(noDelay, bgUpdating(nil)), sets: updateSets, active: "a", fastRollback: true,
			want: []Event{{Reason: "RolloutCompleted", Message: "Rollout completed update to revision 2 (n): Rollback within window"}},
		},
		"aborted by hand": {
			rollout: bgRollout(noDelay, bgUpdating(func(st *v1alpha1.RolloutStatus) { st.Abort = true })),
			sets:    updateSets, active: "a",
			want: []Event{{Warning: true, Reason: "RolloutAborted", Message: "Rollout aborted update to revision 2"}},
		},
		"aborted by the pre-promotion analysis": {
			rollout: bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { withPre(bg); noDelay(bg) }, bgUpdating(nil)),
			sets:    updateSets, active: "a",
			runs: Runs{PrePromotion: &Run{Name: "r-n-2-pre", Phase: v1alpha1.AnalysisPhaseFailed, Message: "m"}},
			want: []Event{{Warning: true, Reason: "RolloutAborted",
				Message: "Rollout aborted update to revision 2: Blue/green pre-promotion analysis phase error/failed: m (AnalysisRun r-n-2-pre)"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := BlueGreen(BlueGreenInput{Rollout: tc.rollout, NewHash: tc.sets[0].Hash, ActiveHash: tc.active,
				Sets: tc.sets, FastRollback: tc.fastRollback, Now: tc.now, Runs: tc.runs})
			if err != nil {
				t.Fatal(err)
			}
			// the run's own events (AnalysisRun<Phase>) are the analysis code's, not Argo's texts
			got := slices.DeleteFunc(p.Events, func(e Event) bool { return strings.HasPrefix(e.Reason, "AnalysisRun") })
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBlueGreenNewRevisionResetsTheUpdate(t *testing.T) {
	r := bgRollout(func(bg *v1alpha1.BlueGreenStrategy) { bg.PreviewReplicaCount = ptr.To[int32](1) },
		bgUpdating(func(st *v1alpha1.RolloutStatus) {
			bgPaused(st)
			st.Abort, st.AbortedAt, st.PromoteFull, st.BlueGreen.ScaleUpPreviewCheckPoint = true, ptr.To(metav1.NewTime(t0)), true, true
		}))
	p, err := BlueGreen(BlueGreenInput{Rollout: r, NewHash: "m", ActiveHash: "a", PreviewHash: "n",
		Sets: []BlueGreenSet{set("m", 3, Pods{}), set("n", 2, ready(5)), set("a", 1, ready(5))}})
	if err != nil {
		t.Fatal(err)
	}
	st := p.Status
	if st.Abort || st.AbortedAt != nil || st.PromoteFull || st.ControllerPause || len(st.PauseConditions) > 0 ||
		st.BlueGreen.ScaleUpPreviewCheckPoint {
		t.Errorf("update bookkeeping not reset: %+v", st)
	}
	if diff := cmp.Diff(map[string]int32{"m": 1, "n": 0, "a": 5}, p.Replicas); diff != "" {
		t.Errorf("replicas (-want +got):\n%s", diff)
	}
}

func TestAntiAffinity(t *testing.T) {
	own := corev1.PodAffinityTerm{TopologyKey: "zone", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}
	base := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{own}}}}}
	// Argo's CreateInjectedAntiAffinityRule: the hash, the rollout's namespace, per node
	injected := corev1.PodAffinityTerm{TopologyKey: AntiAffinityTopologyKey, Namespaces: []string{"ns"}, LabelSelector: &metav1.LabelSelector{
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: v1alpha1.PodTemplateHashLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{"old"}}}}}
	tests := map[string]struct {
		template corev1.PodTemplateSpec
		anti     *v1alpha1.AntiAffinity
		want     *corev1.Affinity
	}{
		"preferred, on a template without affinity": {
			anti: &v1alpha1.AntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: &v1alpha1.PreferredDuringSchedulingIgnoredDuringExecution{Weight: 40}},
			want: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{
				{Weight: 40, PodAffinityTerm: injected}}}},
		},
		"required, beside the template's own rule": {
			template: base,
			anti:     &v1alpha1.AntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1alpha1.RequiredDuringSchedulingIgnoredDuringExecution{}},
			want: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{own, injected}}},
		},
		"no antiAffinity: unchanged": {template: base, want: base.Spec.Affinity},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			orig := tc.template.DeepCopy()
			got := InjectAntiAffinity(&tc.template, tc.anti, "old", "ns")
			if diff := cmp.Diff(tc.want, got.Spec.Affinity); diff != "" {
				t.Errorf("injected (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(orig, &tc.template); diff != "" {
				t.Errorf("the template passed in changed:\n%s", diff)
			}
			if HasInjectedAntiAffinity(got) != (tc.anti != nil) {
				t.Errorf("HasInjectedAntiAffinity = %v", !(tc.anti != nil))
			}
			RemoveInjectedAntiAffinity(got)
			if diff := cmp.Diff(orig.Spec.Affinity, got.Spec.Affinity); diff != "" {
				t.Errorf("after removal (-want +got):\n%s", diff)
			}
		})
	}
}
