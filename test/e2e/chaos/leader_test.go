package chaos

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Leader election timing of `vane controller --leader-elect` (controller-runtime's defaults).
const (
	leaseDuration = 15 * time.Second
	retryPeriod   = 2 * time.Second
	leaseName     = "vane-controller-lock"
	// takeoverBound is the longest a follower may take, after the leader is killed, to hold
	// the Lease: client-go's elector waits leaseDuration from when it *observed* the last
	// renewal, and polls every retryPeriod stretched by up to 1.2 (its jitter), so it sees
	// the renewal up to one stretched period late and the expiry one more late.
	takeoverBound = leaseDuration + 2*retryPeriod*22/10
)

// TestLeaderKilled: two replicas of the controller with --leader-elect carry a fleet of
// rollouts (-leader-rollouts, 10 by default) through their updates while the leader is
// SIGKILLed, -leader-kills times (1 by default, 2 in `make chaos`: the first leader, then the
// one that took over; each killed replica comes back as a follower once the other has taken
// over: started at once, it could win the expired Lease itself). The other replica must take the Lease within its duration (counted from its
// last sight of a renewal, see takeoverBound) and finish every rollout, and the API server's
// audit log must show no write from a replica that did not hold the Lease at that moment.
func TestLeaderKilled(t *testing.T) {
	t.Parallel()
	requireCluster(t)
	env, ns, web, rcv, rec, f := newFleetTest(t, "leader", *leaderFlag)
	a := newController(t, env, ns, "chaos-replica-a", "--leader-elect")
	waitHolder(t, ns, replicaUser(a.replica), time.Time{})
	b := newController(t, env, ns, "chaos-replica-b", "--leader-elect")
	f.setUp(t, env, web)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done, updated := make(chan struct{}), make(chan error, 1)
	go func() { updated <- f.update(ctx, env, 4*time.Second) }()
	go f.drive(ctx, env, done)
	var takeovers []time.Duration
	for i := range *killsFlag {
		leader, follower := a, b
		if i%2 == 1 {
			leader, follower = b, a
		}
		time.Sleep(6 * time.Second)
		killed := leader.kill()
		took := waitHolder(t, ns, replicaUser(follower.replica), killed)
		takeovers = append(takeovers, took)
		leader.start() // back as a follower
		t.Logf("%s killed; %s took the Lease %.1fs later", leader.replica, follower.replica, took.Seconds())
	}
	if err := <-updated; err != nil {
		t.Fatal(err)
	}
	waitAll(t, env, ns, f.verdicts(), fleetTimeout(len(f.kinds)))
	waitQuiet(t, env, ns, 3*time.Second, 30*time.Second)
	r := check(t, env, ns, rec, rcv, f)

	l := leaders(readAudit(t, ns, replicaUser(a.replica), replicaUser(b.replica)), leaseName)
	if len(l.foreign) > 0 {
		t.Errorf("%d writes by a replica that did not hold the Lease:\n  %s", len(l.foreign), strings.Join(l.foreign, "\n  "))
	}
	for i, took := range takeovers {
		if took > takeoverBound {
			t.Errorf("takeover %d took %s after the kill, more than %s (the Lease's %s after the follower saw the last renewal, and its retries)",
				i+1, took, takeoverBound, leaseDuration)
		}
	}
	t.Logf("leader: %d rollouts, %d leader kills, takeovers after %v (Lease %s), %d/%d final; writes per replica %v, "+
		"by a non-leader %d; duplicates: %s", len(f.kinds), len(takeovers), takeovers, leaseDuration, r.final, len(f.kinds), l.writes, len(l.foreign), r)
}

// waitHolder waits until the audit log shows actor taking (or holding) ns's Lease after
// since, and returns how long after since that was.
func waitHolder(t *testing.T, ns, actor string, since time.Time) time.Duration {
	t.Helper()
	deadline := time.Now().Add(leaseDuration + 30*time.Second)
	for time.Now().Before(deadline) {
		for _, e := range readAudit(t, ns, actor) {
			if e.ObjectRef.Resource == "leases" && e.ObjectRef.Name == leaseName && e.ok() && e.Done.After(since) {
				return e.Done.Sub(since)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s did not take the Lease %s/%s within %s", actor, ns, leaseName, leaseDuration+30*time.Second)
	return 0
}
