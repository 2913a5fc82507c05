package argotools

import (
	"context"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/actions"
	"github.com/vanedev/vane/internal/testenv"
)

// webTemplate is a pod template of one container named app; its pods turn Ready readyDelay
// after they start (kwok), so that an update is seen in progress.
func webTemplate(image, readyDelay string) corev1.PodTemplateSpec {
	tpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
	if readyDelay != "" {
		tpl.Annotations = map[string]string{"vane.dev/kwok-ready-delay": readyDelay}
	}
	return tpl
}

// halfThenPause is a canary of 50% and an indefinite pause.
func halfThenPause() v1alpha1.RolloutStrategy {
	return v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
		Steps: []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](50)}, {Pause: &v1alpha1.RolloutPause{}}}}}
}

// TestArgoCDHealthCanary: Argo CD's own Rollout health script, run on the Rollout as Vane's
// controller writes it, says Healthy when the rollout is, Progressing while the canary's pod
// comes up, Suspended at a pause step, Degraded once aborted, and Healthy again after retry and
// promote --full. The script runs on every version of the Rollout the API server stores (as
// Argo CD's watch delivers them): none may make it fail (Argo CD would show Unknown), and none
// written after a new template may still say Healthy before the update is done.
func TestArgoCDHealthCanary(t *testing.T) {
	env := withController(t)
	healthCanary(t, env, env.Namespace(t), nil)
}

// TestArgoCDHealthCanaryUnderArgo is TestArgoCDHealthCanary with Argo Rollouts' own controller
// (v1.10.1, `make argo-tools`) driving the rollout: the reference for what the script sees.
func TestArgoCDHealthCanaryUnderArgo(t *testing.T) {
	env := withController(t) // it leaves the rollout, labelled with Argo's instance id, alone
	ns := env.Namespace(t)
	healthCanary(t, env, ns, startArgoController(t, env, ns))
}

func healthCanary(t *testing.T, env *testenv.Env, ns string, labels map[string]string) {
	ctx := context.Background()
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: labels, Annotations: trackingID(ns, "web")},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: webTemplate("web:1", "2s"),
			Strategy: halfThenPause(),
		},
	}
	w := newHealthWatch(t, env, ns, "web")
	if err := env.Client.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	w.wait(waitLong, health{"Healthy", ""})
	waitState(t, env, ns, "web", waitLong, snapshot{Phase: "Healthy", Step: 2, Stable: "web:1", Sets: "web:1=2/2"})

	w.mark()
	if err := actions.SetImage(ctx, env.Client, ns, "web", "*", "web:2"); err != nil {
		t.Fatal(err)
	}
	w.wait(waitLong, health{"Suspended", "CanaryPauseStep"})
	w.healthyDuringUpdate("the new image")
	waitState(t, env, ns, "web", waitLong, snapshot{Phase: "Paused", Step: 1, Stable: "web:1", Sets: "web:1=1/1 web:2=1/1"})
	// Argo's controller says "more replicas need to be updated" while the canary has fewer
	// updated replicas than the rollout wants (updatedReplicas 0 or 1 of 2 at step 0)
	if !w.saw(health{"Progressing", "more replicas need to be updated"}) {
		t.Errorf("the update was never Progressing (%q) before its pause; verdicts: %v", "more replicas need to be updated", w.verdicts())
	}

	w.mark()
	if err := actions.Abort(ctx, env.Client, ns, "web"); err != nil {
		t.Fatal(err)
	}
	w.wait(waitLong, health{"Degraded", "RolloutAborted: Rollout aborted update to revision 2"})
	waitState(t, env, ns, "web", waitLong, snapshot{Phase: "Degraded", Stable: "web:1", Step: anyStep, Sets: "web:1=2/2"})
	if h, _ := w.current(); h.Status != "Degraded" {
		t.Errorf("an aborted rollout whose pods are back on stable: %s, want Degraded", h)
	}

	w.mark()
	if err := actions.Retry(ctx, env.Client, ns, "web"); err != nil {
		t.Fatal(err)
	}
	w.wait(waitLong, health{"Suspended", "CanaryPauseStep"})
	if !inProgress(w.verdicts()) {
		t.Errorf("the retried update was never Progressing before its pause; verdicts: %v", w.verdicts())
	}

	w.mark()
	if _, err := actions.Promote(ctx, env.Client, ns, "web", true); err != nil {
		t.Fatal(err)
	}
	w.wait(waitLong, health{"Healthy", ""})
	waitState(t, env, ns, "web", waitLong, snapshot{Phase: "Healthy", Step: 2, Stable: "web:2", Sets: "web:2=2/2"})
	if !inProgress(w.verdicts()) {
		t.Errorf("the full promotion was never Progressing while the canary scaled up; verdicts: %v", w.verdicts())
	}
}

