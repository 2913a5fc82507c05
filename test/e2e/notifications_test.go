package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// notifyConfig points Slack, Google Chat and a webhook at the loopback receiver, the Slack
// token coming from the Secret; the step and update templates get a webhook body.
func notifyConfig(base string) map[string]string {
	return map[string]string{
		"service.slack":      "token: $slack-token\napiURL: " + base + "/slack/\n",
		"service.googlechat": "webhooks:\n  ops: " + base + "/chat\n",
		"service.webhook":    "url: " + base + "/hook\n",
		"template.rollout-step-completed": `message: step done
webhook:
  webhook:
    method: POST
    body: '{"event":"step","image":"{{(index .rollout.spec.template.spec.containers 0).image}}","step":{{.rollout.status.currentStepIndex}},"serviceType":"{{.serviceType}}"}'
`,
		"template.rollout-updated": `message: updated
webhook:
  webhook:
    method: POST
    body: '{"event":"updated","image":"{{(index .rollout.spec.template.spec.containers 0).image}}"}'
`,
	}
}

// TestNotificationsOncePerEvent: a rollout subscribed to on-rollout-step-completed and
// on-rollout-updated (webhook), on-rollout-completed (Slack) and on-rollout-aborted (Google
// Chat) goes through an update during which its controller is killed twice, a second update
// that is aborted, and a third update. Each receiver gets exactly the expected messages, once,
// rendered; the notified annotation records each. Then the CLI: trigger run, template get and
// template notify (to the Slack receiver).
func TestNotificationsOncePerEvent(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	const id = "notify-once"
	rcv := newReceiver(t)
	createNotificationConfig(t, env, ns, notifyConfig(rcv.srv.URL), map[string]string{"slack-token": "xoxb-loopback"})
	ctl := newNotifyController(t, env, id, ns)

	twoSteps := func(ro *v1alpha1.Rollout) {
		w50, pause := int32(50), v1alpha1.DurationFromString("2s")
		ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: &w50}, {Pause: &v1alpha1.RolloutPause{Duration: &pause}}}
	}
	applyManifests(t, env, ns, "examples/seeds/keptn-podtatohead-rollout.yaml", func(ro *v1alpha1.Rollout) {
		ro.Name = "app"
		ro.Labels = map[string]string{v1alpha1.InstanceIDLabel: id}
		twoSteps(ro)
		ro.Spec.Template.Spec.Containers[0].Image = "app:1"
	})
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 2, Stable: "app:1", Sets: "app:1=4/4"})
	patchRollout(t, env, ns, "app", subscribe(map[string]string{
		"on-rollout-step-completed.webhook": "", "on-rollout-updated.webhook": "",
		"on-rollout-completed.slack": "deploys", "on-rollout-aborted.googlechat": "ops",
	}))

	updateThroughKills(t, env, ns, ctl, rcv)

	// update 2 stops at an indefinite pause and is aborted
	patchRollout(t, env, ns, "app", func(ro *v1alpha1.Rollout) {
		w50 := int32(50)
		ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: &w50}, {Pause: &v1alpha1.RolloutPause{}}}
		ro.Spec.Template.Spec.Containers[0].Image = "app:3"
		ro.Spec.Template.Annotations = nil
	})
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1})
	cli := vaneCLI{t: t, bin: buildVane(t, env), env: env, ns: ns}
	cli.ok("", "abort", "app")
	rcv.waitRequests(t, "/chat", 1)

	// update 3 only pauses: its RolloutUpdated is the last notification, and the notifier sends
	// a rollout's notifications in the order of its events, so every earlier one has been sent
	patchRollout(t, env, ns, "app", func(ro *v1alpha1.Rollout) {
		ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{Pause: &v1alpha1.RolloutPause{}}}
		ro.Spec.Template.Spec.Containers[0].Image = "app:4"
	})
	hooks := rcv.waitRequests(t, "/hook", 6)
	checkOnce(t, rcv, hooks, ns)
	checkNotified(t, env, ns, 8)
	t.Logf("notifications skipped as already sent (re-recorded events): %d", ctl.logLines(`"msg":"already sent"`))
	checkNotificationsCLI(t, cli, rcv, ns)
}

// updateThroughKills updates the rollout to app:2; the controller is killed while the 50% step
// waits for pods, and during the pause.
func updateThroughKills(t *testing.T, env *testenv.Env, ns string, ctl *notifyController, rcv *receiver) {
	t.Helper()
	patchRollout(t, env, ns, "app", func(ro *v1alpha1.Rollout) {
		ro.Spec.Template.Spec.Containers[0].Image = "app:2"
		ro.Spec.Template.Annotations = map[string]string{"vane.dev/kwok-ready-delay": "3s"}
	})
	// a SIGKILL loses what the notifier had queued and not sent: each kill comes after the
	// notifications of the events so far went out, which the restarted controller must not
	// send again
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Progressing", Step: 0, Sets: "app:1=3/3 app:2=2/0"})
	rcv.waitRequests(t, "/hook", 1)
	ctl.kill()
	ctl.start()
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1, Sets: "app:1=2/2 app:2=2/2"})
	rcv.waitRequests(t, "/hook", 2)
	ctl.kill()
	ctl.start()
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 2, Stable: "app:2", Sets: "app:2=4/4"})
}

