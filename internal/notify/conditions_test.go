package notify

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/vanedev/vane/api/v1alpha1"
)

// TestConditionDeliveries: only the subscriptions to a trigger with a `when` are evaluated on a
// change; a built-in (condition-less) trigger and a destination no configuration serves are
// left to the event path.
func TestConditionDeliveries(t *testing.T) {
	a, err := NewAPI(context.Background(), &corev1.ConfigMap{Data: map[string]string{
		"service.webhook":     "url: http://127.0.0.1:1/hook\n",
		"trigger.on-degraded": "- when: rollout.status.phase == 'Degraded'\n  send: [rollout-aborted]\n",
		"trigger.on-mixed":    "- send: [rollout-paused]\n- when: rollout.spec.paused\n  send: [rollout-paused]\n",
		"subscriptions":       "- recipients: [webhook:all]\n  triggers: [on-mixed]\n",
	}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	configs := []config{{namespace: "vane-system", api: a}}
	tests := map[string]struct {
		subscriptions map[string]string
		want          []string
	}{
		"a trigger with a condition":          {map[string]string{"on-degraded.webhook": "ops"}, []string{"on-degraded webhook:ops"}},
		"a built-in trigger has no condition": {map[string]string{"on-rollout-aborted.webhook": "ops"}, nil},
		"a service no configuration has":      {map[string]string{"on-degraded.nosuch": "ops"}, nil},
		"two recipients, sorted": {map[string]string{"on-degraded.webhook": "b;a"},
			[]string{"on-degraded webhook:a", "on-degraded webhook:b"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ro := &v1alpha1.Rollout{}
			subscribeTo(ro, tc.subscriptions)
			var got []string
			for _, d := range conditionDeliveries(configs, ro) {
				if d.trigger == "on-mixed" { // the global subscription: every rollout has it
					continue
				}
				got = append(got, d.trigger+" "+d.dest.Service+":"+d.dest.Recipient)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("deliveries (-want +got):\n%s", d)
			}
		})
	}
	global := conditionDeliveries(configs, &v1alpha1.Rollout{})
	if len(global) != 1 || global[0].trigger != "on-mixed" || global[0].dest.Recipient != "all" {
		t.Errorf("a global subscription to a trigger with a condition: got %+v", global)
	}
}

func subscribeTo(ro *v1alpha1.Rollout, subs map[string]string) {
	ro.Annotations = map[string]string{}
	for k, v := range subs {
		ro.Annotations["notifications.argoproj.io/subscribe."+k] = v
	}
}
