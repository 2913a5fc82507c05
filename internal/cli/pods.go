package cli

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// podStatus is a pod's state in one word: Running (only when Ready), Pending, Succeeded,
// Failed, Terminating, or a waiting container's reason (CrashLoopBackOff...).
func podStatus(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Waiting != nil && c.State.Waiting.Reason != "" {
			return c.State.Waiting.Reason
		}
	}
	if p.Status.Phase == corev1.PodRunning && !ready(p) {
		return stProgressing
	}
	if p.Status.Phase == "" {
		return "Pending"
	}
	return string(p.Status.Phase)
}

// podInfo is "ready:n/m" and, when any, "restarts:k".
func podInfo(p *corev1.Pod) string {
	var readyN, restarts int32
	for _, c := range p.Status.ContainerStatuses {
		if c.Ready {
			readyN++
		}
		restarts += c.RestartCount
	}
	s := fmt.Sprintf("ready:%d/%d", readyN, len(p.Spec.Containers))
	if restarts > 0 {
		s += fmt.Sprintf(",restarts:%d", restarts)
	}
	return s
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
