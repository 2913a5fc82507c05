package plugin

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

// argoMetric and argoRollout have the layout of the parts of Argo Rollouts' types the wire
// form changes: DurationString is a string there, a pause's duration an int-or-string.
type argoMetric struct {
	Name             string
	Interval         string
	InitialDelay     string
	Count            *intstr.IntOrString
	SuccessCondition string
	Provider         struct {
		Datadog *struct{ Interval, Query string }
		Plugin  map[string]json.RawMessage
	}
}

type argoRollout struct {
	ObjectMeta metav1.ObjectMeta
	Spec       struct {
		Strategy struct {
			Canary *struct {
				Steps []struct {
					Pause      *struct{ Duration *intstr.IntOrString }
					Experiment *struct{ Duration string }
				}
			}
		}
	}
	Status struct {
		Canary struct {
			StepPluginStatuses []struct {
				Name    string
				Backoff string
			}
		}
	}
}

func gobRoundTrip(t *testing.T, in, out any) error {
	t.Helper()
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(in); err != nil {
		t.Fatalf("encoding: %v", err)
	}
	return gob.NewDecoder(&buf).Decode(out)
}

// TestWireMetric: a Metric's durations reach an Argo-shaped decoder as Go duration strings,
// everything else as it is; sent without Wire, the Metric does not decode at all.
func TestWireMetric(t *testing.T) {
	for name, tc := range map[string]struct {
		interval, delay v1alpha1.DurationString
		want            argoMetric
	}{
		"numbers of seconds": {interval: v1alpha1.DurationFromInt(5), delay: v1alpha1.DurationFromString("90"),
			want: argoMetric{Interval: "5s", InitialDelay: "90s"}},
		"go durations": {interval: v1alpha1.DurationFromString("1m30s"), delay: v1alpha1.DurationFromString("2h"),
			want: argoMetric{Interval: "1m30s", InitialDelay: "2h"}},
	} {
		t.Run(name, func(t *testing.T) {
			m := v1alpha1.Metric{Name: "rate", Interval: &tc.interval, InitialDelay: &tc.delay, Count: ptr.To(intstr.FromInt32(3)),
				SuccessCondition: "result[0] > 0.9", Provider: v1alpha1.MetricProvider{
					Datadog: &v1alpha1.DatadogMetric{Interval: &tc.interval, Query: "avg:cpu"},
					Plugin:  map[string]json.RawMessage{"argoproj/sample": json.RawMessage(`{"query":"up"}`)}}}
			want := tc.want
			want.Name, want.Count, want.SuccessCondition = "rate", ptr.To(intstr.FromInt32(3)), "result[0] > 0.9"
			want.Provider.Datadog = &struct{ Interval, Query string }{tc.want.Interval, "avg:cpu"}
			want.Provider.Plugin = map[string]json.RawMessage{"argoproj/sample": json.RawMessage(`{"query":"up"}`)}
			var got argoMetric
			if err := gobRoundTrip(t, Wire(m), &got); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("-want +got:\n%s", d)
			}
			err := gobRoundTrip(t, m, &argoMetric{})
			if err == nil || !strings.Contains(err.Error(), "wrong type") {
				t.Errorf("Vane's Metric decoded into Argo's layout without Wire: %v", err)
			}
		})
	}
}

// TestWireRollout: a pause keeps its int-or-string duration, an experiment step and a step
// plugin's backoff get strings, and the object's metadata is sent as it is.
func TestWireRollout(t *testing.T) {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "u-1", Labels: map[string]string{"app": "web"}}}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
		{Pause: &v1alpha1.RolloutPause{Duration: ptr.To(v1alpha1.DurationFromInt(10))}},
		{Pause: &v1alpha1.RolloutPause{Duration: ptr.To(v1alpha1.DurationFromString("1m"))}},
		{Experiment: &v1alpha1.RolloutExperimentStep{Duration: ptr.To(v1alpha1.DurationFromString("1h"))}},
	}}
	ro.Status.Canary.StepPluginStatuses = []v1alpha1.StepPluginStatus{{Name: "argoproj/step", Backoff: ptr.To(v1alpha1.DurationFromString("30s"))}}
	var got argoRollout
	if err := gobRoundTrip(t, Wire(*ro), &got); err != nil {
		t.Fatal(err)
	}
	steps := got.Spec.Strategy.Canary.Steps
	for name, c := range map[string]struct{ got, want any }{
		"metadata":           {got.ObjectMeta, ro.ObjectMeta},
		"pause in seconds":   {steps[0].Pause.Duration, ptr.To(intstr.FromInt32(10))},
		"pause as a string":  {steps[1].Pause.Duration, ptr.To(intstr.FromString("1m"))},
		"experiment":         {steps[2].Experiment.Duration, "1h"},
		"step plugin status": {got.Status.Canary.StepPluginStatuses[0].Backoff, "30s"},
	} {
		if d := cmp.Diff(c.want, c.got); d != "" {
			t.Errorf("%s: -want +got:\n%s", name, d)
		}
	}
}
