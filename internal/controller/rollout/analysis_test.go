package rollout

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vanedev/vane/api/v1alpha1"
)

// TestPruneRuns: finished runs beyond spec.analysis's history limits go, oldest first; runs
// still running, runs the status records and other rollouts' runs stay.
func TestPruneRuns(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns", UID: "uid-app"}}
	other := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "ns", UID: "uid-other"}}
	mk := func(owner *v1alpha1.Rollout, name string, age int, phase v1alpha1.AnalysisPhase) *v1alpha1.AnalysisRun {
		return &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns",
			CreationTimestamp: metav1.NewTime(t0.Add(-time.Duration(age) * time.Minute)),
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(owner, v1alpha1.GroupVersion.WithKind("Rollout"))}},
			Status: v1alpha1.AnalysisRunStatus{Phase: phase}}
	}
	tests := map[string]struct {
		okLimit, badLimit *int32
		want              []string
	}{
		"defaults keep 5 of each": {want: []string{"bad-1", "bad-2", "bad-3", "bad-4", "bad-5", "ok-1", "ok-2", "ok-3", "ok-4", "ok-5",
			"other-ok", "recorded", "running"}},
		"limits of 1 and 0": {okLimit: ptr.To[int32](1), badLimit: ptr.To[int32](0),
			want: []string{"ok-1", "other-ok", "recorded", "running"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var objs []client.Object
			var owned []*v1alpha1.AnalysisRun
			for i := 1; i <= 6; i++ {
				owned = append(owned, mk(ro, fmt.Sprintf("ok-%d", i), i, v1alpha1.AnalysisPhaseSuccessful),
					mk(ro, fmt.Sprintf("bad-%d", i), i, []v1alpha1.AnalysisPhase{v1alpha1.AnalysisPhaseFailed,
						v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseInconclusive}[i%3]))
			}
			owned = append(owned, mk(ro, "running", 100, v1alpha1.AnalysisPhaseRunning), mk(ro, "recorded", 100, v1alpha1.AnalysisPhaseFailed))
			for _, r := range owned {
				objs = append(objs, r)
			}
			objs = append(objs, mk(other, "other-ok", 200, v1alpha1.AnalysisPhaseSuccessful))
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
			r := &Reconciler{Client: c}
			ro := ro.DeepCopy()
			ro.Spec.Analysis = &v1alpha1.AnalysisRunStrategy{SuccessfulRunHistoryLimit: tc.okLimit, UnsuccessfulRunHistoryLimit: tc.badLimit}
			ro.Status.Canary.CurrentBackgroundAnalysisRunStatus = &v1alpha1.RolloutAnalysisRunStatus{Name: "recorded"}
			rs := &runSet{}
			for _, run := range owned {
				rs.owned = append(rs.owned, run)
			}
			if err := r.pruneRuns(context.Background(), ro, rs); err != nil {
				t.Fatal(err)
			}
			var list v1alpha1.AnalysisRunList
			if err := c.List(context.Background(), &list); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, run := range list.Items {
				got = append(got, run.Name)
			}
			slices.Sort(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("runs left (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOwnRun: a run of the name a reconcile wants is carried on with when an earlier reconcile
// of the same try started it (running; recorded by the status read; or started from the
// status as read, whose write was lost), and gets a successor when it belongs to an earlier
// try (a retry, a restarted background analysis) or is someone else's.
func TestOwnRun(t *testing.T) {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns", UID: "uid-app"}}
	other := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns", UID: "uid-old"}}
	labels := map[string]string{v1alpha1.PodTemplateHashLabel: "h1", rolloutTypeLabel: runStep, stepIndexLabel: "2"}
	run := func(owner *v1alpha1.Rollout, phase v1alpha1.AnalysisPhase, startedFrom string, edit func(*v1alpha1.AnalysisRun)) *v1alpha1.AnalysisRun {
		r := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "app-h1-2-2", Namespace: "ns",
			Labels:          map[string]string{v1alpha1.PodTemplateHashLabel: "h1", rolloutTypeLabel: runStep, stepIndexLabel: "2"},
			Annotations:     map[string]string{startedFromAnnotation: startedFrom},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, v1alpha1.GroupVersion.WithKind("Rollout"))}},
			Status: v1alpha1.AnalysisRunStatus{Phase: phase}}
		if edit != nil {
			edit(r)
		}
		return r
	}
	step2 := v1alpha1.RolloutStatus{CurrentStepIndex: ptr.To[int32](2), CurrentPodHash: "h1"}
	recorded := *step2.DeepCopy()
	recorded.Canary.CurrentStepAnalysisRunStatus = &v1alpha1.RolloutAnalysisRunStatus{Name: "app-h1-2-2"}
	thisRead, earlier := statusDigest(&step2), statusDigest(&v1alpha1.RolloutStatus{CurrentStepIndex: ptr.To[int32](2)})
	terminate := func(r *v1alpha1.AnalysisRun) { r.Spec.Terminate = true }
	otherStep := func(r *v1alpha1.AnalysisRun) { r.Labels[stepIndexLabel] = "1" }
	tests := map[string]struct {
		existing *v1alpha1.AnalysisRun
		read     v1alpha1.RolloutStatus
		restart  bool
		want     bool
	}{
		"running, started from an earlier read":         {existing: run(ro, v1alpha1.AnalysisPhaseRunning, earlier, nil), read: step2, want: true},
		"finished, started from this read (lost write)": {existing: run(ro, v1alpha1.AnalysisPhaseSuccessful, thisRead, nil), read: step2, want: true},
		"failed, started from this read (lost write)":   {existing: run(ro, v1alpha1.AnalysisPhaseFailed, thisRead, nil), read: step2, want: true},
		"finished, recorded by the status read":         {existing: run(ro, v1alpha1.AnalysisPhaseSuccessful, earlier, nil), read: recorded, want: true},
		"finished in an earlier try (a retry)":          {existing: run(ro, v1alpha1.AnalysisPhaseFailed, earlier, nil), read: step2},
		"finished, before Vane marked runs":             {existing: run(ro, v1alpha1.AnalysisPhaseSuccessful, "", nil), read: step2},
		"recorded, inconclusive, restarted":             {existing: run(ro, v1alpha1.AnalysisPhaseInconclusive, earlier, nil), read: recorded, restart: true},
		"restarted, the successor from this read":       {existing: run(ro, v1alpha1.AnalysisPhaseSuccessful, thisRead, nil), read: step2, restart: true, want: true},
		"terminated":                           {existing: run(ro, v1alpha1.AnalysisPhaseRunning, thisRead, terminate), read: step2},
		"another step's":                       {existing: run(ro, v1alpha1.AnalysisPhaseRunning, thisRead, otherStep), read: step2},
		"a deleted Rollout's of the same name": {existing: run(other, v1alpha1.AnalysisPhaseRunning, thisRead, nil), read: step2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := &syncState{ro: ro, origStatus: tc.read}
			w := wantedRun{kind: runStep, step: 2, restart: tc.restart}
			if got := ownRun(tc.existing, s, w, labels); got != tc.want {
				t.Errorf("ownRun = %v, want %v", got, tc.want)
			}
		})
	}
}
