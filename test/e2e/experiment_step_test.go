//go:build linux

package e2e

// A canary's experiment step on the local control plane, driven by the Vane controller: the
// Rollout creates the Experiment as Argo's rollout/experiment.go does (named
// <rollout>-<hash>-<revision>-<step index>, -1 when the name is taken, owned by the Rollout,
// the stable and new ReplicaSets' pod templates), waits for it and goes on; a failed analysis
// aborts the update with Argo's "Experiment analysis phase is error/failed: ..."; an abort
// terminates it; with the Gateway API router the running Experiment's weighted templates are
// backends of the HTTPRoute (rollout/trafficrouting.go weightDestinations), and go with it.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/actions"
	"github.com/vanedev/vane/internal/testenv"
)

// esSteps are 25% -> experiment -> 50% -> pause{}: the experiment compares a baseline of the
// stable pods with a canary of the new ones, with the web analysis "check" against host,
// required for completion.
func esSteps(host string) []v1alpha1.CanaryStep {
	return []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](25)},
		{Experiment: &v1alpha1.RolloutExperimentStep{
			Templates: []v1alpha1.RolloutExperimentTemplate{{Name: "baseline", SpecRef: v1alpha1.StableSpecRef},
				{Name: "canary", SpecRef: v1alpha1.CanarySpecRef, Metadata: v1alpha1.PodTemplateMetadata{Labels: map[string]string{"exp": "canary"}}}},
			Analyses: []v1alpha1.RolloutExperimentStepAnalysisTemplateRef{{Name: "check", TemplateName: "check", RequiredForCompletion: true,
				Args: []v1alpha1.AnalysisRunArgument{{Name: "host", Value: host},
					{Name: "hash", ValueFrom: &v1alpha1.ArgumentValueFrom{PodTemplateHashValue: ptr.To(v1alpha1.Latest)}}}}},
			ScaleDownDelaySeconds: ptr.To[int32](0),
		}},
		{SetWeight: ptr.To[int32](50)}, {Pause: &v1alpha1.RolloutPause{}}}
}

// waitCurrentExperiment waits until status.canary.currentExperiment is name ("" for none).
func waitCurrentExperiment(t *testing.T, env *testenv.Env, ns, name string) {
	t.Helper()
	waitUntil(t, waitLong, fmt.Sprintf("status.canary.currentExperiment %q", name), func() (bool, string) {
		_, ro, err := observe(context.Background(), env, ns, "app")
		if err != nil {
			return false, err.Error()
		}
		return ro.Status.Canary.CurrentExperiment == name, ro.Status.Canary.CurrentExperiment
	})
}

// rolloutEventTexts returns "Reason: message" for each event on the rollout "app".
func rolloutEventTexts(t *testing.T, env *testenv.Env, ns string) []string {
	t.Helper()
	var out []string
	for _, e := range rolloutEventList(t, env, ns, "app") {
		out = append(out, e.Reason+": "+e.Message)
	}
	return out
}

// wantRolloutEvents waits until each wanted event is on the rollout "app".
func wantRolloutEvents(t *testing.T, env *testenv.Env, ns string, want ...string) {
	t.Helper()
	waitUntil(t, 10*time.Second, "events on the rollout", func() (bool, string) {
		events := rolloutEventTexts(t, env, ns)
		for _, w := range want {
			if !hasEvent(events, w) {
				return false, "missing " + w + " in:\n  " + strings.Join(events, "\n  ")
			}
		}
		return true, ""
	})
}

// TestExperimentStep: the update reaches the experiment step and the Rollout creates its
// Experiment as Argo does (name, owner, labels, revision annotation, the stable and the new
// ReplicaSet's pod templates with the step's metadata, the analysis with the new hash); the
// status names it while it runs; once its required analysis succeeded it is Successful, the
// step completes (RolloutStepCompleted "(experiment)"), the status no longer names it, and the
// update goes on to the next pause.
func TestExperimentStep(t *testing.T) {
	t.Parallel()
	env := withController(t)
	ns := env.Namespace(t)
	app := newColorServer(t, "blue", "ok")
	webTemplate(t, env, ns, "check", 5)
	newSimpleRollout(t, env, ns, func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary.Steps = esSteps(app.host()) })
	setImage(t, env, ns, "app", "app:2")
	waitState(t, env, ns, "app", waitLong, snapshot{Step: 1})
	hash := rsHashOfImage(t, env, ns, "app:2")
	name := "app-" + hash + "-2-1"
	waitCurrentExperiment(t, env, ns, name)
	ex := getExperiment(t, env, ns, name)
	checkStepExperiment(t, env, ex, hash)

	done := waitExperiment(t, env, ns, name, waitLong, "completion", func(e *v1alpha1.Experiment) bool { return e.Status.Phase.Completed() })
	if done.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || done.Status.Message != "Required AnalysisRuns completed" {
		t.Fatalf("the Experiment ended %s %q, want Successful", done.Status.Phase, done.Status.Message)
	}
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 3, Stable: "app:1", Message: "CanaryPauseStep"})
	waitCurrentExperiment(t, env, ns, "")
	wantRolloutEvents(t, env, ns, "ExperimentCreated: Created Experiment '"+name+"'",
		"RolloutStepCompleted: Rollout step 2/4 completed (experiment)", "RolloutStepCompleted: Rollout step 3/4 completed (setWeight: 50)")
	waitScaledDown(t, env, ns, name+"-canary", 15*time.Second) // scaleDownDelaySeconds: 0
	promote(t, env, ns, "app", false)
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 4, Stable: "app:2", Sets: "app:2=4/4"})
	if ex := getExperiment(t, env, ns, name); ex.Spec.Terminate || ex.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("after the update: terminate %v, phase %s", ex.Spec.Terminate, ex.Status.Phase)
	}
}

