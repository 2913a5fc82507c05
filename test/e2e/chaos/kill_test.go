package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/actions"
	"github.com/vanedev/vane/internal/testenv"
)

// What a chaos rollout's update does.
const (
	promoted = "promoted" // steps, a passing analysis: Healthy on the new revision
	failed   = "failed"   // a failing analysis aborts it: Degraded on the old revision
	aborted  = "aborted"  // an indefinite pause, then aborted by a person: Degraded
)

// Steps of the chaos rollouts: a canary weight, a timed pause, a step analysis and a pause.
const analysedSteps = `
- setWeight: 50
- pause: {duration: 4s}
- analysis: {templates: [{templateName: %s}]}
- pause: {duration: 4s}
`

const pausedSteps = `
- setWeight: 50
- pause: {}
- setWeight: 100
`

// fleet is a set of rollouts that each go through an update, and what each must end as.
type fleet struct {
	ns, instance string
	replicas     int32
	kinds        map[string]string // rollout name to promoted, failed or aborted
}

// newFleetTest gives a test its namespace, a metric server, a notification receiver
// subscribed in that namespace, a recorder of its objects, and a fleet of n rollouts named
// prefix-NNN.
func newFleetTest(t *testing.T, prefix string, n int) (*testenv.Env, string, *metricServer, *receiver, *recorder, *fleet) {
	t.Helper()
	env := getEnv(t)
	ns := env.Namespace(t)
	web, rcv := newMetricServer(t), newReceiver(t)
	createNotificationConfig(t, env, ns, rcv)
	return env, ns, web, rcv, record(t, env, ns), newFleet(ns, "", prefix, n)
}

// newFleet plans n rollouts, a third of each kind.
func newFleet(ns, instance, prefix string, n int) *fleet {
	f := &fleet{ns: ns, instance: instance, replicas: 2, kinds: map[string]string{}}
	for i := range n {
		f.kinds[fmt.Sprintf("%s-%03d", prefix, i)] = []string{promoted, failed, aborted}[i%3]
	}
	return f
}

// setUp creates the fleet's analysis templates and rollouts at app:1, subscribed to every
// notified trigger, and waits until they are Healthy.
func (f *fleet) setUp(t *testing.T, env *testenv.Env, web *metricServer) {
	t.Helper()
	createAll(t, env, webTemplate(f.ns, "pass", web.url("/ok"), 4, "2s", ""),
		webTemplate(f.ns, "fail", web.url("/fail"), 4, "2s", ""))
	want := map[string]verdict{}
	for name, kind := range f.kinds {
		steps := fmt.Sprintf(analysedSteps, map[string]string{promoted: "pass", failed: "fail"}[kind])
		if kind == aborted {
			steps = pausedSteps
		}
		createAll(t, env, newRollout(t, f.ns, rolloutOpts{name: name, instance: f.instance, image: "app:1",
			replicas: f.replicas, steps: steps, annotations: subscriptions(),
			podAnnotations: map[string]string{"vane.dev/kwok-ready-delay": "1s"}}))
		want[name] = healthyAt(f.replicas)
	}
	took := waitAll(t, env, f.ns, want, 3*time.Minute)
	t.Logf("%d rollouts created and Healthy in %.1fs", len(f.kinds), took.Seconds())
}

// update moves every rollout to app:2, spread over spread so that kills find them at every
// stage of their update.
func (f *fleet) update(ctx context.Context, env *testenv.Env, spread time.Duration) error {
	gap := spread / time.Duration(max(len(f.kinds), 1))
	for name := range f.kinds {
		if err := setImage(ctx, env, f.ns, name, "app:2"); err != nil {
			return err
		}
		time.Sleep(gap)
	}
	return nil
}

// verdicts are the final states of the fleet's rollouts, once updated to app:2.
func (f *fleet) verdicts() map[string]verdict {
	out := map[string]verdict{}
	for name, kind := range f.kinds {
		v := map[string]verdict{promoted: healthyAt(f.replicas), failed: abortedTo(f.replicas, "web"),
			aborted: abortedTo(f.replicas, "aborted")}[kind]
		out[name] = func(ro *v1alpha1.Rollout) (bool, string) {
			if img := ro.Spec.Template.Spec.Containers[0].Image; img != "app:2" {
				return false, "not updated yet: " + img
			}
			return v(ro)
		}
	}
	return out
}

