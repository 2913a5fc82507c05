package analysisrun

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
)

// slowProvider answers "ok" once released, counting its calls.
type slowProvider struct {
	release chan struct{}
	calls   atomic.Int32
}

func (p *slowProvider) Measure(ctx context.Context, _ *v1alpha1.AnalysisRun, _ *v1alpha1.Metric) (provider.Result, error) {
	p.calls.Add(1)
	select {
	case <-p.release:
	case <-ctx.Done():
		return provider.Result{}, ctx.Err()
	}
	return provider.Result{Value: "ok", Display: "ok"}, nil
}

// TestSlowMeasurementInBackground: a reconcile waits for a measurement measureBudget at most;
// one that takes longer is recorded by a later reconcile, measured once, while the reconciles
// in between return at once and look again after inFlightPoll.
func TestSlowMeasurementInBackground(t *testing.T) {
	type outcome struct {
		Measurements int   // recorded after the reconcile
		Calls        int32 // calls to the provider so far
		Phase        v1alpha1.AnalysisPhase
		Requeue      time.Duration
	}
	for name, tc := range map[string]struct {
		answerAfter time.Duration // when the provider is released, from the first reconcile
		want        []outcome     // after each reconcile: the first, another before the answer, one after
	}{
		"answer within the budget": {answerAfter: 0, want: []outcome{
			{Measurements: 1, Calls: 1, Phase: v1alpha1.AnalysisPhaseSuccessful},
		}},
		"answer after the budget": {answerAfter: 3 * measureBudget, want: []outcome{
			{Measurements: 0, Calls: 1, Phase: v1alpha1.AnalysisPhaseRunning, Requeue: inFlightPoll + 10*time.Millisecond},
			{Measurements: 0, Calls: 1, Phase: v1alpha1.AnalysisPhaseRunning, Requeue: inFlightPoll + 10*time.Millisecond},
			{Measurements: 1, Calls: 1, Phase: v1alpha1.AnalysisPhaseSuccessful},
		}},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, hostArg(webRun(webcheck())))
			p := &slowProvider{release: make(chan struct{})}
			f.r.Providers["web"] = p
			time.AfterFunc(tc.answerAfter, func() { close(p.release) })
			var got []outcome
			for i := range tc.want {
				if i == len(tc.want)-1 && tc.answerAfter > 0 {
					<-p.release
					time.Sleep(50 * time.Millisecond) // the flight records its answer
				}
				began := time.Now()
				res := f.reconcile()
				if took := time.Since(began); took > measureBudget+time.Second {
					t.Errorf("reconcile %d took %s, more than the budget %s", i+1, took, measureBudget)
				}
				run := f.get()
				mr := run.Status.MetricResults[0]
				got = append(got, outcome{Measurements: len(mr.Measurements), Calls: p.calls.Load(), Phase: run.Status.Phase, Requeue: res.RequeueAfter})
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("reconciles (-want +got):\n%s", d)
			}
		})
	}
}
