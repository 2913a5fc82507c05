package shard

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// fast are Lease timings short enough for a test.
func fast(ns, id string) Options {
	return Options{Shards: 4, Namespace: ns, Identity: id,
		LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 200 * time.Millisecond}
}

// startRing runs a Ring until the returned stop is called (or the test ends).
func startRing(t *testing.T, env *testenv.Env, o Options) (*Ring, func()) {
	t.Helper()
	r, err := NewRing(env.Client, env.Client, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Start(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return r, stop
}

// holders reads which replica holds each shard Lease ("" for none or missing).
func holders(t *testing.T, env *testenv.Env, ns string, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range n {
		var l coordinationv1.Lease
		err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: LeaseName("vane-shard", i, n)}, &l)
		if err == nil {
			out[i] = ptr.Deref(l.Spec.HolderIdentity, "")
		}
	}
	return out
}

// waitFor polls cond every 100 ms for up to limit.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRingShares: one replica takes every shard; a second one joining gets half of them
// (given back by the first, never held by both: the Leases agree with Held at every poll);
// the first one stopping hands its shards over at once (well before its Leases would expire).
func TestRingShares(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	a, stopA := startRing(t, env, fast(ns, "replica-a"))
	waitFor(t, "a holds all 4", 10*time.Second, func() bool { return len(a.Held()) == 4 })
	if diff := cmp.Diff([]string{"replica-a", "replica-a", "replica-a", "replica-a"}, holders(t, env, ns, 4)); diff != "" {
		t.Fatalf("Leases (-want +got):\n%s", diff)
	}

	b, _ := startRing(t, env, fast(ns, "replica-b"))
	waitFor(t, "a and b hold 2 each", 15*time.Second, func() bool {
		ha, hb := a.Held(), b.Held()
		for _, i := range ha {
			if slices.Contains(hb, i) {
				t.Fatalf("shard %d held by both replicas: a %v, b %v", i, ha, hb)
			}
		}
		return len(ha) == 2 && len(hb) == 2
	})
	got := holders(t, env, ns, 4)
	for _, i := range a.Held() {
		if got[i] != "replica-a" {
			t.Errorf("shard %d: a holds it, its Lease names %q", i, got[i])
		}
	}
	owned := 0
	for k := range 100 {
		name := fmt.Sprintf("app-%03d", k)
		if a.Owns(ns, name) == b.Owns(ns, name) {
			t.Errorf("%s/%s: owned by a %v, by b %v: exactly one must own it", ns, name, a.Owns(ns, name), b.Owns(ns, name))
		}
		if a.Owns(ns, name) {
			owned++
		}
	}
	t.Logf("a owns %d of 100 names, b %d", owned, 100-owned)

	stopped := time.Now()
	stopA()
	waitFor(t, "b holds all 4 after a stopped", 5*time.Second, func() bool { return len(b.Held()) == 4 })
	if took := time.Since(stopped); took >= 3*time.Second {
		t.Errorf("b took a's shards %s after a stopped: given back, they should not wait for the Leases to expire (3s)", took)
	}
	var members coordinationv1.LeaseList
	if err := env.Client.List(context.Background(), &members, client.InNamespace(ns), client.MatchingLabels{RingLabel: "vane-shard"}); err != nil {
		t.Fatal(err)
	}
	if len(members.Items) != 1 || ptr.Deref(members.Items[0].Spec.HolderIdentity, "") != "replica-b" {
		t.Errorf("member Leases after a stopped: %d, want only b's", len(members.Items))
	}
}

