package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/strategy"
)

// syncBlueGreen runs one blue/green reconcile: ReplicaSets, the blue/green engine, pod metadata,
// scale-down deadlines, the active and preview Services, scaling, status.
//
// The Services are the record of what serves traffic: the engine reads what the active Service
// selects, so a controller stopped between switching it and writing the status finds the switch
// done when it starts again. Scale-down deadlines are written before the Services are switched,
// and the engine's status is kept only once every change is made, so that an old ReplicaSet is
// never scaled down early because a reconcile stopped half way.
func (r *Reconciler) syncBlueGreen(ctx context.Context, s *syncState) (reconcile.Result, error) {
	ro := s.ro
	bg := ro.Spec.Strategy.BlueGreen
	svcs, err := r.checkServices(ctx, ro)
	if err != nil {
		var inv errInvalid
		if errors.As(err, &inv) {
			s.invalid(inv.Error())
			// a Service change is watched; a rollout that managed the Service going away is not
			return reconcile.Result{RequeueAfter: serviceRecheck}, nil
		}
		return reconcile.Result{}, err
	}
	if done, res, err := r.prepareAnalysis(ctx, s); done {
		return res, err
	}
	if retry, err := r.ensureNewReplicaSet(ctx, s); err != nil || retry {
		return reconcile.Result{Requeue: retry}, err
	}
	newHash := hashOf(s.newRS)
	in := strategy.BlueGreenInput{Rollout: ro, NewHash: newHash, FastRollback: s.fastRollback, Now: s.now,
		Runs: s.runs.engineRuns(&ro.Status)}
	bySet := map[string]*appsv1.ReplicaSet{}
	for _, rs := range s.sets {
		h := hashOf(rs)
		bySet[h] = rs
		pods := strategy.Pods{Spec: ptr.Deref(rs.Spec.Replicas, 1), Current: rs.Status.Replicas, Available: rs.Status.AvailableReplicas}
		if rs.Status.ObservedGeneration < rs.Generation {
			pods.Available = 0 // counts from before its last change: not known to be available
		}
		deadline, _ := scaleDownDeadline(rs)
		in.Sets = append(in.Sets, strategy.BlueGreenSet{Hash: h, Revision: revision(rs), Pods: pods, ScaleDownDeadline: deadline})
	}
	in.ActiveHash = selectedHash(svcs[bg.ActiveService], bySet)
	if bg.PreviewService != "" {
		in.PreviewHash = selectedHash(svcs[bg.PreviewService], bySet)
	}
	plan, err := strategy.BlueGreen(in)
	if err != nil {
		s.invalid(err.Error())
		return reconcile.Result{}, nil
	}
	active, preview := plan.Status.BlueGreen.ActiveSelector, plan.Status.BlueGreen.PreviewSelector

	// role metadata before scaling: the pods a scale-up creates then carry it already
	for h, rs := range bySet {
		if err := r.syncMetadata(ctx, rs, blueGreenMetadata(bg, h, newHash, active)); err != nil {
			return reconcile.Result{}, err
		}
	}
	if rs := bySet[active]; rs != nil {
		if err := r.dropAntiAffinity(ctx, rs); err != nil {
			return reconcile.Result{}, err
		}
	}
	for h, d := range plan.ScaleDownDeadlines {
		if err := r.setScaleDownDeadline(ctx, bySet[h], d); err != nil {
			return reconcile.Result{}, err
		}
	}
	want := map[string]string{bg.ActiveService: active}
	if bg.PreviewService != "" {
		want[bg.PreviewService] = preview
	}
	if _, err := r.syncServices(ctx, ro, want); err != nil {
		return reconcile.Result{}, err
	}
	scaled := false
	for h, n := range plan.Replicas {
		changed, err := r.scale(ctx, ro, bySet[h], n)
		if err != nil {
			return reconcile.Result{}, err
		}
		scaled = scaled || changed
	}
	for _, e := range plan.Events {
		s.event(e.Warning, e.Reason, "%s", e.Message)
	}
	adoptEngineStatus(&ro.Status, &plan.Status)
	ro.Status.BlueGreen.ActiveSelector = active
	ro.Status.BlueGreen.PreviewSelector = preview
	ro.Status.BlueGreen.ScaleUpPreviewCheckPoint = plan.Status.BlueGreen.ScaleUpPreviewCheckPoint
	ro.Status.Canary = v1alpha1.CanaryStatus{}
	if err := r.syncAnalysis(ctx, s, plan.Analysis); err != nil {
		return reconcile.Result{}, err
	}

	if err := r.prune(ctx, ro, s.sets, newHash, ro.Status.StableRS, active); err != nil {
		return reconcile.Result{}, err
	}
	restartAfter, err := r.restart(ctx, s)
	if err != nil {
		return reconcile.Result{}, err
	}
	requeue := s.updateStatus(s.blueGreenObserved(), scaled)
	if err := r.scaleDownWorkload(ctx, s); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: soonest(requeue, plan.RequeueAfter, restartAfter)}, nil
}

