package rollout

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/strategy"
)

// restartPollInterval is how often a restart in progress is looked at again.
const restartPollInterval = time.Second

// restart replaces the pods created before spec.restartAt through the Eviction API (so that
// PodDisruptionBudgets hold), at most max(maxUnavailable, 1) pods down at a time (per
// ReplicaSet for blue/green), and records status.restartedAt when none is left. It returns when
// to look again (0: nothing to do).
func (r *Reconciler) restart(ctx context.Context, s *syncState) (time.Duration, error) {
	ro := s.ro
	at := ro.Spec.RestartAt
	if at == nil || (ro.Status.RestartedAt != nil && !ro.Status.RestartedAt.Before(at)) || ro.Status.Abort {
		return 0, nil
	}
	if wait := at.Sub(s.now); wait > 0 {
		return wait, nil // a restart planned for later
	}
	pods, err := r.rolloutPods(ctx, s)
	if err != nil {
		return 0, err
	}
	evict, done, err := podsToEvict(s, pods, at.Time)
	if err != nil {
		return 0, err
	}
	if done {
		ro.Status.RestartedAt = at.DeepCopy()
		s.event(false, "RolloutRestarted", "Restarted all pods created before %s", at.UTC().Format(time.RFC3339))
		return 0, nil
	}
	for _, p := range evict {
		ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
		err := r.Client.SubResource("eviction").Create(ctx, p, ev)
		switch {
		case apierrors.IsTooManyRequests(err):
			return restartPollInterval, nil // a PodDisruptionBudget says not now
		case apierrors.IsNotFound(err):
		case err != nil:
			return 0, fmt.Errorf("evicting pod %s: %w", p.Name, err)
		}
	}
	return restartPollInterval, nil
}

// podsToEvict picks the pods created before at that may go now, group by group, each group
// keeping its own availability: all the pods for a canary (they share its traffic), each
// ReplicaSet apart for blue/green (the active one and the preview serve different Services).
// done says every pod is newer than at and available.
func podsToEvict(s *syncState, pods []*corev1.Pod, at time.Time) (evict []*corev1.Pod, done bool, err error) {
	ro := s.ro
	groups := map[string][]*corev1.Pod{}
	desired := map[string]int32{"": ro.Spec.EffectiveReplicas()}
	for _, rs := range s.sets {
		desired[string(rs.UID)] = ptr.Deref(rs.Spec.Replicas, 1)
	}
	for _, p := range pods {
		key := ""
		if ro.Spec.Strategy.BlueGreen != nil {
			key = string(metav1.GetControllerOf(p).UID)
		}
		groups[key] = append(groups[key], p)
	}
	done = true
	for key, group := range groups {
		var old []*corev1.Pod
		available := int32(0)
		for _, p := range group {
			if p.DeletionTimestamp != nil || !podReady(p) {
				continue
			}
			available++
			if p.CreationTimestamp.Time.Before(at) {
				old = append(old, p)
			}
		}
		if len(old) > 0 || available != int32(len(group)) {
			done = false
		}
		b, err := strategy.BudgetOf(ro, desired[key])
		if err != nil {
			return nil, false, err
		}
		// evict only while desired-max(maxUnavailable,1) pods stay available
		allowed := available - (desired[key] - max(b.MaxUnavailable, 1))
		evict = append(evict, old[:min(len(old), int(max(allowed, 0)))]...)
	}
	return evict, done, nil
}

// rolloutPods lists the pods of the rollout's ReplicaSets, straight from the API: the cache
// holds no pods, which keeps the controller small, and restarts are rare.
func (r *Reconciler) rolloutPods(ctx context.Context, s *syncState) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(s.selector)
	if err != nil {
		return nil, fmt.Errorf("rollout selector: %w", err)
	}
	var list corev1.PodList
	if err := r.APIReader.List(ctx, &list, client.InNamespace(s.ro.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	owned := map[string]bool{}
	for _, rs := range s.sets {
		owned[string(rs.UID)] = true
	}
	var out []*corev1.Pod
	for i := range list.Items {
		p := &list.Items[i]
		if ref := metav1.GetControllerOf(p); ref != nil && owned[string(ref.UID)] && p.Labels[v1alpha1.PodTemplateHashLabel] != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