// checkStepExperiment checks what GetExperimentFromTemplate gives for esSteps' experiment.
func checkStepExperiment(t *testing.T, env *testenv.Env, ex *v1alpha1.Experiment, hash string) {
	t.Helper()
	ro := &v1alpha1.Rollout{}
	must(t, "reading the rollout", env.Client.Get(context.Background(), client.ObjectKey{Namespace: ex.Namespace, Name: "app"}, ro))
	if !metav1.IsControlledBy(ex, ro) || ex.Labels[v1alpha1.PodTemplateHashLabel] != hash || ex.Annotations[v1alpha1.RevisionAnnotation] != "2" {
		t.Errorf("Experiment %s: owners %v, labels %v, annotations %v", ex.Name, ex.OwnerReferences, ex.Labels, ex.Annotations)
	}
	var got []string
	for _, tmpl := range ex.Spec.Templates {
		got = append(got, fmt.Sprintf("%s=%s exp=%s selector-exp=%s", tmpl.Name, tmpl.Template.Spec.Containers[0].Image,
			tmpl.Template.Labels["exp"], tmpl.Selector.MatchLabels["exp"]))
	}
	if want := "baseline=app:1 exp= selector-exp= canary=app:2 exp=canary selector-exp=canary"; strings.Join(got, " ") != want {
		t.Errorf("templates %v\n want %s", got, want)
	}
	if len(ex.Spec.Analyses) != 1 || *ex.Spec.Analyses[0].Args[1].Value != hash || !ex.Spec.Analyses[0].RequiredForCompletion {
		t.Errorf("analyses %+v", ex.Spec.Analyses)
	}
	if ptr.Deref(ex.Spec.ProgressDeadlineSeconds, -1) != ptr.Deref(ro.Spec.ProgressDeadlineSeconds, -1) || ptr.Deref(ex.Spec.ScaleDownDelaySeconds, -1) != 0 {
		t.Errorf("progressDeadlineSeconds %v, scaleDownDelaySeconds %v", ex.Spec.ProgressDeadlineSeconds, ex.Spec.ScaleDownDelaySeconds)
	}
	for _, tmpl := range []string{"baseline", "canary"} {
		rs := &appsv1.ReplicaSet{}
		must(t, "the template's ReplicaSet", env.Client.Get(context.Background(), client.ObjectKey{Namespace: ex.Namespace, Name: ex.Name + "-" + tmpl}, rs))
		if !metav1.IsControlledBy(rs, ex) {
			t.Errorf("ReplicaSet %s is not the Experiment's: %v", rs.Name, rs.OwnerReferences)
		}
	}
}

