package notify

import (
	"context"
	"testing"

	"github.com/argoproj/notifications-engine/pkg/services"
	"github.com/argoproj/notifications-engine/pkg/triggers"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

func TestTriggerForReason(t *testing.T) {
	tests := map[string]string{
		"RolloutCompleted":       "on-rollout-completed",
		"RolloutStepCompleted":   "on-rollout-step-completed",
		"RolloutUpdated":         "on-rollout-updated",
		"RolloutPaused":          "on-rollout-paused",
		"RolloutAborted":         "on-rollout-aborted",
		"ScalingReplicaSet":      "on-scaling-replica-set",
		"AnalysisRunRunning":     "on-analysis-run-running",
		"AnalysisRunFailed":      "on-analysis-run-failed",
		"AnalysisRunError":       "on-analysis-run-error",
		"RolloutAddedToInformer": "on-rollout-added-to-informer",
		"HTTPError":              "on-http-error",
		"V2Ready":                "on-v2-ready",
		"Single":                 "on-single",
	}
	got := map[string]string{}
	for reason := range tests {
		got[reason] = TriggerForReason(reason)
	}
	if d := cmp.Diff(tests, got); d != "" {
		t.Errorf("trigger by reason (-want +got):\n%s", d)
	}
}

// reasons are the Rollout event reasons the controller records that may name a trigger.
var reasons = []string{"RolloutCompleted", "RolloutStepCompleted", "RolloutUpdated", "RolloutPaused", "RolloutAborted",
	"RolloutResumed", "ScalingReplicaSet", "AnalysisRunRunning", "AnalysisRunFailed", "AnalysisRunError",
	"AnalysisRunSuccessful", "SwitchService", "NewReplicaSetCreated", FailedReason}

func rolloutIn(phase v1alpha1.RolloutPhase) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "shop"}}
	ro.Status.Phase = phase
	ro.Status.Message = "analysis failed"
	ro.Status.CurrentStepIndex = ptr.To[int32](1)
	ro.Status.AvailableReplicas = 3
	ro.Spec.Replicas = ptr.To[int32](4)
	ro.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Image: "app:2"}}
	return ro
}

