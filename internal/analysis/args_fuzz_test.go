package analysis

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/api/v1alpha1"
)

// fzTimeout bounds one call of the analysis engine; it takes microseconds.
const fzTimeout = 5 * time.Second

// within runs fn and fails t when fn panics (with its stack) or does not return within d.
func within(t *testing.T, d time.Duration, what string, fn func()) {
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
	case <-time.After(d):
		t.Fatalf("%s did not return within %s", what, d)
	}
	if panicked != nil {
		t.Fatalf("%s panicked: %v\n%s", what, panicked, stack)
	}
}

// fzYAMLBlock is a YAML code block of the documentation.
var fzYAMLBlock = regexp.MustCompile("(?s)```ya?ml\n(.*?)```")

// fzTemplateSpecs are the AnalysisTemplate and ClusterAnalysisTemplate specs of the
// repository's manifests and of the documentation's examples, as JSON.
func fzTemplateSpecs(tb testing.TB) [][]byte {
	var docs [][]byte
	for _, glob := range []string{"../../examples/seeds/*.yaml", "../../test/e2e/testdata/analysis/*.yaml",
		"../../hack/demo/manifests/*.yaml", "../../docs/*.md"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			tb.Fatalf("%s: %v", glob, err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				tb.Fatalf("reading %s: %v", f, err)
			}
			if strings.HasSuffix(f, ".md") {
				for _, m := range fzYAMLBlock.FindAllSubmatch(data, -1) {
					docs = append(docs, fzSpecs(m[1])...)
				}
				continue
			}
			docs = append(docs, fzSpecs(data)...)
		}
	}
	if len(docs) == 0 {
		tb.Fatal("no analysis templates in the repository's manifests")
	}
	return docs
}

// fzSpecs returns the specs of the analysis templates among the YAML documents of data
// (documents that do not parse are skipped: the documentation has fragments).
func fzSpecs(data []byte) [][]byte {
	var out [][]byte
	rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) || err != nil {
			return out
		}
		var t struct {
			Kind string
			Spec json.RawMessage
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil || json.Unmarshal(js, &t) != nil {
			continue
		}
		if (t.Kind == "AnalysisTemplate" || t.Kind == "ClusterAnalysisTemplate") && len(t.Spec) > 0 {
			out = append(out, t.Spec)
		}
	}
}

// fzMetrics are the metrics of the seed templates, as JSON.
func fzMetrics(tb testing.TB) [][]byte {
	var out [][]byte
	for _, js := range fzTemplateSpecs(tb) {
		var spec v1alpha1.AnalysisTemplateSpec
		if json.Unmarshal(js, &spec) != nil {
			continue
		}
		for _, m := range spec.Metrics {
			b, err := json.Marshal(m)
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

// FuzzSubstitute substitutes arguments into any metric (the fuzzer's JSON) and into a metric
// with placeholders in a URL, a header and a query, and scrubs the secrets out of the result.
// It checks: no panic, no hang, the metric left as it was, an error exactly when a placeholder
// has no value (naming each such argument), the values arriving byte for byte in every field,
// whatever quotes, backslashes or braces they hold, and no form of a secret (as is, escaped
// for JSON, for a query or for a path) left after Scrub.
func FuzzSubstitute(f *testing.F) {
	for i, m := range fzMetrics(f) {
		f.Add(m, []byte(`{"service-name":"api","namespace":"prod","api-token":"s3cr3t"}`), "p\"q\\r", "{{args.a}}")
		f.Add(m, []byte(`{}`), []string{"", "a b/c?d=e&f", "\u00e9\n\t"}[i%3], "x")
	}
	f.Fuzz(func(t *testing.T, metric, values []byte, a, b string) {
		var m v1alpha1.Metric
		if json.Unmarshal(metric, &m) == nil {
			var vals map[string]string
			_ = json.Unmarshal(values, &vals)
			fzSubstituteAny(t, &m, vals)
		}
		fzSubstituteExact(t, a, b)
	})
}

// fzSubstituteAny checks Substitute on any metric and values.
func fzSubstituteAny(t *testing.T, m *v1alpha1.Metric, vals map[string]string) {
	before, _ := json.Marshal(m)
	var names []string
	var err error
	within(t, fzTimeout, "Substitute", func() {
		names = Placeholders(m)
		_, err = Substitute(m, vals)
	})
	if after, _ := json.Marshal(m); !bytes.Equal(before, after) {
		t.Fatalf("Substitute changed the metric:\n%s\n%s", before, after)
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Fatalf("placeholders not sorted, or not each once: %q", names)
	}
	var missing []string
	for _, n := range names {
		if _, ok := vals[n]; !ok {
			missing = append(missing, n)
		}
	}
	if (err != nil) != (len(missing) > 0) {
		t.Fatalf("placeholders %q, values %q: error %v", names, vals, err)
	}
	for _, n := range missing {
		if !strings.Contains(err.Error(), strconv.Quote(n)) {
			t.Fatalf("the error %q does not name the argument %q", err, n)
		}
	}
}

// fzSubstituteExact checks that a and b arrive byte for byte, and are scrubbed away.
func fzSubstituteExact(t *testing.T, a, b string) {
	if !utf8.ValidString(a) || !utf8.ValidString(b) {
		return // JSON has no invalid UTF-8: Kubernetes strings are valid UTF-8
	}
	m := v1alpha1.Metric{Name: "m", Provider: v1alpha1.MetricProvider{
		Web:        &v1alpha1.WebMetric{URL: "{{args.a}}", Headers: []v1alpha1.WebMetricHeader{{Key: "k", Value: "pre-{{ args.b }}-post"}}},
		Prometheus: &v1alpha1.PrometheusMetric{Query: `sum(rate(x{app="{{args.a}}"}[1m]))`}}}
	var got v1alpha1.Metric
	var err error
	within(t, fzTimeout, "Substitute", func() { got, err = Substitute(&m, map[string]string{"a": a, "b": b}) })
	if err != nil {
		t.Fatalf("substituting %q and %q: %v", a, b, err)
	}
	if w := got.Provider.Web; w.URL != a || w.Headers[0].Value != "pre-"+b+"-post" ||
		got.Provider.Prometheus.Query != `sum(rate(x{app="`+a+`"}[1m]))` {
		t.Fatalf("substituting %q and %q gave %+v, %+v", a, b, *w, *got.Provider.Prometheus)
	}
	js, _ := json.Marshal(got)
	secrets := []string{a, b}
	var scrubbed string
	within(t, fzTimeout, "Scrub", func() { scrubbed = Scrub(string(js)+" "+url.QueryEscape(a)+" "+url.PathEscape(b), secrets) })
	for _, s := range secrets {
		if s == "" || strings.Contains(s, "*") { // a secret with the mask's character may be rebuilt by it
			continue
		}
		q, _ := json.Marshal(s)
		for _, form := range []string{s, string(q[1 : len(q)-1]), url.QueryEscape(s), url.PathEscape(s)} {
			if strings.Contains(scrubbed, form) {
				t.Fatalf("the secret %q is still in the scrubbed text (as %q): %s", s, form, scrubbed)
			}
		}
	}
}
