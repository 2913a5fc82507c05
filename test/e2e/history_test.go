//go:build linux

package e2e

// spec.revisionHistoryLimit end to end, with the Vane controller on the local control plane.
// The rule is Argo Rollouts v1.10.1's rollout/sync.go reconcileRevisionHistoryLimit (called by
// rolloutCanary with c.otherRSs, the ReplicaSets neither new nor stable): of the other
// ReplicaSets that are not being deleted, diff = len - revisionHistoryLimit (default 10) are
// candidates, the oldest by creationTimestamp (controller.ReplicaSetsByCreationTimestamp); each
// candidate with no pod and spec.replicas 0 is deleted (one that still has pods is skipped, but
// still counts), and so are the AnalysisRuns of its pod-template hash. Each scenario below was
// also run under Argo's own controller (rollouts-controller v1.10.1, `make argo-tools`) on a
// local cluster, with the outcome asserted here.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// histRollout creates the Rollout "app": 1 replica of app:1, a canary without steps (an update
// goes straight to 100%), revisionHistoryLimit limit; mutate may change it first. It waits until
// the first revision is Healthy.
func histRollout(t *testing.T, env *testenv.Env, ns string, limit int32, mutate func(*v1alpha1.Rollout)) {
	t.Helper()
	labels := map[string]string{"app": "app"}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns}, Spec: v1alpha1.RolloutSpec{
		Replicas: ptr.To[int32](1), RevisionHistoryLimit: ptr.To(limit),
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}},
		Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}},
	}}
	if mutate != nil {
		mutate(ro)
	}
	must(t, "creating Rollout app", env.Client.Create(context.Background(), ro))
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: anyStep, Stable: "app:1", Sets: "app:1=1/1"})
}

// histUpdate sets image and waits until it is the stable one, Healthy, with the only pod. It
// first waits a little over a second, so that the new ReplicaSet's creationTimestamp (whole
// seconds) is later than the previous one's: Argo orders the ReplicaSets by it.
func histUpdate(t *testing.T, env *testenv.Env, ns, image string) {
	t.Helper()
	time.Sleep(1100 * time.Millisecond)
	setImage(t, env, ns, "app", image)
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: anyStep, Stable: image, Sets: image + "=1/1"})
}

// histSets returns the ReplicaSets the rollout "app" controls, by image.
func histSets(t *testing.T, env *testenv.Env, ns string) map[string]appsv1.ReplicaSet {
	t.Helper()
	ro := getRollout(t, env, ns, "app")
	var list appsv1.ReplicaSetList
	must(t, "listing ReplicaSets", env.Client.List(context.Background(), &list, client.InNamespace(ns)))
	out := map[string]appsv1.ReplicaSet{}
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == ro.UID {
			out[rs.Spec.Template.Spec.Containers[0].Image] = rs
		}
	}
	return out
}

func histDescribe(sets map[string]appsv1.ReplicaSet) string {
	var out []string
	for _, img := range slices.Sorted(maps.Keys(sets)) {
		rs := sets[img]
		out = append(out, fmt.Sprintf("%s (revision %s, created %s, replicas %d)", img, rs.Annotations[v1alpha1.RevisionAnnotation],
			rs.CreationTimestamp.Format(time.TimeOnly), ptr.Deref(rs.Spec.Replicas, 1)))
	}
	return strings.Join(out, ", ")
}

// histWaitImages waits until the rollout's ReplicaSets are those of the images want.
func histWaitImages(t *testing.T, env *testenv.Env, ns, point string, want ...string) {
	t.Helper()
	slices.Sort(want)
	waitUntil(t, waitLong, fmt.Sprintf("%s: the ReplicaSets of %v", point, want), func() (bool, string) {
		sets := histSets(t, env, ns)
		return slices.Equal(slices.Sorted(maps.Keys(sets)), want), histDescribe(sets)
	})
}

