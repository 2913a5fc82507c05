package rollout

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/strategy"
)

// effects is what one reconcile applies once the engine has decided, for every strategy: the
// engine's decision, and the few things the strategy derives from it (which Service selects
// which pods, each role's metadata). apply applies them in one order.
type effects struct {
	sets map[string]*appsv1.ReplicaSet // the rollout's ReplicaSets by hash
	// status is the engine's status, adopted as a whole (internal/strategy owns every field it
	// sets; updateStatus adds counts, conditions and phase afterwards)
	status   *v1alpha1.RolloutStatus
	events   []strategy.Event
	replicas map[string]int32
	// deadlines are scale-down-deadline annotations to set (zero time: to remove)
	deadlines map[string]time.Time
	analysis  strategy.AnalysisPlan
	// experiment is the canary's Experiment plan (nil: the strategy runs none)
	experiment *strategy.ExperimentPlan
	// abortDetail is what the abort message adds when a failed run or Experiment aborted the
	// update in this reconcile
	abortDetail string
	// services are the Service selectors to set first (nil: none); servicesAfter those to set
	// once the router (if any) carries the new weights
	services, servicesAfter map[string]string
	router                  *routerEffects
	// metadata is the pod metadata of each ReplicaSet's role
	metadata func(hash string) v1alpha1.PodTemplateMetadata
	// noAntiAffinity is the ReplicaSet whose injected anti-affinity goes (blue/green's active)
	noAntiAffinity string
	// keep are the hashes prune never deletes
	keep     []string
	observed func() observed
	requeue  []time.Duration
}

// apply carries out one reconcile's effects, in this order: Services that must move first, the
// traffic router, the other Services, scale-down deadlines (so that a ReplicaSet is never scaled
// down early because a reconcile stopped half way), role metadata (so that the pods a scale-up
// creates carry it already), replicas, then the status, events and AnalysisRuns the engine
// decided, the Experiment, old ReplicaSets, restarts, and the status the controller computes.
func (r *Reconciler) apply(ctx context.Context, s *syncState, e *effects) (reconcile.Result, error) {
	if err := r.applyServices(ctx, s, e.services); err != nil {
		return reconcile.Result{}, err
	}
	if e.router != nil {
		if res, stop, err := r.applyRouter(ctx, s, e.router); stop {
			return res, err
		}
	}
	if err := r.applyServices(ctx, s, e.servicesAfter); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.applyReplicaSets(ctx, s, e); err != nil {
		return reconcile.Result{}, err
	}
	s.ro.Status = *e.status
	for _, ev := range e.events {
		s.event(ev.Warning, ev.Reason, "%s", ev.Message)
	}
	if err := r.syncAnalysis(ctx, s, e.analysis); err != nil {
		return reconcile.Result{}, err
	}
	if e.experiment != nil {
		if err := r.syncExperiments(ctx, s, *e.experiment); err != nil {
			return reconcile.Result{}, err
		}
	}
	if err := r.prune(ctx, s, e.keep...); err != nil {
		return reconcile.Result{}, err
	}
	restartAfter, err := r.restart(ctx, s)
	if err != nil {
		return reconcile.Result{}, err
	}
	s.abortDetail = e.abortDetail
	progress := s.updateStatus(e.observed(), false)
	if err := r.scaleDownWorkload(ctx, s); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: soonest(append(e.requeue, progress, restartAfter)...)}, nil
}

// applyServices points Services at hashes (nil: nothing to do; see syncServices).
func (r *Reconciler) applyServices(ctx context.Context, s *syncState, want map[string]string) error {
	if want == nil {
		return nil
	}
	_, err := r.syncServices(ctx, s.ro, want)
	return err
}

// applyReplicaSets sets deadlines, role metadata and replicas.
func (r *Reconciler) applyReplicaSets(ctx context.Context, s *syncState, e *effects) error {
	for h, d := range e.deadlines {
		if err := r.setScaleDownDeadline(ctx, e.sets[h], d); err != nil {
			return err
		}
	}
	for h, rs := range e.sets {
		if err := r.syncMetadata(ctx, rs, e.metadata(h)); err != nil {
			return err
		}
	}
	if rs := e.sets[e.noAntiAffinity]; rs != nil {
		if err := r.dropAntiAffinity(ctx, rs); err != nil {
			return err
		}
	}
	for h, n := range e.replicas {
		rs := e.sets[h]
		if rs == nil {
			continue
		}
		// a ReplicaSet this reconcile created has no decision of another writer to protect: only
		// the ReplicaSet controller's status write races with the scale
		if _, err := r.scale(ctx, s.ro, rs, n, !(s.created && rs == s.newRS)); err != nil {
			return err
		}
	}
	return nil
}
