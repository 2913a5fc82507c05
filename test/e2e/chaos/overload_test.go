package chaos

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// probeSteps are the steps of a probe: a rollout whose update measures whether the controller
// still carries ordinary rollouts on.
const probeSteps = `
- setWeight: 50
- pause: {duration: 1s}
`

// probe is an ordinary rollout beside the bad ones.
type probe struct {
	env      *testenv.Env
	ns, name string
}

// newProbe creates a probe rollout and waits until it is Healthy.
func newProbe(t *testing.T, env *testenv.Env, ns, name string) *probe {
	t.Helper()
	createAll(t, env, newRollout(t, ns, rolloutOpts{name: name, image: "app:1", replicas: 2, steps: probeSteps}))
	waitAll(t, env, ns, map[string]verdict{name: healthyAt(2)}, 2*time.Minute)
	return &probe{env: env, ns: ns, name: name}
}

// update moves the probe to image and returns how long it took to be Healthy again; it fails
// the test after limit.
func (p *probe) update(t *testing.T, image string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if err := setImage(context.Background(), p.env, p.ns, p.name, image); err != nil {
		t.Fatal(err)
	}
	v := healthyAt(2)
	waitAll(t, p.env, p.ns, map[string]verdict{p.name: func(ro *v1alpha1.Rollout) (bool, string) {
		if img := ro.Spec.Template.Spec.Containers[0].Image; img != image {
			return false, "not yet " + image
		}
		return v(ro)
	}}, limit)
	return time.Since(start)
}

// TestBurstOfRollouts: -burst Rollouts (150 by default, 1000 in `make chaos`) are created in
// one second by 50 clients at once. A probe rollout updated right after the burst must still
// complete promptly, every Rollout of the burst must become Healthy, and the controller's
// memory must stay bounded. It runs alone, before the parallel tests: at 1,000 Rollouts the
// cluster's own work (a ReplicaSet and pods each) would hold their probes up too.
func TestBurstOfRollouts(t *testing.T) {
	env := getEnv(t)
	ns := env.Namespace(t)
	ctl := newController(t, env, ns, "chaos-burst")
	p := newProbe(t, env, ns, "probe")
	rss := sampleRSS(ctl)
	n := *burstFlag
	var failed atomic.Int32
	var wg sync.WaitGroup
	burst := make(chan *v1alpha1.Rollout, n)
	want := map[string]verdict{}
	for i := range n {
		name := fmt.Sprintf("burst-%04d", i)
		burst <- newRollout(t, ns, rolloutOpts{name: name, image: "app:1", replicas: 1, steps: probeSteps})
		want[name] = healthyAt(1)
	}
	close(burst)
	start := time.Now()
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ro := range burst {
				if err := env.Client.Create(context.Background(), ro); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	created := time.Since(start)
	if failed.Load() > 0 {
		t.Fatalf("%d of %d creates failed", failed.Load(), n)
	}
	probeTook := p.update(t, "app:2", 2*time.Minute)
	all := waitAll(t, env, ns, want, 2*time.Minute+time.Duration(n)*300*time.Millisecond) + time.Since(start)
	peak := rss.finish()
	if limit := 200 + 0.5*float64(n); peak > limit {
		t.Errorf("controller peak memory %.0f MiB for %d rollouts, more than %.0f MiB", peak, n, limit)
	}
	t.Logf("burst: %d Rollouts created in %.2fs, all Healthy %.1fs after the first create; probe updated in %.1fs meanwhile; "+
		"controller peak RSS %.0f MiB", n, created.Seconds(), all.Seconds(), probeTook.Seconds(), peak)
	// the burst is cleared away before the parallel tests start, not beside them
	gone := time.Now()
	if err := env.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		err := env.Client.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("namespace %s of the burst not gone after 5m: %v", ns, err)
	}
	t.Logf("burst: namespace deleted in %.1fs", time.Since(gone).Seconds())
}

