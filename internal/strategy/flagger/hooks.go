package flagger

import (
	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// hooks returns the Canary's webhooks of a type ("" counts as rollout).
func (d *decider) hooks(kind string) []flaggerv1.CanaryWebhook {
	var out []flaggerv1.CanaryWebhook
	for _, w := range d.cd.AnalysisSpec().Webhooks {
		if w.Type == kind || (kind == flaggerv1.HookRollout && w.Type == "") {
			out = append(out, w)
		}
	}
	return out
}

func muted(w flaggerv1.CanaryWebhook) bool { return w.MuteAlert != nil && *w.MuteAlert }

// confirmRollout asks the confirm-rollout gates; the first that refuses holds the Canary in
// Waiting.
func (d *decider) confirmRollout() bool {
	for _, w := range d.hooks(flaggerv1.HookConfirmRollout) {
		if err := d.o.Hook(w, d.phase()); err != nil {
			if d.phase() != flaggerv1.PhaseWaiting {
				d.setStatusPhase(flaggerv1.PhaseWaiting, 0)
				d.warn("Halt %s advancement waiting for approval %s", d.name, w.Name)
				if !muted(w) {
					d.alert("Canary is waiting for approval.", false, SeverityWarn)
				}
			}
			return false
		}
		d.info("Confirm-rollout check %s passed", w.Name)
	}
	return true
}

// confirmPromotion asks the confirm-promotion gates; the first that refuses holds the Canary in
// WaitingPromotion, one iteration short of the end so the analysis keeps running.
func (d *decider) confirmPromotion(iterations int32) bool {
	for _, w := range d.hooks(flaggerv1.HookConfirmPromotion) {
		if err := d.o.Hook(w, flaggerv1.PhaseProgressing); err != nil {
			if d.phase() != flaggerv1.PhaseWaitingPromotion {
				d.setStatusPhase(flaggerv1.PhaseWaitingPromotion, iterations)
				d.warn("Halt %s advancement waiting for promotion approval %s", d.name, w.Name)
				if !muted(w) {
					d.alert("Canary promotion is waiting for approval.", false, SeverityWarn)
				}
			} else {
				d.setIterations(iterations - 1)
			}
			return false
		}
		d.info("Confirm-promotion check %s passed", w.Name)
	}
	return true
}

// confirmTrafficIncrease asks the confirm-traffic-increase gates before each weight step.
func (d *decider) confirmTrafficIncrease() bool {
	for _, w := range d.hooks(flaggerv1.HookConfirmTrafficIncrease) {
		if err := d.o.Hook(w, flaggerv1.PhaseProgressing); err != nil {
			d.warn("Halt %s advancement waiting for traffic increase approval %s", d.name, w.Name)
			if !muted(w) {
				d.alert("Canary traffic increase is waiting for approval.", false, SeverityWarn)
			}
			return false
		}
		d.info("Confirm-traffic-increase check %s passed", w.Name)
	}
	return true
}

// preRollout runs the pre-rollout hooks; the first that fails is a failed check.
func (d *decider) preRollout() bool {
	for _, w := range d.hooks(flaggerv1.HookPreRollout) {
		if err := d.o.Hook(w, flaggerv1.PhaseProgressing); err != nil {
			d.warn("Halt %s advancement pre-rollout check %s failed %v", d.name, w.Name, err)
			return false
		}
		d.info("Pre-rollout check %s passed", w.Name)
	}
	return true
}

// rollbackHooks reports whether a rollback hook answers 2xx: a manual rollback.
func (d *decider) rollbackHooks(phase flaggerv1.CanaryPhase) bool {
	for _, w := range d.hooks(flaggerv1.HookRollback) {
		if err := d.o.Hook(w, phase); err != nil {
			d.info("Rollback hook %s not signaling a rollback", w.Name)
			continue
		}
		d.warn("Rollback check %s passed", w.Name)
		return true
	}
	return false
}
