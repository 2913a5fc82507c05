package server

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

func replicaSet(hash, image string, replicas, available int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "app-" + hash, Labels: map[string]string{v1alpha1.PodTemplateHashLabel: hash}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas), Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}}},
		Status: appsv1.ReplicaSetStatus{Replicas: replicas, AvailableReplicas: available, ReadyReplicas: available},
	}
}

func canaryRollout(step int32, paused, abort bool) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "shop"},
		Spec: v1alpha1.RolloutSpec{Replicas: ptr.To[int32](4), Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			Steps: []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](25)}, {Pause: &v1alpha1.RolloutPause{}}, {SetWeight: ptr.To[int32](50)}}}}},
		Status: v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhaseProgressing, CurrentStepIndex: ptr.To(step),
			CurrentPodHash: "new", StableRS: "old", ReadyReplicas: 4, Abort: abort}}
	if paused {
		ro.Status.Phase = v1alpha1.RolloutPhasePaused
		ro.Status.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep}}
	}
	return ro
}

func TestSummarize(t *testing.T) {
	sets := []*appsv1.ReplicaSet{replicaSet("old", "app:1", 3, 3), replicaSet("new", "app:2", 1, 1)}
	cases := map[string]struct {
		ro   *v1alpha1.Rollout
		sets []*appsv1.ReplicaSet
		want Summary
	}{
		"canary paused at 25%": {canaryRollout(1, true, false), sets, Summary{Namespace: "shop", Name: "app", Strategy: "Canary",
			Status: "Paused", Icon: "‖", Step: 1, Steps: 3, SetWeight: 25, ActualWeight: 25, Ready: 4, Desired: 4, Paused: true,
			Images: []Image{{Image: "app:1", Role: "stable"}, {Image: "app:2", Role: "canary"}}}},
		"aborted: set weight 0": {canaryRollout(1, false, true), sets, Summary{Namespace: "shop", Name: "app", Strategy: "Canary",
			Status: "Progressing", Icon: "◌", Step: 1, Steps: 3, SetWeight: 0, ActualWeight: 25, Ready: 4, Desired: 4, Aborted: true,
			Images: []Image{{Image: "app:1", Role: "stable"}, {Image: "app:2", Role: "canary"}}}},
		"no ReplicaSet yet: the template's image": {&v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "bg", Namespace: "shop"},
			Spec: v1alpha1.RolloutSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Image: "bg:1"}}}},
				Strategy: v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: "bg"}}}}, nil,
			Summary{Namespace: "shop", Name: "bg", Strategy: "BlueGreen", Status: "Progressing", Icon: "◌", Desired: 1,
				Images: []Image{{Image: "bg:1"}}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, summarize(c.ro, c.sets)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestStepTrack(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	timed := canaryRollout(1, true, false)
	timed.Spec.Strategy.Canary.Steps[1].Pause.Duration = ptr.To(v1alpha1.DurationFromString("30s"))
	timed.Status.PauseConditions[0].StartTime = metav1.NewTime(start)
	until := start.Add(30 * time.Second)
	userPaused := canaryRollout(2, false, false)
	userPaused.Spec.Paused = true
	cases := map[string]struct {
		ro     *v1alpha1.Rollout
		track  []StepView
		pauses []PauseView
	}{
		"timed pause counts down": {timed,
			[]StepView{{1, "weight 25%", "done"}, {2, "pause 30s", "current"}, {3, "weight 50%", "pending"}},
			[]PauseView{{Reason: "CanaryPauseStep", Since: start, Until: &until}}},
		"paused by a user": {userPaused,
			[]StepView{{1, "weight 25%", "done"}, {2, "pause until promoted", "done"}, {3, "weight 50%", "current"}},
			[]PauseView{{Reason: "Paused by a user (spec.paused)"}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			track, pauses := stepTrack(c.ro)
			if diff := cmp.Diff(c.track, track); diff != "" {
				t.Errorf("track (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.pauses, pauses); diff != "" {
				t.Errorf("pauses (-want +got):\n%s", diff)
			}
		})
	}
	if got := (PauseView{Until: &until}).Left(start.Add(12 * time.Second)); got != "18s" {
		t.Errorf("time left %q, want 18s", got)
	}
}

func TestBlueGreenView(t *testing.T) {
	ro := &v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{
		ActiveService: "active", PreviewService: "preview"}}},
		Status: v1alpha1.RolloutStatus{CurrentPodHash: "new", BlueGreen: v1alpha1.BlueGreenStatus{ActiveSelector: "old", PreviewSelector: "new"}}}
	sets := []*appsv1.ReplicaSet{replicaSet("old", "app:1", 2, 2), replicaSet("new", "app:2", 2, 2)}
	promoted := ro.DeepCopy()
	promoted.Status.BlueGreen.ActiveSelector = "new"
	cases := map[string]struct {
		ro   *v1alpha1.Rollout
		want *BlueGreenView
	}{
		"before the switch": {ro, &BlueGreenView{ActiveService: "active", PreviewService: "preview", Active: "app-old",
			ActiveImages: []string{"app:1"}, Preview: "app-new", PreviewImages: []string{"app:2"}}},
		"switched": {promoted, &BlueGreenView{ActiveService: "active", PreviewService: "preview", Active: "app-new",
			ActiveImages: []string{"app:2"}, Switched: true}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, blueGreenView(c.ro, sets)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNumeric(t *testing.T) {
	type got struct {
		V  float64
		OK bool
	}
	cases := map[string]got{"0.97": {0.97, true}, "[0.5]": {0.5, true}, `"ok"`: {0, false}, "-3e2": {-300, true},
		"{1 2}": {1, true}, "": {0, false}}
	out := map[string]got{}
	for in := range cases {
		v, ok := numeric(in)
		out[in] = got{v, ok}
	}
	if diff := cmp.Diff(cases, out); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestChart(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := []Measurement{{At: t0, Value: "1", Phase: "Successful"}, {At: t0.Add(time.Second), Value: "3", Phase: "Failed"},
		{At: t0.Add(2 * time.Second), Value: `"text"`, Phase: "Error"}}
	c := chart(ms)
	want := &Chart{Width: 320, Height: 90, Line: "8.0,82.0 312.0,8.0", Min: "1", Max: "3", Points: []ChartPoint{
		{X: 8, Y: 82, Phase: "Successful", Title: "1 at 00:00:00: Successful"},
		{X: 312, Y: 8, Phase: "Failed", Title: "3 at 00:00:01: Failed"}}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if chart([]Measurement{{At: t0, Value: "n/a"}}) != nil {
		t.Error("a metric without a numeric value has no chart")
	}
}

func TestNeeds(t *testing.T) {
	paused := &v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Paused: true}}
	running := &v1alpha1.Rollout{}
	type in struct {
		action string
		ro     *v1alpha1.Rollout
	}
	cases := map[string]struct {
		in   in
		want []string
	}{
		"promote a pause step":     {in{"promote", running}, []string{"rollouts/status"}},
		"promote a paused rollout": {in{"promote", paused}, []string{"rollouts", "rollouts/status"}},
		"abort":                    {in{"abort", running}, []string{"rollouts/status"}},
		"retry":                    {in{"retry", running}, []string{"rollouts/status"}},
		"pause":                    {in{"pause", running}, []string{"rollouts"}},
		"set image":                {in{"setimage", running}, []string{"rollouts"}},
		"undo":                     {in{"undo", running}, []string{"rollouts"}},
		"unknown":                  {in{"explode", running}, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := needs(c.in.action, c.in.ro)
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if (err != nil) != (c.want == nil) {
				t.Errorf("error %v", err)
			}
		})
	}
}

func TestLoopbackHost(t *testing.T) {
	cases := map[string]bool{"127.0.0.1:3100": true, "localhost:3100": true, "[::1]:3100": true, "127.1.2.3": true,
		"evil.example:3100": false, "10.0.0.1:3100": false, "localhost.evil.example": false}
	got := map[string]bool{}
	for h := range cases {
		got[h] = loopbackHost(h)
	}
	if diff := cmp.Diff(cases, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