// TestRevisionHistoryLimit: old ReplicaSets beyond revisionHistoryLimit are deleted, oldest
// first, and only those (Argo: rollout/sync.go reconcileRevisionHistoryLimit).
func TestRevisionHistoryLimit(t *testing.T) {
	// limit 2, five revisions: after each, the stable one and at most the 2 newest old ones (at 0
	// pods, for undo) are left; app:1 then app:2 go.
	t.Run("oldest first", func(t *testing.T) {
		t.Parallel()
		env := withController(t)
		ns := env.Namespace(t)
		histRollout(t, env, ns, 2, nil)
		images := []string{"app:1"}
		for i := 2; i <= 5; i++ {
			img := fmt.Sprintf("app:%d", i)
			histUpdate(t, env, ns, img)
			images = append(images, img)
			if len(images) > 3 {
				images = images[1:]
			}
			histWaitImages(t, env, ns, img+" stable", images...)
		}
		controllerObserved(t, env, ns, "app") // and nothing more goes
		sets := histSets(t, env, ns)
		if got := slices.Sorted(maps.Keys(sets)); !slices.Equal(got, []string{"app:3", "app:4", "app:5"}) {
			t.Fatalf("ReplicaSets %s, want app:3, app:4 (scaled down) and app:5", histDescribe(sets))
		}
		for _, img := range []string{"app:3", "app:4"} {
			if rs := sets[img]; ptr.Deref(rs.Spec.Replicas, 1) != 0 {
				t.Errorf("the old ReplicaSet of %s has %d replicas, want 0", img, ptr.Deref(rs.Spec.Replicas, 1))
			}
		}
	})

	// limit 0: every old ReplicaSet goes once scaled down
	t.Run("limit 0", func(t *testing.T) {
		t.Parallel()
		env := withController(t)
		ns := env.Namespace(t)
		histRollout(t, env, ns, 0, nil)
		histUpdate(t, env, ns, "app:2")
		histWaitImages(t, env, ns, "app:2 stable", "app:2")
		histUpdate(t, env, ns, "app:3")
		histWaitImages(t, env, ns, "app:3 stable", "app:3")
	})

	// "oldest" is by creationTimestamp, not by revision: going back to app:1 reuses its ReplicaSet
	// (revision 3, created first); once app:3 is stable, of app:1's (revision 3) and app:2's
	// (revision 2) ReplicaSets Argo deletes app:1's, the one created first
	// (controller.ReplicaSetsByCreationTimestamp in reconcileRevisionHistoryLimit).
	t.Run("oldest by creation time", func(t *testing.T) {
		t.Parallel()
		env := withController(t)
		ns := env.Namespace(t)
		histRollout(t, env, ns, 1, nil)
		histUpdate(t, env, ns, "app:2")
		histUpdate(t, env, ns, "app:1")
		histWaitImages(t, env, ns, "back to app:1", "app:1", "app:2")
		if rev := histSets(t, env, ns)["app:1"].Annotations[v1alpha1.RevisionAnnotation]; rev != "3" {
			t.Fatalf("app:1's ReplicaSet has revision %q after going back to it, want 3 (reused)", rev)
		}
		histUpdate(t, env, ns, "app:3")
		waitUntil(t, waitLong, "one old ReplicaSet left", func() (bool, string) {
			sets := histSets(t, env, ns)
			return len(sets) == 2, histDescribe(sets)
		})
		controllerObserved(t, env, ns, "app")
		if sets := histSets(t, env, ns); !slices.Equal(slices.Sorted(maps.Keys(sets)), []string{"app:2", "app:3"}) {
			t.Errorf("ReplicaSets %s; Argo keeps app:2's (created after app:1's) and deletes app:1's (revision 3 but created first)", histDescribe(sets))
		}
	})

	// An old ReplicaSet that still has pods counts against the limit (Argo's diff is over every
	// other ReplicaSet; only the deletion skips it): with a router and scaleDownDelaySeconds the
	// previous stable keeps its pods a while after an update completes. app:1 is scaled down,
	// app:2 keeps its pods while app:3 completes: with limit 1, Argo deletes app:1's ReplicaSet
	// at once, before app:2's scale-down deadline.
	t.Run("old ReplicaSets with pods count", func(t *testing.T) {
		t.Parallel()
		env := withController(t)
		_, c := trafficClient(t)
		ns := env.Namespace(t)
		const delay = 8
		trafficServices(t, c, ns, "app")
		histRollout(t, env, ns, 1, func(ro *v1alpha1.Rollout) {
			tr := newTrafficRollout(ns, "app", v1alpha1.RolloutTrafficRouting{SMI: &v1alpha1.SMITrafficRouting{TrafficSplitName: "split"}})
			ro.Spec.Strategy.Canary = tr.Spec.Strategy.Canary
			ro.Spec.Strategy.Canary.Steps = nil
			ro.Spec.Strategy.Canary.ScaleDownDelaySeconds = ptr.To[int32](delay)
		})
		time.Sleep(1100 * time.Millisecond)
		setImage(t, env, ns, "app", "app:2")
		waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: anyStep, Stable: "app:2", Sets: "app:2=1/1"}) // app:1 scaled down after its delay
		time.Sleep(1100 * time.Millisecond)
		setImage(t, env, ns, "app", "app:3")
		waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: anyStep, Stable: "app:3"})
		t0 := time.Now()
		waitUntil(t, waitLong, "app:1's ReplicaSet deleted", func() (bool, string) {
			sets := histSets(t, env, ns)
			if _, ok := sets["app:1"]; ok {
				if rs := sets["app:2"]; ptr.Deref(rs.Spec.Replicas, 1) == 0 {
					t.Fatalf("app:2's ReplicaSet was scaled down (after its %ds delay) and app:1's is still there: %s; "+
						"Argo deletes app:1's as soon as app:3 is stable, app:2's pods counting against the limit", delay, histDescribe(sets))
				}
				return false, histDescribe(sets)
			}
			if rs, ok := sets["app:2"]; !ok || ptr.Deref(rs.Spec.Replicas, 1) == 0 {
				t.Errorf("app:1's ReplicaSet went only once app:2's was scaled down: %s", histDescribe(sets))
			}
			return true, ""
		})
		if !t.Failed() {
			t.Logf("app:1's ReplicaSet deleted %.1fs after app:3 was Healthy, app:2's still up", time.Since(t0).Seconds())
		}
		waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: anyStep, Stable: "app:3", Sets: "app:3=1/1"})
		histWaitImages(t, env, ns, "app:2 scaled down", "app:2", "app:3")
	})

	// The AnalysisRuns of a deleted ReplicaSet go with it (reconcileRevisionHistoryLimit deletes
	// the runs of its pod-template hash; utils/analysis/filter.go FilterAnalysisRunsToDelete also
	// drops runs whose ReplicaSet is gone), even within successfulRunHistoryLimit (5).
	t.Run("runs of deleted ReplicaSets", func(t *testing.T) {
		t.Parallel()
		env := withController(t)
		ns := env.Namespace(t)
		app := newColorServer(t, "red", "ok")
		webTemplate(t, env, ns, "check", 1)
		histRollout(t, env, ns, 1, func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{Analysis: analysisOf("check", app.host())}}
		})
		runOf := map[string]string{} // image -> its step's run
		for i := 2; i <= 4; i++ {
			img := fmt.Sprintf("app:%d", i)
			histUpdate(t, env, ns, img)
			runOf[img] = fmt.Sprintf("app-%s-%d-0", rsHashOfImage(t, env, ns, img), i)
			if run := getRun(t, env, ns, runOf[img]); run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
				t.Fatalf("run %s is %s, want Successful", run.Name, run.Status.Phase)
			}
		}
		histWaitImages(t, env, ns, "app:4 stable", "app:3", "app:4")
		want := []string{runOf["app:3"], runOf["app:4"]}
		slices.Sort(want)
		waitUntil(t, 20*time.Second, "the run of app:2 deleted with its ReplicaSet", func() (bool, string) {
			got := slices.Sorted(maps.Keys(rolloutRuns(t, env, ns)))
			return slices.Equal(got, want), fmt.Sprintf("runs %v, want %v (app:2's %s gone with its ReplicaSet)", got, want, runOf["app:2"])
		})
	})
}
