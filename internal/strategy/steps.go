package strategy

import (
	"fmt"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Unsupported is a field of a Rollout that Vane cannot act on yet, and why.
type Unsupported struct {
	Field string
	Why   string
}

// UnsupportedSteps lists the canary steps a controller that runs no step plugins (no plugin
// Manager) cannot run: plugin steps. Such a controller makes the Rollout InvalidSpec (naming the
// first) before anything changes, so that a step a team relies on for safety (a plugin's check)
// is never skipped; `vane migrate check` reports each. A controller with a plugin Manager runs
// them (PlanStepPlugins) and refuses only a step whose plugin the Manager cannot use.
func UnsupportedSteps(ro *v1alpha1.Rollout) []Unsupported {
	c := ro.Spec.Strategy.Canary
	if c == nil {
		return nil
	}
	var out []Unsupported
	for i, step := range c.Steps {
		if step.Plugin != nil {
			out = append(out, Unsupported{fmt.Sprintf("spec.strategy.canary.steps[%d].plugin", i),
				fmt.Sprintf("step plugins are not supported by Vane yet (plugin %q)", step.Plugin.Name)})
		}
	}
	return out
}
