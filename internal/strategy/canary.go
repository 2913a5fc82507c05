package strategy

import (
	"fmt"
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
	// Revision is the set's revision: the new set's is the rollout's (in the RolloutCompleted
	// and RolloutAborted events); it orders the older sets, which scale down newest first
	// (and, with trafficRouting, keep their pods newest first within
	// scaleDownDelayRevisionLimit).
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
	// Experiment is the Experiment status.canary.currentExperiment names, as the controller
	// found it (nil: none, or not found; see ExperimentPlan for how it comes to exist).
	Experiment *Experiment
	// ServiceHashes are the pod-template hashes the canary and stable Services select, as
	// read: a ReplicaSet they select still takes traffic (trafficRouting only; see
	// referenced).
	ServiceHashes []string
	// RouterWeightVerified (trafficRouting only) says the traffic router reports the weights
	// recorded in status.canary.weights as applied (Router.VerifyWeight of
	// status.canary.weights.canary.weight). A setWeight step, and the update, complete only
	// when the canary is available at its size and this holds for the step's weight.
	RouterWeightVerified bool
	// StepPlugins are the step plugins' statuses after the calls the controller made in this
	// reconcile (see PlanStepPlugins); nil when the controller runs no step plugins (a plugin
	// step then holds the rollout where it is).
	StepPlugins *StepPlugins
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
	// promoteFull, and which runs and Experiment it still records (the controller records
	// those it starts). The controller adds counts, conditions and phase.
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
	// Experiment says which Experiment the update needs now.
	Experiment ExperimentPlan
	// AbortDetail is what the abort message adds after "Rollout aborted update to revision N"
	// when a failed run or Experiment aborted the update in this plan (see AbortDetail and
	// experimentDetail); "" otherwise.
	AbortDetail string

	// The fields below are set with trafficRouting only.

	// RouterWeight is the canary weight (out of maxTrafficWeight) the router must carry now:
	// the reconciler calls Router.SetWeight with it, and once that succeeded records Weights
	// as status.canary.weights. It rises to a step's weight only once the canary is available
	// at its size, drops to 0 at once on abort (with dynamicStableScale, as fast as the stable
	// pods are available), and is 0 once the update is complete (both Services select the
	// new pods).
	RouterWeight int32
	// AdditionalDestinations are the destinations of the running Experiment's weighted
	// templates (see experimentDestinations): the reconciler passes them to the router with
	// RouterWeight, and the stable gets what the canary and they leave.
	AdditionalDestinations []v1alpha1.WeightDestination
	// Weights is status.canary.weights for RouterWeight and AdditionalDestinations.
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
	// ResetManagedRoutes is set when a new canary (or new steps) replaced the one the managed
	// routes were set for: the reconciler removes them before it sets HeaderRoutes and
	// MirrorRoutes.
	ResetManagedRoutes bool
	// ScaleDownDeadlines lists the scale-down-deadline annotations to change: a time to set,
	// or the zero time to take the annotation off. ReplicaSets not listed keep theirs.
	ScaleDownDeadlines map[string]time.Time
}

// Canary plans the next state of a canary rollout. Without trafficRouting the traffic split is
// approximated by the ratio of canary to stable pods, moved within maxSurge and
// maxUnavailable as Argo moves them (see basicCanary); with trafficRouting (and
// Input.TrafficRouter) see canaryRouted.
func Canary(in Input) (Plan, error) {
	r := in.Rollout
	c := r.Spec.Strategy.Canary
	budget, err := ResolveBudget(c.EffectiveMaxSurge(), c.EffectiveMaxUnavailable(), r.Spec.EffectiveReplicas())
	if err != nil {
		return Plan{}, fmt.Errorf("spec.strategy.canary: %w", err)
	}
	if c.TrafficRouting != nil && in.TrafficRouter {
		return canaryRouted(in), nil
	}
	p := Plan{Status: *r.Status.DeepCopy(), Replicas: map[string]int32{}}
	p.Status.BlueGreen = v1alpha1.BlueGreenStatus{} // a strategy switched from blue/green keeps none of it
	st := &p.Status
	steps := c.Steps
	runs := in.Runs
	p.keepStepPlugins(in)
	if p.observeRevision(in, int32(len(steps))) {
		runs = Runs{}
	}
	p.currentCanaryRuns(in, &runs)
	p.startCanaryAnalysis(in, &runs)
	p.judgeExperiment(in)
	b := newBasicCanary(in, st, budget)
	if !st.Abort {
		p.runSteps(in, runs, b.atDesired)
	}
	p.forgetPassedStepRun()
	if st.Abort { // asked for, or an analysis or the Experiment failed
		p.abort(in, runs)
		p.Weight = 0
		p.scaleBasic(in, b)
		p.planExperiment(in)
		noStepIndex(in, st)
		return p, nil
	}
	p.Weight = DesiredCanaryWeight(b.c, b.replicas, st, b.sets.New, b.sets.Stable)
	p.scaleBasic(in, b)
	p.complete(in, b.sets.New, b.replicas)
	p.planExperiment(in)
	noStepIndex(in, st)
	return p, nil
}

