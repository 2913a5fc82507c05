package rollout

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/strategy"
	"github.com/vanedev/vane/internal/traffic"
)

// The routers read and write their objects through Reconciler.TrafficClient, which reads from
// the API server (no cache, so no cluster-wide informer on HTTPRoutes or Ingresses):
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes,verbs=get;patch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;create;update;patch
// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices;destinationrules,verbs=get;patch
// +kubebuilder:rbac:groups=split.smi-spec.io,resources=trafficsplits,verbs=get;create;patch

const (
	// routerRecheck is how often a rollout whose router objects are missing or unusable looks
	// at them again (they are not watched).
	routerRecheck = 10 * time.Second
	// routerPoll is how soon a step that waits only for the router to apply its weight looks
	// again.
	routerPoll = time.Second
)

// routing is the traffic router of a rollout with trafficRouting, as one reconcile found it.
type routing struct {
	router traffic.Router
	// verified: the router applies the weights status.canary.weights records
	verified bool
}

// prepareRouting builds the rollout's router and asks it whether it applies the weights
// status.canary.weights records, which also reads and checks every router object before
// anything changes. It returns nil routing when the reconcile stops here: a router object is
// missing or unusable (the InvalidSpec condition, looked at again in routerRecheck), or the API
// failed (an error, retried).
func (r *Reconciler) prepareRouting(ctx context.Context, s *syncState) (*routing, reconcile.Result, error) {
	ro := s.ro
	router, err := traffic.New(ro, r.TrafficClient)
	if err != nil {
		res, err := s.routerFailed("trafficRouting", "configuring the router", err)
		return nil, res, err
	}
	w := ro.Status.Canary.Weights
	var weight int32
	if w != nil {
		weight = w.Canary.Weight
	}
	ok, err := router.VerifyWeight(ctx, ro, weight, nil)
	if err != nil {
		res, err := s.routerFailed(router.Type(), fmt.Sprintf("verifying weight %d", weight), err)
		return nil, res, err
	}
	return &routing{router: router, verified: ok && w != nil}, reconcile.Result{}, nil
}

// routerFailed reports a router call that failed. A router Error (an object missing, unusable
// or someone else's) becomes the InvalidSpec condition with its text, and the rollout looks
// again in routerRecheck; other errors are returned to be retried. Either way a Warning event
// names the router and the error (for a router Error, when it is new).
func (s *syncState) routerFailed(router, call string, err error) (reconcile.Result, error) {
	if apierrors.IsConflict(err) {
		return reconcile.Result{}, err // a router object changed under us: Reconcile retries at once
	}
	if e, ok := traffic.AsError(err); ok {
		if s.invalid(e.Error()) {
			s.event(true, "TrafficRoutingError", "%s router: %s: %v", router, call, err)
		}
		return reconcile.Result{RequeueAfter: routerRecheck}, nil
	}
	s.event(true, "TrafficRoutingError", "%s router: %s: %v", router, call, err)
	return reconcile.Result{}, fmt.Errorf("%s router: %s: %w", router, call, err)
}