// selectedHash is the pod template hash svc selects when it is one of the rollout's
// ReplicaSets, else "".
func selectedHash(svc *corev1.Service, sets map[string]*appsv1.ReplicaSet) string {
	if svc == nil {
		return ""
	}
	h := svc.Spec.Selector[v1alpha1.PodTemplateHashLabel]
	if sets[h] == nil {
		return ""
	}
	return h
}

// blueGreenMetadata is the metadata a ReplicaSet's pods carry for their role: activeMetadata
// for the ReplicaSet the active Service selects, previewMetadata for the new one before it is
// active, none for the others.
func blueGreenMetadata(bg *v1alpha1.BlueGreenStrategy, hash, newHash, activeHash string) v1alpha1.PodTemplateMetadata {
	var m *v1alpha1.PodTemplateMetadata
	switch hash {
	case activeHash:
		m = bg.ActiveMetadata
	case newHash:
		m = bg.PreviewMetadata
	}
	if m == nil {
		return v1alpha1.PodTemplateMetadata{}
	}
	return *m
}

// blueGreenObserved counts pods as Argo does for blue/green: ready and available pods are the
// active ReplicaSet's (every ReplicaSet's while none is active), updated ones the new
// ReplicaSet's, and the scale subresource reports the active ReplicaSet (Argo's
// syncRolloutStatusBlueGreen).
func (s *syncState) blueGreenObserved() observed {
	st := &s.ro.Status
	var c strategy.Counts
	var activeRS *appsv1.ReplicaSet
	for _, rs := range s.sets {
		c.Replicas += rs.Status.Replicas
		c.Ready += rs.Status.ReadyReplicas
		c.Available += rs.Status.AvailableReplicas
		if hashOf(rs) == st.BlueGreen.ActiveSelector {
			activeRS = rs
		}
	}
	c.Updated = s.newRS.Status.Replicas
	o := observed{hpaReplicas: c.Replicas}
	sel := s.selector
	if activeRS != nil {
		c.Ready, c.Available = activeRS.Status.ReadyReplicas, activeRS.Status.AvailableReplicas
		o.hpaReplicas = activeRS.Status.Replicas
		sel = activeRS.Spec.Selector
	}
	if ls, err := metav1.LabelSelectorAsSelector(sel); err == nil {
		o.selector = ls.String()
	}
	o.counts = c
	return o
}

// scaleDownDeadline reads a ReplicaSet's scale-down-deadline annotation (zero when absent).
func scaleDownDeadline(rs *appsv1.ReplicaSet) (time.Time, error) {
	v := rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotation]
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("ReplicaSet %s: annotation %s: %w", rs.Name, v1alpha1.ScaleDownDeadlineAnnotation, err)
	}
	return t, nil
}

// setScaleDownDeadline writes (or, for the zero time, removes) a ReplicaSet's
// scale-down-deadline annotation, in RFC3339.
func (r *Reconciler) setScaleDownDeadline(ctx context.Context, rs *appsv1.ReplicaSet, d time.Time) error {
	if rs == nil {
		return nil
	}
	want := ""
	if !d.IsZero() {
		want = d.UTC().Format(time.RFC3339)
	}
	if rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotation] == want {
		return nil
	}
	patch := client.MergeFromWithOptions(rs.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if want == "" {
		delete(rs.Annotations, v1alpha1.ScaleDownDeadlineAnnotation)
	} else {
		if rs.Annotations == nil {
			rs.Annotations = map[string]string{}
		}
		rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotation] = want
	}
	if err := r.Client.Patch(ctx, rs, patch); err != nil {
		return fmt.Errorf("updating the scale-down deadline of ReplicaSet %s: %w", rs.Name, err)
	}
	return nil
}

// dropAntiAffinity takes the injected anti-affinity off the pod template of a ReplicaSet that
// serves traffic: its pods no longer need to avoid anyone (running pods keep theirs).
func (r *Reconciler) dropAntiAffinity(ctx context.Context, rs *appsv1.ReplicaSet) error {
	if !strategy.HasInjectedAntiAffinity(&rs.Spec.Template) {
		return nil
	}
	patch := client.MergeFromWithOptions(rs.DeepCopy(), client.MergeFromWithOptimisticLock{})
	strategy.RemoveInjectedAntiAffinity(&rs.Spec.Template)
	if err := r.Client.Patch(ctx, rs, patch); err != nil {
		return fmt.Errorf("removing the anti-affinity of ReplicaSet %s: %w", rs.Name, err)
	}
	return nil
}

// newTemplate is the pod template a new ReplicaSet is created with: the rollout's, plus the
// blue/green anti-affinity against the pods serving traffic when spec asks for it.
func newTemplate(ro *v1alpha1.Rollout, template *corev1.PodTemplateSpec, hash string) *corev1.PodTemplateSpec {
	bg := ro.Spec.Strategy.BlueGreen
	if bg == nil || bg.AntiAffinity == nil {
		return template
	}
	avoid := ro.Status.BlueGreen.ActiveSelector
	if avoid == "" {
		avoid = ro.Status.StableRS
	}
	if avoid == hash {
		return template
	}
	return strategy.InjectAntiAffinity(template, bg.AntiAffinity, avoid)
}
