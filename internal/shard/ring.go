package shard

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// Timing of the Leases, as controller-runtime's leader election: a holder renews every
// RetryPeriod, stops acting RenewDeadline after its last successful renewal, and the others may
// take the Lease LeaseDuration after it, so that no two replicas act on a shard at once.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// Options configure a Ring.
type Options struct {
	// Shards is the number of shards (at least 1). Every replica must be given the same.
	Shards int
	// Namespace holds the Leases.
	Namespace string
	// InstanceID tells the Leases of controller instances apart (Argo's --instance-id).
	InstanceID string
	// Identity names this replica in the Leases (default: hostname_<uuid>).
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod default to the Default constants.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Clock is the time source (default: the real clock).
	Clock clock.Clock
}

// Ring is one replica's part in the sharding: the shards it holds, the reconciles in flight on
// each, and the sources through which it enqueues the objects of a shard it takes. It is a
// manager Runnable that runs on every replica (no leader election).
type Ring struct {
	opts   Options
	client client.Client // the Leases, read from the API server (no informer)
	reader client.Reader // the objects of a shard taken over (the manager's cache)

	mu       sync.Mutex
	held     map[int]*hold
	inflight map[int]int
	sources  []*channelSource
}

// hold is a shard this replica holds.
type hold struct {
	lease     *leaseState
	renewed   time.Time // the last successful write of the Lease
	releasing bool      // being given back: no new reconcile starts
	since     time.Time // when it began to be given back
	why       string    // why it is given back
}

// NewRing returns a Ring writing Leases with c and listing the objects of a taken shard with
// reader.
func NewRing(c client.Client, reader client.Reader, o Options) (*Ring, error) {
	if o.Shards < 1 {
		return nil, fmt.Errorf("--shards: %d is not a number of shards (at least 1)", o.Shards)
	}
	if o.Namespace == "" {
		return nil, fmt.Errorf("the shards' Leases need a namespace")
	}
	if o.Identity == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("naming this replica: %w", err)
		}
		o.Identity = host + "_" + string(uuid.NewUUID())
	}
	o.LeaseDuration = orDefault(o.LeaseDuration, DefaultLeaseDuration)
	o.RenewDeadline = orDefault(o.RenewDeadline, DefaultRenewDeadline)
	o.RetryPeriod = orDefault(o.RetryPeriod, DefaultRetryPeriod)
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return &Ring{opts: o, client: c, reader: reader, held: map[int]*hold{}, inflight: map[int]int{}}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Held lists the shards this replica holds and may act on, in order.
func (r *Ring) Held() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Clock.Now()
	var out []int
	for i, h := range r.held {
		if r.active(h, now) {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

// Owns reports whether this replica may act on the object namespace/name now.
func (r *Ring) Owns(namespace, name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active(r.held[Of(namespace, name, r.opts.Shards)], r.opts.Clock.Now())
}

// active: held, not being given back, and renewed within the renew deadline (a replica that
// cannot renew stops acting before another may take the Lease).
func (r *Ring) active(h *hold, now time.Time) bool {
	return h != nil && !h.releasing && now.Sub(h.renewed) < r.opts.RenewDeadline
}

// NeedLeaderElection is false: every replica runs its Ring.
func (r *Ring) NeedLeaderElection() bool { return false }

// Start keeps this replica's member Lease and its fair share of the shards until ctx ends,
// then gives back what it holds (so that the others take it at once rather than after the
// Leases expire).
func (r *Ring) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("shards").WithValues("identity", r.opts.Identity, "shards", r.opts.Shards)
	ctx = logf.IntoContext(ctx, log)
	log.Info("taking a share of the shards")
	// the first round only announces this replica, so that replicas started together see
	// each other before they take shards
	if _, err := r.announce(ctx); err != nil {
		log.Error(err, "announcing this replica")
	}
	for {
		select {
		case <-ctx.Done():
			stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.RenewDeadline)
			defer cancel()
			r.stop(stop)
			return nil
		case <-r.opts.Clock.After(wait.Jitter(r.opts.RetryPeriod, 0.2)):
		}
		r.step(ctx)
	}
}

// step renews what this replica holds, then gives back or takes shards to reach its quota.
func (r *Ring) step(ctx context.Context) {
	log := logf.FromContext(ctx)
	members, err := r.announce(ctx)
	if err != nil {
		log.Error(err, "announcing this replica")
	}
	r.renew(ctx)
	if err != nil {
		return
	}
	quota := Quota(r.opts.Shards, r.opts.Identity, members)
	held := r.Held()
	switch {
	case len(held) > quota:
		for _, i := range held[quota:] {
			r.giveBack(i, fmt.Sprintf("%d replicas: this one's share is %d", len(members), quota))
		}
	case len(held) < quota:
		r.acquire(ctx, quota-len(held))
	}
	r.finishGivingBack(ctx)
}

// acquire tries to take want more shards, starting from a place of its own in the ring (so
// that replicas starting together do not all contend for the same ones).
func (r *Ring) acquire(ctx context.Context, want int) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(r.opts.Identity))
	start := int(h.Sum32() % uint32(r.opts.Shards))
	for k := 0; k < r.opts.Shards && want > 0; k++ {
		i := (start + k) % r.opts.Shards
		r.mu.Lock()
		_, mine := r.held[i]
		r.mu.Unlock()
		if mine {
			continue
		}
		if r.take(ctx, i) {
			want--
		}
	}
}

