package flagger

import (
	"fmt"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

func (d *decider) eventAt(phase flaggerv1.CanaryPhase, warning bool, format string, args ...any) {
	d.plan.Events = append(d.plan.Events, Event{Warning: warning, Message: fmt.Sprintf(format, args...), Phase: phase})
}

func isAny(p flaggerv1.CanaryPhase, phases ...flaggerv1.CanaryPhase) bool {
	for _, q := range phases {
		if p == q {
			return true
		}
	}
	return false
}

// initialize handles a new Canary: once the primary is ready, the routes point at it, the
// target is scaled to zero and the phase is Initialized. It reports whether the tick ends.
func (d *decider) initialize() bool {
	p := d.phase()
	if p != "" && p != flaggerv1.PhaseInitializing {
		d.act(Action{Kind: ReconcileRoutes})
		return false
	}
	if p == "" {
		d.setStatusPhase(flaggerv1.PhaseInitializing, 0)
	}
	if !d.cd.SkipAnalysis() && !d.obs.Primary.Ready {
		d.warn("%s", d.obs.Primary.Message)
		if !d.obs.Primary.Retriable {
			d.rollback()
		}
		return true
	}
	d.act(Action{Kind: ReconcileRoutes})
	d.act(Action{Kind: ScaleToZero})
	d.syncStatus(flaggerv1.PhaseInitialized, 0, 0, 0)
	d.eventAt(flaggerv1.PhaseInitialized, false, "Initialization done! %s", d.name)
	d.alert(fmt.Sprintf("New %s detected, initialization completed.", d.cd.Spec.TargetRef.Kind), true, SeverityInfo)
	return true
}

// shouldAdvance: an analysis is under way, or the target (or a config it uses) changed.
func (d *decider) shouldAdvance() bool {
	d.adoptHash()
	p := d.phase()
	if isAny(p, flaggerv1.PhaseProgressing, flaggerv1.PhaseWaiting, flaggerv1.PhaseWaitingPromotion,
		flaggerv1.PhasePromoting, flaggerv1.PhaseFinalising) {
		return true
	}
	changed := d.targetChanged() || d.configsChanged()
	if p == flaggerv1.PhaseFailed && changed {
		s := d.cd.Status
		d.syncStatus(p, s.CanaryWeight, s.FailedChecks, s.Iterations)
	}
	return changed
}

func (d *decider) primaryReady() bool {
	if d.obs.Primary.Ready {
		return true
	}
	d.warn("%s", d.obs.Primary.Message)
	if !d.obs.Primary.Retriable {
		d.rollback()
	}
	return false
}

func (d *decider) canaryReady() bool {
	if d.obs.Canary.Ready {
		return true
	}
	d.warn("%s", d.obs.Canary.Message)
	if !d.obs.Canary.Retriable {
		d.rollback()
	}
	return false
}

// checkStatus lets an analysis under way go on; a new revision waits for its confirm-rollout
// gates, then the target is scaled up and the phase becomes Progressing (the tick ends).
func (d *decider) checkStatus() bool {
	if isAny(d.phase(), flaggerv1.PhaseProgressing, flaggerv1.PhaseWaitingPromotion,
		flaggerv1.PhasePromoting, flaggerv1.PhaseFinalising) {
		return true
	}
	if !d.confirmRollout() {
		return false
	}
	d.eventAt(flaggerv1.PhaseProgressing, false, "New revision detected! Scaling up %s", d.target)
	d.alert("New revision detected, progressing canary analysis.", true, SeverityInfo)
	d.act(Action{Kind: ScaleFromZero})
	d.syncStatus(flaggerv1.PhaseProgressing, 0, 0, 0)
	return false
}

// restartOnRevision restarts an analysis whose target changed under it.
func (d *decider) restartOnRevision() bool {
	if !isAny(d.phase(), flaggerv1.PhaseProgressing, flaggerv1.PhaseWaitingPromotion) ||
		!(d.targetChanged() || d.configsChanged()) {
		return false
	}
	d.info("New revision detected! Restarting analysis for %s", d.target)
	d.setRoutes(Routes{Primary: 100})
	d.syncStatus(flaggerv1.PhaseProgressing, 0, 0, 0)
	return true
}

// skipAnalysis promotes at once when the Canary skips its analysis.
func (d *decider) skipAnalysis() bool {
	if !d.cd.SkipAnalysis() {
		return false
	}
	d.setRoutes(Routes{Primary: 100})
	d.info("Copying %s template spec to %s", d.target, d.primary())
	d.act(Action{Kind: Promote})
	d.act(Action{Kind: ScaleToZero})
	d.setStatusPhase(flaggerv1.PhaseSucceeded, 0)
	d.info("Promotion completed! Canary analysis was skipped for %s", d.target)
	d.alert("Canary analysis was skipped, promotion finished.", false, SeverityInfo)
	return true
}

func (d *decider) primary() string { return d.cd.PrimaryName() + "." + d.cd.Namespace }

// rollback routes everything to the primary, scales the target to zero and fails the Canary.
func (d *decider) rollback() {
	if fc := d.cd.Status.FailedChecks; fc >= d.cd.Threshold() {
		d.warn("Rolling back %s failed checks threshold reached %v", d.name, fc)
		d.alert(fmt.Sprintf("Failed checks threshold reached %v", fc), false, SeverityError)
	}
	d.setRoutes(Routes{Primary: 100})
	d.eventAt(flaggerv1.PhaseFailed, true, "Canary failed! Scaling down %s", d.name)
	d.act(Action{Kind: ScaleToZero})
	d.syncStatus(flaggerv1.PhaseFailed, 0, 0, 0)
	d.plan.PostRollout = flaggerv1.PhaseFailed
}
