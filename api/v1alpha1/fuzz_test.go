package v1alpha1

import (
	"bytes"
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

// exerciseDefaults reads every accessor of defaults.go that applies to obj.
func exerciseDefaults(obj runtime.Object) {
	metrics := func(ms []Metric) {
		for i := range ms {
			m := &ms[i]
			_, _ = m.EffectiveFailureLimit()
			_, _ = m.EffectiveInconclusiveLimit()
			_, _ = m.EffectiveConsecutiveErrorLimit()
			_, _ = m.EffectiveConsecutiveSuccessLimit()
			_, _ = m.EffectiveCount()
			if m.Interval != nil {
				_, _ = m.Interval.Duration()
			}
			if w := m.Provider.Web; w != nil {
				w.EffectiveMethod()
				w.EffectiveJSONPath()
				w.EffectiveTimeoutSeconds()
			}
			if d := m.Provider.Datadog; d != nil {
				d.EffectiveInterval()
				d.EffectiveAPIVersion()
				_, _ = d.EffectiveRequestTimeout().Duration()
			}
			if n := m.Provider.NewRelic; n != nil {
				n.EffectiveTimeoutSeconds()
			}
		}
	}
	switch o := obj.(type) {
	case *Rollout:
		_ = effectiveOf(o)
		if o.Spec.WorkloadRef != nil {
			o.Spec.WorkloadRef.EffectiveScaleDown()
		}
		if c := o.Spec.Strategy.Canary; c != nil {
			for _, s := range c.Steps {
				if s.Pause != nil && s.Pause.Duration != nil {
					_, _ = s.Pause.Duration.Duration()
				}
			}
		}
	case *AnalysisTemplate:
		metrics(o.Spec.Metrics)
		for _, m := range o.Spec.Metrics {
			EffectiveMeasurementRetention(m.Name, o.Spec.MeasurementRetention)
			IsDryRun(m.Name, o.Spec.DryRun)
		}
	}
}

// fuzzObject decodes data into obj, reads its defaults, validates it and
// checks that encoding is stable: decode(encode(x)) encodes to the same bytes.
func fuzzObject(t *testing.T, data []byte, newObj func() runtime.Object) {
	obj := newObj()
	if err := json.Unmarshal(data, obj); err != nil {
		return
	}
	exerciseDefaults(obj)
	validateObject(obj)
	first, err := json.Marshal(obj)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	again := newObj()
	if err := json.Unmarshal(first, again); err != nil {
		t.Fatalf("decode of own output failed: %v\n%s", err, first)
	}
	second, err := json.Marshal(again)
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	if !bytes.Equal(first, second) {
		t.Fatalf("encoding is not stable:\nfirst:  %s\nsecond: %s", first, second)
	}
	if after, _ := json.Marshal(obj); !bytes.Equal(after, first) {
		t.Fatal("defaults or validation changed the object")
	}
}

func addSeeds(f *testing.F, kind string, fixtures ...runtime.Object) {
	for _, d := range loadSeedDocs(f) {
		if d.kind == kind {
			f.Add(d.json)
		}
	}
	for _, o := range fixtures {
		js, err := json.Marshal(o)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(js)
	}
	for _, c := range invalidCases() {
		if c.obj.GetObjectKind().GroupVersionKind().Kind == kind {
			js, _ := json.Marshal(c.obj)
			f.Add(js)
		}
	}
}

// FuzzRollout decodes, defaults and validates arbitrary Rollouts; it must
// never panic.
func FuzzRollout(f *testing.F) {
	addSeeds(f, "Rollout", canaryRollout(), trafficRollout(), blueGreenRollout(), workloadRefRollout())
	f.Add([]byte(`{"spec":{"strategy":{"canary":{"steps":[{"pause":{"duration":-1}},{"setWeight":-1},{}]}}}}`))
	f.Add([]byte(`{"spec":{"strategy":{"canary":{"maxSurge":"0%","maxUnavailable":0,"trafficRouting":{"maxTrafficWeight":0}}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzObject(t, data, func() runtime.Object { return &Rollout{} })
	})
}

// FuzzAnalysisTemplate decodes, defaults and validates arbitrary
// AnalysisTemplates; it must never panic.
func FuzzAnalysisTemplate(f *testing.F) {
	addSeeds(f, "AnalysisTemplate", analysisTemplate())
	f.Add([]byte(`{"spec":{"metrics":[{"name":"m","count":"{{args.n}}","interval":"0","failureLimit":"x","provider":{"plugin":{"a":{},"b":null}}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzObject(t, data, func() runtime.Object { return &AnalysisTemplate{} })
	})
}
