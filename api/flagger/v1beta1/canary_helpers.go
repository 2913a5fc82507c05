package v1beta1

import (
	"time"
)

// Phases of a Canary, as Flagger names them.
const (
	PhaseInitializing     CanaryPhase = "Initializing"
	PhaseInitialized      CanaryPhase = "Initialized"
	PhaseWaiting          CanaryPhase = "Waiting"
	PhaseProgressing      CanaryPhase = "Progressing"
	PhaseWaitingPromotion CanaryPhase = "WaitingPromotion"
	PhasePromoting        CanaryPhase = "Promoting"
	PhaseFinalising       CanaryPhase = "Finalising"
	PhaseSucceeded        CanaryPhase = "Succeeded"
	PhaseFailed           CanaryPhase = "Failed"
	PhaseTerminating      CanaryPhase = "Terminating"
	PhaseTerminated       CanaryPhase = "Terminated"
)

// PromotedCondition is the type of the one condition Flagger keeps on a Canary.
const PromotedCondition = "Promoted"

// Webhook types.
const (
	HookConfirmRollout         = "confirm-rollout"
	HookPreRollout             = "pre-rollout"
	HookRollout                = "rollout"
	HookConfirmTrafficIncrease = "confirm-traffic-increase"
	HookConfirmPromotion       = "confirm-promotion"
	HookPostRollout            = "post-rollout"
	HookRollback               = "rollback"
	HookEvent                  = "event"
)

// KubernetesProvider is the provider that routes nothing: blue/green by Service selectors.
const KubernetesProvider = "kubernetes"

// Flagger's defaults.
const (
	DefaultAnalysisInterval        = time.Minute
	MinAnalysisInterval            = 10 * time.Second
	DefaultProgressDeadlineSeconds = 600
	DefaultReadyThreshold          = 100
	DefaultMetricInterval          = "1m"
)

// ServiceNames returns the names of the apex, primary and canary Services: spec.service.name
// (or the target's name), then that with -primary and -canary.
func (c *Canary) ServiceNames() (apex, primary, canary string) {
	apex = c.Spec.TargetRef.Name
	if c.Spec.Service.Name != "" {
		apex = c.Spec.Service.Name
	}
	return apex, apex + "-primary", apex + "-canary"
}

// PrimaryName is the name of the primary workload: the target's name with -primary.
func (c *Canary) PrimaryName() string { return c.Spec.TargetRef.Name + "-primary" }

// SkipAnalysis reports whether the Canary promotes without analysis: spec.skipAnalysis, or
// no spec.analysis at all.
func (c *Canary) SkipAnalysis() bool {
	return c.Spec.Analysis == nil || (c.Spec.SkipAnalysis != nil && *c.Spec.SkipAnalysis)
}

// Suspended reports spec.suspend.
func (c *Canary) Suspended() bool { return c.Spec.Suspend != nil && *c.Spec.Suspend }

// AnalysisSpec returns spec.analysis, or an empty one.
func (c *Canary) AnalysisSpec() *CanaryAnalysis {
	if c.Spec.Analysis == nil {
		return &CanaryAnalysis{}
	}
	return c.Spec.Analysis
}

// AnalysisInterval returns analysis.interval (default 1m), never less than minimum: Flagger's
// floor is MinAnalysisInterval. An interval that does not parse is the default.
func (c *Canary) AnalysisInterval(minimum time.Duration) time.Duration {
	d := DefaultAnalysisInterval
	if s := c.AnalysisSpec().Interval; s != "" {
		if v, err := time.ParseDuration(s); err == nil {
			d = v
		}
	}
	return max(d, minimum)
}

// Threshold returns analysis.threshold, at least 1.
func (c *Canary) Threshold() int32 { return positive(c.AnalysisSpec().Threshold, 1) }

// Iterations returns analysis.iterations (0 when unset).
func (c *Canary) Iterations() int32 { return deref(c.AnalysisSpec().Iterations) }

// ProgressDeadline returns spec.progressDeadlineSeconds (default 600) as a duration.
func (c *Canary) ProgressDeadline() time.Duration {
	s := int32(DefaultProgressDeadlineSeconds)
	if c.Spec.ProgressDeadlineSeconds != nil {
		s = *c.Spec.ProgressDeadlineSeconds
	}
	return time.Duration(s) * time.Second
}

// PrimaryReadyThreshold returns analysis.primaryReadyThreshold in percent (default 100).
func (c *Canary) PrimaryReadyThreshold() int32 {
	return orDefault(c.AnalysisSpec().PrimaryReadyThreshold, DefaultReadyThreshold)
}

// CanaryReadyThreshold returns analysis.canaryReadyThreshold in percent (default 100).
func (c *Canary) CanaryReadyThreshold() int32 {
	return orDefault(c.AnalysisSpec().CanaryReadyThreshold, DefaultReadyThreshold)
}

// Mirror reports analysis.mirror.
func (c *Canary) Mirror() bool { m := c.AnalysisSpec().Mirror; return m != nil && *m }

// RevertOnDeletion reports spec.revertOnDeletion.
func (c *Canary) RevertOnDeletion() bool {
	return c.Spec.RevertOnDeletion != nil && *c.Spec.RevertOnDeletion
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func orDefault(p *int32, d int32) int32 {
	if p == nil {
		return d
	}
	return *p
}

func positive(p *int32, d int32) int32 {
	if p == nil || *p <= 0 {
		return d
	}
	return *p
}
