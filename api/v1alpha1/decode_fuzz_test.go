package v1alpha1

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// fzKinds are the kinds FuzzDecodeStrict decodes, by the fuzzer's byte.
var fzKinds = []string{"Rollout", "AnalysisTemplate", "ClusterAnalysisTemplate", "AnalysisRun", "Experiment"}

// fzTimeout bounds decoding and validating one object; it takes microseconds.
const fzTimeout = 5 * time.Second

// fzSecretToken stands for a credential in the object: validation must never quote it.
const fzSecretToken = "fz-secret-\u2603-token"

// fzYAMLBlock is a YAML code block of the documentation.
var fzYAMLBlock = regexp.MustCompile("(?s)```ya?ml\n(.*?)```")

// fzDecodeSeeds adds the objects of the repository's manifests, the documentation's examples,
// the fixtures and the invalid cases of the validation tests.
func fzDecodeSeeds(f *testing.F) {
	index := map[string]byte{}
	for i, k := range fzKinds {
		index[k] = byte(i)
	}
	for _, d := range loadSeedDocs(f) {
		f.Add(index[d.kind], d.json)
	}
	for _, glob := range []string{"../../test/e2e/testdata/analysis/*.yaml", "../../hack/demo/manifests/*.yaml",
		"../../internal/controller/experiment/testdata/*.yaml", "../../testdata/argo/corpus/*.yaml", "../../docs/*.md"} {
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
				for _, doc := range splitYAMLDocuments(b) {
					var head struct{ Kind string }
					if js, err := yaml.YAMLToJSON(doc); err == nil && json.Unmarshal(js, &head) == nil {
						if i, ok := index[head.Kind]; ok {
							f.Add(i, js)
						}
					}
				}
			}
		}
	}
	for i, o := range []runtime.Object{canaryRollout(), analysisTemplate(), clusterAnalysisTemplate(), analysisRun(), experiment()} {
		js, _ := json.Marshal(o)
		f.Add(byte(i), js)
	}
	for _, c := range invalidCases() {
		js, _ := json.Marshal(c.obj)
		f.Add(index[c.obj.GetObjectKind().GroupVersionKind().Kind], js)
	}
}

// FuzzDecodeStrict decodes any JSON as one of the five argoproj.io kinds the way the API
// server and `vane lint` do (sigs.k8s.io/json's strict decoding: case-sensitive, unknown and
// duplicate fields reported), then validates it. It checks: no panic, no hang; every error
// with a field path under spec, metadata or status, a known type and a message; the same
// errors, in the same order, again (a message that changes makes the status flap); the object
// left as it was; no credential (a basic-auth password, an OAuth2 client secret) quoted in a
// message; and what Vane encodes decoded strictly again to the same object.
func FuzzDecodeStrict(f *testing.F) {
	fzDecodeSeeds(f)
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		k := fzKinds[int(kind)%len(fzKinds)]
		obj, _ := newObject(k)
		var err error
		within(t, "strict decoding", func() { _, err = sigsjson.UnmarshalStrict(data, obj) })
		if err != nil {
			return
		}
		fzCheckValidation(t, obj)
		fzCheckSecretsUnquoted(t, obj)
		fzCheckStrictRoundTrip(t, k, obj)
	})
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

// fzCheckValidation validates obj twice and checks the errors.
func fzCheckValidation(t *testing.T, obj runtime.Object) {
	t.Helper()
	before := obj.DeepCopyObject()
	var errs, again field.ErrorList
	within(t, "validation", func() {
		errs, again = validateObject(obj), validateObject(obj)
		if r, ok := obj.(*Rollout); ok {
			for _, w := range RolloutWarnings(r) {
				_ = w.String()
			}
		}
	})
	if b1, b2 := fzJSON(t, before), fzJSON(t, obj); !bytes.Equal(b1, b2) {
		t.Fatalf("validation changed the object:\n%s\n%s", b1, b2)
	}
	if a, b := fzMessages(errs), fzMessages(again); a != b {
		t.Fatalf("validation is not deterministic:\n%s\n---\n%s", a, b)
	}
	for _, e := range errs {
		p := e.Field
		if !(p == "spec" || p == "metadata" || p == "status" ||
			strings.HasPrefix(p, "spec.") || strings.HasPrefix(p, "metadata.") || strings.HasPrefix(p, "status.")) {
			t.Errorf("an error with the field path %q: %v", p, e)
		}
		if e.Type == "" || e.Type.String() == "" || e.Error() == "" {
			t.Errorf("an error without a type or a message: %#v", e)
		}
	}
}

func fzMessages(errs field.ErrorList) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString(e.Error())
		b.WriteByte('\n')
	}
	return b.String()
}

func fzJSON(t *testing.T, obj any) []byte {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatalf("encoding: %v", err)
	}
	return b
}

// fzMetricsOf are the metrics of an object that has some.
func fzMetricsOf(obj runtime.Object) []Metric {
	switch o := obj.(type) {
	case *AnalysisTemplate:
		return o.Spec.Metrics
	case *ClusterAnalysisTemplate:
		return o.Spec.Metrics
	case *AnalysisRun:
		return o.Spec.Metrics
	}
	return nil
}

// fzCheckSecretsUnquoted puts a token in place of every credential the object holds and
// checks that no validation message quotes it.
func fzCheckSecretsUnquoted(t *testing.T, obj runtime.Object) {
	t.Helper()
	obj = obj.DeepCopyObject()
	replaced := false
	for _, m := range fzMetricsOf(obj) {
		var auths []*Authentication
		if p := m.Provider.Prometheus; p != nil {
			auths = append(auths, &p.Authentication)
		}
		if w := m.Provider.Web; w != nil {
			auths = append(auths, &w.Authentication)
		}
		for _, a := range auths {
			for _, s := range []*string{&a.BasicAuth.Password, &a.OAuth2.ClientSecret} {
				if *s != "" {
					*s, replaced = fzSecretToken, true
				}
			}
		}
	}
	if !replaced {
		return
	}
	var errs field.ErrorList
	within(t, "validation", func() { errs = validateObject(obj) })
	if msgs := fzMessages(errs); strings.Contains(msgs, fzSecretToken) {
		t.Fatalf("a validation message quotes a credential:\n%s", msgs)
	}
}

// fzCheckStrictRoundTrip encodes obj and decodes it strictly again: no unknown or duplicate
// field, and the same encoding.
func fzCheckStrictRoundTrip(t *testing.T, kind string, obj runtime.Object) {
	t.Helper()
	first := fzJSON(t, obj)
	again, _ := newObject(kind)
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
