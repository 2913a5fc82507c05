package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/plugin"
	"github.com/vanedev/vane/internal/plugin/plugintest"
	kit "github.com/vanedev/vane/internal/reconcile"
	"github.com/vanedev/vane/internal/strategy"
)

// The step plugins of the tests' ConfigMap: Argo's sample step plugin (a fixed seed) and its e2e
// step plugin, which answers what its config asks.
const (
	spSample = "argoproj/sample-step"
	spE2E    = "argoproj/e2e-step"
)

var spT0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// stepPluginReconciler is a Reconciler whose step plugins are Argo's samples, on a fake clock.
func stepPluginReconciler(t *testing.T) *Reconciler {
	t.Helper()
	items := []plugin.Item{
		{Kind: plugin.Step, Name: spSample, Location: "file://" + plugintest.Binary(t, plugintest.StepSample), Args: []string{"--seed", "42"}},
		{Kind: plugin.Step, Name: spE2E, Location: "file://" + plugintest.Binary(t, plugintest.StepE2E)},
	}
	r := &Reconciler{Plugins: plugintest.NewManager(t, plugin.Options{}, items)}
	r.Clock = clocktesting.NewFakePassiveClock(spT0)
	return r
}

// pluginRollout is a canary at step idx of [setWeight 20, plugin name, setWeight 50, plugin
// name, pause], Progressing, with the step plugin statuses given.
func pluginRollout(idx int32, name, config string, statuses ...v1alpha1.StepPluginStatus) *v1alpha1.Rollout {
	ps := func() v1alpha1.CanaryStep {
		return v1alpha1.CanaryStep{Plugin: &v1alpha1.PluginStep{Name: name, Config: json.RawMessage(config)}}
	}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns"},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
			{SetWeight: ptr.To[int32](20)}, ps(), {SetWeight: ptr.To[int32](50)}, ps(), {Pause: &v1alpha1.RolloutPause{}}}}}},
		Status: v1alpha1.RolloutStatus{StableRS: "s", CurrentPodHash: "n", CurrentStepHash: "h", CurrentStepIndex: ptr.To(idx),
			Phase: v1alpha1.RolloutPhaseProgressing}}
	ro.Status.Canary.StepPluginStatuses = statuses
	return ro
}

func spStatus(idx int32, name string, op v1alpha1.StepPluginOperation, phase v1alpha1.StepPluginPhase, msg string) v1alpha1.StepPluginStatus {
	at := metav1.NewTime(spT0)
	st := v1alpha1.StepPluginStatus{Index: idx, Name: name, Operation: op, Phase: phase, Message: msg, StartedAt: &at, FinishedAt: &at}
	if op == v1alpha1.StepPluginOperationRun {
		st.UpdatedAt, st.Executions = &at, 1
	}
	return st
}

