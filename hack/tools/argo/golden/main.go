// Command golden writes the figures Vane's unit tests compare against, computed by Argo
// Rollouts' own code at the version go.mod beside it pins:
//
//   - testdata/argo/hashes.json: for every Rollout (and Deployment, whose template a workloadRef
//     resolves to) in examples/seeds and testdata/argo/corpus, the rollouts-pod-template-hash
//     with no collisionCount and with a few, and the canary step hash (status.currentStepHash);
//   - testdata/argo/steps.json: random step lists (every field of Argo's step types) and their
//     step hash (steps.go);
//   - testdata/argo/replicas.json: the replica counts of Argo's canary arithmetic (replicas.go).
//
// Run it from the repository root with `make argo-golden`.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/argoproj/argo-rollouts/utils/conditions"
	"github.com/argoproj/argo-rollouts/utils/hash"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/kubernetes/pkg/controller"
	"sigs.k8s.io/yaml"
)

// collisionCounts are the status.collisionCount values hashed for each template (-1: none).
var collisionCounts = []int32{-1, 0, 1, 7}

// HashCase is one template's hashes, as Argo computes them.
type HashCase struct {
	// Source is "<file relative to the repository>#<kind>/<name>".
	Source string `json:"source"`
	// PodTemplateHash maps a collisionCount ("none", "0", "1", ...) to the hash.
	PodTemplateHash map[string]string `json:"podTemplateHash"`
	// LegacyHash maps a collisionCount to the hash Kubernetes' Deployment controller computes
	// (controller.ComputeHash), by which Argo also finds a rollout's ReplicaSet.
	LegacyHash map[string]string `json:"legacyHash"`
	// StepHash is ComputeStepHash of the Rollout (Rollouts only; "" for blue/green).
	StepHash *string `json:"stepHash,omitempty"`
}

func main() {
	repo := flag.String("repo", ".", "the Vane checkout")
	flag.Parse()
	var files []string
	for _, dir := range []string{"examples/seeds", "testdata/argo/corpus"} {
		m, err := filepath.Glob(filepath.Join(*repo, dir, "*.yaml"))
		if err != nil {
			log.Fatal(err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	var cases []HashCase
	for _, f := range files {
		cs, err := hashFile(*repo, f)
		if err != nil {
			log.Fatalf("%s: %v", f, err)
		}
		cases = append(cases, cs...)
	}
	out := filepath.Join(*repo, "testdata/argo")
	if err := writeJSON(filepath.Join(out, "hashes.json"), cases); err != nil {
		log.Fatal(err)
	}
	if err := writeRandomSteps(out); err != nil {
		log.Fatal(err)
	}
	if err := writeReplicas(out); err != nil {
		log.Fatal(err)
	}
}

// hashFile hashes every Rollout and Deployment of a multi-document YAML file.
func hashFile(repo, path string) ([]HashCase, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(repo, path)
	if err != nil {
		return nil, err
	}
	var out []HashCase
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		c, ok, err := hashDoc(doc)
		if err != nil {
			return nil, err
		}
		if ok {
			c.Source = filepath.ToSlash(rel) + "#" + c.Source
			out = append(out, c)
		}
	}
}

func hashDoc(doc []byte) (HashCase, bool, error) {
	var meta struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return HashCase{}, false, err
	}
	var template *corev1.PodTemplateSpec
	var step *string
	switch meta.Kind {
	case "Rollout":
		var ro v1alpha1.Rollout
		if err := yaml.UnmarshalStrict(doc, &ro); err != nil {
			return HashCase{}, false, err
		}
		template = &ro.Spec.Template
		s := conditions.ComputeStepHash(&ro)
		step = &s
	case "Deployment":
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict(doc, &d); err != nil {
			return HashCase{}, false, err
		}
		template = &d.Spec.Template
	default:
		return HashCase{}, false, nil
	}
	c := HashCase{Source: meta.Kind + "/" + meta.Metadata.Name, PodTemplateHash: map[string]string{},
		LegacyHash: map[string]string{}, StepHash: step}
	for _, n := range collisionCounts {
		key, cc := "none", (*int32)(nil)
		if n >= 0 {
			key, cc = fmt.Sprint(n), &n
		}
		c.PodTemplateHash[key] = hash.ComputePodTemplateHash(template, cc)
		c.LegacyHash[key] = controller.ComputeHash(template, cc)
	}
	return c, true, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
