package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/actions"
)

func rolloutName(i int) string { return fmt.Sprintf("app-%04d", i) }

// rollouts is the target of Vane's phases.
func (b *bench) rollouts() *target {
	return &target{kind: "Rollout", ns: namespace, name: rolloutName,
		newList: func() client.ObjectList { return &v1alpha1.RolloutList{} },
		state: func(o client.Object) string {
			ro := o.(*v1alpha1.Rollout)
			s := string(ro.Status.Phase)
			if s == "" {
				s = "(none)"
			}
			if !observed(ro) {
				s += "(stale generation)"
			}
			return s
		},
		describe: func(o client.Object) string {
			ro := o.(*v1alpha1.Rollout)
			st := ro.Status
			return fmt.Sprintf("%s: generation %d observed %q phase=%s step=%d stable=%s current=%s replicas=%d/%d/%d message=%q",
				ro.Name, ro.Generation, st.ObservedGeneration, st.Phase, ptr.Deref(st.CurrentStepIndex, -1), st.StableRS,
				st.CurrentPodHash, st.Replicas, st.UpdatedReplicas, st.AvailableReplicas, st.Message)
		},
	}
}

// rolloutPhases are Vane's phases: create, update all, promote all; with -pause, create and
// update all (to the end: the pause ends by itself).
func (b *bench) rolloutPhases() []phaseSpec {
	t := b.rollouts()
	if b.cfg.pause > 0 {
		return []phaseSpec{
			{name: "create -> all Healthy", t: t, act: b.create, done: b.firstHealthy},
			{name: "update -> all Healthy on the new image", t: t, act: b.update, done: b.promotedHealthy, profile: true},
		}
	}
	return []phaseSpec{
		{name: "create -> all Healthy", t: t, act: b.create, done: b.firstHealthy},
		{name: "update -> all Paused at step 1", t: t, act: b.update, done: b.pausedAtStep1, profile: true},
		{name: "promote -> all Healthy on the new image", t: t, act: b.promote, done: b.promotedHealthy, profile: true},
	}
}

// newRollout is a bench Rollout: setWeight 50, then a pause of pause (0: pause {}).
func newRollout(name string, replicas int32, pause time.Duration) *v1alpha1.Rollout {
	step := &v1alpha1.RolloutPause{}
	if pause > 0 {
		step.Duration = ptr.To(v1alpha1.DurationString(intstr.FromString(pause.String())))
	}
	labels := map[string]string{"app": name}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: imageV1}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				// Argo's defaults, spelled out: the floor's Deployments use the same
				MaxSurge: ptr.To(maxSurge), MaxUnavailable: ptr.To(maxUnavailable),
				Steps: []v1alpha1.CanaryStep{
					{SetWeight: ptr.To[int32](50)},
					{Pause: step},
				}}},
		},
	}
}

func (b *bench) create(ctx context.Context, name string) error {
	return b.c.Create(ctx, newRollout(name, int32(b.cfg.replicas), b.cfg.pause))
}

func (b *bench) update(ctx context.Context, name string) error {
	return actions.SetImage(ctx, b.c, namespace, name, "*", imageV2)
}

func (b *bench) promote(ctx context.Context, name string) error {
	_, err := actions.Promote(ctx, b.c, namespace, name, false)
	return err
}

func observed(ro *v1alpha1.Rollout) bool {
	return ro.Status.ObservedGeneration == fmt.Sprint(ro.Generation)
}

func (b *bench) firstHealthy(o client.Object) bool {
	ro := o.(*v1alpha1.Rollout)
	st := ro.Status
	return observed(ro) && st.Phase == v1alpha1.RolloutPhaseHealthy && st.StableRS != "" &&
		st.StableRS == st.CurrentPodHash && st.AvailableReplicas == int32(b.cfg.replicas)
}

