package flagger

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// status returns the status the plan writes, starting from the Canary's.
func (d *decider) status() *flaggerv1.CanaryStatus {
	if d.plan.Status == nil {
		d.plan.Status = d.cd.Status.DeepCopy()
	}
	return d.plan.Status
}

func (d *decider) touch() *flaggerv1.CanaryStatus {
	s := d.status()
	now := metav1.NewTime(d.obs.Now)
	s.LastTransitionTime = &now
	return s
}

// syncStatus is Flagger's full status write: the phase and counters, the target's hash as the
// last applied spec (and promoted, on initialization) and the tracked configs.
func (d *decider) syncStatus(phase flaggerv1.CanaryPhase, weight, failed, iterations int32) {
	s := d.touch()
	s.Phase, s.CanaryWeight, s.FailedChecks, s.Iterations = phase, weight, failed, iterations
	s.LastAppliedSpec = d.obs.TargetHash
	if phase == flaggerv1.PhaseInitialized {
		s.LastPromotedSpec = d.obs.TargetHash
	}
	s.TrackedConfigs = copyMap(d.obs.Configs)
	d.setCondition(phase)
}

// setStatusPhase changes the phase: leaving analysis resets the weight and the iterations
// (WaitingPromotion keeps one iteration short of the end), and a promotion records the last
// applied spec as promoted.
func (d *decider) setStatusPhase(phase flaggerv1.CanaryPhase, iterations int32) {
	s := d.touch()
	s.Phase = phase
	if phase != flaggerv1.PhaseProgressing && phase != flaggerv1.PhaseWaiting {
		s.CanaryWeight, s.Iterations = 0, 0
		if phase == flaggerv1.PhaseWaitingPromotion {
			s.Iterations = iterations - 1
		}
	}
	if phase == flaggerv1.PhaseInitialized || phase == flaggerv1.PhaseSucceeded {
		s.LastPromotedSpec = s.LastAppliedSpec
	}
	d.setCondition(phase)
}

func (d *decider) setIterations(v int32) { d.touch().Iterations = v }

func (d *decider) setWeight(v int32) { d.touch().CanaryWeight = v }

func (d *decider) setFailedChecks(v int32) { d.touch().FailedChecks = v }

// setCondition sets the Promoted condition for phase, keeping its transition time when its
// status does not change; nothing changes when status and reason are the same.
func (d *decider) setCondition(phase flaggerv1.CanaryPhase) {
	s := d.status()
	status, message := conditionOf(d.cd.Spec.TargetRef.Kind, phase)
	now := metav1.NewTime(d.obs.Now)
	next := flaggerv1.CanaryCondition{Type: flaggerv1.PromotedCondition, Status: status, Reason: string(phase),
		Message: message, LastUpdateTime: &now, LastTransitionTime: &now}
	for _, c := range s.Conditions {
		if c.Type != flaggerv1.PromotedCondition {
			continue
		}
		if c.Status == status && c.Reason == next.Reason {
			return
		}
		if c.Status == status {
			next.LastTransitionTime = c.LastTransitionTime
		}
	}
	s.Conditions = []flaggerv1.CanaryCondition{next}
}

// conditionOf is the Promoted condition's status and message in a phase.
func conditionOf(kind string, phase flaggerv1.CanaryPhase) (status, message string) {
	switch phase {
	case flaggerv1.PhaseInitialized:
		return "True", kind + " initialization completed."
	case flaggerv1.PhaseWaiting, flaggerv1.PhaseWaitingPromotion:
		return "Unknown", "Waiting for approval."
	case flaggerv1.PhaseProgressing:
		return "Unknown", "New revision detected, progressing canary analysis."
	case flaggerv1.PhasePromoting:
		return "Unknown", "Canary analysis completed, starting primary rolling update."
	case flaggerv1.PhaseFinalising:
		return "Unknown", "Canary analysis completed, routing all traffic to primary."
	case flaggerv1.PhaseSucceeded:
		return "True", "Canary analysis completed successfully, promotion finished."
	case flaggerv1.PhaseFailed:
		return "False", fmt.Sprintf("Canary analysis failed, %s scaled to zero.", kind)
	}
	return "Unknown", fmt.Sprintf("New %s detected, starting initialization.", kind)
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// targetChanged: the target's pod template differs from the last applied one and is not the
// promoted one.
func (d *decider) targetChanged() bool {
	s := d.cd.Status
	switch {
	case s.LastAppliedSpec == "":
		return true
	case d.obs.TargetHash == s.LastPromotedSpec:
		return false
	}
	return s.LastAppliedSpec != d.obs.TargetHash
}

// adoptHash records the target's hash as applied and promoted when the primary already runs
// the target's template in a settled Canary (one Flagger promoted, whose hash was computed
// differently): nothing changed, so nothing starts.
func (d *decider) adoptHash() {
	s := d.cd.Status
	settled := s.Phase == flaggerv1.PhaseInitialized || s.Phase == flaggerv1.PhaseSucceeded
	if !settled || !d.obs.TargetPromoted || s.LastAppliedSpec == "" || s.LastPromotedSpec == d.obs.TargetHash {
		return
	}
	st := d.status()
	st.LastAppliedSpec, st.LastPromotedSpec = d.obs.TargetHash, d.obs.TargetHash
	d.cd = d.cd.DeepCopy()
	d.cd.Status.LastAppliedSpec, d.cd.Status.LastPromotedSpec = d.obs.TargetHash, d.obs.TargetHash
}

// configsChanged: a tracked ConfigMap or Secret was added, removed or changed.
func (d *decider) configsChanged() bool {
	tracked := d.cd.Status.TrackedConfigs
	if len(d.obs.Configs) != len(tracked) {
		return true
	}
	for name, sum := range d.obs.Configs {
		if tracked[name] != sum {
			return true
		}
	}
	return false
}
