package v1beta1

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// fzKinds are the kinds FuzzDecodeStrict decodes, by the fuzzer's byte.
var fzKinds = []string{"Canary", "MetricTemplate", "AlertProvider"}

// fzTimeout bounds decoding and validating one object; it takes microseconds.
const fzTimeout = 5 * time.Second

// fzYAMLBlock is a YAML code block of the documentation.
var fzYAMLBlock = regexp.MustCompile("(?s)```ya?ml\n(.*?)```")

// fzObject is a new object of the kind, with its validation.
func fzObject(kind string) (any, func() field.ErrorList) {
	switch kind {
	case "Canary":
		c := &Canary{}
		return c, func() field.ErrorList { return ValidateCanary(c) }
	case "MetricTemplate":
		m := &MetricTemplate{}
		return m, func() field.ErrorList { return ValidateMetricTemplate(m) }
	}
	a := &AlertProvider{}
	return a, func() field.ErrorList { return ValidateAlertProvider(a) }
}

// fzSeeds adds the flagger.app objects of the repository's examples and documentation, and
// the validation tests' Canary.
func fzSeeds(f *testing.F) {
	index := map[string]byte{"Canary": 0, "MetricTemplate": 1, "AlertProvider": 2}
	for _, glob := range []string{"../../../examples/seeds/*.yaml", "../../../docs/*.md"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatalf("reading %s: %v", file, err)
			}
			blocks := [][]byte{data}
			if strings.HasSuffix(file, ".md") {
				blocks = nil
				for _, m := range fzYAMLBlock.FindAllSubmatch(data, -1) {
					blocks = append(blocks, m[1])
				}
			}
			for _, b := range blocks {
				for _, js := range fzDocs(b) {
					var head struct{ APIVersion, Kind string }
					if json.Unmarshal(js, &head) == nil && strings.HasPrefix(head.APIVersion, "flagger.app/") {
						if i, ok := index[head.Kind]; ok {
							f.Add(i, js)
						}
					}
				}
			}
		}
	}
	progressive := validCanary()
	a := progressive.Spec.Analysis
	progressive.Spec.Provider, a.Iterations = "istio", nil
	a.StepWeights, a.StepWeightPromotion, a.Mirror = []int32{5, 10, 50}, ptr.To[int32](25), ptr.To(true)
	a.Metrics = append(a.Metrics, CanaryMetric{Name: "latency", Interval: "30s", TemplateRef: &CrossNamespaceObjectReference{Name: "latency"},
		ThresholdRange: &ThresholdRange{Max: ptr.To(500.0)}})
	a.SessionAffinity = &SessionAffinity{CookieName: "canary", MaxAge: 60}
	ab := validCanary()
	ab.Spec.Analysis.Match = []AnalysisMatch{{Headers: map[string]HeaderMatch{"x-canary": {Exact: "insider"}}}}
	for _, c := range []*Canary{validCanary(), progressive, ab} {
		js, _ := json.Marshal(c)
		f.Add(byte(0), js)
	}
	f.Add(byte(1), []byte(`{"spec":{"provider":{"type":"prometheus","address":"http://prom:9090","secretRef":{"name":""}},"query":"up"}}`))
	f.Add(byte(2), []byte(`{"spec":{"type":"slack","channel":"general","secretRef":{"name":"slack-url"}}}`))
}

// fzDocs are the YAML documents of data as JSON (those that do not parse are skipped).
func fzDocs(data []byte) [][]byte {
	var out [][]byte
	rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) || err != nil {
			return out
		}
		if js, err := yaml.YAMLToJSON(doc); err == nil {
			out = append(out, js)
		}
	}
}

