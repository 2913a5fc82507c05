package v1alpha1

// Warnings.
//
// Some fields of the Argo Rollouts API are accepted and stored by Vane but
// not acted on: Argo Rollouts acts on them, Vane does something else, and
// nothing else would say so. They are not errors (the Rollout is valid and
// Vane runs it; refusing them would stop rollouts that work), so
// ValidateRollout does not return them; RolloutWarnings does, so that
// whatever shows a Rollout's validation (the controller, `vane lint`,
// `vane migrate check`) can show them beside it. Fields Vane refuses instead
// (an experiment or plugin step, a traffic router it lacks) make the Rollout
// InvalidSpec and are not listed here; docs/api.md lists both.

import "k8s.io/apimachinery/pkg/util/validation/field"

// FieldWarning is a field an object sets that Vane stores but does not act
// on, and what Vane does instead. It is not an API type (no deepcopy).
//
// +kubebuilder:object:generate=false
type FieldWarning struct {
	// Field is the field's path, e.g. spec.strategy.canary.antiAffinity.
	Field string
	// Message says what Vane does instead of what Argo Rollouts does.
	Message string
}

// String returns "<field>: <message>".
func (w FieldWarning) String() string { return w.Field + ": " + w.Message }

// notActedOn starts every warning's message.
const notActedOn = "stored but not acted on: "

// RolloutWarnings returns the fields of r that Vane stores but does not act
// on, in the order of the spec, with what Vane does instead. It reads r only.
// An empty result means nothing in r is silently ignored.
func RolloutWarnings(r *Rollout) []FieldWarning {
	c := r.Spec.Strategy.Canary
	if c == nil {
		return nil
	}
	var out []FieldWarning
	cp := field.NewPath("spec", "strategy", "canary")
	if tr := c.TrafficRouting; tr != nil && tr.Istio != nil && tr.Istio.DestinationRule != nil &&
		len(tr.Istio.DestinationRule.AdditionalSubsetNames) > 0 {
		out = append(out, FieldWarning{cp.Child("trafficRouting", "istio", "destinationRule", "additionalSubsetNames").String(), notActedOn +
			"Vane's Istio router keeps only the canary and stable destinations in the routes it updates, so a destination of one of these subsets is dropped " +
			"(Argo Rollouts keeps it with its weight and takes that weight from the stable subset's share)"})
	}
	if c.ReplicaProgressThreshold != nil {
		out = append(out, FieldWarning{cp.Child("replicaProgressThreshold").String(), notActedOn +
			"Vane waits until all the canary pods a step asks for are available before going on (Argo Rollouts goes on once this threshold is met)"})
	}
	return out
}
