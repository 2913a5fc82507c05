package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/actions"
	"github.com/vanedev/vane/internal/testenv"
)

const waitLong = 60 * time.Second

// shortenPauses rewrites every timed pause to d, so that a seed's 30 s pauses take d in a test.
func shortenPauses(d string) func(*v1alpha1.Rollout) {
	return func(ro *v1alpha1.Rollout) {
		for _, s := range ro.Spec.Strategy.Canary.Steps {
			if s.Pause != nil && s.Pause.Duration != nil {
				*s.Pause.Duration = v1alpha1.DurationFromString(d)
			}
		}
	}
}

func setImage(t *testing.T, env *testenv.Env, ns, name, image string) {
	t.Helper()
	if err := actions.SetImage(context.Background(), env.Client, ns, name, "*", image); err != nil {
		t.Fatal(err)
	}
}

func promote(t *testing.T, env *testenv.Env, ns, name string, full bool) {
	t.Helper()
	if _, err := actions.Promote(context.Background(), env.Client, ns, name, full); err != nil {
		t.Fatal(err)
	}
}

// TestSeedGradualRollout plays the Prodvana seed: 10% -> indefinite pause -> promote -> 25% ->
// timed pause -> 50% -> timed pause -> 100% (pauses shortened to 4s), on 3 replicas.
func TestSeedGradualRollout(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	const name, blue, green = "gradual-rollout", "argoproj/rollouts-demo:blue", "argoproj/rollouts-demo:green"
	applyManifests(t, env, ns, "examples/seeds/gradual-rollout.yaml", shortenPauses("4s"))
	waitState(t, env, ns, name, waitLong, snapshot{Phase: "Healthy", Step: 6, Stable: blue, Sets: blue + "=3/3"})

	setImage(t, env, ns, name, green)
	// 10% of 3 replicas: one canary pod next to the 3 stable ones (1 of 4 is closer to 10% than
	// 1 of 3, and maxSurge allows a fourth pod: Argo's arithmetic); the rollout waits for a promote
	waitState(t, env, ns, name, waitLong, snapshot{Phase: "Paused", Step: 1, Stable: blue,
		Sets: blue + "=3/3 " + green + "=1/1", Message: "CanaryPauseStep"})
	if got, want := serviceHash(t, env, ns, "gradual-rollout-preview"), rsHashOfImage(t, env, ns, green); got != want {
		t.Errorf("canary Service selects %q, want the canary hash %q", got, want)
	}
	time.Sleep(time.Second) // an indefinite pause stays put, also once the controller looked again
	controllerObserved(t, env, ns, name)
	waitState(t, env, ns, name, time.Second, snapshot{Phase: "Paused", Step: 1})

	promote(t, env, ns, name, false)
	// 25% of 3: one canary pod and 3 stable ones again (1 of 4 is exactly 25%): the timed pause at step 3
	waitState(t, env, ns, name, waitLong, snapshot{Phase: "Paused", Step: 3, Sets: blue + "=3/3 " + green + "=1/1"})
	// 50% of 3: two canary pods and two stable ones
	waitState(t, env, ns, name, waitLong, snapshot{Phase: "Paused", Step: 5, Sets: blue + "=2/2 " + green + "=2/2"})
	ro := waitState(t, env, ns, name, waitLong, snapshot{Phase: "Healthy", Step: 6, Stable: green, Sets: green + "=3/3"})
	if ro.Status.CurrentPodHash != ro.Status.StableRS || ro.Status.UpdatedReplicas != 3 || ro.Status.AvailableReplicas != 3 {
		t.Errorf("healthy status: %+v", ro.Status)
	}
	if got, want := serviceHash(t, env, ns, "gradual-rollout-preview"), rsHashOfImage(t, env, ns, green); got != want {
		t.Errorf("canary Service selects %q after completion, want %q", got, want)
	}
	reasons := eventReasons(t, env, ns, name)
	for _, want := range []string{"NewReplicaSetCreated", "RolloutUpdated", "ScalingReplicaSet", "RolloutStepCompleted",
		"RolloutPaused", "RolloutResumed", "RolloutCompleted"} {
		if !slices.Contains(reasons, want) {
			t.Errorf("no %s event; events: %v", want, reasons)
		}
	}
}

