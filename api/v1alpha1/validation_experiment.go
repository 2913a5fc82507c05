package v1alpha1

import (
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateExperiment checks an Experiment.
func ValidateExperiment(e *Experiment) field.ErrorList {
	p := field.NewPath("spec")
	spec := &e.Spec
	var allErrs field.ErrorList

	if len(spec.Templates) == 0 {
		allErrs = append(allErrs, field.Required(p.Child("templates"), "an experiment needs at least one template"))
	}
	names := sets.New[string]()
	selectors := map[string]string{} // selector string -> template name
	for i := range spec.Templates {
		t := &spec.Templates[i]
		tp := p.Child("templates").Index(i)
		switch {
		case t.Name == "":
			allErrs = append(allErrs, field.Required(tp.Child("name"), "every template needs a name"))
		case names.Has(t.Name):
			allErrs = append(allErrs, field.Duplicate(tp.Child("name"), t.Name))
		}
		names.Insert(t.Name)
		allErrs = append(allErrs, validateNonNegativePtr(t.Replicas, tp.Child("replicas"))...)
		allErrs = append(allErrs, validateNonNegative(int64(t.MinReadySeconds), tp.Child("minReadySeconds"))...)
		if t.Selector == nil {
			allErrs = append(allErrs, field.Required(tp.Child("selector"), "every template needs a selector that matches its pod labels"))
			allErrs = append(allErrs, validatePodTemplate(&t.Template, nil, tp.Child("template"))...)
			continue
		}
		sel, errs := validateSelector(t.Selector, tp.Child("selector"), emptySelectorDetail)
		allErrs = append(allErrs, errs...)
		if sel != nil {
			if other, dup := selectors[sel.String()]; dup {
				allErrs = append(allErrs, field.Invalid(tp.Child("selector"), sel.String(), "must differ from the selector of template "+other))
			}
			selectors[sel.String()] = t.Name
		}
		allErrs = append(allErrs, validatePodTemplate(&t.Template, sel, tp.Child("template"))...)
	}

	allErrs = append(allErrs, validateDuration(spec.Duration, p.Child("duration"), false)...)
	if spec.ProgressDeadlineSeconds != nil && *spec.ProgressDeadlineSeconds <= 0 {
		allErrs = append(allErrs, field.Invalid(p.Child("progressDeadlineSeconds"), *spec.ProgressDeadlineSeconds, "must be greater than 0"))
	}
	allErrs = append(allErrs, validateNonNegativePtr(spec.ScaleDownDelaySeconds, p.Child("scaleDownDelaySeconds"))...)

	analyses := sets.New[string]()
	for i, a := range spec.Analyses {
		ap := p.Child("analyses").Index(i)
		switch {
		case a.Name == "":
			allErrs = append(allErrs, field.Required(ap.Child("name"), "every analysis needs a name"))
		case analyses.Has(a.Name):
			allErrs = append(allErrs, field.Duplicate(ap.Child("name"), a.Name))
		}
		analyses.Insert(a.Name)
		if a.TemplateName == "" {
			allErrs = append(allErrs, field.Required(ap.Child("templateName"), "name the analysis template to run"))
		}
		allErrs = append(allErrs, validateArguments(a.Args, ap.Child("args"), false)...)
	}
	allErrs = append(allErrs, validateDryRunAndRetention(spec.DryRun, spec.MeasurementRetention, nil, p)...)
	return allErrs
}
