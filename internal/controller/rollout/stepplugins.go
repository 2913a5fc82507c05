package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/plugin"
	"github.com/vanedev/vane/internal/plugin/step"
	"github.com/vanedev/vane/internal/strategy"
)

// Canary plugin steps are run with the step plugins of the argo-rollouts-config ConfigMap
// (internal/plugin): checkStepPlugins refuses a Rollout naming a plugin that cannot be used
// before anything changes; callStepPlugins makes the calls strategy.PlanStepPlugins decides and
// hands their statuses to the engine, which decides what they mean for the steps.

// WithPlugins sets the Manager that runs the step plugins (Setup uses plugin.ForManager(mgr)
// otherwise).
func WithPlugins(m *plugin.Manager) Option {
	return func(r *Reconciler) { r.Plugins = m }
}

// defaultPlugins gives the reconciler the plugin Manager the controllers of mgr share, unless a
// WithPlugins option gave one.
func (r *Reconciler) defaultPlugins(mgr ctrl.Manager) error {
	if r.Plugins != nil {
		return nil
	}
	pm, err := plugin.ForManager(mgr)
	if err != nil {
		return fmt.Errorf("the rollout controller's step plugins: %w", err)
	}
	r.Plugins = pm
	return nil
}

// stepPluginRetry is when a rollout whose step plugin call failed is looked at again (Argo's
// controller error backoff).
const stepPluginRetry = 30 * time.Second

// reasonReconciliationError is the reason of the Warning event of a failed step plugin call,
// as Argo Rollouts words it.
const reasonReconciliationError = "ReconciliationError"

// invalidPluginStep is what an InvalidSpec for a plugin step adds after the plugin's error.
const invalidPluginStep = " (the rollout waits here; nothing was changed)"

// checkStepPlugins makes a Rollout with a plugin step the controller cannot run InvalidSpec,
// naming the step and the plugin, before anything changes: without a plugin Manager every plugin
// step (strategy.UnsupportedSteps); with one, a step whose plugin the Manager cannot use for
// good (not in the ConfigMap, or its entry or binary unusable: a permanent *plugin.Error). A
// plugin that cannot be looked up for now (the ConfigMap could not be read) is left to the
// calls, which try again. It reports whether the reconcile stops here.
func (r *Reconciler) checkStepPlugins(ctx context.Context, s *syncState) bool {
	if r.Plugins == nil {
		if u := strategy.UnsupportedSteps(s.ro); len(u) > 0 {
			s.invalid(u[0].Field + ": " + u[0].Why + invalidPluginStep)
			return true
		}
		return false
	}
	for i, st := range s.ro.Spec.Strategy.Canary.Steps {
		if st.Plugin == nil {
			continue
		}
		_, err := r.Plugins.Item(ctx, plugin.Step, st.Plugin.Name)
		if perr, ok := plugin.AsError(err); ok && perr.Permanent {
			s.invalid(fmt.Sprintf("spec.strategy.canary.steps[%d].plugin: %v%s", i, perr, invalidPluginStep))
			return true
		}
	}
	return false
}

// stepPluginOutcome is what a reconcile's step plugin calls left.
type stepPluginOutcome struct {
	// plugins are the statuses for the engine (nil: the controller runs no step plugins)
	plugins *strategy.StepPlugins
	// requeue is stepPluginRetry after a failed call
	requeue time.Duration
	// invalid: a plugin cannot be used for good; the Rollout is InvalidSpec and the reconcile
	// stops
	invalid bool
}

