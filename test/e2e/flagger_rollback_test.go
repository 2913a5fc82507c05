package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/analysis/provider/prometheus/promtest"
	"github.com/vanedev/vane/internal/testenv"
)

// TestFlaggerRollback: seed 003's Canary rolls back during its iterations, by the rollback gate
// or by failed metric checks reaching the threshold; the primary keeps serving the old version.
func TestFlaggerRollback(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mutate func(t *testing.T, cd *flaggerv1.Canary, ns string)
		// during runs once the analysis iterates
		during     func(t *testing.T, env *testenv.Env, ns string)
		wantEvents []string
	}{
		"rollback gate opened": {
			during:     func(t *testing.T, env *testenv.Env, ns string) { postGateOf(t, env, ns, "/rollback/open") },
			wantEvents: []string{"Warning Rollback check rollback passed", "Warning Rolling back api-gateway.%s manual webhook invoked"},
		},
		"failed metric checks": {
			mutate: func(t *testing.T, cd *flaggerv1.Canary, ns string) {
				prom := promtest.Start(t, time.Second)
				mt := &flaggerv1.MetricTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "error-rate"},
					Spec: flaggerv1.MetricTemplateSpec{Provider: flaggerv1.MetricProvider{Type: "prometheus", Address: prom.URL},
						Query: `vector(7) + 0 * count(up{job=~".*{{ target }}.*"} or vector(0))`}}
				if err := testenv.Get(t).Client.Create(context.Background(), mt); err != nil {
					t.Fatal(err)
				}
				cd.Spec.Analysis.Metrics = []flaggerv1.CanaryMetric{{Name: "error-rate", Interval: "1m",
					TemplateRef:    &flaggerv1.CrossNamespaceObjectReference{Name: "error-rate"},
					ThresholdRange: &flaggerv1.ThresholdRange{Max: ptr.To(1.0)}}}
			},
			wantEvents: []string{"Warning Halt api-gateway.%s advancement error-rate 7.00 > 1",
				"Warning Rolling back api-gateway.%s failed checks threshold reached 2"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := withController(t)
			ns := env.Namespace(t)
			canaryEnv(t, env, ns)
			cd := seedCanaryIn(t, env, ns, shortInterval(ns))
			if tc.mutate != nil {
				tc.mutate(t, cd, ns)
			}
			if err := env.Client.Create(context.Background(), cd); err != nil {
				t.Fatal(err)
			}
			waitCanary(t, env, ns, "api-gateway", 60*time.Second, "Initialized", phaseIs(flaggerv1.PhaseInitialized))
			postGateOf(t, env, ns, "/gate/open")
			setDeploymentImage(t, env, ns, "api-gateway", "registry.example/api-gateway:2.0")
			waitCanary(t, env, ns, "api-gateway", 30*time.Second, "Progressing", phaseIs(flaggerv1.PhaseProgressing))
			if tc.during != nil {
				waitCanary(t, env, ns, "api-gateway", 30*time.Second, "iterating", func(cd *flaggerv1.Canary) bool {
					return cd.Status.Iterations >= 2
				})
				tc.during(t, env, ns)
			}
			got := waitCanary(t, env, ns, "api-gateway", 60*time.Second, "Failed", phaseIs(flaggerv1.PhaseFailed))
			if c := got.Status.Conditions; len(c) != 1 || c[0].Status != "False" || c[0].Message != "Canary analysis failed, Deployment scaled to zero." {
				t.Errorf("conditions = %+v", c)
			}
			if img := image(deployment(t, env, ns, "api-gateway-primary")); img != "registry.example/api-gateway:1.0" {
				t.Errorf("primary image = %s after a rollback, want 1.0", img)
			}
			if r := replicas(deployment(t, env, ns, "api-gateway")); r != 0 {
				t.Errorf("canary replicas = %d after a rollback, want 0", r)
			}
			events := canaryEvents(t, env, ns, "api-gateway")
			for _, want := range tc.wantEvents {
				want = strings.Replace(want, "%s", ns, 1)
				if !slices.ContainsFunc(events, func(e string) bool { return strings.HasPrefix(e, want) }) {
					t.Errorf("no event %q among:\n%s", want, strings.Join(events, "\n"))
				}
			}
			time.Sleep(3 * time.Second) // the same revision does not start again
			waitCanary(t, env, ns, "api-gateway", 10*time.Second, "still Failed", phaseIs(flaggerv1.PhaseFailed))
		})
	}
}
