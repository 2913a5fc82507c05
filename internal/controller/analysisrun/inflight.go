package analysisrun

import (
	"context"
	"sync"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
)

// A reconcile waits measureBudget for the measurements it starts. One still running then goes
// on in the background, the reconcile returns, and a later one records it: a provider that
// answers slowly (a web metric's endpoint taking its whole timeoutSeconds, a query that takes
// minutes) holds an AnalysisRun worker for measureBudget, not for its whole duration, so that
// a few slow runs cannot starve every other run of the workers.
const (
	measureBudget = time.Second
	// inFlightPoll is how soon a run with a measurement in the background is looked at again.
	inFlightPoll = time.Second
	// forgetAfter is how long the result of a measurement nobody collected is kept (its run
	// was terminated, deleted, or is served by another replica now).
	forgetAfter = 10 * time.Minute
)

// flight is a measurement running in the background of the reconciles.
type flight struct {
	done     chan struct{} // closed when Measure returned
	started  time.Time
	finished time.Time
	res      provider.Result
	err      error
}

// flights are the measurements in progress, by run (uid, namespace, name) and metric. Only
// one reconcile of a run runs at a time, so a run's flights are started and collected by one
// goroutine at a time.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

var inFlight = &flights{m: map[string]*flight{}}

func flightKey(run *v1alpha1.AnalysisRun, metric string) string {
	return string(run.UID) + "/" + run.Namespace + "/" + run.Name + "/" + metric
}

// start returns the metric's measurement in progress, or starts one with measure (at now).
// The measurement outlives ctx's cancellation: it is bounded by the provider's own timeout.
func (f *flights) start(ctx context.Context, key string, now time.Time, measure func(context.Context) (provider.Result, error), clock func() time.Time) *flight {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.m[key]; ok {
		return fl
	}
	f.forget(now)
	fl := &flight{done: make(chan struct{}), started: now}
	f.m[key] = fl
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer close(fl.done)
		fl.res, fl.err = measure(ctx)
		fl.finished = clock()
	}()
	return fl
}

// wait waits for fl until budget is closed, and reports whether fl has finished.
func (fl *flight) wait(budget <-chan struct{}) bool {
	select {
	case <-fl.done:
		return true
	default:
	}
	select {
	case <-fl.done:
		return true
	case <-budget:
		return false
	}
}

// collect forgets the finished measurement of key.
func (f *flights) collect(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, key)
}

// running reports whether key has a measurement in progress.
func (f *flights) running(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.m[key]
	if !ok {
		return false
	}
	select {
	case <-fl.done:
		return false
	default:
		return true
	}
}

// forget drops the results nobody collected within forgetAfter (f.mu is held).
func (f *flights) forget(now time.Time) {
	for k, fl := range f.m {
		select {
		case <-fl.done:
			if now.Sub(fl.finished) > forgetAfter {
				delete(f.m, k)
			}
		default:
		}
	}
}
