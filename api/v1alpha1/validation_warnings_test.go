package v1alpha1

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

func TestRolloutWarnings(t *testing.T) {
	subsets := func(r *Rollout) {
		r.Spec.Strategy.Canary.TrafficRouting.Istio.DestinationRule = &IstioDestinationRule{
			Name: "web", CanarySubsetName: "canary", StableSubsetName: "stable", AdditionalSubsetNames: []string{"legacy"}}
	}
	antiAffinity := func(r *Rollout) {
		r.Spec.Strategy.Canary.AntiAffinity = &AntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &RequiredDuringSchedulingIgnoredDuringExecution{}}
	}
	threshold := func(r *Rollout) {
		r.Spec.Strategy.Canary.ReplicaProgressThreshold = &ReplicaProgressThreshold{Type: ProgressTypePercentage, Value: 90}
	}
	const (
		subsetsField   = "spec.strategy.canary.trafficRouting.istio.destinationRule.additionalSubsetNames"
		thresholdField = "spec.strategy.canary.replicaProgressThreshold"
	)
	cases := map[string]struct {
		rollout *Rollout
		fields  []string
	}{
		"canary":     {canaryRollout(), nil},
		"routed":     {trafficRollout(), nil},
		"blue/green": {blueGreenRollout(), nil}, // its antiAffinity is acted on
		"destination rule without additional subsets": {mutated(trafficRollout, func(r *Rollout) {
			subsets(r)
			r.Spec.Strategy.Canary.TrafficRouting.Istio.DestinationRule.AdditionalSubsetNames = []string{}
		}), nil},
		"additional subsets":   {mutated(trafficRollout, subsets), []string{subsetsField}},
		"canary anti-affinity": {mutated(canaryRollout, antiAffinity), nil}, // acted on, as for blue/green
		"progress threshold":   {mutated(canaryRollout, threshold), []string{thresholdField}},
		"all three: the two not acted on, in the order of the spec": {mutated(trafficRollout, func(r *Rollout) {
			threshold(r)
			antiAffinity(r)
			subsets(r)
		}), []string{subsetsField, thresholdField}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			// the fields are valid: warnings, never errors
			if errs := ValidateRollout(tc.rollout); len(errs) > 0 {
				t.Fatalf("ValidateRollout: %v", errs.ToAggregate())
			}
			var fields []string
			for _, w := range RolloutWarnings(tc.rollout) {
				fields = append(fields, w.Field)
				if !strings.HasPrefix(w.String(), w.Field+": stored but not acted on: ") || !strings.Contains(w.Message, "Argo Rollouts") {
					t.Errorf("warning %q does not say what Vane does instead of Argo", w)
				}
			}
			if diff := cmp.Diff(tc.fields, fields); diff != "" {
				t.Errorf("warned fields (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRolloutWarningsFields checks that every field RolloutWarnings names is a path of Vane's
// Rollout CRD, and that a manifest setting them decodes strictly into Vane's types.
func TestRolloutWarningsFields(t *testing.T) {
	const manifest = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: example.invalid/app:1}]}
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      antiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: {weight: 50}}
      replicaProgressThreshold: {type: Pods, value: 2}
      trafficRouting:
        istio:
          virtualService: {name: web}
          destinationRule: {name: web, canarySubsetName: canary, stableSubsetName: stable, additionalSubsetNames: [legacy, shadow]}
      steps: [{setWeight: 20}, {pause: {}}]
`
	var r Rollout
	if err := yaml.UnmarshalStrict([]byte(manifest), &r); err != nil {
		t.Fatal(err)
	}
	c := r.Spec.Strategy.Canary
	if got := *c.ReplicaProgressThreshold; got != (ReplicaProgressThreshold{Type: ProgressTypePods, Value: 2}) {
		t.Errorf("replicaProgressThreshold = %+v", got)
	}
	if got := c.TrafficRouting.Istio.DestinationRule.AdditionalSubsetNames; !cmp.Equal(got, []string{"legacy", "shadow"}) {
		t.Errorf("additionalSubsetNames = %v", got)
	}
	if errs := ValidateRollout(&r); len(errs) > 0 {
		t.Fatalf("ValidateRollout: %v", errs.ToAggregate())
	}
	warnings := RolloutWarnings(&r)
	if len(warnings) != 2 {
		t.Fatalf("warnings = %v, want 2", warnings)
	}
	paths := map[string]schemaNode{}
	schemaPaths(crdSchema(t, filepath.Join("..", "..", "config", "crd", "bases", "argoproj.io_rollouts.yaml")), "", paths)
	index := regexp.MustCompile(`\[[^]]*\]`)
	for _, w := range warnings {
		if _, ok := paths[index.ReplaceAllString(w.Field, "[]")]; !ok {
			t.Errorf("warning on %s, which Vane's Rollout CRD does not have", w.Field)
		}
	}
}
