package rollout

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
	// at them again (besides when the watch sees them change: watch.go).
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
	// awsPending: an ALB router asked AWS, which does not forward the weights yet
	awsPending bool
	// cap is the router's client: what it read and wrote in this reconcile
	cap *capture
}

// prepareRouting builds the rollout's router and asks it whether it applies the weights
// status.canary.weights records, which also reads and checks every router object before
// anything changes. It returns nil routing when the reconcile stops here: a router object is
// missing or unusable (the InvalidSpec condition, looked at again in routerRecheck), or the API
// failed (an error, retried).
func (r *Reconciler) prepareRouting(ctx context.Context, s *syncState) (*routing, reconcile.Result, error) {
	ro := s.ro
	rc := newCapture(r.TrafficClient, r.watch)
	// whatever the router read is watched from now on (also when it failed: a missing object
	// is noticed when it comes); applyRouter makes it exactly what the router reads
	defer func() { r.watch.add(client.ObjectKeyFromObject(ro), rc.reads) }()
	opts := append([]traffic.Option{}, r.trafficOptions...)
	if r.Plugins != nil {
		opts = append(opts, traffic.WithPlugins(r.Plugins))
	}
	router, err := traffic.New(ro, rc, opts...)
	if err != nil {
		res, err := r.routerFailed(s, "trafficRouting", "configuring the router", err)
		return nil, res, err
	}
	w := ro.Status.Canary.Weights
	var weight int32
	var additional []v1alpha1.WeightDestination
	if w != nil {
		weight, additional = w.Canary.Weight, w.Additional
	}
	vctx, albv := r.withALBVerification(ctx)
	ok, err := router.VerifyWeight(vctx, ro, weight, additional)
	if err != nil {
		res, err := r.routerFailed(s, router.Type(), fmt.Sprintf("verifying weight %d", weight), err)
		return nil, res, err
	}
	pending := applyALBReports(s, albv)
	return &routing{router: router, verified: ok && w != nil, awsPending: pending, cap: rc}, reconcile.Result{}, nil
}

// routerFailed reports a router call that failed. A router Error (an object missing, unusable
// or someone else's) becomes the InvalidSpec condition with its text, and the rollout looks
// again in routerRecheck; other errors are returned to be retried. Either way a Warning event
// names the router and the error (for a router Error, when it is new).
func (r *Reconciler) routerFailed(s *syncState, router, call string, err error) (reconcile.Result, error) {
	if apierrors.IsConflict(err) {
		return reconcile.Result{}, err // a router object changed under us: Reconcile retries at once
	}
	if e, ok := traffic.AsError(err); ok {
		if s.invalid(e.Error()) {
			s.event(true, "TrafficRoutingError", "%s router: %s: %v", router, call, err)
		}
		return reconcile.Result{RequeueAfter: routerRecheck}, nil
	}
	// announced at once: a reconcile that returns an error emits none of its buffered events
	r.Recorder.Eventf(s.ro, corev1.EventTypeWarning, "TrafficRoutingError", "%s router: %s: %v", router, call, err)
	return reconcile.Result{}, fmt.Errorf("%s router: %s: %w", router, call, err)
}

// routerEffects are the router calls of one reconcile of a routed canary.
type routerEffects struct {
	router              traffic.Router
	newHash, stableHash string
	plan                *strategy.Plan
	cap                 *capture
}

// applyRouter points the router at the plan's hashes, weights (the canary's and the running
// Experiment's destinations) and managed routes. It reports
// stop when the reconcile ends here (a router object is unusable, or the API failed).
func (r *Reconciler) applyRouter(ctx context.Context, s *syncState, x *routerEffects) (reconcile.Result, bool, error) {
	router, plan := x.router, x.plan
	// what the router read in a reconcile that got through every call (the managed routes
	// too) becomes what is watched; one that stopped early only adds what it read
	done := false
	defer func() {
		if done {
			r.watch.track(client.ObjectKeyFromObject(s.ro), x.cap.reads)
		} else {
			r.watch.add(client.ObjectKeyFromObject(s.ro), x.cap.reads)
		}
	}()
	fail := func(call string, err error) (reconcile.Result, bool, error) {
		res, err := r.routerFailed(s, router.Type(), call, err)
		return res, true, err
	}
	add := plan.AdditionalDestinations
	if err := router.UpdateHash(ctx, s.ro, x.newHash, x.stableHash, add); err != nil {
		return fail("pointing the subsets at the pod-template hashes", err)
	}
	if err := router.SetWeight(ctx, s.ro, plan.RouterWeight, add); err != nil {
		return fail(fmt.Sprintf("setting weight %d", plan.RouterWeight), err)
	}
	if plan.ResetManagedRoutes || plan.RemoveManagedRoutes {
		if err := router.RemoveManagedRoutes(ctx, s.ro); err != nil {
			return fail("removing the managed routes", err)
		}
	}
	for i := range plan.HeaderRoutes {
		if err := router.SetHeaderRoute(ctx, s.ro, &plan.HeaderRoutes[i]); err != nil {
			return fail(fmt.Sprintf("header route %q", plan.HeaderRoutes[i].Name), err)
		}
	}
	for i := range plan.MirrorRoutes {
		if err := router.SetMirrorRoute(ctx, s.ro, &plan.MirrorRoutes[i]); err != nil {
			return fail(fmt.Sprintf("mirror route %q", plan.MirrorRoutes[i].Name), err)
		}
	}
	// what someone changed in the router objects since the last reconcile, and the router
	// just put back, is told
	for _, ch := range r.watch.takeChanges(client.ObjectKeyFromObject(s.ro)) {
		if msg := x.cap.putBack(ch); msg != "" {
			s.event(true, reasonRouterObjectChanged, "%s", msg)
		}
	}
	done = true
	return reconcile.Result{}, false, nil
}

// reasonRouterObjectChanged is the event of a router object changed by someone else, which
// the router put back.
const reasonRouterObjectChanged = "RouterObjectChanged"
