package v1alpha1

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// lastAppliedLimit is the API server's limit on the total size of an
// object's annotations. Client-side `kubectl apply` stores the whole object,
// as compact JSON, in the kubectl.kubernetes.io/last-applied-configuration
// annotation, so every CRD must stay well below it.
const lastAppliedLimit = 262144

// crdBudget keeps 10% of the limit free for other annotations and for growth.
const crdBudget = lastAppliedLimit * 9 / 10

func crdFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "crd", "bases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no CRDs in config/crd/bases: run hack/generate.sh")
	}
	return files
}

// TestCRDSizes reports the size of every generated CRD and fails when one
// would no longer fit the last-applied-configuration annotation.
func TestCRDSizes(t *testing.T) {
	for _, f := range crdFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		t.Logf("CRD %-45s yaml %7d bytes, last-applied JSON %7d bytes (%.0f%% of %d)",
			filepath.Base(f), len(raw), len(js), 100*float64(len(js))/lastAppliedLimit, lastAppliedLimit)
		if len(js) > crdBudget {
			t.Errorf("%s: compact JSON is %d bytes, over the budget of %d for client-side kubectl apply",
				filepath.Base(f), len(js), crdBudget)
		}
	}
}

// TestCRDShape checks what the generator must produce: one CRD per kind with
// the names, scope, subresources and columns of Argo Rollouts, and a
// structural schema in which the pod template is typed (not left to
// x-kubernetes-preserve-unknown-fields).
func TestCRDShape(t *testing.T) {
	type want struct {
		kind, plural, short, scope string
		columns                    []string
		scale                      bool
	}
	wants := map[string]want{
		"argoproj.io_rollouts.yaml": {"Rollout", "rollouts", "ro", "Namespaced",
			[]string{"Desired", "Current", "Up-to-date", "Available", "Age"}, true},
		"argoproj.io_analysistemplates.yaml":        {"AnalysisTemplate", "analysistemplates", "at", "Namespaced", []string{"Age"}, false},
		"argoproj.io_clusteranalysistemplates.yaml": {"ClusterAnalysisTemplate", "clusteranalysistemplates", "cat", "Cluster", []string{"Age"}, false},
		"argoproj.io_analysisruns.yaml":             {"AnalysisRun", "analysisruns", "ar", "Namespaced", []string{"Status", "Age"}, false},
		"argoproj.io_experiments.yaml":              {"Experiment", "experiments", "exp", "Namespaced", []string{"Status", "Age"}, false},
	}
	seen := map[string]bool{}
	for _, f := range crdFiles(t) {
		base := filepath.Base(f)
		if strings.HasPrefix(base, "flagger.app_") {
			continue // Flagger's kinds: api/flagger/v1beta1's tests check them
		}
		w, ok := wants[base]
		if !ok {
			t.Errorf("unexpected CRD file %s", base)
			continue
		}
		seen[base] = true
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(raw, &crd); err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		if crd.Spec.Group != "argoproj.io" || crd.Spec.Names.Kind != w.kind || crd.Spec.Names.Plural != w.plural ||
			string(crd.Spec.Scope) != w.scope || len(crd.Spec.Names.ShortNames) != 1 || crd.Spec.Names.ShortNames[0] != w.short {
			t.Errorf("%s: names/scope = %+v scope %s", base, crd.Spec.Names, crd.Spec.Scope)
		}
		if len(crd.Spec.Names.Categories) == 0 {
			t.Errorf("%s: no categories", base)
		}
		if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Name != "v1alpha1" {
			t.Fatalf("%s: versions %+v", base, crd.Spec.Versions)
		}
		v := crd.Spec.Versions[0]
		if v.Subresources == nil || v.Subresources.Status == nil {
			t.Errorf("%s: no status subresource", base)
		}
		if w.scale {
			s := v.Subresources.Scale
			if s == nil || s.SpecReplicasPath != ".spec.replicas" || s.StatusReplicasPath != ".status.HPAReplicas" ||
				s.LabelSelectorPath == nil || *s.LabelSelectorPath != ".status.selector" {
				t.Errorf("%s: scale subresource = %+v", base, s)
			}
		}
		var cols []string
		for _, c := range v.AdditionalPrinterColumns {
			cols = append(cols, c.Name)
		}
		if strings.Join(cols, ",") != strings.Join(w.columns, ",") {
			t.Errorf("%s: columns %v, want %v", base, cols, w.columns)
		}
		js, _ := json.Marshal(v.Schema.OpenAPIV3Schema)
		if w.kind == "Rollout" {
			tmpl := v.Schema.OpenAPIV3Schema.Properties["spec"].Properties["template"]
			if tmpl.XPreserveUnknownFields != nil {
				t.Errorf("%s: pod template is not typed", base)
			}
			containers := tmpl.Properties["spec"].Properties["containers"]
			if containers.Type != "array" || containers.Items == nil || containers.Items.Schema.Properties["image"].Type != "string" {
				t.Errorf("%s: containers schema is not typed: %+v", base, containers)
			}
			labels := tmpl.Properties["metadata"].Properties["labels"]
			if labels.Type != "object" {
				t.Errorf("%s: template labels would be pruned: %+v", base, labels)
			}
			pause := v.Schema.OpenAPIV3Schema.Properties["spec"].Properties["strategy"].Properties["canary"].
				Properties["steps"].Items.Schema.Properties["pause"].Properties["duration"]
			if !pause.XIntOrString {
				t.Errorf("%s: pause.duration is not int-or-string", base)
			}
		}
		if strings.Contains(string(js), `"description"`) {
			t.Errorf("%s: schema still carries descriptions", base)
		}
	}
	for f := range wants {
		if !seen[f] {
			t.Errorf("missing CRD %s", f)
		}
	}
}