// noStepIndex: a canary without steps has no currentStepIndex, as Argo writes its status
// (GetCurrentStepIndex is nil without steps); the engine counts from 0 meanwhile.
func noStepIndex(in Input, st *v1alpha1.RolloutStatus) {
	if len(in.Rollout.Spec.Strategy.Canary.Steps) == 0 {
		st.CurrentStepIndex = nil
	}
}

// runSteps plays the steps from the current one on, as long as each completes; atDesired says
// whether the ReplicaSets are where the current step wants them.
func (p *Plan) runSteps(in Input, runs Runs, atDesired func(*v1alpha1.RolloutStatus) bool) {
	st := &p.Status
	steps := in.Rollout.Spec.Strategy.Canary.Steps
	if st.PromoteFull {
		st.CurrentStepIndex = ptr32(int32(len(steps)))
		st.PauseConditions, st.ControllerPause = nil, false
	}
	for {
		idx := *st.CurrentStepIndex
		if idx >= int32(len(steps)) || in.Rollout.Spec.Paused {
			return
		}
		if !p.runStep(in, runs, idx, atDesired) || st.Abort {
			return
		}
		*st.CurrentStepIndex = idx + 1
		p.Events = append(p.Events, Event{Reason: "RolloutStepCompleted",
			Message: fmt.Sprintf("Rollout step %d/%d completed (%s)", idx+1, len(steps), describeStep(steps[idx]))})
	}
}

// complete makes the new ReplicaSet the stable one once the steps are done and it has all its
// pods available (Argo's shouldFullPromote and promoteStable).
func (p *Plan) complete(in Input, newSet *Pods, replicas int32) {
	st := &p.Status
	nSteps := int32(len(in.Rollout.Spec.Strategy.Canary.Steps))
	if st.Abort || st.StableRS == in.NewHash || *st.CurrentStepIndex < nSteps || newSet == nil || newSet.Available < replicas {
		return
	}
	reason := fmt.Sprintf("Completed all %d canary steps", nSteps)
	switch {
	case st.PromoteFull:
		reason = "Full promotion requested"
	case in.FastRollback:
		reason = "Rollback within window"
	}
	p.promote(in, reason)
}

// promote makes the new ReplicaSet the stable one, for reason (Argo's promoteStable).
func (p *Plan) promote(in Input, reason string) {
	st := &p.Status
	st.StableRS = in.NewHash
	st.PromoteFull = false
	st.Abort, st.AbortedAt = false, nil
	st.PauseConditions, st.ControllerPause = nil, false
	st.CurrentStepIndex = ptr32(int32(len(in.Rollout.Spec.Strategy.Canary.Steps)))
	p.Completed = true
	p.Analysis.Background = false // its job is done: the controller terminates it
	p.Events = append(p.Events, Event{Reason: "RolloutCompleted",
		Message: fmt.Sprintf("Rollout completed update to revision %d (%s): %s", revisionOf(in), in.NewHash, reason)})
}

// revisionOf is the new ReplicaSet's revision: the rollout's.
func revisionOf(in Input) int64 {
	for _, s := range in.Sets {
		if s.Hash == in.NewHash {
			return s.Revision
		}
	}
	return 0
}