// TestRingWaitsForExpiry: shards held by a replica that vanished without giving them back
// (its Leases left as they were) are taken only once they expire, and then all of them.
func TestRingWaitsForExpiry(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	now := time.Now()
	for _, name := range []string{LeaseName("vane-shard", 0, 4), LeaseName("vane-shard", 1, 4), "vane-member-ghost"} {
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("ghost"), LeaseDurationSeconds: ptr.To[int32](3),
				RenewTime: &metav1.MicroTime{Time: now}}}
		if name == "vane-member-ghost" {
			l.Labels = map[string]string{RingLabel: "vane-shard"}
		}
		if err := env.Client.Create(context.Background(), l); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := startRing(t, env, fast(ns, "replica-b"))
	waitFor(t, "b holds its half", 5*time.Second, func() bool { return len(b.Held()) >= 2 })
	for time.Since(now) < 2500*time.Millisecond {
		if h := b.Held(); slices.Contains(h, 0) || slices.Contains(h, 1) {
			t.Fatalf("b holds %v %s after the ghost's last renewal, before its Leases (3s) expired", h, time.Since(now))
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitFor(t, "b holds all 4 once the ghost's Leases expired", 5*time.Second, func() bool { return len(b.Held()) == 4 })
	if took := time.Since(now); took < 3*time.Second {
		t.Errorf("b held every shard %s after the ghost's renewal, before its 3s expiry", took)
	}
}

// TestRingWrapAndSource: the wrapped reconciler runs only for the objects of held shards; a
// shard is given back only once its reconciles in flight are done; taking a shard enqueues
// its objects through the sources.
func TestRingWrapAndSource(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	for k := range 12 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("cm-%02d", k)}}
		if err := env.Client.Create(context.Background(), cm); err != nil {
			t.Fatal(err)
		}
	}
	o := fast(ns, "replica-a")
	r, err := NewRing(env.Client, env.Client, o)
	if err != nil {
		t.Fatal(err)
	}
	r.Source(func() client.ObjectList { return &corev1.ConfigMapList{} })
	ch := r.sources[0].ch
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if !r.take(ctx, 1) {
		t.Fatal("shard 1 not taken")
	}
	var want, got []string
	for k := range 12 {
		if name := fmt.Sprintf("cm-%02d", k); Of(ns, name, 4) == 1 {
			want = append(want, name)
		}
	}
	for len(got) < len(want) {
		select {
		case e := <-ch:
			if e.Object.GetNamespace() == ns {
				got = append(got, e.Object.GetName())
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("enqueued %v of %v", got, want)
		}
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("enqueued (-want +got):\n%s", diff)
	}
	checkWrap(t, r, ns, want[0], drainOthers(ch))
}

// drainOthers empties ch in the background (the cluster's other ConfigMaps of shard 1).
func drainOthers(ch chan event.GenericEvent) func() {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}

// checkWrap: a request of shard 1 (held) runs, one of another shard does not; a release of
// shard 1 waits for the reconcile in flight.
func checkWrap(t *testing.T, r *Ring, ns, held string, stopDrain func()) {
	defer stopDrain()
	var other string
	for k := 0; other == ""; k++ {
		if name := fmt.Sprintf("x-%d", k); Of(ns, name, 4) != 1 {
			other = name
		}
	}
	started, finish := make(chan string, 2), make(chan struct{})
	inner := reconcile.Func(func(_ context.Context, req reconcile.Request) (reconcile.Result, error) {
		started <- req.Name
		<-finish
		return reconcile.Result{}, nil
	})
	w := r.Wrap("test", inner)
	if _, err := w.Reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: other}}); err != nil {
		t.Fatal(err)
	}
	select {
	case name := <-started:
		t.Fatalf("%s (another shard) was reconciled", name)
	default:
	}
	go func() {
		_, _ = w.Reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: held}})
	}()
	if name := <-started; name != held {
		t.Fatalf("reconciled %s, want %s", name, held)
	}
	released := make(chan struct{})
	go func() { r.release(context.Background(), 1, "test"); close(released) }()
	time.Sleep(300 * time.Millisecond)
	select {
	case <-released:
		t.Fatal("shard 1 given back while its reconcile was in flight")
	default:
	}
	if r.Owns(ns, held) {
		t.Error("shard 1 still owned while being given back")
	}
	close(finish)
	select {
	case <-released:
	case <-time.After(3 * time.Second):
		t.Fatal("shard 1 not given back after its reconcile ended")
	}
	if h := holders(t, testenv.Get(t), ns, 4)[1]; h != "" {
		t.Errorf("shard 1's Lease names %q after it was given back, want no holder", h)
	}
}
