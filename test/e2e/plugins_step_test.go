package e2e

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/controller"
	"github.com/vanedev/vane/internal/controller/rollout"
	"github.com/vanedev/vane/internal/plugin"
	"github.com/vanedev/vane/internal/plugin/plugintest"
	"github.com/vanedev/vane/internal/testenv"
)

// The step plugins of these tests' ConfigMaps: Argo Rollouts' sample step plugin (it draws a
// number, at once or, with {"async": true}, a minute later) and its e2e step plugin (it answers
// the phase its config asks for).
const (
	stepSample = "argoproj/sample-step"
	stepE2E    = "argoproj/e2e-step"
)

// TestPluginSteps runs canary plugin steps through Argo Rollouts' own step plugins, unchanged,
// loaded by the rollout controller from the argo-rollouts-config ConfigMap of its namespace:
// a step that completes (the update goes on to the next step), one that fails (the update is
// aborted with the plugin's message), an abort while a step runs (the plugin's Abort is
// called), a full promotion while a step runs (its Terminate is called), and a step naming a
// plugin the ConfigMap does not list (InvalidSpec naming it, nothing changes).
func TestPluginSteps(t *testing.T) {
	t.Parallel() // its own namespaces and controllers: runs beside the others
	env := testenv.Get(t)
	sampleBin, e2eBin := plugintest.Binary(t, plugintest.StepSample), plugintest.Binary(t, plugintest.StepE2E)
	srv := plugintest.Serve(t, map[string]string{"sample-step": sampleBin})
	items := []plugin.Item{
		// from a loopback http:// server, checked against its sha256
		{Kind: plugin.Step, Name: stepSample, Location: srv.URL + "/sample-step", Sha256: plugintest.SHA256(t, sampleBin), Args: []string{"--seed", "7"}},
		{Kind: plugin.Step, Name: stepE2E, Location: "file://" + e2eBin},
	}
	for name, play := range map[string]func(t *testing.T, env *testenv.Env, ns string){
		"a step that completes":          playStepCompletes,
		"a step that fails":              playStepFails,
		"an abort while a step runs":     playAbortWhileRunning,
		"a full promotion while it runs": playPromoteFullWhileRunning,
		"a plugin the ConfigMap lacks":   playUnconfiguredPlugin,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := env.Namespace(t)
			if err := env.Client.Create(context.Background(), plugintest.ConfigMap(t, ns, items...)); err != nil {
				t.Fatal(err)
			}
			startStepPluginController(t, env, ns, "step-plugins-"+ns)
			play(t, env, ns)
		})
	}
}

// playStepCompletes: the sample plugin draws its number at once; the update moves on to the
// pause after the plugin step, with the plugin's status recorded as Argo records it.
func playStepCompletes(t *testing.T, env *testenv.Env, ns string) {
	createStepRollout(t, env, ns, stepSample, `{}`)
	setImage(t, env, ns, "app", "app:2")
	ro := waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 2, Stable: "app:1", Message: "CanaryPauseStep"})
	run := stepStatus(ro, 1, v1alpha1.StepPluginOperationRun)
	if run == nil || run.Phase != v1alpha1.StepPluginPhaseSuccessful || run.Message != "Operation completed" || run.Executions != 1 ||
		run.FinishedAt == nil || run.Name != stepSample {
		t.Fatalf("the Run status of the plugin step: %+v", run)
	}
	var state struct{ Id, Value string }
	if err := json.Unmarshal(run.Status, &state); err != nil || state.Id == "" || state.Value == "" {
		t.Errorf("the plugin's own state %s (%v): want its id and the number it drew", run.Status, err)
	}
	wantStepEvent(t, env, ns, corev1.EventTypeNormal, "RolloutStepCompleted", "Rollout step 2/3 completed (plugin: argoproj/sample-step)")
}

