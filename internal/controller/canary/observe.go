package canary

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	engine "github.com/vanedev/vane/internal/strategy/flagger"
)

// workload is what a tick knows of the Canary's target and primary.
type workload struct {
	target  *appsv1.Deployment
	primary *appsv1.Deployment // nil until created
	// label is the selector label (app, name or app.kubernetes.io/name) and value its value on
	// the target; the primary's is value-primary
	label, value string
	// ports are the extra Service ports port discovery found
	ports map[string]int32
	// configs are the ConfigMaps and Secrets the target uses, tracked
	configs map[string]trackedConfig
}

func (w *workload) primaryValue() string { return w.value + "-primary" }

// readWorkload reads the target Deployment, its selector label, ports and configs, and the
// primary. Errors are Flagger's messages, for a Warning event.
func (r *Reconciler) readWorkload(ctx context.Context, cd *flaggerv1.Canary) (*workload, error) {
	if k := cd.Spec.TargetRef.Kind; k != "Deployment" {
		return nil, fmt.Errorf("spec.targetRef.kind %q is not supported by Vane: only Deployment targets are", k)
	}
	w := &workload{target: &appsv1.Deployment{}}
	name := cd.Spec.TargetRef.Name
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: cd.Namespace, Name: name}, w.target); err != nil {
		return nil, fmt.Errorf("deployment %s.%s get query error: %w", name, cd.Namespace, err)
	}
	var err error
	if w.label, w.value, err = selectorLabel(w.target); err != nil {
		return nil, fmt.Errorf("getSelectorLabel failed: %w", err)
	}
	if cd.Spec.Service.PortDiscovery != nil && *cd.Spec.Service.PortDiscovery {
		w.ports = discoveredPorts(cd, w.target.Spec.Template.Spec.Containers)
	}
	if w.configs, err = r.trackConfigs(ctx, cd.Namespace, &w.target.Spec.Template.Spec); err != nil {
		return nil, fmt.Errorf("GetTargetConfigs failed: %w", err)
	}
	primary := &appsv1.Deployment{}
	err = r.Client.Get(ctx, client.ObjectKey{Namespace: cd.Namespace, Name: cd.PrimaryName()}, primary)
	switch {
	case err == nil:
		w.primary = primary
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("deployment %s.%s get query error: %w", cd.PrimaryName(), cd.Namespace, err)
	}
	return w, nil
}

// readiness is Flagger's test of a Deployment's rollout: every replica updated, no old one
// left, and at least threshold percent of the updated ones available. Once the Deployment has
// lacked minimum availability for longer than the deadline, it is no longer retriable.
func readiness(dep *appsv1.Deployment, deadline time.Duration, threshold int32, now time.Time) engine.Readiness {
	if dep.Generation > dep.Status.ObservedGeneration {
		return engine.Readiness{Retriable: true,
			Message: "waiting for rollout to finish: observed deployment generation less than desired generation"}
	}
	retriable := true
	progress := condition(dep, appsv1.DeploymentProgressing)
	if progress != nil {
		if a := condition(dep, appsv1.DeploymentAvailable); a != nil && a.Status == "False" && a.Reason == "MinimumReplicasUnavailable" {
			retriable = !a.LastUpdateTime.Add(deadline).Before(now)
		}
	}
	st := dep.Status
	enough := int32(float32(st.UpdatedReplicas) * float32(threshold) / 100)
	switch {
	case progress != nil && progress.Reason == "ProgressDeadlineExceeded":
		return engine.Readiness{Message: fmt.Sprintf("deployment %q exceeded its progress deadline", dep.Name)}
	case dep.Spec.Replicas != nil && st.UpdatedReplicas < *dep.Spec.Replicas:
		return engine.Readiness{Retriable: retriable, Message: fmt.Sprintf(
			"waiting for rollout to finish: %d out of %d new replicas have been updated", st.UpdatedReplicas, *dep.Spec.Replicas)}
	case st.Replicas > st.UpdatedReplicas:
		return engine.Readiness{Retriable: retriable, Message: fmt.Sprintf(
			"waiting for rollout to finish: %d old replicas are pending termination", st.Replicas-st.UpdatedReplicas)}
	case st.AvailableReplicas < enough:
		return engine.Readiness{Retriable: retriable, Message: fmt.Sprintf(
			"waiting for rollout to finish: %d of %d (readyThreshold %d%%) updated replicas are available",
			st.AvailableReplicas, enough, threshold)}
	}
	return engine.Readiness{Ready: true, Retriable: true}
}

func condition(dep *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range dep.Status.Conditions {
		if dep.Status.Conditions[i].Type == t {
			return &dep.Status.Conditions[i]
		}
	}
	return nil
}

// observe gathers what the engine decides on.
func (r *Reconciler) observe(cd *flaggerv1.Canary, w *workload, routes engine.Routes) engine.Observed {
	now := r.Clock.Now()
	obs := engine.Observed{Now: now, Provider: r.provider(cd), TargetHash: engine.Hash(w.target.Spec.Template),
		Configs: checksums(w.configs), Routes: routes, TargetPromoted: targetPromoted(w)}
	deadline := cd.ProgressDeadline()
	if w.primary == nil {
		obs.Primary = engine.Readiness{Retriable: true, Message: fmt.Sprintf("deployment %s.%s get query error: not found", cd.PrimaryName(), cd.Namespace)}
	} else {
		obs.Primary = readiness(w.primary, deadline, cd.PrimaryReadyThreshold(), now)
		if !obs.Primary.Ready {
			obs.Primary.Message = fmt.Sprintf("%s.%s not ready: %s", cd.PrimaryName(), cd.Namespace, obs.Primary.Message)
		}
	}
	obs.Canary = readiness(w.target, deadline, cd.CanaryReadyThreshold(), now)
	if !obs.Canary.Ready {
		obs.Canary.Message = fmt.Sprintf("canary deployment %s.%s not ready: %s", w.target.Name, cd.Namespace, obs.Canary.Message)
	}
	return obs
}

// provider is spec.provider, or the controller's default mesh provider.
func (r *Reconciler) provider(cd *flaggerv1.Canary) string {
	if cd.Spec.Provider != "" {
		return cd.Spec.Provider
	}
	return r.MeshProvider
}

// targetPromoted reports whether the primary runs the target's pod template, as promotion
// writes it (the flagger-id annotation aside).
func targetPromoted(w *workload) bool {
	if w.primary == nil {
		return false
	}
	want, err := primaryTemplate(w)
	if err != nil {
		return false
	}
	have := w.primary.Spec.Template.DeepCopy()
	delete(want.Annotations, idAnnotation)
	delete(have.Annotations, idAnnotation)
	if len(have.Annotations) == 0 {
		have.Annotations = nil
	}
	if len(want.Annotations) == 0 {
		want.Annotations = nil
	}
	return equality.Semantic.DeepEqual(want, *have)
}
