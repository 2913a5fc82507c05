package chaos

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vanedev/vane/internal/testenv"
)

// analysedOnce are steps with one analysis of template %s between two weights.
const analysedOnce = `
- setWeight: 50
- analysis: {templates: [{templateName: %s}]}
- pause: {duration: 1s}
`

// TestBadMetricProviders: beside ordinary rollouts whose analysis measures a healthy web
// endpoint, six times more rollouts than the controller has AnalysisRun workers (2 here)
// analyse an endpoint that answers after five minutes, and others one that answers 50 MB.
// Each measurement of the slow endpoint must give up after the metric's timeoutSeconds (10 s
// by default), each answer of the huge one must be cut at the size limit, and both kinds of
// rollout must be aborted with a status message that says why. The slow measurements must not
// hold the workers (they wait at the endpoint together, more than there are workers), the
// ordinary rollouts must finish meanwhile, and the controller's memory must stay bounded.
func TestBadMetricProviders(t *testing.T) {
	t.Parallel()
	env := getEnv(t)
	ns := env.Namespace(t)
	web := newMetricServer(t)
	const workers = 2
	ctl := newController(t, env, ns, "chaos-metrics", fmt.Sprintf("--analysis-threads=%d", workers))
	createAll(t, env,
		webTemplate(ns, "pass", web.url("/ok"), 3, "1s", ""),
		webTemplate(ns, "slow", web.url("/slow"), 3, "1s", "    consecutiveErrorLimit: 1\n"),
		webTemplate(ns, "huge", web.url("/huge"), 3, "1s", "    consecutiveErrorLimit: 1\n"))
	groups := map[string]struct {
		n    int
		want verdict
	}{
		"pass": {4, healthyAt(2)},
		"slow": {12, abortedTo(2, "no answer from "+web.url("/slow")+" within 10s")},
		"huge": {2, abortedTo(2, "larger than")},
	}
	initial, final := map[string]verdict{}, map[string]map[string]verdict{}
	for tpl, g := range groups {
		final[tpl] = map[string]verdict{}
		for i := range g.n {
			name := fmt.Sprintf("%s-%d", tpl, i)
			createAll(t, env, newRollout(t, ns, rolloutOpts{name: name, image: "app:1", replicas: 2,
				steps: fmt.Sprintf(analysedOnce, tpl)}))
			initial[name], final[tpl][name] = healthyAt(2), updated(g.want)
		}
	}
	waitAll(t, env, ns, initial, 2*time.Minute)
	rss := sampleRSS(ctl)
	start := time.Now()
	for name := range initial {
		if err := setImage(context.Background(), env, ns, name, "app:2"); err != nil {
			t.Fatal(err)
		}
	}
	took := map[string]time.Duration{}
	for _, tpl := range []string{"pass", "huge", "slow"} {
		waitAll(t, env, ns, final[tpl], 3*time.Minute)
		took[tpl] = time.Since(start).Round(100 * time.Millisecond)
	}
	peak := rss.finish()
	if took["pass"] > 3*time.Minute {
		t.Errorf("the ordinary rollouts took %s to finish beside the bad providers, more than 3m", took["pass"])
	}
	if peak > 300 {
		t.Errorf("controller peak memory %.0f MiB, more than 300 MiB", peak)
	}
	web.mu.Lock()
	slowMax := web.slowMax
	web.mu.Unlock()
	if slowMax < 3*workers {
		t.Errorf("at most %d slow measurements waited at once: they hold the %d AnalysisRun workers", slowMax, workers)
	}
	t.Logf("bad metrics: ordinary rollouts done in %s, 50 MB ones aborted in %s, 5-minute ones aborted in %s "+
		"(%d slow requests at once at most, %d /huge requests); controller peak RSS %.0f MiB; messages: %q, %q",
		took["pass"], took["huge"], took["slow"], slowMax, web.hits.get("/huge"), peak,
		message(t, env, ns, "slow-0"), message(t, env, ns, "huge-0"))
}

// message is the rollout's status message.
func message(t *testing.T, env *testenv.Env, ns, name string) string {
	t.Helper()
	ros, err := listRollouts(context.Background(), env, ns)
	if err != nil {
		t.Fatal(err)
	}
	if ro, ok := ros[name]; ok {
		return ro.Status.Message
	}
	return "(no rollout " + name + ")"
}
