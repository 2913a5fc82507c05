package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// TestProgressDeadlineExceeded: a canary whose pods never become Ready never gets the step
// done; after progressDeadlineSeconds the rollout is Degraded with ProgressDeadlineExceeded,
// and with progressDeadlineAbort it is also aborted, back on stable. The texts are Argo's
// (rollout/sync.go calculateRolloutConditions and evaluateProgressDeadlineAbort): the
// Progressing condition says `ReplicaSet "<new>" has timed out progressing.`, with
// progressDeadlineAbort after "Rollout aborted update to revision 2: " (reason RolloutAborted),
// which a Warning event RolloutAborted also says.
func TestProgressDeadlineExceeded(t *testing.T) {
	for name, abort := range map[string]bool{"degraded": false, "aborted": true} {
		t.Run(name, func(t *testing.T) {
			env := withController(t)
			ns := env.Namespace(t)
			ctx := context.Background()
			newSimpleRollout(t, env, ns, func(ro *v1alpha1.Rollout) {
				ro.Spec.ProgressDeadlineSeconds = ptr.To[int32](4)
				ro.Spec.ProgressDeadlineAbort = abort
			})
			ro := &v1alpha1.Rollout{}
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, ro); err != nil {
				t.Fatal(err)
			}
			patch := client.MergeFrom(ro.DeepCopy())
			ro.Spec.Template.Spec.Containers[0].Image = "app:2"
			ro.Spec.Template.Labels["vane.dev/kwok-ready"] = "false"
			if err := env.Client.Patch(ctx, ro, patch); err != nil {
				t.Fatal(err)
			}
			// the canary pod runs but is not available: the step waits
			waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Progressing", Step: 0, Sets: "app:1=4/4 app:2=1/0"})
			timedOut := fmt.Sprintf(`ReplicaSet "app-%s" has timed out progressing.`, rsHashOfImage(t, env, ns, "app:2"))
			want := v1alpha1.RolloutCondition{Type: v1alpha1.RolloutProgressing, Status: corev1.ConditionFalse,
				Reason: "ProgressDeadlineExceeded", Message: timedOut}
			if abort {
				want.Reason, want.Message = "RolloutAborted", "Rollout aborted update to revision 2: "+timedOut
				ro = waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Degraded", Step: 0, Sets: "app:1=4/4",
					Message: "RolloutAborted: " + want.Message})
				if !ro.Status.Abort {
					t.Error("progressDeadlineAbort did not set status.abort")
				}
				if events := rolloutEvents(t, env, ns, "app"); !slices.Contains(events, "Warning RolloutAborted: "+timedOut) ||
					!slices.Contains(events, "Warning RolloutAborted: "+want.Message) {
					t.Errorf("want Argo's two RolloutAborted events; events:\n  %s", strings.Join(events, "\n  "))
				}
			} else {
				ro = waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Degraded", Step: 0, Sets: "app:1=4/4 app:2=1/0",
					Message: "ProgressDeadlineExceeded: " + timedOut})
			}
			if c := condition(ro, v1alpha1.RolloutProgressing); c == nil || c.Status != want.Status || c.Reason != want.Reason || c.Message != want.Message {
				t.Errorf("Progressing condition: %+v, want %s %s %q", c, want.Status, want.Reason, want.Message)
			}
			if ro.Status.Message != want.Reason+": "+want.Message {
				t.Errorf("status.message %q", ro.Status.Message)
			}
		})
	}
}

// TestInvalidSpec: an invalid rollout gets the InvalidSpec condition with the validation
// message and no ReplicaSet; fixing the spec recovers.
func TestInvalidSpec(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	applyManifests(t, env, ns, "examples/seeds/keptn-podtatohead-rollout.yaml", func(ro *v1alpha1.Rollout) {
		ro.Name = "app"
		ro.Spec.Template.Labels = map[string]string{"app": "other"} // does not match the selector
	})
	ro := waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Degraded", Step: anyStep, Message: "InvalidSpec: "})
	// Argo's text (rollout/controller.go createInvalidRolloutCondition around the first error of
	// its validation, here Kubernetes' ValidatePodTemplateSpecForReplicaSet)
	want := `The Rollout "app" is invalid: spec.template.metadata.labels: Invalid value: {"app":"other"}: ` +
		"`selector` does not match template `labels`"
	c := condition(ro, v1alpha1.InvalidSpec)
	if c == nil || c.Status != corev1.ConditionTrue || c.Reason != "InvalidSpec" || c.Message != want || ro.Status.Message != "InvalidSpec: "+want {
		t.Fatalf("InvalidSpec condition: %+v (message %q), want %q", c, ro.Status.Message, want)
	}
	controllerObserved(t, env, ns, "app")
	if s, _, _ := observe(ctx, env, ns, "app"); s.Sets != "" {
		t.Fatalf("an invalid rollout scaled something: %s", s.Sets)
	}
	patch := client.MergeFrom(ro.DeepCopy())
	ro.Spec.Template.Labels = map[string]string{"app": "podtatohead"}
	if err := env.Client.Patch(ctx, ro, patch); err != nil {
		t.Fatal(err)
	}
	ro = waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: anyStep, Sets: "ghcr.io/podtato-head/podtatoserver:v0.1.1=4/4"})
	if c := condition(ro, v1alpha1.InvalidSpec); c != nil {
		t.Errorf("InvalidSpec condition still there after the fix: %+v", c)
	}
}

func condition(ro *v1alpha1.Rollout, t v1alpha1.RolloutConditionType) *v1alpha1.RolloutCondition {
	for i := range ro.Status.Conditions {
		if ro.Status.Conditions[i].Type == t {
			return &ro.Status.Conditions[i]
		}
	}
	return nil
}

// TestInstanceIDScopesTheController: a rollout labelled for another controller instance is left
// alone by this one (no ReplicaSet, no status).
func TestInstanceIDScopesTheController(t *testing.T) {
	env := withController(t) // runs with no instance id: only unlabelled rollouts
	ns := env.Namespace(t)
	applyManifests(t, env, ns, "examples/seeds/keptn-podtatohead-rollout.yaml", func(ro *v1alpha1.Rollout) {
		ro.Name = "other"
		ro.Labels = map[string]string{v1alpha1.InstanceIDLabel: "someone-else"}
	})
	newSimpleRollout(t, env, ns, nil) // an unlabelled one in the same namespace gets handled
	s, ro, err := observe(context.Background(), env, ns, "other")
	if err != nil {
		t.Fatal(err)
	}
	if s.Sets != "" || ro.Status.Phase != "" || ro.Status.ObservedGeneration != "" {
		t.Errorf("a rollout of another instance was reconciled: %s, status %+v", s, ro.Status)
	}
}
