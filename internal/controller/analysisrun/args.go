package analysisrun

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis"
)

// resolvedArgs are a run's argument values, and which of them are secret.
type resolvedArgs struct {
	values  map[string]string
	secrets []string
}

// scrub masks the secret values in s.
func (a resolvedArgs) scrub(s string) string { return analysis.Scrub(s, a.secrets) }

// resolveArgs reads the run's argument values: given values, keys of Secrets in the run's
// namespace (read from the API each time, never stored) and fields of the run's owning
// Rollout (or of the run itself when no Rollout owns it). Errors name arguments, Secrets and
// fields, never a secret value.
func (r *Reconciler) resolveArgs(ctx context.Context, run *v1alpha1.AnalysisRun) (resolvedArgs, error) {
	a := resolvedArgs{values: map[string]string{}}
	var fieldSource runtime.Object
	for _, arg := range run.Spec.Args {
		switch {
		case arg.Value != nil:
			a.values[arg.Name] = *arg.Value
		case arg.ValueFrom != nil && arg.ValueFrom.SecretKeyRef != nil:
			ref := arg.ValueFrom.SecretKeyRef
			var sec corev1.Secret
			if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: run.Namespace, Name: ref.Name}, &sec); err != nil {
				return a, fmt.Errorf("argument %q: reading Secret %s/%s: %w", arg.Name, run.Namespace, ref.Name, err)
			}
			v, ok := sec.Data[ref.Key]
			if !ok {
				return a, fmt.Errorf("argument %q: Secret %s/%s has no key %q", arg.Name, run.Namespace, ref.Name, ref.Key)
			}
			a.values[arg.Name] = string(v)
			a.secrets = append(a.secrets, string(v))
		case arg.ValueFrom != nil && arg.ValueFrom.FieldRef != nil:
			if fieldSource == nil {
				var err error
				if fieldSource, err = r.fieldSource(ctx, run); err != nil {
					return a, fmt.Errorf("argument %q: %w", arg.Name, err)
				}
			}
			v, err := analysis.FieldValue(fieldSource, arg.ValueFrom.FieldRef.FieldPath)
			if err != nil {
				return a, fmt.Errorf("argument %q: %w", arg.Name, err)
			}
			a.values[arg.Name] = v
		default:
			return a, fmt.Errorf("argument %q has no value", arg.Name)
		}
	}
	return a, nil
}

// fieldSource is the object fieldRef arguments read: the Rollout that owns the run, or the run.
func (r *Reconciler) fieldSource(ctx context.Context, run *v1alpha1.AnalysisRun) (runtime.Object, error) {
	owner := metav1.GetControllerOf(run)
	if owner == nil || owner.Kind != "Rollout" || owner.APIVersion != v1alpha1.GroupVersion.String() {
		return run, nil
	}
	ro := &v1alpha1.Rollout{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: run.Namespace, Name: owner.Name}, ro); err != nil {
		return nil, fmt.Errorf("reading the owning Rollout %s: %w", owner.Name, err)
	}
	return ro, nil
}
