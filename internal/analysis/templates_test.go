package analysis

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vanedev/vane/api/v1alpha1"
)

func webMetric(name, url string) v1alpha1.Metric {
	return v1alpha1.Metric{Name: name, SuccessCondition: `result == "ok"`,
		Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: url, JSONPath: "{$.status}"}}}
}

func TestSubstitute(t *testing.T) {
	m := webMetric("web", "http://{{args.host}}/check?token={{ args.token }}")
	m.Provider.Web.Headers = []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: "Bearer {{args.token}}"}}
	m.Provider.Web.JSONBody = json.RawMessage(`{"q":"{{args.quote}}"}`)
	m.Count = ptr.To(intstr.FromString("{{args.count}}"))
	m.FailureLimit = ptr.To(intstr.FromString("{{args.limit}}"))
	if got, want := Placeholders(&m), []string{"count", "host", "limit", "quote", "token"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Placeholders = %v, want %v", got, want)
	}
	values := map[string]string{"host": "127.0.0.1:8080", "token": "s3cr3t", "quote": `say "hi"`, "count": "3", "limit": "1"}
	got, err := Substitute(&m, values)
	if err != nil {
		t.Fatal(err)
	}
	if got.Provider.Web.URL != "http://127.0.0.1:8080/check?token=s3cr3t" || got.Provider.Web.Headers[0].Value != "Bearer s3cr3t" {
		t.Errorf("substituted web metric: %+v", got.Provider.Web)
	}
	var body map[string]string
	if err := json.Unmarshal(got.Provider.Web.JSONBody, &body); err != nil || body["q"] != `say "hi"` {
		t.Errorf("a value with quotes inside a JSON body: %s (%v)", got.Provider.Web.JSONBody, err)
	}
	l, err := MetricLimits(&got)
	if err != nil || *l.Count != 3 || l.FailureLimit != 1 {
		t.Errorf("count and failureLimit from arguments: %+v, %v", l, err)
	}
	if m.Provider.Web.URL != "http://{{args.host}}/check?token={{ args.token }}" {
		t.Error("Substitute changed its input")
	}
	if _, err := Substitute(&m, map[string]string{"host": "x"}); err == nil || !strings.Contains(err.Error(), `"token"`) {
		t.Errorf("a missing argument: %v", err)
	}
}

func TestScrub(t *testing.T) {
	secrets := []string{"s3cr3t", `p"w d`}
	for _, in := range []string{
		"Bearer s3cr3t",
		`Get "http://host/?token=s3cr3t": connection refused`,
		`{"password":"p\"w d"}`,
		"http://host/?pw=p%22w+d",
		"http://host/p%22w%20d",
	} {
		if out := Scrub(in, secrets); strings.Contains(out, "s3cr3t") || strings.Contains(out, "p\\\"w d") ||
			strings.Contains(out, "p%22w") || !strings.Contains(out, Mask) {
			t.Errorf("Scrub(%q) = %q", in, out)
		}
	}
	if Scrub("nothing to hide", secrets) != "nothing to hide" {
		t.Error("Scrub changed a string without secrets")
	}
}

func TestFieldValue(t *testing.T) {
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "colorapi", Labels: map[string]string{"app": "colorapi"},
			Annotations: map[string]string{"example.com/team": "blue"}},
		Spec: v1alpha1.RolloutSpec{Replicas: ptr.To[int32](5)},
	}
	ro.Spec.Template.Spec.Containers = append(ro.Spec.Template.Spec.Containers, ro.Spec.Template.Spec.Containers...)
	for path, want := range map[string]string{
		"metadata.name":                            "colorapi",
		"metadata.labels['app']":                   "colorapi",
		`metadata.annotations["example.com/team"]`: "blue",
		"spec.replicas":                            "5",
	} {
		got, err := FieldValue(ro, path)
		if err != nil || got != want {
			t.Errorf("FieldValue(%s) = %q, %v; want %q", path, got, err, want)
		}
	}
	for _, path := range []string{"metadata.labels['missing']", "spec.template.spec.containers[3].image", "metadata..name", "metadata.labels[app", ""} {
		if _, err := FieldValue(ro, path); err == nil {
			t.Errorf("FieldValue(%q): want an error", path)
		}
	}
}

func newFakeClient(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
}

func at(name string, spec v1alpha1.AnalysisTemplateSpec) *v1alpha1.AnalysisTemplate {
	return &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: spec}
}