// FuzzDecodeStrict decodes any JSON as one of the flagger.app kinds the way the API server and
// `vane lint` do (sigs.k8s.io/json's strict decoding), validates it and reads the Canary's
// effective settings. It checks: no panic, no hang; every error with a field path under spec
// and a message; the same errors again, in the same order; the object left as it was; the
// effective settings within their bounds (an analysis interval never below the floor asked
// for, a threshold of at least 1); and what Vane encodes decoded strictly again to the same
// object.
func FuzzDecodeStrict(f *testing.F) {
	fzSeeds(f)
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		k := fzKinds[int(kind)%len(fzKinds)]
		obj, validate := fzObject(k)
		var err error
		within(t, "strict decoding", func() { _, err = sigsjson.UnmarshalStrict(data, obj) })
		if err != nil {
			return
		}
		before := fzJSON(t, obj)
		var errs, again field.ErrorList
		within(t, "validation", func() { errs, again = validate(), validate() })
		if after := fzJSON(t, obj); !bytes.Equal(before, after) {
			t.Fatalf("validation changed the object:\n%s\n%s", before, after)
		}
		if a, b := errs.ToAggregate(), again.ToAggregate(); (a == nil) != (b == nil) || a != nil && a.Error() != b.Error() {
			t.Fatalf("validation is not deterministic:\n%v\n---\n%v", a, b)
		}
		for _, e := range errs {
			if !strings.HasPrefix(e.Field, "spec") || e.Error() == "" {
				t.Errorf("an error with the field path %q: %v", e.Field, e)
			}
		}
		if c, ok := obj.(*Canary); ok {
			fzCheckSettings(t, c)
		}
		fzCheckStrictRoundTrip(t, k, before)
	})
}

// fzCheckSettings reads the Canary's effective settings.
func fzCheckSettings(t *testing.T, c *Canary) {
	t.Helper()
	within(t, "the Canary's settings", func() {
		apex, primary, canary := c.ServiceNames()
		if primary != apex+"-primary" || canary != apex+"-canary" || c.PrimaryName() != c.Spec.TargetRef.Name+"-primary" {
			t.Errorf("names %q %q %q", apex, primary, canary)
		}
		if d := c.AnalysisInterval(MinAnalysisInterval); d < MinAnalysisInterval {
			t.Errorf("analysis interval %s, below the floor %s", d, MinAnalysisInterval)
		}
		if c.Threshold() < 1 {
			t.Errorf("threshold %d", c.Threshold())
		}
		_, _, _, _ = c.Iterations(), c.ProgressDeadline(), c.PrimaryReadyThreshold(), c.CanaryReadyThreshold()
		_, _, _, _ = c.Mirror(), c.RevertOnDeletion(), c.SkipAnalysis(), c.Suspended()
	})
}

// fzCheckStrictRoundTrip decodes Vane's encoding of an object strictly again: no unknown or
// duplicate field, and the same encoding.
func fzCheckStrictRoundTrip(t *testing.T, kind string, first []byte) {
	t.Helper()
	again, _ := fzObject(kind)
	var strict []error
	var err error
	within(t, "strict decoding", func() { strict, err = sigsjson.UnmarshalStrict(first, again) })
	if err != nil || len(strict) > 0 {
		t.Fatalf("Vane's own encoding does not decode strictly: %v %v\n%s", err, strict, first)
	}
	if second := fzJSON(t, again); !bytes.Equal(first, second) {
		t.Fatalf("encoding is not stable:\nfirst:  %s\nsecond: %s", first, second)
	}
}

func fzJSON(t *testing.T, obj any) []byte {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatalf("encoding: %v", err)
	}
	return b
}

// within runs fn and fails t when fn panics (with its stack) or does not return in fzTimeout.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	var panicked any
	var stack []byte
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				panicked, stack = p, debug.Stack()
			}
		}()
		fn()
	}()
	select {
	case <-done:
	case <-time.After(fzTimeout):
		t.Fatalf("%s did not return within %s", what, fzTimeout)
	}
	if panicked != nil {
		t.Fatalf("%s panicked: %v\n%s", what, panicked, stack)
	}
}
