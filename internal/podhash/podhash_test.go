package podhash

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/api/v1alpha1"
)

// golden is one entry of testdata/argo/hashes.json, written by Argo Rollouts' own code
// (hack/tools/argo/golden, `make argo-golden`).
type golden struct {
	Source          string            `json:"source"`
	PodTemplateHash map[string]string `json:"podTemplateHash"`
	LegacyHash      map[string]string `json:"legacyHash"`
	StepHash        *string           `json:"stepHash"`
}

const repo = "../.."

// TestArgoGolden hashes every Rollout and Deployment of the corpus Argo's code hashed and
// compares the pod-template hash and the legacy (Deployment) hash, with and without
// collisionCount, and the step hash.
func TestArgoGolden(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repo, "testdata/argo/hashes.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want []golden
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) < 10 {
		t.Fatalf("hashes.json has %d cases; regenerate it with make argo-golden", len(want))
	}
	docs := map[string][]byte{}
	for _, g := range want {
		file, _, _ := strings.Cut(g.Source, "#")
		if _, ok := docs[file]; !ok {
			readDocs(t, file, docs)
		}
	}
	for _, g := range want {
		t.Run(g.Source, func(t *testing.T) {
			doc, ok := docs[g.Source]
			if !ok {
				t.Fatalf("%s is not in the corpus any more; regenerate with make argo-golden", g.Source)
			}
			if diff := cmp.Diff(g, hashDoc(t, g.Source, doc)); diff != "" {
				t.Errorf("hashes differ from Argo's (-argo +vane):\n%s", diff)
			}
		})
	}
}

// readDocs adds the documents of a corpus file to docs, keyed as the golden file names them.
func readDocs(t *testing.T, file string, docs map[string][]byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo, file))
	if err != nil {
		t.Fatal(err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var meta struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		docs[fmt.Sprintf("%s#%s/%s", file, meta.Kind, meta.Metadata.Name)] = doc
	}
}

// hashDoc computes what the golden file records, with Vane's types and functions.
func hashDoc(t *testing.T, source string, doc []byte) golden {
	t.Helper()
	got := golden{Source: source, PodTemplateHash: map[string]string{}, LegacyHash: map[string]string{}}
	var template *corev1.PodTemplateSpec
	if strings.Contains(source, "#Rollout/") {
		var ro v1alpha1.Rollout
		if err := yaml.UnmarshalStrict(doc, &ro); err != nil {
			t.Fatal(err)
		}
		template = &ro.Spec.Template
		step := ""
		if ro.Spec.Strategy.Canary != nil && ro.Spec.Strategy.BlueGreen == nil {
			var err error
			if step, err = Steps(ro.Spec.Strategy.Canary.Steps); err != nil {
				t.Fatal(err)
			}
		}
		got.StepHash = &step
	} else {
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict(doc, &d); err != nil {
			t.Fatal(err)
		}
		template = &d.Spec.Template
	}
	for _, key := range []string{"none", "0", "1", "7"} {
		var cc *int32
		if n, err := strconv.Atoi(key); err == nil {
			cc = ptr.To(int32(n))
		}
		got.PodTemplateHash[key] = Template(template, cc)
		got.LegacyHash[key] = Legacy(template, cc)
	}
	return got
}

// TestStepsNilAndEmpty: Argo tells a missing list of steps from an empty one.
func TestStepsNilAndEmpty(t *testing.T) {
	none, err := Steps(nil)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := Steps([]v1alpha1.CanaryStep{})
	if err != nil {
		t.Fatal(err)
	}
	if none == empty {
		t.Errorf("nil and empty steps hash alike (%s)", none)
	}
}

// TestStepsBadPluginConfig: a plugin config that is not JSON is an error, not a panic.
func TestStepsBadPluginConfig(t *testing.T) {
	_, err := Steps([]v1alpha1.CanaryStep{{Plugin: &v1alpha1.PluginStep{Name: "p", Config: json.RawMessage("{")}}})
	if err == nil || !strings.Contains(err.Error(), "encoding the canary steps") {
		t.Errorf("err = %v, want an encoding error", err)
	}
}

// TestArgoRandomSteps decodes step lists that Argo's code filled at random and encoded, and
// hashes them with Vane's types: a field Vane's types lack, or encode otherwise (a pointer for
// a value, a missing omitempty), changes the hash.
func TestArgoRandomSteps(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repo, "testdata/argo/steps.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Steps    json.RawMessage `json:"steps"`
		StepHash string          `json:"stepHash"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 100 {
		t.Fatalf("steps.json has %d cases; regenerate it with make argo-golden", len(cases))
	}
	for i, c := range cases {
		var steps []v1alpha1.CanaryStep
		if err := json.Unmarshal(c.Steps, &steps); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		got, err := Steps(steps)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if got != c.StepHash {
			b, _ := json.Marshal(steps)
			t.Errorf("case %d: hash %s, Argo's %s\nArgo encodes: %s\nVane encodes: %s", i, got, c.StepHash, compact(t, c.Steps), b)
		}
	}
}

func compact(t *testing.T, raw []byte) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