// TestCallStepPlugins: the calls a reconcile makes through Argo's sample step plugins, the
// statuses they leave for the engine and the events they announce.
func TestCallStepPlugins(t *testing.T) {
	r := stepPluginReconciler(t)
	const run, abort, terminate = v1alpha1.StepPluginOperationRun, v1alpha1.StepPluginOperationAbort, v1alpha1.StepPluginOperationTerminate
	const running, ok, failed = v1alpha1.StepPluginPhaseRunning, v1alpha1.StepPluginPhaseSuccessful, v1alpha1.StepPluginPhaseFailed
	asyncRun := spStatus(1, spSample, run, running, "")
	asyncRun.FinishedAt, asyncRun.Backoff = nil, ptr.To(v1alpha1.DurationFromString("15s"))
	aborted := func(ro *v1alpha1.Rollout) *v1alpha1.Rollout {
		ro.Status.Abort = true
		ro.Status.CurrentStepIndex = ptr.To[int32](0)
		return ro
	}
	promoted := func(ro *v1alpha1.Rollout) *v1alpha1.Rollout { ro.Status.PromoteFull = true; return ro }
	transition := func(warning bool, msg string) kit.Event {
		return kit.Event{Warning: warning, Reason: "StepPluginTransition", Message: msg}
	}
	for name, tc := range map[string]struct {
		ro     *v1alpha1.Rollout
		want   []v1alpha1.StepPluginStatus
		events kit.Events
	}{
		"run: completed at once": {ro: pluginRollout(1, spSample, `{}`),
			want: []v1alpha1.StepPluginStatus{spStatus(1, spSample, run, ok, "Operation completed")}},
		"run: asynchronous": {ro: pluginRollout(1, spSample, `{"async": true}`), want: []v1alpha1.StepPluginStatus{asyncRun},
			events: kit.Events{transition(false, "Step plugin argoproj/sample-step (step 2) transitioned to Running")}},
		"run: failed": {ro: pluginRollout(1, spE2E, `{"return": "Failed"}`), want: []v1alpha1.StepPluginStatus{spStatus(1, spE2E, run, failed, "")},
			events: kit.Events{transition(true, "Step plugin argoproj/e2e-step (step 2) transitioned to Failed")}},
		"paused: not run": {ro: func() *v1alpha1.Rollout {
			ro := pluginRollout(1, spSample, `{}`)
			ro.Status.Phase = v1alpha1.RolloutPhasePaused
			return ro
		}()},
		"aborted: every step that ran is aborted, last first": {
			ro: aborted(pluginRollout(3, spSample, `{}`, spStatus(1, spSample, run, ok, ""), asyncRun3())),
			want: []v1alpha1.StepPluginStatus{spStatus(1, spSample, run, ok, ""), asyncRun3(),
				spStatus(3, spSample, abort, ok, "Operation completed"), spStatus(1, spSample, abort, ok, "Operation completed")},
			events: kit.Events{transition(false, "Step plugin argoproj/sample-step (step 4) aborted (Successful)"),
				transition(false, "Step plugin argoproj/sample-step (step 2) aborted (Successful)")}},
		"promoted full: the running step is terminated": {
			ro:     promoted(pluginRollout(3, spSample, `{}`, spStatus(1, spSample, run, ok, ""), asyncRun3())),
			want:   []v1alpha1.StepPluginStatus{spStatus(1, spSample, run, ok, ""), asyncRun3(), spStatus(3, spSample, terminate, ok, "Operation completed")},
			events: kit.Events{transition(false, "Step plugin argoproj/sample-step (step 4) terminated (Successful)")}},
		"a step that completed is not run again": {
			ro:   pluginRollout(1, spE2E, `{}`, spStatus(1, spE2E, run, failed, ""), spStatus(3, spE2E, run, ok, "")),
			want: []v1alpha1.StepPluginStatus{spStatus(1, spE2E, run, failed, ""), spStatus(3, spE2E, run, ok, "")}},
	} {
		t.Run(name, func(t *testing.T) {
			s := &syncState{ro: tc.ro, now: spT0, origStatus: *tc.ro.Status.DeepCopy(), events: &kit.Events{}}
			out := r.callStepPlugins(ctxFor(t), s, strategy.Input{Rollout: tc.ro, NewHash: "n", StepsHash: "h", Now: spT0})
			if out.invalid || out.requeue != 0 || out.plugins == nil || out.plugins.HadError {
				t.Fatalf("outcome %+v, want plain statuses", out)
			}
			if d := cmp.Diff(tc.want, out.plugins.Statuses, cmpopts.IgnoreFields(v1alpha1.StepPluginStatus{}, "Status")); d != "" {
				t.Errorf("statuses -want +got:\n%s", d)
			}
			if d := cmp.Diff(tc.events, *s.events, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("events -want +got:\n%s", d)
			}
		})
	}
}

// asyncRun3 is the sample plugin's Run status of step 3, still Running.
func asyncRun3() v1alpha1.StepPluginStatus {
	st := spStatus(3, spSample, v1alpha1.StepPluginOperationRun, v1alpha1.StepPluginPhaseRunning, "")
	st.FinishedAt, st.Status = nil, json.RawMessage(`{"Id":"a-1","SharedId":"","Value":""}`)
	return st
}

// TestCallStepPluginsRetry: at the first step again after an abort, the statuses of the first
// attempt go and the step runs afresh (Argo's cleanStatusForRetry).
func TestCallStepPluginsRetry(t *testing.T) {
	r := stepPluginReconciler(t)
	first := spStatus(0, spE2E, v1alpha1.StepPluginOperationRun, v1alpha1.StepPluginPhaseSuccessful, "")
	first.Executions, first.Status = 3, json.RawMessage(`{"Data":"d-1","Count":3}`)
	ro := pluginRollout(0, spE2E, `{}`, first, spStatus(1, spE2E, v1alpha1.StepPluginOperationRun, v1alpha1.StepPluginPhaseFailed, "no"),
		spStatus(0, spE2E, v1alpha1.StepPluginOperationAbort, v1alpha1.StepPluginPhaseSuccessful, ""))
	ro.Spec.Strategy.Canary.Steps[0] = ro.Spec.Strategy.Canary.Steps[1] // the plugin step first
	s := &syncState{ro: ro, now: spT0, origStatus: *ro.Status.DeepCopy(), events: &kit.Events{}}
	out := r.callStepPlugins(ctxFor(t), s, strategy.Input{Rollout: ro, NewHash: "n", StepsHash: "h", Now: spT0})
	want := []v1alpha1.StepPluginStatus{spStatus(0, spE2E, v1alpha1.StepPluginOperationRun, v1alpha1.StepPluginPhaseSuccessful, "")}
	if d := cmp.Diff(want, out.plugins.Statuses, cmpopts.IgnoreFields(v1alpha1.StepPluginStatus{}, "Status")); d != "" {
		t.Errorf("statuses -want +got:\n%s", d)
	}
	var state struct{ Count int }
	if err := json.Unmarshal(out.plugins.Statuses[0].Status, &state); err != nil || state.Count != 1 {
		t.Errorf("the plugin's state %s (%v): want a fresh one, counting 1 run", out.plugins.Statuses[0].Status, err)
	}
}