// TestThousandSteps: a Rollout with 1,000 steps (setWeight 50 each) goes through its update to
// the end, beside a probe that must not wait for it.
func TestThousandSteps(t *testing.T) {
	t.Parallel()
	env := getEnv(t)
	ns := env.Namespace(t)
	ctl := newController(t, env, ns, "chaos-steps")
	p := newProbe(t, env, ns, "probe")
	// one weight throughout: no pod changes between steps, the controller's own pace
	steps := strings.Repeat("- setWeight: 50\n", 1000)
	createAll(t, env, newRollout(t, ns, rolloutOpts{name: "long", image: "app:1", replicas: 2, steps: steps}))
	waitAll(t, env, ns, map[string]verdict{"long": healthyAt(2)}, 3*time.Minute)
	rss := sampleRSS(ctl)
	start := time.Now()
	if err := setImage(context.Background(), env, ns, "long", "app:2"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	probeTook := p.update(t, "app:2", time.Minute)
	took := waitAll(t, env, ns, map[string]verdict{"long": updated(healthyAt(2))}, 5*time.Minute) + time.Since(start)
	peak := rss.finish()
	// client-go's event correlator combines similar events past 100 in ten minutes into one
	// "(combined from similar events)" event whose count grows: sum the counts. Not all reach
	// the API server (see the report of issue 22): the figure is printed, not checked.
	stepEvents := 0
	for k, n := range eventCounts(t, env, ns) {
		if strings.HasPrefix(k, "Rollout long|RolloutStepCompleted|") {
			stepEvents += n
		}
	}
	ros, err := listRollouts(context.Background(), env, ns)
	if err != nil {
		t.Fatal(err)
	}
	if got := ptr.Deref(ros["long"].Status.CurrentStepIndex, -1); got != 1000 {
		t.Errorf("the rollout completed at step index %d, want 1000", got)
	}
	dropped := -1.0 // events the controller says it dropped (vane_events_dropped_total)
	if m, err := ctl.scrape(); err == nil {
		dropped = m.Sum("vane_events_dropped_total")
	}
	t.Logf("1000 steps: completed in %.1fs (%.0f steps/s), %d step events stored (%.0f events dropped by the controller); "+
		"probe updated in %.1fs meanwhile; controller peak RSS %.0f MiB",
		took.Seconds(), 1000/took.Seconds(), stepEvents, dropped, probeTook.Seconds(), peak)
}

// TestHugePodTemplate: a Rollout whose pod template is about 1 MiB (four 256 KiB environment
// variables) is created and updated; its ReplicaSets carry the whole template. A probe must
// not wait for it, and the controller's memory must stay bounded.
func TestHugePodTemplate(t *testing.T) {
	t.Parallel()
	env := getEnv(t)
	ns := env.Namespace(t)
	ctl := newController(t, env, ns, "chaos-huge")
	p := newProbe(t, env, ns, "probe")
	rss := sampleRSS(ctl)
	ro := newRollout(t, ns, rolloutOpts{name: "huge", image: "app:1", replicas: 2, steps: probeSteps})
	for i := range 4 {
		ro.Spec.Template.Spec.Containers[0].Env = append(ro.Spec.Template.Spec.Containers[0].Env,
			corev1.EnvVar{Name: fmt.Sprintf("PAD_%d", i), Value: strings.Repeat(string(rune('a'+i)), 256<<10)})
	}
	createAll(t, env, ro)
	waitAll(t, env, ns, map[string]verdict{"huge": healthyAt(2)}, time.Minute)
	start := time.Now()
	if err := setImage(context.Background(), env, ns, "huge", "app:2"); err != nil {
		t.Fatal(err)
	}
	probeTook := p.update(t, "app:2", time.Minute)
	took := waitAll(t, env, ns, map[string]verdict{"huge": updated(healthyAt(2))}, 2*time.Minute) + time.Since(start)
	peak := rss.finish()
	if peak > 300 {
		t.Errorf("controller peak memory %.0f MiB with one 1 MiB template, more than 300 MiB", peak)
	}
	t.Logf("1 MiB template: updated in %.1fs; probe updated in %.1fs meanwhile; controller peak RSS %.0f MiB",
		took.Seconds(), probeTook.Seconds(), peak)
}
