package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// target is the kind of object a phase acts on and waits for, n of them in one namespace.
type target struct {
	kind     string // Rollout or Deployment: whose ReplicaSet writes are its controller's reactions
	ns       string
	name     func(i int) string
	newList  func() client.ObjectList
	state    func(client.Object) string // a short state for progress lines
	describe func(client.Object) string // a line about an object that is not there
}

// phaseSpec is one phase: act on every object, then wait until done holds for each.
type phaseSpec struct {
	name    string
	t       *target
	act     func(ctx context.Context, name string) error
	done    func(client.Object) bool
	profile bool // take CPU and heap profiles of the controller (with -pprof)
}

// phase is what one phase measured.
type phase struct {
	name, kind         string
	issue              time.Duration // time the driver took to send its requests
	wall               time.Duration // from the first request to the last object in the wanted state
	doneAt             []time.Duration
	reaction           []time.Duration // spec change to the first ReplicaSet write, per object
	noReaction         int             // objects whose controller wrote no ReplicaSet
	api                apiCounts       // the controller's
	scrapeBase         scrape          // the controller's metrics (every process' samples together)
	scrapeEnd          scrape
	apiBase, apiEnd    scrape // the API server's
	cpu0, cpu1         cpuSnapshot
	mem                memory   // the controller's at the end (summed over its processes); hwm is the peak during the phase
	mems               []memory // each controller process'
	load0, load1       string
	podsMade, rsMade   int
	podsSpan, rsSpan   time.Duration
	profileErr         error
	scrapeTook         time.Duration // the last scrape of the controller's /metrics
	controllerObserved bool          // the controller is the target's (a Rollout phase)
}

// phase scrapes the controller and the API server, runs the phase and scrapes again.
func (b *bench) phase(ctx context.Context, ps phaseSpec) (*phase, error) {
	p := &phase{name: ps.name, kind: ps.t.kind, controllerObserved: ps.t.kind == "Rollout", load0: loadavg()}
	var err error
	if p.scrapeBase, err = b.ctrls.scrape(ctx); err != nil {
		return nil, fmt.Errorf("scraping the controller: %w", err)
	}
	if p.apiBase, err = b.apiserver.scrape(ctx); err != nil {
		return nil, err
	}
	b.ctrls.resetPeaks()
	p.cpu0 = takeCPU(b.procs)
	var cpuProfile <-chan error
	if ps.profile && b.prof != nil {
		cpuProfile = b.prof.cpu(ctx, ps.name)
	}
	b.logf("%s: sending %d requests", ps.name, b.cfg.n)
	start := time.Now()
	changed, err := b.forEach(ctx, ps.t, ps.act)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ps.name, err)
	}
	p.issue = time.Since(start)
	b.logf("%s: sent in %.1fs, waiting", ps.name, p.issue.Seconds())
	p.doneAt, err = b.waitAll(ctx, ps, start)
	p.wall, p.cpu1, p.load1 = time.Since(start), takeCPU(b.procs), loadavg()
	if err != nil {
		return nil, err
	}
	b.logf("%s: done in %.1fs", ps.name, p.wall.Seconds())
	p.reaction, p.noReaction = b.writes.reactions(changed, time.Now())
	return p, b.finish(ctx, p, ps, start, cpuProfile)
}

// finish takes a phase's closing measurements.
func (b *bench) finish(ctx context.Context, p *phase, ps phaseSpec, start time.Time, cpuProfile <-chan error) error {
	var err error
	if p.scrapeEnd, p.scrapeTook, err = b.scrapeSettled(ctx); err != nil {
		return fmt.Errorf("scraping the controller: %w", err)
	}
	if p.apiEnd, err = b.apiserver.scrape(ctx); err != nil {
		return err
	}
	p.api = countsBetween(p.scrapeBase, p.scrapeEnd)
	p.mems, p.mem, _ = b.ctrls.mem()
	p.podsMade, p.podsSpan = b.createdSince(ctx, &corev1.PodList{}, ps.t.ns, start)
	p.rsMade, p.rsSpan = b.createdSince(ctx, &appsv1.ReplicaSetList{}, ps.t.ns, start)
	if cpuProfile != nil {
		p.profileErr = <-cpuProfile
		if herr := b.prof.heap(ctx, ps.name); p.profileErr == nil {
			p.profileErr = herr
		}
	}
	return nil
}

