package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

const experimentYAML = `apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata: {name: exp}
spec:
  duration: 1m
  templates:
  - name: blue
    selector: {matchLabels: {app: a}}
    template:
      metadata: {labels: {app: a}}
      spec: {containers: [{name: a, image: a:1}]}
`

const templateYAML = `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: check}
spec:
  args: [{name: host}, {name: path, value: /}]
  metrics:
  - name: status
    count: 1
    successCondition: result == "ok"
    provider: {web: {url: "http://{{args.host}}{{args.path}}", jsonPath: "{$.status}"}}
`

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCreate: every document of the files is created (a Rollout, an Experiment, an
// AnalysisTemplate in another namespace, an AnalysisRun with a generated name), each reported
// as Argo's plugin reports it.
func TestCreate(t *testing.T) {
	run := `apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: run-1}
spec:
  metrics: [{name: m, provider: {web: {url: "http://x/"}}}]
`
	rollout := `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: app}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec: {containers: [{name: a, image: a:1}]}
  strategy: {canary: {steps: [{setWeight: 50}]}}
`
	c := fakeClient(t)
	o, out, _ := testOptions(c)
	tmpl := strings.Replace(templateYAML, "{name: check}", "{name: check, namespace: team-b}", 1)
	files := []string{writeFile(t, rollout+"---\n"+experimentYAML), writeFile(t, tmpl+"---\n"+run)}
	if err := Create(context.Background(), o, files, false); err != nil {
		t.Fatal(err)
	}
	want := "rollout.argoproj.io/app created\nexperiment.argoproj.io/exp created\n" +
		"analysistemplate.argoproj.io/check created\nanalysisrun.argoproj.io/run-1 created\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	for name, obj := range map[string]client.Object{"app": &v1alpha1.Rollout{}, "exp": &v1alpha1.Experiment{}, "run-1": &v1alpha1.AnalysisRun{}} {
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, obj); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "team-b", Name: "check"}, &v1alpha1.AnalysisTemplate{}); err != nil {
		t.Errorf("the template in its own namespace: %v", err)
	}
}

// TestCreateBadInput: a kind vane create does not take, an unknown field, an invalid object
// or a missing file are errors naming the file, the document and the field; nothing of the
// files is created. -w wants one Rollout or Experiment.
func TestCreateBadInput(t *testing.T) {
	invalid := strings.Replace(experimentYAML, "duration: 1m", "duration: soon", 1)
	for name, tc := range map[string]struct {
		content string
		watch   bool
		want    string
	}{
		"service":       {experimentYAML + "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n", false, ":2: cannot create v1 Service: vane create takes Rollout, Experiment, AnalysisRun"},
		"other group":   {"apiVersion: apps/v1\nkind: Rollout\nmetadata: {name: r}\n", false, ":1: cannot create apps/v1 Rollout"},
		"no kind":       {"metadata: {name: r}\n", false, ":1: no apiVersion or kind"},
		"unknown field": {strings.Replace(experimentYAML, "duration:", "durration:", 1), false, `:1: Experiment: error unmarshaling JSON: while decoding JSON: json: unknown field "durration"`},
		"invalid":       {invalid, false, ":1: Experiment/exp: spec.duration: Invalid value"},
		"empty":         {"---\n", false, ": no object to create"},
		"watch a run":   {templateYAML, true, "-w watches one Rollout or Experiment: the files hold one AnalysisTemplate"},
		"watch two":     {experimentYAML + "---\n" + templateYAML, true, "-w watches one Rollout or Experiment: the files hold 2 objects"},
	} {
		t.Run(name, func(t *testing.T) {
			c := fakeClient(t)
			o, out, _ := testOptions(c)
			err := Create(context.Background(), o, []string{writeFile(t, tc.content)}, tc.watch)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\n want it to contain %q", err, tc.want)
			}
			var list v1alpha1.ExperimentList
			if err := c.List(context.Background(), &list); err != nil || len(list.Items) != 0 || out.Len() != 0 {
				t.Errorf("something was created: %v, %d experiments, output %q", err, len(list.Items), out)
			}
		})
	}
	o, _, _ := testOptions(fakeClient(t))
	if err := Create(context.Background(), o, []string{"/nowhere.yaml"}, false); err == nil || !strings.Contains(err.Error(), "reading /nowhere.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// TestCreateExisting: the API server's refusal names the file, the document and the object.
func TestCreateExisting(t *testing.T) {
	c := fakeClient(t, &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Name: "exp", Namespace: "default"}})
	o, _, _ := testOptions(c)
	path := writeFile(t, experimentYAML)
	err := Create(context.Background(), o, []string{path}, false)
	if err == nil || err.Error() != path+`:1: creating Experiment exp: experiments.argoproj.io "exp" already exists` {
		t.Errorf("error %v", err)
	}
}

func checkTemplate() *v1alpha1.AnalysisTemplate {
	return &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: "check", Namespace: "default"},
		Spec: v1alpha1.AnalysisTemplateSpec{
			Args: []v1alpha1.Argument{{Name: "host"}, {Name: "path", Value: ptr.To("/")}},
			Metrics: []v1alpha1.Metric{{Name: "status", SuccessCondition: `result == "ok"`,
				Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://{{args.host}}{{args.path}}"}}}},
		}}
}

