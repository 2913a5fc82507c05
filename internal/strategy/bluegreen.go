package strategy

import (
	"fmt"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vanedev/vane/api/v1alpha1"
)

// BlueGreenSet is one ReplicaSet as the blue/green engine sees it.
type BlueGreenSet struct {
	Hash string
	// Revision orders the old ReplicaSets for scaleDownDelayRevisionLimit (newest kept first).
	Revision int64
	Pods     Pods
	// ScaleDownDeadline is the set's scale-down-deadline annotation (zero: none).
	ScaleDownDeadline time.Time
}

// BlueGreenInput is everything the blue/green engine decides from.
type BlueGreenInput struct {
	// Rollout is the rollout as stored: its spec and last status.
	Rollout *v1alpha1.Rollout
	// NewHash is the pod-template hash of the rollout's current template; Sets holds it.
	NewHash string
	// ActiveHash is the hash the active Service selects now, "" when it selects none of Sets
	// (a Service not managed yet: the first revision goes straight to it).
	ActiveHash string
	// PreviewHash is the hash the preview Service selects now ("" when none of Sets, or when
	// there is no preview Service).
	PreviewHash string
	// Sets are the rollout's ReplicaSets.
	Sets []BlueGreenSet
	// FastRollback is set when the new template is a recent earlier revision within
	// spec.rollbackWindow: it is promoted without pause or preview size.
	FastRollback bool
	// Now is the clock's current time.
	Now time.Time
	// Runs are the pre- and post-promotion AnalysisRuns the status records for this update, as
	// the controller found them.
	Runs Runs
}

// BlueGreenPlan is the blue/green engine's decision.
type BlueGreenPlan struct {
	// Replicas is the spec.replicas each ReplicaSet (by hash) gets now.
	Replicas map[string]int32
	// Status is the rollout's status fields the engine owns: currentPodHash, stableRS,
	// pauseConditions, controllerPause, abort bookkeeping, promoteFull and blueGreen
	// (activeSelector and previewSelector are what the Services must select; empty: leave the
	// Service as it is). The controller adds counts, conditions and phase.
	Status v1alpha1.RolloutStatus
	// ScaleDownDeadlines lists the scale-down-deadline annotations to change: a time to set, or
	// the zero time to take the annotation off. ReplicaSets not listed keep theirs.
	ScaleDownDeadlines map[string]time.Time
	// Switched is set when the active Service moves to another ReplicaSet in this plan.
	Switched bool
	// Completed is set when the new ReplicaSet became the stable one in this plan.
	Completed bool
	// RequeueAfter asks to be called again for a timed wait (0: no need).
	RequeueAfter time.Duration
	// Events happened in this plan.
	Events []Event
	// Analysis says which AnalysisRuns the update needs now (PrePromotion, PostPromotion).
	Analysis AnalysisPlan
}

