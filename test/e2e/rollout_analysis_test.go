package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// rolloutEvents returns the rollout's events as "Type Reason: message", oldest first.
func rolloutEvents(t *testing.T, env *testenv.Env, ns, name string) []string {
	t.Helper()
	var out []string
	for _, e := range rolloutEventList(t, env, ns, name) {
		out = append(out, fmt.Sprintf("%s %s: %s", e.Type, e.Reason, e.Message))
	}
	return out
}

// hasEvent reports whether one of the events starts with prefix and contains every part.
func hasEvent(events []string, prefix string, parts ...string) bool {
	for _, e := range events {
		if !strings.HasPrefix(e, prefix) {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(e, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// rolloutRuns lists the AnalysisRuns in ns by name.
func rolloutRuns(t *testing.T, env *testenv.Env, ns string) map[string]v1alpha1.AnalysisRun {
	t.Helper()
	var list v1alpha1.AnalysisRunList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]v1alpha1.AnalysisRun{}
	for _, r := range list.Items {
		out[r.Name] = r
	}
	return out
}

// assertRunIdentity checks a run's name, labels, revision annotation and owner as Argo sets them.
func assertRunIdentity(t *testing.T, run *v1alpha1.AnalysisRun, ro *v1alpha1.Rollout, name, hash, revision, kind, step string) {
	t.Helper()
	if run.Name != name {
		t.Errorf("run name %q, want %q", run.Name, name)
	}
	want := map[string]string{v1alpha1.PodTemplateHashLabel: hash, "rollout-type": kind}
	if step != "" {
		want["step-index"] = step
	}
	for k, v := range want {
		if run.Labels[k] != v {
			t.Errorf("run %s: label %s=%q, want %q (labels %v)", run.Name, k, run.Labels[k], v, run.Labels)
		}
	}
	if got := run.Annotations[v1alpha1.RevisionAnnotation]; got != revision {
		t.Errorf("run %s: revision annotation %q, want %q", run.Name, got, revision)
	}
	if !metav1.IsControlledBy(run, ro) {
		t.Errorf("run %s is not controlled by rollout %s: %v", run.Name, ro.Name, run.OwnerReferences)
	}
}

// TestRolloutAnalysisColorapiSeed plays seed 001 with the colorapi-canary.yaml manifests
// (template verbatim; the Rollout's `host` argument points at the stand-in app on 127.0.0.1,
// pauses shortened from 30s to 8s, longer than the template's 5s interval): 1.0 -> 2.0 completes with its background analysis terminated as
// Successful; 3.0 answers "nok", its background analysis fails after failureLimit and the
// rollout is aborted with the verdict in its message and a Warning event; the stable stays 2.0.
func TestRolloutAnalysisColorapiSeed(t *testing.T) {
	t.Parallel() // its own namespace and rollouts: runs beside the others
	env := withController(t)
	ns := env.Namespace(t)
	app := newColorServer(t, "red", "ok")
	const name, v1, v2, v3 = "colorapi", "particule/simplecolorapi:1.0", "particule/simplecolorapi:2.0", "particule/simplecolorapi:3.0"
	applyManifests(t, env, ns, "examples/seeds/colorapi-canary.yaml", func(ro *v1alpha1.Rollout) {
		shortenPauses("8s")(ro)
		ro.Spec.Strategy.Canary.Analysis.Args[0].Value = app.host() // the seed's in-cluster Service name
	})
	waitState(t, env, ns, name, waitLong, snapshot{Phase: "Healthy", Step: 4, Stable: v1, Sets: v1 + "=5/5"})
	if runs := rolloutRuns(t, env, ns); len(runs) != 0 {
		t.Errorf("the first revision started runs: %v", runs)
	}

	app.set("blue", "ok")
	setImage(t, env, ns, name, v2)
	ro := waitState(t, env, ns, name, waitLong, snapshot{Phase: "Paused", Step: 1, Stable: v1})
	rec := ro.Status.Canary.CurrentBackgroundAnalysisRunStatus
	if rec == nil {
		t.Fatalf("no background run recorded while the update runs: %+v", ro.Status.Canary)
	}
	h2 := rsHashOfImage(t, env, ns, v2)
	bg := getRun(t, env, ns, rec.Name)
	assertRunIdentity(t, bg, ro, fmt.Sprintf("colorapi-%s-2", h2), h2, "2", "Background", "")
	if a := bg.Spec.Args; len(a) != 1 || a[0].Name != "host" || ptr.Deref(a[0].Value, "") != app.host() {
		t.Errorf("run args %+v", a)
	}
	ro = waitState(t, env, ns, name, waitLong, snapshot{Phase: "Healthy", Step: 4, Stable: v2, Sets: v2 + "=5/5"})
	bg = waitPhase(t, env, ns, bg.Name, 30*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	if !bg.Spec.Terminate || metricResult(bg, "webcheck").Successful == 0 {
		t.Errorf("the completed update's background run: terminate=%v, results %+v", bg.Spec.Terminate, bg.Status.MetricResults)
	}

	// 3.0 answers nok: two failures (failureLimit 1, every 5s) abort it
	app.set("green", "nok")
	start := time.Now()
	setImage(t, env, ns, name, v3)
	verdict := `metric "webcheck" failed: result "nok" does not satisfy result == "ok" (2 failures, limit 1)`
	ro = waitState(t, env, ns, name, waitLong, snapshot{Phase: "Degraded", Step: anyStep, Stable: v2, Sets: v2 + "=5/5", Message: verdict})
	t.Logf("3.0 rolled back %.1fs after the update; message: %s", time.Since(start).Seconds(), ro.Status.Message)
	h3 := rsHashOfImage(t, env, ns, v3)
	run3 := fmt.Sprintf("colorapi-%s-3", h3)
	// Argo's text (rollout/analysis.go reconcileBackgroundAnalysisRun, conditions.RolloutAbortedMessage)
	// with the run's message, then the run's name
	wantMsg := fmt.Sprintf("RolloutAborted: Rollout aborted update to revision 3: Background analysis phase error/failed: %s (AnalysisRun %s)", verdict, run3)
	if !ro.Status.Abort || ro.Status.Message != wantMsg {
		t.Errorf("aborted status: abort=%v message %q\n want %q", ro.Status.Abort, ro.Status.Message, wantMsg)
	}
	// as Argo's reconcileAnalysisRuns, an aborted update has no current run: the record goes
	waitRollout(t, env, ns, name, "the aborted update's background run no longer recorded", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Canary.CurrentBackgroundAnalysisRunStatus == nil
	})
	if run := getRun(t, env, ns, run3); run.Status.Phase != v1alpha1.AnalysisPhaseFailed {
		t.Errorf("run %s is %s, want Failed", run3, run.Status.Phase)
	}
	// Argo's reconcileAnalysisRunStatusChanges texts, the verdict after them
	events := rolloutEvents(t, env, ns, name)
	running := fmt.Sprintf("Normal AnalysisRunRunning: Background Analysis Run '%s' Status New: 'Running' Previous: ''", run3)
	failed := fmt.Sprintf("Warning AnalysisRunFailed: Background Analysis Run '%s' Status New: 'Failed' Previous: 'Running': %s", run3, verdict)
	if !hasEvent(events, running) || !hasEvent(events, failed) || !hasEvent(events, "Warning RolloutAborted: ") {
		t.Errorf("want %q, %q and RolloutAborted; events:\n  %s", running, failed, strings.Join(events, "\n  "))
	}
}

// waitRollout waits until cond holds for the Rollout, and returns it.
func waitRollout(t *testing.T, env *testenv.Env, ns, name, what string, cond func(*v1alpha1.Rollout) bool) *v1alpha1.Rollout {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		ro := getRollout(t, env, ns, name)
		if cond(ro) {
			return ro
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s; status %+v", what, waitLong, ro.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// webTemplate creates an AnalysisTemplate with one web metric reading {$.status} from
// http://{{args.host}}/: Successful on "ok", Failed on "nok", Inconclusive on anything else.
// Its `hash` argument (default "none") is sent as the X-Canary-Hash header.
func webTemplate(t *testing.T, env *testenv.Env, ns, name string, count int32) {
	t.Helper()
	at := &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: v1alpha1.AnalysisTemplateSpec{
		Args: []v1alpha1.Argument{{Name: "host"}, {Name: "hash", Value: ptr.To("none")}},
		Metrics: []v1alpha1.Metric{{Name: "status", Count: ptr.To(intstr.FromInt32(count)), Interval: ptr.To(v1alpha1.DurationFromString("1s")),
			SuccessCondition: `result == "ok"`, FailureCondition: `result == "nok"`,
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://{{args.host}}/", JSONPath: "{$.status}",
				Headers: []v1alpha1.WebMetricHeader{{Key: "X-Canary-Hash", Value: "{{args.hash}}"}}}}}},
	}}
	if err := env.Client.Create(context.Background(), at); err != nil {
		t.Fatal(err)
	}
}

func analysisOf(template, host string) *v1alpha1.RolloutAnalysis {
	return &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: template}},
		Args: []v1alpha1.AnalysisRunArgument{{Name: "host", Value: host}}}
}