// TestExperimentStepAbortAndFailure: an abort terminates the running Experiment (it ends
// Successful) and the update goes back to step 0; the retry reaches the step again and, the
// name being taken, creates "<name>-1"; its analysis then fails, the Experiment is Failed and
// the update aborted with Argo's text and the verdict.
func TestExperimentStepAbortAndFailure(t *testing.T) {
	t.Parallel()
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	app := newColorServer(t, "blue", "ok")
	webTemplate(t, env, ns, "check", 1000)
	newSimpleRollout(t, env, ns, func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary.Steps = esSteps(app.host()) })
	setImage(t, env, ns, "app", "app:2")
	waitState(t, env, ns, "app", waitLong, snapshot{Step: 1})
	name := "app-" + rsHashOfImage(t, env, ns, "app:2") + "-2-1"
	waitExperimentPhase(t, env, ns, name, waitLong, v1alpha1.AnalysisPhaseRunning)

	must(t, "abort", actions.Abort(ctx, env.Client, ns, "app"))
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Degraded", Step: 0, Stable: "app:1", Sets: "app:1=4/4",
		Message: "RolloutAborted: Rollout aborted update to revision 2"})
	ended := waitExperimentPhase(t, env, ns, name, 30*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	if !ended.Spec.Terminate {
		t.Errorf("the aborted update's Experiment ended without spec.terminate")
	}
	waitCurrentExperiment(t, env, ns, "")

	must(t, "retry", actions.Retry(ctx, env.Client, ns, "app"))
	waitCurrentExperiment(t, env, ns, name+"-1")
	waitExperimentPhase(t, env, ns, name+"-1", waitLong, v1alpha1.AnalysisPhaseRunning)
	app.set("red", "nok")
	failed := waitExperimentPhase(t, env, ns, name+"-1", 30*time.Second, v1alpha1.AnalysisPhaseFailed)
	if !strings.HasPrefix(failed.Status.Message, `metric "status" failed`) {
		t.Errorf("the Experiment's message %q", failed.Status.Message)
	}
	want := "RolloutAborted: Rollout aborted update to revision 2: Experiment analysis phase is error/failed: " + failed.Status.Message +
		" (Experiment " + name + "-1)"
	ro := waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Degraded", Step: 0, Stable: "app:1", Sets: "app:1=4/4", Message: want})
	if ro.Status.Message != want {
		t.Errorf("message %q\n want %q", ro.Status.Message, want)
	}
	wantRolloutEvents(t, env, ns, "ExperimentCreated: Created Experiment '"+name+"-1'", want)
}

// TestExperimentStepInconclusive: an Experiment whose required analysis is inconclusive pauses
// the update (InconclusiveExperiment) and the status no longer names it; a promote starts a new
// Experiment for the step ("<name>-1"), whose success completes the step.
func TestExperimentStepInconclusive(t *testing.T) {
	t.Parallel()
	env := withController(t)
	ns := env.Namespace(t)
	app := newColorServer(t, "blue", "maybe") // neither "ok" nor "nok": inconclusive
	webTemplate(t, env, ns, "check", 1)
	newSimpleRollout(t, env, ns, func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary.Steps = esSteps(app.host()) })
	setImage(t, env, ns, "app", "app:2")
	ro := waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1, Stable: "app:1", Message: "InconclusiveExperiment"})
	name := "app-" + rsHashOfImage(t, env, ns, "app:2") + "-2-1"
	if ro.Status.Canary.CurrentExperiment != "" || !ro.Status.ControllerPause {
		t.Errorf("paused: currentExperiment %q, controllerPause %v", ro.Status.Canary.CurrentExperiment, ro.Status.ControllerPause)
	}
	if ex := getExperiment(t, env, ns, name); ex.Status.Phase != v1alpha1.AnalysisPhaseInconclusive {
		t.Errorf("the Experiment is %s", ex.Status.Phase)
	}
	wantRolloutEvents(t, env, ns, "RolloutPaused: Rollout is paused (InconclusiveExperiment)")
	time.Sleep(2 * time.Second) // no new Experiment while paused
	var list v1alpha1.ExperimentList
	must(t, "listing Experiments", env.Client.List(context.Background(), &list, client.InNamespace(ns)))
	if len(list.Items) != 1 {
		t.Errorf("%d Experiments while paused for the inconclusive one", len(list.Items))
	}
	app.set("blue", "ok")
	promote(t, env, ns, "app", false)
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 3, Stable: "app:1", Message: "CanaryPauseStep"})
	if ex := getExperiment(t, env, ns, name+"-1"); ex.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("the second Experiment is %s", ex.Status.Phase)
	}
	wantRolloutEvents(t, env, ns, "ExperimentCreated: Created Experiment '"+name+"-1'", "RolloutStepCompleted: Rollout step 2/4 completed (experiment)")
}

