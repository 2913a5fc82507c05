package rollout

import (
	"fmt"

	"github.com/vanedev/vane/api/v1alpha1"
)

// unsupportedStep names the first canary step the controller cannot run yet, with its field
// path ("" when every step can run). Such a rollout is InvalidSpec before anything changes: a
// step a team relies on for safety (an experiment comparing baseline and canary, a plugin's
// check) is never skipped.
func unsupportedStep(ro *v1alpha1.Rollout) string {
	c := ro.Spec.Strategy.Canary
	if c == nil {
		return ""
	}
	for i, step := range c.Steps {
		switch {
		case step.Experiment != nil:
			return fmt.Sprintf("spec.strategy.canary.steps[%d].experiment: experiment steps are not supported by Vane yet "+
				"(the rollout waits here, nothing was changed)", i)
		case step.Plugin != nil:
			return fmt.Sprintf("spec.strategy.canary.steps[%d].plugin: step plugins are not supported by Vane yet "+
				"(plugin %q; the rollout waits here, nothing was changed)", i, step.Plugin.Name)
		}
	}
	return ""
}
