package step

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/plugin"
)

// Backoffs of Argo Rollouts' step plugins.
const (
	// MinRequeue is the shortest wait between two Runs of a Running step a plugin may ask for.
	MinRequeue = 10 * time.Second
	// DefaultRequeue is the wait between two Runs of a Running step otherwise.
	DefaultRequeue = 30 * time.Second
	// ErrorBackoff is the wait before Run is called again after an error.
	ErrorBackoff = 30 * time.Second
)

// Step is one plugin step of a Rollout (steps[Index].plugin).
type Step struct {
	// Index is the step's index.
	Index int32
	// Name is the plugin's name.
	Name string
	// Config is the step's plugin.config.
	Config json.RawMessage
	// Disabled is the ConfigMap entry's disabled: the step completes without the plugin.
	Disabled bool

	client Client
	clock  clock.PassiveClock
}

// Resolve returns the step at index, whose plugin step is ps. A plugin that is not configured
// or cannot be used is a *plugin.Error naming it (Permanent: the Rollout cannot go on until
// the ConfigMap is fixed).
func Resolve(ctx context.Context, plugins *plugin.Manager, index int32, ps *v1alpha1.PluginStep, clk clock.PassiveClock) (*Step, error) {
	if plugins == nil {
		return nil, &plugin.Error{Kind: plugin.Step, Name: ps.Name, Permanent: true, Err: fmt.Errorf("step plugins are not enabled in this controller")}
	}
	it, err := plugins.Item(ctx, plugin.Step, ps.Name)
	if err != nil {
		return nil, err
	}
	return &Step{Index: index, Name: ps.Name, Config: ps.Config, Disabled: it.Disabled,
		client: Client{Plugins: plugins, Name: ps.Name}, clock: clk}, nil
}

// Run runs the step, or checks on it, and returns its new Run status; nil when the step has
// completed already. A Running or Error status has a Backoff: call Run again once UpdatedAt +
// Backoff has passed (RequeueAfter), not before (Run returns the status unchanged until then).
// The error is for an answer that makes no sense (an unknown phase).
func (s *Step) Run(ctx context.Context, ro *v1alpha1.Rollout) (*v1alpha1.StepPluginStatus, error) {
	if s.Disabled {
		return &v1alpha1.StepPluginStatus{Index: s.Index, Name: s.Name, Operation: v1alpha1.StepPluginOperationRun, Disabled: true}, nil
	}
	st := Find(ro.Status.Canary.StepPluginStatuses, s.Index, v1alpha1.StepPluginOperationRun)
	if st != nil && st.Name != s.Name {
		st = nil // another plugin's, from an earlier version of the steps
	}
	if st == nil || st.Disabled {
		st = &v1alpha1.StepPluginStatus{Index: s.Index, Name: s.Name, StartedAt: s.now(),
			Operation: v1alpha1.StepPluginOperationRun, Phase: v1alpha1.StepPluginPhaseRunning}
	}
	if st.Phase == v1alpha1.StepPluginPhaseSuccessful || st.Phase == v1alpha1.StepPluginPhaseFailed {
		return nil, nil
	}
	if st.Executions > 0 && RequeueAfter(st, s.clock.Now()) > 0 {
		return st, nil
	}
	res, err := s.client.Run(ctx, ro.DeepCopy(), s.context(st))
	st.UpdatedAt, st.Backoff = s.now(), nil
	st.Executions++
	if err != nil {
		log.FromContext(ctx).Info("step plugin Run failed", "plugin", s.Name, "step", s.Index, "error", err.Error())
		st.Phase, st.Message, st.Backoff = v1alpha1.StepPluginPhaseError, err.Error(), backoff(ErrorBackoff)
		return st, nil // the plugin's state is kept for the retry
	}
	st.Message = res.Message
	if res.Phase != "" {
		if err := res.Phase.Validate(); err != nil {
			return nil, fmt.Errorf("step plugin %q answered Run with an invalid phase: %w", s.Name, err)
		}
		st.Phase = v1alpha1.StepPluginPhase(res.Phase)
	}
	if st.Phase == v1alpha1.StepPluginPhaseSuccessful || st.Phase == v1alpha1.StepPluginPhaseFailed {
		st.FinishedAt = st.UpdatedAt
	}
	if st.Phase != v1alpha1.StepPluginPhaseError {
		st.Status = res.Status
	}
	if st.Phase == v1alpha1.StepPluginPhaseRunning {
		wait := DefaultRequeue
		if res.RequeueAfter > MinRequeue {
			wait = res.RequeueAfter
		}
		st.Backoff = backoff(wait)
	}
	return st, nil
}