// TestStepPluginErrors: a plugin that cannot be used for good makes the Rollout InvalidSpec
// naming it (before anything changes, and at a call); one that cannot be looked up for now is
// a ReconciliationError Warning and a look again in 30s, and no plugin step completes.
func TestStepPluginErrors(t *testing.T) {
	r := stepPluginReconciler(t)
	ro := pluginRollout(1, "acme/missing", `{}`)
	s := &syncState{ro: ro, now: spT0, events: &kit.Events{}}
	if !r.checkStepPlugins(ctxFor(t), s) {
		t.Fatal("a Rollout naming a plugin the ConfigMap lacks was not refused")
	}
	want := `The Rollout "app" is invalid: spec.strategy.canary.steps[1].plugin: step plugin "acme/missing": not configured: ` +
		`the ConfigMap argo-rollouts-test/argo-rollouts-config has no entry of that name in stepPlugins (the rollout waits here; nothing was changed)`
	if c := findCondition(ro.Status.Conditions, v1alpha1.InvalidSpec); c == nil || c.Message != want {
		t.Errorf("InvalidSpec %+v, want the message %q", c, want)
	}

	s = &syncState{ro: pluginRollout(1, "acme/missing", `{}`), now: spT0, events: &kit.Events{}}
	if out := r.callStepPlugins(ctxFor(t), s, strategy.Input{Rollout: s.ro, NewHash: "n", StepsHash: "h"}); !out.invalid {
		t.Errorf("a call of a plugin the ConfigMap lacks: %+v, want InvalidSpec", out)
	}
	if c := findCondition(s.ro.Status.Conditions, v1alpha1.InvalidSpec); c == nil {
		t.Error("no InvalidSpec condition after the call")
	}

	s = &syncState{ro: pluginRollout(1, spSample, `{}`), now: spT0, events: &kit.Events{}}
	if (&Reconciler{}).checkStepPlugins(ctxFor(t), s) != true ||
		findCondition(s.ro.Status.Conditions, v1alpha1.InvalidSpec).Message != `The Rollout "app" is invalid: spec.strategy.canary.steps[1].plugin: `+
			`step plugins are not supported by Vane yet (plugin "argoproj/sample-step") (the rollout waits here; nothing was changed)` {
		t.Errorf("without a plugin Manager: %+v", s.ro.Status.Conditions)
	}

	broken := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
		return errors.New("the API server is away")
	}}).Build()
	rb := &Reconciler{Plugins: plugin.NewManager(broken, plugin.Options{Namespace: "vane", Dir: t.TempDir()})}
	rb.Clock = clocktesting.NewFakePassiveClock(spT0)
	s = &syncState{ro: pluginRollout(1, spSample, `{}`), now: spT0, events: &kit.Events{}}
	if rb.checkStepPlugins(ctxFor(t), s) {
		t.Error("a ConfigMap that cannot be read for now made the Rollout InvalidSpec")
	}
	out := rb.callStepPlugins(ctxFor(t), s, strategy.Input{Rollout: s.ro, NewHash: "n", StepsHash: "h"})
	events := kit.Events{{Warning: true, Reason: "ReconciliationError", Message: `Reconciliation failed with error: could not create step plugin at index 1 : ` +
		`step plugin "argoproj/sample-step": reading the ConfigMap vane/argo-rollouts-config: the API server is away`}}
	got := []any{out.invalid, out.requeue, out.plugins.HadError, *s.events}
	if d := cmp.Diff([]any{false, 30 * time.Second, true, events}, got); d != "" {
		t.Errorf("invalid, requeue, hadError, events -want +got:\n%s", d)
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
