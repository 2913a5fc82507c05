package step_test

import (
	"context"
	"encoding/json"
	"math/rand"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/plugin"
	"github.com/vanedev/vane/internal/plugin/plugintest"
	"github.com/vanedev/vane/internal/plugin/step"
)

// The plugins of the tests' ConfigMap: Argo's sample step plugin (with a fixed seed), the same
// disabled, and Argo's e2e step plugin, which answers what its config asks.
const (
	sample   = "argoproj/sample-step"
	disabled = "argoproj/disabled-step"
	e2e      = "argoproj/e2e-step"
	seed     = 42
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	pm    *plugin.Manager
	clock *clocktesting.FakePassiveClock
}

func newFixture(t *testing.T) *fixture {
	sampleBin, e2eBin := plugintest.Binary(t, plugintest.StepSample), plugintest.Binary(t, plugintest.StepE2E)
	pm := plugintest.NewManager(t, plugin.Options{}, []plugin.Item{
		{Kind: plugin.Step, Name: sample, Location: "file://" + sampleBin, Args: []string{"--seed", strconv.Itoa(seed)}},
		{Kind: plugin.Step, Name: disabled, Location: "file://" + sampleBin, Disabled: true},
		{Kind: plugin.Step, Name: e2e, Location: "file://" + e2eBin},
	})
	return &fixture{pm: pm, clock: clocktesting.NewFakePassiveClock(t0)}
}

func (f *fixture) step(t *testing.T, index int32, name, config string) *step.Step {
	t.Helper()
	s, err := step.Resolve(context.Background(), f.pm, index, &v1alpha1.PluginStep{Name: name, Config: json.RawMessage(config)}, f.clock)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rollout is a canary at step index with the step plugin statuses given.
func rollout(index int32, statuses ...v1alpha1.StepPluginStatus) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}}
	ro.Status.CurrentStepIndex = ptr.To(index)
	ro.Status.Canary.StepPluginStatuses = statuses
	return ro
}

func at(d time.Duration) *metav1.Time { t := metav1.NewTime(t0.Add(d)); return &t }

func dur(s string) *v1alpha1.DurationString { return ptr.To(v1alpha1.DurationFromString(s)) }

// state decodes the plugins' status, dropping the random ids.
func state(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	if raw == nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Id", "Data"} {
		if v, ok := m[k].(string); ok && v != "" {
			m[k] = "<set>"
		}
	}
	return m
}

// TestRun runs a plugin step once, on a rollout that has no status for it yet.
func TestRun(t *testing.T) {
	f := newFixture(t)
	first := strconv.Itoa(rand.New(rand.NewSource(seed)).Intn(100)) // the sample's first draw
	run := func(phase v1alpha1.StepPluginPhase, msg string, finished bool, backoff string) v1alpha1.StepPluginStatus {
		st := v1alpha1.StepPluginStatus{Index: 1, Operation: v1alpha1.StepPluginOperationRun, Phase: phase, Message: msg,
			StartedAt: at(0), UpdatedAt: at(0), Executions: 1}
		if finished {
			st.FinishedAt = at(0)
		}
		if backoff != "" {
			st.Backoff = dur(backoff)
		}
		return st
	}
	for name, tc := range map[string]struct {
		plugin, config string
		want           v1alpha1.StepPluginStatus
		state          map[string]any
	}{
		"sample, at once": {plugin: sample, config: `{}`, want: run(v1alpha1.StepPluginPhaseSuccessful, "Operation completed", true, ""),
			state: map[string]any{"Id": "<set>", "SharedId": "", "Value": first}},
		"sample, asynchronous: the plugin asks again in 15s": {plugin: sample, config: `{"async": true}`, want: run(v1alpha1.StepPluginPhaseRunning, "", false, "15s"),
			state: map[string]any{"Id": "<set>", "SharedId": "", "Value": ""}},
		"a failed step": {plugin: e2e, config: `{"return": "Failed"}`, want: run(v1alpha1.StepPluginPhaseFailed, "", true, ""),
			state: map[string]any{"Data": "<set>", "Count": 1.0}},
		"running, asking for less than the 10s minimum": {plugin: e2e, config: `{"return": "Running", "requeue": "5s"}`,
			want: run(v1alpha1.StepPluginPhaseRunning, "", false, "30s"), state: map[string]any{"Data": "<set>", "Count": 1.0}},
		"the plugin returns an error: retried in 30s": {plugin: e2e, config: `{"return": "bogus"}`,
			want: run(v1alpha1.StepPluginPhaseError, "could not parse phase: phase 'bogus' is not valid", false, "30s")},
		"disabled in the ConfigMap": {plugin: disabled, config: `{}`,
			want: v1alpha1.StepPluginStatus{Index: 1, Operation: v1alpha1.StepPluginOperationRun, Disabled: true}},
	} {
		t.Run(name, func(t *testing.T) {
			tc.want.Name = tc.plugin
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got, err := f.step(t, 1, tc.plugin, tc.config).Run(ctx, rollout(1))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.state, state(t, got.Status)); d != "" {
				t.Errorf("plugin state -want +got:\n%s", d)
			}
			if d := cmp.Diff(tc.want, *got, cmpopts.IgnoreFields(v1alpha1.StepPluginStatus{}, "Status")); d != "" {
				t.Errorf("-want +got:\n%s", d)
			}
		})
	}
}

