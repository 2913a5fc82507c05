package main

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The floor: plain Deployments with the Rollouts' replicas, maxSurge and maxUnavailable,
// updated at once in their own namespace. Their update is the pod churn the cluster itself must
// do (kube-controller-manager, the scheduler, kwok, the API server) with no Vane in the loop.
const floorNamespace = "bench-floor"

// Argo's canary defaults, given to the Rollouts and the Deployments alike.
var (
	maxSurge       = intstr.FromString("25%")
	maxUnavailable = intstr.FromString("25%")
)

func deploymentName(i int) string { return fmt.Sprintf("dep-%04d", i) }

// deployments is the target of the floor's phases.
func (b *bench) deployments() *target {
	return &target{kind: "Deployment", ns: floorNamespace, name: deploymentName,
		newList: func() client.ObjectList { return &appsv1.DeploymentList{} },
		state: func(o client.Object) string {
			d := o.(*appsv1.Deployment)
			if d.Status.ObservedGeneration != d.Generation {
				return "stale generation"
			}
			return fmt.Sprintf("updated %d", d.Status.UpdatedReplicas)
		},
		describe: func(o client.Object) string {
			d := o.(*appsv1.Deployment)
			st := d.Status
			return fmt.Sprintf("%s: generation %d observed %d replicas=%d updated=%d available=%d", d.Name, d.Generation,
				st.ObservedGeneration, st.Replicas, st.UpdatedReplicas, st.AvailableReplicas)
		},
	}
}

// floorPhases create the Deployments and update them all.
func (b *bench) floorPhases() []phaseSpec {
	t := b.deployments()
	return []phaseSpec{
		{name: "floor: create Deployments -> all available", t: t, act: b.createDeployment, done: b.deploymentDone},
		{name: "floor: update Deployments -> all rolled out", t: t, act: b.updateDeployment, done: b.deploymentDone},
	}
}

func (b *bench) createDeployment(ctx context.Context, name string) error {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: floorNamespace, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(b.cfg.replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(maxSurge), MaxUnavailable: ptr.To(maxUnavailable)}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: imageV1}}},
			},
		},
	}
	return b.c.Create(ctx, d)
}

func (b *bench) updateDeployment(ctx context.Context, name string) error {
	patch := []byte(fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":%q}]}}}}`, imageV2))
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: floorNamespace, Name: name}}
	return b.c.Patch(ctx, d, client.RawPatch(types.StrategicMergePatchType, patch))
}

// deploymentDone: the Deployment controller saw the last spec, and every replica is updated and
// available, with no old pod left.
func (b *bench) deploymentDone(o client.Object) bool {
	d := o.(*appsv1.Deployment)
	st, want := d.Status, int32(b.cfg.replicas)
	return st.ObservedGeneration == d.Generation && st.UpdatedReplicas == want && st.AvailableReplicas == want &&
		st.Replicas == want
}