func TestBuildRunFromSeedShape(t *testing.T) {
	// the webcheck template of examples/seeds/colorapi-canary.yaml
	webcheck := at("webcheck", v1alpha1.AnalysisTemplateSpec{
		Args: []v1alpha1.Argument{{Name: "host"}},
		Metrics: []v1alpha1.Metric{{
			Name: "webcheck", FailureLimit: ptr.To(intstr.FromInt32(1)), Interval: ptr.To(v1alpha1.DurationFromInt(5)),
			SuccessCondition: `result == "ok"`,
			Provider:         v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://{{args.host}}/", JSONPath: "{$.status}"}},
		}},
	})
	c := newFakeClient(t, webcheck)
	run, err := BuildRun(context.Background(), c, []v1alpha1.AnalysisTemplateRef{{TemplateName: "webcheck"}}, RunOptions{
		GenerateName: "colorapi-", Namespace: "ns", Labels: map[string]string{"rollout-type": "Background"},
		Args: []v1alpha1.Argument{{Name: "host", Value: ptr.To("colorapi")}, {Name: "unused", Value: ptr.To("x")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if run.Namespace != "ns" || run.GenerateName != "colorapi-" || run.Labels["rollout-type"] != "Background" {
		t.Errorf("metadata %+v", run.ObjectMeta)
	}
	if len(run.Spec.Args) != 1 || *run.Spec.Args[0].Value != "colorapi" {
		t.Errorf("args %+v: want host=colorapi only", run.Spec.Args)
	}
	if run.Spec.Metrics[0].Provider.Web.URL != "http://{{args.host}}/" {
		t.Errorf("the stored run keeps its placeholders, got %q", run.Spec.Metrics[0].Provider.Web.URL)
	}
	if _, err := BuildRun(context.Background(), c, []v1alpha1.AnalysisTemplateRef{{TemplateName: "webcheck"}}, RunOptions{Namespace: "ns"}); err == nil ||
		!strings.Contains(err.Error(), `argument "host" of AnalysisTemplate webcheck needs a value`) {
		t.Errorf("a missing argument value: %v", err)
	}
	if _, err := BuildRun(context.Background(), c, []v1alpha1.AnalysisTemplateRef{{TemplateName: "nope"}}, RunOptions{Namespace: "ns"}); err == nil ||
		!strings.Contains(err.Error(), "AnalysisTemplate nope") {
		t.Errorf("a missing template: %v", err)
	}
}

func TestNestedAndClusterTemplates(t *testing.T) {
	secretArg := v1alpha1.Argument{Name: "token", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "creds", Key: "token"}}}
	base := &v1alpha1.ClusterAnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: "base"}, Spec: v1alpha1.AnalysisTemplateSpec{
		Args:                 []v1alpha1.Argument{{Name: "host"}, secretArg},
		Metrics:              []v1alpha1.Metric{webMetric("base-check", "http://{{args.host}}/?t={{args.token}}")},
		MeasurementRetention: []v1alpha1.MeasurementRetention{{MetricName: "base-check", Limit: 3}},
	}}
	mid := at("mid", v1alpha1.AnalysisTemplateSpec{
		Args:      []v1alpha1.Argument{{Name: "host", Value: ptr.To("default-host")}},
		Metrics:   []v1alpha1.Metric{webMetric("mid-check", "http://{{args.host}}/mid")},
		Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "base", ClusterScope: ptr.To(true)}},
		DryRun:    []v1alpha1.DryRun{{MetricName: "mid-check"}},
	})
	top := at("top", v1alpha1.AnalysisTemplateSpec{
		Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "mid"}, {TemplateName: "base", ClusterScope: ptr.To(true)}},
	})
	c := newFakeClient(t, base, mid, top)
	templates, err := ResolveTemplates(context.Background(), c, "ns", []v1alpha1.AnalysisTemplateRef{{TemplateName: "top"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tm := range templates {
		names = append(names, tm.String())
	}
	if want := []string{"AnalysisTemplate top", "AnalysisTemplate mid", "ClusterAnalysisTemplate base"}; !reflect.DeepEqual(names, want) {
		t.Errorf("templates %v, want %v (each once)", names, want)
	}
	run, err := NewRunFromTemplates(templates, RunOptions{Name: "r", Namespace: "ns",
		DryRun: []v1alpha1.DryRun{{MetricName: "base-check"}}})
	if err != nil {
		t.Fatal(err)
	}
	var metrics []string
	for _, m := range run.Spec.Metrics {
		metrics = append(metrics, m.Name)
	}
	if want := []string{"mid-check", "base-check"}; !reflect.DeepEqual(metrics, want) {
		t.Errorf("metrics %v, want %v", metrics, want)
	}
	host, token := run.Spec.Args[argIndex(run.Spec.Args, "host")], run.Spec.Args[argIndex(run.Spec.Args, "token")]
	if host.Value == nil || *host.Value != "default-host" {
		t.Errorf("host takes the value one template gives: %+v", host)
	}
	if token.Value != nil || token.ValueFrom == nil || token.ValueFrom.SecretKeyRef.Name != "creds" {
		t.Errorf("a secret argument stays a reference: %+v", token)
	}
	if len(run.Spec.DryRun) != 2 || run.Spec.DryRun[0].MetricName != "base-check" || len(run.Spec.MeasurementRetention) != 1 {
		t.Errorf("dryRun %v (the caller's first, as Argo's mergeDryRunMetrics) and measurementRetention %v are merged",
			run.Spec.DryRun, run.Spec.MeasurementRetention)
	}
	// a cluster template named first still comes after the namespaced ones (Argo's flattenMetrics)
	templates, err = ResolveTemplates(context.Background(), c, "ns",
		[]v1alpha1.AnalysisTemplateRef{{TemplateName: "base", ClusterScope: ptr.To(true)}, {TemplateName: "mid"}})
	if err != nil {
		t.Fatal(err)
	}
	names = nil
	for _, tm := range templates {
		names = append(names, tm.String())
	}
	if want := []string{"AnalysisTemplate mid", "ClusterAnalysisTemplate base"}; !reflect.DeepEqual(names, want) {
		t.Errorf("templates %v, want %v (namespaced first)", names, want)
	}

	// a cycle
	loopA := at("loop-a", v1alpha1.AnalysisTemplateSpec{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "loop-b"}}})
	loopB := at("loop-b", v1alpha1.AnalysisTemplateSpec{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "loop-a"}}})
	c = newFakeClient(t, loopA, loopB)
	if _, err := ResolveTemplates(context.Background(), c, "ns", []v1alpha1.AnalysisTemplateRef{{TemplateName: "loop-a"}}); err == nil ||
		!strings.Contains(err.Error(), "cycle: AnalysisTemplate loop-a -> AnalysisTemplate loop-b -> AnalysisTemplate loop-a") {
		t.Errorf("a cycle: %v", err)
	}
}