// TestRunAgain: a Running step is not called again before its backoff has passed; then it is,
// with its state, and its executions are counted.
func TestRunAgain(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := f.step(t, 0, e2e, `{"return": "Running", "requeue": "20s"}`)
	st, err := s.Run(ctx, rollout(0))
	if err != nil || st.Phase != v1alpha1.StepPluginPhaseRunning || step.RequeueAfter(st, f.clock.Now()) != 20*time.Second {
		t.Fatalf("first run: %+v, %v", st, err)
	}
	f.clock.SetTime(t0.Add(10 * time.Second))
	again, err := s.Run(ctx, rollout(0, *st))
	if err != nil || !cmp.Equal(st, again) {
		t.Errorf("run before the backoff changed the status: %v, %s", err, cmp.Diff(st, again))
	}
	f.clock.SetTime(t0.Add(21 * time.Second))
	again, err = s.Run(ctx, rollout(0, *st))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{again.Executions, again.UpdatedAt, again.StartedAt, state(t, again.Status)}
	want := []any{int32(2), at(21 * time.Second), at(0), map[string]any{"Data": "<set>", "Count": 2.0}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("second run: executions, updatedAt, startedAt, state -want +got:\n%s", d)
	}
	completed, err := s.Run(ctx, rollout(0, v1alpha1.StepPluginStatus{Index: 0, Name: e2e, Operation: v1alpha1.StepPluginOperationRun, Phase: v1alpha1.StepPluginPhaseSuccessful}))
	if err != nil || completed != nil {
		t.Errorf("a completed step was run again: %+v, %v", completed, err)
	}
}

