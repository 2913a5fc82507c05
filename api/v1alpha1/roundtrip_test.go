package v1alpha1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// seedDir holds real-world manifests collected for Vane.
var seedDir = filepath.Join("..", "..", "examples", "seeds")

// seedsSkipped are seed files that are not Argo Rollouts manifests.
var seedsSkipped = map[string]bool{"flagger-api-gateway-canary.yaml": true}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// seedDoc is one argoproj.io/v1alpha1 document of a seed file.
type seedDoc struct {
	name string // file#index
	kind string
	json []byte
}

// splitYAMLDocuments splits a multi-document YAML file.
func splitYAMLDocuments(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range docSeparator.Split(string(data), -1) {
		if len(bytes.TrimSpace([]byte(d))) > 0 {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// loadSeedDocs returns every argoproj.io/v1alpha1 document of the seeds.
func loadSeedDocs(tb testing.TB) []seedDoc {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(seedDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no seed manifests in %s: %v", seedDir, err)
	}
	var out []seedDoc
	for _, f := range files {
		if seedsSkipped[filepath.Base(f)] {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for i, doc := range splitYAMLDocuments(data) {
			js, err := yaml.YAMLToJSON(doc)
			if err != nil {
				tb.Fatalf("%s#%d: %v", f, i, err)
			}
			var head struct{ APIVersion, Kind string }
			if err := json.Unmarshal(js, &head); err != nil {
				tb.Fatalf("%s#%d: %v", f, i, err)
			}
			if head.APIVersion != GroupVersion.String() {
				continue
			}
			out = append(out, seedDoc{name: fmt.Sprintf("%s#%d", filepath.Base(f), i), kind: head.Kind, json: js})
		}
	}
	return out
}

// newObject returns an empty object of an argoproj.io kind.
func newObject(kind string) (runtime.Object, error) {
	switch kind {
	case "Rollout":
		return &Rollout{}, nil
	case "AnalysisTemplate":
		return &AnalysisTemplate{}, nil
	case "ClusterAnalysisTemplate":
		return &ClusterAnalysisTemplate{}, nil
	case "AnalysisRun":
		return &AnalysisRun{}, nil
	case "Experiment":
		return &Experiment{}, nil
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}

// TestSeedRoundTrip decodes every Argo manifest of examples/seeds strictly
// (an unknown field is an error, so no field can be lost), encodes it again
// and compares the result with the original as generic JSON.
func TestSeedRoundTrip(t *testing.T) {
	docs := loadSeedDocs(t)
	kinds := map[string]int{}
	for _, d := range docs {
		kinds[d.kind]++
		t.Run(d.name, func(t *testing.T) {
			obj, err := newObject(d.kind)
			if err != nil {
				t.Fatal(err)
			}
			if err := yaml.UnmarshalStrict(d.json, obj); err != nil {
				t.Fatalf("strict decode: %v", err)
			}
			out, err := json.Marshal(obj)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			var want, got any
			if err := json.Unmarshal(d.json, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			dropAddedEmptyObjects(got, want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip changed the manifest (-original +re-encoded):\n%s", diff)
			}
		})
	}
	if kinds["Rollout"] == 0 || kinds["AnalysisTemplate"] == 0 {
		t.Fatalf("expected Rollouts and AnalysisTemplates among the seeds, found %v", kinds)
	}
}

// dropAddedEmptyObjects removes from got the keys that are absent from want
// and whose value in got is an empty object. Kubernetes' own Go types encode
// some empty structs as {} (a container's resources, for example), which the
// API server treats exactly like an absent field; that is the only
// difference the round trip tolerates. A key present in the original is
// always compared, so `pause: {}` must survive as it is.
func dropAddedEmptyObjects(got, want any) {
	switch g := got.(type) {
	case map[string]any:
		w, _ := want.(map[string]any)
		for k, gv := range g {
			wv, ok := w[k]
			if !ok {
				if m, isMap := gv.(map[string]any); isMap && len(m) == 0 {
					delete(g, k)
				}
				continue
			}
			dropAddedEmptyObjects(gv, wv)
		}
	case []any:
		w, _ := want.([]any)
		for i := range g {
			if i < len(w) {
				dropAddedEmptyObjects(g[i], w[i])
			}
		}
	}
}

// TestSeedsValidate checks that every seed Rollout and AnalysisTemplate is
// valid.
func TestSeedsValidate(t *testing.T) {
	for _, d := range loadSeedDocs(t) {
		t.Run(d.name, func(t *testing.T) {
			obj, err := newObject(d.kind)
			if err != nil {
				t.Fatal(err)
			}
			if err := yaml.UnmarshalStrict(d.json, obj); err != nil {
				t.Fatal(err)
			}
			if errs := validateObject(obj); len(errs) > 0 {
				t.Errorf("seed is invalid:\n%s", errorLines(errs))
			}
		})
	}
}

// TestStrictDecodingRejectsUnknownFields shows that the round trip would
// notice a field the types do not know.
func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	doc := []byte("apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nspec:\n  strategy:\n    canary:\n      stepz: []\n")
	if err := yaml.UnmarshalStrict(doc, &Rollout{}); err == nil {
		t.Fatal("an unknown field was accepted")
	}
}