// syncRouted applies a traffic-routed canary plan. The order keeps every request on pods that
// can take it:
//
//  1. the stable Service selects plan's stable ReplicaSet (at completion the new one, which the
//     router sends all traffic to at that point);
//  2. the router: subsets to the hashes, the weight, the managed routes, their removal once the
//     update is over;
//  3. the canary Service selects the new pods last (a new canary gets weight 0 first).
//
// Only once every router call succeeded are the scale-down deadlines written, the ReplicaSets
// scaled and the plan's status (steps, status.canary.weights) kept: a failed call leaves the
// step where it was and the recorded weights as they were.
func (r *Reconciler) syncRouted(ctx context.Context, s *syncState, rt *routing, newHash string, plan strategy.Plan,
	bySet map[string]*appsv1.ReplicaSet) (reconcile.Result, error) {
	ro := s.ro
	c := ro.Spec.Strategy.Canary
	router := rt.router
	stableHash := plan.Status.StableRS

	if _, err := r.syncServices(ctx, ro, map[string]string{c.StableService: stableHash, c.CanaryService: ""}); err != nil {
		return reconcile.Result{}, err
	}
	if err := router.UpdateHash(ctx, ro, newHash, stableHash, nil); err != nil {
		return s.routerFailed(router.Type(), "pointing the subsets at the pod-template hashes", err)
	}
	if err := router.SetWeight(ctx, ro, plan.RouterWeight, nil); err != nil {
		return s.routerFailed(router.Type(), fmt.Sprintf("setting weight %d", plan.RouterWeight), err)
	}
	if restarted := ro.Status.CurrentPodHash != plan.Status.CurrentPodHash || ro.Status.CurrentStepHash != plan.Status.CurrentStepHash; restarted &&
		ro.Status.CurrentPodHash != "" && !plan.RemoveManagedRoutes {
		// a canary superseded by a newer one (or steps that changed) starts again from the
		// first step: the routes earlier steps set for the previous canary go
		if err := router.RemoveManagedRoutes(ctx, ro); err != nil {
			return s.routerFailed(router.Type(), "removing the managed routes of the previous canary", err)
		}
	}
	for i := range plan.HeaderRoutes {
		hr := &plan.HeaderRoutes[i]
		if err := router.SetHeaderRoute(ctx, ro, hr); err != nil {
			return s.routerFailed(router.Type(), fmt.Sprintf("header route %q", hr.Name), err)
		}
	}
	for i := range plan.MirrorRoutes {
		mr := &plan.MirrorRoutes[i]
		if err := router.SetMirrorRoute(ctx, ro, mr); err != nil {
			return s.routerFailed(router.Type(), fmt.Sprintf("mirror route %q", mr.Name), err)
		}
	}
	if plan.RemoveManagedRoutes {
		if err := router.RemoveManagedRoutes(ctx, ro); err != nil {
			return s.routerFailed(router.Type(), "removing the managed routes", err)
		}
	}
	if _, err := r.syncServices(ctx, ro, canaryServiceTargets(c, newHash, stableHash, plan.Status.Abort)); err != nil {
		return reconcile.Result{}, err
	}

	// deadlines before scaling: a ReplicaSet is never scaled down early because a reconcile
	// stopped half way
	for h, d := range plan.ScaleDownDeadlines {
		if err := r.setScaleDownDeadline(ctx, bySet[h], d); err != nil {
			return reconcile.Result{}, err
		}
	}
	// role metadata before scaling: the pods a scale-up creates then carry it already
	for h, rs := range bySet {
		if err := r.syncMetadata(ctx, rs, roleMetadata(c, h, newHash, stableHash)); err != nil {
			return reconcile.Result{}, err
		}
	}
	scaled := false
	for h, n := range plan.Replicas {
		rs := bySet[h]
		if rs == nil {
			continue
		}
		changed, err := r.scale(ctx, ro, rs, n)
		if err != nil {
			return reconcile.Result{}, err
		}
		scaled = scaled || changed
	}
	for _, e := range plan.Events {
		s.event(e.Warning, e.Reason, "%s", e.Message)
	}
	var before int32
	if w := ro.Status.Canary.Weights; w != nil {
		before = w.Canary.Weight
	}
	weightChanged := before != plan.RouterWeight
	switch {
	case ro.Status.Canary.Weights == nil:
		s.event(false, "TrafficWeightUpdated", "Traffic weight updated to %d", plan.RouterWeight)
	case weightChanged:
		s.event(false, "TrafficWeightUpdated", "Traffic weight updated from %d to %d", before, plan.RouterWeight)
	}
	adoptEngineStatus(&ro.Status, &plan.Status)
	ro.Status.BlueGreen = v1alpha1.BlueGreenStatus{}
	ro.Status.Canary.Weights = plan.Weights
	if err := r.syncAnalysis(ctx, s, plan.Analysis); err != nil {
		return reconcile.Result{}, err
	}

	if err := r.prune(ctx, ro, s.sets, newHash, stableHash); err != nil {
		return reconcile.Result{}, err
	}
	restartAfter, err := r.restart(ctx, s)
	if err != nil {
		return reconcile.Result{}, err
	}
	requeue := s.updateStatus(s.canaryObserved(), scaled || weightChanged)
	if err := r.scaleDownWorkload(ctx, s); err != nil {
		return reconcile.Result{}, err
	}
	var poll time.Duration
	if plan.WaitingForRouter {
		poll = routerPoll
	}
	return reconcile.Result{RequeueAfter: soonest(requeue, plan.RequeueAfter, restartAfter, poll)}, nil
}

// waitingForDeadline reports whether rs is an old ReplicaSet that keeps its pods until its
// scale-down deadline (after a traffic-routed promotion): its pods are not "pending
// termination", the router sends them nothing.
func waitingForDeadline(rs *appsv1.ReplicaSet, newHash, stableHash string, now time.Time) bool {
	h := hashOf(rs)
	if h == newHash || h == stableHash {
		return false
	}
	d, err := scaleDownDeadline(rs)
	return err == nil && !d.IsZero() && d.After(now)
}