// BlueGreen plans the next state of a blue/green rollout.
//
// An update runs in this order: the new ReplicaSet scales to previewReplicaCount (or
// spec.replicas); once all its pods are available the preview Service selects it, the
// pre-promotion analysis runs, and once it passed the rollout pauses (BlueGreenPause) when
// autoPromotionEnabled is false or autoPromotionSeconds is set; once promoted the new
// ReplicaSet scales to spec.replicas, and only when every one of those pods is available does
// the active Service switch to it. The post-promotion analysis then runs (the previous stable
// ReplicaSet keeps every pod meanwhile) and, once it passed, the new ReplicaSet is stable; the
// previous one keeps its pods until its scale-down deadline (scaleDownDelaySeconds later). A
// failed analysis aborts the update, which puts the active Service back on the stable pods.
func BlueGreen(in BlueGreenInput) (BlueGreenPlan, error) {
	r := in.Rollout
	bg := r.Spec.Strategy.BlueGreen
	if bg == nil {
		return BlueGreenPlan{}, fmt.Errorf("spec.strategy.blueGreen is not set")
	}
	b := &blueGreen{in: in, bg: bg, replicas: r.Spec.EffectiveReplicas(), sets: map[string]*BlueGreenSet{}, runs: in.Runs,
		p: BlueGreenPlan{Status: *r.Status.DeepCopy(), Replicas: map[string]int32{}, ScaleDownDeadlines: map[string]time.Time{}}}
	b.p.Status.Canary = v1alpha1.CanaryStatus{} // a strategy switched from canary keeps none of it
	for i := range in.Sets {
		b.sets[in.Sets[i].Hash] = &in.Sets[i]
	}
	if b.sets[in.NewHash] == nil {
		return BlueGreenPlan{}, fmt.Errorf("the new ReplicaSet (hash %s) is not among the observed ReplicaSets", in.NewHash)
	}
	st := &b.p.Status
	// canary bookkeeping has no meaning here (a rollout may have switched strategy)
	st.CurrentStepIndex, st.CurrentStepHash = nil, ""
	b.observeRevision()
	if st.StableRS == in.NewHash {
		// nothing is being updated: an abort has nothing to act on (Argo lifts it from a fully
		// promoted rollout)
		st.Abort, st.AbortedAt = false, nil
	}
	active := in.ActiveHash
	if b.sets[active] == nil {
		active = ""
	}
	if !st.Abort {
		if st.AbortedAt != nil { // abort was lifted: retry the update from the start
			st.AbortedAt = nil
			st.ControllerPause = false
			st.BlueGreen.ScaleUpPreviewCheckPoint = false
			clearAnalysisRecords(st)
			b.runs = Runs{} // Argo records no event for a retry, only the Progressing condition
		}
		b.update(active)
	}
	// Argo keeps a blue/green's runs recorded: each phase change is announced
	read := &r.Status.BlueGreen
	b.p.Events = append(runChangeEvents(runChange{"PostPromotion", read.PostPromotionAnalysisRunStatus, b.runs.PostPromotion},
		runChange{"PrePromotion", read.PrePromotionAnalysisRunStatus, b.runs.PrePromotion}), b.p.Events...)
	if st.Abort { // asked for, or an analysis failed
		b.p.Replicas, b.p.ScaleDownDeadlines = map[string]int32{}, map[string]time.Time{}
		b.p.Analysis = AnalysisPlan{} // the controller terminates every run
		b.abort(active)
	}
	b.scaleDownOld()
	b.preview()
	return b.p, nil
}

type blueGreen struct {
	in       BlueGreenInput
	bg       *v1alpha1.BlueGreenStrategy
	replicas int32
	sets     map[string]*BlueGreenSet
	runs     Runs
	p        BlueGreenPlan
	// previewReady: the new ReplicaSet is fully available at its preview size
	previewReady bool
}

