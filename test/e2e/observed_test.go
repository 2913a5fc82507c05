package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// controllerObserved makes sure the controller has run a whole reconcile of the rollout since
// this call, so that a test can then assert that nothing happened (a slow controller must not
// pass for a correct one). It changes spec.revisionHistoryLimit by one (a new generation that
// changes nothing the test looks at: scaled-down ReplicaSets only) and waits until
// status.observedGeneration reaches it, then puts the limit back and waits again. A reconcile
// stores observedGeneration only when it completed.
func controllerObserved(t *testing.T, env *testenv.Env, ns, name string) *v1alpha1.Rollout {
	t.Helper()
	ro := getRollout(t, env, ns, name)
	was := ro.Spec.RevisionHistoryLimit
	setHistoryLimit(t, env, ro, ptr.To(ro.Spec.EffectiveRevisionHistoryLimit()+1))
	ro = waitObservedGeneration(t, env, ns, name)
	setHistoryLimit(t, env, ro, was)
	return waitObservedGeneration(t, env, ns, name)
}

func getRollout(t *testing.T, env *testenv.Env, ns, name string) *v1alpha1.Rollout {
	t.Helper()
	ro := &v1alpha1.Rollout{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
		t.Fatal(err)
	}
	return ro
}

func setHistoryLimit(t *testing.T, env *testenv.Env, ro *v1alpha1.Rollout, limit *int32) {
	t.Helper()
	patch := client.MergeFrom(ro.DeepCopy())
	ro.Spec.RevisionHistoryLimit = limit
	if err := env.Client.Patch(context.Background(), ro, patch); err != nil {
		t.Fatal(err)
	}
}

// waitObservedGeneration waits until the controller stored a status for the rollout's current
// generation.
func waitObservedGeneration(t *testing.T, env *testenv.Env, ns, name string) *v1alpha1.Rollout {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		ro := getRollout(t, env, ns, name)
		if ro.Status.ObservedGeneration == fmt.Sprint(ro.Generation) {
			return ro
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout %s/%s: the controller did not observe generation %d in %s (observed %q)",
				ns, name, ro.Generation, waitLong, ro.Status.ObservedGeneration)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
