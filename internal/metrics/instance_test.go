package metrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
)

// fakeClock advances by step at each reading.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time { c.t = c.t.Add(c.step); return c.t }

type failing struct{ err error }

func (f failing) Reconcile(context.Context, ctrl.Request) (ctrl.Result, error) {
	return ctrl.Result{}, f.err
}

func TestReconcileTiming(t *testing.T) {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "timing", Name: "a"}}
	tests := map[string]struct {
		key  string
		err  error
		want map[string]float64
	}{
		"a reconcile": {key: "a", want: map[string]float64{
			`rollout_reconcile_count{name="a",namespace="timing"}`: 2,
			`rollout_reconcile_sum{name="a",namespace="timing"}`:   0.2, // 100ms each (the fake clock's step)
		}},
		"a failed reconcile": {key: "a", err: errors.New("boom"), want: map[string]float64{
			`rollout_reconcile_count{name="a",namespace="timing"}`: 2,
			`rollout_reconcile_sum{name="a",namespace="timing"}`:   0.2,
			`rollout_reconcile_error{name="a",namespace="timing"}`: 2,
		}},
		"an object that is gone: no series": {key: "gone", err: errors.New("boom"), want: map[string]float64{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := newInstance(fakeReader(t, ro), "", (&fakeClock{step: 100 * time.Millisecond}).now)
			r := in.Wrap("rollout", failing{tc.err})
			for range 2 {
				_, _ = r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "timing", Name: tc.key}})
			}
			got := series(t, rolloutReconcile, "rollout_reconcile")
			for k, v := range series(t, rolloutReconcileErr, "rollout_reconcile_error") {
				got[k] = v
			}
			in.forgetAll()
			if d := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })); d != "" {
				t.Errorf("series (-want +got):\n%s", d)
			}
			if left := series(t, rolloutReconcile, "rollout_reconcile"); len(left) != 0 {
				t.Errorf("series left after the instance stopped: %v", left)
			}
		})
	}
}

// Once the object is gone, its next reconcile deletes the series it had.
func TestReconcileOfDeletedObject(t *testing.T) {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "deleted", Name: "a"}}
	reader := fakeReader(t, ro)
	in := newInstance(reader, "", time.Now)
	in.ObserveEvent(ro, "Normal", "RolloutUpdated", "")
	r := in.Wrap("rollout", failing{})
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "deleted", Name: "a"}}
	_, _ = r.Reconcile(context.Background(), req)
	before := len(series(t, rolloutReconcile, "rollout_reconcile")) + len(series(t, rolloutEvents, "rollout_events_total"))
	if err := reader.Delete(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	_, _ = r.Reconcile(context.Background(), req)
	after := len(series(t, rolloutReconcile, "rollout_reconcile")) + len(series(t, rolloutEvents, "rollout_events_total"))
	if d := cmp.Diff([2]int{3, 0}, [2]int{before, after}); d != "" {
		t.Errorf("series before and after the deletion (-want +got):\n%s", d)
	}
}

func pausedAt(ro *v1alpha1.Rollout, step int32) *v1alpha1.Rollout {
	ro = ro.DeepCopy()
	ro.Status.CurrentStepIndex = ptr.To(step)
	ro.Status.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep}}
	return ro
}

