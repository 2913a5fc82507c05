// Package actions holds the operator actions on a Rollout: promote, abort, retry, pause,
// restart, undo and set image. Each writes the same fields Argo Rollouts' kubectl plugin and
// Argo CD's resource actions write, so those clients and Vane's own users of this package (the
// CLI in internal/cli, `make demo-traffic`, the benchmark and the end-to-end tests) drive the
// controller the same way.
package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// ErrNothingToPromote is returned by Promote for a rollout with no pause and no step left.
var ErrNothingToPromote = errors.New("nothing to promote: the rollout is not paused and has no step left")

// ErrNotUpdating is returned by Abort (and Promote --full) for a rollout whose current template
// is already the stable one: there is no update to stop or finish.
var ErrNotUpdating = errors.New("the rollout is not updating: its current template is the stable one")

// updating reports whether the rollout is moving to a template that is not stable yet.
func updating(ro *v1alpha1.Rollout) bool {
	return ro.Status.CurrentPodHash != "" && ro.Status.CurrentPodHash != ro.Status.StableRS
}

// Promotion says what Promote did.
type Promotion struct {
	// Unpaused: spec.paused was set and is now cleared.
	Unpaused bool
	// PauseEnded: the rollout's pause conditions were cleared (a pause step or a blue/green
	// pause ends).
	PauseEnded bool
	// SkippedStep is the canary step skipped because nothing paused the rollout (-1: none).
	SkippedStep int32
	// Full: every remaining step is skipped (promote --full).
	Full bool
}

// Promote releases a paused rollout. Without full it ends the current pause (spec.paused and
// status.pauseConditions cleared) or, when nothing pauses it, skips the current canary step.
// With full it skips every remaining step (status.promoteFull).
func Promote(ctx context.Context, c client.Client, ns, name string, full bool) (Promotion, error) {
	did := Promotion{SkippedStep: -1}
	ro, err := get(ctx, c, ns, name)
	if err != nil {
		return did, err
	}
	if ro.Spec.Paused {
		if err := patchSpec(ctx, c, ro, map[string]any{"paused": false}); err != nil {
			return did, err
		}
		did.Unpaused = true
	}
	switch {
	case full && !updating(ro) && !did.Unpaused:
		return did, fmt.Errorf("rollout %s/%s: %w", ns, name, ErrNotUpdating)
	case full && updating(ro):
		err = patchStatus(ctx, c, ro, map[string]any{"promoteFull": true, "pauseConditions": nil})
		did.Full = true
	case len(ro.Status.PauseConditions) > 0:
		err = patchStatus(ctx, c, ro, map[string]any{"pauseConditions": nil})
		did.PauseEnded = true
	case did.Unpaused:
		// unpausing was the promotion
	case ro.Spec.Strategy.Canary != nil && ro.Status.CurrentStepIndex != nil &&
		int(*ro.Status.CurrentStepIndex) < len(ro.Spec.Strategy.Canary.Steps):
		err = patchStatus(ctx, c, ro, map[string]any{"currentStepIndex": *ro.Status.CurrentStepIndex + 1})
		did.SkippedStep = *ro.Status.CurrentStepIndex
	default:
		return did, fmt.Errorf("rollout %s/%s: %w", ns, name, ErrNothingToPromote)
	}
	return did, err
}

// Abort stops the update: the canary goes back to zero and the stable ReplicaSet to full size.
func Abort(ctx context.Context, c client.Client, ns, name string) error {
	ro, err := get(ctx, c, ns, name)
	if err != nil {
		return err
	}
	if !updating(ro) {
		return fmt.Errorf("rollout %s/%s: %w: nothing to abort", ns, name, ErrNotUpdating)
	}
	return patchStatus(ctx, c, ro, map[string]any{"abort": true})
}

// Retry restarts an aborted update from its first step.
func Retry(ctx context.Context, c client.Client, ns, name string) error {
	ro, err := get(ctx, c, ns, name)
	if err != nil {
		return err
	}
	if !ro.Status.Abort {
		return fmt.Errorf("rollout %s/%s is not aborted: nothing to retry", ns, name)
	}
	return patchStatus(ctx, c, ro, map[string]any{"abort": false})
}

// Pause holds the rollout where it is (spec.paused) until it is promoted.
func Pause(ctx context.Context, c client.Client, ns, name string) error {
	ro, err := get(ctx, c, ns, name)
	if err != nil {
		return err
	}
	return patchSpec(ctx, c, ro, map[string]any{"paused": true})
}

// Restart asks for every pod created before at to be replaced (spec.restartAt).
func Restart(ctx context.Context, c client.Client, ns, name string, at time.Time) error {
	ro, err := get(ctx, c, ns, name)
	if err != nil {
		return err
	}
	return patchSpec(ctx, c, ro, map[string]any{"restartAt": at.UTC().Format(time.RFC3339)})
}

func get(ctx context.Context, c client.Client, ns, name string) (*v1alpha1.Rollout, error) {
	ro := &v1alpha1.Rollout{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
		return nil, fmt.Errorf("rollout %s/%s: %w", ns, name, err)
	}
	return ro, nil
}

func patchSpec(ctx context.Context, c client.Client, ro *v1alpha1.Rollout, spec map[string]any) error {
	b, err := json.Marshal(map[string]any{"spec": spec})
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, ro, client.RawPatch("application/merge-patch+json", b)); err != nil {
		return fmt.Errorf("rollout %s/%s: %w", ro.Namespace, ro.Name, err)
	}
	return nil
}

func patchStatus(ctx context.Context, c client.Client, ro *v1alpha1.Rollout, status map[string]any) error {
	b, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	if err := c.Status().Patch(ctx, ro, client.RawPatch("application/merge-patch+json", b)); err != nil {
		return fmt.Errorf("rollout %s/%s: %w", ro.Namespace, ro.Name, err)
	}
	return nil
}
