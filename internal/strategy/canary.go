package strategy

import (
	"fmt"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Role is a ReplicaSet's part in a canary rollout.
type Role int

// Roles of the ReplicaSets a rollout owns.
const (
	RoleNew Role = iota
	RoleStable
	RoleOther
)

// Set is one ReplicaSet as the engine sees it.
type Set struct {
	Hash string
	Role Role
	Pods Pods
	// Revision orders the old ReplicaSets for scaleDownDelayRevisionLimit (newest kept first;
	// trafficRouting only).
	Revision int64
	// ScaleDownDeadline is the set's scale-down-deadline annotation (zero: none; trafficRouting
	// only).
	ScaleDownDeadline time.Time
}

// Input is everything the canary engine decides from.
type Input struct {
	// Rollout is the rollout as stored: its spec and last status.
	Rollout *v1alpha1.Rollout
	// NewHash is the pod-template hash of the rollout's current template.
	NewHash string
	// StepsHash identifies the canary steps; a change restarts the steps.
	StepsHash string
	// Sets are the rollout's ReplicaSets; the one with Hash NewHash has RoleNew, the one with
	// the stable hash RoleStable (when they differ), the rest RoleOther.
	Sets []Set
	// FastRollback is set when the new template is a recent earlier revision within
	// spec.rollbackWindow: it goes to full size without the steps.
	FastRollback bool
	// Now is the clock's current time.
	Now time.Time
	// TrafficRouter is set when the reconciler drives the router of
	// spec.strategy.canary.trafficRouting (internal/traffic): the plan is then the
	// traffic-routed one (canaryRouted). Without it a Rollout with trafficRouting runs the
	// replica-based canary, as the controller did before routers existed.
	TrafficRouter bool
	// Runs are the AnalysisRuns the status records for this update, as the controller found
	// them (see AnalysisPlan for how they come to exist).
	Runs Runs
	// RouterWeightVerified (trafficRouting only) says the traffic router reports the weights
	// recorded in status.canary.weights as applied (Router.VerifyWeight of
	// status.canary.weights.canary.weight). A setWeight step, and the update, complete only
	// when the canary is available at its size and this holds for the step's weight.
	RouterWeightVerified bool
}

// Event is something worth telling the user, with Argo's event reason.
type Event struct {
	Warning bool
	Reason  string
	Message string
}

// Plan is the engine's decision.
type Plan struct {
	// Replicas is the spec.replicas each ReplicaSet (by hash) gets now.
	Replicas map[string]int32
	// Status is the rollout's status fields the engine owns: currentPodHash, currentStepHash,
	// currentStepIndex, stableRS, pauseConditions, controllerPause, abort bookkeeping,
	// promoteFull. The controller adds counts, conditions and phase.
	Status v1alpha1.RolloutStatus
	// Weight is the canary weight of the current step (100 once the steps are done).
	Weight int32
	// Completed is set when the new ReplicaSet became the stable one in this plan.
	Completed bool
	// RequeueAfter asks to be called again after a timed pause (0: no need).
	RequeueAfter time.Duration
	// Events happened in this plan.
	Events []Event
	// Analysis says which AnalysisRuns the update needs now.
	Analysis AnalysisPlan

	// The fields below are set with trafficRouting only.

	// RouterWeight is the canary weight (out of maxTrafficWeight) the router must carry now:
	// the reconciler calls Router.SetWeight with it, and once that succeeded records Weights
	// as status.canary.weights. It rises to a step's weight only once the canary is available
	// at its size, drops to 0 at once on abort (with dynamicStableScale, as fast as the stable
	// pods are available), and is 0 once the update is complete (both Services select the
	// new pods).
	RouterWeight int32
	// Weights is status.canary.weights for RouterWeight.
	Weights *v1alpha1.TrafficWeights
	// WaitingForRouter is set when a step (or the completion) waits only for the router to
	// apply the weight: the reconciler should look again soon (a second or so).
	WaitingForRouter bool
	// HeaderRoutes and MirrorRoutes are the managed routes the steps so far have set (with a
	// match) or removed (without), one entry per route name, in the order of
	// trafficRouting.managedRoutes: the reconciler applies each with Router.SetHeaderRoute and
	// Router.SetMirrorRoute (both idempotent).
	HeaderRoutes []v1alpha1.SetHeaderRoute
	MirrorRoutes []v1alpha1.SetMirrorRoute
	// RemoveManagedRoutes is set once the update is over (aborted, or complete): the reconciler
	// calls Router.RemoveManagedRoutes.
	RemoveManagedRoutes bool
	// ScaleDownDeadlines lists the scale-down-deadline annotations to change: a time to set,
	// or the zero time to take the annotation off. ReplicaSets not listed keep theirs.
	ScaleDownDeadlines map[string]time.Time
}

// Canary plans the next state of a canary rollout. Without trafficRouting the traffic split is
// approximated by the ratio of canary to stable pods, moved within maxSurge and
// maxUnavailable; with trafficRouting (and Input.TrafficRouter) see canaryRouted.
func Canary(in Input) (Plan, error) {
	r := in.Rollout
	c := r.Spec.Strategy.Canary
	replicas := r.Spec.EffectiveReplicas()
	budget, err := ResolveBudget(c.EffectiveMaxSurge(), c.EffectiveMaxUnavailable(), replicas)
	if err != nil {
		return Plan{}, fmt.Errorf("spec.strategy.canary: %w", err)
	}
	if c.TrafficRouting != nil && in.TrafficRouter {
		return canaryRouted(in), nil
	}
	p := Plan{Status: *r.Status.DeepCopy(), Replicas: map[string]int32{}}
	st := &p.Status
	steps := c.Steps
	runs := in.Runs
	if p.observeRevision(in, int32(len(steps))) {
		runs = Runs{}
	}
	p.startCanaryAnalysis(in, &runs)
	if st.Abort {
		p.abort(in, replicas, budget)
		return p, nil
	}
	if st.PromoteFull {
		st.CurrentStepIndex = ptr32(int32(len(steps)))
		st.PauseConditions, st.ControllerPause = nil, false
	}
	var targets map[string]int32
	for {
		p.Weight = CurrentWeight(steps, *st.CurrentStepIndex)
		targets = canaryTargets(in, replicas, p.Weight)
		idx := *st.CurrentStepIndex
		if idx >= int32(len(steps)) || r.Spec.Paused {
			break
		}
		if !p.runStep(in, runs, idx, targets) {
			break
		}
		*st.CurrentStepIndex = idx + 1
		p.Events = append(p.Events, Event{Reason: "RolloutStepCompleted",
			Message: fmt.Sprintf("Rollout step %d/%d completed (%s)", idx+1, len(steps), describeStep(steps[idx]))})
	}
	if st.Abort { // a step's analysis failed
		p.Replicas = map[string]int32{}
		p.abort(in, replicas, budget)
		return p, nil
	}
	p.scale(in, targets, replicas, budget)
	if *st.CurrentStepIndex >= int32(len(steps)) && st.StableRS != in.NewHash && reached(in.Sets, targets) {
		st.StableRS = in.NewHash
		st.PromoteFull = false
		p.Completed = true
		p.Analysis.Background = false // its job is done: the controller terminates it
		p.Events = append(p.Events, Event{Reason: "RolloutCompleted",
			Message: fmt.Sprintf("Rollout completed update to revision with pod template hash %s", in.NewHash)})
	}
	return p, nil
}

// observeRevision resets the step bookkeeping when the template or the steps changed. It
// reports a new revision: the runs recorded so far belong to the previous one.
func (p *Plan) observeRevision(in Input, nSteps int32) bool {
	st := &p.Status
	if st.CurrentStepIndex == nil {
		st.CurrentStepIndex = ptr32(0)
	}
	newRevision := st.CurrentPodHash != in.NewHash
	if newRevision {
		st.CurrentPodHash = in.NewHash
		st.PauseConditions, st.ControllerPause = nil, false
		st.Abort, st.AbortedAt, st.PromoteFull = false, nil, false
		clearAnalysisRecords(st)
	}
	stepsChanged := st.CurrentStepHash != in.StepsHash
	st.CurrentStepHash = in.StepsHash
	switch {
	case st.StableRS == "":
		// the first revision becomes stable at once: there is nothing to protect
		st.StableRS = in.NewHash
		st.CurrentStepIndex = ptr32(nSteps)
	case st.StableRS == in.NewHash, newRevision && in.FastRollback:
		// back to the stable template (a rollback mid-update), or to a revision inside the
		// rollback window: no steps to run
		st.CurrentStepIndex = ptr32(nSteps)
		st.PauseConditions, st.ControllerPause = nil, false
		if st.StableRS == in.NewHash {
			// nothing is being updated: an abort or a full promotion has nothing to act on
			st.Abort, st.AbortedAt, st.PromoteFull = false, nil, false
		}
	case newRevision || stepsChanged:
		st.CurrentStepIndex = ptr32(0)
		st.PauseConditions, st.ControllerPause = nil, false
	}
	return newRevision
}

// abort sends every pod back to the stable ReplicaSet.
func (p *Plan) abort(in Input, replicas int32, budget Budget) {
	st := &p.Status
	if st.AbortedAt == nil {
		at := metav1.NewTime(in.Now)
		st.AbortedAt = &at
		p.Events = append(p.Events, Event{Warning: true, Reason: "RolloutAborted",
			Message: fmt.Sprintf("Rollout aborted update to revision with pod template hash %s", in.NewHash)})
	}
	st.PauseConditions, st.ControllerPause, st.PromoteFull = nil, false, false
	p.Analysis = AnalysisPlan{} // the controller terminates every run
	p.Weight = 0
	p.scale(in, canaryTargets(in, replicas, 0), replicas, budget)
}

// runStep plays step idx and reports whether it is complete.
func (p *Plan) runStep(in Input, runs Runs, idx int32, targets map[string]int32) bool {
	step := in.Rollout.Spec.Strategy.Canary.Steps[idx]
	p.forgetStalePause(step, inconclusiveStep(runs, idx))
	switch {
	case step.SetWeight != nil:
		return reached(in.Sets, targets)
	case step.Pause != nil:
		return p.pause(in, step.Pause)
	case step.Analysis != nil:
		return p.analysisStep(runs, idx, in.Now)
	default:
		// setCanaryScale and the routing steps only matter with a traffic router; experiment
		// steps arrive with the experiment controller. They pass for now, and the rollout
		// says so.
		p.Events = append(p.Events, Event{Warning: true, Reason: "StepNotSupported",
			Message: fmt.Sprintf("step %q is not supported yet and was skipped", describeStep(step))})
		return true
	}
}

// forgetStalePause clears controllerPause on a step that is not a pause (nor an analysis step
// paused for its inconclusive run): it can only be left from a pause that was skipped by moving
// currentStepIndex (Argo CD's "skip current step"), and must not make the next pause step look
// already promoted.
func (p *Plan) forgetStalePause(step v1alpha1.CanaryStep, inconclusive bool) {
	if step.Pause == nil && !inconclusive && len(p.Status.PauseConditions) == 0 {
		p.Status.ControllerPause = false
	}
}

// pause plays a pause step: it adds the CanaryPauseStep condition, and completes when the
// duration passed or when a user removed the condition (promote).
func (p *Plan) pause(in Input, pause *v1alpha1.RolloutPause) bool {
	st := &p.Status
	cond := findPause(st.PauseConditions, v1alpha1.PauseReasonCanaryPauseStep)
	if cond == nil {
		if st.ControllerPause {
			// we paused and the condition is gone: promoted
			st.ControllerPause = false
			return true
		}
		st.PauseConditions = append(st.PauseConditions, v1alpha1.PauseCondition{
			Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.NewTime(in.Now)})
		st.ControllerPause = true
		cond = &st.PauseConditions[len(st.PauseConditions)-1]
		p.Events = append(p.Events, Event{Reason: "RolloutPaused", Message: "Rollout is paused (CanaryPauseStep)"})
	}
	if pause.Duration == nil {
		return false
	}
	d, err := pause.Duration.Duration()
	if err != nil {
		return false // validation reports it
	}
	if left := cond.StartTime.Add(d).Sub(in.Now); left > 0 {
		p.RequeueAfter = left
		return false
	}
	st.PauseConditions = removePause(st.PauseConditions, v1alpha1.PauseReasonCanaryPauseStep)
	st.ControllerPause = false
	p.Events = append(p.Events, Event{Reason: "RolloutResumed", Message: "Rollout is resumed after a timed pause"})
	return true
}

// scale records the replicas each set gets now.
func (p *Plan) scale(in Input, targets map[string]int32, replicas int32, budget Budget) {
	pods := make([]Pods, len(in.Sets))
	want := make([]int32, len(in.Sets))
	for i, s := range in.Sets {
		pods[i], want[i] = s.Pods, targets[s.Hash]
	}
	for i, n := range Step(pods, want, replicas, budget) {
		p.Replicas[in.Sets[i].Hash] = n
	}
}

// canaryTargets: weight of replicas on the new set, the rest on the stable one, none elsewhere.
func canaryTargets(in Input, replicas, weight int32) map[string]int32 {
	t := map[string]int32{}
	hasStable := false
	for _, s := range in.Sets {
		if s.Role == RoleStable {
			hasStable = true
		}
	}
	canary, stable := CanaryCounts(replicas, weight, 100)
	if !hasStable {
		canary, stable = replicas, 0
	}
	for _, s := range in.Sets {
		switch s.Role {
		case RoleNew:
			t[s.Hash] = canary
		case RoleStable:
			t[s.Hash] = stable
		default:
			t[s.Hash] = 0
		}
	}
	return t
}

// reached reports whether every set runs exactly its target and the target's pods are available.
func reached(sets []Set, targets map[string]int32) bool {
	for _, s := range sets {
		t := targets[s.Hash]
		if s.Pods.Spec != t || s.Pods.Current != t || s.Pods.Available < t {
			return false
		}
	}
	return true
}

// currentWeight is the weight of the last setWeight step before idx; 100 once the steps are done.
func CurrentWeight(steps []v1alpha1.CanaryStep, idx int32) int32 {
	if idx >= int32(len(steps)) {
		return 100
	}
	var w int32
	for i := int32(0); i <= idx && i < int32(len(steps)); i++ {
		if steps[i].SetWeight != nil {
			w = *steps[i].SetWeight
		}
	}
	return w
}

func describeStep(s v1alpha1.CanaryStep) string {
	switch {
	case s.SetWeight != nil:
		return fmt.Sprintf("setWeight: %d", *s.SetWeight)
	case s.Pause != nil && s.Pause.Duration != nil:
		return "pause: " + s.Pause.Duration.String()
	case s.Pause != nil:
		return "pause"
	case s.SetCanaryScale != nil:
		return "setCanaryScale"
	case s.Analysis != nil:
		return "analysis"
	case s.Experiment != nil:
		return "experiment"
	case s.SetHeaderRoute != nil:
		return "setHeaderRoute"
	case s.SetMirrorRoute != nil:
		return "setMirrorRoute"
	case s.Plugin != nil:
		return "plugin"
	}
	return "empty step"
}

func findPause(conds []v1alpha1.PauseCondition, reason v1alpha1.PauseReason) *v1alpha1.PauseCondition {
	for i := range conds {
		if conds[i].Reason == reason {
			return &conds[i]
		}
	}
	return nil
}

func removePause(conds []v1alpha1.PauseCondition, reason v1alpha1.PauseReason) []v1alpha1.PauseCondition {
	var out []v1alpha1.PauseCondition
	for _, c := range conds {
		if c.Reason != reason {
			out = append(out, c)
		}
	}
	return out
}

func ptr32(v int32) *int32 { return &v }

// canaryRouted plans a canary rollout whose traffic a router splits (trafficRouting):
//
//   - the canary runs the step's weight of spec.replicas rounded up (or what setCanaryScale
//     says), the stable stays at spec.replicas (with dynamicStableScale: the share of the
//     highest stable weight it still carries or is about to), and maxSurge and maxUnavailable
//     do not apply;
//   - RouterWeight rises to a step's weight only once the canary is available at its size, and
//     a setWeight step completes when, in addition, the router verifies that weight;
//   - setHeaderRoute and setMirrorRoute steps complete at once (the reconciler applies the
//     routes before it stores the step);
//   - on abort the weight goes back to 0 first; the canary keeps its pods until
//     abortScaleDownDelaySeconds after the abort and the router verifies 0 (0: forever; with
//     dynamicStableScale and no explicit delay, it shrinks with the traffic it still gets);
//   - once complete, the previous stable keeps its pods scaleDownDelaySeconds (a
//     scale-down deadline, as for every old ReplicaSet, newest scaleDownDelayRevisionLimit).
func canaryRouted(in Input) Plan {
	r := in.Rollout
	c := r.Spec.Strategy.Canary
	x := &routed{in: in, c: c, steps: c.Steps, replicas: r.Spec.EffectiveReplicas(), maxW: c.EffectiveMaxTrafficWeight(),
		p: Plan{Status: *r.Status.DeepCopy(), Replicas: map[string]int32{}, ScaleDownDeadlines: map[string]time.Time{}}}
	x.runs = in.Runs
	if x.p.observeRevision(in, int32(len(x.steps))) {
		x.runs = Runs{}
	}
	x.p.startCanaryAnalysis(in, &x.runs)
	for i := range in.Sets {
		switch s := &in.Sets[i]; s.Role {
		case RoleNew:
			x.newSet = s
		case RoleStable:
			if s.Hash != in.NewHash && s.Hash == x.p.Status.StableRS {
				x.stable = s
			}
		}
	}
	if w := r.Status.Canary.Weights; w != nil && (w.Canary.PodTemplateHash == "" || w.Canary.PodTemplateHash == in.NewHash) {
		x.applied, x.appliedOK = w.Canary.Weight, true
	}
	if !x.p.Status.Abort {
		x.progress()
	}
	if x.p.Status.Abort { // asked for, or an analysis failed
		x.p.Replicas = map[string]int32{}
		x.p.ScaleDownDeadlines = map[string]time.Time{}
		x.p.HeaderRoutes, x.p.MirrorRoutes = nil, nil
		x.abort()
	}
	x.scaleDownOld()
	x.finish()
	return x.p
}

type routed struct {
	in             Input
	c              *v1alpha1.CanaryStrategy
	steps          []v1alpha1.CanaryStep
	replicas, maxW int32
	newSet, stable *Set
	runs           Runs
	// applied is the canary weight status.canary.weights records for this canary
	applied   int32
	appliedOK bool
	p         Plan
}

func (x *routed) event(warning bool, reason, format string, args ...any) {
	x.p.Events = append(x.p.Events, Event{Warning: warning, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

func (x *routed) requeue(d time.Duration) {
	if d > 0 && (x.p.RequeueAfter == 0 || d < x.p.RequeueAfter) {
		x.p.RequeueAfter = d
	}
}

// verified: the router applies weight w for this canary.
func (x *routed) verified(w int32) bool {
	return x.appliedOK && x.applied == w && x.in.RouterWeightVerified
}

// weightAt is the traffic weight of step idx: the last setWeight at or before it, the full
// weight once the steps are done.
func (x *routed) weightAt(idx int32) int32 {
	if idx >= int32(len(x.steps)) {
		return x.maxW
	}
	return CurrentWeight(x.steps, idx)
}

// previousWeight is the weight of the last setWeight before step idx (0 if none).
func (x *routed) previousWeight(idx int32) int32 {
	var w int32
	for i := int32(0); i < idx && i < int32(len(x.steps)); i++ {
		if x.steps[i].SetWeight != nil {
			w = *x.steps[i].SetWeight
		}
	}
	return w
}

// canaryReady: the new ReplicaSet runs exactly n pods, all available.
func (x *routed) canaryReady(n int32) bool {
	s := x.newSet
	return s != nil && s.Pods.Spec == n && s.Pods.Current == n && s.Pods.Available >= n
}

func (x *routed) keep(s *Set, n int32) {
	x.p.Replicas[s.Hash] = n
	if !s.ScaleDownDeadline.IsZero() {
		x.p.ScaleDownDeadlines[s.Hash] = time.Time{} // serving traffic: no deadline
	}
}

// progress moves the update through its steps.
func (x *routed) progress() {
	st := &x.p.Status
	nSteps := int32(len(x.steps))
	if st.PromoteFull {
		st.CurrentStepIndex = ptr32(nSteps)
		st.PauseConditions, st.ControllerPause = nil, false
	}
	if x.newSet == nil {
		return
	}
	if st.StableRS == x.in.NewHash {
		// nothing to split: every pod on the new ReplicaSet, all traffic through both Services to it
		x.keep(x.newSet, x.replicas)
		x.p.Weight, x.p.RouterWeight, x.p.RemoveManagedRoutes = x.maxW, 0, true
		return
	}
	var canary, routerW, w int32
	var ready bool
	for {
		idx := *st.CurrentStepIndex
		w = x.weightAt(idx)
		canary = x.replicas
		switch {
		case x.stable == nil:
			w = x.maxW // no stable pods to send traffic to: the canary takes it all
		case idx < nSteps:
			canary = RoutedCanaryReplicas(x.c, ActiveCanaryScale(x.steps, idx), x.replicas, w)
		}
		ready = x.canaryReady(canary)
		routerW = w
		if !ready {
			// no more traffic than the canary had before: what the router carries for it, or
			// (a canary the router has no weight for yet) the previous step's
			base := x.previousWeight(idx)
			if x.appliedOK {
				base = x.applied
			}
			routerW = min(w, base)
		}
		if idx >= nSteps || x.in.Rollout.Spec.Paused {
			break
		}
		step := x.steps[idx]
		x.p.forgetStalePause(step, inconclusiveStep(x.runs, idx))
		done := false
		switch {
		case step.SetWeight != nil:
			done = ready && x.verified(w)
			x.p.WaitingForRouter = ready && !done
		case step.Pause != nil:
			done = x.p.pause(x.in, step.Pause)
		case step.SetCanaryScale != nil:
			done = ready
		case step.SetHeaderRoute != nil, step.SetMirrorRoute != nil:
			done = true
		case step.Analysis != nil:
			done = x.p.analysisStep(x.runs, idx, x.in.Now)
		default:
			// experiment and plugin steps are not run yet
			x.event(true, "StepNotSupported", "step %q is not supported yet and was skipped", describeStep(step))
			done = true
		}
		if !done || st.Abort {
			break
		}
		*st.CurrentStepIndex = idx + 1
		x.event(false, "RolloutStepCompleted", "Rollout step %d/%d completed (%s)", idx+1, nSteps, describeStep(step))
	}
	x.p.Weight, x.p.RouterWeight = w, routerW
	x.keep(x.newSet, canary)
	if x.stable != nil {
		appliedStable := x.maxW
		if x.appliedOK {
			appliedStable = x.maxW - x.applied
		}
		x.keep(x.stable, RoutedStableReplicas(x.c, x.replicas, x.maxW-w, x.maxW-routerW, appliedStable))
	}

	if *st.CurrentStepIndex >= nSteps && ready {
		if !x.verified(x.maxW) {
			x.p.WaitingForRouter = true
			return
		}
		st.StableRS = x.in.NewHash
		st.PromoteFull = false
		x.p.Completed, x.p.RemoveManagedRoutes, x.p.RouterWeight = true, true, 0
		x.p.Analysis.Background = false // its job is done: the controller terminates it
		if x.stable != nil {
			delete(x.p.Replicas, x.stable.Hash) // the previous stable is old now: it waits for its deadline
		}
		x.event(false, "RolloutCompleted", "Rollout completed update to revision with pod template hash %s", x.in.NewHash)
	}
}

// abort sends the traffic back to the stable pods, then scales the canary down.
func (x *routed) abort() {
	st := &x.p.Status
	if st.AbortedAt == nil {
		at := metav1.NewTime(x.in.Now)
		st.AbortedAt = &at
		x.event(true, "RolloutAborted", "Rollout aborted update to revision with pod template hash %s", x.in.NewHash)
	}
	st.PauseConditions, st.ControllerPause, st.PromoteFull = nil, false, false
	x.p.Analysis = AnalysisPlan{} // the controller terminates every run
	x.p.Weight, x.p.RouterWeight, x.p.RemoveManagedRoutes = 0, 0, true
	if x.newSet == nil {
		return
	}
	if x.stable == nil {
		x.keep(x.newSet, max(x.newSet.Pods.Spec, x.replicas)) // nothing else to serve traffic
		return
	}
	x.keep(x.stable, x.replicas)
	if x.c.DynamicStableScale {
		// the stable takes the traffic back as fast as its pods are available
		avail := min(x.stable.Pods.Available, x.stable.Pods.Spec)
		capacity := int32(int64(avail) * int64(x.maxW) / int64(max(x.replicas, 1)))
		x.p.RouterWeight = max(x.maxW-capacity, 0)
		if x.appliedOK {
			x.p.RouterWeight = min(x.p.RouterWeight, x.applied)
		}
	}
	keep := x.newSet.Pods.Spec
	explicit := x.c.AbortScaleDownDelaySeconds != nil
	delay := x.c.EffectiveAbortScaleDownDelaySeconds()
	switch {
	case explicit && delay == 0:
		x.keep(x.newSet, keep) // abortScaleDownDelaySeconds: 0 leaves the canary up
	case x.c.DynamicStableScale && !explicit:
		// the canary shrinks with the traffic it still carries
		if !x.in.RouterWeightVerified || !x.appliedOK {
			x.keep(x.newSet, keep)
			x.p.WaitingForRouter = true
			return
		}
		x.keep(x.newSet, min(keep, TrafficReplicas(x.replicas, max(x.applied, x.p.RouterWeight), x.maxW)))
	default:
		deadline := x.newSet.ScaleDownDeadline
		if deadline.IsZero() {
			deadline = st.AbortedAt.Add(time.Duration(delay) * time.Second)
			x.p.ScaleDownDeadlines[x.newSet.Hash] = deadline
		}
		x.p.Replicas[x.newSet.Hash] = keep
		if left := deadline.Sub(x.in.Now); left > 0 {
			x.requeue(left)
			return
		}
		if !x.verified(0) {
			x.p.WaitingForRouter = true
			return
		}
		x.p.Replicas[x.newSet.Hash] = 0
	}
}

// scaleDownOld decides the ReplicaSets neither new nor (still) stable: the ones with pods get
// a scale-down deadline scaleDownDelaySeconds away and keep their pods until then (at most
// scaleDownDelayRevisionLimit of them, newest first); the others scale to 0.
func (x *routed) scaleDownOld() {
	var old []*Set
	for i := range x.in.Sets {
		if _, decided := x.p.Replicas[x.in.Sets[i].Hash]; !decided {
			old = append(old, &x.in.Sets[i])
		}
	}
	sort.SliceStable(old, func(i, j int) bool { return old[i].Revision > old[j].Revision })
	limit := -1
	if x.c.ScaleDownDelayRevisionLimit != nil {
		limit = int(*x.c.ScaleDownDelayRevisionLimit)
	}
	delay := time.Duration(x.c.EffectiveScaleDownDelaySeconds()) * time.Second
	kept := 0
	for _, s := range old {
		deadline := s.ScaleDownDeadline
		if deadline.IsZero() && s.Pods.Spec > 0 && delay > 0 {
			deadline = x.in.Now.Add(delay)
			x.p.ScaleDownDeadlines[s.Hash] = deadline
			x.event(false, "ScaleDownDelayed", "ReplicaSet with pod template hash %s keeps its pods until %s (scaleDownDelaySeconds)",
				s.Hash, deadline.UTC().Format(time.RFC3339))
		}
		if left := deadline.Sub(x.in.Now); !deadline.IsZero() && left > 0 && s.Pods.Spec > 0 && (limit < 0 || kept < limit) {
			kept++
			x.p.Replicas[s.Hash] = min(s.Pods.Spec, x.replicas)
			x.requeue(left)
			continue
		}
		x.p.Replicas[s.Hash] = 0
	}
}

// finish fills the weights to record and the managed routes in effect.
func (x *routed) finish() {
	st := &x.p.Status
	x.p.Weights = &v1alpha1.TrafficWeights{
		Canary: v1alpha1.WeightDestination{Weight: x.p.RouterWeight, ServiceName: x.c.CanaryService, PodTemplateHash: x.in.NewHash},
		Stable: v1alpha1.WeightDestination{Weight: x.maxW - x.p.RouterWeight, ServiceName: x.c.StableService, PodTemplateHash: st.StableRS},
	}
	if x.p.RemoveManagedRoutes {
		return
	}
	headers := map[string]v1alpha1.SetHeaderRoute{}
	mirrors := map[string]v1alpha1.SetMirrorRoute{}
	for i := int32(0); i < *st.CurrentStepIndex && i < int32(len(x.steps)); i++ {
		if h := x.steps[i].SetHeaderRoute; h != nil {
			headers[h.Name] = *h.DeepCopy()
		}
		if m := x.steps[i].SetMirrorRoute; m != nil {
			mirrors[m.Name] = *m.DeepCopy()
		}
	}
	for _, r := range x.c.TrafficRouting.ManagedRoutes {
		if h, ok := headers[r.Name]; ok {
			x.p.HeaderRoutes = append(x.p.HeaderRoutes, h)
		}
		if m, ok := mirrors[r.Name]; ok {
			x.p.MirrorRoutes = append(x.p.MirrorRoutes, m)
		}
	}
}