// checkOnce checks every receiver's messages: each expected one, once, rendered.
func checkOnce(t *testing.T, rcv *receiver, hooks []received, ns string) {
	t.Helper()
	var gotHooks []string
	for _, h := range hooks {
		gotHooks = append(gotHooks, h.Body)
	}
	wantHooks := []string{
		`{"event":"updated","image":"app:2"}`,
		`{"event":"step","image":"app:2","step":1,"serviceType":"webhook"}`,
		`{"event":"step","image":"app:2","step":2,"serviceType":"webhook"}`,
		`{"event":"updated","image":"app:3"}`,
		`{"event":"step","image":"app:3","step":1,"serviceType":"webhook"}`,
		`{"event":"updated","image":"app:4"}`,
	}
	if d := cmp.Diff(wantHooks, gotHooks); d != "" {
		t.Errorf("webhook bodies (-want +got):\n%s", d)
	}
	var gotSlack []string
	for _, s := range rcv.requests("/slack/") {
		form, err := url.ParseQuery(s.Body)
		if err != nil {
			t.Fatalf("slack body %q: %v", s.Body, err)
		}
		gotSlack = append(gotSlack, s.Path+" channel="+form.Get("channel")+" text="+form.Get("text")+" token="+
			strings.TrimPrefix(s.Auth, "Bearer ")+form.Get("token"))
	}
	wantSlack := []string{"/slack/chat.postMessage channel=deploys text=" + ns +
		"/app: the rollout is complete, every replica runs the new revision. token=xoxb-loopback"}
	if d := cmp.Diff(wantSlack, gotSlack); d != "" {
		t.Errorf("slack requests (-want +got):\n%s", d)
	}
	var gotChat []string
	for _, c := range rcv.requests("/chat") {
		var msg struct{ Text string }
		if err := json.Unmarshal([]byte(c.Body), &msg); err != nil {
			t.Fatalf("google chat body %q: %v", c.Body, err)
		}
		gotChat = append(gotChat, msg.Text)
	}
	wantChat := []string{ns + "/app: the rollout was aborted, the stable revision is back. RolloutAborted: Rollout aborted update to revision 3"}
	if d := cmp.Diff(wantChat, gotChat); d != "" {
		t.Errorf("google chat messages (-want +got):\n%s", d)
	}
}

// checkNotified checks that the rollout's notified annotation comes to record n sends (the
// notifier writes it after the send the test saw last), and no more.
func checkNotified(t *testing.T, env *testenv.Env, ns string, n int) {
	t.Helper()
	waitUntil(t, 15*time.Second, fmt.Sprintf("the notified annotation recording %d sends", n), func() (bool, string) {
		ro := &v1alpha1.Rollout{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app"}, ro); err != nil {
			return false, err.Error()
		}
		state := map[string]int64{}
		if err := json.Unmarshal([]byte(ro.Annotations["notified.notifications.argoproj.io"]), &state); err != nil {
			return false, fmt.Sprintf("notified annotation %q: %v", ro.Annotations["notified.notifications.argoproj.io"], err)
		}
		if len(state) > n {
			t.Fatalf("notified annotation records %d sends, want %d: %v", len(state), n, state)
		}
		return len(state) == n, fmt.Sprintf("%d sends recorded: %v", len(state), state)
	})
}

// checkNotificationsCLI: trigger run prints the condition's result; template get lists the
// built-in template; template notify sends to the Slack receiver; an unknown trigger fails.
func checkNotificationsCLI(t *testing.T, cli vaneCLI, rcv *receiver, ns string) {
	t.Helper()
	out := cli.ok("CONDITION", "notifications", "trigger", "run", "on-rollout-completed", "app")
	if !strings.Contains(out, "(on the event)  true") {
		t.Errorf("trigger run output:\n%s\nwant the condition and true", out)
	}
	cli.ok("the rollout is complete", "notifications", "template", "get", "rollout-completed")
	before := len(rcv.requests("/slack/"))
	cli.ok("sent template rollout-completed", "notifications", "template", "notify", "rollout-completed", "app",
		"--recipient", "slack:cli-check")
	got := rcv.requests("/slack/")
	if len(got) != before+1 {
		t.Fatalf("template notify: slack got %d requests, want %d", len(got), before+1)
	}
	if form, _ := url.ParseQuery(got[before].Body); form.Get("channel") != "cli-check" ||
		form.Get("text") != ns+"/app: the rollout is complete, every replica runs the new revision." {
		t.Errorf("template notify sent %q", got[before].Body)
	}
	if out, code := cli.run("notifications", "trigger", "run", "on-nothing", "app"); code == 0 || !strings.Contains(out, `no trigger "on-nothing"`) {
		t.Errorf("trigger run of an unknown trigger: exit %d, output:\n%s", code, out)
	}
}