// TestSeedKeptnPromotedThreeTimes: the Keptn podtatohead rollout (4 replicas, 25/50/75% with
// indefinite pauses) released by three promotes, as the Keptn release task does.
func TestSeedKeptnPromotedThreeTimes(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	const name, v1, v2 = "podtatohead-prod", "ghcr.io/podtato-head/podtatoserver:v0.1.1", "ghcr.io/podtato-head/podtatoserver:v0.1.2"
	applyManifests(t, env, ns, "examples/seeds/keptn-podtatohead-rollout.yaml", nil)
	waitState(t, env, ns, name, waitLong, snapshot{Phase: "Healthy", Step: 6, Stable: v1, Sets: v1 + "=4/4"})
	setImage(t, env, ns, name, v2)
	for i, want := range []snapshot{
		{Phase: "Paused", Step: 1, Stable: v1, Sets: v1 + "=3/3 " + v2 + "=1/1"},
		{Phase: "Paused", Step: 3, Stable: v1, Sets: v1 + "=2/2 " + v2 + "=2/2"},
		{Phase: "Paused", Step: 5, Stable: v1, Sets: v1 + "=1/1 " + v2 + "=3/3"},
	} {
		waitState(t, env, ns, name, waitLong, want)
		t.Logf("promote %d", i+1)
		promote(t, env, ns, name, false)
	}
	waitState(t, env, ns, name, waitLong, snapshot{Phase: "Healthy", Step: 6, Stable: v2, Sets: v2 + "=4/4"})
}

// newSimpleRollout creates a 4-replica rollout (20% -> pause{} -> 50% -> pause{}) and waits
// until its first revision is healthy.
func newSimpleRollout(t *testing.T, env *testenv.Env, ns string, mutate func(*v1alpha1.Rollout)) {
	t.Helper()
	applyManifests(t, env, ns, "examples/seeds/keptn-podtatohead-rollout.yaml", func(ro *v1alpha1.Rollout) {
		ro.Name = "app"
		w20, w50 := int32(20), int32(50)
		ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: &w20}, {Pause: &v1alpha1.RolloutPause{}},
			{SetWeight: &w50}, {Pause: &v1alpha1.RolloutPause{}}}
		ro.Spec.Template.Spec.Containers[0].Image = "app:1"
		if mutate != nil {
			mutate(ro)
		}
	})
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 4, Stable: "app:1", Sets: "app:1=4/4"})
}

// TestAbortThenRetry: abort at 50% returns every pod to stable (Degraded, RolloutAborted);
// retry starts the steps again.
func TestAbortThenRetry(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	newSimpleRollout(t, env, ns, nil)
	setImage(t, env, ns, "app", "app:2")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1, Sets: "app:1=4/4 app:2=1/1"})
	promote(t, env, ns, "app", false)
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 3, Sets: "app:1=2/2 app:2=2/2"})

	if err := actions.Abort(ctx, env.Client, ns, "app"); err != nil {
		t.Fatal(err)
	}
	// as in Argo, an aborted update is back at step 0
	ro := waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Degraded", Step: 0, Stable: "app:1", Sets: "app:1=4/4",
		Message: "RolloutAborted: Rollout aborted update to revision 2"})
	if ro.Status.AbortedAt == nil || len(ro.Status.PauseConditions) != 0 {
		t.Errorf("aborted status: abortedAt=%v pauseConditions=%v", ro.Status.AbortedAt, ro.Status.PauseConditions)
	}
	if !slices.Contains(eventReasons(t, env, ns, "app"), "RolloutAborted") {
		t.Error("no RolloutAborted event")
	}

	if err := actions.Retry(ctx, env.Client, ns, "app"); err != nil {
		t.Fatal(err)
	}
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1, Sets: "app:1=4/4 app:2=1/1"})
}

// TestPromoteFull skips every remaining step.
func TestPromoteFull(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	newSimpleRollout(t, env, ns, nil)
	setImage(t, env, ns, "app", "app:2")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1})
	promote(t, env, ns, "app", true)
	ro := waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 4, Stable: "app:2", Sets: "app:2=4/4"})
	if ro.Status.PromoteFull {
		t.Error("promoteFull still set after the update completed")
	}
}

