package canary

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// Finalizer is the finalizer a Canary with revertOnDeletion carries (Flagger's name).
const Finalizer = "finalizer.flagger.app"

// ensureFinalizer adds the finalizer to a Canary with revertOnDeletion (and removes it when the
// field is turned off).
func (r *Reconciler) ensureFinalizer(ctx context.Context, cd *flaggerv1.Canary) error {
	has := controllerutil.ContainsFinalizer(cd, Finalizer)
	if has == cd.RevertOnDeletion() {
		return nil
	}
	patch := client.MergeFrom(cd.DeepCopy())
	if has {
		controllerutil.RemoveFinalizer(cd, Finalizer)
	} else {
		controllerutil.AddFinalizer(cd, Finalizer)
	}
	if err := r.Client.Patch(ctx, cd, patch); err != nil {
		return fmt.Errorf("updating the finalizers of canary %s.%s: %w", cd.Name, cd.Namespace, err)
	}
	return nil
}

// finalize reverts a deleted Canary with revertOnDeletion as Flagger does: phase Terminating,
// the target scaled back to the primary's replicas, the apex Service pointed at the target, the
// router's objects reverted; then Terminated and the finalizer removed.
func (r *Reconciler) finalize(ctx context.Context, cd *flaggerv1.Canary) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(cd, Finalizer) {
		return reconcile.Result{}, nil
	}
	if cd.Status.Phase != flaggerv1.PhaseTerminating && cd.Status.Phase != flaggerv1.PhaseTerminated {
		if err := r.setPhase(ctx, cd, flaggerv1.PhaseTerminating); err != nil {
			return reconcile.Result{}, err
		}
		r.Recorder.Eventf(cd, "Normal", reasonSynced, "Terminating canary %s.%s", cd.Name, cd.Namespace)
	}
	if err := r.revert(ctx, cd); err != nil {
		r.Recorder.Eventf(cd, "Warning", reasonSynced, "%v", err)
		return reconcile.Result{}, err
	}
	if err := r.setPhase(ctx, cd, flaggerv1.PhaseTerminated); err != nil {
		return reconcile.Result{}, err
	}
	patch := client.MergeFrom(cd.DeepCopy())
	controllerutil.RemoveFinalizer(cd, Finalizer)
	if err := r.Client.Patch(ctx, cd, patch); err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, fmt.Errorf("removing the finalizer of canary %s.%s: %w", cd.Name, cd.Namespace, err)
	}
	return reconcile.Result{}, nil
}

func (r *Reconciler) setPhase(ctx context.Context, cd *flaggerv1.Canary, phase flaggerv1.CanaryPhase) error {
	patch := client.MergeFrom(cd.DeepCopy())
	cd.Status.Phase = phase
	if err := r.Client.Status().Patch(ctx, cd, patch); err != nil {
		return fmt.Errorf("failed to update status: %w", err)
	}
	return nil
}

// revert gives the target back its traffic: scaled like the primary, selected by the apex Service.
func (r *Reconciler) revert(ctx context.Context, cd *flaggerv1.Canary) error {
	w, err := r.readWorkload(ctx, cd)
	if err != nil {
		return fmt.Errorf("failed to revert target: %w", err)
	}
	replicas := int32(1)
	if w.primary != nil && w.primary.Spec.Replicas != nil {
		replicas = *w.primary.Spec.Replicas
	}
	if w.target.Spec.Replicas == nil || *w.target.Spec.Replicas != replicas {
		if err := r.scaleTarget(ctx, w, replicas); err != nil {
			return fmt.Errorf("failed to revert target: %w", err)
		}
	}
	apex, _, _ := cd.ServiceNames()
	if err := r.reconcileService(ctx, cd, w, apex, w.value, nil); err != nil {
		return fmt.Errorf("failed revert router: %w", err)
	}
	factory := r.Routers
	if factory == nil {
		factory = KubernetesOnly
	}
	router, err := factory(r.provider(cd))
	if err == nil {
		err = router.Finalize(ctx, cd)
	}
	if err != nil {
		return fmt.Errorf("failed to revert mesh: %w", err)
	}
	return nil
}