// Terminate stops the step's Run if it is still Running (the rollout was fully promoted) and
// returns the Terminate status; nil when there is nothing to terminate or it was done.
func (s *Step) Terminate(ctx context.Context, ro *v1alpha1.Rollout) (*v1alpha1.StepPluginStatus, error) {
	return s.finish(ctx, ro, v1alpha1.StepPluginOperationTerminate, func(st *v1alpha1.StepPluginStatus) bool {
		return st.Phase == v1alpha1.StepPluginPhaseRunning
	}, s.client.Terminate)
}

// Abort undoes the step's Run if it is Running or Successful (the rollout was aborted) and
// returns the Abort status; nil when there is nothing to abort or it was done.
func (s *Step) Abort(ctx context.Context, ro *v1alpha1.Rollout) (*v1alpha1.StepPluginStatus, error) {
	return s.finish(ctx, ro, v1alpha1.StepPluginOperationAbort, func(st *v1alpha1.StepPluginStatus) bool {
		return st.Phase == v1alpha1.StepPluginPhaseRunning || st.Phase == v1alpha1.StepPluginPhaseSuccessful
	}, s.client.Abort)
}

type opFunc func(context.Context, *v1alpha1.Rollout, *Context) (Result, error)

// finish runs Terminate or Abort once, when the Run status is in a phase that needs it. They
// cannot run asynchronously: a Running answer becomes Failed.
func (s *Step) finish(ctx context.Context, ro *v1alpha1.Rollout, op v1alpha1.StepPluginOperation, needs func(*v1alpha1.StepPluginStatus) bool, call opFunc) (*v1alpha1.StepPluginStatus, error) {
	if s.Disabled || Find(ro.Status.Canary.StepPluginStatuses, s.Index, op) != nil {
		return nil, nil
	}
	run := Find(ro.Status.Canary.StepPluginStatuses, s.Index, v1alpha1.StepPluginOperationRun)
	if run == nil || run.Disabled || !needs(run) {
		return nil, nil
	}
	st := &v1alpha1.StepPluginStatus{Index: run.Index, Name: run.Name, StartedAt: s.now(), Operation: op, Phase: v1alpha1.StepPluginPhaseSuccessful}
	res, err := call(ctx, ro.DeepCopy(), s.context(run))
	st.FinishedAt = s.now()
	if err != nil {
		st.Phase, st.Message = v1alpha1.StepPluginPhaseError, err.Error()
		return st, nil
	}
	if res.Phase != "" {
		if err := res.Phase.Validate(); err != nil {
			return nil, fmt.Errorf("step plugin %q answered %s with an invalid phase: %w", s.Name, op, err)
		}
		st.Phase = v1alpha1.StepPluginPhase(res.Phase)
	}
	if st.Phase == v1alpha1.StepPluginPhaseRunning {
		log.FromContext(ctx).Info("a step plugin cannot "+string(op)+" asynchronously: Running taken as Failed", "plugin", s.Name, "step", s.Index)
		st.Phase = v1alpha1.StepPluginPhaseFailed
	}
	st.Message = res.Message
	return st, nil
}

// context is what the plugin is told: its config and the state of the Run status.
func (s *Step) context(run *v1alpha1.StepPluginStatus) *Context {
	sc := &Context{PluginName: s.Name, Config: s.Config}
	if run != nil {
		sc.Status = run.Status
	}
	return sc
}

// now is the clock's time in whole seconds, as the API stores it.
func (s *Step) now() *metav1.Time {
	t := metav1.NewTime(s.clock.Now().Truncate(time.Second))
	return &t
}

func backoff(d time.Duration) *v1alpha1.DurationString {
	b := v1alpha1.DurationFromString(d.String())
	return &b
}
