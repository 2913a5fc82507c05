package reconcile

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrl "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
)

// testReconciler is a reconciler as Vane's are made: it embeds Settings.
type testReconciler struct {
	Settings
	name string
}

func withName(n string) Option[*testReconciler] { return func(r *testReconciler) { r.name = n } }

// TestConfigure: the real clock unless an option sets another; the kit's options and the
// reconciler's own apply in order.
func TestConfigure(t *testing.T) {
	// what a configured reconciler says: its clock's type, its instance, its own setting
	type view struct{ Clock, InstanceID, Name string }
	fakeClock := clocktesting.NewFakePassiveClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	tests := map[string]struct {
		opts []Option[*testReconciler]
		want view
	}{
		"defaults": {want: view{Clock: "clock.RealClock"}},
		"all options": {opts: []Option[*testReconciler]{WithClock[*testReconciler](fakeClock), WithInstanceID[*testReconciler]("a"), withName("x")},
			want: view{Clock: "*testing.FakePassiveClock", InstanceID: "a", Name: "x"}},
		"the last one wins": {opts: []Option[*testReconciler]{WithInstanceID[*testReconciler]("a"), WithInstanceID[*testReconciler]("b")},
			want: view{Clock: "clock.RealClock", InstanceID: "b"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := Configure(&testReconciler{}, tc.opts...)
			got := view{Clock: fmt.Sprintf("%T", r.Clock), InstanceID: r.InstanceID, Name: r.name}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestRun: a reconcile of an object that is gone, being deleted or another instance's does
// nothing; else sync works in a session whose status is written, then its events emitted.
func TestRun(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	tests := map[string]struct {
		name       string
		labels     map[string]string
		deleting   bool
		wantSync   bool
		wantPhase  v1alpha1.AnalysisPhase
		wantEvents int
	}{
		"synced, status written, event emitted": {name: "run", wantSync: true, wantPhase: v1alpha1.AnalysisPhaseRunning, wantEvents: 1},
		"gone":                                  {name: "other"},
		"being deleted":                         {name: "run", deleting: true},
		"another instance's":                    {name: "run", labels: map[string]string{v1alpha1.InstanceIDLabel: "b"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			stored := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "run", Namespace: "ns", Labels: tc.labels}}
			if tc.deleting {
				stored.DeletionTimestamp, stored.Finalizers = &now, []string{"keep"}
			}
			c := fakeClient(t, stored)
			rec := record.NewFakeRecorder(10)
			synced := false
			sync := func(_ context.Context, s *Session[*v1alpha1.AnalysisRun]) (ctrl.Result, error) {
				synced = true
				s.Obj.Status.Phase = v1alpha1.AnalysisPhaseRunning
				s.Events.Add(false, "Measured", "took %d measurements", 2)
				return ctrl.Result{RequeueAfter: time.Minute}, nil
			}
			req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: tc.name}}
			res, err := Run(ctx, c, rec, &Settings{}, req, &v1alpha1.AnalysisRun{}, statusOf, sync)
			if err != nil {
				t.Fatal(err)
			}
			if synced != tc.wantSync {
				t.Errorf("synced: %v, want %v", synced, tc.wantSync)
			}
			if tc.wantSync && res.RequeueAfter != time.Minute {
				t.Errorf("result %+v, want sync's", res)
			}
			got := &v1alpha1.AnalysisRun{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(stored), got); err != nil {
				t.Fatal(err)
			}
			if got.Status.Phase != tc.wantPhase || len(rec.Events) != tc.wantEvents {
				t.Errorf("stored phase %q and %d events, want %q and %d", got.Status.Phase, len(rec.Events), tc.wantPhase, tc.wantEvents)
			}
		})
	}
}

// staleReader serves the copy of an object it was given, as a cache that has not seen the
// latest write would.
type staleReader struct {
	client.Client
	old *v1alpha1.AnalysisRun
}

func (r staleReader) Get(_ context.Context, _ client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	r.old.DeepCopyInto(obj.(*v1alpha1.AnalysisRun))
	return nil
}

// TestRunSkipsStaleCopy: after a reconcile wrote the status, a copy older than that write is
// not reconciled (it would lose its write to a conflict); the current one is.
func TestRunSkipsStaleCopy(t *testing.T) {
	ctx := context.Background()
	stored := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "run", Namespace: "ns", UID: "u1"}}
	c := fakeClient(t, stored)
	before := &v1alpha1.AnalysisRun{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(stored), before); err != nil {
		t.Fatal(err)
	}
	set := &Settings{}
	syncs := 0
	sync := func(_ context.Context, s *Session[*v1alpha1.AnalysisRun]) (ctrl.Result, error) {
		syncs++
		s.Obj.Status.Message = fmt.Sprintf("reconcile %d", syncs)
		return ctrl.Result{}, nil
	}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "run"}}
	run := func(c client.Client) ctrl.Result {
		res, err := Run(ctx, c, record.NewFakeRecorder(10), set, req, &v1alpha1.AnalysisRun{}, statusOf, sync)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	run(c)
	if res := run(staleReader{c, before}); syncs != 1 || res.RequeueAfter != staleRecheck {
		t.Errorf("the copy the write replaced: %d reconciles, result %+v; want 1 and a recheck in %s", syncs, res, staleRecheck)
	}
	run(c)
	if syncs != 2 {
		t.Errorf("the current copy: %d reconciles, want 2", syncs)
	}
	if set.Writes.Stale(before) {
		t.Error("a cache that caught up still makes the old copy stale")
	}
}

// TestWrapAndOwner: of several WithWrap, the later wraps the earlier (the shards outside the
// metrics); Mine is every object without WithOwner, else what its function says.
func TestWrapAndOwner(t *testing.T) {
	var calls []string
	wrap := func(tag string) func(string, ctrl.Reconciler) ctrl.Reconciler {
		return func(name string, inner ctrl.Reconciler) ctrl.Reconciler {
			return ctrl.Func(func(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
				calls = append(calls, tag+" "+name)
				return inner.Reconcile(ctx, req)
			})
		}
	}
	tests := map[string]struct {
		opts      []Option[*testReconciler]
		wantCalls []string
		wantMine  bool
	}{
		"no options": {wantMine: true},
		"two wraps, the later outside": {opts: []Option[*testReconciler]{WithWrap[*testReconciler](wrap("metrics")), WithWrap[*testReconciler](wrap("shards"))},
			wantCalls: []string{"shards rollout", "metrics rollout", "inner"}, wantMine: true},
		"an owner that refuses": {opts: []Option[*testReconciler]{WithOwner[*testReconciler](func(ns, name string) bool { return name != "app" })}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			calls = nil
			r := Configure(&testReconciler{}, tc.opts...)
			var rec ctrl.Reconciler = ctrl.Func(func(context.Context, ctrl.Request) (ctrl.Result, error) {
				calls = append(calls, "inner")
				return ctrl.Result{}, nil
			})
			if r.Wrap != nil {
				rec = r.Wrap("rollout", rec)
				if _, err := rec.Reconcile(context.Background(), ctrl.Request{}); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tc.wantCalls, calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if got := r.Mine("ns", "app"); got != tc.wantMine {
				t.Errorf("Mine(ns, app) = %v, want %v", got, tc.wantMine)
			}
		})
	}
}
