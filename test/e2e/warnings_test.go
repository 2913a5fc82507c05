package e2e

import (
	"strings"
	"testing"

	"github.com/vanedev/vane/api/v1alpha1"
)

// TestFieldNotActedOnEvent: a field Vane stores but does not act on (v1alpha1.RolloutWarnings)
// is never silent: the controller records a Warning event FieldNotActedOn naming it, once for
// the spec generation, and runs the rollout as usual.
func TestFieldNotActedOnEvent(t *testing.T) {
	t.Parallel() // its own namespace
	env := withController(t)
	ns := env.Namespace(t)
	const name, blue = "gradual-rollout", "argoproj/rollouts-demo:blue"
	applyManifests(t, env, ns, "examples/seeds/gradual-rollout.yaml", func(ro *v1alpha1.Rollout) {
		ro.Spec.Strategy.Canary.ReplicaProgressThreshold = &v1alpha1.ReplicaProgressThreshold{Type: v1alpha1.ProgressTypePods, Value: 2}
	})
	waitState(t, env, ns, name, waitLong, snapshot{Phase: "Healthy", Step: 6, Stable: blue, Sets: blue + "=3/3"})
	waitObservedGeneration(t, env, ns, name) // one generation: one event
	count := int32(0)
	for _, e := range rolloutEventList(t, env, ns, name) {
		if e.Type == "Warning" && e.Reason == "FieldNotActedOn" &&
			strings.HasPrefix(e.Message, "spec.strategy.canary.replicaProgressThreshold: stored but not acted on: ") {
			count += max(e.Count, 1)
		}
	}
	if count != 1 {
		t.Errorf("FieldNotActedOn for replicaProgressThreshold recorded %d times, want once; events:\n  %s",
			count, strings.Join(rolloutEvents(t, env, ns, name), "\n  "))
	}
}
