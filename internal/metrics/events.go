package metrics

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Outcomes of the duration histograms.
const (
	outcomeCompleted  = "completed"  // the update finished (RolloutCompleted)
	outcomeAborted    = "aborted"    // it was aborted (RolloutAborted)
	outcomeSuperseded = "superseded" // a newer revision replaced it (RolloutUpdated)
	outcomePromoted   = "promoted"   // a manual pause ended and the update went on (RolloutResumed, RolloutStepCompleted)
)

// ObserveEvent counts an event about a Rollout in rollout_events_total (Argo counts no other
// kind's) and follows the rollout's update for the duration histograms. It is an
// internal/controller EventObserver.
func (in *Instance) ObserveEvent(obj runtime.Object, eventType, reason, _ string) {
	ro, ok := obj.(*v1alpha1.Rollout)
	if !ok || !in.src.owns(ro) {
		return
	}
	key := types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}
	rolloutEvents.WithLabelValues(ro.Namespace, ro.Name, eventType, reason).Inc()
	in.remember("rollout", key)
	in.spans.event(ro, reason, in.now())
}

// span is one update of a Rollout in progress: when it started, how long it was paused, and
// the pause it is in, if any.
type span struct {
	start, pausedAt time.Time
	paused          time.Duration
	manual          bool
}

// spans follows each Rollout's update through its events: RolloutUpdated starts it,
// RolloutPaused pauses it, RolloutResumed or RolloutStepCompleted (a pause step's end) resume it, RolloutCompleted and RolloutAborted end
// it. An update this process did not see start is not measured.
type spans struct {
	mu sync.Mutex
	m  map[types.NamespacedName]*span
}

func newSpans() *spans { return &spans{m: map[types.NamespacedName]*span{}} }

func (s *spans) event(ro *v1alpha1.Rollout, reason string, now time.Time) {
	key := types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.m[key]
	switch {
	case reason == "RolloutUpdated":
		if sp != nil {
			sp.finish(key, outcomeSuperseded, now)
		}
		s.m[key] = &span{start: now}
	case sp == nil:
	case reason == "RolloutPaused" && sp.pausedAt.IsZero():
		sp.pausedAt, sp.manual = now, manualPause(ro)
	case reason == "RolloutResumed" || reason == "RolloutStepCompleted":
		sp.resume(key, outcomePromoted, now)
	case reason == "RolloutCompleted":
		sp.finish(key, outcomeCompleted, now)
		delete(s.m, key)
	case reason == "RolloutAborted":
		sp.finish(key, outcomeAborted, now)
		delete(s.m, key)
	}
}

// resume ends the span's pause, if any; a manual one is observed with the outcome.
func (sp *span) resume(key types.NamespacedName, outcome string, now time.Time) {
	if sp.pausedAt.IsZero() {
		return
	}
	d := now.Sub(sp.pausedAt)
	sp.paused += d
	if sp.manual {
		rolloutManualPause.WithLabelValues(key.Namespace, outcome).Observe(d.Seconds())
	}
	sp.pausedAt, sp.manual = time.Time{}, false
}

func (sp *span) finish(key types.NamespacedName, outcome string, now time.Time) {
	sp.resume(key, outcome, now)
	total := now.Sub(sp.start)
	rolloutDuration.WithLabelValues(key.Namespace, outcome).Observe(total.Seconds())
	rolloutProgression.WithLabelValues(key.Namespace, outcome).Observe((total - sp.paused).Seconds())
}

func (s *spans) drop(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}

func (s *spans) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = map[types.NamespacedName]*span{}
}

// manualPause reports whether the rollout waits for a person: spec.paused, a canary pause step
// without a duration, a blue-green pause without auto-promotion, or an inconclusive analysis or
// experiment.
func manualPause(ro *v1alpha1.Rollout) bool {
	if ro.Spec.Paused {
		return true
	}
	for _, pc := range ro.Status.PauseConditions {
		switch pc.Reason {
		case v1alpha1.PauseReasonInconclusiveAnalysis, v1alpha1.PauseReasonInconclusiveExperiment:
			return true
		case v1alpha1.PauseReasonBlueGreenPause:
			if bg := ro.Spec.Strategy.BlueGreen; bg != nil && bg.AutoPromotionEnabled != nil && !*bg.AutoPromotionEnabled {
				return true
			}
		case v1alpha1.PauseReasonCanaryPauseStep:
			c := ro.Spec.Strategy.Canary
			idx := int(ptr.Deref(ro.Status.CurrentStepIndex, 0))
			if c != nil && idx < len(c.Steps) && c.Steps[idx].Pause != nil && c.Steps[idx].Pause.Duration == nil {
				return true
			}
		}
	}
	return false
}