// observeRevision resets the step bookkeeping when the template or the steps changed. It
// reports a new revision: the runs recorded so far belong to the previous one.
func (p *Plan) observeRevision(in Input, nSteps int32) bool {
	st := &p.Status
	if st.CurrentStepIndex == nil || *st.CurrentStepIndex < 0 {
		// none yet, or a negative one patched into the status (it names no step): from the first
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
	if newRevision || stepsChanged {
		// Argo's resetRolloutStatus: the steps start over
		st.Canary.CurrentExperiment = ""
		st.Canary.StepPluginStatuses = nil
	}
	st.CurrentStepHash = in.StepsHash
	switch {
	case st.StableRS == "" || (st.StableRS != in.NewHash && !hasSet(in, st.StableRS)):
		// the first revision (or one whose stable ReplicaSet is gone) becomes stable at once:
		// there is nothing to protect
		p.promote(in, "Initial deploy")
	case st.StableRS == in.NewHash, newRevision && in.FastRollback:
		// back to the stable template (a rollback mid-update), or to a revision inside the
		// rollback window: no steps to run
		if (newRevision || stepsChanged) && nSteps > 0 {
			p.skipStepsEvent(in, st.StableRS == in.NewHash)
		}
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
	if in.FastRollback && st.StableRS != in.NewHash {
		// Argo lifts an abort of a rollback inside the window, as it does for a full promotion
		st.Abort, st.AbortedAt = false, nil
	}
	if st.PromoteFull {
		st.Abort, st.AbortedAt = false, nil
	}
	return newRevision
}

// skipStepsEvent tells that the steps are skipped: the template is the stable one again, or a
// revision inside spec.rollbackWindow.
func (p *Plan) skipStepsEvent(in Input, toStable bool) {
	msg := "Rollback to stable ReplicaSets"
	if !toStable {
		if s := setOf(in, in.NewHash); s == nil || s.Pods.Spec == 0 {
			return // Argo only says so for a ReplicaSet that still has pods
		}
		msg = "Rollback to active ReplicaSets within RollbackWindow"
	}
	p.Events = append(p.Events, Event{Reason: "SkipSteps", Message: msg})
}

func setOf(in Input, hash string) *Set {
	for i := range in.Sets {
		if in.Sets[i].Hash == hash {
			return &in.Sets[i]
		}
	}
	return nil
}

func hasSet(in Input, hash string) bool { return setOf(in, hash) != nil }

// abort records the abort: abortedAt and its event the first time, no pause, no analysis, and
// the step index back to 0 (Argo's syncRolloutStatusCanary: the steps start over on a retry).
func (p *Plan) abort(in Input, runs Runs) {
	st := &p.Status
	if st.AbortedAt == nil {
		at := metav1.NewTime(in.Now)
		st.AbortedAt = &at
		if d := abortVerdict(runs); d != "" {
			p.AbortDetail = d // Argo judges the runs after the Experiment: their verdict wins
		}
		msg := Abort(fmt.Sprint(revisionOf(in)), p.AbortDetail).Message
		p.Events = append(p.Events, Event{Warning: true, Reason: "RolloutAborted", Message: msg})
	}
	st.PauseConditions, st.ControllerPause, st.PromoteFull = nil, false, false
	p.Analysis = AnalysisPlan{} // the controller terminates every run
	if n := int32(len(in.Rollout.Spec.Strategy.Canary.Steps)); n > 0 {
		st.CurrentStepIndex = ptr32(0)
		if st.StableRS == st.CurrentPodHash {
			st.CurrentStepIndex = ptr32(n)
		}
	}
}

// abortVerdict is Argo's text for the failed run that aborted the update, as AbortDetail
// writes it from the status ("" when no run failed: a user's abort).
func abortVerdict(runs Runs) string {
	if d := failedRunDetail(abortedByBackground, runs.Background); d != "" {
		return d
	}
	return failedRunDetail(abortedByStep, runs.Step)
}

// runStep plays step idx and reports whether it is complete.
func (p *Plan) runStep(in Input, runs Runs, idx int32, atDesired func(*v1alpha1.RolloutStatus) bool) bool {
	step := in.Rollout.Spec.Strategy.Canary.Steps[idx]
	p.forgetStalePause(step, inconclusiveStep(runs, idx))
	switch {
	case step.SetWeight != nil:
		return atDesired(&p.Status)
	case step.Pause != nil:
		return p.pause(in, step.Pause)
	case step.Analysis != nil:
		return p.analysisStep(runs, idx, in.Now)
	case step.Experiment != nil:
		return p.experimentStep(in)
	case step.Plugin != nil:
		return p.pluginStep(in, idx)
	default:
		// never skipped: the routing steps need trafficRouting (validation); a step the engine
		// cannot play holds the rollout where it is
		return false
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
	p.Events = append(p.Events, Event{Reason: "RolloutResumed", Message: "Rollout is resumed"})
	return true
}

// basicCanary is the replica arithmetic of a canary without a traffic router.
type basicCanary struct {
	// c is the canary strategy without trafficRouting (a router Vane does not drive yet
	// leaves the replica-based canary), so that setCanaryScale and maxTrafficWeight do not
	// apply.
	c        *v1alpha1.CanaryStrategy
	replicas int32
	budget   Budget
	sets     CanarySets
	// hashes of sets.New and sets.Stable, and the older ReplicaSets
	newHash, stableHash string
	older               []OlderSet
}

func newBasicCanary(in Input, st *v1alpha1.RolloutStatus, budget Budget) *basicCanary {
	c := *in.Rollout.Spec.Strategy.Canary
	c.TrafficRouting = nil
	b := &basicCanary{c: &c, replicas: in.Rollout.Spec.EffectiveReplicas(), budget: budget}
	b.sets, b.older = splitSets(in, st.StableRS)
	if b.sets.New != nil {
		b.newHash = in.NewHash
	}
	if b.sets.Stable != nil {
		b.stableHash = st.StableRS
	}
	return b
}

// splitSets sorts the ReplicaSets into the new one, the stable one (the new one once it is
// stable) and the older ones.
func splitSets(in Input, stableHash string) (CanarySets, []OlderSet) {
	var sets CanarySets
	var older []OlderSet
	for i := range in.Sets {
		s := &in.Sets[i]
		switch s.Hash {
		case in.NewHash:
			sets.New = &s.Pods
		case stableHash:
			sets.Stable = &s.Pods
		default:
			sets.Older = append(sets.Older, s.Pods)
			older = append(older, OlderSet{Hash: s.Hash, Pods: s.Pods, Revision: s.Revision})
		}
	}
	if stableHash == in.NewHash {
		sets.Stable = sets.New
	}
	return sets, older
}

// counts are the new and stable counts the arithmetic moves to next for status st.
func (b *basicCanary) counts(st *v1alpha1.RolloutStatus) (int32, int32) {
	_, weight := CanaryScaleOrWeight(b.c, b.replicas, st, b.sets.New, b.sets.Stable)
	return BasicCanaryCounts(b.sets, b.replicas, weight, b.c.EffectiveMaxTrafficWeight(), b.budget)
}

// atDesired: a setWeight step is complete.
func (b *basicCanary) atDesired(st *v1alpha1.RolloutStatus) bool {
	n, s := b.counts(st)
	return AtDesiredCounts(b.c, b.sets, n, s)
}

// scaleBasic records the replicas each set gets now. Like Argo, one reconcile scales one thing,
// the first of: the stable ReplicaSet, the new one, the older ones (scaled down first, before
// the new or the stable one shrinks); nothing while the rollout is paused by spec.paused or an
// inconclusive analysis.
func (p *Plan) scaleBasic(in Input, b *basicCanary) {
	for _, s := range in.Sets {
		p.Replicas[s.Hash] = s.Pods.Spec
	}
	st := &p.Status
	if in.Rollout.Spec.Paused || findPause(st.PauseConditions, v1alpha1.PauseReasonInconclusiveAnalysis) != nil {
		return
	}
	n, s := b.counts(st)
	if b.sets.stableDiffers() && s != b.sets.Stable.Spec {
		p.Replicas[b.stableHash] = s
		return
	}
	if b.sets.New != nil && n != b.sets.New.Spec {
		p.Replicas[b.newHash] = n
		return
	}
	var available int32
	for _, s := range in.Sets {
		available += s.Pods.Available
	}
	for h, n := range ScaleDownOlder(b.older, available, b.replicas, b.budget.MaxUnavailable) {
		p.Replicas[h] = n
	}
}

// CurrentWeight is the weight of the last setWeight step at or before idx; 100 once the steps
// are done.
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

// describeStep is Argo's text for a step in RolloutStepCompleted (CanaryStepString).
func describeStep(s v1alpha1.CanaryStep) string {
	switch {
	case s.SetWeight != nil:
		return fmt.Sprintf("setWeight: %d", *s.SetWeight)
	case s.Pause != nil && s.Pause.Duration != nil:
		return "pause: " + s.Pause.Duration.String()
	case s.Pause != nil:
		return "pause"
	case s.Experiment != nil:
		return "experiment"
	case s.Analysis != nil:
		return "analysis"
	case s.SetCanaryScale != nil && s.SetCanaryScale.Weight != nil:
		return fmt.Sprintf("setCanaryScale{weight: %d}", *s.SetCanaryScale.Weight)
	case s.SetCanaryScale != nil && s.SetCanaryScale.MatchTrafficWeight:
		return "setCanaryScale{matchTrafficWeight: true}"
	case s.SetCanaryScale != nil && s.SetCanaryScale.Replicas != nil:
		return fmt.Sprintf("setCanaryScale{replicas: %d}", *s.SetCanaryScale.Replicas)
	case s.Plugin != nil:
		return "plugin: " + s.Plugin.Name
	case s.SetHeaderRoute != nil:
		return "setHeaderRoute: " + s.SetHeaderRoute.Name
	case s.SetMirrorRoute != nil:
		return "setMirrorRoute: " + s.SetMirrorRoute.Name
	}
	return "invalid"
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
