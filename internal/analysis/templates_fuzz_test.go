package analysis

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vanedev/vane/api/v1alpha1"
)

// FuzzNewRun builds an AnalysisRun from any templates (the fuzzer's JSON list of template
// specs) with any caller's arguments, reading valueFrom.fieldRef arguments from a Rollout, and
// reads any fieldPath of that Rollout. It checks: no panic, no hang, the templates and
// arguments left as they were, the same run (or error) again, and for a run built: its
// metrics the templates' in order, each name once, every placeholder declared, every argument
// given a value, the caller's values taking precedence, and the run valid. A fieldPath
// naming an annotation by a quoted key reads that annotation's value.
func FuzzNewRun(f *testing.F) {
	specs := fzTemplateSpecs(f)
	for i, s := range specs {
		pair := fmt.Sprintf("[%s,%s]", s, specs[(i+1)%len(specs)])
		f.Add([]byte("["+string(s)+"]"), []byte(`[{"name":"service-name","value":"api"},{"name":"prometheus-port","value":"9090"}]`),
			"metadata.labels['app']", "example.com/team", "blue")
		f.Add([]byte(pair), []byte(`[{"name":"namespace","valueFrom":{"fieldRef":{"fieldPath":"metadata.namespace"}}}]`),
			"spec.template.spec.containers[0].image", "a\"b", "")
	}
	f.Fuzz(func(t *testing.T, specsJSON, argsJSON []byte, fieldPath, key, value string) {
		ro := fzRollout(key, value)
		fzFieldValue(t, ro, fieldPath, key, value)
		var specs []v1alpha1.AnalysisTemplateSpec
		var args []v1alpha1.Argument
		if json.Unmarshal(specsJSON, &specs) != nil || json.Unmarshal(argsJSON, &args) != nil {
			return
		}
		var templates []Template
		for i, s := range specs {
			templates = append(templates, Template{Kind: []string{"AnalysisTemplate", "ClusterAnalysisTemplate"}[i%2],
				Name: fmt.Sprintf("t%d", i), Spec: s})
		}
		fzNewRun(t, templates, args, ro)
	})
}

// fzRollout is a Rollout with the annotation key: value, for fieldRef arguments.
func fzRollout(key, value string) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "prod", Labels: map[string]string{"app": "shop"},
		Annotations: map[string]string{key: value}}}
	ro.Spec.Template.Spec.Containers = append(ro.Spec.Template.Spec.Containers, corev1.Container{Name: "shop", Image: "shop:2"})
	return ro
}

// fzFieldValue reads fieldPath, and the annotation key by a quoted key.
func fzFieldValue(t *testing.T, ro *v1alpha1.Rollout, fieldPath, key, value string) {
	within(t, fzTimeout, "FieldValue", func() { _, _ = FieldValue(ro, fieldPath) })
	if strings.ContainsAny(key, "']") {
		return // a key the quotes cannot hold (annotation keys never have them)
	}
	var got string
	var err error
	within(t, fzTimeout, "FieldValue", func() { got, err = FieldValue(ro, "metadata.annotations['"+key+"']") })
	if err != nil || got != value {
		t.Fatalf("the annotation %q read %q, %v; want %q", key, got, err, value)
	}
}

// fzNewRun builds the run twice and checks it.
func fzNewRun(t *testing.T, templates []Template, args []v1alpha1.Argument, ro *v1alpha1.Rollout) {
	before, _ := json.Marshal([]any{templates, args})
	o := RunOptions{Name: "run", Namespace: "prod", Args: args, FieldRefObject: ro}
	var run, again *v1alpha1.AnalysisRun
	var err, errAgain error
	within(t, fzTimeout, "NewRunFromTemplates", func() {
		run, err = NewRunFromTemplates(templates, o)
		again, errAgain = NewRunFromTemplates(templates, o)
	})
	if after, _ := json.Marshal([]any{templates, args}); string(after) != string(before) {
		t.Fatalf("NewRunFromTemplates changed its input:\n%s\n%s", before, after)
	}
	j1, _ := json.Marshal(run)
	j2, _ := json.Marshal(again)
	if string(j1) != string(j2) || fmt.Sprint(err) != fmt.Sprint(errAgain) {
		t.Fatalf("not deterministic:\n%s %v\n%s %v", j1, err, j2, errAgain)
	}
	if err != nil {
		return
	}
	fzCheckRunBuilt(t, templates, args, run)
}

func fzCheckRunBuilt(t *testing.T, templates []Template, args []v1alpha1.Argument, run *v1alpha1.AnalysisRun) {
	t.Helper()
	var names []string
	for _, tm := range templates {
		for _, m := range tm.Spec.Metrics {
			names = append(names, m.Name)
		}
	}
	seen := map[string]bool{}
	for i, m := range run.Spec.Metrics {
		if i >= len(names) || m.Name != names[i] || seen[m.Name] {
			t.Fatalf("metrics %q of templates giving %q", names, fzNames(run.Spec.Metrics))
		}
		seen[m.Name] = true
		for _, p := range Placeholders(&m) {
			if argIndex(run.Spec.Args, p) < 0 {
				t.Fatalf("metric %q uses {{args.%s}}, which the run does not declare", m.Name, p)
			}
		}
	}
	for _, a := range run.Spec.Args {
		if a.Value == nil && a.ValueFrom == nil {
			t.Fatalf("argument %q without a value", a.Name)
		}
	}
	for _, a := range args {
		if i := argIndex(run.Spec.Args, a.Name); i >= 0 && a.Value != nil && argIndex(args, a.Name) == fzLastIndex(args, a.Name) {
			if got := run.Spec.Args[i].Value; got == nil || *got != *a.Value {
				t.Fatalf("argument %q: the caller's value %q did not take precedence", a.Name, *a.Value)
			}
		}
	}
	if errs := v1alpha1.ValidateAnalysisRun(run); len(errs) > 0 {
		t.Fatalf("the run built is invalid: %v", errs)
	}
}

func fzLastIndex(args []v1alpha1.Argument, name string) int {
	for i := len(args) - 1; i >= 0; i-- {
		if args[i].Name == name {
			return i
		}
	}
	return -1
}

func fzNames(ms []v1alpha1.Metric) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}