// TestRollbackToStableMidUpdateIsImmediate: putting the stable template back in the middle of an
// update skips the steps; a new image in the middle of an update supersedes the canary.
func TestRollbackToStableMidUpdateIsImmediate(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	newSimpleRollout(t, env, ns, nil)
	setImage(t, env, ns, "app", "app:2")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1, Sets: "app:1=4/4 app:2=1/1"})

	setImage(t, env, ns, "app", "app:3") // superseded: app:2 goes away, app:3 starts at step 0
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1, Stable: "app:1", Sets: "app:1=4/4 app:3=1/1"})

	setImage(t, env, ns, "app", "app:1") // back to stable: no steps, no pause
	ro := waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 4, Stable: "app:1", Sets: "app:1=4/4"})
	if len(ro.Status.PauseConditions) != 0 {
		t.Errorf("pause conditions after rollback: %v", ro.Status.PauseConditions)
	}
}

// TestUndoToPreviousRevision puts the previous revision's template back; its ReplicaSet is
// reused with a new revision number.
func TestUndoToPreviousRevision(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	newSimpleRollout(t, env, ns, nil)
	setImage(t, env, ns, "app", "app:2")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1})
	promote(t, env, ns, "app", true)
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 4, Stable: "app:2", Sets: "app:2=4/4"})

	rev, err := actions.Undo(ctx, env.Client, ns, "app", 0)
	if err != nil {
		t.Fatal(err)
	}
	if rev != 1 {
		t.Errorf("undo went to revision %d, want 1", rev)
	}
	// app:1 is a new revision of the rollout: it runs the steps like any update, on its old
	// ReplicaSet, which gets revision 3
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1, Stable: "app:2", Sets: "app:1=1/1 app:2=4/4"})
	assertReplicaSetCount(t, env, ns, 2)
	hash := rsHashOfImage(t, env, ns, "app:1")
	ro := waitState(t, env, ns, "app", time.Second, snapshot{Step: anyStep})
	if ro.Status.CurrentPodHash != hash {
		t.Errorf("currentPodHash %s, want the reused ReplicaSet's hash %s", ro.Status.CurrentPodHash, hash)
	}
	var rs appsv1.ReplicaSet
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-" + hash}, &rs); err != nil {
		t.Fatal(err)
	}
	if rs.Annotations[v1alpha1.RevisionAnnotation] != "3" || rs.Annotations[v1alpha1.RevisionHistoryAnnotation] != "1" {
		t.Errorf("reused ReplicaSet annotations %v, want revision 3 with history 1", rs.Annotations)
	}
}

// TestRollbackWindowSkipsSteps: with rollbackWindow.revisions 1, undoing to the previous
// revision goes straight to full size, without steps or pauses.
func TestRollbackWindowSkipsSteps(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	newSimpleRollout(t, env, ns, func(ro *v1alpha1.Rollout) {
		ro.Spec.RollbackWindow = &v1alpha1.RollbackWindowSpec{Revisions: 1}
	})
	setImage(t, env, ns, "app", "app:2")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1})
	promote(t, env, ns, "app", true)
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 4, Stable: "app:2", Sets: "app:2=4/4"})
	if _, err := actions.Undo(context.Background(), env.Client, ns, "app", 0); err != nil {
		t.Fatal(err)
	}
	ro := waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 4, Stable: "app:1", Sets: "app:1=4/4"})
	if n := countReasons(eventReasons(t, env, ns, "app"), "RolloutPaused"); n != 1 {
		t.Errorf("%d pauses, want only the first update's; events %v", n, eventReasons(t, env, ns, "app"))
	}
	if ro.Status.CurrentPodHash != ro.Status.StableRS {
		t.Errorf("status %+v", ro.Status)
	}
	assertReplicaSetCount(t, env, ns, 2)
}

func countReasons(reasons []string, want string) int {
	n := 0
	for _, r := range reasons {
		if r == want {
			n++
		}
	}
	return n
}

// assertReplicaSetCount checks that the namespace has n ReplicaSets: one per template.
func assertReplicaSetCount(t *testing.T, env *testenv.Env, ns string, n int) {
	t.Helper()
	var list appsv1.ReplicaSetList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != n {
		var names []string
		for _, rs := range list.Items {
			names = append(names, rs.Name+"("+rs.Annotations[v1alpha1.RevisionAnnotation]+")")
		}
		t.Errorf("%d ReplicaSets %v, want %d", len(list.Items), names, n)
	}
}