// playStepFails: the e2e plugin answers Failed; the update is aborted with the plugin's message
// (which the e2e plugin leaves empty) and goes back to the stable pods.
func playStepFails(t *testing.T, env *testenv.Env, ns string) {
	createStepRollout(t, env, ns, stepE2E, `{"return": "Failed"}`)
	setImage(t, env, ns, "app", "app:2")
	const msg = "Rollout aborted update to revision 2: Step Plugin 2 (argoproj/e2e-step) failed: "
	ro := waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Degraded", Step: 0, Stable: "app:1", Sets: "app:1=2/2",
		Message: "RolloutAborted: " + msg})
	if c := condition(ro, v1alpha1.RolloutProgressing); c == nil || c.Reason != "RolloutAborted" || c.Message != msg {
		t.Errorf("Progressing condition %+v, want RolloutAborted %q", c, msg)
	}
	if run := stepStatus(ro, 1, v1alpha1.StepPluginOperationRun); run == nil || run.Phase != v1alpha1.StepPluginPhaseFailed {
		t.Errorf("the Run status of the plugin step: %+v", run)
	}
	wantStepEvent(t, env, ns, corev1.EventTypeWarning, "StepPluginTransition", "Step plugin argoproj/e2e-step (step 2) transitioned to Failed")
	wantStepEvent(t, env, ns, corev1.EventTypeWarning, "RolloutAborted", msg)
}

// playAbortWhileRunning: the sample plugin's asynchronous step is Running when the user aborts;
// the controller calls the plugin's Abort once and records it.
func playAbortWhileRunning(t *testing.T, env *testenv.Env, ns string) {
	createStepRollout(t, env, ns, stepSample, `{"async": true}`)
	setImage(t, env, ns, "app", "app:2")
	waitStepPhase(t, env, ns, 1, v1alpha1.StepPluginOperationRun, v1alpha1.StepPluginPhaseRunning)
	wantStepEvent(t, env, ns, corev1.EventTypeNormal, "StepPluginTransition", "Step plugin argoproj/sample-step (step 2) transitioned to Running")
	abort(t, env, ns, "app")
	ab := waitStepPhase(t, env, ns, 1, v1alpha1.StepPluginOperationAbort, v1alpha1.StepPluginPhaseSuccessful)
	if ab.Message != "Operation completed" || ab.Name != stepSample || ab.FinishedAt == nil {
		t.Errorf("the Abort status: %+v, want the sample's answer", ab)
	}
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Degraded", Step: 0, Stable: "app:1", Sets: "app:1=2/2", Message: "RolloutAborted"})
	wantStepEvent(t, env, ns, corev1.EventTypeNormal, "StepPluginTransition", "Step plugin argoproj/sample-step (step 2) aborted (Successful)")
}

// playPromoteFullWhileRunning: a full promotion while the sample plugin's asynchronous step is
// Running completes the update and calls the plugin's Terminate on that step.
func playPromoteFullWhileRunning(t *testing.T, env *testenv.Env, ns string) {
	createStepRollout(t, env, ns, stepSample, `{"async": true}`)
	setImage(t, env, ns, "app", "app:2")
	waitStepPhase(t, env, ns, 1, v1alpha1.StepPluginOperationRun, v1alpha1.StepPluginPhaseRunning)
	promote(t, env, ns, "app", true)
	term := waitStepPhase(t, env, ns, 1, v1alpha1.StepPluginOperationTerminate, v1alpha1.StepPluginPhaseSuccessful)
	if term.Message != "Operation completed" || term.Name != stepSample {
		t.Errorf("the Terminate status: %+v, want the sample's answer", term)
	}
	ro := waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 3, Stable: "app:2", Sets: "app:2=2/2"})
	if run := stepStatus(ro, 1, v1alpha1.StepPluginOperationRun); run == nil || run.Phase != v1alpha1.StepPluginPhaseRunning {
		t.Errorf("the Run status after the promotion: %+v, want it left Running (terminated)", run)
	}
	wantStepEvent(t, env, ns, corev1.EventTypeNormal, "StepPluginTransition", "Step plugin argoproj/sample-step (step 2) terminated (Successful)")
}

// playUnconfiguredPlugin: a step naming a plugin the ConfigMap does not list makes the Rollout
// InvalidSpec, naming the step and the plugin, before anything changes.
func playUnconfiguredPlugin(t *testing.T, env *testenv.Env, ns string) {
	createStepRollout(t, env, ns, "acme/approval", `{}`)
	ro := waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Degraded", Step: anyStep, Message: "InvalidSpec: "})
	want := `spec.strategy.canary.steps[1].plugin: step plugin "acme/approval": not configured: the ConfigMap ` + ns +
		`/argo-rollouts-config has no entry of that name in stepPlugins (the rollout waits here; nothing was changed)`
	if c := condition(ro, v1alpha1.InvalidSpec); c == nil || c.Status != corev1.ConditionTrue || !strings.Contains(c.Message, want) {
		t.Fatalf("InvalidSpec condition %+v, want it to say %q", c, want)
	}
	if sets := replicaSetState(t, env, ns); sets != "" {
		t.Errorf("ReplicaSets of an InvalidSpec rollout: %s", sets)
	}
}