// TestExperimentStepBadInput: an update whose experiment step's analysis names a missing
// template is InvalidSpec with the field path, and nothing is created (no new ReplicaSet, no
// Experiment); once the template exists the update goes on through the step.
func TestExperimentStepBadInput(t *testing.T) {
	t.Parallel()
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	app := newColorServer(t, "blue", "ok")
	newSimpleRollout(t, env, ns, nil)
	before := replicaSetState(t, env, ns)
	ro := &v1alpha1.Rollout{}
	must(t, "reading the rollout", env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, ro))
	patch := client.MergeFrom(ro.DeepCopy())
	ro.Spec.Template.Spec.Containers[0].Image = "app:2"
	ro.Spec.Strategy.Canary.Steps = esSteps(app.host())
	must(t, "updating the rollout", env.Client.Patch(ctx, ro, patch))
	ro = waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Degraded", Step: anyStep, Stable: "app:1", Message: "InvalidSpec: "})
	want := `spec.strategy.canary.steps[1].experiment.analyses[0].templateName: reading AnalysisTemplate check: AnalysisTemplate.argoproj.io "check" not found`
	if c := condition(ro, v1alpha1.InvalidSpec); c == nil || !strings.HasSuffix(c.Message, want) {
		t.Fatalf("InvalidSpec condition %+v\n want the message to end with %s", c, want)
	}
	if after := replicaSetState(t, env, ns); after != before {
		t.Errorf("ReplicaSets changed under an InvalidSpec rollout:\nbefore %s\nafter  %s", before, after)
	}
	var list v1alpha1.ExperimentList
	must(t, "listing Experiments", env.Client.List(ctx, &list, client.InNamespace(ns)))
	if len(list.Items) != 0 {
		t.Errorf("%d Experiments created for an invalid rollout", len(list.Items))
	}
	webTemplate(t, env, ns, "check", 1)
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 3, Message: "CanaryPauseStep"})
}

// TestExperimentStepGatewayAPI: with the Gateway API router, while the step's Experiment runs,
// its templates with a weight are backends of the HTTPRoute's rule, next to the canary's 20%,
// and the stable gets the rest (status.canary.weights.additional records them); once the
// Experiment is Successful (its duration passed) they are gone, and the update goes on.
func TestExperimentStepGatewayAPI(t *testing.T) {
	t.Parallel()
	env := withController(t)
	_, c := trafficClient(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	trafficServices(t, c, ns, "app")
	must(t, "HTTPRoute web", c.Create(ctx, httpRoute(ns, "web", "gw", "/")))
	ro := newTrafficRollout(ns, "app", v1alpha1.RolloutTrafficRouting{Plugins: gatewayPlugin(`{"httpRoute":"web"}`)})
	ro.Spec.Template.Spec.Containers[0].Image = "app:1"
	ro.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](20)},
		{Experiment: &v1alpha1.RolloutExperimentStep{Duration: ptr.To(v1alpha1.DurationFromString("8s")),
			Templates: []v1alpha1.RolloutExperimentTemplate{{Name: "baseline", SpecRef: v1alpha1.StableSpecRef, Weight: ptr.To[int32](5)},
				{Name: "canary", SpecRef: v1alpha1.CanarySpecRef, Weight: ptr.To[int32](10)}}}},
		{Pause: &v1alpha1.RolloutPause{}}}
	must(t, "creating Rollout app", c.Create(ctx, ro))
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: anyStep, Stable: "app:1", Sets: "app:1=5/5"})

	setImage(t, env, ns, "app", "app:2")
	waitState(t, env, ns, "app", waitLong, snapshot{Step: 1})
	name := "app-" + rsHashOfImage(t, env, ns, "app:2") + "-2-1"
	running := fmt.Sprintf("path=/ -> stable:65 canary:20 %s-baseline:5 %s-canary:10", name, name)
	waitRoute(t, c, ns, running)
	if ex := getExperiment(t, env, ns, name); ex.Status.Phase != v1alpha1.AnalysisPhaseRunning {
		t.Errorf("the HTTPRoute routes to the Experiment while it is %s", ex.Status.Phase)
	}
	_, got, err := observe(ctx, env, ns, "app")
	must(t, "reading the rollout", err)
	if w := got.Status.Canary.Weights; w == nil || w.Stable.Weight != 65 || len(w.Additional) != 2 ||
		w.Additional[0] != (v1alpha1.WeightDestination{Weight: 5, ServiceName: name + "-baseline", PodTemplateHash: w.Additional[0].PodTemplateHash}) {
		t.Errorf("status.canary.weights %+v", w)
	}
	waitExperimentPhase(t, env, ns, name, 30*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	waitRoute(t, c, ns, "path=/ -> stable:80 canary:20")
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 2, Message: "CanaryPauseStep"})
	wantRolloutEvents(t, env, ns, "TrafficWeightUpdated: Traffic weight updated additional: []")
}

// waitRoute waits until the rule of the HTTPRoute "web" reads want (describeRule).
func waitRoute(t *testing.T, c client.Client, ns, want string) {
	t.Helper()
	waitUntil(t, waitLong, "HTTPRoute web: "+want, func() (bool, string) {
		var hr gatewayv1.HTTPRoute
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "web"}, &hr); err != nil {
			return false, err.Error()
		}
		if len(hr.Spec.Rules) == 0 {
			return false, "no rule"
		}
		got := describeRule(hr.Spec.Rules[0])
		return got == want, got
	})
}
