package rollout

import (
	"context"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/alb"
)

// ALBOptions are the settings of the ALB router the controller passes on (Argo's
// --aws-verify-target-group, --alb-tag-key-resource-id).
type ALBOptions struct {
	// Verifier checks the weights on the AWS target groups (nil: the Ingress annotations
	// only, and status.alb stays empty).
	Verifier alb.Verifier
	// ResourceIDTag is the target groups' resource-id tag (alb.DefaultResourceIDTag if empty).
	ResourceIDTag string
}

// WithALB sets the ALB router's settings.
func WithALB(o ALBOptions) Option { return func(r *Reconciler) { r.ALB = o } }

// albVerifyRetry is how soon a step whose weight AWS does not forward yet looks again
// (Argo's default ROLLOUT_VERIFY_RETRY_INTERVAL).
const albVerifyRetry = 10 * time.Second

// withALBVerification returns ctx carrying the target group verification for the ALB
// routers of this reconcile, and the verification, to read their reports from.
func (r *Reconciler) withALBVerification(ctx context.Context) (context.Context, *alb.Verification) {
	v := &alb.Verification{Verifier: r.ALB.Verifier, ResourceIDTag: r.ALB.ResourceIDTag}
	return alb.NewContext(ctx, v), v
}

// applyALBReports records what the ALB routers learned from AWS: status.alb and
// status.albs (cleared without a verifier, as Argo does) and their events. It reports
// whether AWS was asked and does not forward the weights yet.
func applyALBReports(s *syncState, v *alb.Verification) (awsPending bool) {
	for _, rep := range v.Reports() {
		s.ro.Status.ALB, s.ro.Status.ALBs = rep.ALB, rep.ALBs
		for _, e := range rep.Events {
			s.event(e.Warning, e.Reason, "%s", e.Message)
		}
		if rep.Checked && !rep.Verified {
			awsPending = true
		}
	}
	return awsPending
}

// pingPongServices are the Services a ping-pong canary moves (nil without pingPong): the
// canary one (pong while ping is stable, and the other way round) selects the new pods
// while the update runs, as Argo's reconcilePingAndPongService does; the stable one is left
// as it is (the empty hash), so that it keeps its pods and is not released.
func pingPongServices(ro *v1alpha1.Rollout, newHash string) map[string]string {
	c := ro.Spec.Strategy.Canary
	if c == nil || c.PingPong == nil {
		return nil
	}
	stable, canary := c.PingPong.PongService, c.PingPong.PingService
	if ro.Status.Canary.StablePingPong == v1alpha1.PPPing {
		stable, canary = canary, stable
	}
	out := map[string]string{stable: "", canary: ""}
	if ro.Status.StableRS != ro.Status.CurrentPodHash || ro.Status.StableRS == "" {
		out[canary] = newHash // not fully promoted: the canary Service follows the new pods
	}
	return out
}

// swapPingPong flips status.canary.stablePingPong when the plan promoted the new pods: the
// Service that was the canary is now the stable one (the first promotion makes ping stable).
func swapPingPong(ro *v1alpha1.Rollout, st *v1alpha1.RolloutStatus, promoted bool) {
	if ro.Spec.Strategy.Canary == nil || ro.Spec.Strategy.Canary.PingPong == nil || !promoted {
		return
	}
	if ro.Status.Canary.StablePingPong == v1alpha1.PPPing {
		st.Canary.StablePingPong = v1alpha1.PPPong
	} else {
		st.Canary.StablePingPong = v1alpha1.PPPing
	}
}