// The events of an update drive the duration histograms; every minute of the fake clock is one
// event.
func TestUpdateDurations(t *testing.T) {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "spans", Name: "a"}}
	timed := v1alpha1.DurationFromString("1m")
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{{Pause: &v1alpha1.RolloutPause{Duration: &timed}},
		{Pause: &v1alpha1.RolloutPause{}}}}
	type ev struct {
		obj    *v1alpha1.Rollout
		reason string
	}
	tests := map[string]struct {
		events []ev
		want   map[string]float64
	}{
		"timed pause, manual pause, promoted, completed": {
			events: []ev{{ro, "RolloutUpdated"}, {pausedAt(ro, 0), "RolloutPaused"}, {ro, "RolloutResumed"},
				{pausedAt(ro, 1), "RolloutPaused"}, {ro, "RolloutResumed"}, {ro, "RolloutCompleted"}},
			want: map[string]float64{
				`rollout_duration_seconds_count{namespace="spans",outcome="completed"}`:             1,
				`rollout_duration_seconds_sum{namespace="spans",outcome="completed"}`:               300,
				`rollout_progression_duration_seconds_count{namespace="spans",outcome="completed"}`: 1,
				`rollout_progression_duration_seconds_sum{namespace="spans",outcome="completed"}`:   180,
				`rollout_manual_pause_duration_seconds_count{namespace="spans",outcome="promoted"}`: 1,
				`rollout_manual_pause_duration_seconds_sum{namespace="spans",outcome="promoted"}`:   60,
			}},
		"a promoted pause step completes": {
			events: []ev{{ro, "RolloutUpdated"}, {pausedAt(ro, 1), "RolloutPaused"}, {ro, "RolloutStepCompleted"}, {ro, "RolloutCompleted"}},
			want: map[string]float64{
				`rollout_duration_seconds_count{namespace="spans",outcome="completed"}`:             1,
				`rollout_duration_seconds_sum{namespace="spans",outcome="completed"}`:               180,
				`rollout_progression_duration_seconds_count{namespace="spans",outcome="completed"}`: 1,
				`rollout_progression_duration_seconds_sum{namespace="spans",outcome="completed"}`:   120,
				`rollout_manual_pause_duration_seconds_count{namespace="spans",outcome="promoted"}`: 1,
				`rollout_manual_pause_duration_seconds_sum{namespace="spans",outcome="promoted"}`:   60,
			}},
		"aborted in a manual pause": {
			events: []ev{{ro, "RolloutUpdated"}, {pausedAt(ro, 1), "RolloutPaused"}, {ro, "RolloutAborted"}},
			want: map[string]float64{
				`rollout_duration_seconds_count{namespace="spans",outcome="aborted"}`:              1,
				`rollout_duration_seconds_sum{namespace="spans",outcome="aborted"}`:                120,
				`rollout_progression_duration_seconds_count{namespace="spans",outcome="aborted"}`:  1,
				`rollout_progression_duration_seconds_sum{namespace="spans",outcome="aborted"}`:    60,
				`rollout_manual_pause_duration_seconds_count{namespace="spans",outcome="aborted"}`: 1,
				`rollout_manual_pause_duration_seconds_sum{namespace="spans",outcome="aborted"}`:   60,
			}},
		"superseded by a newer revision": {
			events: []ev{{ro, "RolloutUpdated"}, {ro, "RolloutUpdated"}},
			want: map[string]float64{
				`rollout_duration_seconds_count{namespace="spans",outcome="superseded"}`:             1,
				`rollout_duration_seconds_sum{namespace="spans",outcome="superseded"}`:               60,
				`rollout_progression_duration_seconds_count{namespace="spans",outcome="superseded"}`: 1,
				`rollout_progression_duration_seconds_sum{namespace="spans",outcome="superseded"}`:   60,
			}},
		"an update this process did not see start": {
			events: []ev{{pausedAt(ro, 1), "RolloutPaused"}, {ro, "RolloutCompleted"}},
			want:   map[string]float64{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := newInstance(fakeReader(t, ro), "", (&fakeClock{step: time.Minute}).now)
			// per namespace, not per Rollout: forgetting the Rollout does not clear them
			for _, h := range []*prometheus.HistogramVec{rolloutDuration, rolloutProgression, rolloutManualPause} {
				h.Reset()
			}
			for _, e := range tc.events {
				in.ObserveEvent(e.obj, "Normal", e.reason, "")
			}
			got := map[string]float64{}
			for k, v := range series(t, rolloutDuration, "rollout_duration_seconds") {
				got[k] = v
			}
			for k, v := range series(t, rolloutProgression, "rollout_progression_duration_seconds") {
				got[k] = v
			}
			for k, v := range series(t, rolloutManualPause, "rollout_manual_pause_duration_seconds") {
				got[k] = v
			}
			in.forgetAll()
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("series (-want +got):\n%s", d)
			}
		})
	}
}

// rollout_events_total counts the events about the instance's Rollouts only.
func TestEventCounts(t *testing.T) {
	mine := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "events", Name: "a", Labels: map[string]string{v1alpha1.InstanceIDLabel: "x"}}}
	theirs := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "events", Name: "b"}}
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "events", Name: "run", Labels: mine.Labels}}
	in := newInstance(fakeReader(t), "x", time.Now)
	in.ObserveEvent(mine, "Warning", "RolloutAborted", "")
	in.ObserveEvent(mine, "Warning", "RolloutAborted", "")
	in.ObserveEvent(mine, "Normal", "RolloutPaused", "")
	in.ObserveEvent(theirs, "Normal", "RolloutPaused", "")
	in.ObserveEvent(run, "Warning", "AnalysisRunFailed", "")
	got := series(t, rolloutEvents, "rollout_events_total")
	in.forgetAll()
	want := map[string]float64{
		`rollout_events_total{name="a",namespace="events",reason="RolloutAborted",type="Warning"}`: 2,
		`rollout_events_total{name="a",namespace="events",reason="RolloutPaused",type="Normal"}`:   1,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rollout_events_total (-want +got):\n%s", d)
	}
}

func TestNotifications(t *testing.T) {
	Notifications.Sent("notify", "a", "Normal", "RolloutCompleted")
	Notifications.Sent("notify", "a", "Normal", "RolloutCompleted")
	Notifications.Failed("notify", "a", "Warning", "RolloutAborted")
	Notifications.Observe("notify", "a", 0.2)
	got := series(t, notifySuccess, "notification_send_success")
	for _, m := range []map[string]float64{series(t, notifyError, "notification_send_error"), series(t, notifySend, "notification_send")} {
		for k, v := range m {
			got[k] = v
		}
	}
	deleteSeries("rollout", types.NamespacedName{Namespace: "notify", Name: "a"})
	want := map[string]float64{
		`notification_send_success{name="a",namespace="notify",reason="RolloutCompleted",type="Normal"}`: 2,
		`notification_send_error{name="a",namespace="notify",reason="RolloutAborted",type="Warning"}`:    1,
		`notification_send_count{name="a",namespace="notify"}`:                                           1,
		`notification_send_sum{name="a",namespace="notify"}`:                                             0.2,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("notification series (-want +got):\n%s", d)
	}
}
