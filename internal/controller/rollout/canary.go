package rollout

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/podhash"
	"github.com/vanedev/vane/internal/strategy"
)

// syncCanary runs one canary reconcile: it checks what the rollout names (Services, router
// objects, steps and their plugins, analysis templates, experiment steps) before anything
// changes, finds or creates the new ReplicaSet, makes the step plugin calls the engine needs
// (callStepPlugins), asks the engine (internal/strategy) and applies its plan (apply). With
// trafficRouting the router splits the traffic.
func (r *Reconciler) syncCanary(ctx context.Context, s *syncState) (reconcile.Result, error) {
	rt, steps, res, err := r.prepareCanary(ctx, s)
	if rt == nil {
		return res, err
	}
	in := canaryInput(s, steps)
	if rt.router != nil {
		in.TrafficRouter, in.RouterWeightVerified = true, rt.verified
	}
	sp := r.callStepPlugins(ctx, s, in)
	if sp.invalid {
		return reconcile.Result{}, nil // a spec change is watched
	}
	in.StepPlugins = sp.plugins
	plan, err := strategy.Canary(in)
	if err != nil {
		s.invalid(err.Error())
		return reconcile.Result{}, nil
	}
	e := canaryEffects(s, in.NewHash, plan, rt)
	e.requeue = append(e.requeue, sp.requeue)
	// ping-pong: the promoted canary Service is the stable one from now on, for the router
	// in this reconcile too (it sends all the traffic there, not back to the old pods)
	swapPingPong(s.ro, e.status, plan.Completed)
	s.ro.Status.Canary.StablePingPong = e.status.Canary.StablePingPong
	return r.apply(ctx, s, e)
}

// prepareCanary checks everything the canary names and finds or creates the new ReplicaSet.
// It returns the router (nil router without trafficRouting) and the step hash, or, when the
// reconcile stops here, a nil routing and an empty hash with the result to return.
func (r *Reconciler) prepareCanary(ctx context.Context, s *syncState) (*routing, string, reconcile.Result, error) {
	ro := s.ro
	svcs, err := r.checkServices(ctx, ro)
	if err != nil {
		res, err := s.invalidServices(err)
		return nil, "", res, err
	}
	for name, svc := range svcs {
		if c := ro.Spec.Strategy.Canary; name != c.StableService && name != c.CanaryService {
			continue // a ping-pong Service's stale hash refers to nothing (Argo's isReplicaSetReferenced)
		}
		if h := svc.Spec.Selector[v1alpha1.PodTemplateHashLabel]; h != "" {
			s.serviceHashes = append(s.serviceHashes, h)
		}
	}
	// with trafficRouting, the router objects are read (and checked) before anything changes
	rt := &routing{}
	if ro.Spec.Strategy.Canary.TrafficRouting == nil {
		r.watch.track(client.ObjectKeyFromObject(ro), nil) // no router objects to watch
	} else {
		var res reconcile.Result
		var err error
		if rt, res, err = r.prepareRouting(ctx, s); rt == nil {
			return nil, "", res, err
		}
	}
	if r.checkStepPlugins(ctx, s) {
		return nil, "", reconcile.Result{}, nil // a spec change is watched
	}
	if done, res, err := r.prepareAnalysis(ctx, s); done {
		return nil, "", res, err
	}
	if done, res, err := r.prepareExperiments(ctx, s); done {
		return nil, "", res, err
	}
	steps, err := podhash.Steps(ro.Spec.Strategy.Canary.Steps)
	if err != nil {
		s.invalid("spec.strategy.canary.steps: " + err.Error())
		return nil, "", reconcile.Result{}, nil // before anything changes
	}
	if retry, err := r.ensureNewReplicaSet(ctx, s); err != nil || retry {
		return nil, "", reconcile.Result{Requeue: retry}, err
	}
	return rt, steps, reconcile.Result{}, nil
}

// canaryInput is what the canary engine decides from.
func canaryInput(s *syncState, steps string) strategy.Input {
	ro := s.ro
	in := strategy.Input{Rollout: ro, NewHash: hashOf(s.newRS), StepsHash: steps, FastRollback: s.fastRollback,
		Now: s.now, Runs: engineRuns(s.runs, &ro.Status), Experiment: engineExperiment(s.exps, &ro.Status),
		ServiceHashes: s.serviceHashes}
	for _, rs := range s.sets {
		h := hashOf(rs)
		deadline, _ := scaleDownDeadline(rs) // a malformed deadline counts as none (and is replaced)
		in.Sets = append(in.Sets, strategy.Set{Hash: h, Role: role(h, in.NewHash, ro.Status.StableRS), Pods: strategy.Pods{
			Spec: ptr.Deref(rs.Spec.Replicas, 1), Current: rs.Status.Replicas, Available: rs.Status.AvailableReplicas},
			Revision: revision(rs), ScaleDownDeadline: deadline})
	}
	return in
}

