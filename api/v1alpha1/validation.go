package v1alpha1

// Validation.
//
// Each kind has a pure validation function (ValidateRollout,
// ValidateAnalysisTemplate, ValidateClusterAnalysisTemplate,
// ValidateAnalysisRun, ValidateExperiment) that returns a field.ErrorList
// (and RolloutWarnings, in validation_warnings.go, for the fields of a valid
// Rollout that Vane stores but does not act on):
// every error names the field path (e.g. spec.strategy.canary.steps[2].setWeight)
// and says what is wrong in words a person understands. The functions read
// the object only; they never change it and need no cluster access, so the
// controller, a webhook and a CLI linter can all use them.
//
// The checks follow Argo Rollouts' validation (pkg/apis/rollouts/validation
// and the analysis helpers) and add a few that Argo leaves to run time, such
// as parsing every duration. Where Vane is stricter than Argo it is noted
// at the check.

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validateNonNegative(v int64, p *field.Path) field.ErrorList {
	if v < 0 {
		return field.ErrorList{field.Invalid(p, v, "must be greater than or equal to 0")}
	}
	return nil
}

func validateNonNegativePtr(v *int32, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return validateNonNegative(int64(*v), p)
}

// validateDuration checks that d parses and is not negative; positive also
// rejects zero.
func validateDuration(d *DurationString, p *field.Path, positive bool) field.ErrorList {
	if d == nil {
		return nil
	}
	dur, err := d.Duration()
	if err != nil {
		return field.ErrorList{field.Invalid(p, d.String(), err.Error())}
	}
	if dur < 0 {
		return field.ErrorList{field.Invalid(p, d.String(), "must not be negative")}
	}
	if positive && dur == 0 {
		return field.ErrorList{field.Invalid(p, d.String(), "must be greater than 0")}
	}
	return nil
}

// validateIntOrPercent checks a maxSurge/maxUnavailable value: a
// non-negative integer or a percentage such as "25%". With max100 a
// percentage above 100% is rejected.
func validateIntOrPercent(v *intstr.IntOrString, p *field.Path, max100 bool) field.ErrorList {
	if v == nil {
		return nil
	}
	if v.Type == intstr.Int {
		return validateNonNegative(int64(v.IntVal), p)
	}
	if msgs := utilvalidation.IsValidPercent(v.StrVal); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, v.StrVal, "must be a whole number or a percentage such as 25%")}
	}
	if max100 {
		if n, _ := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%")); n > 100 {
			return field.ErrorList{field.Invalid(p, v.StrVal, "must not be more than 100%")}
		}
	}
	return nil
}

// intOrPercentIsZero reports whether v is 0 or "0%" (an invalid value is not zero).
func intOrPercentIsZero(v intstr.IntOrString) bool {
	if v.Type == intstr.Int {
		return v.IntVal == 0
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	return err == nil && strings.HasSuffix(v.StrVal, "%") && n == 0
}

// validateLimit checks an int-or-string metric limit: an integer >= min, or
// an {{args.NAME}} placeholder resolved when the run starts.
func validateLimit(v *intstr.IntOrString, p *field.Path, min int32) field.ErrorList {
	if v == nil {
		return nil
	}
	if v.Type == intstr.String && IsArgPlaceholder(v.StrVal) {
		return nil
	}
	n, err := ResolveIntOrString(*v)
	if err != nil {
		return field.ErrorList{field.Invalid(p, v.String(), "must be an integer or an {{args.NAME}} placeholder")}
	}
	if n < min {
		return field.ErrorList{field.Invalid(p, n, fmt.Sprintf("must be greater than or equal to %d", min))}
	}
	return nil
}

// resolvedInt returns the integer in v when it is known now (not a placeholder).
func resolvedInt(v *intstr.IntOrString) (int32, bool) {
	if v == nil {
		return 0, false
	}
	n, err := ResolveIntOrString(*v)
	return n, err == nil
}

// emptySelectorDetail is Vane's text for an empty selector of an experiment's template.
const emptySelectorDetail = "must not be empty: an empty selector would select every pod in the namespace"

// validateSelector checks a pod selector as a ReplicaSet's: valid, and not empty (emptyDetail
// says why).
func validateSelector(sel *metav1.LabelSelector, p *field.Path, emptyDetail string) (labels.Selector, field.ErrorList) {
	allErrs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, p)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		allErrs = append(allErrs, field.Invalid(p, sel, emptyDetail))
	}
	if len(allErrs) > 0 {
		return nil, allErrs
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, field.ErrorList{field.Invalid(p, sel, err.Error())}
	}
	return s, nil
}

