package v1alpha1

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Kinds a Rollout's workloadRef may point at.
var workloadRefKinds = []string{"Deployment", "ReplicaSet", "PodTemplate"}

// missingFieldMessage is Argo's text for a missing field.
const missingFieldMessage = "Rollout has missing field '%s'"

// Values of workloadRef.scaleDown.
var workloadRefScaleDowns = []string{ScaleDownNever, ScaleDownOnSuccess, ScaleDownProgressively}

// ValidateRollout checks a Rollout and returns every problem found, each
// with its field path. An empty list means the Rollout is valid.
func ValidateRollout(r *Rollout) field.ErrorList {
	spec := &r.Spec
	p := field.NewPath("spec")
	var allErrs field.ErrorList

	allErrs = append(allErrs, validateNonNegativePtr(spec.Replicas, p.Child("replicas"))...)

	// Selector: required unless the workload reference provides it.
	var sel labels.Selector
	switch {
	case spec.Selector != nil:
		var errs field.ErrorList
		sel, errs = validateSelector(spec.Selector, p.Child("selector"), "empty selector is invalid for deployment")
		allErrs = append(allErrs, errs...)
	case spec.WorkloadRef == nil:
		allErrs = append(allErrs, field.Required(p.Child("selector"), fmt.Sprintf(missingFieldMessage, ".spec.selector")))
	}

	// Template or workloadRef, not both. An empty template next to a
	// workloadRef is allowed, as in Argo Rollouts.
	templateEmpty := isEmptyPodTemplate(&spec.Template)
	if spec.WorkloadRef != nil {
		if !templateEmpty {
			allErrs = append(allErrs, field.InternalError(p.Child("template"), errors.New("template must be empty for workload reference rollout")))
		}
		allErrs = append(allErrs, validateWorkloadRef(spec.WorkloadRef, p.Child("workloadRef"))...)
	} else if templateEmpty {
		allErrs = append(allErrs, field.Required(p.Child("template"), "a pod template is required (or set workloadRef to use the pod template of an existing workload)"))
	} else {
		allErrs = append(allErrs, validatePodTemplate(&spec.Template, sel, p.Child("template"))...)
	}

	allErrs = append(allErrs, validateNonNegative(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	allErrs = append(allErrs, validateNonNegativePtr(spec.RevisionHistoryLimit, p.Child("revisionHistoryLimit"))...)
	if pd := spec.EffectiveProgressDeadlineSeconds(); pd <= spec.MinReadySeconds {
		allErrs = append(allErrs, field.Invalid(p.Child("progressDeadlineSeconds"), pd, "must be greater than minReadySeconds"))
	}
	if spec.RollbackWindow != nil {
		allErrs = append(allErrs, validateNonNegative(int64(spec.RollbackWindow.Revisions), p.Child("rollbackWindow", "revisions"))...)
	}
	if spec.Analysis != nil {
		ap := p.Child("analysis")
		allErrs = append(allErrs, validateNonNegativePtr(spec.Analysis.SuccessfulRunHistoryLimit, ap.Child("successfulRunHistoryLimit"))...)
		allErrs = append(allErrs, validateNonNegativePtr(spec.Analysis.UnsuccessfulRunHistoryLimit, ap.Child("unsuccessfulRunHistoryLimit"))...)
	}

	allErrs = append(allErrs, validateStrategy(spec, p.Child("strategy"))...)
	return allErrs
}

// validateStrategy checks spec.strategy. Argo reports its own strategy checks under
// spec.strategy.<field> (and spec.strategy.strategy for the choice of strategy); Vane's extra
// checks name the full path (spec.strategy.canary.<field>, spec.strategy.blueGreen.<field>).
func validateStrategy(spec *RolloutSpec, sp *field.Path) field.ErrorList {
	switch bg, c := spec.Strategy.BlueGreen, spec.Strategy.Canary; {
	case c == nil && bg == nil:
		return field.ErrorList{field.Required(sp.Child("strategy"), fmt.Sprintf(missingFieldMessage, ".spec.strategy.canary or .spec.strategy.blueGreen"))}
	case c != nil && bg != nil:
		return field.ErrorList{field.Invalid(sp.Child("strategy"), "blueGreen: true canary: true", "Multiple Strategies can not be listed")}
	case c != nil:
		return validateCanary(spec, c, sp)
	default:
		return validateBlueGreen(spec, bg, sp)
	}
}

// isEmptyPodTemplate reports whether t has no content at all.
func isEmptyPodTemplate(t *corev1.PodTemplateSpec) bool {
	return equality.Semantic.DeepEqual(*t, corev1.PodTemplateSpec{})
}

func validateWorkloadRef(ref *ObjectRef, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if ref.Name == "" {
		allErrs = append(allErrs, field.Required(p.Child("name"), "name the workload that provides the pod template"))
	}
	if !sets.New(workloadRefKinds...).Has(ref.Kind) {
		allErrs = append(allErrs, field.NotSupported(p.Child("kind"), ref.Kind, workloadRefKinds))
	}
	if ref.ScaleDown != "" && !sets.New(workloadRefScaleDowns...).Has(ref.ScaleDown) {
		allErrs = append(allErrs, field.NotSupported(p.Child("scaleDown"), ref.ScaleDown, workloadRefScaleDowns))
	}
	return allErrs
}

// validateBlueGreen checks the blue/green strategy; sp is spec.strategy.
func validateBlueGreen(spec *RolloutSpec, bg *BlueGreenStrategy, sp *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	p := sp.Child("blueGreen")
	switch {
	case bg.ActiveService == bg.PreviewService:
		allErrs = append(allErrs, field.Invalid(sp.Child("activeService"), bg.ActiveService,
			"This rollout uses the same service for the active and preview services, but two different services are required."))
	case bg.ActiveService == "":
		allErrs = append(allErrs, field.Required(p.Child("activeService"), "name the Service that receives production traffic"))
	}
	allErrs = append(allErrs, validateScaleDownRevisionLimit(spec, bg.ScaleDownDelayRevisionLimit, sp.Child("scaleDownDelayRevisionLimit"))...)
	allErrs = append(allErrs, validateAntiAffinity(bg.AntiAffinity, sp.Child("antiAffinity"))...)
	allErrs = append(allErrs, validateNonNegativePtr(bg.PreviewReplicaCount, p.Child("previewReplicaCount"))...)
	allErrs = append(allErrs, validateNonNegative(int64(bg.AutoPromotionSeconds), p.Child("autoPromotionSeconds"))...)
	allErrs = append(allErrs, validateNonNegativePtr(bg.ScaleDownDelaySeconds, p.Child("scaleDownDelaySeconds"))...)
	allErrs = append(allErrs, validateNonNegativePtr(bg.AbortScaleDownDelaySeconds, p.Child("abortScaleDownDelaySeconds"))...)
	allErrs = append(allErrs, validateIntOrPercent(bg.MaxUnavailable, p.Child("maxUnavailable"), true)...)
	if bg.PrePromotionAnalysis != nil {
		allErrs = append(allErrs, validateRolloutAnalysis(bg.PrePromotionAnalysis, p.Child("prePromotionAnalysis"))...)
	}
	if bg.PostPromotionAnalysis != nil {
		allErrs = append(allErrs, validateRolloutAnalysis(bg.PostPromotionAnalysis, p.Child("postPromotionAnalysis"))...)
	}
	return allErrs
}

func validateScaleDownRevisionLimit(spec *RolloutSpec, limit *int32, p *field.Path) field.ErrorList {
	if limit == nil {
		return nil
	}
	if *limit < 0 {
		return validateNonNegative(int64(*limit), p)
	}
	if rh := spec.EffectiveRevisionHistoryLimit(); *limit > rh {
		return field.ErrorList{field.Invalid(p, *limit, "This rollout's revision history limit can not be smaller than the rollout's scale down limit")}
	}
	return nil
}

// validateAntiAffinity checks antiAffinity as Argo does (ValidateRolloutStrategyAntiAffinity),
// with Argo's texts; p is spec.strategy.antiAffinity.
func validateAntiAffinity(a *AntiAffinity, p *field.Path) field.ErrorList {
	if a == nil {
		return nil
	}
	var allErrs field.ErrorList
	pref, req := a.PreferredDuringSchedulingIgnoredDuringExecution, a.RequiredDuringSchedulingIgnoredDuringExecution
	if (pref == nil) == (req == nil) {
		allErrs = append(allErrs, field.Invalid(p, fmt.Sprintf("antiAffinity.PreferredDuringSchedulingIgnoredDuringExecution: %t antiAffinity.RequiredDuringSchedulingIgnoredDuringExecution: %t",
			pref != nil, req != nil), "AntiAffinity must have exactly one strategy listed"))
	}
	if pref != nil && (pref.Weight < 1 || pref.Weight > 100) {
		allErrs = append(allErrs, field.Invalid(p.Child("weight"), pref.Weight, "AntiAffinity weight must be between 1-100"))
	}
	return allErrs
}

// requiresCanaryAndStableServices follows Argo: traffic routing needs both
// Services, except Istio subset-level routing and ping-pong.
func requiresCanaryAndStableServices(c *CanaryStrategy) bool {
	tr := c.TrafficRouting
	if tr == nil || c.PingPong != nil {
		return false
	}
	return tr.Istio == nil || tr.Istio.DestinationRule == nil
}

// validateCanary checks the canary strategy; sp is spec.strategy. Argo's checks come first,
// in Argo's order (ValidateRolloutStrategyCanary), then Vane's.
func validateCanary(spec *RolloutSpec, c *CanaryStrategy, sp *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	p, tr := sp.Child("canary"), c.TrafficRouting
	if maxSurge := c.EffectiveMaxSurge(); intOrPercentIsZero(maxSurge) && intOrPercentIsZero(c.EffectiveMaxUnavailable()) {
		allErrs = append(allErrs, field.Invalid(sp.Child("maxSurge"), maxSurge, "MaxSurge and MaxUnavailable both can not be zero"))
	}
	if c.CanaryService != "" && c.CanaryService == c.StableService {
		allErrs = append(allErrs, field.Invalid(sp.Child("stableService"), c.StableService,
			"This rollout uses the same service for the stable and canary services, but two different services are required."))
	}
	allErrs = append(allErrs, validatePingPong(c, sp)...)
	if requiresCanaryAndStableServices(c) {
		const msg = "Canary service and Stable service must to be set to use Traffic Routing"
		if c.StableService == "" {
			allErrs = append(allErrs, field.Invalid(sp.Child("stableService"), c.StableService, msg))
		}
		if c.CanaryService == "" {
			allErrs = append(allErrs, field.Invalid(sp.Child("canaryService"), c.CanaryService, msg))
		}
	}
	switch {
	case tr == nil && c.ScaleDownDelaySeconds != nil:
		allErrs = append(allErrs, field.Invalid(sp.Child("scaleDownDelaySeconds"), *c.ScaleDownDelaySeconds, "Canary scaleDownDelaySeconds can only be used with traffic routing"))
	case tr != nil && c.ScaleDownDelaySeconds != nil && c.DynamicStableScale:
		allErrs = append(allErrs, field.Invalid(sp.Child("dynamicStableScale"), true, "Canary dynamicStableScale cannot be used with scaleDownDelaySeconds"))
	}
	if tr == nil && c.DynamicStableScale {
		allErrs = append(allErrs, field.Invalid(sp.Child("dynamicStableScale"), true, "Canary dynamicStableScale can only be used with traffic routing"))
	}
	for i := range c.Steps {
		allErrs = append(allErrs, validateCanaryStep(c, &c.Steps[i], sp, i)...)
	}
	allErrs = append(allErrs, validateAntiAffinity(c.AntiAffinity, sp.Child("antiAffinity"))...)

	allErrs = append(allErrs, validateIntOrPercent(c.MaxSurge, p.Child("maxSurge"), false)...)
	allErrs = append(allErrs, validateIntOrPercent(c.MaxUnavailable, p.Child("maxUnavailable"), true)...)
	allErrs = append(allErrs, validateNonNegativePtr(c.ScaleDownDelaySeconds, p.Child("scaleDownDelaySeconds"))...)
	allErrs = append(allErrs, validateNonNegativePtr(c.AbortScaleDownDelaySeconds, p.Child("abortScaleDownDelaySeconds"))...)
	allErrs = append(allErrs, validateNonNegativePtr(c.MinPodsPerReplicaSet, p.Child("minPodsPerReplicaSet"))...)
	allErrs = append(allErrs, validateScaleDownRevisionLimit(spec, c.ScaleDownDelayRevisionLimit, sp.Child("scaleDownDelayRevisionLimit"))...)
	if tr != nil {
		allErrs = append(allErrs, validateTrafficRouting(c, tr, p.Child("trafficRouting"))...)
	}
	if c.Analysis != nil {
		ap := p.Child("analysis")
		allErrs = append(allErrs, validateRolloutAnalysis(&c.Analysis.RolloutAnalysis, ap)...)
		allErrs = append(allErrs, validateNonNegativePtr(c.Analysis.StartingStep, ap.Child("startingStep"))...)
	}
	for i := range c.Steps {
		allErrs = append(allErrs, validateCanaryStepVane(c, &c.Steps[i], p.Child("steps").Index(i))...)
	}
	return allErrs
}

// validatePingPong checks pingPong as Argo does (Argo's texts; sp is spec.strategy), and that
// the router is ALB, the only one Vane does ping-pong with.
func validatePingPong(c *CanaryStrategy, sp *field.Path) field.ErrorList {
	pp, tr := c.PingPong, c.TrafficRouting
	if pp == nil {
		return nil
	}
	var allErrs field.ErrorList
	ppp := sp.Child("pingPong")
	otherRouter := tr != nil && tr.ALB == nil && tr.Istio == nil && len(tr.Plugins) == 0
	if otherRouter {
		allErrs = append(allErrs, field.Invalid(sp.Child("trafficRouting", "alb"), tr.ALB, "Ping-pong feature works with the ALB, Istio, and plugin-based traffic routers only"))
	}
	const missing = "Ping service and Pong service must to be set to use Ping-Pong feature"
	if pp.PingService == "" {
		allErrs = append(allErrs, field.Invalid(ppp.Child("pingService"), pp.PingService, missing))
	}
	if pp.PongService == "" {
		allErrs = append(allErrs, field.Invalid(ppp.Child("pongService"), pp.PongService, missing))
	}
	if pp.PingService == pp.PongService {
		allErrs = append(allErrs, field.Invalid(ppp.Child("pingService"), pp.PingService,
			"This rollout uses the same service for the ping and pong services, but two different services are required."))
	}
	if tr != nil && tr.ALB != nil && tr.ALB.RootService == "" {
		allErrs = append(allErrs, field.Invalid(sp.Child("trafficRouting", "alb", "rootService"), tr.ALB.RootService,
			"Root service field is required for the configuration with ALB and ping-pong feature enabled"))
	}
	if !otherRouter && (tr == nil || tr.ALB == nil) {
		allErrs = append(allErrs, field.Invalid(sp.Child("canary", "pingPong"), field.OmitValueType{}, "ping-pong only works with trafficRouting.alb"))
	}
	return allErrs
}

func validateTrafficRouting(c *CanaryStrategy, tr *RolloutTrafficRouting, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if tr.Istio == nil && tr.Nginx == nil && tr.ALB == nil && tr.SMI == nil && tr.Ambassador == nil &&
		tr.AppMesh == nil && tr.Traefik == nil && tr.Apisix == nil && len(tr.Plugins) == 0 {
		allErrs = append(allErrs, field.Required(p, "name a traffic provider: istio, nginx, alb, smi, ambassador, appMesh, traefik, apisix or plugins"))
	}
	if tr.MaxTrafficWeight != nil && *tr.MaxTrafficWeight < 1 {
		allErrs = append(allErrs, field.Invalid(p.Child("maxTrafficWeight"), *tr.MaxTrafficWeight, "must be at least 1"))
	}
	routes := sets.New[string]()
	for i, r := range tr.ManagedRoutes {
		np := p.Child("managedRoutes").Index(i).Child("name")
		switch {
		case r.Name == "":
			allErrs = append(allErrs, field.Required(np, "every managed route needs a name"))
		case routes.Has(r.Name):
			allErrs = append(allErrs, field.Duplicate(np, r.Name))
		}
		routes.Insert(r.Name)
	}
	if is := tr.Istio; is != nil {
		ip := p.Child("istio")
		if is.VirtualService != nil && len(is.VirtualServices) > 0 {
			allErrs = append(allErrs, field.Invalid(ip, field.OmitValueType{}, "set virtualService or virtualServices, not both"))
		}
		if is.VirtualService == nil && len(is.VirtualServices) == 0 && is.DestinationRule == nil {
			allErrs = append(allErrs, field.Required(ip.Child("virtualService"), "istio needs a virtualService, virtualServices or destinationRule"))
		}
		if is.VirtualService != nil && is.VirtualService.Name == "" {
			allErrs = append(allErrs, field.Required(ip.Child("virtualService", "name"), "name the VirtualService"))
		}
		for i, vs := range is.VirtualServices {
			if vs.Name == "" {
				allErrs = append(allErrs, field.Required(ip.Child("virtualServices").Index(i).Child("name"), "name the VirtualService"))
			}
		}
		if dr := is.DestinationRule; dr != nil {
			dp := ip.Child("destinationRule")
			for _, f := range [][2]string{{"name", dr.Name}, {"canarySubsetName", dr.CanarySubsetName}, {"stableSubsetName", dr.StableSubsetName}} {
				if f[1] == "" {
					allErrs = append(allErrs, field.Required(dp.Child(f[0]), "required for a destinationRule"))
				}
			}
		}
	}
	if n := tr.Nginx; n != nil {
		np := p.Child("nginx")
		if (n.StableIngress == "") == (len(n.StableIngresses) == 0) {
			allErrs = append(allErrs, field.Invalid(np.Child("stableIngress"), n.StableIngress, "set exactly one of stableIngress or stableIngresses"))
		}
	}
	if a := tr.ALB; a != nil {
		ap := p.Child("alb")
		if (a.Ingress == "") == (len(a.Ingresses) == 0) {
			allErrs = append(allErrs, field.Invalid(ap.Child("ingress"), a.Ingress, "set exactly one of ingress or ingresses"))
		}
		if a.ServicePort < 1 || a.ServicePort > 65535 {
			allErrs = append(allErrs, field.Invalid(ap.Child("servicePort"), a.ServicePort, "must be a port number between 1 and 65535"))
		}
	}
	if a := tr.Ambassador; a != nil && len(a.Mappings) == 0 {
		allErrs = append(allErrs, field.Required(p.Child("ambassador", "mappings"), "list at least one Mapping"))
	}
	if t := tr.Traefik; t != nil && t.WeightedTraefikServiceName == "" {
		allErrs = append(allErrs, field.Required(p.Child("traefik", "weightedTraefikServiceName"), "name the weighted TraefikService"))
	}
	if a := tr.Apisix; a != nil && (a.Route == nil || a.Route.Name == "") {
		allErrs = append(allErrs, field.Required(p.Child("apisix", "route", "name"), "name the ApisixRoute"))
	}
	if am := tr.AppMesh; am != nil {
		amp := p.Child("appMesh")
		if am.VirtualService == nil || am.VirtualService.Name == "" {
			allErrs = append(allErrs, field.Required(amp.Child("virtualService", "name"), "name the App Mesh virtual service"))
		}
		g := am.VirtualNodeGroup
		if g == nil {
			allErrs = append(allErrs, field.Required(amp.Child("virtualNodeGroup"), "give the canary and stable virtual nodes"))
		} else {
			if g.CanaryVirtualNodeRef == nil || g.CanaryVirtualNodeRef.Name == "" {
				allErrs = append(allErrs, field.Required(amp.Child("virtualNodeGroup", "canaryVirtualNodeRef", "name"), "name the canary virtual node"))
			}
			if g.StableVirtualNodeRef == nil || g.StableVirtualNodeRef.Name == "" {
				allErrs = append(allErrs, field.Required(amp.Child("virtualNodeGroup", "stableVirtualNodeRef", "name"), "name the stable virtual node"))
			}
		}
	}
	return allErrs
}

// stepActions returns the names of the actions set in a step.
func stepActions(s *CanaryStep) []string {
	return setFields(map[string]bool{
		"setWeight":      s.SetWeight != nil,
		"pause":          s.Pause != nil,
		"experiment":     s.Experiment != nil,
		"analysis":       s.Analysis != nil,
		"setCanaryScale": s.SetCanaryScale != nil,
		"setHeaderRoute": s.SetHeaderRoute != nil,
		"setMirrorRoute": s.SetMirrorRoute != nil,
		"plugin":         s.Plugin != nil,
	})
}

// invalidStepMessage is Argo's text for a step with no action, or with more than one of
// experiment, pause, setWeight and analysis.
const invalidStepMessage = "Step must have one of the following set: experiment, setWeight, setCanaryScale, plugin or pause"

// validateCanaryStep makes Argo's checks of step i (ValidateRolloutStrategyCanary), with Argo's
// paths (sp is spec.strategy) and texts.
func validateCanaryStep(c *CanaryStrategy, s *CanaryStep, sp *field.Path, i int) field.ErrorList {
	var allErrs field.ErrorList
	tr, p := c.TrafficRouting, sp.Child("steps").Index(i)
	if n := countTrue(s.SetWeight != nil, s.Pause != nil, s.Experiment != nil, s.Analysis != nil); n > 1 {
		allErrs = append(allErrs, field.Invalid(p, fmt.Sprintf("step.Experiment: %t step.Pause: %t step.SetWeight: %t step.Analysis: %t",
			s.Experiment != nil, s.Pause != nil, s.SetWeight != nil, s.Analysis != nil), invalidStepMessage))
	}
	if len(stepActions(s)) == 0 {
		allErrs = append(allErrs, field.Invalid(p, "step.Experiment: true step.Pause: true step.SetWeight: true step.Analysis: true "+
			"step.SetCanaryScale: true step.SetHeaderRoute: true step.SetMirrorRoute: true step.Plugin: true", invalidStepMessage))
	}
	if max := c.EffectiveMaxTrafficWeight(); s.SetWeight != nil && (*s.SetWeight < 0 || *s.SetWeight > max) {
		allErrs = append(allErrs, field.Invalid(p.Child("setWeight"), *s.SetWeight, fmt.Sprintf("SetWeight needs to be between 0 and %d", max)))
	}
	if s.Pause != nil {
		allErrs = append(allErrs, validatePauseDuration(s.Pause.Duration, p.Child("pause", "duration"))...)
	}
	if s.SetCanaryScale != nil && tr == nil {
		allErrs = append(allErrs, field.Required(sp.Child("trafficRouting"), "SetCanaryScale requires TrafficRouting to be set"))
	}
	allErrs = append(allErrs, validateRouteSteps(tr, s, sp, p)...)
	if e := s.Experiment; e != nil {
		for j, t := range e.Templates {
			wp := p.Child("experiment", "templates").Index(j).Child("weight")
			switch {
			case t.Weight == nil:
			case tr == nil:
				allErrs = append(allErrs, field.Invalid(wp, *t.Weight, "Experiment template weight cannot be set unless TrafficRouting is enabled"))
			case tr.ALB == nil && tr.SMI == nil && tr.Istio == nil && len(tr.Plugins) == 0:
				allErrs = append(allErrs, field.Invalid(wp, *t.Weight, "Experiment template weight is only available for TrafficRouting with SMI, ALB, Istio and Plugins at this time"))
			}
		}
	}
	return allErrs
}

// validatePauseDuration: Argo rejects a pause whose duration, in seconds, is negative, and
// reads a duration it cannot parse as -1 seconds (RolloutPause.DurationSeconds); Vane gives
// the parse error after Argo's text.
func validatePauseDuration(d *DurationString, p *field.Path) field.ErrorList {
	if d == nil {
		return nil
	}
	seconds, parseErr := int32(0), error(nil)
	switch n, err := strconv.ParseInt(d.StrVal, 10, 32); {
	case d.Type == intstr.Int:
		seconds = d.IntVal
	case err == nil:
		seconds = int32(n)
	default:
		dur, err := time.ParseDuration(d.StrVal)
		seconds, parseErr = int32(dur.Seconds()), err
		if err != nil {
			seconds = -1
		}
	}
	if seconds >= 0 {
		return nil
	}
	msg := "Duration needs to be greater than 0"
	if parseErr != nil {
		msg += " (" + parseErr.Error() + ")"
	}
	return field.ErrorList{field.Invalid(p, seconds, msg)}
}

// validateRouteSteps makes Argo's checks of a setHeaderRoute or setMirrorRoute step: the router
// supports it, its matches set exactly one of exact, regex and prefix (ALB: exact only), and
// its route is one of trafficRouting.managedRoutes.
func validateRouteSteps(tr *RolloutTrafficRouting, s *CanaryStep, sp, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if hr := s.SetHeaderRoute; hr != nil {
		hp := p.Child("setHeaderRoute")
		if tr == nil || (tr.Istio == nil && tr.ALB == nil && tr.Apisix == nil && len(tr.Plugins) == 0) {
			allErrs = append(allErrs, field.Invalid(hp, hr, "SetHeaderRoute requires TrafficRouting, supports Istio and ALB and Apisix"))
		} else {
			for j, m := range hr.Match {
				allErrs = append(allErrs, validateStringMatch(m.HeaderValue, hp.Child("match").Index(j), tr.ALB != nil)...)
			}
		}
	}
	if mr := s.SetMirrorRoute; mr != nil {
		mp := p.Child("setMirrorRoute")
		if tr == nil || (tr.Istio == nil && len(tr.Plugins) == 0) {
			allErrs = append(allErrs, field.Invalid(mp, mr, "SetMirrorRoute requires TrafficRouting, supports Istio and Plugins"))
		}
		for j, m := range mr.Match {
			for _, v := range []*StringMatch{m.Method, m.Path} {
				if v != nil {
					allErrs = append(allErrs, validateStringMatch(v, mp.Child("match").Index(j), false)...)
				}
			}
		}
	}
	if tr == nil || (s.SetHeaderRoute == nil && s.SetMirrorRoute == nil) {
		return allErrs
	}
	if tr.ManagedRoutes == nil {
		return append(allErrs, field.Required(sp.Child("trafficRouting", "managedRoutes"),
			fmt.Sprintf(missingFieldMessage, "spec.strategy.canary.trafficRouting.managedRoutes")))
	}
	if hr := s.SetHeaderRoute; hr != nil {
		allErrs = append(allErrs, validateManagedRoute(tr, hr.Name, p.Child("setHeaderRoute"))...)
	}
	if mr := s.SetMirrorRoute; mr != nil {
		allErrs = append(allErrs, validateManagedRoute(tr, mr.Name, p.Child("setMirrorRoute"))...)
	}
	return allErrs
}

// validateCanaryStepVane makes Vane's own checks of a step (p is
// spec.strategy.canary.steps[i]): one action a step, setCanaryScale's settings, match headers,
// mirror percentage, analysis and experiment contents, plugin name.
func validateCanaryStepVane(c *CanaryStrategy, s *CanaryStep, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	// Argo only rejects some combinations; Vane rejects them all, since the order of two
	// actions in one step would be ambiguous.
	if actions := stepActions(s); len(actions) > 1 && countTrue(s.SetWeight != nil, s.Pause != nil, s.Experiment != nil, s.Analysis != nil) < 2 {
		allErrs = append(allErrs, field.Invalid(p, strings.Join(actions, ", "), "a step must have exactly one action; split these into separate steps"))
	}
	if s.Pause != nil {
		if d := s.Pause.Duration; d != nil && len(validatePauseDuration(d, p)) == 0 {
			allErrs = append(allErrs, validateDuration(d, p.Child("pause", "duration"), false)...)
		}
	}
	if cs := s.SetCanaryScale; cs != nil {
		allErrs = append(allErrs, validateSetCanaryScale(cs, p.Child("setCanaryScale"))...)
	}
	if hr := s.SetHeaderRoute; hr != nil {
		for j, m := range hr.Match {
			if m.HeaderName == "" {
				allErrs = append(allErrs, field.Required(p.Child("setHeaderRoute", "match").Index(j).Child("headerName"), "name the header to match"))
			}
		}
	}
	if mr := s.SetMirrorRoute; mr != nil {
		mp := p.Child("setMirrorRoute")
		if mr.Percentage != nil && (*mr.Percentage < 0 || *mr.Percentage > 100) {
			allErrs = append(allErrs, field.Invalid(mp.Child("percentage"), *mr.Percentage, "must be between 0 and 100"))
		}
		for j, m := range mr.Match {
			for _, name := range sets.List(sets.KeySet(m.Headers)) {
				v := m.Headers[name]
				allErrs = append(allErrs, validateStringMatch(&v, mp.Child("match").Index(j).Child("headers").Key(name), false)...)
			}
		}
	}
	if s.Analysis != nil {
		allErrs = append(allErrs, validateRolloutAnalysis(s.Analysis, p.Child("analysis"))...)
	}
	if s.Experiment != nil {
		allErrs = append(allErrs, validateExperimentStep(s.Experiment, p.Child("experiment"))...)
	}
	if s.Plugin != nil && s.Plugin.Name == "" {
		allErrs = append(allErrs, field.Required(p.Child("plugin", "name"), "name the step plugin"))
	}
	return allErrs
}

// validateSetCanaryScale checks that a setCanaryScale step sets exactly one thing, in range.
func validateSetCanaryScale(cs *SetCanaryScale, cp *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	n := 0
	if cs.Weight != nil {
		n++
		if *cs.Weight < 0 || *cs.Weight > 100 {
			allErrs = append(allErrs, field.Invalid(cp.Child("weight"), *cs.Weight, "must be between 0 and 100"))
		}
	}
	if cs.Replicas != nil {
		n++
		allErrs = append(allErrs, validateNonNegativePtr(cs.Replicas, cp.Child("replicas"))...)
	}
	if cs.MatchTrafficWeight {
		n++
	}
	if n != 1 {
		allErrs = append(allErrs, field.Invalid(cp, field.OmitValueType{}, "set exactly one of weight, replicas or matchTrafficWeight"))
	}
	return allErrs
}

func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// validateManagedRoute: a route step's route must be one of trafficRouting.managedRoutes
// (Argo's ValidateStepRouteFoundInManagedRoute); p is the step's setHeaderRoute or
// setMirrorRoute.
func validateManagedRoute(tr *RolloutTrafficRouting, name string, p *field.Path) field.ErrorList {
	for _, r := range tr.ManagedRoutes {
		if r.Name == name {
			return nil
		}
	}
	return field.ErrorList{field.Invalid(p, name, "Steps define a route that does not exist in spec.strategy.canary.trafficRouting.managedRoutes")}
}

// validateStringMatch checks a match value as Argo does (hasMultipleMatchValues, and with
// albOnly hasALBInvalidValues): set, and exactly one of exact, regex and prefix (ALB: exact).
// p is the match.
func validateStringMatch(m *StringMatch, p *field.Path, albOnly bool) field.ErrorList {
	switch {
	case m == nil:
		return field.ErrorList{field.Invalid(p, m, "StringMatch value missed, match value must have one of the following: exact, regex, prefix")}
	case albOnly && (m.Exact == "" || m.Regex != "" || m.Prefix != ""):
		return field.ErrorList{field.Invalid(p, m, "SetHeaderRoute match value invalid. ALB supports 'exact' value only")}
	}
	switch countTrue(m.Exact != "", m.Regex != "", m.Prefix != "") {
	case 0:
		return field.ErrorList{field.Invalid(p, m, "StringMatch value missed, match value must have one of the following: exact, regex, prefix")}
	case 1:
		return nil
	}
	return field.ErrorList{field.Invalid(p, m, "StringMatch match value must have exactly one of the following: exact, regex, prefix")}
}

// validateRolloutAnalysis checks the analysis a Rollout starts (background,
// step, pre- or post-promotion).
func validateRolloutAnalysis(a *RolloutAnalysis, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(a.Templates) == 0 {
		allErrs = append(allErrs, field.Required(p.Child("templates"), "list at least one analysis template"))
	}
	for i, t := range a.Templates {
		if t.TemplateName == "" {
			allErrs = append(allErrs, field.Required(p.Child("templates").Index(i).Child("templateName"), "name an AnalysisTemplate (or a ClusterAnalysisTemplate with clusterScope: true)"))
		}
	}
	allErrs = append(allErrs, validateAnalysisRunArguments(a.Args, p.Child("args"))...)
	allErrs = append(allErrs, validateDryRunAndRetention(a.DryRun, a.MeasurementRetention, nil, p)...)
	return allErrs
}

func validateExperimentStep(e *RolloutExperimentStep, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(e.Templates) == 0 {
		allErrs = append(allErrs, field.Required(p.Child("templates"), "an experiment needs at least one template"))
	}
	names := sets.New[string]()
	for i, t := range e.Templates {
		tp := p.Child("templates").Index(i)
		switch {
		case t.Name == "":
			allErrs = append(allErrs, field.Required(tp.Child("name"), "every experiment template needs a name"))
		case names.Has(t.Name):
			allErrs = append(allErrs, field.Duplicate(tp.Child("name"), t.Name))
		}
		names.Insert(t.Name)
		if t.SpecRef != CanarySpecRef && t.SpecRef != StableSpecRef {
			allErrs = append(allErrs, field.NotSupported(tp.Child("specRef"), t.SpecRef, []string{string(CanarySpecRef), string(StableSpecRef)}))
		}
		allErrs = append(allErrs, validateNonNegativePtr(t.Replicas, tp.Child("replicas"))...)
		if t.Weight != nil && (*t.Weight < 0 || *t.Weight > 100) {
			allErrs = append(allErrs, field.Invalid(tp.Child("weight"), *t.Weight, "must be between 0 and 100"))
		}
		if t.Selector != nil {
			_, errs := validateSelector(t.Selector, tp.Child("selector"), emptySelectorDetail)
			allErrs = append(allErrs, errs...)
		}
	}
	allErrs = append(allErrs, validateDuration(e.Duration, p.Child("duration"), false)...)
	analyses := sets.New[string]()
	for i, a := range e.Analyses {
		ap := p.Child("analyses").Index(i)
		switch {
		case a.Name == "":
			allErrs = append(allErrs, field.Required(ap.Child("name"), "every experiment analysis needs a name"))
		case analyses.Has(a.Name):
			allErrs = append(allErrs, field.Duplicate(ap.Child("name"), a.Name))
		}
		analyses.Insert(a.Name)
		if a.TemplateName == "" {
			allErrs = append(allErrs, field.Required(ap.Child("templateName"), "name the analysis template to run"))
		}
		allErrs = append(allErrs, validateAnalysisRunArguments(a.Args, ap.Child("args"))...)
	}
	allErrs = append(allErrs, validateDryRunAndRetention(e.DryRun, nil, nil, p)...)
	return allErrs
}