// createStepRollout creates the Rollout "app" (2 replicas of app:1) for the namespace's
// controller, with the steps [setWeight 50, plugin name with config, pause], and waits until
// app:1 is stable (or, for a plugin the controller refuses, until it has looked at it).
func createStepRollout(t *testing.T, env *testenv.Env, ns, name, config string) {
	t.Helper()
	labels := map[string]string{"app": "app"}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns,
		Labels: map[string]string{v1alpha1.InstanceIDLabel: "step-plugins-" + ns}},
		Spec: v1alpha1.RolloutSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
				{SetWeight: ptr.To[int32](50)},
				{Plugin: &v1alpha1.PluginStep{Name: name, Config: json.RawMessage(config)}},
				{Pause: &v1alpha1.RolloutPause{}}}}}}}
	if err := env.Client.Create(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	if name == stepSample || name == stepE2E {
		waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 3, Stable: "app:1", Sets: "app:1=2/2"})
	}
}

// stepStatus returns the rollout's status of operation op of step idx, or nil.
func stepStatus(ro *v1alpha1.Rollout, idx int32, op v1alpha1.StepPluginOperation) *v1alpha1.StepPluginStatus {
	for i, s := range ro.Status.Canary.StepPluginStatuses {
		if s.Index == idx && s.Operation == op {
			return &ro.Status.Canary.StepPluginStatuses[i]
		}
	}
	return nil
}

// waitStepPhase waits until the rollout "app" records operation op of step idx in phase.
func waitStepPhase(t *testing.T, env *testenv.Env, ns string, idx int32, op v1alpha1.StepPluginOperation, phase v1alpha1.StepPluginPhase) *v1alpha1.StepPluginStatus {
	t.Helper()
	var got *v1alpha1.StepPluginStatus
	waitUntil(t, waitLong, string(op)+" "+string(phase), func() (bool, string) {
		ro := &v1alpha1.Rollout{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app"}, ro); err != nil {
			return false, err.Error()
		}
		got = stepStatus(ro, idx, op)
		b, _ := json.Marshal(ro.Status.Canary.StepPluginStatuses)
		return got != nil && got.Phase == phase, string(b)
	})
	return got
}

// wantStepEvent waits until the rollout "app" has an event of that type, reason and message.
func wantStepEvent(t *testing.T, env *testenv.Env, ns, typ, reason, msg string) {
	t.Helper()
	waitUntil(t, 10*time.Second, reason+" event "+msg, func() (bool, string) {
		var seen []string
		for _, e := range rolloutEventList(t, env, ns, "app") {
			seen = append(seen, e.Type+" "+e.Reason+": "+e.Message)
		}
		return slices.Contains(seen, typ+" "+reason+": "+msg), strings.Join(seen, "\n")
	})
}

// startStepPluginController runs the rollout controller alone, for the Rollouts labelled id in
// ns, with the step plugins of ns's argo-rollouts-config ConfigMap (ns stands for the
// controller's namespace), until the test ends.
func startStepPluginController(t *testing.T, env *testenv.Env, ns, id string) {
	t.Helper()
	scheme, err := controller.Scheme()
	must(t, "scheme", err)
	cfg, err := env.ControllerIdentity()
	must(t, "controller identity", err)
	logf, err := os.CreateTemp("", "step-plugins-controller-*.log")
	must(t, "controller log", err)
	t.Cleanup(func() { logf.Close() })
	t.Logf("controller log in %s", logf.Name())
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Logger:                 zap.New(zap.WriteTo(logf), zap.UseDevMode(true), zap.Level(zapcore.Level(-1))),
		HealthProbeBindAddress: "0", Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}}})
	must(t, "manager", err)
	pm := plugin.NewManager(mgr.GetAPIReader(), plugin.Options{Namespace: ns, Dir: t.TempDir()})
	must(t, "plugin manager", mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		return pm.Start(log.IntoContext(ctx, mgr.GetLogger()))
	})))
	must(t, "rollout reconciler", rollout.Setup(mgr, 2, rollout.WithInstanceID(id), rollout.WithPlugins(pm)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}
