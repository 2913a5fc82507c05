package v1alpha1

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Kinds a Rollout's workloadRef may point at.
var workloadRefKinds = []string{"Deployment", "ReplicaSet", "PodTemplate"}

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
		sel, errs = validateSelector(spec.Selector, p.Child("selector"))
		allErrs = append(allErrs, errs...)
	case spec.WorkloadRef == nil:
		allErrs = append(allErrs, field.Required(p.Child("selector"), "a selector is required (it may only be left out when workloadRef is set)"))
	}

	// Template or workloadRef, not both. An empty template next to a
	// workloadRef is allowed, as in Argo Rollouts.
	templateEmpty := isEmptyPodTemplate(&spec.Template)
	if spec.WorkloadRef != nil {
		if !templateEmpty {
			allErrs = append(allErrs, field.Invalid(p.Child("template"), field.OmitValueType{}, "template must be empty when workloadRef is set: the pod template comes from the referenced workload"))
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
		allErrs = append(allErrs, field.Invalid(p.Child("progressDeadlineSeconds"), pd,
			fmt.Sprintf("must be greater than minReadySeconds (%d)", spec.MinReadySeconds)))
	}
	if spec.RollbackWindow != nil {
		allErrs = append(allErrs, validateNonNegative(int64(spec.RollbackWindow.Revisions), p.Child("rollbackWindow", "revisions"))...)
	}
	if spec.Analysis != nil {
		ap := p.Child("analysis")
		allErrs = append(allErrs, validateNonNegativePtr(spec.Analysis.SuccessfulRunHistoryLimit, ap.Child("successfulRunHistoryLimit"))...)
		allErrs = append(allErrs, validateNonNegativePtr(spec.Analysis.UnsuccessfulRunHistoryLimit, ap.Child("unsuccessfulRunHistoryLimit"))...)
	}

	sp := p.Child("strategy")
	switch {
	case spec.Strategy.Canary == nil && spec.Strategy.BlueGreen == nil:
		allErrs = append(allErrs, field.Required(sp, "set exactly one strategy: canary or blueGreen"))
	case spec.Strategy.Canary != nil && spec.Strategy.BlueGreen != nil:
		allErrs = append(allErrs, field.Invalid(sp, "canary, blueGreen", "set exactly one strategy: canary and blueGreen cannot both be set"))
	case spec.Strategy.Canary != nil:
		allErrs = append(allErrs, validateCanary(spec, spec.Strategy.Canary, sp.Child("canary"))...)
	default:
		allErrs = append(allErrs, validateBlueGreen(spec, spec.Strategy.BlueGreen, sp.Child("blueGreen"))...)
	}
	return allErrs
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

func validateBlueGreen(spec *RolloutSpec, bg *BlueGreenStrategy, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if bg.ActiveService == "" {
		allErrs = append(allErrs, field.Required(p.Child("activeService"), "name the Service that receives production traffic"))
	} else if bg.PreviewService == bg.ActiveService {
		allErrs = append(allErrs, field.Invalid(p.Child("previewService"), bg.PreviewService, "must differ from activeService: blue/green needs two different Services"))
	}
	allErrs = append(allErrs, validateNonNegativePtr(bg.PreviewReplicaCount, p.Child("previewReplicaCount"))...)
	allErrs = append(allErrs, validateNonNegative(int64(bg.AutoPromotionSeconds), p.Child("autoPromotionSeconds"))...)
	allErrs = append(allErrs, validateNonNegativePtr(bg.ScaleDownDelaySeconds, p.Child("scaleDownDelaySeconds"))...)
	allErrs = append(allErrs, validateNonNegativePtr(bg.AbortScaleDownDelaySeconds, p.Child("abortScaleDownDelaySeconds"))...)
	allErrs = append(allErrs, validateScaleDownRevisionLimit(spec, bg.ScaleDownDelayRevisionLimit, p.Child("scaleDownDelayRevisionLimit"))...)
	allErrs = append(allErrs, validateIntOrPercent(bg.MaxUnavailable, p.Child("maxUnavailable"), true)...)
	if bg.PrePromotionAnalysis != nil {
		allErrs = append(allErrs, validateRolloutAnalysis(bg.PrePromotionAnalysis, p.Child("prePromotionAnalysis"))...)
	}
	if bg.PostPromotionAnalysis != nil {
		allErrs = append(allErrs, validateRolloutAnalysis(bg.PostPromotionAnalysis, p.Child("postPromotionAnalysis"))...)
	}
	allErrs = append(allErrs, validateAntiAffinity(bg.AntiAffinity, p.Child("antiAffinity"))...)
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
		return field.ErrorList{field.Invalid(p, *limit, fmt.Sprintf("must not be greater than revisionHistoryLimit (%d)", rh))}
	}
	return nil
}

