package chaos

import (
	"context"
	"testing"
	"time"

	"github.com/vanedev/vane/internal/localcluster"
)

// TestAPIServerRestarted: while a fleet of rollouts is in the middle of its updates,
// kube-apiserver is stopped and started again, then etcd is stopped for a few seconds (the
// API server answers errors meanwhile). The controller must reconnect by itself and carry
// every rollout to its final state, without exiting, and without making anything twice. It is
// the package's only test that is not parallel, so that it runs alone.
func TestAPIServerRestarted(t *testing.T) {
	cl := requireCluster(t)
	env, ns, web, rcv, rec, f := newFleetTest(t, "restart", 9)
	ctl := newController(t, env, ns, "chaos-restart")
	f.setUp(t, env, web)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go f.drive(ctx, env, done)
	if err := f.update(ctx, env, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	apiDown := outage(t, cl, localcluster.APIServer, 3*time.Second)
	time.Sleep(2 * time.Second)
	etcdDown := outage(t, cl, localcluster.Etcd, 5*time.Second)
	recovered := waitAll(t, env, ns, f.verdicts(), fleetTimeout(len(f.kinds)))
	ctl.process().RequireRunning()
	if ctl.starts != 1 {
		t.Errorf("the controller was started %d times, want 1", ctl.starts)
	}
	waitQuiet(t, env, ns, 3*time.Second, 30*time.Second)
	r := check(t, env, ns, rec, rcv, f)
	t.Logf("restarts: %d rollouts, kube-apiserver down %.1fs, etcd down %.1fs, all final %.1fs after etcd was back, controller pid %d unchanged, %d/%d final; duplicates: %s",
		len(f.kinds), apiDown.Seconds(), etcdDown.Seconds(), recovered.Seconds(), ctl.process().Pid(), r.final, len(f.kinds), r)
}

// outage stops a component of the control plane (SIGTERM, SIGKILL after 2 s: kube-apiserver
// waits for its watches longer than that), waits down, starts it again and returns how long it
// was unavailable (for the API server, until it is ready again).
func outage(t *testing.T, cl *localcluster.Cluster, component string, down time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if err := cl.StopComponent(component, 2*time.Second); err != nil {
		t.Fatalf("stopping %s: %v", component, err)
	}
	stopped := time.Since(start)
	time.Sleep(down)
	t1 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.StartComponent(ctx, component); err != nil {
		t.Fatalf("starting %s again: %v", component, err)
	}
	t.Logf("%s: stopped in %.1fs, down %s, started in %.1fs", component, stopped.Seconds(), down, time.Since(t1).Seconds())
	return time.Since(start)
}