// TestTerminateAndAbort: Terminate stops a Running step (a fully promoted rollout), Abort undoes
// a Running or Successful one (an aborted rollout); each runs once, and an answer of Running
// (they cannot be asynchronous) is taken as Failed.
func TestTerminateAndAbort(t *testing.T) {
	f := newFixture(t)
	runStatus := func(name string, phase v1alpha1.StepPluginPhase) v1alpha1.StepPluginStatus {
		return v1alpha1.StepPluginStatus{Index: 2, Name: name, Operation: v1alpha1.StepPluginOperationRun, Phase: phase,
			Status: json.RawMessage(`{"Id":"a-1"}`)}
	}
	done := func(name string, op v1alpha1.StepPluginOperation, phase v1alpha1.StepPluginPhase, msg string) *v1alpha1.StepPluginStatus {
		return &v1alpha1.StepPluginStatus{Index: 2, Name: name, Operation: op, Phase: phase, Message: msg, StartedAt: at(0), FinishedAt: at(0)}
	}
	term, abort := v1alpha1.StepPluginOperationTerminate, v1alpha1.StepPluginOperationAbort
	for name, tc := range map[string]struct {
		plugin, config string
		op             v1alpha1.StepPluginOperation
		statuses       []v1alpha1.StepPluginStatus
		want           *v1alpha1.StepPluginStatus
	}{
		"terminate a running step": {plugin: sample, config: `{"async": true}`, op: term, statuses: []v1alpha1.StepPluginStatus{runStatus(sample, v1alpha1.StepPluginPhaseRunning)},
			want: done(sample, term, v1alpha1.StepPluginPhaseSuccessful, "Operation completed")},
		"terminate: Running is Failed": {plugin: e2e, config: `{"terminate": {"return": "Running"}}`, op: term, statuses: []v1alpha1.StepPluginStatus{runStatus(e2e, v1alpha1.StepPluginPhaseRunning)},
			want: done(e2e, term, v1alpha1.StepPluginPhaseFailed, "")},
		"terminate a completed step: nothing": {plugin: sample, op: term, statuses: []v1alpha1.StepPluginStatus{runStatus(sample, v1alpha1.StepPluginPhaseSuccessful)}},
		"terminate twice: nothing":            {plugin: sample, op: term, statuses: []v1alpha1.StepPluginStatus{runStatus(sample, v1alpha1.StepPluginPhaseRunning), *done(sample, term, v1alpha1.StepPluginPhaseSuccessful, "")}},
		"abort a successful step": {plugin: sample, op: abort, statuses: []v1alpha1.StepPluginStatus{runStatus(sample, v1alpha1.StepPluginPhaseSuccessful)},
			want: done(sample, abort, v1alpha1.StepPluginPhaseSuccessful, "Operation completed")},
		"abort: the plugin fails": {plugin: e2e, config: `{"abort": {"return": "Failed"}}`, op: abort, statuses: []v1alpha1.StepPluginStatus{runStatus(e2e, v1alpha1.StepPluginPhaseRunning)},
			want: done(e2e, abort, v1alpha1.StepPluginPhaseFailed, "")},
		"abort a failed step: nothing":    {plugin: e2e, op: abort, statuses: []v1alpha1.StepPluginStatus{runStatus(e2e, v1alpha1.StepPluginPhaseFailed)}},
		"abort a step never run: nothing": {plugin: e2e, op: abort},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s := f.step(t, 2, tc.plugin, tc.config)
			do := s.Terminate
			if tc.op == abort {
				do = s.Abort
			}
			got, err := do(ctx, rollout(2, tc.statuses...))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(v1alpha1.StepPluginStatus{}, "Status")); d != "" {
				t.Errorf("-want +got:\n%s", d)
			}
		})
	}
}

// TestErrors: a plugin the ConfigMap lacks cannot be resolved (an error naming it, permanent);
// a plugin whose process crashed is started again at the next Run.
func TestErrors(t *testing.T) {
	f := newFixture(t)
	_, err := step.Resolve(context.Background(), f.pm, 0, &v1alpha1.PluginStep{Name: "argoproj/other"}, f.clock)
	e, ok := plugin.AsError(err)
	want := `step plugin "argoproj/other": not configured: the ConfigMap argo-rollouts-test/argo-rollouts-config has no entry of that name in stepPlugins`
	if !ok || !e.Permanent || err.Error() != want {
		t.Errorf("unknown plugin: %v, want the permanent %q", err, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := f.step(t, 0, e2e, `{}`)
	c := step.Client{Plugins: f.pm, Name: e2e}
	if typ, err := c.Type(ctx); typ != "e2e-plugin" || err != nil {
		t.Fatalf("Type: %q, %v", typ, err)
	}
	pid := f.pm.PID(plugin.Step, e2e)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st, err := s.Run(ctx, rollout(0))
	if err != nil || st.Phase != v1alpha1.StepPluginPhaseSuccessful || f.pm.PID(plugin.Step, e2e) == pid {
		t.Errorf("run after a crash: %+v, %v", st, err)
	}
}