// validatePodTemplate checks the parts of a pod template that a ReplicaSet
// needs: labels matching the selector, at least one container, unique
// container names, and restartPolicy Always, with the texts of Kubernetes'
// ValidatePodTemplateSpecForReplicaSet (which Argo runs). It is not the full
// Kubernetes pod validation (the API server schema and the ReplicaSet the
// controller creates cover the rest).
func validatePodTemplate(t *corev1.PodTemplateSpec, sel labels.Selector, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if sel != nil && !sel.Matches(labels.Set(t.Labels)) {
		allErrs = append(allErrs, field.Invalid(p.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	for _, msg := range metav1validation.ValidateLabels(t.Labels, p.Child("metadata", "labels")) {
		allErrs = append(allErrs, msg)
	}
	specPath := p.Child("spec")
	if len(t.Spec.Containers) == 0 {
		allErrs = append(allErrs, field.Required(specPath.Child("containers"), ""))
	}
	names := sets.New[string]()
	check := func(list string, name string, i int) {
		np := specPath.Child(list).Index(i).Child("name")
		switch {
		case name == "":
			allErrs = append(allErrs, field.Required(np, ""))
		case names.Has(name):
			allErrs = append(allErrs, field.Duplicate(np, name))
		default:
			for _, msg := range utilvalidation.IsDNS1123Label(name) {
				allErrs = append(allErrs, field.Invalid(np, name, msg))
			}
		}
		names.Insert(name)
	}
	for i, c := range t.Spec.InitContainers {
		check("initContainers", c.Name, i)
	}
	for i, c := range t.Spec.Containers {
		check("containers", c.Name, i)
	}
	if rp := t.Spec.RestartPolicy; rp != "" && rp != corev1.RestartPolicyAlways {
		allErrs = append(allErrs, field.NotSupported(specPath.Child("restartPolicy"), rp, []string{string(corev1.RestartPolicyAlways)}))
	}
	return allErrs
}

// validateAnalysisRunArguments checks the arguments a Rollout passes to
// analysis templates.
func validateAnalysisRunArguments(args []AnalysisRunArgument, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	seen := sets.New[string]()
	for i, a := range args {
		ap := p.Index(i)
		allErrs = append(allErrs, validateArgName(a.Name, seen, ap.Child("name"))...)
		if a.ValueFrom == nil {
			continue
		}
		vp := ap.Child("valueFrom")
		if a.Value != "" {
			allErrs = append(allErrs, field.Invalid(vp, field.OmitValueType{}, "set value or valueFrom, not both"))
		}
		n := 0
		if a.ValueFrom.PodTemplateHashValue != nil {
			n++
			if v := *a.ValueFrom.PodTemplateHashValue; v != Stable && v != Latest {
				allErrs = append(allErrs, field.NotSupported(vp.Child("podTemplateHashValue"), v, []string{string(Stable), string(Latest)}))
			}
		}
		if a.ValueFrom.FieldRef != nil {
			n++
			allErrs = append(allErrs, validateFieldRef(a.ValueFrom.FieldRef, vp.Child("fieldRef"))...)
		}
		if n != 1 {
			allErrs = append(allErrs, field.Invalid(vp, field.OmitValueType{}, "set exactly one of podTemplateHashValue or fieldRef"))
		}
	}
	return allErrs
}

// validateArguments checks template arguments (and the values given for
// them). With needValue every argument must have a value or valueFrom.
func validateArguments(args []Argument, p *field.Path, needValue bool) field.ErrorList {
	var allErrs field.ErrorList
	seen := sets.New[string]()
	for i, a := range args {
		ap := p.Index(i)
		allErrs = append(allErrs, validateArgName(a.Name, seen, ap.Child("name"))...)
		if a.Value != nil && a.ValueFrom != nil {
			allErrs = append(allErrs, field.Invalid(ap.Child("valueFrom"), field.OmitValueType{}, "set value or valueFrom, not both"))
		}
		if needValue && a.Value == nil && a.ValueFrom == nil {
			allErrs = append(allErrs, field.Required(ap.Child("value"), fmt.Sprintf("argument %q has no value: set value or valueFrom", a.Name)))
		}
		if a.ValueFrom == nil {
			continue
		}
		vp := ap.Child("valueFrom")
		n := 0
		if r := a.ValueFrom.SecretKeyRef; r != nil {
			n++
			if r.Name == "" {
				allErrs = append(allErrs, field.Required(vp.Child("secretKeyRef", "name"), "name the Secret"))
			}
			if r.Key == "" {
				allErrs = append(allErrs, field.Required(vp.Child("secretKeyRef", "key"), "name the key in the Secret"))
			}
		}
		if a.ValueFrom.FieldRef != nil {
			n++
			allErrs = append(allErrs, validateFieldRef(a.ValueFrom.FieldRef, vp.Child("fieldRef"))...)
		}
		if n != 1 {
			allErrs = append(allErrs, field.Invalid(vp, field.OmitValueType{}, "set exactly one of secretKeyRef or fieldRef"))
		}
	}
	return allErrs
}

func validateArgName(name string, seen sets.Set[string], p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "every argument needs a name")}
	}
	if seen.Has(name) {
		return field.ErrorList{field.Duplicate(p, name)}
	}
	seen.Insert(name)
	return nil
}

func validateFieldRef(f *FieldRef, p *field.Path) field.ErrorList {
	if strings.TrimSpace(f.FieldPath) == "" {
		return field.ErrorList{field.Required(p.Child("fieldPath"), "give the path of the field, e.g. metadata.labels['app']")}
	}
	return nil
}

// validateDryRunAndRetention checks dryRun and measurementRetention entries.
// When metricNames is not nil each entry must name one of them or "*".
func validateDryRunAndRetention(dryRun []DryRun, retention []MeasurementRetention, metricNames sets.Set[string], p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	known := func(name string, np *field.Path) {
		switch {
		case name == "":
			allErrs = append(allErrs, field.Required(np, "name a metric, or * for all metrics"))
		case name != "*" && metricNames != nil && !metricNames.Has(name):
			allErrs = append(allErrs, field.Invalid(np, name, "no metric of this name in the template"))
		}
	}
	for i, d := range dryRun {
		known(d.MetricName, p.Child("dryRun").Index(i).Child("metricName"))
	}
	for i, r := range retention {
		rp := p.Child("measurementRetention").Index(i)
		known(r.MetricName, rp.Child("metricName"))
		allErrs = append(allErrs, validateNonNegative(int64(r.Limit), rp.Child("limit"))...)
	}
	return allErrs
}

// setFields returns the names of the non-nil entries, sorted, for messages.
func setFields(m map[string]bool) []string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
