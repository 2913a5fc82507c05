package keptn

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/actions"
)

// act does what t asks of the rollout.
func (s *Service) act(ctx context.Context, target Target, t *Task) error {
	switch t.Task {
	case TaskTest:
		return s.save(ctx, target, t, func(x *Task) { x.State = stateAwaiting })
	case TaskRelease:
		return s.release(ctx, target, t)
	case TaskRollback:
		return s.rollback(ctx, target, t)
	case TaskDeployment:
		return s.deploy(ctx, target, t)
	}
	return s.finish(ctx, target, t, ResultFail, StatusErrored, "Vane does not handle task "+t.Task)
}

// check looks at what an acted-on task waits for and records its outcome when it is there.
func (s *Service) check(ctx context.Context, target Target, t *Task) error {
	if t.Task == TaskTest {
		if t.WaitUntil != nil && s.opts.Clock.Now().Before(*t.WaitUntil) {
			return nil
		}
		return s.finish(ctx, target, t, ResultPass, StatusSucceeded, "canary wait of "+t.WaitUntil.Sub(t.Received).String()+" over")
	}
	ro := &v1alpha1.Rollout{}
	if err := s.opts.Client.Get(ctx, client.ObjectKey{Namespace: target.Namespace, Name: target.Name}, ro); err != nil {
		if apierrors.IsNotFound(err) {
			return s.finish(ctx, target, t, ResultFail, StatusErrored, fmt.Sprintf("rollout %s/%s is gone", target.Namespace, target.Name))
		}
		return fmt.Errorf("rollout %s/%s: %w", target.Namespace, target.Name, err)
	}
	var done bool
	var result, message string
	switch t.Task {
	case TaskRelease:
		done, result, message = releaseOutcome(ro, t.FromStep)
	case TaskDeployment:
		done, result, message = deploymentOutcome(ro, t.Generation)
	case TaskRollback:
		var err error
		if done, message, err = s.stableWhole(ctx, ro); err != nil {
			return err
		}
		result = ResultPass
	}
	if !done {
		return nil
	}
	status := StatusSucceeded
	if result == ResultFail {
		status = StatusErrored
	}
	return s.finish(ctx, target, t, result, status, message)
}

func step(ro *v1alpha1.Rollout) int32 { return ptr.Deref(ro.Status.CurrentStepIndex, 0) }

func paused(ro *v1alpha1.Rollout) bool {
	return ro.Spec.Paused || len(ro.Status.PauseConditions) > 0
}

func failed(ro *v1alpha1.Rollout) (bool, string) {
	if ro.Status.Abort || ro.Status.Phase == v1alpha1.RolloutPhaseDegraded {
		msg := ro.Status.Message
		if msg == "" {
			msg = "the rollout was aborted"
		}
		return true, msg
	}
	return false, ""
}

// releaseOutcome: the promotion from step from is over when the rollout pauses at a later
// step or is Healthy on its new version; it failed when the rollout aborted or degraded.
func releaseOutcome(ro *v1alpha1.Rollout, from int32) (bool, string, string) {
	if bad, msg := failed(ro); bad {
		return true, ResultFail, msg
	}
	if ro.Status.Phase == v1alpha1.RolloutPhasePaused && step(ro) > from {
		return true, ResultPass, fmt.Sprintf("rollout paused at step %d", step(ro))
	}
	if ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.CurrentPodHash == ro.Status.StableRS && step(ro) > from {
		return true, ResultPass, "rollout Healthy: the new version serves all replicas"
	}
	return false, "", ""
}

// deploymentOutcome: a deployment is over when the controller saw generation and the rollout
// paused (its first pause) or is Healthy.
func deploymentOutcome(ro *v1alpha1.Rollout, generation int64) (bool, string, string) {
	if ro.Status.ObservedGeneration != strconv.FormatInt(generation, 10) {
		return false, "", ""
	}
	if bad, msg := failed(ro); bad {
		return true, ResultFail, msg
	}
	switch ro.Status.Phase {
	case v1alpha1.RolloutPhasePaused:
		return true, ResultPass, fmt.Sprintf("rollout paused at step %d", step(ro))
	case v1alpha1.RolloutPhaseHealthy:
		return true, ResultPass, "rollout Healthy"
	}
	return false, "", ""
}