// take tries to take shard i: free, expired or already this replica's. On success the
// shard's objects are enqueued.
func (r *Ring) take(ctx context.Context, i int) bool {
	now := r.opts.Clock.Now()
	l, err := r.takeLease(ctx, i, now)
	if err != nil {
		logf.FromContext(ctx).V(1).Info("shard not taken", "shard", i, "reason", err.Error())
		return false
	}
	r.mu.Lock()
	r.held[i] = &hold{lease: l, renewed: now}
	r.mu.Unlock()
	logf.FromContext(ctx).Info("took shard", "shard", i, "lease", l.Name)
	r.enqueue(ctx, i)
	return true
}

// renew writes the Lease of every shard held. A shard whose Lease another replica took, or
// that could not be renewed within the renew deadline, is dropped.
func (r *Ring) renew(ctx context.Context) {
	r.mu.Lock()
	held := make(map[int]*hold, len(r.held))
	for i, h := range r.held {
		if !h.releasing {
			held[i] = h
		}
	}
	r.mu.Unlock()
	for i, h := range held {
		now := r.opts.Clock.Now()
		l, lost, err := r.renewLease(ctx, h.lease, now)
		r.mu.Lock()
		switch {
		case err == nil:
			h.lease, h.renewed = l, now
		case lost || now.Sub(h.renewed) >= r.opts.RenewDeadline:
			delete(r.held, i)
			logf.FromContext(ctx).Error(err, "lost shard", "shard", i)
		default:
			logf.FromContext(ctx).Error(err, "renewing shard (retried)", "shard", i)
		}
		r.mu.Unlock()
	}
}

// giveBack starts to give shard i back: no new reconcile of its objects starts from now on
// (finishGivingBack writes the Lease once the ones in flight are done).
func (r *Ring) giveBack(i int, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.held[i]; h != nil && !h.releasing {
		h.releasing, h.since, h.why = true, r.opts.Clock.Now(), why
	}
}

// finishGivingBack leaves the Lease of every shard being given back without a holder once its
// reconciles in flight are done, or once the renew deadline passed since it began (a
// reconcile still running then is no longer waited for), and forgets the shard.
func (r *Ring) finishGivingBack(ctx context.Context) {
	now := r.opts.Clock.Now()
	r.mu.Lock()
	var done []int
	for i, h := range r.held {
		if h.releasing && (r.inflight[i] == 0 || now.Sub(h.since) >= r.opts.RenewDeadline) {
			done = append(done, i)
		}
	}
	r.mu.Unlock()
	for _, i := range done {
		r.mu.Lock()
		h := r.held[i]
		r.mu.Unlock()
		if err := r.releaseLease(ctx, h.lease); err != nil {
			logf.FromContext(ctx).Error(err, "giving back shard (it will expire)", "shard", i)
		}
		r.mu.Lock()
		delete(r.held, i)
		r.mu.Unlock()
		logf.FromContext(ctx).Info("gave back shard", "shard", i, "why", h.why)
	}
}

// release gives shard i back and returns once it is given back (or ctx ended).
func (r *Ring) release(ctx context.Context, i int, why string) {
	r.giveBack(i, why)
	for {
		r.finishGivingBack(ctx)
		r.mu.Lock()
		_, still := r.held[i]
		r.mu.Unlock()
		if !still || ctx.Err() != nil {
			return
		}
		r.opts.Clock.Sleep(20 * time.Millisecond)
	}
}

// stop gives back every shard and removes the member Lease.
func (r *Ring) stop(ctx context.Context) {
	r.mu.Lock()
	all := slices.Collect(maps.Keys(r.held))
	r.mu.Unlock()
	for _, i := range all {
		r.giveBack(i, "stopping")
	}
	for r.holding() && ctx.Err() == nil {
		r.finishGivingBack(ctx)
		r.opts.Clock.Sleep(20 * time.Millisecond)
	}
	if err := r.leave(ctx); err != nil {
		logf.FromContext(ctx).Error(err, "removing this replica's member Lease (it will expire)")
	}
}

// holding reports whether this replica still holds (or is giving back) a shard.
func (r *Ring) holding() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.held) > 0
}

// begin counts a reconcile of namespace/name in flight if this replica may act on it.
func (r *Ring) begin(namespace, name string) (int, bool) {
	i := Of(namespace, name, r.opts.Shards)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.active(r.held[i], r.opts.Clock.Now()) {
		return i, false
	}
	r.inflight[i]++
	return i, true
}

func (r *Ring) end(i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight[i]--
}

// enqueue sends the objects of shard i to every source, in the background (a source's
// controller may not have started yet).
func (r *Ring) enqueue(ctx context.Context, i int) {
	r.mu.Lock()
	sources := slices.Clone(r.sources)
	r.mu.Unlock()
	for _, s := range sources {
		go func() {
			objs, err := s.objects(ctx, r.reader, func(o client.Object) bool {
				return Of(o.GetNamespace(), o.GetName(), r.opts.Shards) == i
			})
			if err != nil {
				logf.FromContext(ctx).Error(err, "listing the objects of a shard taken over", "shard", i)
				return
			}
			for _, o := range objs {
				select {
				case s.ch <- event.GenericEvent{Object: o}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
}
