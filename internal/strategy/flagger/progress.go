package flagger

import (
	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// progress runs one step of an analysis under way.
func (d *decider) progress() {
	p := d.phase()
	if isAny(p, flaggerv1.PhaseProgressing, flaggerv1.PhaseWaiting, flaggerv1.PhaseWaitingPromotion) && d.rollbackHooks(p) {
		d.warn("Rolling back %s manual webhook invoked", d.name)
		d.alert("Rolling back manual webhook invoked", false, SeverityWarn)
		d.rollback()
		return
	}
	switch {
	case p == flaggerv1.PhasePromoting:
		d.promotionTrafficShift()
		return
	case p == flaggerv1.PhaseFinalising:
		d.act(Action{Kind: ScaleToZero})
		d.setStatusPhase(flaggerv1.PhaseSucceeded, 0)
		d.plan.PostRollout = flaggerv1.PhaseSucceeded
		d.info("Promotion completed! Scaling down %s", d.target)
		d.alert("Canary analysis completed successfully, promotion finished.", false, SeverityInfo)
		return
	case d.cd.Status.FailedChecks >= d.cd.Threshold():
		d.rollback()
		return
	}
	d.plan.Analysed = true
	if !d.runChecks() {
		d.setFailedChecks(d.cd.Status.FailedChecks + 1)
		return
	}
	d.advance()
}

// runChecks runs the pre-rollout hooks before the first step, the rollout hooks and the
// metrics after; false counts a failed check.
func (d *decider) runChecks() bool {
	r := d.obs.Routes
	if r.Canary == 0 && d.cd.Status.Iterations == 0 && !(d.cd.Mirror() && r.Mirrored) {
		d.info("Starting canary analysis for %s", d.target)
		return d.preRollout()
	}
	for _, w := range d.hooks(flaggerv1.HookRollout) {
		if err := d.o.Hook(w, flaggerv1.PhaseProgressing); err != nil {
			d.warn("Halt %s advancement external check %s failed %v", d.name, w.Name, err)
			return false
		}
	}
	if msg := d.o.Metrics(); msg != "" {
		d.warn("%s", msg)
		return false
	}
	return true
}

// advance moves the analysis on: A/B iterations, blue/green iterations or traffic steps.
func (d *decider) advance() {
	iterations, match := d.cd.Iterations(), d.cd.AnalysisSpec().Match
	if d.obs.Provider == flaggerv1.KubernetesProvider {
		if len(match) > 0 {
			d.warn("A/B testing is not supported when using the kubernetes provider")
			match = nil
		}
		if iterations < 1 {
			d.warn("Progressive traffic is not supported when using the kubernetes provider")
			d.warn("Setting canaryAnalysis.iterations: 10")
			iterations = 10
		}
	}
	switch {
	case len(match) > 0 && iterations > 0:
		d.runAB(iterations)
	case iterations > 0:
		d.runBlueGreen(iterations)
	case nextStepWeight(d.cd, d.obs.Routes.Canary) > 0:
		if !d.obs.Routes.Mirrored && d.phase() != flaggerv1.PhaseWaitingPromotion && !d.confirmTrafficIncrease() {
			return
		}
		d.runCanary(iterations)
	}
}

func (d *decider) promote() {
	d.info("Copying %s template spec to %s", d.target, d.primary())
	d.act(Action{Kind: Promote})
	d.setStatusPhase(flaggerv1.PhasePromoting, 0)
}

func (d *decider) runAB(n int32) {
	it := d.cd.Status.Iterations
	if n > it {
		d.setRoutes(Routes{Canary: 100})
		d.setIterations(it + 1)
		d.info("Advance %s canary iteration %v/%v", d.name, it+1, n)
		return
	}
	if d.confirmPromotion(n) && n == it {
		d.promote()
	}
}

func (d *decider) runBlueGreen(n int32) {
	it, routed := d.cd.Status.Iterations, d.obs.Provider != flaggerv1.KubernetesProvider
	if n > it {
		if routed && d.cd.Mirror() && !d.obs.Routes.Mirrored {
			d.setRoutes(Routes{Primary: 100, Mirrored: true})
		}
		d.setIterations(it + 1)
		d.info("Advance %s canary iteration %v/%v", d.name, it+1, n)
		return
	}
	if !d.confirmPromotion(n) {
		return
	}
	switch {
	case n == it:
		if routed {
			if d.cd.Mirror() {
				d.info("Stop traffic mirroring and route all traffic to canary")
			} else {
				d.info("Routing all traffic to canary")
			}
			d.setRoutes(Routes{Canary: 100})
		}
		d.setIterations(it + 1)
	case n < it:
		d.promote()
	}
}

// runCanary moves the canary's weight one step up, or promotes at the maximum weight.
func (d *decider) runCanary(iterations int32) {
	r := d.obs.Routes
	if r.Canary >= maxWeight(d.cd) {
		if d.confirmPromotion(iterations) {
			d.promote()
		}
		return
	}
	next := nextStepWeight(d.cd, r.Canary)
	switch {
	case d.cd.Mirror() && r.Canary == 0 && !r.Mirrored:
		r = Routes{Primary: 100, Mirrored: true}
	case d.cd.Mirror() && r.Canary == 0:
		r = Routes{Primary: 100 - next, Canary: next}
	default:
		r.Primary, r.Canary = max(r.Primary-next, 0), min(r.Canary+next, 100)
	}
	d.setRoutes(r)
	d.setWeight(int32(r.Canary))
	d.info("Advance %s canary weight %v", d.name, r.Canary)
}

// promotionTrafficShift routes traffic back to the (promoted) primary, at once or by
// stepWeightPromotion, then finalises.
func (d *decider) promotionTrafficShift() {
	if d.obs.Provider == flaggerv1.KubernetesProvider {
		d.setStatusPhase(flaggerv1.PhaseFinalising, 0)
		return
	}
	step := int(deref(d.cd.AnalysisSpec().StepWeightPromotion))
	r := d.obs.Routes
	if step == 0 || r.Canary == 0 {
		d.info("Routing all traffic to primary")
		d.setRoutes(Routes{Primary: 100})
		d.setStatusPhase(flaggerv1.PhaseFinalising, 0)
		return
	}
	r = Routes{Primary: min(r.Primary+step, 100), Canary: max(r.Canary-step, 0)}
	d.setRoutes(r)
	d.info("Advance %s primary weight %v", d.name, r.Primary)
	if r.Primary == 100 {
		d.setStatusPhase(flaggerv1.PhaseFinalising, 0)
		return
	}
	d.setWeight(int32(r.Canary))
}

// maxWeight is the last of stepWeights, maxWeight, or 100.
func maxWeight(cd *flaggerv1.Canary) int {
	a := cd.AnalysisSpec()
	if n := len(a.StepWeights); n > 0 {
		return min(100, int(a.StepWeights[n-1]))
	}
	if w := deref(a.MaxWeight); w > 0 {
		return int(w)
	}
	return 100
}

// nextStepWeight is how much weight the next step adds: stepWeight, or the distance to the
// next of stepWeights.
func nextStepWeight(cd *flaggerv1.Canary, current int) int {
	a := cd.AnalysisSpec()
	if deref(a.StepWeight) > 0 || len(a.StepWeights) == 0 {
		return int(deref(a.StepWeight))
	}
	room := 100 - current
	if room == 0 {
		return 1
	}
	if current == 0 {
		return min(room, int(a.StepWeights[0]))
	}
	for i := 0; i < len(a.StepWeights)-1; i++ {
		if int(a.StepWeights[i]) == current {
			return min(room, int(a.StepWeights[i+1])-current)
		}
	}
	return room
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
