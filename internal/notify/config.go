package notify

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/argoproj/notifications-engine/pkg/api"
	"github.com/argoproj/notifications-engine/pkg/services"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/api/v1alpha1"
)

// ConfigMapName and SecretName are the objects Argo Rollouts reads its notification settings
// from; Vane reads the same ones.
const (
	ConfigMapName = "argo-rollouts-notification-configmap"
	SecretName    = "argo-rollouts-notification-secret"
)

//go:embed catalog.yaml
var catalogYAML []byte

// Catalog returns the built-in triggers and templates, as ConfigMap data keys
// (trigger.<name>, template.<name>).
func Catalog() (map[string]string, error) {
	data := map[string]string{}
	if err := yaml.Unmarshal(catalogYAML, &data); err != nil {
		return nil, fmt.Errorf("parsing the built-in notification catalog: %w", err)
	}
	return data, nil
}

// withCatalog returns a copy of cm whose data is the built-in catalog overlaid with cm's own
// keys: a user's key replaces the built-in key of the same name.
func withCatalog(cm *corev1.ConfigMap) (*corev1.ConfigMap, error) {
	data, err := Catalog()
	if err != nil {
		return nil, err
	}
	out := cm.DeepCopy()
	maps.Copy(data, cm.Data)
	out.Data = data
	return out, nil
}

// NewAPI builds the engine's API from a ConfigMap and a Secret (either may be empty), the
// built-in catalog filling the keys the ConfigMap does not set. reader lists the rollout's
// AnalysisRuns for the .analysisRuns variable (nil: the variable is absent).
func NewAPI(ctx context.Context, cm *corev1.ConfigMap, secret *corev1.Secret, reader client.Reader) (api.API, error) {
	merged, err := withCatalog(cm)
	if err != nil {
		return nil, err
	}
	if secret == nil {
		secret = &corev1.Secret{}
	}
	cfg, err := api.ParseConfig(merged, secret)
	if err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s: %w", cm.Namespace, ConfigMapName, err)
	}
	a, err := api.NewAPI(*cfg, templateVars(ctx, secret, reader))
	if err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s: %w", cm.Namespace, ConfigMapName, err)
	}
	return a, nil
}

// templateVars returns the variables the templates and trigger conditions see: .rollout,
// .time (Parse, Now), .secrets and .analysisRuns; the engine adds .serviceType and .recipient.
func templateVars(ctx context.Context, secret *corev1.Secret, reader client.Reader) api.GetVars {
	return func(obj map[string]any, _ services.Destination) map[string]any {
		vars := map[string]any{
			"rollout": obj,
			"time":    map[string]any{"Parse": parseTime, "Now": time.Now},
			"secrets": secret.Data,
		}
		if reader == nil {
			return vars
		}
		runs, err := analysisRuns(ctx, reader, obj)
		if err != nil {
			// the templates that use .analysisRuns fail to render, with this variable empty;
			// the others still go out
			return vars
		}
		vars["analysisRuns"] = runs
		return vars
	}
}

// parseTime is .time.Parse: an RFC 3339 timestamp (a zero time if it is not one).
func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

// analysisRuns returns the rollout's AnalysisRuns of its current pod hash and revision,
// newest first, as JSON-like values.
func analysisRuns(ctx context.Context, reader client.Reader, obj map[string]any) (any, error) {
	var ro v1alpha1.Rollout
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &ro); err != nil {
		return nil, fmt.Errorf("reading the rollout: %w", err)
	}
	if ro.Status.CurrentPodHash == "" {
		return nil, nil
	}
	var list v1alpha1.AnalysisRunList
	if err := reader.List(ctx, &list, client.InNamespace(ro.Namespace),
		client.MatchingLabels{v1alpha1.PodTemplateHashLabel: ro.Status.CurrentPodHash}); err != nil {
		return nil, fmt.Errorf("listing the analysis runs of %s/%s: %w", ro.Namespace, ro.Name, err)
	}
	rev := ro.Annotations[v1alpha1.RevisionAnnotation]
	runs := make([]v1alpha1.AnalysisRun, 0, len(list.Items))
	for _, ar := range list.Items {
		if ar.Annotations[v1alpha1.RevisionAnnotation] == rev {
			runs = append(runs, ar)
		}
	}
	if len(runs) == 0 {
		return nil, nil
	}
	sort.SliceStable(runs, func(i, j int) bool {
		return runs[j].CreationTimestamp.Before(&runs[i].CreationTimestamp)
	})
	b, err := json.Marshal(runs)
	if err != nil {
		return nil, fmt.Errorf("encoding analysis runs: %w", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decoding analysis runs: %w", err)
	}
	return out, nil
}

// ObjectMap is a rollout as the templates and conditions see it: its JSON form decoded into
// maps (numbers are float64, as in Argo), with apiVersion and kind.
func ObjectMap(ro *v1alpha1.Rollout) (map[string]any, error) {
	c := ro.DeepCopy()
	c.APIVersion, c.Kind = v1alpha1.GroupVersion.String(), "Rollout"
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encoding rollout %s/%s: %w", ro.Namespace, ro.Name, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decoding rollout %s/%s: %w", ro.Namespace, ro.Name, err)
	}
	return m, nil
}
