package v1alpha1

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// argoCase is a Rollout Argo Rollouts also rejects: argo is the first error Argo's
// validation.ValidateRollout (v1.10.1) returns for it, the text of its InvalidSpec condition
// after `The Rollout "<name>" is invalid: `; vane is what Vane adds after Argo's text, if
// anything.
type argoCase struct {
	rollout    *Rollout
	argo, vane string
}

func mutated(base func() *Rollout, mutate func(*Rollout)) *Rollout {
	r := base()
	mutate(r)
	return r
}

func mutatedCanary(base func() *Rollout, mutate func(*CanaryStrategy)) *Rollout {
	return mutated(base, func(r *Rollout) { mutate(r.Spec.Strategy.Canary) })
}

func mutatedBlueGreen(mutate func(*BlueGreenStrategy)) *Rollout {
	return mutated(blueGreenRollout, func(r *Rollout) { mutate(r.Spec.Strategy.BlueGreen) })
}

// argoCases: each expected text is Argo's own output for the same Rollout (its JSON run through
// Argo's validation.ValidateRollout).
func argoCases() map[string]argoCase {
	return map[string]argoCase{
		"no strategy": {argo: `spec.strategy.strategy: Required value: Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'`,
			rollout: mutated(canaryRollout, func(r *Rollout) { r.Spec.Strategy = RolloutStrategy{} })},
		"two strategies": {argo: `spec.strategy.strategy: Invalid value: "blueGreen: true canary: true": Multiple Strategies can not be listed`,
			rollout: mutated(canaryRollout, func(r *Rollout) {
				r.Spec.Strategy.BlueGreen = &BlueGreenStrategy{ActiveService: "a"}
			})},
		"no selector": {argo: `spec.selector: Required value: Rollout has missing field '.spec.selector'`,
			rollout: mutated(canaryRollout, func(r *Rollout) { r.Spec.Selector = nil })},
		"empty selector": {argo: `spec.selector: Invalid value: {}: empty selector is invalid for deployment`,
			rollout: mutated(canaryRollout, func(r *Rollout) { r.Spec.Selector = &metav1.LabelSelector{} })},
		"selector does not match the template": {argo: "spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`",
			rollout: mutated(canaryRollout, func(r *Rollout) {
				r.Spec.Template.Labels = map[string]string{"app": "other"}
			})},
		"template and workloadRef": {argo: `spec.template: Internal error: template must be empty for workload reference rollout`,
			rollout: mutated(canaryRollout, func(r *Rollout) {
				r.Spec.WorkloadRef = &ObjectRef{Kind: "Deployment", Name: "web"}
			})},
		"template without containers": {argo: `spec.template.spec.containers: Required value`,
			rollout: mutated(canaryRollout, func(r *Rollout) { r.Spec.Template.Spec.Containers = nil })},
		"duplicate container names": {argo: `spec.template.spec.containers[1].name: Duplicate value: "app"`,
			rollout: mutated(canaryRollout, func(r *Rollout) {
				r.Spec.Template.Spec.Containers = append(r.Spec.Template.Spec.Containers, r.Spec.Template.Spec.Containers[0])
			})},
		"restartPolicy Never": {argo: `spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"`,
			rollout: mutated(canaryRollout, func(r *Rollout) { r.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever })},
		"negative replicas": {argo: `spec.replicas: Invalid value: -1: must be greater than or equal to 0`,
			rollout: mutated(canaryRollout, func(r *Rollout) { r.Spec.Replicas = ptr(int32(-1)) })},
		"progressDeadlineSeconds not above minReadySeconds": {argo: `spec.progressDeadlineSeconds: Invalid value: 30: must be greater than minReadySeconds`,
			rollout: mutated(canaryRollout, func(r *Rollout) {
				r.Spec.MinReadySeconds = 30
				r.Spec.ProgressDeadlineSeconds = ptr(int32(30))
			})},
		"minReadySeconds above default deadline": {argo: `spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds`,
			rollout: mutated(canaryRollout, func(r *Rollout) { r.Spec.MinReadySeconds = 900 })},
		"negative revisionHistoryLimit": {argo: `spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0`,
			rollout: mutated(canaryRollout, func(r *Rollout) { r.Spec.RevisionHistoryLimit = ptr(int32(-1)) })},

		"setWeight above 100": {argo: `spec.strategy.steps[0].setWeight: Invalid value: 101: SetWeight needs to be between 0 and 100`,
			rollout: mutatedCanary(canaryRollout, func(c *CanaryStrategy) { c.Steps[0].SetWeight = ptr(int32(101)) })},
		"negative setWeight": {argo: `spec.strategy.steps[2].setWeight: Invalid value: -5: SetWeight needs to be between 0 and 100`,
			rollout: mutatedCanary(canaryRollout, func(c *CanaryStrategy) { c.Steps[2].SetWeight = ptr(int32(-5)) })},
		"step without action": {argo: `spec.strategy.steps[1]: Invalid value: "step.Experiment: true step.Pause: true step.SetWeight: true step.Analysis: true step.SetCanaryScale: true step.SetHeaderRoute: true step.SetMirrorRoute: true step.Plugin: true": Step must have one of the following set: experiment, setWeight, setCanaryScale, plugin or pause`,
			rollout: mutatedCanary(canaryRollout, func(c *CanaryStrategy) { c.Steps[1] = CanaryStep{} })},
		"step with two actions": {argo: `spec.strategy.steps[0]: Invalid value: "step.Experiment: false step.Pause: true step.SetWeight: true step.Analysis: false": Step must have one of the following set: experiment, setWeight, setCanaryScale, plugin or pause`,
			rollout: mutatedCanary(canaryRollout, func(c *CanaryStrategy) { c.Steps[0].Pause = &RolloutPause{} })},
		"pause duration that does not parse": {argo: `spec.strategy.steps[1].pause.duration: Invalid value: -1: Duration needs to be greater than 0`,
			rollout: mutatedCanary(canaryRollout, func(c *CanaryStrategy) { c.Steps[1].Pause.Duration = dur("ten minutes") }),
			vane:    ` (time: invalid duration "ten minutes")`},
		"negative pause duration": {argo: `spec.strategy.steps[1].pause.duration: Invalid value: -5: Duration needs to be greater than 0`,
			rollout: mutatedCanary(canaryRollout, func(c *CanaryStrategy) { c.Steps[1].Pause.Duration = dur("-5s") })},
		"negative numeric pause": {argo: `spec.strategy.steps[1].pause.duration: Invalid value: -1: Duration needs to be greater than 0`,
			rollout: mutatedCanary(canaryRollout, func(c *CanaryStrategy) {
				c.Steps[1].Pause.Duration = ptr(DurationFromInt(-1))
			})},
		"same canary and stable service": {argo: `spec.strategy.stableService: Invalid value: "web-canary": This rollout uses the same service for the stable and canary services, but two different services are required.`,
			rollout: mutatedCanary(trafficRollout, func(c *CanaryStrategy) { c.StableService = c.CanaryService })},
		"trafficRouting without stableService": {argo: `spec.strategy.stableService: Invalid value: "": Canary service and Stable service must to be set to use Traffic Routing`,
			rollout: mutatedCanary(trafficRollout, func(c *CanaryStrategy) { c.StableService = "" })},
		"trafficRouting without canaryService": {argo: `spec.strategy.canaryService: Invalid value: "": Canary service and Stable service must to be set to use Traffic Routing`,
			rollout: mutatedCanary(trafficRollout, func(c *CanaryStrategy) { c.CanaryService = "" })},
		"maxSurge and maxUnavailable both 0": {argo: `spec.strategy.maxSurge: Invalid value: 0: MaxSurge and MaxUnavailable both can not be zero`,
			rollout: mutatedCanary(canaryRollout, func(c *CanaryStrategy) { c.MaxSurge, c.MaxUnavailable = ioi(0), ios("0%") })},
		"setCanaryScale without trafficRouting": {argo: `spec.strategy.trafficRouting: Required value: SetCanaryScale requires TrafficRouting to be set`,
			rollout: mutatedCanary(canaryRollout, func(c *CanaryStrategy) {
				c.Steps = append(c.Steps, CanaryStep{SetCanaryScale: &SetCanaryScale{Weight: ptr(int32(10))}})
			})},
		"scaleDownDelaySeconds without trafficRouting": {argo: `spec.strategy.scaleDownDelaySeconds: Invalid value: 10: Canary scaleDownDelaySeconds can only be used with traffic routing`,
			rollout: mutatedCanary(canaryRollout, func(c *CanaryStrategy) { c.ScaleDownDelaySeconds = ptr(int32(10)) })},
		"dynamicStableScale without trafficRouting": {argo: `spec.strategy.dynamicStableScale: Invalid value: true: Canary dynamicStableScale can only be used with traffic routing`,
			rollout: mutatedCanary(canaryRollout, func(c *CanaryStrategy) { c.DynamicStableScale = true })},
		"dynamicStableScale with scaleDownDelaySeconds": {argo: `spec.strategy.dynamicStableScale: Invalid value: true: Canary dynamicStableScale cannot be used with scaleDownDelaySeconds`,
			rollout: mutatedCanary(trafficRollout, func(c *CanaryStrategy) {
				c.ScaleDownDelaySeconds = ptr(int32(10))
			})},
		"header route not in managedRoutes": {argo: `spec.strategy.steps[1].setHeaderRoute: Invalid value: "other": Steps define a route that does not exist in spec.strategy.canary.trafficRouting.managedRoutes`,
			rollout: mutatedCanary(trafficRollout, func(c *CanaryStrategy) { c.Steps[1].SetHeaderRoute.Name = "other" })},
		"route steps without managedRoutes": {argo: `spec.strategy.trafficRouting.managedRoutes: Required value: Rollout has missing field 'spec.strategy.canary.trafficRouting.managedRoutes'`,
			rollout: mutatedCanary(trafficRollout, func(c *CanaryStrategy) { c.TrafficRouting.ManagedRoutes = nil })},
		"header match with two values": {argo: `spec.strategy.steps[1].setHeaderRoute.match[0]: Invalid value: {"exact":"2","prefix":"2."}: StringMatch match value must have exactly one of the following: exact, regex, prefix`,
			rollout: mutatedCanary(trafficRollout, func(c *CanaryStrategy) {
				c.Steps[1].SetHeaderRoute.Match[0].HeaderValue.Prefix = "2."
			})},
		"header match without a value": {argo: `spec.strategy.steps[1].setHeaderRoute.match[0]: Invalid value: {}: StringMatch value missed, match value must have one of the following: exact, regex, prefix`,
			rollout: mutatedCanary(trafficRollout, func(c *CanaryStrategy) {
				c.Steps[1].SetHeaderRoute.Match[0].HeaderValue = &StringMatch{}
			})},
		"mirror route with nginx": {argo: `spec.strategy.steps[0].setMirrorRoute: Invalid value: {"name":"mirror"}: SetMirrorRoute requires TrafficRouting, supports Istio and Plugins`,
			rollout: mutatedCanary(trafficRollout, func(c *CanaryStrategy) {
				c.TrafficRouting.Istio, c.TrafficRouting.Plugins = nil, nil
				c.TrafficRouting.Nginx = &NginxTrafficRouting{StableIngress: "web"}
				c.Steps = []CanaryStep{{SetMirrorRoute: &SetMirrorRoute{Name: "mirror"}}}
			})},
		"experiment weight without trafficRouting": {argo: `spec.strategy.steps[0].experiment.templates[0].weight: Invalid value: 5: Experiment template weight cannot be set unless TrafficRouting is enabled`,
			rollout: mutatedCanary(canaryRollout, func(c *CanaryStrategy) {
				c.Steps = []CanaryStep{{Experiment: &RolloutExperimentStep{Templates: []RolloutExperimentTemplate{{Name: "c", SpecRef: CanarySpecRef, Weight: ptr(int32(5))}}}}}
			})},
		"canary anti-affinity with both rules": {argo: `spec.strategy.antiAffinity: Invalid value: "antiAffinity.PreferredDuringSchedulingIgnoredDuringExecution: true antiAffinity.RequiredDuringSchedulingIgnoredDuringExecution: true": AntiAffinity must have exactly one strategy listed`,
			rollout: mutatedCanary(canaryRollout, func(c *CanaryStrategy) {
				c.AntiAffinity = &AntiAffinity{
					PreferredDuringSchedulingIgnoredDuringExecution: &PreferredDuringSchedulingIgnoredDuringExecution{Weight: 1},
					RequiredDuringSchedulingIgnoredDuringExecution:  &RequiredDuringSchedulingIgnoredDuringExecution{},
				}
			})},
		"ping-pong with the same service twice": {argo: `spec.strategy.pingPong.pingService: Invalid value: "a": This rollout uses the same service for the ping and pong services, but two different services are required.`,
			rollout: mutatedCanary(trafficRollout, func(c *CanaryStrategy) {
				c.PingPong = &PingPongSpec{PingService: "a", PongService: "a"}
			})},

		"blue/green with one service twice": {argo: `spec.strategy.activeService: Invalid value: "shop": This rollout uses the same service for the active and preview services, but two different services are required.`,
			rollout: mutatedBlueGreen(func(b *BlueGreenStrategy) { b.PreviewService = b.ActiveService })},
		"blue/green without any service": {argo: `spec.strategy.activeService: Invalid value: "": This rollout uses the same service for the active and preview services, but two different services are required.`,
			rollout: mutatedBlueGreen(func(b *BlueGreenStrategy) { b.ActiveService, b.PreviewService = "", "" })},
		"blue/green anti-affinity weight 0": {argo: `spec.strategy.antiAffinity.weight: Invalid value: 0: AntiAffinity weight must be between 1-100`,
			rollout: mutatedBlueGreen(func(b *BlueGreenStrategy) {
				b.AntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution.Weight = 0
			})},
		"blue/green scaleDownDelayRevisionLimit above revisionHistoryLimit": {argo: `spec.strategy.scaleDownDelayRevisionLimit: Invalid value: 11: This rollout's revision history limit can not be smaller than the rollout's scale down limit`,
			rollout: mutatedBlueGreen(func(b *BlueGreenStrategy) {
				b.ScaleDownDelayRevisionLimit = ptr(int32(11))
			})},
	}
}

// TestRolloutValidationArgoMessages: for the checks Argo makes, the first error (what the
// InvalidSpec condition shows) reads as Argo's.
func TestRolloutValidationArgoMessages(t *testing.T) {
	for name, tc := range argoCases() {
		t.Run(name, func(t *testing.T) {
			errs := ValidateRollout(tc.rollout)
			if len(errs) == 0 {
				t.Fatal("valid")
			}
			if diff := cmp.Diff(tc.argo+tc.vane, errs[0].Error()); diff != "" {
				t.Errorf("first error (-want +got):\n%s\nall errors:\n%s", diff, errorLines(errs))
			}
		})
	}
}
