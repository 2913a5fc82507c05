package canary

import (
	"context"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

func (r *Reconciler) readHPA(ctx context.Context, cd *flaggerv1.Canary, name string) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: cd.Namespace, Name: name}, &hpa); err != nil {
		return nil, fmt.Errorf("HorizontalPodAutoscaler %s.%s get query error: %w", name, cd.Namespace, err)
	}
	return &hpa, nil
}

// reconcilePrimaryHPA keeps <hpa>-primary, a copy of the autoscalerRef's HPA that scales the
// primary (with primaryScalerReplicas' bounds when set).
func (r *Reconciler) reconcilePrimaryHPA(ctx context.Context, cd *flaggerv1.Canary) error {
	ref := cd.Spec.AutoscalerRef
	if ref == nil {
		return nil
	}
	if ref.Kind != "HorizontalPodAutoscaler" {
		return fmt.Errorf("spec.autoscalerRef.kind %q is not supported by Vane: only HorizontalPodAutoscaler is", ref.Kind)
	}
	hpa, err := r.readHPA(ctx, cd, ref.Name)
	if err != nil {
		return err
	}
	spec := *hpa.Spec.DeepCopy()
	spec.ScaleTargetRef.Name = cd.PrimaryName()
	if b := ref.PrimaryScalerReplicas; b != nil {
		if b.MinReplicas != nil {
			spec.MinReplicas = b.MinReplicas
		}
		if b.MaxReplicas != nil {
			spec.MaxReplicas = *b.MaxReplicas
		}
	}
	name := ref.Name + "-primary"
	primary, err := r.readHPA(ctx, cd, name)
	if apierrors.IsNotFound(err) {
		primary = &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cd.Namespace,
			Labels: filterToolkit(hpa.Labels), Annotations: filterToolkit(hpa.Annotations),
			OwnerReferences: []metav1.OwnerReference{ownerRef(cd)}}, Spec: spec}
		if err := r.Client.Create(ctx, primary); err != nil {
			return fmt.Errorf("creating HorizontalPodAutoscaler %s.%s failed: %w", name, cd.Namespace, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(primary.Spec, spec) {
		return nil
	}
	next := primary.DeepCopy()
	next.Spec = spec
	if err := r.Client.Patch(ctx, next, client.MergeFrom(primary)); err != nil {
		return fmt.Errorf("updating HorizontalPodAutoscaler %s.%s failed: %w", name, cd.Namespace, err)
	}
	return nil
}