func (b *bench) pausedAtStep1(o client.Object) bool {
	ro := o.(*v1alpha1.Rollout)
	st := ro.Status
	return observed(ro) && st.Phase == v1alpha1.RolloutPhasePaused && ptr.Deref(st.CurrentStepIndex, -1) == 1 &&
		st.CurrentPodHash != "" && st.CurrentPodHash != b.oldHash[ro.Name]
}

func (b *bench) promotedHealthy(o client.Object) bool {
	ro := o.(*v1alpha1.Rollout)
	st := ro.Status
	return observed(ro) && st.Phase == v1alpha1.RolloutPhaseHealthy && st.StableRS == st.CurrentPodHash &&
		st.StableRS != b.oldHash[ro.Name] && ptr.Deref(st.CurrentStepIndex, -1) == 2 &&
		st.AvailableReplicas == int32(b.cfg.replicas) && st.UpdatedReplicas == int32(b.cfg.replicas)
}

func (b *bench) recordHashes(ctx context.Context) error {
	var list v1alpha1.RolloutList
	if err := b.c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return fmt.Errorf("listing rollouts: %w", err)
	}
	for _, ro := range list.Items {
		b.oldHash[ro.Name] = ro.Status.StableRS
	}
	return nil
}

// finalCheck verifies the end state from the ReplicaSets and pods, not only the status.
func (b *bench) finalCheck(ctx context.Context) (string, error) {
	var ros v1alpha1.RolloutList
	var sets appsv1.ReplicaSetList
	var pods corev1.PodList
	for _, l := range []client.ObjectList{&ros, &sets, &pods} {
		if err := b.c.List(ctx, l, client.InNamespace(namespace)); err != nil {
			return "", err
		}
	}
	byUID := map[string]*v1alpha1.Rollout{}
	for i := range ros.Items {
		byUID[string(ros.Items[i].UID)] = &ros.Items[i]
	}
	good, problems := b.checkSets(sets.Items, byUID)
	podsBy := map[string]int{}
	terminating := 0
	for i := range pods.Items {
		if pods.Items[i].DeletionTimestamp != nil {
			terminating++
			continue
		}
		podsBy[pods.Items[i].Spec.Containers[0].Image]++
	}
	msg := fmt.Sprintf("%d/%d rollouts have their stable ReplicaSet on %s at %d replicas, every other ReplicaSet at 0; pods: %d on %s, %d on %s, %d terminating",
		good, b.cfg.n, imageV2, b.cfg.replicas, podsBy[imageV2], imageV2, podsBy[imageV1], imageV1, terminating)
	if len(problems) > 0 || good != b.cfg.n {
		if len(problems) > 20 {
			problems = problems[:20]
		}
		return "", errors.New("final check: " + msg + "\n  " + strings.Join(problems, "\n  "))
	}
	return msg, nil
}

// checkSets counts the rollouts whose stable ReplicaSet runs the new image at full size and
// lists the ReplicaSets at the wrong size.
func (b *bench) checkSets(sets []appsv1.ReplicaSet, byUID map[string]*v1alpha1.Rollout) (int, []string) {
	good := 0
	var problems []string
	for i := range sets {
		rs := &sets[i]
		ref := metav1.GetControllerOf(rs)
		if ref == nil || byUID[string(ref.UID)] == nil {
			continue
		}
		ro := byUID[string(ref.UID)]
		hash := rs.Labels[v1alpha1.PodTemplateHashLabel]
		img := rs.Spec.Template.Spec.Containers[0].Image
		want := int32(0)
		if hash == ro.Status.StableRS {
			want = int32(b.cfg.replicas)
		}
		switch {
		case hash == ro.Status.StableRS && img == imageV2 && ptr.Deref(rs.Spec.Replicas, -1) == want:
			good++
		case ptr.Deref(rs.Spec.Replicas, -1) != want || (hash == ro.Status.StableRS && img != imageV2):
			problems = append(problems, fmt.Sprintf("%s: ReplicaSet %s image %s replicas %d (stable %s)",
				ro.Name, rs.Name, img, ptr.Deref(rs.Spec.Replicas, -1), ro.Status.StableRS))
		}
	}
	return good, problems
}