// callStepPlugins makes the step plugin calls strategy.PlanStepPlugins decides for the rollout
// as read, in its order: Abort, Terminate, Run. Each plugin is resolved through the Manager;
// each status a call returns replaces the step's status of the same operation (step.Upsert),
// and a phase change is told with a StepPluginTransition event. The first call that fails ends
// the calls: a permanent *plugin.Error makes the Rollout InvalidSpec naming the plugin; any
// other error is a ReconciliationError Warning, and the rollout is looked at again in 30s
// (meanwhile no plugin step completes).
func (r *Reconciler) callStepPlugins(ctx context.Context, s *syncState, in strategy.Input) stepPluginOutcome {
	if r.Plugins == nil {
		return stepPluginOutcome{}
	}
	c := &stepPluginCalls{r: r, s: s, view: s.ro.DeepCopy()}
	err := c.make(ctx, strategy.PlanStepPlugins(in))
	statuses := c.view.Status.Canary.StepPluginStatuses
	out := stepPluginOutcome{plugins: &strategy.StepPlugins{Statuses: statuses, HadError: err != nil}}
	if err == nil {
		return out
	}
	var cerr *stepCallError
	if perr, ok := plugin.AsError(err); ok && perr.Permanent && errors.As(err, &cerr) {
		s.ro.Status.Canary.StepPluginStatuses = statuses // what the calls before it did
		s.invalid(fmt.Sprintf("spec.strategy.canary.steps[%d].plugin: %v", cerr.index, perr))
		return stepPluginOutcome{invalid: true}
	}
	log.FromContext(ctx).Error(err, "step plugin call failed; trying again", "retryIn", stepPluginRetry.String())
	s.event(true, reasonReconciliationError, "Reconciliation failed with error: %v", err)
	out.requeue = stepPluginRetry
	return out
}

// stepPluginCalls makes one reconcile's step plugin calls.
type stepPluginCalls struct {
	r *Reconciler
	s *syncState
	// view is the rollout the plugins are sent: the one being reconciled, with the statuses
	// of the calls made so far
	view *v1alpha1.Rollout
}

// stepOp is one of a step's operations (step.Step's Run, Terminate and Abort).
type stepOp func(*step.Step, context.Context, *v1alpha1.Rollout) (*v1alpha1.StepPluginStatus, error)

// make makes the calls, stopping at the first that fails.
func (c *stepPluginCalls) make(ctx context.Context, calls strategy.StepPluginCalls) error {
	for _, idx := range calls.Abort {
		if err := c.call(ctx, idx, "abort", (*step.Step).Abort); err != nil {
			return err
		}
	}
	if calls.Terminate != nil {
		if err := c.call(ctx, *calls.Terminate, "terminate", (*step.Step).Terminate); err != nil {
			return err
		}
	}
	if calls.Clear {
		c.view.Status.Canary.StepPluginStatuses = nil // a retry starts again from no status
	}
	if calls.Run != nil {
		return c.call(ctx, *calls.Run, "run", (*step.Step).Run)
	}
	return nil
}

// call resolves the plugin of step idx and makes one operation, keeping the status it returns.
func (c *stepPluginCalls) call(ctx context.Context, idx int32, what string, op stepOp) error {
	ps := c.view.Spec.Strategy.Canary.Steps[idx].Plugin
	sp, err := step.Resolve(ctx, c.r.Plugins, idx, ps, c.r.Clock)
	if err != nil {
		return &stepCallError{index: idx, err: fmt.Errorf("could not create step plugin at index %d : %w", idx, err)}
	}
	st, err := op(sp, ctx, c.view)
	if err != nil {
		return &stepCallError{index: idx, err: fmt.Errorf("failed to %s plugin: %w", what, err)}
	}
	statuses, changed := step.Upsert(c.view.Status.Canary.StepPluginStatuses, st)
	c.view.Status.Canary.StepPluginStatuses = statuses
	if msg, warning, ok := step.TransitionEvent(st); changed && ok {
		c.s.event(warning, step.TransitionReason, "%s", msg)
	}
	return nil
}

// stepCallError is a failed call of the plugin of step index.
type stepCallError struct {
	index int32
	err   error
}

// Error says what failed, as Argo Rollouts words it.
func (e *stepCallError) Error() string { return e.err.Error() }

// Unwrap returns the cause.
func (e *stepCallError) Unwrap() error { return e.err }