func TestMergeErrors(t *testing.T) {
	one := Template{Kind: "AnalysisTemplate", Name: "one", Spec: v1alpha1.AnalysisTemplateSpec{
		Args: []v1alpha1.Argument{{Name: "host", Value: ptr.To("a")}}, Metrics: []v1alpha1.Metric{webMetric("check", "http://{{args.host}}/")}}}
	sameMetric := Template{Kind: "AnalysisTemplate", Name: "two", Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{webMetric("check", "http://x/")}}}
	otherValue := Template{Kind: "ClusterAnalysisTemplate", Name: "three", Spec: v1alpha1.AnalysisTemplateSpec{
		Args: []v1alpha1.Argument{{Name: "host", Value: ptr.To("b")}}, Metrics: []v1alpha1.Metric{webMetric("other", "http://x/")}}}
	sameValue := Template{Kind: "AnalysisTemplate", Name: "four", Spec: v1alpha1.AnalysisTemplateSpec{
		Args: []v1alpha1.Argument{{Name: "host", Value: ptr.To("a")}}, Metrics: []v1alpha1.Metric{webMetric("fourth", "http://x/")}}}
	undeclared := Template{Kind: "AnalysisTemplate", Name: "five", Spec: v1alpha1.AnalysisTemplateSpec{
		Metrics: []v1alpha1.Metric{webMetric("fifth", "http://{{args.nope}}/")}}}
	for _, tc := range []struct {
		templates []Template
		err       string
	}{
		{[]Template{one, sameMetric}, `metric "check" is defined by both AnalysisTemplate one and AnalysisTemplate two`},
		{[]Template{one, otherValue}, `argument "host" has the value "a" in AnalysisTemplate one and "b" in ClusterAnalysisTemplate three`},
		{[]Template{one, sameValue}, ""},
		{[]Template{undeclared}, `uses {{args.nope}}, which no template declares`},
		{nil, "no analysis template"},
	} {
		_, err := NewRunFromTemplates(tc.templates, RunOptions{Name: "r", Namespace: "ns"})
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("error %v, want %q", err, tc.err)
		}
	}
	// the caller's value overrides a template's, and resolves a fieldRef against the given object
	tmpl := Template{Kind: "AnalysisTemplate", Name: "t", Spec: v1alpha1.AnalysisTemplateSpec{
		Args:    []v1alpha1.Argument{{Name: "host", Value: ptr.To("a")}, {Name: "app"}},
		Metrics: []v1alpha1.Metric{webMetric("check", "http://{{args.host}}/{{args.app}}")}}}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "ro", Labels: map[string]string{"app": "colorapi"}}}
	run, err := NewRunFromTemplates([]Template{tmpl}, RunOptions{Name: "r", Namespace: "ns", FieldRefObject: ro,
		Args: []v1alpha1.Argument{{Name: "host", Value: ptr.To("b")},
			{Name: "app", ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.labels['app']"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if *run.Spec.Args[0].Value != "b" || *run.Spec.Args[1].Value != "colorapi" || run.Spec.Args[1].ValueFrom != nil {
		t.Errorf("args %+v", run.Spec.Args)
	}
}
