package v1alpha1

// Labels and annotations Vane reads and writes, with Argo Rollouts' names so that tools built
// for Argo (its kubectl plugin, Argo CD's health checks) understand the objects.
const (
	// PodTemplateHashLabel is on every ReplicaSet and pod a Rollout manages, in its selector
	// too; Services managed by a Rollout select on it.
	PodTemplateHashLabel = "rollouts-pod-template-hash"
	// RevisionAnnotation is the revision number of a ReplicaSet (and of the Rollout).
	RevisionAnnotation = "rollout.argoproj.io/revision"
	// RevisionHistoryAnnotation lists the earlier revisions a reused ReplicaSet had.
	RevisionHistoryAnnotation = "rollout.argoproj.io/revision-history"
	// DesiredReplicasAnnotation is the Rollout's spec.replicas when the ReplicaSet was scaled.
	DesiredReplicasAnnotation = "rollout.argoproj.io/desired-replicas"
	// ManagedByRolloutsAnnotation marks a Service whose selector a Rollout manages; its value
	// is the Rollout's name.
	ManagedByRolloutsAnnotation = "argo-rollouts.argoproj.io/managed-by-rollouts"
	// InstanceIDLabel restricts a Rollout to the controller started with that instance id.
	InstanceIDLabel = "argo-rollouts.argoproj.io/controller-instance-id"
	// ScaleDownDeadlineAnnotation holds the RFC3339 time after which an old ReplicaSet is
	// scaled down (Argo's key: a controller switch keeps every deadline).
	ScaleDownDeadlineAnnotation = "scale-down-deadline"
	// LegacyScaleDownDeadlineAnnotation is the key earlier Vane versions wrote: still read, and
	// replaced by ScaleDownDeadlineAnnotation when the deadline is written again.
	LegacyScaleDownDeadlineAnnotation = "argo-rollouts.argoproj.io/scale-down-deadline"
	// WorkloadGenerationAnnotation is, on a Rollout with spec.workloadRef, the generation of the
	// referenced workload the controller last saw (status.workloadObservedGeneration follows it).
	WorkloadGenerationAnnotation = "rollout.argoproj.io/workload-generation"
	// EphemeralMetadataAnnotation on a ReplicaSet records the canary or stable metadata applied
	// to its pod template and pods, so that it can be taken off again when the role changes.
	EphemeralMetadataAnnotation = "rollout.argoproj.io/ephemeral-metadata"
)

// ScaleDownDeadlineOf returns a ReplicaSet's scale-down deadline annotation as written (Argo's
// key, else the legacy one; "" when none).
func ScaleDownDeadlineOf(annotations map[string]string) string {
	if v, ok := annotations[ScaleDownDeadlineAnnotation]; ok {
		return v
	}
	return annotations[LegacyScaleDownDeadlineAnnotation]
}
