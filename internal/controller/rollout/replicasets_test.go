package rollout

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/podhash"
)

// TestFindNew looks a rollout's ReplicaSet up the way Argo does: Argo's hash, then the
// Deployment-style hash (Vane's before it hashed as Argo), then the template itself.
func TestFindNew(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "a:1"}}},
	}
	other := tmpl.DeepCopy()
	other.Spec.Containers[0].Image = "a:2"
	rs := func(name, hash string, age int, t *corev1.PodTemplateSpec) *appsv1.ReplicaSet {
		r := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1alpha1.PodTemplateHashLabel: hash},
			CreationTimestamp: metav1.NewTime(time.Unix(1e9, 0).Add(-time.Duration(age) * time.Hour))}}
		r.Spec.Template = *t.DeepCopy()
		r.Spec.Template.Labels[v1alpha1.PodTemplateHashLabel] = hash
		return r
	}
	cc := ptr.To[int32](1)
	cases := map[string]struct {
		sets []*appsv1.ReplicaSet
		cc   *int32
		want string
	}{
		"argo hash": {
			sets: []*appsv1.ReplicaSet{rs("old", "x", 2, other), rs("new", podhash.Template(tmpl, nil), 1, tmpl)},
			want: "new",
		},
		"argo hash with collisionCount": {
			sets: []*appsv1.ReplicaSet{rs("new", podhash.Template(tmpl, cc), 1, tmpl)},
			cc:   cc,
			want: "new",
		},
		"legacy hash (Deployments, earlier Vane)": {
			sets: []*appsv1.ReplicaSet{rs("legacy", podhash.Legacy(tmpl, nil), 1, tmpl)},
			want: "legacy",
		},
		"argo hash wins over legacy": {
			sets: []*appsv1.ReplicaSet{rs("legacy", podhash.Legacy(tmpl, nil), 2, tmpl), rs("argo", podhash.Template(tmpl, nil), 1, tmpl)},
			want: "argo",
		},
		"same template under another hash (undo)": {
			sets: []*appsv1.ReplicaSet{rs("a", "somehash", 1, tmpl)},
			cc:   cc,
			want: "a",
		},
		"another template": {
			sets: []*appsv1.ReplicaSet{rs("b", "somehash", 1, other)},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := findNew(tc.sets, tmpl, tc.cc)
			if gotName := nameOf(got); gotName != tc.want {
				t.Errorf("findNew = %q, want %q", gotName, tc.want)
			}
		})
	}
}

func nameOf(rs *appsv1.ReplicaSet) string {
	if rs == nil {
		return ""
	}
	return rs.Name
}

// TestScaleDownDeadline reads Argo's annotation, and the key earlier Vane versions wrote.
func TestScaleDownDeadline(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	cases := map[string]struct {
		annotations map[string]string
		want        time.Time
	}{
		"none":               {},
		"Argo's key":         {annotations: map[string]string{"scale-down-deadline": at.Format(time.RFC3339)}, want: at},
		"earlier Vane's key": {annotations: map[string]string{"argo-rollouts.argoproj.io/scale-down-deadline": at.Format(time.RFC3339)}, want: at},
		"Argo's key wins": {annotations: map[string]string{"scale-down-deadline": at.Format(time.RFC3339),
			"argo-rollouts.argoproj.io/scale-down-deadline": "2020-01-01T00:00:00Z"}, want: at},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := scaleDownDeadline(&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Annotations: tc.annotations}})
			if err != nil || !got.Equal(tc.want) {
				t.Errorf("scaleDownDeadline = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestNewReplicaSetAnnotations: a new ReplicaSet inherits the Rollout's annotations but Argo's
// list of exceptions.
func TestNewReplicaSetAnnotations(t *testing.T) {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
		"example.com/owner":                   "team-a",
		v1alpha1.WorkloadGenerationAnnotation: "3",
		v1alpha1.RevisionAnnotation:           "7",
		corev1.LastAppliedConfigAnnotation:    "{}",
		"notified.notifications.argoproj.io":  "{}",
		v1alpha1.RevisionHistoryAnnotation:    "1,2",
	}}, Spec: v1alpha1.RolloutSpec{Replicas: ptr.To[int32](4)}}
	want := map[string]string{"example.com/owner": "team-a", v1alpha1.WorkloadGenerationAnnotation: "3",
		v1alpha1.RevisionAnnotation: "8", v1alpha1.DesiredReplicasAnnotation: "4"}
	if diff := cmp.Diff(want, newReplicaSetAnnotations(ro, 8)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