// forEach runs f for every object of t, driverParallelism at a time, and returns when each
// request started (by owner key, for the reaction times) and the first error.
func (b *bench) forEach(ctx context.Context, t *target, f func(ctx context.Context, name string) error) (map[string]time.Time, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idx := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		once     sync.Once
		firstErr error
		started  = make(map[string]time.Time, b.cfg.n)
	)
	for range driverParallelism {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				name := t.name(i)
				mu.Lock()
				started[ownerKey(t.kind, t.ns, name)] = time.Now()
				mu.Unlock()
				if err := f(ctx, name); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := range b.cfg.n {
		select {
		case idx <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(idx)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return started, firstErr
}

// scrapeSettled scrapes the controller (every process) until its request count holds still for half a second
// (at most 10 s), so that the events it sends asynchronously after the last status change count
// in the phase that caused them.
// It also returns how long the last scrape took.
func (b *bench) scrapeSettled(ctx context.Context) (scrape, time.Duration, error) {
	t := time.Now()
	prev, err := b.ctrls.scrape(ctx)
	took := time.Since(t)
	for i := 0; err == nil && i < 20; i++ {
		time.Sleep(500 * time.Millisecond)
		t = time.Now()
		cur, cerr := b.ctrls.scrape(ctx)
		if cerr != nil {
			return nil, 0, cerr
		}
		took = time.Since(t)
		if cur.sum(mRequests, nil) == prev.sum(mRequests, nil) {
			return cur, took, nil
		}
		prev = cur
	}
	return prev, took, err
}

// createdSince counts the objects of list's kind created in ns since start and the time
// between the first and the last creation (creationTimestamp has one-second resolution).
func (b *bench) createdSince(ctx context.Context, list client.ObjectList, ns string, start time.Time) (int, time.Duration) {
	if err := b.c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return 0, 0
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return 0, 0
	}
	var times []time.Time
	for _, o := range items {
		if m, ok := o.(metav1.Object); ok && !m.GetCreationTimestamp().Time.Before(start.Truncate(time.Second)) {
			times = append(times, m.GetCreationTimestamp().Time)
		}
	}
	if len(times) == 0 {
		return 0, 0
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	return len(times), times[len(times)-1].Sub(times[0])
}

// waitAll watches the phase's objects until done holds for every one, printing progress, and
// returns when each first did (from start). On timeout it reports the objects still not there.
// Watching, rather than listing in a loop, keeps the driver's load on the API server negligible.
func (b *bench) waitAll(ctx context.Context, ps phaseSpec, start time.Time) ([]time.Duration, error) {
	w := &waiter{ps: ps, start: start, doneAt: map[string]time.Duration{}, latest: map[string]client.Object{}}
	progress := time.NewTicker(progressEvery)
	defer progress.Stop()
	for len(w.doneAt) < b.cfg.n {
		list := ps.t.newList()
		if err := b.c.List(ctx, list, client.InNamespace(ps.t.ns)); err != nil {
			if ctx.Err() != nil {
				return nil, w.failed(b.cfg.n, ctx.Err())
			}
			time.Sleep(time.Second)
			continue
		}
		items, _ := meta.ExtractList(list)
		for _, o := range items {
			w.observe(o.(client.Object))
		}
		watcher, err := b.c.Watch(ctx, ps.t.newList(), client.InNamespace(ps.t.ns),
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.(metav1.ListInterface).GetResourceVersion()}})
		if err != nil {
			watcher = nil // list again
		}
		if err := b.follow(ctx, w, watcher, progress.C); err != nil {
			return nil, err
		}
	}
	out := make([]time.Duration, 0, len(w.doneAt))
	for _, d := range w.doneAt {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// follow reads a watch until every object is done, the watch ends (nil: list again) or ctx does.
func (b *bench) follow(ctx context.Context, w *waiter, watcher watch.Interface, progress <-chan time.Time) error {
	defer func() {
		if watcher != nil {
			watcher.Stop()
		}
	}()
	for len(w.doneAt) < b.cfg.n {
		var ch <-chan watch.Event
		if watcher != nil {
			ch = watcher.ResultChan()
		}
		select {
		case ev, ok := <-ch:
			if !ok {
				return nil // the API server closed the watch: list again
			}
			if o, isObj := ev.Object.(client.Object); isObj && ev.Type != watch.Deleted && ev.Type != watch.Error {
				w.observe(o)
			}
		case <-progress:
			b.logf("%s: %d/%d done; not done by state: %s", w.ps.name, len(w.doneAt), b.cfg.n, w.states())
			if err := b.ctrls.exited(); err != nil {
				return fmt.Errorf("%s: %w", w.ps.name, err)
			}
			if watcher == nil {
				return nil
			}
		case <-ctx.Done():
			return w.failed(b.cfg.n, ctx.Err())
		}
	}
	return nil
}

// waiter is what waitAll knows of the phase's objects.
type waiter struct {
	ps     phaseSpec
	start  time.Time
	doneAt map[string]time.Duration
	latest map[string]client.Object
}

func (w *waiter) observe(o client.Object) {
	w.latest[o.GetName()] = o
	if _, ok := w.doneAt[o.GetName()]; !ok && w.ps.done(o) {
		w.doneAt[o.GetName()] = time.Since(w.start)
	}
}

// states counts the objects not done by state.
func (w *waiter) states() string {
	counts := map[string]int{}
	for name, o := range w.latest {
		if _, ok := w.doneAt[name]; !ok {
			counts[w.ps.t.state(o)]++
		}
	}
	var parts []string
	for k, v := range counts {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// failed describes up to 20 objects that never got there.
func (w *waiter) failed(n int, err error) error {
	var lines []string
	for name, o := range w.latest {
		if _, ok := w.doneAt[name]; !ok {
			lines = append(lines, "  "+w.ps.t.describe(o))
		}
	}
	sort.Strings(lines)
	stuck := len(lines)
	if stuck > 20 {
		lines = append(lines[:20], fmt.Sprintf("  ... and %d more", stuck-20))
	}
	return fmt.Errorf("%s: %d/%d objects there after %.0fs (%w)\n%d not there:\n%s", w.ps.name, len(w.doneAt), n,
		time.Since(w.start).Seconds(), err, stuck, strings.Join(lines, "\n"))
}