func (b *blueGreen) event(warning bool, reason, format string, args ...any) {
	b.p.Events = append(b.p.Events, Event{Warning: warning, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

func (b *blueGreen) requeue(d time.Duration) {
	if d > 0 && (b.p.RequeueAfter == 0 || d < b.p.RequeueAfter) {
		b.p.RequeueAfter = d
	}
}

// observeRevision resets the update bookkeeping when the template changed.
func (b *blueGreen) observeRevision() {
	st := &b.p.Status
	if st.CurrentPodHash == b.in.NewHash {
		return
	}
	st.CurrentPodHash = b.in.NewHash
	st.PauseConditions, st.ControllerPause = nil, false
	st.Abort, st.AbortedAt, st.PromoteFull = false, nil, false
	st.BlueGreen.ScaleUpPreviewCheckPoint = false
	clearAnalysisRecords(st)
	b.runs = Runs{}
}

// update moves the rollout towards the new ReplicaSet being active and stable.
func (b *blueGreen) update(active string) {
	st, newHash := &b.p.Status, b.in.NewHash
	newSet := b.sets[newHash]
	b.keepNew()
	if active == "" || active == newHash {
		// steady state, or nothing serves traffic yet: then the new ReplicaSet is stable at once
		// (Argo's "Initial deploy"), and goes to active once all its pods are available
		b.p.Replicas[newHash] = b.replicas
		st.BlueGreen.ActiveSelector = active
		if active == "" {
			b.promote()
			if fullyAvailable(newSet, b.replicas) {
				b.switchActive("")
			}
			return
		}
		b.promoted()
		return
	}
	// an update is in progress: active serves traffic, the new ReplicaSet is the preview
	st.BlueGreen.ActiveSelector = active
	b.p.Replicas[active] = b.replicas
	b.clearDeadline(active) // serving traffic: no scale-down deadline
	fast := st.PromoteFull || b.in.FastRollback || newHash == st.StableRS
	if fast {
		st.PauseConditions = removePause(st.PauseConditions, v1alpha1.PauseReasonBlueGreenPause)
	}
	target := b.replicas
	if b.bg.PreviewReplicaCount != nil && !fast && !st.BlueGreen.ScaleUpPreviewCheckPoint {
		target = *b.bg.PreviewReplicaCount
	}
	b.p.Replicas[newHash] = target
	if !fullyAvailable(newSet, target) {
		return
	}
	b.previewReady = true
	if !b.promotionGate(fast) {
		return
	}
	if b.bg.PreviewReplicaCount != nil && !fast {
		// promoted: from now on the preview runs at full size, even across restarts
		st.BlueGreen.ScaleUpPreviewCheckPoint = true
	}
	b.p.Replicas[newHash] = b.replicas
	if !fullyAvailable(newSet, b.replicas) {
		return // never switch to a ReplicaSet with pods that are not available
	}
	b.switchActive(active)
	b.promoted()
}

// keepNew takes a scale-down deadline off the new ReplicaSet: it is not going away.
func (b *blueGreen) keepNew() { b.clearDeadline(b.in.NewHash) }

// clearDeadline takes the scale-down deadline off a ReplicaSet that has one.
func (b *blueGreen) clearDeadline(hash string) {
	if s := b.sets[hash]; s != nil && !s.ScaleDownDeadline.IsZero() {
		b.p.ScaleDownDeadlines[hash] = time.Time{}
	}
}

// promotionGate reports whether the new ReplicaSet, fully available at its preview size, may
// be promoted: not paused by hand, pre-promotion analysis passed, and the BlueGreenPause (when
// autoPromotionEnabled is false or autoPromotionSeconds is set) over.
func (b *blueGreen) promotionGate(fast bool) bool {
	st := &b.p.Status
	if fast {
		return true
	}
	if b.in.Rollout.Spec.Paused {
		return false
	}
	if !b.prePromotionAnalysis() {
		return false
	}
	auto := b.bg.EffectiveAutoPromotionEnabled()
	seconds := b.bg.AutoPromotionSeconds
	if auto && seconds <= 0 {
		return true
	}
	cond := findPause(st.PauseConditions, v1alpha1.PauseReasonBlueGreenPause)
	if cond == nil {
		if st.ControllerPause {
			return true // we paused and the condition is gone: promoted
		}
		st.PauseConditions = append(st.PauseConditions, v1alpha1.PauseCondition{
			Reason: v1alpha1.PauseReasonBlueGreenPause, StartTime: metav1.NewTime(b.in.Now)})
		st.ControllerPause = true
		cond = &st.PauseConditions[len(st.PauseConditions)-1]
		b.event(false, "RolloutPaused", "Rollout is paused (BlueGreenPause)")
	}
	if !auto {
		return false // until promote
	}
	left := cond.StartTime.Add(time.Duration(seconds) * time.Second).Sub(b.in.Now)
	if left > 0 {
		b.requeue(left)
		return false
	}
	// controllerPause stays set: it records that the pause is over until the update completes
	st.PauseConditions = removePause(st.PauseConditions, v1alpha1.PauseReasonBlueGreenPause)
	b.event(false, "RolloutResumed", "Rollout is resumed")
	return true
}

// prePromotionAnalysis runs spec.strategy.blueGreen.prePromotionAnalysis against the preview
// (status.blueGreen.prePromotionAnalysisRunStatus): promotion waits until it is Successful
// (or Inconclusive and promoted); a failure aborts the update. The BlueGreenPause starts only
// once it passed, so that controllerPause before that can only be the inconclusive pause.
func (b *blueGreen) prePromotionAnalysis() bool {
	if b.bg.PrePromotionAnalysis == nil {
		return true
	}
	b.p.Analysis.PrePromotion = true
	v := judgeRun(&b.p.Status, b.runs.PrePromotion, b.in.Now, &b.p.Events)
	// an inconclusive run that was promoted keeps controllerPause: the BlueGreenPause takes
	// that promotion as its own
	return v == verdictPass
}

// postPromotionAnalysis runs spec.strategy.blueGreen.postPromotionAnalysis once the active
// Service selects the new ReplicaSet (status.blueGreen.postPromotionAnalysisRunStatus): the new
// ReplicaSet becomes stable only when it passes, and the previous stable keeps every pod until
// then; a failure aborts the update, which returns the active Service to the stable pods.
func (b *blueGreen) postPromotionAnalysis() bool {
	st := &b.p.Status
	if b.bg.PostPromotionAnalysis == nil || st.StableRS == "" || st.PromoteFull || b.in.FastRollback {
		return true
	}
	b.p.Analysis.PostPromotion = true
	if stable := b.sets[st.StableRS]; stable != nil {
		b.p.Replicas[stable.Hash] = b.replicas
		b.clearDeadline(stable.Hash)
	}
	v := judgeRun(st, b.runs.PostPromotion, b.in.Now, &b.p.Events)
	if v == verdictPass {
		b.p.Analysis.PostPromotion = false
		delete(b.p.Replicas, st.StableRS) // once no longer stable, scaleDownOld decides it
	}
	return v == verdictPass
}

// switchActive points the active Service at the new ReplicaSet.
func (b *blueGreen) switchActive(from string) {
	st := &b.p.Status
	st.BlueGreen.ActiveSelector = b.in.NewHash
	b.p.Switched = true
	// the pause is over for good: from now on controllerPause can only be the post-promotion
	// analysis's inconclusive pause
	st.ControllerPause = false
	if from != b.in.NewHash {
		delete(b.p.Replicas, from) // no longer active: scaleDownOld decides it
	}
}

// promoted runs once the active Service selects the new ReplicaSet: after the post-promotion
// hook, the new ReplicaSet is stable and the update complete.
func (b *blueGreen) promoted() {
	if b.p.Status.StableRS == b.in.NewHash || !b.postPromotionAnalysis() {
		return
	}
	b.promote()
}

// promote makes the new ReplicaSet the stable one (Argo's promoteStable), with the event
// RolloutCompleted.
func (b *blueGreen) promote() {
	st := &b.p.Status
	if st.StableRS == b.in.NewHash {
		return
	}
	reason := b.promotionReason()
	first := st.StableRS == ""
	st.StableRS = b.in.NewHash
	st.PromoteFull, st.ControllerPause = false, false
	st.PauseConditions = removePause(st.PauseConditions, v1alpha1.PauseReasonBlueGreenPause)
	st.BlueGreen.ScaleUpPreviewCheckPoint = false
	b.p.Completed = !first
	b.event(false, "RolloutCompleted", "Rollout completed update to revision %d (%s): %s",
		b.sets[b.in.NewHash].Revision, b.in.NewHash, reason)
}

// promotionReason is why the new ReplicaSet becomes stable, in Argo's words (shouldFullPromote).
func (b *blueGreen) promotionReason() string {
	st := &b.p.Status
	switch {
	case st.StableRS == "" || b.in.ActiveHash == "":
		return "Initial deploy"
	case st.PromoteFull:
		return "Full promotion requested"
	case b.in.FastRollback:
		return "Rollback within window"
	}
	return "Completed blue-green update"
}

// abort keeps (or puts back) the active Service on the stable ReplicaSet and scales the new one
// down after abortScaleDownDelaySeconds (0: never).
func (b *blueGreen) abort(active string) {
	st, newHash := &b.p.Status, b.in.NewHash
	if st.AbortedAt == nil {
		at := metav1.NewTime(b.in.Now)
		st.AbortedAt = &at
		detail := failedRunDetail(abortedByPostPromotion, b.runs.PostPromotion)
		if detail == "" {
			detail = failedRunDetail(abortedByPrePromotion, b.runs.PrePromotion)
		}
		b.event(true, "RolloutAborted", "%s", Abort(fmt.Sprint(b.sets[newHash].Revision), detail).Message)
	}
	st.PauseConditions, st.ControllerPause, st.PromoteFull = nil, false, false
	st.BlueGreen.ScaleUpPreviewCheckPoint = false
	back := active
	if stable := b.sets[st.StableRS]; stable != nil && st.StableRS != newHash {
		back = st.StableRS
	}
	st.BlueGreen.ActiveSelector = active
	if back == "" || back == newHash {
		// nothing else to serve traffic: the new ReplicaSet stays as it is
		b.p.Replicas[newHash] = b.replicas
		b.keepNew()
		return
	}
	b.p.Replicas[back] = b.replicas
	b.clearDeadline(back)
	if active != back && (active == "" || fullyAvailable(b.sets[back], b.replicas)) {
		// the active Service had moved on: back to the stable pods once they are all available
		st.BlueGreen.ActiveSelector = back
		b.p.Switched = true
	}
	newSet := b.sets[newHash]
	keep := newSet.Pods.Spec
	if st.BlueGreen.ActiveSelector == newHash {
		b.p.Replicas[newHash] = max(keep, b.replicas) // still serving traffic
		b.keepNew()
		return
	}
	delay := b.bg.EffectiveAbortScaleDownDelaySeconds()
	if delay <= 0 {
		b.p.Replicas[newHash] = keep
		b.keepNew()
		return
	}
	deadline := newSet.ScaleDownDeadline
	if deadline.IsZero() {
		deadline = ceilSecond(st.AbortedAt.Add(time.Duration(delay) * time.Second))
		b.p.ScaleDownDeadlines[newHash] = deadline
	}
	if left := deadline.Sub(b.in.Now); left > 0 {
		b.p.Replicas[newHash] = keep
		b.requeue(left)
		return
	}
	b.p.Replicas[newHash] = 0
}

// scaleDownOld decides the ReplicaSets neither new nor active: the ones that served traffic
// until now get a scale-down deadline scaleDownDelaySeconds away and keep their pods until
// then (at most scaleDownDelayRevisionLimit of them, newest first); the others scale to 0.
func (b *blueGreen) scaleDownOld() {
	st := &b.p.Status
	var old []*BlueGreenSet
	for _, s := range b.in.Sets {
		if _, decided := b.p.Replicas[s.Hash]; !decided {
			old = append(old, b.sets[s.Hash])
		}
	}
	sort.SliceStable(old, func(i, j int) bool { return old[i].Revision > old[j].Revision })
	limit := -1
	if b.bg.ScaleDownDelayRevisionLimit != nil {
		limit = int(*b.bg.ScaleDownDelayRevisionLimit)
	}
	delay := time.Duration(b.bg.EffectiveScaleDownDelaySeconds()) * time.Second
	kept := 0
	for _, s := range old {
		deadline := s.ScaleDownDeadline
		wasActive := s.Hash == b.in.ActiveHash || s.Hash == b.in.Rollout.Status.BlueGreen.ActiveSelector ||
			s.Hash == b.in.Rollout.Status.StableRS
		if deadline.IsZero() && wasActive && s.Pods.Spec > 0 && st.BlueGreen.ActiveSelector != "" && delay > 0 {
			deadline = ceilSecond(b.in.Now.Add(delay))
			b.p.ScaleDownDeadlines[s.Hash] = deadline // the annotation says it; Argo records no event
		}
		left := deadline.Sub(b.in.Now)
		if !deadline.IsZero() && left > 0 && s.Pods.Spec > 0 && (limit < 0 || kept < limit) {
			kept++
			b.p.Replicas[s.Hash] = min(s.Pods.Spec, b.replicas)
			b.requeue(left)
			continue
		}
		b.p.Replicas[s.Hash] = 0
	}
}

// preview decides what the preview Service selects: the new ReplicaSet from the moment all its
// pods are available (and from then on), the active one before that and once an aborted
// preview is scaled down.
func (b *blueGreen) preview() {
	st, newHash := &b.p.Status, b.in.NewHash
	if b.bg.PreviewService == "" {
		st.BlueGreen.PreviewSelector = ""
		return
	}
	active := st.BlueGreen.ActiveSelector
	n := b.p.Replicas[newHash]
	switch {
	case active == newHash:
		st.BlueGreen.PreviewSelector = newHash
	case n > 0 && (b.previewReady || b.in.PreviewHash == newHash || fullyAvailable(b.sets[newHash], n)):
		st.BlueGreen.PreviewSelector = newHash
	default:
		st.BlueGreen.PreviewSelector = active
	}
}

// ceilSecond rounds t up to a whole second: deadlines are stored in RFC3339, and rounding
// down would shorten the delay.
func ceilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// fullyAvailable reports whether the set runs exactly n pods, all available.
func fullyAvailable(s *BlueGreenSet, n int32) bool {
	return s != nil && s.Pods.Spec == n && s.Pods.Current == n && s.Pods.Available >= n
}