// TestRolloutStepAnalysis: an inline analysis step blocks the update; an inconclusive result
// pauses it (InconclusiveAnalysisRun) until a promote, which goes on; a failing one aborts.
// A missing template is InvalidSpec until it is created. The step's arguments come from a field
// of the Rollout (fieldRef) and from the new pod-template hash (podTemplateHashValue: Latest).
// With unsuccessfulRunHistoryLimit 0, the inconclusive run goes once the status no longer
// records it, and the failed one once the aborted update forgot it (as in Argo).
func TestRolloutStepAnalysis(t *testing.T) {
	t.Parallel() // its own namespace and rollouts: runs beside the others
	env := withController(t)
	ns := env.Namespace(t)
	app := newColorServer(t, "red", "maybe")
	w20, w50 := int32(20), int32(50)
	applyManifests(t, env, ns, "examples/seeds/keptn-podtatohead-rollout.yaml", func(ro *v1alpha1.Rollout) {
		ro.Name = "app"
		ro.Annotations = map[string]string{"example.com/app-host": app.host()}
		step := &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "status"}}, Args: []v1alpha1.AnalysisRunArgument{
			{Name: "host", ValueFrom: &v1alpha1.ArgumentValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.annotations['example.com/app-host']"}}},
			{Name: "hash", ValueFrom: &v1alpha1.ArgumentValueFrom{PodTemplateHashValue: ptr.To(v1alpha1.Latest)}}}}
		ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: &w20}, {Analysis: step}, {SetWeight: &w50}}
		ro.Spec.Template.Spec.Containers[0].Image = "app:1"
		ro.Spec.Analysis = &v1alpha1.AnalysisRunStrategy{UnsuccessfulRunHistoryLimit: ptr.To[int32](0)}
	})
	// the first revision does not need the template, but a Rollout naming a missing one is invalid
	// Argo says `...steps[1].analysis.templates: Invalid value: "status": AnalysisTemplate 'status' not found`
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Degraded", Step: anyStep,
		Message: `InvalidSpec: The Rollout "app" is invalid: spec.strategy.canary.steps[1].analysis`})
	webTemplate(t, env, ns, "status", 1)
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 3, Stable: "app:1", Sets: "app:1=4/4"})

	setImage(t, env, ns, "app", "app:2")
	ro := waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1, Stable: "app:1",
		Sets: "app:1=4/4 app:2=1/1", Message: "InconclusiveAnalysisRun"})
	h2 := rsHashOfImage(t, env, ns, "app:2")
	rec := ro.Status.Canary.CurrentStepAnalysisRunStatus
	if rec == nil || rec.Status != v1alpha1.AnalysisPhaseInconclusive {
		t.Fatalf("step run record %+v", rec)
	}
	stepRun := getRun(t, env, ns, rec.Name)
	assertRunIdentity(t, stepRun, ro, fmt.Sprintf("app-%s-2-1", h2), h2, "2", "Step", "1")
	args := map[string]string{}
	for _, a := range stepRun.Spec.Args {
		args[a.Name] = ptr.Deref(a.Value, "<valueFrom>")
	}
	if diff := cmp.Diff(map[string]string{"host": app.host(), "hash": h2}, args); diff != "" {
		t.Errorf("step run args (-want +got):\n%s", diff)
	}
	// a Normal event in Argo: only Failed and Error are Warnings
	if want := fmt.Sprintf("Normal AnalysisRunInconclusive: Step Analysis Run '%s' Status New: 'Inconclusive' Previous: ", rec.Name); !hasEvent(rolloutEvents(t, env, ns, "app"), want) {
		t.Errorf("no event %q", want)
	}
	promote(t, env, ns, "app", false)
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 3, Stable: "app:2", Sets: "app:2=4/4"})

	// a failing step analysis aborts at once
	app.set("red", "nok")
	setImage(t, env, ns, "app", "app:3")
	// Argo's text (rollout/analysis.go reconcileStepBasedAnalysisRun) with the run's message, then the run's name
	ro = waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Degraded", Step: anyStep, Stable: "app:2", Sets: "app:2=4/4",
		Message: `RolloutAborted: Rollout aborted update to revision 3: Step-based analysis phase error/failed: metric "status" failed: result "nok" meets the failure condition result == "nok"`})
	h3 := rsHashOfImage(t, env, ns, "app:3") // looked up once the controller surely made it
	if want := fmt.Sprintf("(AnalysisRun app-%s-3-1)", h3); !strings.HasSuffix(ro.Status.Message, want) {
		t.Errorf("message %q does not end with %q", ro.Status.Message, want)
	}
	if !ro.Status.Abort {
		t.Errorf("status.abort not set: %+v", ro.Status)
	}
	// as in Argo, the aborted update is back at step 0 (a retry starts the steps over)
	if got := ptr.Deref(ro.Status.CurrentStepIndex, -1); got != 0 {
		t.Errorf("aborted at step %d, want 0", got)
	}
	failed := fmt.Sprintf("app-%s-3-1", h3)
	if want := fmt.Sprintf("Warning AnalysisRunFailed: Step Analysis Run '%s' Status New: 'Failed' Previous: ", failed); !hasEvent(rolloutEvents(t, env, ns, "app"), want) {
		t.Errorf("no event %q", want)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs := rolloutRuns(t, env, ns)
		_, inconclusiveKept := runs[stepRun.Name]
		_, failedKept := runs[failed]
		if !inconclusiveKept && !failedKept {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs %v are still there with unsuccessfulRunHistoryLimit 0 (inconclusive %s, failed %s)", runs, stepRun.Name, failed)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBlueGreenPrePostAnalysis: the pre-promotion analysis passes and the active Service
// switches to green; the post-promotion analysis fails, which aborts the update and switches
// the active Service back to blue, which kept its pods meanwhile.
func TestBlueGreenPrePostAnalysis(t *testing.T) {
	t.Parallel() // its own namespace and rollouts: runs beside the others
	env := withController(t)
	ns := env.Namespace(t)
	pre, post := newColorServer(t, "green", "ok"), newColorServer(t, "green", "ok")
	webTemplate(t, env, ns, "pre", 2)
	webTemplate(t, env, ns, "post", 3)
	applyBlueGreenSeed(t, env, ns, func(ro *v1alpha1.Rollout) {
		withPreview(30, 30)(ro)
		bg := ro.Spec.Strategy.BlueGreen
		bg.AutoPromotionEnabled = nil
		bg.PrePromotionAnalysis, bg.PostPromotionAnalysis = analysisOf("pre", pre.host()), analysisOf("post", post.host())
	})
	waitBG(t, env, ns, waitLong, bgSnap{Phase: "Healthy", Sets: blue + "=3/3", Active: blue})
	if runs := rolloutRuns(t, env, ns); len(runs) != 0 {
		t.Errorf("the first revision started runs: %v", runs)
	}
	updateWorkload(t, env, ns, green, nil, nil)
	ro := waitBG(t, env, ns, waitLong, bgSnap{Sets: blue + "=3/3 " + green + "=3/3", Active: blue, Preview: green})
	for ro.Status.BlueGreen.PrePromotionAnalysisRunStatus == nil {
		time.Sleep(50 * time.Millisecond)
		ro = waitBG(t, env, ns, waitLong, bgSnap{Active: blue})
	}
	hg := bgHash(t, env, ns, green)
	assertRunIdentity(t, getRun(t, env, ns, ro.Status.BlueGreen.PrePromotionAnalysisRunStatus.Name), ro,
		fmt.Sprintf("%s-%s-2-pre", bgName, hg), hg, "2", "PrePromotion", "")

	post.set("green", "nok") // green misbehaves once it takes the traffic
	// Argo's text (rollout/analysis.go setPauseOrAbortForBlueGreen), then the run's name
	ro = waitBG(t, env, ns, waitLong, bgSnap{Phase: "Degraded", Active: blue,
		Message: "RolloutAborted: Rollout aborted update to revision 2: Blue/green post-promotion analysis phase error/failed: "})
	if want := "(AnalysisRun " + bgName + "-" + hg + "-2-post)"; !strings.HasSuffix(ro.Status.Message, want) {
		t.Errorf("message %q does not end with %q", ro.Status.Message, want)
	}
	if pre := ro.Status.BlueGreen.PrePromotionAnalysisRunStatus; pre == nil || pre.Status != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("pre-promotion record %+v", pre)
	}
	events := rolloutEvents(t, env, ns, bgName)
	if !hasEvent(events, "Normal SwitchService: ", bgActive, hg) || !hasEvent(events, "Warning AnalysisRunFailed: ", `result "nok"`) {
		t.Errorf("want the switch to green, then the failed post-promotion analysis; events:\n  %s", strings.Join(events, "\n  "))
	}
	if h := serviceHash(t, env, ns, bgActive); h != bgHash(t, env, ns, blue) {
		t.Errorf("the active Service selects %s after the abort, want blue", h)
	}
	if ro.Status.StableRS != bgHash(t, env, ns, blue) {
		t.Errorf("stableRS %s, want blue's", ro.Status.StableRS)
	}
}

// TestRolloutAnalysisPrometheusSeed runs the canary-demo-prometheus.yaml seed's rollout with its
// background success-rate analysis against a real Prometheus (the template's in-cluster address
// and 10s interval replaced; pauses shortened): the update completes and the background run is
// terminated as Successful after measuring.
func TestRolloutAnalysisPrometheusSeed(t *testing.T) {
	t.Parallel() // its own namespace and rollouts: runs beside the others
	env := withController(t)
	ns := env.Namespace(t)
	prom := seedPrometheus(t)
	applyTemplates(t, env, ns, "examples/seeds/canary-demo-prometheus.yaml", func(at *v1alpha1.AnalysisTemplate) {
		at.Spec.Metrics[0].Interval = ptr.To(v1alpha1.DurationFromString("1s"))
		at.Spec.Metrics[0].Provider.Prometheus.Address = prom.URL
	})
	const name, blueImg, greenImg = "canary-demo", "argoproj/rollouts-demo:blue", "argoproj/rollouts-demo:green"
	for _, u := range loadManifests(t, env, "examples/seeds/canary-demo-prometheus.yaml") {
		if u.GetKind() == "AnalysisTemplate" {
			continue
		}
		u.SetNamespace(ns)
		if u.GetKind() == "Rollout" {
			steps, _, _ := unstructuredSteps(u.Object)
			for _, s := range steps {
				if p, ok := s.(map[string]any)["pause"].(map[string]any); ok {
					p["duration"] = "2s"
				}
			}
		}
		if err := env.Client.Create(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	waitState(t, env, ns, name, waitLong, snapshot{Phase: "Healthy", Step: anyStep, Stable: blueImg, Sets: blueImg + "=3/3"})
	setImage(t, env, ns, name, greenImg)
	ro := waitState(t, env, ns, name, waitLong, snapshot{Phase: "Paused", Step: 1})
	rec := ro.Status.Canary.CurrentBackgroundAnalysisRunStatus
	if rec == nil {
		t.Fatal("no background run while the update runs")
	}
	waitState(t, env, ns, name, waitLong, snapshot{Phase: "Healthy", Step: 6, Stable: greenImg, Sets: greenImg + "=3/3"})
	run := waitPhase(t, env, ns, rec.Name, 30*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	if mr := metricResult(run, "success-rate"); mr.Successful < 2 || mr.Failed+mr.Error != 0 {
		t.Errorf("success-rate measured %+v", mr)
	}
}

// unstructuredSteps returns spec.strategy.canary.steps of an unstructured Rollout.
func unstructuredSteps(obj map[string]any) ([]any, bool, error) {
	spec, _ := obj["spec"].(map[string]any)
	strat, _ := spec["strategy"].(map[string]any)
	canary, _ := strat["canary"].(map[string]any)
	steps, ok := canary["steps"].([]any)
	return steps, ok, nil
}