// release promotes the rollout once it rests at a pause. The step promoted from is stored
// before the promotion, so that after a restart the promotion is not repeated.
func (s *Service) release(ctx context.Context, target Target, t *Task) error {
	if !t.Release {
		return s.finish(ctx, target, t, ResultPass, StatusSucceeded, t.Message)
	}
	ro := &v1alpha1.Rollout{}
	if err := s.opts.Client.Get(ctx, client.ObjectKey{Namespace: target.Namespace, Name: target.Name}, ro); err != nil {
		if apierrors.IsNotFound(err) {
			return s.finish(ctx, target, t, ResultFail, StatusErrored, fmt.Sprintf("rollout %s/%s not found", target.Namespace, target.Name))
		}
		return fmt.Errorf("rollout %s/%s: %w", target.Namespace, target.Name, err)
	}
	if bad, msg := failed(ro); bad {
		return s.finish(ctx, target, t, ResultFail, StatusErrored, msg)
	}
	if t.State == statePromoting && !(paused(ro) && step(ro) == t.FromStep) {
		return s.save(ctx, target, t, func(x *Task) { x.State = stateAwaiting }) // promoted before a restart
	}
	if !paused(ro) {
		if ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.CurrentPodHash == ro.Status.StableRS {
			return s.finish(ctx, target, t, ResultPass, StatusSucceeded, "nothing to do: the rollout is Healthy, nothing left to promote")
		}
		return nil // on its way to a pause: promoted when it rests there
	}
	from := step(ro)
	if err := s.save(ctx, target, t, func(x *Task) { x.State, x.FromStep = statePromoting, from }); err != nil {
		return err
	}
	if _, err := actions.Promote(ctx, s.opts.Client, target.Namespace, target.Name, false); err != nil {
		return fmt.Errorf("promoting: %w", err)
	}
	return s.save(ctx, target, t, func(x *Task) { x.State = stateAwaiting })
}

// rollback aborts the update; it is over when the stable version serves every replica.
func (s *Service) rollback(ctx context.Context, target Target, t *Task) error {
	err := actions.Abort(ctx, s.opts.Client, target.Namespace, target.Name)
	switch {
	case apierrors.IsNotFound(err):
		return s.finish(ctx, target, t, ResultFail, StatusErrored, fmt.Sprintf("rollout %s/%s not found", target.Namespace, target.Name))
	case err != nil && !errors.Is(err, actions.ErrNotUpdating):
		return fmt.Errorf("aborting: %w", err)
	}
	return s.save(ctx, target, t, func(x *Task) { x.State = stateAwaiting })
}

// stableWhole reports whether the stable ReplicaSet has all the rollout's replicas available
// and every other ReplicaSet of the rollout is scaled to zero.
func (s *Service) stableWhole(ctx context.Context, ro *v1alpha1.Rollout) (bool, string, error) {
	var list appsv1.ReplicaSetList
	if err := s.opts.Client.List(ctx, &list, client.InNamespace(ro.Namespace)); err != nil {
		return false, "", fmt.Errorf("listing the ReplicaSets of %s/%s: %w", ro.Namespace, ro.Name, err)
	}
	want := ptr.Deref(ro.Spec.Replicas, 1)
	stable := false
	for i := range list.Items {
		rs := &list.Items[i]
		if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != ro.UID {
			continue
		}
		if rs.Labels[v1alpha1.PodTemplateHashLabel] == ro.Status.StableRS {
			stable = ptr.Deref(rs.Spec.Replicas, 0) == want && rs.Status.AvailableReplicas == want
			continue
		}
		if ptr.Deref(rs.Spec.Replicas, 0) != 0 || rs.Status.Replicas != 0 {
			return false, "", nil
		}
	}
	if !stable {
		return false, "", nil
	}
	return true, fmt.Sprintf("rolled back: the stable version (%s) serves all %d replicas", ro.Status.StableRS, want), nil
}
