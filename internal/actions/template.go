package actions

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/strategy"
)

// SetImage sets the image of container (every container, init containers included, for "*").
// It fails, changing nothing, when no container has that name.
func SetImage(ctx context.Context, c client.Client, ns, name, container, image string) error {
	ro, err := get(ctx, c, ns, name)
	if err != nil {
		return err
	}
	orig := ro.DeepCopy()
	found := false
	spec := &ro.Spec.Template.Spec
	for _, list := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
		for i := range list {
			if container == "*" || list[i].Name == container {
				list[i].Image = image
				found = true
			}
		}
	}
	for i := range spec.EphemeralContainers {
		if container == "*" || spec.EphemeralContainers[i].Name == container {
			spec.EphemeralContainers[i].Image = image
			found = true
		}
	}
	if !found {
		return fmt.Errorf("rollout %s/%s has no container named %q", ns, name, container)
	}
	return patchFrom(ctx, c, orig, ro)
}

// Undo puts the template of an earlier revision back in spec.template: toRevision, or the
// revision before the current one when toRevision is 0.
func Undo(ctx context.Context, c client.Client, ns, name string, toRevision int64) (int64, error) {
	ro, err := get(ctx, c, ns, name)
	if err != nil {
		return 0, err
	}
	if ro.Spec.WorkloadRef != nil {
		return 0, fmt.Errorf("rollout %s/%s takes its template from %s %q (workloadRef): undo the change there",
			ns, name, ro.Spec.WorkloadRef.Kind, ro.Spec.WorkloadRef.Name)
	}
	var list appsv1.ReplicaSetList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return 0, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	type rev struct {
		n  int64
		rs *appsv1.ReplicaSet
	}
	var revs []rev
	for i := range list.Items {
		rs := &list.Items[i]
		if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != ro.UID {
			continue
		}
		n, _ := strconv.ParseInt(rs.Annotations[v1alpha1.RevisionAnnotation], 10, 64)
		revs = append(revs, rev{n, rs})
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i].n > revs[j].n })
	var target *rev
	for i := range revs {
		if (toRevision == 0 && i == 1) || (toRevision != 0 && revs[i].n == toRevision) {
			target = &revs[i]
			break
		}
	}
	if target == nil {
		if toRevision == 0 {
			return 0, fmt.Errorf("rollout %s/%s has no previous revision to go back to", ns, name)
		}
		return 0, fmt.Errorf("rollout %s/%s has no revision %d", ns, name, toRevision)
	}
	orig := ro.DeepCopy()
	// the template as the user had it: not the hash label, role metadata or anti-affinity the
	// controller added to the ReplicaSet
	tmpl := strategy.UserTemplate(target.rs)
	ro.Spec.Template = *tmpl
	return target.n, patchFrom(ctx, c, orig, ro)
}

func patchFrom(ctx context.Context, c client.Client, orig, ro *v1alpha1.Rollout) error {
	if err := c.Patch(ctx, ro, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("rollout %s/%s: %w", ro.Namespace, ro.Name, err)
	}
	return nil
}
