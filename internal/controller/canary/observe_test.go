package canary

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	engine "github.com/vanedev/vane/internal/strategy/flagger"
)

var now = time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)

func dep(replicas, updated, total, available int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "api", Generation: 2},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2, UpdatedReplicas: updated, Replicas: total,
			AvailableReplicas: available, Conditions: conds}}
}

func unavailableSince(d time.Duration) []appsv1.DeploymentCondition {
	return []appsv1.DeploymentCondition{
		{Type: appsv1.DeploymentProgressing, Status: "True", Reason: "ReplicaSetUpdated"},
		{Type: appsv1.DeploymentAvailable, Status: "False", Reason: "MinimumReplicasUnavailable",
			LastUpdateTime: metav1.NewTime(now.Add(-d))},
	}
}

func TestReadiness(t *testing.T) {
	tests := map[string]struct {
		dep       *appsv1.Deployment
		threshold int32
		want      engine.Readiness
	}{
		"rolled out": {dep: dep(2, 2, 2, 2), threshold: 100, want: engine.Readiness{Ready: true, Retriable: true}},
		"generation not observed": {dep: func() *appsv1.Deployment { d := dep(2, 2, 2, 2); d.Generation = 3; return d }(),
			threshold: 100, want: engine.Readiness{Retriable: true,
				Message: "waiting for rollout to finish: observed deployment generation less than desired generation"}},
		"replicas not updated": {dep: dep(3, 1, 3, 3), threshold: 100, want: engine.Readiness{Retriable: true,
			Message: "waiting for rollout to finish: 1 out of 3 new replicas have been updated"}},
		"old replicas terminating": {dep: dep(2, 2, 3, 2), threshold: 100, want: engine.Readiness{Retriable: true,
			Message: "waiting for rollout to finish: 1 old replicas are pending termination"}},
		"not enough available": {dep: dep(4, 4, 4, 2), threshold: 100, want: engine.Readiness{Retriable: true,
			Message: "waiting for rollout to finish: 2 of 4 (readyThreshold 100%) updated replicas are available"}},
		"enough at a 50% threshold": {dep: dep(4, 4, 4, 2), threshold: 50, want: engine.Readiness{Ready: true, Retriable: true}},
		"unavailable within the deadline": {dep: dep(2, 2, 2, 0, unavailableSince(30*time.Second)...), threshold: 100,
			want: engine.Readiness{Retriable: true, Message: "waiting for rollout to finish: 0 of 2 (readyThreshold 100%) updated replicas are available"}},
		"unavailable past the deadline": {dep: dep(2, 2, 2, 0, unavailableSince(2*time.Minute)...), threshold: 100,
			want: engine.Readiness{Message: "waiting for rollout to finish: 0 of 2 (readyThreshold 100%) updated replicas are available"}},
		"progress deadline exceeded": {dep: dep(2, 1, 2, 1, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing,
			Status: "False", Reason: "ProgressDeadlineExceeded"}), threshold: 100,
			want: engine.Readiness{Message: `deployment "api" exceeded its progress deadline`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := readiness(tc.dep, time.Minute, tc.threshold, now)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("readiness (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiscoveredPorts(t *testing.T) {
	containers := []corev1.Container{
		{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {ContainerPort: 9797}, {Name: "grpc", ContainerPort: 9090}}},
		{Name: "istio-proxy", Ports: []corev1.ContainerPort{{Name: "envoy", ContainerPort: 15090}}},
	}
	tests := map[string]struct {
		target *intstr.IntOrString
		want   map[string]int32
	}{
		"the service port is skipped":   {want: map[string]int32{"tcp-app-1": 9797, "grpc": 9090}},
		"a numeric targetPort skipped":  {target: ptr.To(intstr.FromInt32(9090)), want: map[string]int32{"http": 8080, "tcp-app-1": 9797}},
		"a named targetPort is skipped": {target: ptr.To(intstr.FromString("http")), want: map[string]int32{"tcp-app-1": 9797, "grpc": 9090}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cd := &flaggerv1.Canary{Spec: flaggerv1.CanarySpec{Service: flaggerv1.CanaryService{Port: 8080, TargetPort: tc.target}}}
			if diff := cmp.Diff(tc.want, discoveredPorts(cd, containers)); diff != "" {
				t.Errorf("ports (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPrimaryPodSpec: tracked configs are replaced by their -primary copies in volumes and
// containers (not init containers, as Flagger), untracked ones are left alone.
func TestPrimaryPodSpec(t *testing.T) {
	spec := &corev1.PodSpec{
		Volumes: []corev1.Volume{
			{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls"}}},
			{Name: "untracked", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "other"}}}},
		},
		InitContainers: []corev1.Container{{Name: "init", EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}}},
		Containers: []corev1.Container{{Name: "app",
			EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "tls"}}}},
			Env: []corev1.EnvVar{{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "mode"}}}}}},
	}
	tracked := map[string]trackedConfig{"configmap/cfg": {}, "secret/tls": {}}
	got := primaryPodSpec(spec, tracked)
	names := func(s *corev1.PodSpec) []string {
		var out []string
		for _, r := range refsOf(s, true) {
			out = append(out, r.kind+"/"+*r.name)
		}
		return out
	}
	want := []string{"configmap/cfg-primary", "secret/tls-primary", "configmap/other", "configmap/cfg-primary", "secret/tls-primary", "configmap/cfg"}
	if diff := cmp.Diff(want, names(&got)); diff != "" {
		t.Errorf("references (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"configmap/cfg", "secret/tls", "configmap/other", "configmap/cfg", "secret/tls", "configmap/cfg"}, names(spec)); diff != "" {
		t.Errorf("the target's spec was changed (-want +got):\n%s", diff)
	}
}

func TestChecksumIsFlaggers(t *testing.T) {
	// the first 8 bytes of the SHA-256 of {"mode":"v1"}, in hex
	if got, want := checksum(map[string]string{"mode": "v1"}), "9199a875768757ec"; got != want {
		t.Errorf("checksum = %q, want %q", got, want)
	}
	if checksum(map[string]string{"mode": "v1"}) == checksum(map[string]string{"mode": "v2"}) {
		t.Error("different data, same checksum")
	}
}
