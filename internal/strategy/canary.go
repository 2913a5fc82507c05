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
}

// Canary plans the next state of a canary rollout without traffic routing.
func Canary(in Input) (Plan, error) {
	r := in.Rollout
	c := r.Spec.Strategy.Canary
	replicas := r.Spec.EffectiveReplicas()
	budget, err := ResolveBudget(c.EffectiveMaxSurge(), c.EffectiveMaxUnavailable(), replicas)
	if err != nil {
		return Plan{}, fmt.Errorf("spec.strategy.canary: %w", err)
	}
	p := Plan{Status: *r.Status.DeepCopy(), Replicas: map[string]int32{}}
	st := &p.Status
	steps := c.Steps
	p.observeRevision(in, int32(len(steps)))

	if st.Abort {
		p.abort(in, replicas, budget)
		return p, nil
	}
	if st.AbortedAt != nil { // abort was lifted: retry the update from the first step
		st.AbortedAt = nil
		st.CurrentStepIndex = ptr32(0)
		p.Events = append(p.Events, Event{Reason: "RolloutRetried", Message: "Rollout is retried"})
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
		if !p.runStep(in, steps[idx], targets) {
			break
		}
		*st.CurrentStepIndex = idx + 1
		p.Events = append(p.Events, Event{Reason: "RolloutStepCompleted",
			Message: fmt.Sprintf("Rollout step %d/%d completed (%s)", idx+1, len(steps), describeStep(steps[idx]))})
	}
	p.scale(in, targets, replicas, budget)
	if *st.CurrentStepIndex >= int32(len(steps)) && st.StableRS != in.NewHash && reached(in.Sets, targets) {
		st.StableRS = in.NewHash
		st.PromoteFull = false
		p.Completed = true
		p.Events = append(p.Events, Event{Reason: "RolloutCompleted",
			Message: fmt.Sprintf("Rollout completed update to revision with pod template hash %s", in.NewHash)})
	}
	return p, nil
}

// observeRevision resets the step bookkeeping when the template or the steps changed.
func (p *Plan) observeRevision(in Input, nSteps int32) {
	st := &p.Status
	if st.CurrentStepIndex == nil {
		st.CurrentStepIndex = ptr32(0)
	}
	newRevision := st.CurrentPodHash != in.NewHash
	if newRevision {
		st.CurrentPodHash = in.NewHash
		st.PauseConditions, st.ControllerPause = nil, false
		st.Abort, st.AbortedAt, st.PromoteFull = false, nil, false
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
	case newRevision || stepsChanged:
		st.CurrentStepIndex = ptr32(0)
		st.PauseConditions, st.ControllerPause = nil, false
	}
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
	p.Weight = 0
	p.scale(in, canaryTargets(in, replicas, 0), replicas, budget)
}

// runStep plays one step and reports whether it is complete.
func (p *Plan) runStep(in Input, step v1alpha1.CanaryStep, targets map[string]int32) bool {
	switch {
	case step.SetWeight != nil:
		return reached(in.Sets, targets)
	case step.Pause != nil:
		return p.pause(in, step.Pause)
	default:
		// setCanaryScale and the routing steps only matter with a traffic router; analysis
		// and experiment steps arrive with the analysis controller. They pass for now, and
		// the rollout says so.
		p.Events = append(p.Events, Event{Warning: true, Reason: "StepNotSupported",
			Message: fmt.Sprintf("step %q is not supported yet and was skipped", describeStep(step))})
		return true
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
