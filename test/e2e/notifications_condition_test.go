package e2e

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// TestNotificationsOnCondition: a trigger with a condition (on-degraded: the phase is Degraded),
// named after no event, fires when its condition becomes true on a change of the rollout, as
// the engine's controller does for Argo Rollouts: an abort sends it, a retry makes the
// condition false again, a second abort sends it again, and a restarted controller that sees
// the rollout still degraded sends nothing.
func TestNotificationsOnCondition(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	const id = "notify-condition"
	rcv := newReceiver(t)
	createNotificationConfig(t, env, ns, map[string]string{
		"service.webhook":     "url: " + rcv.srv.URL + "/hook\n",
		"trigger.on-degraded": "- when: rollout.status.phase == 'Degraded'\n  send: [degraded]\n",
		"template.degraded":   "message: '{{.rollout.metadata.name}} degraded: {{.rollout.status.message}}'\n",
	}, nil)
	ctl := newNotifyController(t, env, id, ns)
	applyManifests(t, env, ns, "examples/seeds/keptn-podtatohead-rollout.yaml", func(ro *v1alpha1.Rollout) {
		ro.Name = "app"
		ro.Labels = map[string]string{v1alpha1.InstanceIDLabel: id}
		w50 := int32(50)
		ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: &w50}, {Pause: &v1alpha1.RolloutPause{}}}
		ro.Spec.Template.Spec.Containers[0].Image = "app:1"
		subscribe(map[string]string{"on-degraded.webhook": ""})(ro)
	})
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 2, Stable: "app:1"})
	patchRollout(t, env, ns, "app", func(ro *v1alpha1.Rollout) { ro.Spec.Template.Spec.Containers[0].Image = "app:2" })
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1})
	if got := rcv.requests("/hook"); len(got) != 0 {
		t.Fatalf("notified before the rollout was degraded: %+v", got)
	}
	cli := vaneCLI{t: t, bin: buildVane(t, env), env: env, ns: ns}
	cli.ok("", "abort", "app")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Degraded", Step: anyStep})
	rcv.waitRequests(t, "/hook", 1)
	cli.ok("", "retry", "app")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1})
	cli.ok("", "abort", "app")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Degraded", Step: anyStep})
	rcv.waitRequests(t, "/hook", 2)

	ctl.kill()
	before := ctl.logLines(`"msg":"condition already notified"`)
	ctl.start()
	waitLogLines(t, ctl, `"msg":"condition already notified"`, before+1)

	var got []string
	for _, r := range rcv.requests("/hook") {
		got = append(got, r.Body)
	}
	msg := "app degraded: RolloutAborted: Rollout aborted update to revision 2"
	if d := cmp.Diff([]string{msg, msg}, got); d != "" {
		t.Errorf("webhook messages (-want +got):\n%s", d)
	}
}

// waitLogLines waits until the controller's log has at least n lines containing s.
func waitLogLines(t *testing.T, ctl *notifyController, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for ctl.logLines(s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %d log lines with %s", waitLong, n, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
