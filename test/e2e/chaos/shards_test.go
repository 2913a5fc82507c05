package chaos

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vanedev/vane/internal/shard"
)

var shardRolloutsFlag = flag.Int("shard-rollouts", 12, "rollouts updated while shard replicas join and die (make chaos: 40)")

// shards is the number of shards of TestShardsRebalanced.
const shards = 4

// TestShardsRebalanced: replicas of the controller with --shards 4 carry a fleet of rollouts
// through their updates while replicas join and die. a alone holds every shard; b joins and
// takes half of them (a gives them back); a is SIGKILLed and b takes a's shards once their
// Leases expire (within takeoverBound); a comes back and takes half again. Every rollout must
// end in its right state with no duplicate, and the audit log must show no write to a Rollout
// or a ReplicaSet by a replica that did not hold the Lease of its shard at that moment.
func TestShardsRebalanced(t *testing.T) {
	t.Parallel()
	requireCluster(t)
	env, ns, web, rcv, rec, f := newFleetTest(t, "shard", *shardRolloutsFlag)
	flags := []string{"--shards", fmt.Sprint(shards), "--leader-election-namespace", ns}
	a := newController(t, env, ns, "chaos-shard-a", flags...)
	ua, ub := replicaUser("chaos-shard-a"), replicaUser("chaos-shard-b")
	waitShards(t, ns, map[string]int{ua: 4}, time.Time{}, 30*time.Second)
	f.setUp(t, env, web)
	newController(t, env, ns, "chaos-shard-b", flags...)
	waitShards(t, ns, map[string]int{ua: 2, ub: 2}, time.Time{}, 30*time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done, updated := make(chan struct{}), make(chan error, 1)
	go func() { updated <- f.update(ctx, env, 4*time.Second) }()
	go f.drive(ctx, env, done)
	time.Sleep(6 * time.Second)
	killed := a.kill()
	took := waitShards(t, ns, map[string]int{ub: 4}, killed, takeoverBound+15*time.Second)
	if took > takeoverBound {
		t.Errorf("b held a's shards %s after a was killed, more than %s (the Leases' %s and b's retries)", took, takeoverBound, leaseDuration)
	}
	a.start()
	waitShards(t, ns, map[string]int{ua: 2, ub: 2}, time.Now(), 30*time.Second)
	if err := <-updated; err != nil {
		t.Fatal(err)
	}
	waitAll(t, env, ns, f.verdicts(), fleetTimeout(len(f.kinds)))
	waitQuiet(t, env, ns, 3*time.Second, 30*time.Second)
	r := check(t, env, ns, rec, rcv, f)

	s := shardWriters(readAudit(t, ns, ua, ub), ns)
	if len(s.foreign) > 0 {
		t.Errorf("%d writes by a replica that did not hold the shard's Lease:\n  %s", len(s.foreign), strings.Join(s.foreign, "\n  "))
	}
	if len(s.writes) < 2 {
		t.Errorf("writes per replica %v: both replicas should have acted on their shards", s.writes)
	}
	t.Logf("shards: %d rollouts over %d shards, b joined, a killed (b held every shard %.1fs later), a back; %d/%d final; "+
		"writes per replica %v, checked %d, by a replica without the shard %d; duplicates: %s",
		len(f.kinds), shards, took.Seconds(), r.final, len(f.kinds), s.writes, s.checked, len(s.foreign), r)
}

// shardLease is the Lease of shard i.
func shardLease(i int) string { return shard.LeaseName("vane-shard", i, shards) }

// waitShards waits until the audit log shows the shards held as want says (the writer of each
// shard Lease's last successful write since since, counted per replica) and returns how long
// after since the last of them began to hold its shard.
func waitShards(t *testing.T, ns string, want map[string]int, since time.Time, limit time.Duration) time.Duration {
	t.Helper()
	deadline := time.Now().Add(limit)
	var got map[string]int
	for time.Now().Before(deadline) {
		got = map[string]int{}
		var last time.Time
		for _, h := range shardHolders(readAudit(t, ns, slices.Collect(maps.Keys(want))...), since) {
			got[h.actor]++
			if h.from.After(last) {
				last = h.from
			}
		}
		if cmp.Equal(want, got) {
			return last.Sub(since)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("shards held per replica %v, want %v, within %s", got, want, limit)
	return 0
}

// holding is a replica's hold of a shard Lease, as its writes show it: from its first write of
// an unbroken run of them to the last.
type holding struct {
	actor    string
	from, at time.Time
}

// shardHolders replays the successful writes of the shard Leases after since: the last writer
// of each holds it (a replica that gives a shard back writes it too, and the next holder
// writes it within a retry period).
func shardHolders(events []auditEvent, since time.Time) map[int]holding {
	out := map[int]holding{}
	for _, e := range events {
		for i := range shards {
			if e.ObjectRef.Resource == "leases" && e.ObjectRef.Name == shardLease(i) && e.ok() && e.Done.After(since) {
				h, ok := out[i]
				if !ok || h.actor != e.actor() {
					h = holding{actor: e.actor(), from: e.Done}
				}
				h.at = e.Done
				out[i] = h
			}
		}
	}
	return out
}

// sharding is what the audit log says of the replicas' writes.
type sharding struct {
	writes  map[string]int // writes to Rollouts and ReplicaSets per replica
	checked int
	foreign []string // writes by a replica that did not hold the shard
}

// shardWriters checks every write to a Rollout (status included) or a ReplicaSet (the shard of
// the Rollout whose name it starts with) against the holder of its shard's Lease when the
// write was received: the replica whose write to that Lease last succeeded before it.
func shardWriters(events []auditEvent, ns string) sharding {
	s := sharding{writes: map[string]int{}}
	held := make([][]holding, shards)
	for _, e := range events {
		for i := range shards {
			if e.ObjectRef.Resource == "leases" && e.ObjectRef.Name == shardLease(i) && e.ok() {
				held[i] = append(held[i], holding{actor: e.actor(), at: e.Done})
			}
		}
	}
	holder := func(i int, at time.Time) string {
		k := sort.Search(len(held[i]), func(k int) bool { return held[i][k].at.After(at) })
		if k == 0 {
			return ""
		}
		return held[i][k-1].actor
	}
	for _, e := range events {
		rollout := e.ObjectRef.Name
		switch e.ObjectRef.Resource {
		case "rollouts":
		case "replicasets":
			rollout = rollout[:max(strings.LastIndex(rollout, "-"), 0)]
		default:
			continue
		}
		if rollout == "" || !e.ok() {
			continue
		}
		s.writes[e.actor()]++
		s.checked++
		i := shard.Of(ns, rollout, shards)
		if h := holder(i, e.Received); h != e.actor() {
			s.foreign = append(s.foreign, fmt.Sprintf("%s (shard %d) while %q held it", e, i, h))
		}
	}
	return s
}