// TestCreateAnalysisRun: a run built from a template with -a values, named after the
// template, its metrics and arguments flattened as the controller flattens a Rollout's; from a
// ClusterAnalysisTemplate with --from-cluster-template or --global --from, with --name and an
// instance id; from a file.
func TestCreateAnalysisRun(t *testing.T) {
	cluster := &v1alpha1.ClusterAnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: "global-check"}, Spec: checkTemplate().Spec}
	c := fakeClient(t, checkTemplate(), cluster)
	o, out, errOut := testOptions(c)
	ctx := context.Background()
	if err := CreateAnalysisRun(ctx, o, RunFlags{From: "check", Args: []string{"host=app.svc:8080", "extra=1"}}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "analysisrun.argoproj.io/check-") || !strings.HasSuffix(out.String(), " created\n") {
		t.Errorf("output %q", out)
	}
	if errOut.String() != "warning: --argument extra: AnalysisTemplate check declares no such argument (ignored)\n" {
		t.Errorf("warning %q", errOut)
	}
	var runs v1alpha1.AnalysisRunList
	if err := c.List(ctx, &runs); err != nil || len(runs.Items) != 1 {
		t.Fatalf("%v, %d runs", err, len(runs.Items))
	}
	run := runs.Items[0]
	if run.GenerateName != "check-" || len(run.Spec.Metrics) != 1 || len(run.Spec.Args) != 2 ||
		*run.Spec.Args[0].Value != "app.svc:8080" || *run.Spec.Args[1].Value != "/" {
		t.Errorf("run %+v", run)
	}
	for _, f := range []RunFlags{
		{FromClusterTemplate: "global-check", Args: []string{"host=h"}, Name: "by-cluster", InstanceID: "blue"},
		{From: "global-check", Global: true, Args: []string{"host=h"}, Name: "by-global"},
		{FromFile: writeFile(t, templateYAML), Args: []string{"host=h"}, GenerateName: "from-file-"},
	} {
		out.Reset()
		if err := CreateAnalysisRun(ctx, o, f); err != nil {
			t.Errorf("%+v: %v", f, err)
		}
	}
	got := &v1alpha1.AnalysisRun{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "by-cluster"}, got); err != nil || got.Labels[v1alpha1.InstanceIDLabel] != "blue" {
		t.Errorf("by-cluster: %v, labels %v", err, got.Labels)
	}
	if err := c.List(ctx, &runs); err != nil || len(runs.Items) != 4 {
		t.Errorf("%v, %d runs, want 4", err, len(runs.Items))
	}
}

// TestCreateAnalysisRunBadInput: each mistake is an error naming the flag or the argument at
// fault, and no run is created.
func TestCreateAnalysisRunBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		flags RunFlags
		want  string
	}{
		"missing arg":      {RunFlags{From: "check"}, `argument "host" of AnalysisTemplate check has no value: pass it with -a host=VALUE`},
		"no template":      {RunFlags{}, "no template: give one with --from, --from-cluster-template or --from-file"},
		"two templates":    {RunFlags{From: "a", FromFile: "b"}, "--from and --from-file exclude each other: give the template with one of them"},
		"bad argument":     {RunFlags{From: "check", Args: []string{"host"}}, `--argument "host": expected NAME=VALUE`},
		"empty arg name":   {RunFlags{From: "check", Args: []string{"=x"}}, `--argument "=x": expected NAME=VALUE`},
		"argument twice":   {RunFlags{From: "check", Args: []string{"host=a", "host=b"}}, "--argument host is given twice"},
		"both names":       {RunFlags{From: "check", Args: []string{"host=a"}, Name: "a", GenerateName: "b-"}, "--name and --generate-name exclude each other"},
		"unknown template": {RunFlags{From: "nope"}, `--from nope (namespace "default"): reading AnalysisTemplate nope: analysistemplates.argoproj.io "nope" not found`},
		"unknown cluster":  {RunFlags{FromClusterTemplate: "nope"}, `--from-cluster-template nope: reading ClusterAnalysisTemplate nope: clusteranalysistemplates.argoproj.io "nope" not found`},
		"file of a run":    {RunFlags{FromFile: writeFile(t, experimentYAML)}, "expected one AnalysisTemplate or ClusterAnalysisTemplate, found one Experiment"},
	} {
		t.Run(name, func(t *testing.T) {
			c := fakeClient(t, checkTemplate())
			o, out, _ := testOptions(c)
			err := CreateAnalysisRun(context.Background(), o, tc.flags)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\n want it to contain %q", err, tc.want)
			}
			var runs v1alpha1.AnalysisRunList
			if err := c.List(context.Background(), &runs); err != nil || len(runs.Items) != 0 || out.Len() != 0 {
				t.Errorf("a run was created: %v, %d runs, output %q", err, len(runs.Items), out)
			}
		})
	}
}
