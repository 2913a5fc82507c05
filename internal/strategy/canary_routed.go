package strategy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
)

// canaryRouted plans a canary rollout whose traffic a router splits (trafficRouting):
//
//   - the ReplicaSets are sized as Argo sizes them (RoutedCanaryCounts): the canary runs the
//     step's weight of spec.replicas rounded up (or what setCanaryScale says), the stable stays
//     at spec.replicas (with dynamicStableScale: the share of the higher of the stable's weight
//     in the goal and the one the router carries), and maxSurge and maxUnavailable do not
//     apply;
//   - RouterWeight rises to a step's weight only once the canary is available at its size, and
//     a setWeight step completes when, in addition, the router verifies that weight;
//   - setHeaderRoute and setMirrorRoute steps complete at once (the reconciler applies the
//     routes before it stores the step);
//   - on abort the weight goes back to 0 at once (with dynamicStableScale, as fast as the stable
//     pods are available); the canary keeps its pods until abortScaleDownDelaySeconds after
//     the stable is back at full size, then scales to 0 (abortScaleDownDelaySeconds 0, or
//     dynamicStableScale without it: the canary is sized by the aborted update's weight at
//     once, as Argo does);
//   - once complete, the previous stable keeps its pods scaleDownDelaySeconds (a
//     scale-down deadline, as for every old ReplicaSet, newest scaleDownDelayRevisionLimit).
func canaryRouted(in Input) Plan {
	r := in.Rollout
	c := r.Spec.Strategy.Canary
	x := &routed{in: in, c: c, steps: c.Steps, replicas: r.Spec.EffectiveReplicas(), maxW: c.EffectiveMaxTrafficWeight(),
		p: Plan{Status: *r.Status.DeepCopy(), Replicas: map[string]int32{}, ScaleDownDeadlines: map[string]time.Time{}}}
	x.p.Status.BlueGreen = v1alpha1.BlueGreenStatus{}
	x.runs = in.Runs
	x.p.keepStepPlugins(in)
	if x.p.observeRevision(in, int32(len(x.steps))) {
		x.runs = Runs{}
	}
	x.p.currentCanaryRuns(in, &x.runs)
	x.p.startCanaryAnalysis(in, &x.runs)
	x.p.judgeExperiment(in)
	x.newSet = setOf(in, in.NewHash)
	if st := x.p.Status.StableRS; st != in.NewHash {
		x.stable = setOf(in, st)
	}
	if w := r.Status.Canary.Weights; w != nil && (w.Canary.PodTemplateHash == "" || w.Canary.PodTemplateHash == in.NewHash) {
		x.applied, x.appliedOK = w.Canary.Weight, true
	}
	if !x.p.Status.Abort {
		x.progress()
	}
	x.p.forgetPassedStepRun()
	if x.p.Status.Abort { // asked for, or an analysis or the Experiment failed
		x.p.Replicas = map[string]int32{}
		x.p.ScaleDownDeadlines = map[string]time.Time{}
		x.p.HeaderRoutes, x.p.MirrorRoutes = nil, nil
		x.abort()
	}
	x.p.planExperiment(in)
	x.scaleDownOld()
	x.finish()
	noStepIndex(in, &x.p.Status)
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

// sets are the new and stable ReplicaSets for the arithmetic (the stable is the new one once
// the update is complete).
func (x *routed) sets() CanarySets {
	var sets CanarySets
	if x.newSet != nil {
		sets.New = &x.newSet.Pods
	}
	switch {
	case x.stable != nil:
		sets.Stable = &x.stable.Pods
	case x.p.Status.StableRS == x.in.NewHash:
		sets.Stable = sets.New
	}
	return sets
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
	if st.PromoteFull {
		st.CurrentStepIndex = ptr32(int32(len(x.steps)))
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
	canary, stable, w, routerW := x.runSteps()
	x.p.Weight, x.p.RouterWeight = w, routerW
	x.keep(x.newSet, canary)
	if x.stable != nil {
		x.keep(x.stable, stable)
	}
	if st.Abort || *st.CurrentStepIndex < int32(len(x.steps)) || x.newSet.Pods.Available < x.replicas {
		return
	}
	if !x.verified(x.maxW) {
		x.p.WaitingForRouter = true
		return
	}
	reason := fmt.Sprintf("Completed all %d canary steps", len(x.steps))
	switch {
	case st.PromoteFull:
		reason = "Full promotion requested"
	case x.in.FastRollback:
		reason = "Rollback within window"
	}
	x.p.promote(x.in, reason)
	x.p.RemoveManagedRoutes, x.p.RouterWeight = true, 0
	if x.stable != nil {
		delete(x.p.Replicas, x.stable.Hash) // the previous stable is old now: it waits for its deadline
	}
}

// runSteps plays the steps from the current one on, as long as each completes, and returns the
// ReplicaSets' sizes, the step's traffic weight and the weight the router carries now.
func (x *routed) runSteps() (canary, stable, w, routerW int32) {
	st := &x.p.Status
	nSteps := int32(len(x.steps))
	for {
		idx := *st.CurrentStepIndex
		w = x.weightAt(idx)
		canary, stable = RoutedCanaryCounts(x.c, x.replicas, st, x.sets(), x.in.Rollout.Status.Canary.Weights)
		atDesired := AtDesiredCounts(x.c, x.sets(), canary, stable)
		routerW = w
		if !x.canaryReady(canary) {
			// no more traffic than the canary had before: what the router carries for it, or
			// (a canary the router has no weight for yet) the previous step's
			base := x.previousWeight(idx)
			if x.appliedOK {
				base = x.applied
			}
			routerW = min(w, base)
		}
		if idx >= nSteps || x.in.Rollout.Spec.Paused {
			return
		}
		step := x.steps[idx]
		x.p.forgetStalePause(step, inconclusiveStep(x.runs, idx))
		done := false
		switch {
		case step.SetWeight != nil:
			done = atDesired && x.verified(w)
			x.p.WaitingForRouter = atDesired && !done
		case step.Pause != nil:
			done = x.p.pause(x.in, step.Pause)
		case step.SetCanaryScale != nil:
			done = atDesired
		case step.SetHeaderRoute != nil, step.SetMirrorRoute != nil:
			done = true
		case step.Analysis != nil:
			done = x.p.analysisStep(x.runs, idx, x.in.Now)
		case step.Experiment != nil:
			done = x.p.experimentStep(x.in)
		case step.Plugin != nil:
			done = x.p.pluginStep(x.in, idx)
		default:
			done = false // a step the engine cannot play holds the rollout where it is
		}
		if !done || st.Abort {
			return
		}
		*st.CurrentStepIndex = idx + 1
		x.event(false, "RolloutStepCompleted", "Rollout step %d/%d completed (%s)", idx+1, nSteps, describeStep(step))
	}
}

// abort sends the traffic back to the stable pods, then scales the canary down.
func (x *routed) abort() {
	x.p.abort(x.in, x.runs)
	st := &x.p.Status
	x.p.Weight, x.p.RouterWeight, x.p.RemoveManagedRoutes = 0, 0, true
	if x.newSet == nil {
		return
	}
	if x.stable == nil {
		x.keep(x.newSet, max(x.newSet.Pods.Spec, x.replicas)) // nothing else to serve traffic
		return
	}
	_, stable := RoutedCanaryCounts(x.c, x.replicas, st, x.sets(), x.in.Rollout.Status.Canary.Weights)
	x.keep(x.stable, stable)
	x.p.RouterWeight = x.abortWeight()
	explicit := x.c.AbortScaleDownDelaySeconds != nil
	delay := time.Duration(x.c.EffectiveAbortScaleDownDelaySeconds()) * time.Second
	if delay == 0 || (x.c.DynamicStableScale && !explicit) {
		// sized by the aborted update's weight (and the canary weight the router still
		// carries), at once
		now := &v1alpha1.TrafficWeights{Canary: v1alpha1.WeightDestination{Weight: x.p.RouterWeight},
			Stable: v1alpha1.WeightDestination{Weight: x.maxW - x.p.RouterWeight}}
		canary, _ := RoutedCanaryCounts(x.c, x.replicas, st, x.sets(), now)
		x.keep(x.newSet, canary)
		return
	}
	x.p.Replicas[x.newSet.Hash] = x.newSet.Pods.Spec
	deadline := x.newSet.ScaleDownDeadline
	if deadline.IsZero() {
		// the delay starts once the stable can take all the traffic again
		if x.stable.Pods.Available >= x.replicas {
			x.p.ScaleDownDeadlines[x.newSet.Hash] = x.in.Now.Add(delay)
			x.requeue(delay)
		}
		return
	}
	if left := deadline.Sub(x.in.Now); left > 0 {
		x.requeue(left)
		return
	}
	x.p.Replicas[x.newSet.Hash] = 0
}

// abortWeight is the canary weight while an update aborts (Argo's
// calculateDesiredWeightOnAbortOrStableRollback): 0 at once, but with dynamicStableScale it
// follows the stable's available pods down, never above what the router carries already.
func (x *routed) abortWeight() int32 {
	r := x.in.Rollout
	if !x.c.DynamicStableScale || r.Spec.Replicas == nil || *r.Spec.Replicas == 0 {
		return 0
	}
	sets := x.sets()
	desired := DesiredCanaryWeight(x.c, x.replicas, &x.p.Status, sets.New, sets.Stable)
	stableWeight := x.maxW * x.stable.Pods.Available / x.replicas
	expected := max(0, x.maxW-stableWeight)
	w := r.Status.Canary.Weights
	switch {
	case w == nil:
		return max(expected, desired)
	case desired <= 0:
		return min(expected, w.Canary.Weight)
	case stableWeight < x.maxW-desired:
		return w.Canary.Weight
	}
	return min(desired, w.Canary.Weight)
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
	promoted := x.p.Status.StableRS == x.in.NewHash
	kept := 0
	for _, s := range old {
		// Argo's scaleDownOldReplicaSetsForCanary: a set still referenced keeps its pods; an
		// intermediate canary (not promoted, no deadline) takes no traffic and goes at once;
		// the previous stable keeps its pods for the delay, unless dynamicStableScale already
		// moved them
		switch {
		case x.referenced(s.Hash):
			x.p.Replicas[s.Hash] = s.Pods.Spec
			continue
		case (!promoted && s.ScaleDownDeadline.IsZero()) || x.c.DynamicStableScale:
			x.p.Replicas[s.Hash] = 0
			continue
		}
		deadline := s.ScaleDownDeadline
		if deadline.IsZero() && s.Pods.Spec > 0 && delay > 0 {
			deadline = x.in.Now.Add(delay)
			x.p.ScaleDownDeadlines[s.Hash] = deadline // the annotation says it; Argo records no event
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

// referenced: the status as read or a Service still points at the set (Argo's
// isReplicaSetReferenced): the stable and current hashes, the weights' canary and stable, the
// hashes the canary and stable Services select.
func (x *routed) referenced(hash string) bool {
	read := &x.in.Rollout.Status
	refs := append([]string{read.StableRS, read.CurrentPodHash}, x.in.ServiceHashes...)
	if w := read.Canary.Weights; w != nil {
		refs = append(refs, w.Canary.PodTemplateHash, w.Stable.PodTemplateHash)
	}
	return hash != "" && slices.Contains(refs, hash)
}

// finish fills the weights to record (the stable gets what the canary and the Experiment's
// destinations leave, as Argo's calculateWeightStatus has it) and the managed routes in effect.
func (x *routed) finish() {
	st := &x.p.Status
	x.p.AdditionalDestinations = experimentDestinations(x.in, st)
	stable := x.maxW - x.p.RouterWeight
	for _, d := range x.p.AdditionalDestinations {
		stable -= d.Weight
	}
	x.p.Weights = &v1alpha1.TrafficWeights{
		Canary:     v1alpha1.WeightDestination{Weight: x.p.RouterWeight, ServiceName: x.c.CanaryService, PodTemplateHash: x.in.NewHash},
		Stable:     v1alpha1.WeightDestination{Weight: max(stable, 0), ServiceName: x.c.StableService, PodTemplateHash: st.StableRS},
		Additional: x.p.AdditionalDestinations,
	}
	st.Canary.Weights = x.p.Weights
	x.weightEvent()
	if x.p.RemoveManagedRoutes {
		return
	}
	// a canary superseded by a newer one (or steps that changed) starts again from the first
	// step: the routes earlier steps set for the previous canary go before any is set again
	was := x.in.Rollout.Status
	x.p.ResetManagedRoutes = was.CurrentPodHash != "" &&
		(was.CurrentPodHash != st.CurrentPodHash || was.CurrentStepHash != st.CurrentStepHash)
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

// weightEvent announces a change of the weights the router carries (Argo's
// TrafficWeightUpdated): "Traffic weight updated to N", "... from N to M", and ", additional:
// [...]" (Argo's %v of the destinations) when the Experiment's destinations changed.
func (x *routed) weightEvent() {
	w := x.in.Rollout.Status.Canary.Weights
	var details []string
	switch {
	case w == nil:
		details = append(details, fmt.Sprintf("to %d", x.p.RouterWeight))
	case w.Canary.Weight != x.p.RouterWeight:
		details = append(details, fmt.Sprintf("from %d to %d", w.Canary.Weight, x.p.RouterWeight))
	}
	if add := x.p.AdditionalDestinations; w != nil && !slices.Equal(w.Additional, add) {
		details = append(details, fmt.Sprintf("additional: %v", add))
	}
	if len(details) > 0 {
		x.event(false, "TrafficWeightUpdated", "Traffic weight updated %s", strings.Join(details, ", "))
	}
}
