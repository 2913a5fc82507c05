package rollout

import (
	"context"
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
	svcs, err := r.checkServices(ctx, s.ro)
	if err != nil {
		return s.invalidServices(err)
	}
	if done, res, err := r.prepareAnalysis(ctx, s); done {
		return res, err
	}
	if retry, err := r.ensureNewReplicaSet(ctx, s); err != nil || retry {
		return reconcile.Result{Requeue: retry}, err
	}
	plan, err := strategy.BlueGreen(blueGreenInput(s, svcs))
	if err != nil {
		s.invalid(err.Error())
		return reconcile.Result{}, nil
	}
	return r.apply(ctx, s, blueGreenEffects(s, plan))
}

// blueGreenInput is what the blue/green engine decides from: the ReplicaSets and which one each
// Service selects now.
func blueGreenInput(s *syncState, svcs map[string]*corev1.Service) strategy.BlueGreenInput {
	ro, bg := s.ro, s.ro.Spec.Strategy.BlueGreen
	in := strategy.BlueGreenInput{Rollout: ro, NewHash: hashOf(s.newRS), FastRollback: s.fastRollback, Now: s.now,
		Runs: engineRuns(s.runs, &ro.Status)}
	for _, rs := range s.sets {
		h := hashOf(rs)
		pods := strategy.Pods{Spec: ptr.Deref(rs.Spec.Replicas, 1), Current: rs.Status.Replicas, Available: rs.Status.AvailableReplicas}
		if rs.Status.ObservedGeneration < rs.Generation {
			pods.Available = 0 // counts from before its last change: not known to be available
		}
		deadline, _ := scaleDownDeadline(rs)
		in.Sets = append(in.Sets, strategy.BlueGreenSet{Hash: h, Revision: revision(rs), Pods: pods, ScaleDownDeadline: deadline})
	}
	sets := bySet(s.sets)
	in.ActiveHash = selectedHash(svcs[bg.ActiveService], sets)
	if bg.PreviewService != "" {
		in.PreviewHash = selectedHash(svcs[bg.PreviewService], sets)
	}
	return in
}

// blueGreenEffects turns the engine's plan into what apply does: the active and preview
// Services select what the plan says before anything scales, the active ReplicaSet loses the
// injected anti-affinity.
func blueGreenEffects(s *syncState, plan strategy.BlueGreenPlan) *effects {
	bg, newHash := s.ro.Spec.Strategy.BlueGreen, hashOf(s.newRS)
	active, preview := plan.Status.BlueGreen.ActiveSelector, plan.Status.BlueGreen.PreviewSelector
	services := map[string]string{bg.ActiveService: active}
	if bg.PreviewService != "" {
		services[bg.PreviewService] = preview
	}
	return &effects{sets: bySet(s.sets), status: &plan.Status, events: plan.Events, replicas: plan.Replicas,
		deadlines: plan.ScaleDownDeadlines, analysis: plan.Analysis, services: services, noAntiAffinity: active,
		metadata: func(h string) v1alpha1.PodTemplateMetadata { return blueGreenMetadata(bg, h, newHash, active) },
		keep:     []string{newHash, plan.Status.StableRS, active}, observed: s.blueGreenObserved,
		requeue: []time.Duration{plan.RequeueAfter}}
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
	v := v1alpha1.ScaleDownDeadlineOf(rs.Annotations)
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
	_, legacy := rs.Annotations[v1alpha1.LegacyScaleDownDeadlineAnnotation]
	if rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotation] == want && !legacy {
		return nil
	}
	patch := client.MergeFromWithOptions(rs.DeepCopy(), client.MergeFromWithOptimisticLock{})
	delete(rs.Annotations, v1alpha1.LegacyScaleDownDeadlineAnnotation)
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
// strategy's anti-affinity against the pods serving traffic when spec asks for it (the
// blue/green active ReplicaSet, else the stable one; Argo's GenerateReplicaSetAffinity).
func newTemplate(ro *v1alpha1.Rollout, template *corev1.PodTemplateSpec, hash string) *corev1.PodTemplateSpec {
	var anti *v1alpha1.AntiAffinity
	avoid := ro.Status.StableRS
	switch st := ro.Spec.Strategy; {
	case st.BlueGreen != nil:
		anti = st.BlueGreen.AntiAffinity
		if a := ro.Status.BlueGreen.ActiveSelector; a != "" {
			avoid = a
		}
	case st.Canary != nil:
		anti = st.Canary.AntiAffinity
	}
	if anti == nil || avoid == hash {
		return template
	}
	return strategy.InjectAntiAffinity(template, anti, avoid, ro.Namespace)
}
