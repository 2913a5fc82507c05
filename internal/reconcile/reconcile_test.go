package reconcile

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	ctrl "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
)

func statusOf(r *v1alpha1.AnalysisRun) any { return r.Status }

// fakeClient is a client of a fake API server that stores obj (with a status subresource).
func fakeClient(t *testing.T, obj client.Object) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(obj).WithStatusSubresource(obj).Build()
}

// TestEnd: the status is written once when it changed, events follow only a stored status, and
// conflicts become requeues.
func TestEnd(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "analysisruns"}, "run", errors.New("changed"))
	cases := map[string]struct {
		// stale makes the object in hand older than the stored one
		stale     bool
		phase     v1alpha1.AnalysisPhase
		reconcile error
		wantPhase v1alpha1.AnalysisPhase
		wantRes   ctrl.Result
		wantErr   bool
		wantEvent bool
	}{
		"changed status is written, then the event": {
			phase: v1alpha1.AnalysisPhaseRunning, wantPhase: v1alpha1.AnalysisPhaseRunning, wantEvent: true,
		},
		"unchanged status: no write, the event still goes out": {
			wantEvent: true,
		},
		"a stale object is a requeue, with no event": {
			stale: true, phase: v1alpha1.AnalysisPhaseRunning, wantRes: ctrl.Result{Requeue: true},
		},
		"a conflict returned by the reconcile is a requeue; nothing half-computed is written": {
			reconcile: conflict, phase: v1alpha1.AnalysisPhaseRunning, wantRes: ctrl.Result{Requeue: true},
		},
		"another error is kept; no status, no event": {
			reconcile: errors.New("boom"), phase: v1alpha1.AnalysisPhaseRunning, wantErr: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			stored := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "run", Namespace: "ns"}}
			c := fakeClient(t, stored)
			run := &v1alpha1.AnalysisRun{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(stored), run); err != nil {
				t.Fatal(err)
			}
			if tc.stale {
				fresh := run.DeepCopy()
				fresh.Labels = map[string]string{"someone": "else"}
				if err := c.Update(ctx, fresh); err != nil {
					t.Fatal(err)
				}
			}
			rec := record.NewFakeRecorder(10)
			s := Begin(run, statusOf)
			s.Obj.Status.Phase = tc.phase
			s.Events.Add(false, "Measured", "took %d measurements", 2)
			res, err := ctrl.Result{}, tc.reconcile
			s.End(ctx, c, rec, &res, &err)

			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, want error: %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.wantRes, res); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			got := &v1alpha1.AnalysisRun{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(stored), got); err != nil {
				t.Fatal(err)
			}
			if got.Status.Phase != tc.wantPhase {
				t.Errorf("stored phase %q, want %q", got.Status.Phase, tc.wantPhase)
			}
			if gotEvent := len(rec.Events) == 1; gotEvent != tc.wantEvent {
				t.Errorf("event emitted: %v, want %v", gotEvent, tc.wantEvent)
			}
		})
	}
}

// TestEventsHas finds a buffered reason.
func TestEventsHas(t *testing.T) {
	var e Events
	e.Add(true, "A", "x")
	if !e.Has("A") || e.Has("B") {
		t.Errorf("Has: %v", e)
	}
}

// TestStalled is a terminal error for controller-runtime (no backoff retries).
func TestStalled(t *testing.T) {
	err := Stalled(errors.New("bad spec"))
	if !errors.Is(err, ctrl.TerminalError(nil)) {
		t.Errorf("Stalled(...) = %v is not terminal", err)
	}
}