// TestArgoCDHealthWorkloadRef: a Rollout that takes its template from a Deployment
// (spec.workloadRef), deployed by Argo CD (so it carries Argo CD's tracking annotation). Argo
// CD's script then compares the annotation rollout.argoproj.io/workload-generation, which Argo's
// controller keeps equal to the Deployment's metadata.generation, with
// status.workloadObservedGeneration, and says Progressing ("Waiting for rollout spec update to
// be observed") until they are equal. Healthy, Suspended at the pause after a new Deployment
// template, Healthy after promote.
func TestArgoCDHealthWorkloadRef(t *testing.T) {
	env := withController(t)
	healthWorkloadRef(t, env, env.Namespace(t), nil)
}

// TestArgoCDHealthWorkloadRefUnderArgo is TestArgoCDHealthWorkloadRef with Argo Rollouts' own
// controller driving the rollout: the reference for what the script sees.
func TestArgoCDHealthWorkloadRefUnderArgo(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	healthWorkloadRef(t, env, ns, startArgoController(t, env, ns))
}

func healthWorkloadRef(t *testing.T, env *testenv.Env, ns string, labels map[string]string) {
	ctx := context.Background()
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: webTemplate("web:1", "")},
	}
	if err := env.Client.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: labels, Annotations: trackingID(ns, "web")},
		Spec: v1alpha1.RolloutSpec{
			Replicas:    ptr.To[int32](2),
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			WorkloadRef: &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			Strategy:    halfThenPause(),
		},
	}
	w := newHealthWatch(t, env, ns, "web")
	if err := env.Client.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	waitState(t, env, ns, "web", waitLong, snapshot{Phase: "Healthy", Step: 2, Stable: "web:1", Sets: "web:1=2/2"})
	u := w.wait(waitLong, health{"Healthy", ""})
	checkWorkloadGeneration(t, u, dep)
	w.mark()

	// a new template in the Deployment (what `kubectl argo rollouts set image` does for a
	// workloadRef): the canary runs its steps and pauses
	patch := client.MergeFrom(dep.DeepCopy())
	dep.Spec.Template.Spec.Containers[0].Image = "web:2"
	if err := env.Client.Patch(ctx, dep, patch); err != nil {
		t.Fatal(err)
	}
	waitState(t, env, ns, "web", waitLong, snapshot{Phase: "Paused", Step: 1, Stable: "web:1", Sets: "web:1=1/1 web:2=1/1"})
	u = w.wait(waitLong, health{"Suspended", "CanaryPauseStep"})
	w.healthyDuringUpdate("the Deployment's new template")
	checkWorkloadGeneration(t, u, dep)

	if _, err := actions.Promote(ctx, env.Client, ns, "web", false); err != nil {
		t.Fatal(err)
	}
	waitState(t, env, ns, "web", waitLong, snapshot{Phase: "Healthy", Step: 2, Stable: "web:2", Sets: "web:2=2/2"})
	w.wait(waitLong, health{"Healthy", ""})
}

// checkWorkloadGeneration: the Rollout carries the Deployment's current generation in the
// annotation rollout.argoproj.io/workload-generation and in status.workloadObservedGeneration,
// as Argo's controller writes them.
func checkWorkloadGeneration(t *testing.T, u *unstructured.Unstructured, dep *appsv1.Deployment) {
	t.Helper()
	want := strconv.FormatInt(dep.Generation, 10)
	if got := u.GetAnnotations()["rollout.argoproj.io/workload-generation"]; got != want {
		t.Errorf("annotation rollout.argoproj.io/workload-generation %q, want the Deployment's generation %q; annotations: %v",
			got, want, u.GetAnnotations())
	}
	if got, _, _ := unstructured.NestedString(u.Object, "status", "workloadObservedGeneration"); got != want {
		t.Errorf("status.workloadObservedGeneration %q, want the Deployment's generation %q", got, want)
	}
}
