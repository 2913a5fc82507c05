package e2e

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// TestNotificationsBadInput: one update fires four subscriptions: a webhook that never answers
// (send timeout 1s), a service the ConfigMap lacks, a template that does not render, and Slack.
// The rollout completes as usual; each bad one is a NotificationFailed Warning event naming the
// trigger, service, recipient and error (and the failure events notify nothing themselves);
// the Slack message, queued after them, still goes out.
func TestNotificationsBadInput(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	const id = "notify-bad"
	rcv := newReceiver(t)
	createNotificationConfig(t, env, ns, map[string]string{
		"service.slack":                   "token: xoxb-loopback\napiURL: " + rcv.srv.URL + "/slack/\n",
		"service.webhook.hang":            "url: " + rcv.srv.URL + "/hang\n",
		"template.rollout-step-completed": "message: '{{ fail \"no such field\" }}'\n",
		"trigger.on-notification-failed":  "- send: [rollout-completed]\n",
	}, nil)
	newNotifyController(t, env, id, ns, "--notification-send-timeout", "1s")
	applyManifests(t, env, ns, "examples/seeds/keptn-podtatohead-rollout.yaml", func(ro *v1alpha1.Rollout) {
		ro.Name = "app"
		ro.Labels = map[string]string{v1alpha1.InstanceIDLabel: id}
		w50 := int32(50)
		ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: &w50}}
		ro.Spec.Template.Spec.Containers[0].Image = "app:1"
	})
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 1, Stable: "app:1", Sets: "app:1=4/4"})
	patchRollout(t, env, ns, "app", subscribe(map[string]string{
		"on-rollout-updated.hang": "", "on-rollout-updated.nosuch": "someone",
		"on-rollout-step-completed.slack": "steps", "on-rollout-completed.slack": "deploys",
		"on-notification-failed.slack": "storm",
	}))
	patchRollout(t, env, ns, "app", func(ro *v1alpha1.Rollout) { ro.Spec.Template.Spec.Containers[0].Image = "app:2" })
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 1, Stable: "app:2", Sets: "app:2=4/4"})

	rcv.waitRequests(t, "/slack/", 1)
	want := map[string]bool{
		"trigger on-rollout-updated, service hang, recipient : no answer within 1s":                                                                       true,
		`trigger on-rollout-updated, service nosuch, recipient someone: no service "nosuch" in argo-rollouts-notification-configmap (add service.nosuch)`: true,
		"trigger on-rollout-step-completed, service slack, recipient steps: ":                                                                             true,
	}
	// the events are recorded asynchronously: wait for the three, then compare them all
	var failed map[string]bool
	deadline := time.Now().Add(waitLong)
	for failed = failedEvents(t, env, ns); len(failed) < len(want) && time.Now().Before(deadline); failed = failedEvents(t, env, ns) {
		time.Sleep(100 * time.Millisecond)
	}
	if d := cmp.Diff(want, failed); d != "" {
		t.Errorf("NotificationFailed events (-want +got):\n%s", d)
	}

	// a second update: had a failure event fired on-notification-failed, its message would
	// have been queued before this update's, and arrived before its completion message
	patchRollout(t, env, ns, "app", func(ro *v1alpha1.Rollout) { ro.Spec.Template.Spec.Containers[0].Image = "app:3" })
	var channels []string
	for _, r := range rcv.waitRequests(t, "/slack/", 2) {
		form, _ := url.ParseQuery(r.Body)
		channels = append(channels, form.Get("channel"))
	}
	if d := cmp.Diff([]string{"deploys", "deploys"}, channels); d != "" {
		t.Errorf("slack channels notified (-want +got):\n%s", d)
	}
	checkMalformedConfigMap(t, env, ns)
}

// checkMalformedConfigMap: with a trigger that is not YAML, the next update completes as
// usual and is a NotificationFailed event naming the ConfigMap and the error.
func checkMalformedConfigMap(t *testing.T, env *testenv.Env, ns string) {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "argo-rollouts-notification-configmap"}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["trigger.on-rollout-completed"] = "- send: [unclosed\n"
	if err := env.Client.Update(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	patchRollout(t, env, ns, "app", func(ro *v1alpha1.Rollout) { ro.Spec.Template.Spec.Containers[0].Image = "app:4" })
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 1, Stable: "app:4", Sets: "app:4=4/4"})
	prefix := "invalid notification configuration: ConfigMap " + ns + "/argo-rollouts-notification-configmap: "
	deadline := time.Now().Add(waitLong)
	for {
		for msg := range failedEvents(t, env, ns) {
			if strings.Contains(msg, "no ConfigMap") {
				t.Errorf("a malformed ConfigMap reported as a missing one: %s", msg)
			}
			if strings.HasPrefix(msg, prefix) && strings.Contains(msg, "on-rollout-completed") {
				t.Logf("malformed ConfigMap: %s", msg)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no NotificationFailed event starting with %q; got %v", prefix, failedEvents(t, env, ns))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// failedEvents returns the messages of the rollout's NotificationFailed events (the render
// error's text shortened to its trigger, service and recipient).
func failedEvents(t *testing.T, env *testenv.Env, ns string) map[string]bool {
	t.Helper()
	failed := map[string]bool{}
	for _, e := range rolloutEventList(t, env, ns, "app") {
		if e.Reason != "NotificationFailed" {
			continue
		}
		if e.Type != "Warning" {
			t.Errorf("NotificationFailed event of type %s", e.Type)
		}
		msg := e.Message
		if strings.HasPrefix(msg, "trigger on-rollout-step-completed") && strings.Contains(msg, "no such field") {
			msg = "trigger on-rollout-step-completed, service slack, recipient steps: "
		}
		failed[msg] = true
	}
	return failed
}