// repeats is how many times a rollout of the fleet announces one message by design: its
// pause steps share one RolloutPaused and one RolloutResumed message, and every controller
// start announces RolloutAddedToInformer (as Argo's does).
func (f *fleet) repeats(object, reason, message string) int {
	if reason == "RolloutAddedToInformer" {
		return 1 << 30
	}
	if reason != "RolloutPaused" && reason != "RolloutResumed" {
		return 1
	}
	return map[string]int{promoted: 2, failed: 1, aborted: 1}[f.kinds[strings.TrimPrefix(object, "Rollout ")]]
}

// drive aborts the rollouts of kind aborted once they pause at their indefinite pause, until
// every rollout is in its final state; it then closes done. It gives up when ctx ends.
func (f *fleet) drive(ctx context.Context, env *testenv.Env, done chan<- struct{}) {
	defer close(done)
	want := f.verdicts()
	for ctx.Err() == nil {
		ros, err := listRollouts(ctx, env, f.ns)
		final := 0
		for name, v := range want {
			ro := ros[name]
			if err != nil || ro == nil {
				continue
			}
			if ok, _ := v(ro); ok {
				final++
				continue
			}
			if f.kinds[name] == aborted && pausedAt(ro, 1) {
				_ = actions.Abort(ctx, env.Client, f.ns, name) // retried on the next pass when it fails
			}
		}
		if final == len(want) {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// pausedAt reports whether the rollout's update waits at step i (an indefinite pause).
func pausedAt(ro *v1alpha1.Rollout, i int32) bool {
	return !ro.Status.Abort && ptr.Deref(ro.Status.CurrentStepIndex, -1) == i && len(ro.Status.PauseConditions) > 0 &&
		ro.Status.CurrentPodHash != ro.Status.StableRS
}

// killer SIGKILLs a controller at random intervals and starts it again at once, as a kubelet
// restarts a container that was OOM-killed.
type killer struct {
	rng      *rand.Rand
	min, max time.Duration
	kills    int
}

func newKiller(t *testing.T, lo, hi time.Duration) *killer {
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("kill times: every %s to %s, seed %d (-seed to replay)", lo, hi, seed)
	return &killer{rng: rand.New(rand.NewPCG(uint64(seed), 0)), min: lo, max: hi}
}

// run kills and restarts c until done is closed or timeout passes; c runs when it returns.
func (k *killer) run(t *testing.T, c *controller, done <-chan struct{}, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		wait := k.min + time.Duration(k.rng.Int64N(int64(k.max-k.min)+1))
		select {
		case <-done:
			return
		case <-deadline:
			return
		case <-time.After(wait):
		}
		c.kill()
		k.kills++
		c.start()
	}
}

// TestControllerKilledAtRandom: a fleet of rollouts (-rollouts, 20 by default, 100 in `make
// chaos`) is updated while the controller is SIGKILLed every 2 to 10 s and started again at
// once. A third of the updates are promoted through their steps and a passing analysis, a
// third fail their analysis and are aborted, a third are aborted by a person at an indefinite
// pause. Every rollout must end in its right state, with no ReplicaSet made twice for a
// revision, no AnalysisRun made twice for a step, no event recorded twice for one transition
// and no notification sent twice; notifications lost (at most once on SIGKILL, see
// docs/notifications.md) are counted and printed.
func TestControllerKilledAtRandom(t *testing.T) {
	t.Parallel()
	env, ns, web, rcv, rec, f := newFleetTest(t, "killed", *rolloutsFlag)
	ctl := newController(t, env, ns, "chaos-killed")
	f.setUp(t, env, web)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	start := time.Now()
	updated := make(chan error, 1)
	go func() { updated <- f.update(ctx, env, 10*time.Second) }()
	go f.drive(ctx, env, done)
	k := newKiller(t, 2*time.Second, 10*time.Second)
	k.run(t, ctl, done, fleetTimeout(len(f.kinds)))
	if err := <-updated; err != nil {
		t.Fatal(err)
	}
	took := waitAll(t, env, ns, f.verdicts(), time.Minute) + time.Since(start)
	waitQuiet(t, env, ns, 3*time.Second, 30*time.Second)

	r := check(t, env, ns, rec, rcv, f)
	t.Logf("chaos: %d rollouts updated in %.0fs through %d kills (%d controller starts): %d/%d in their final state; "+
		"duplicates: %s", len(f.kinds), took.Seconds(), k.kills, ctl.starts, r.final, len(f.kinds), r)
}

// fleetTimeout is how long a fleet of n rollouts may take to finish under chaos.
func fleetTimeout(n int) time.Duration { return 2*time.Minute + time.Duration(n)*2*time.Second }

// result is what check counted.
type result struct {
	final                               int
	replicaSets, runs, events, notified int // made or sent more than once
	lost, expected                      int // notifications lost, of those expected
	missingRuns                         int // analysed rollouts without their AnalysisRun
}

func (r result) String() string {
	return fmt.Sprintf("ReplicaSets %d, AnalysisRuns %d, events %d, notifications %d; notifications lost %d of %d",
		r.replicaSets, r.runs, r.events, r.notified, r.lost, r.expected)
}

// check counts the fleet's final states and everything made or sent twice, and fails the test
// on any duplicate or rollout not in its final state.
func check(t *testing.T, env *testenv.Env, ns string, rec *recorder, rcv *receiver, f *fleet) result {
	t.Helper()
	var r result
	var details []string
	r.replicaSets, r.runs, details = rec.duplicates()
	ros, err := listRollouts(context.Background(), env, ns)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range f.verdicts() {
		if ok, why := v(ros[name]); ok {
			r.final++
		} else {
			details = append(details, "not final: "+name+": "+why)
		}
	}
	counts := eventCounts(t, env, ns)
	repeated := repeatedEvents(counts, f.repeats)
	r.events = len(repeated)
	details = append(details, repeated...)
	dup, lost, expected, notes := compareNotifications(counts, rcv.notifications(), f)
	r.notified, r.lost, r.expected = dup, lost, expected
	details = append(details, notes...)
	if r.final != len(f.kinds) || r.replicaSets+r.runs+r.events+r.notified > 0 {
		t.Errorf("chaos found problems:\n  %s", strings.Join(details, "\n  "))
	} else if len(notes) > 0 {
		t.Logf("notifications lost:\n  %s", strings.Join(notes, "\n  "))
	}
	return r
}

// compareNotifications matches the notifications received with the events recorded on the
// fleet's rollouts: each event of a notified reason should have been sent once. It returns
// the notifications received more than once, the events never notified, the events expected
// to be, and a line per difference.
func compareNotifications(events map[string]int, got []notification, f *fleet) (dup, lost, expected int, notes []string) {
	want := map[string]int{} // rollout|reason -> events
	for key := range events {
		parts := strings.SplitN(key, "|", 3)
		name := strings.TrimPrefix(parts[0], "Rollout ")
		if _, ok := f.kinds[name]; !ok || !isNotified(parts[1]) {
			continue
		}
		want[name+"|"+parts[1]]++
	}
	seen := map[string]int{}     // one notification -> times received
	distinct := map[string]int{} // rollout|reason -> distinct notifications
	for _, n := range got {
		if seen[n.String()]++; seen[n.String()] == 1 {
			distinct[n.Rollout+"|"+n.Event]++
		}
	}
	for n, times := range seen {
		if times > 1 {
			dup += times - 1
			notes = append(notes, fmt.Sprintf("received %d times: %s", times, n))
		}
	}
	for key, n := range want {
		expected += n
		if d := distinct[key]; d < n {
			lost += n - d
			notes = append(notes, fmt.Sprintf("%s: %d events, %d notifications", key, n, d))
		}
	}
	sort.Strings(notes)
	return dup, lost, expected, notes
}

func isNotified(reason string) bool {
	for _, r := range notifiedTriggers {
		if r == reason {
			return true
		}
	}
	return false
}