// firing returns, per trigger of the configuration, the reasons whose event sends it for a
// rollout in each phase ("reason/phase").
func firing(t *testing.T, data map[string]string) map[string][]string {
	t.Helper()
	a, err := NewAPI(context.Background(), &corev1.ConfigMap{Data: data}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, phase := range []v1alpha1.RolloutPhase{"Healthy", "Paused", "Degraded"} {
		obj, err := ObjectMap(rolloutIn(phase))
		if err != nil {
			t.Fatal(err)
		}
		for _, reason := range reasons {
			trigger := TriggerForReason(reason)
			conds, ok := a.GetConfig().Triggers[trigger]
			if !ok {
				continue
			}
			res, err := a.RunTrigger(trigger, obj)
			if err != nil {
				t.Fatalf("%s: %v", trigger, err)
			}
			for i, r := range res {
				if Fires(conds, i, r) {
					out[trigger] = append(out[trigger], reason+"/"+string(phase)+":"+r.Templates[0])
				}
			}
		}
	}
	return out
}

// TestBuiltInTriggers: each built-in trigger fires on its own event, whatever the rollout's
// state, sends its template, and on no other event.
func TestBuiltInTriggers(t *testing.T) {
	every := func(reason, template string) []string {
		return []string{reason + "/Healthy:" + template, reason + "/Paused:" + template, reason + "/Degraded:" + template}
	}
	want := map[string][]string{
		"on-rollout-completed":      every("RolloutCompleted", "rollout-completed"),
		"on-rollout-step-completed": every("RolloutStepCompleted", "rollout-step-completed"),
		"on-rollout-updated":        every("RolloutUpdated", "rollout-updated"),
		"on-rollout-paused":         every("RolloutPaused", "rollout-paused"),
		"on-rollout-aborted":        every("RolloutAborted", "rollout-aborted"),
		"on-scaling-replica-set":    every("ScalingReplicaSet", "scaling-replicaset"),
		"on-analysis-run-running":   every("AnalysisRunRunning", "analysis-run-running"),
		"on-analysis-run-failed":    every("AnalysisRunFailed", "analysis-run-failed"),
		"on-analysis-run-error":     every("AnalysisRunError", "analysis-run-error"),
	}
	if d := cmp.Diff(want, firing(t, nil)); d != "" {
		t.Errorf("events firing each built-in trigger (-want +got):\n%s", d)
	}
}

// TestUserTriggerOverrides: a ConfigMap key replaces the built-in one of the same name (here
// with a condition on the rollout's state); the other built-in keys stay.
func TestUserTriggerOverrides(t *testing.T) {
	got := firing(t, map[string]string{
		"trigger.on-rollout-completed": "- when: rollout.status.phase == 'Healthy'\n  send: [mine]\n",
		"template.mine":                "message: mine",
	})
	want := map[string][]string{
		"on-rollout-completed": {"RolloutCompleted/Healthy:mine"},
		"on-rollout-aborted": {"RolloutAborted/Healthy:rollout-aborted", "RolloutAborted/Paused:rollout-aborted",
			"RolloutAborted/Degraded:rollout-aborted"},
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			delete(got, k)
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("firing (-want +got):\n%s", d)
	}
}

// TestBuiltInTemplatesRender: every built-in template renders for a rollout, for Slack too.
func TestBuiltInTemplatesRender(t *testing.T) {
	a, err := NewAPI(context.Background(), &corev1.ConfigMap{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	a.AddNotificationService("slack", rec)
	obj, err := ObjectMap(rolloutIn("Healthy"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for name := range a.GetConfig().Templates {
		if err := a.Send(obj, []string{name}, services.Destination{Service: "slack", Recipient: "c"}); err != nil {
			t.Errorf("template %s: %v", name, err)
			continue
		}
		got[name] = rec.last.Message
	}
	want := map[string]string{
		"rollout-completed":      "shop/app: the rollout is complete, every replica runs the new revision.",
		"rollout-step-completed": "shop/app: a step is complete, the rollout is now at step index 1.",
		"rollout-updated":        "shop/app: the pod template changed, a new revision is rolling out.",
		"rollout-paused":         "shop/app: the rollout is paused.",
		"rollout-aborted":        "shop/app: the rollout was aborted, the stable revision is back. analysis failed",
		"scaling-replicaset":     "shop/app: a ReplicaSet was scaled; 3 of 4 replicas are available.",
		"analysis-run-running":   "shop/app: an analysis run started.",
		"analysis-run-failed":    "shop/app: an analysis run failed.",
		"analysis-run-error":     "shop/app: an analysis run ended in error.",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rendered messages (-want +got):\n%s", d)
	}
}

type recorder struct{ last services.Notification }

func (r *recorder) Send(n services.Notification, _ services.Destination) error {
	r.last = n
	return nil
}

// TestStateKey: the key of a sent notification is the same for the same event recorded again
// on an unchanged status, and differs for another occurrence.
func TestStateKey(t *testing.T) {
	base := rolloutIn("Degraded")
	aborted := base.DeepCopy()
	aborted.Status.Abort = true
	res := triggers.ConditionResult{Key: "[0].abc", Triggered: true, Templates: []string{"rollout-aborted"}}
	once := res
	once.OncePer = "2"
	dest := services.Destination{Service: "slack", Recipient: "ops"}
	key := func(ro *v1alpha1.Rollout, msg string, r triggers.ConditionResult, self bool) string {
		return StateKey(self, "shop", "on-rollout-aborted", r, dest, Occurrence(ro, "Warning", "RolloutAborted", msg))
	}
	first := key(base, "aborted", res, false)
	got := map[string]bool{
		"same event recorded again":       key(base.DeepCopy(), "aborted", res, false) == first,
		"status changed (a second abort)": key(aborted, "aborted", res, false) == first,
		"another message, same status":    key(base, "aborted again", res, false) == first,
		"oncePer: same value, new status": key(aborted, "x", once, false) == key(base, "aborted", once, false),
		"self-service config":             key(base, "aborted", res, true) == first,
	}
	want := map[string]bool{
		"same event recorded again":       true,
		"status changed (a second abort)": false,
		"another message, same status":    false,
		"oncePer: same value, new status": true,
		"self-service config":             false,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("key equal to the first occurrence's (-want +got):\n%s", d)
	}
	if want := "on-rollout-aborted:[0].abc:slack:ops@"; first[:len(want)] != want {
		t.Errorf("key %q does not start with %q", first, want)
	}
}