// canaryEffects turns the engine's plan into what apply does: the canary Service selects the
// new pods and the stable Service the stable ones (with a router, the stable Service moves
// first, the canary Service once the router carries the plan's weight).
func canaryEffects(s *syncState, newHash string, plan strategy.Plan, rt *routing) *effects {
	c := s.ro.Spec.Strategy.Canary
	stable := plan.Status.StableRS
	e := &effects{sets: bySet(s.sets), status: &plan.Status, events: plan.Events, replicas: plan.Replicas,
		deadlines: plan.ScaleDownDeadlines, analysis: plan.Analysis, experiment: &plan.Experiment, abortDetail: plan.AbortDetail,
		keep:          []string{newHash, stable},
		servicesAfter: canaryServiceTargets(c, newHash, stable, plan.Status.Abort),
		metadata:      func(h string) v1alpha1.PodTemplateMetadata { return roleMetadata(c, h, newHash, stable) },
		observed:      s.canaryObserved, requeue: []time.Duration{plan.RequeueAfter}}
	if rt.router == nil {
		return e
	}
	e.services = map[string]string{c.StableService: stable, c.CanaryService: ""}
	for name, hash := range pingPongServices(s.ro, newHash) {
		e.services[name] = hash    // the canary one first, as Argo moves it before the router
		e.servicesAfter[name] = "" // named, so neither is released
	}
	e.router = &routerEffects{router: rt.router, newHash: newHash, stableHash: stable, plan: &plan, cap: rt.cap}
	switch {
	case plan.WaitingForRouter && rt.awsPending:
		e.requeue = append(e.requeue, albVerifyRetry)
	case plan.WaitingForRouter:
		e.requeue = append(e.requeue, routerPoll)
	}
	return e
}

// bySet maps the rollout's ReplicaSets by hash.
func bySet(sets []*appsv1.ReplicaSet) map[string]*appsv1.ReplicaSet {
	out := map[string]*appsv1.ReplicaSet{}
	for _, rs := range sets {
		out[hashOf(rs)] = rs
	}
	return out
}

// ensureNewReplicaSet finds or creates the ReplicaSet of the current template and gives it the
// highest revision. It asks for a retry after a hash collision (with a new collisionCount).
func (r *Reconciler) ensureNewReplicaSet(ctx context.Context, s *syncState) (retry bool, err error) {
	ro := s.ro
	if s.sets, err = r.ownedReplicaSets(ctx, ro); err != nil {
		return false, err
	}
	template := s.template
	maxRev := maxRevision(s.sets)
	if s.newRS = findNew(s.sets, template, ro.Status.CollisionCount); s.newRS != nil {
		if revision(s.newRS) < maxRev {
			if err := r.bumpRevision(ctx, s.newRS, maxRev+1); err != nil {
				return false, err
			}
		}
		s.fastRollback = withinRollbackWindow(s.newRS, ro.Spec.RollbackWindow)
		return false, r.recordRevision(ctx, s)
	}
	hash := podhash.Template(template, ro.Status.CollisionCount)
	rs, err := r.createNew(ctx, ro, newTemplate(ro, template, hash), s.selector, hash, maxRev+1)
	if errors.Is(err, errCreatedBefore) {
		// the reconcile that created it announced it; this one carries on with it
		s.newRS = rs
		s.sets = append(s.sets, rs)
		return false, r.recordRevision(ctx, s)
	}
	if errors.Is(err, errHashCollision) {
		ro.Status.CollisionCount = ptr.To(ptr.Deref(ro.Status.CollisionCount, 0) + 1)
		s.event(true, "HashCollision", "ReplicaSet %s-%s exists with another template; collisionCount is now %d",
			ro.Name, hash, *ro.Status.CollisionCount)
		return true, nil
	}
	if err != nil {
		return false, err
	}
	s.newRS, s.created = rs, true
	s.sets = append(s.sets, rs)
	if err := r.recordRevision(ctx, s); err != nil {
		return false, err
	}
	// announced at once, as ScalingReplicaSet is: the ReplicaSet exists even if this reconcile's
	// status write is retried, and a retry creates nothing
	r.Recorder.Eventf(ro, corev1.EventTypeNormal, "NewReplicaSetCreated", "Created ReplicaSet %s (revision %d)", rs.Name, revision(rs))
	return false, nil
}

// withinRollbackWindow reports whether a reused ReplicaSet came back from a revision at most
// window.revisions behind the one it replaced (read from its revision history, so that a
// retried reconcile decides the same).
func withinRollbackWindow(rs *appsv1.ReplicaSet, w *v1alpha1.RollbackWindowSpec) bool {
	hist := rs.Annotations[v1alpha1.RevisionHistoryAnnotation]
	if w == nil || hist == "" {
		return false
	}
	prev, err := strconv.ParseInt(hist[strings.LastIndexByte(hist, ',')+1:], 10, 64)
	if err != nil {
		return false
	}
	return revision(rs)-1-prev <= int64(w.Revisions)
}

// canaryServiceTargets: the canary Service selects the new pods, the stable Service the stable ones.
func canaryServiceTargets(c *v1alpha1.CanaryStrategy, newHash, stableHash string, aborted bool) map[string]string {
	want := map[string]string{}
	if aborted {
		newHash = stableHash // an aborted canary has no pods: its Service serves the stable ones
	}
	if c.CanaryService != "" {
		want[c.CanaryService] = newHash
	}
	if c.StableService != "" {
		want[c.StableService] = stableHash
	}
	return want
}

// soonest is the smallest positive duration (0 when none is).
func soonest(ds ...time.Duration) time.Duration {
	var out time.Duration
	for _, d := range ds {
		if d > 0 && (out == 0 || d < out) {
			out = d
		}
	}
	return out
}

func role(hash, newHash, stableHash string) strategy.Role {
	switch hash {
	case newHash:
		return strategy.RoleNew
	case stableHash:
		return strategy.RoleStable
	}
	return strategy.RoleOther
}

func hashOf(rs *appsv1.ReplicaSet) string { return rs.Labels[v1alpha1.PodTemplateHashLabel] }

// counts sums the pods of all ReplicaSets; updated ones are the new ReplicaSet's.
func counts(sets []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) strategy.Counts {
	var c strategy.Counts
	for _, rs := range sets {
		c.Replicas += rs.Status.Replicas
		c.Ready += rs.Status.ReadyReplicas
		c.Available += rs.Status.AvailableReplicas
	}
	c.Updated = newRS.Status.Replicas
	return c
}

func nowTime(t time.Time) metav1.Time { return metav1.NewTime(t) }