func validateAntiAffinity(a *AntiAffinity, p *field.Path) field.ErrorList {
	if a == nil {
		return nil
	}
	pref, req := a.PreferredDuringSchedulingIgnoredDuringExecution, a.RequiredDuringSchedulingIgnoredDuringExecution
	if (pref == nil) == (req == nil) {
		return field.ErrorList{field.Invalid(p, field.OmitValueType{}, "set exactly one of preferredDuringSchedulingIgnoredDuringExecution or requiredDuringSchedulingIgnoredDuringExecution")}
	}
	if pref != nil && (pref.Weight < 1 || pref.Weight > 100) {
		return field.ErrorList{field.Invalid(p.Child("preferredDuringSchedulingIgnoredDuringExecution", "weight"), pref.Weight, "must be between 1 and 100")}
	}
	return nil
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

func validateCanary(spec *RolloutSpec, c *CanaryStrategy, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	tr := c.TrafficRouting

	if c.CanaryService != "" && c.CanaryService == c.StableService {
		allErrs = append(allErrs, field.Invalid(p.Child("stableService"), c.StableService, "must differ from canaryService: the canary needs two different Services"))
	}
	if requiresCanaryAndStableServices(c) {
		if c.CanaryService == "" {
			allErrs = append(allErrs, field.Required(p.Child("canaryService"), "trafficRouting needs both canaryService and stableService"))
		}
		if c.StableService == "" {
			allErrs = append(allErrs, field.Required(p.Child("stableService"), "trafficRouting needs both canaryService and stableService"))
		}
	}

	allErrs = append(allErrs, validateIntOrPercent(c.MaxSurge, p.Child("maxSurge"), false)...)
	allErrs = append(allErrs, validateIntOrPercent(c.MaxUnavailable, p.Child("maxUnavailable"), true)...)
	if maxSurge := c.EffectiveMaxSurge(); intOrPercentIsZero(maxSurge) && intOrPercentIsZero(c.EffectiveMaxUnavailable()) {
		allErrs = append(allErrs, field.Invalid(p.Child("maxSurge"), maxSurge.String(), "maxSurge and maxUnavailable cannot both be 0: the update could never make progress"))
	}

	allErrs = append(allErrs, validateNonNegativePtr(c.ScaleDownDelaySeconds, p.Child("scaleDownDelaySeconds"))...)
	allErrs = append(allErrs, validateNonNegativePtr(c.AbortScaleDownDelaySeconds, p.Child("abortScaleDownDelaySeconds"))...)
	allErrs = append(allErrs, validateNonNegativePtr(c.MinPodsPerReplicaSet, p.Child("minPodsPerReplicaSet"))...)
	allErrs = append(allErrs, validateScaleDownRevisionLimit(spec, c.ScaleDownDelayRevisionLimit, p.Child("scaleDownDelayRevisionLimit"))...)
	if tr == nil {
		if c.ScaleDownDelaySeconds != nil {
			allErrs = append(allErrs, field.Invalid(p.Child("scaleDownDelaySeconds"), *c.ScaleDownDelaySeconds, "only applies with trafficRouting"))
		}
		if c.DynamicStableScale {
			allErrs = append(allErrs, field.Invalid(p.Child("dynamicStableScale"), true, "only applies with trafficRouting"))
		}
	} else {
		if c.ScaleDownDelaySeconds != nil && c.DynamicStableScale {
			allErrs = append(allErrs, field.Invalid(p.Child("dynamicStableScale"), true, "cannot be used together with scaleDownDelaySeconds"))
		}
		allErrs = append(allErrs, validateTrafficRouting(c, tr, p.Child("trafficRouting"))...)
	}

	if pp := c.PingPong; pp != nil {
		ppp := p.Child("pingPong")
		if pp.PingService == "" {
			allErrs = append(allErrs, field.Required(ppp.Child("pingService"), "ping-pong needs both pingService and pongService"))
		}
		if pp.PongService == "" {
			allErrs = append(allErrs, field.Required(ppp.Child("pongService"), "ping-pong needs both pingService and pongService"))
		}
		if pp.PingService != "" && pp.PingService == pp.PongService {
			allErrs = append(allErrs, field.Invalid(ppp.Child("pongService"), pp.PongService, "must differ from pingService"))
		}
		if tr == nil || tr.ALB == nil {
			allErrs = append(allErrs, field.Invalid(ppp, field.OmitValueType{}, "ping-pong only works with trafficRouting.alb"))
		} else if tr.ALB.RootService == "" {
			allErrs = append(allErrs, field.Required(p.Child("trafficRouting", "alb", "rootService"), "ping-pong with ALB needs rootService"))
		}
	}

	if c.Analysis != nil {
		ap := p.Child("analysis")
		allErrs = append(allErrs, validateRolloutAnalysis(&c.Analysis.RolloutAnalysis, ap)...)
		allErrs = append(allErrs, validateNonNegativePtr(c.Analysis.StartingStep, ap.Child("startingStep"))...)
	}
	allErrs = append(allErrs, validateAntiAffinity(c.AntiAffinity, p.Child("antiAffinity"))...)

	for i := range c.Steps {
		allErrs = append(allErrs, validateCanaryStep(c, &c.Steps[i], p.Child("steps").Index(i))...)
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

func validateCanaryStep(c *CanaryStrategy, s *CanaryStep, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	tr := c.TrafficRouting

	// Exactly one action per step. Argo only rejects some combinations;
	// Vane rejects them all, since the order of two actions in one step
	// would be ambiguous.
	switch actions := stepActions(s); len(actions) {
	case 0:
		allErrs = append(allErrs, field.Required(p, "a step needs exactly one action: setWeight, pause, experiment, analysis, setCanaryScale, setHeaderRoute, setMirrorRoute or plugin"))
	case 1:
	default:
		allErrs = append(allErrs, field.Invalid(p, strings.Join(actions, ", "), "a step must have exactly one action; split these into separate steps"))
	}

	if s.SetWeight != nil {
		max := c.EffectiveMaxTrafficWeight()
		if *s.SetWeight < 0 || *s.SetWeight > max {
			allErrs = append(allErrs, field.Invalid(p.Child("setWeight"), *s.SetWeight, fmt.Sprintf("must be between 0 and %d", max)))
		}
	}
	if s.Pause != nil {
		allErrs = append(allErrs, validateDuration(s.Pause.Duration, p.Child("pause", "duration"), false)...)
	}
	if cs := s.SetCanaryScale; cs != nil {
		cp := p.Child("setCanaryScale")
		if tr == nil {
			allErrs = append(allErrs, field.Invalid(cp, field.OmitValueType{}, "setCanaryScale requires trafficRouting"))
		}
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
	}
	if hr := s.SetHeaderRoute; hr != nil {
		hp := p.Child("setHeaderRoute")
		if tr == nil || (tr.Istio == nil && tr.ALB == nil && tr.Apisix == nil && len(tr.Plugins) == 0) {
			allErrs = append(allErrs, field.Invalid(hp, field.OmitValueType{}, "setHeaderRoute requires trafficRouting with istio, alb, apisix or a plugin"))
		} else {
			allErrs = append(allErrs, validateManagedRoute(tr, hr.Name, hp.Child("name"))...)
		}
		for j, m := range hr.Match {
			mp := hp.Child("match").Index(j)
			if m.HeaderName == "" {
				allErrs = append(allErrs, field.Required(mp.Child("headerName"), "name the header to match"))
			}
			if tr != nil && tr.ALB != nil && m.HeaderValue != nil && (m.HeaderValue.Exact == "" || m.HeaderValue.Prefix != "" || m.HeaderValue.Regex != "") {
				allErrs = append(allErrs, field.Invalid(mp.Child("headerValue"), field.OmitValueType{}, "ALB only supports exact header matches"))
				continue
			}
			allErrs = append(allErrs, validateStringMatch(m.HeaderValue, mp.Child("headerValue"))...)
		}
	}
	if mr := s.SetMirrorRoute; mr != nil {
		mp := p.Child("setMirrorRoute")
		if tr == nil || (tr.Istio == nil && len(tr.Plugins) == 0) {
			allErrs = append(allErrs, field.Invalid(mp, field.OmitValueType{}, "setMirrorRoute requires trafficRouting with istio or a plugin"))
		} else {
			allErrs = append(allErrs, validateManagedRoute(tr, mr.Name, mp.Child("name"))...)
		}
		if mr.Percentage != nil && (*mr.Percentage < 0 || *mr.Percentage > 100) {
			allErrs = append(allErrs, field.Invalid(mp.Child("percentage"), *mr.Percentage, "must be between 0 and 100"))
		}
		for j, m := range mr.Match {
			matchPath := mp.Child("match").Index(j)
			if m.Method != nil {
				allErrs = append(allErrs, validateStringMatch(m.Method, matchPath.Child("method"))...)
			}
			if m.Path != nil {
				allErrs = append(allErrs, validateStringMatch(m.Path, matchPath.Child("path"))...)
			}
			for _, name := range sets.List(sets.KeySet(m.Headers)) {
				v := m.Headers[name]
				allErrs = append(allErrs, validateStringMatch(&v, matchPath.Child("headers").Key(name))...)
			}
		}
	}
	if s.Analysis != nil {
		allErrs = append(allErrs, validateRolloutAnalysis(s.Analysis, p.Child("analysis"))...)
	}
	if s.Experiment != nil {
		allErrs = append(allErrs, validateExperimentStep(c, s.Experiment, p.Child("experiment"))...)
	}
	if s.Plugin != nil && s.Plugin.Name == "" {
		allErrs = append(allErrs, field.Required(p.Child("plugin", "name"), "name the step plugin"))
	}
	return allErrs
}

func validateManagedRoute(tr *RolloutTrafficRouting, name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "name the route; it must be listed in trafficRouting.managedRoutes")}
	}
	for _, r := range tr.ManagedRoutes {
		if r.Name == name {
			return nil
		}
	}
	return field.ErrorList{field.Invalid(p, name, "route is not listed in spec.strategy.canary.trafficRouting.managedRoutes")}
}

func validateStringMatch(m *StringMatch, p *field.Path) field.ErrorList {
	if m == nil {
		return field.ErrorList{field.Required(p, "set one of exact, prefix or regex")}
	}
	n := 0
	for _, v := range []string{m.Exact, m.Prefix, m.Regex} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return field.ErrorList{field.Invalid(p, field.OmitValueType{}, "set exactly one of exact, prefix or regex")}
	}
	return nil
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

func validateExperimentStep(c *CanaryStrategy, e *RolloutExperimentStep, p *field.Path) field.ErrorList {
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
		if t.Weight != nil {
			switch {
			case c.TrafficRouting == nil:
				allErrs = append(allErrs, field.Invalid(tp.Child("weight"), *t.Weight, "experiment template weight requires trafficRouting"))
			case *t.Weight < 0 || *t.Weight > 100:
				allErrs = append(allErrs, field.Invalid(tp.Child("weight"), *t.Weight, "must be between 0 and 100"))
			}
		}
		if t.Selector != nil {
			_, errs := validateSelector(t.Selector, tp.Child("selector"))
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
