package v1alpha1

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// argoModule is the Go module Argo Rollouts publishes; its manifests/crds folder holds the CRDs
// Argo installs. The version is ARGO_ROLLOUTS_VERSION in hack/tools/argo/version.env, the
// release every comparison with Argo is made against. The module is only read, never built.
const argoModule = "github.com/argoproj/argo-rollouts"

// argoCRDFiles maps each of Vane's CRDs (config/crd/bases) to Argo's (manifests/crds).
var argoCRDFiles = map[string]string{
	"argoproj.io_rollouts.yaml":                 "rollout-crd.yaml",
	"argoproj.io_analysistemplates.yaml":        "analysis-template-crd.yaml",
	"argoproj.io_clusteranalysistemplates.yaml": "cluster-analysis-template-crd.yaml",
	"argoproj.io_analysisruns.yaml":             "analysis-run-crd.yaml",
	"argoproj.io_experiments.yaml":              "experiment-crd.yaml",
}

// argoCRDGaps are the schema paths of Argo's CRDs that Vane's CRDs lack on purpose, by CRD
// file of Vane and path, each with the reason. An entry covers the path and everything under
// it. A client that validates fields strictly (kubectl apply --validate=strict, server-side
// apply with fieldValidation=Strict) rejects an object using one of these once Vane's CRDs are
// installed; the API server prunes them otherwise. TestArgoCRDPaths fails on any other path
// Vane lacks, and on an entry here that Vane no longer lacks, so the list stays true.
//
// Paths are written as in an object: `[]` stands for any item of a list, `{}` for any value
// of a map.
var argoCRDGaps = map[string]map[string]string{
	"argoproj.io_rollouts.yaml":                 {},
	"argoproj.io_analysistemplates.yaml":        providerGaps,
	"argoproj.io_clusteranalysistemplates.yaml": providerGaps,
	"argoproj.io_analysisruns.yaml":             providerGaps,
	"argoproj.io_experiments.yaml":              {},
}

// providerGaps are fields of metric providers Vane lacks. There are none left: the datadog,
// kayenta and newRelic fields Argo added came with the providers (issue #20).
var providerGaps = map[string]string{}

var (
	argoCRDDirOnce sync.Once
	argoCRDDirPath string
	argoCRDDirErr  error
)

// argoRolloutsVersion reads ARGO_ROLLOUTS_VERSION from hack/tools/argo/version.env.
func argoRolloutsVersion() (string, error) {
	name := filepath.Join("..", "..", "hack", "tools", "argo", "version.env")
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("reading the pinned Argo Rollouts version: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "ARGO_ROLLOUTS_VERSION="); ok {
			return strings.Trim(v, `"'`), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading %s: %w", name, err)
	}
	return "", fmt.Errorf("%s has no ARGO_ROLLOUTS_VERSION", name)
}

// argoCRDDir returns the manifests/crds folder of the pinned Argo Rollouts module in the Go
// module cache (`go mod download`, which fetches it through the module proxy when it is not
// there yet; `make argo-tools` downloads the same module). It fails the test, never skips it,
// when the module cannot be had.
func argoCRDDir(t *testing.T) string {
	t.Helper()
	argoCRDDirOnce.Do(func() {
		version, err := argoRolloutsVersion()
		if err != nil {
			argoCRDDirErr = err
			return
		}
		tmp, err := os.MkdirTemp("", "argo-rollouts-download-")
		if err != nil {
			argoCRDDirErr = err
			return
		}
		defer os.RemoveAll(tmp)
		// outside any module, so that Vane's go.mod is not involved
		cmd := exec.Command("go", "mod", "download", "-json", argoModule+"@"+version)
		cmd.Dir = tmp
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, runErr := cmd.Output()
		var info struct{ Dir, Error string }
		if err := json.Unmarshal(out, &info); err != nil {
			argoCRDDirErr = fmt.Errorf("go mod download %s@%s: %v (%w)", argoModule, version, runErr, err)
			return
		}
		dir := filepath.Join(info.Dir, "manifests", "crds")
		if _, err := os.Stat(filepath.Join(dir, "rollout-crd.yaml")); info.Dir == "" || err != nil {
			argoCRDDirErr = fmt.Errorf("go mod download %s@%s: %v %s", argoModule, version, runErr, info.Error)
			return
		}
		argoCRDDirPath = dir
	})
	if argoCRDDirErr != nil {
		t.Fatalf("Argo Rollouts' CRDs (the module pinned by hack/tools/argo/version.env) are not available: %v; "+
			"run `make argo-tools` (or `go mod download %s@<version>`) with access to the Go module proxy", argoCRDDirErr, argoModule)
	}
	return argoCRDDirPath
}

// crdSchema reads the v1alpha1 schema of a CRD file.
func crdSchema(t *testing.T, file string) *apiextensionsv1.JSONSchemaProps {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, v := range crd.Spec.Versions {
		if v.Name == "v1alpha1" && v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
			return v.Schema.OpenAPIV3Schema
		}
	}
	t.Fatalf("%s: no v1alpha1 schema", file)
	return nil
}

// schemaNode is what the comparison needs to know of one path of a schema.
type schemaNode struct {
	// open is set when the node keeps unknown fields (x-kubernetes-preserve-unknown-fields),
	// so that anything under it is accepted and stored.
	open bool
}

// schemaPaths lists every path of a schema: the properties, the items of lists (`[]`) and the
// values of maps (`{}`), recursively.
func schemaPaths(s *apiextensionsv1.JSONSchemaProps, path string, out map[string]schemaNode) {
	out[path] = schemaNode{open: s.XPreserveUnknownFields != nil && *s.XPreserveUnknownFields}
	join := func(p, name string) string {
		if p == "" {
			return name
		}
		return p + "." + name
	}
	for name, sub := range s.Properties {
		schemaPaths(&sub, join(path, name), out)
	}
	if s.Items != nil && s.Items.Schema != nil {
		schemaPaths(s.Items.Schema, path+"[]", out)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		schemaPaths(s.AdditionalProperties.Schema, path+"{}", out)
	}
	for _, sub := range s.AllOf {
		schemaPaths(&sub, path, out)
	}
	for _, sub := range s.AnyOf {
		schemaPaths(&sub, path, out)
	}
	for _, sub := range s.OneOf {
		schemaPaths(&sub, path, out)
	}
}

// parents returns p's ancestors, nearest first ("a.b[].c" gives "a.b[]", "a.b", "a", "").
func parents(p string) []string {
	var out []string
	for p != "" {
		i := strings.LastIndexAny(p, ".[{")
		if i < 0 {
			p = ""
		} else {
			p = p[:i]
		}
		out = append(out, p)
	}
	return out
}

// coveredBy reports whether Vane's schema accepts and keeps Argo's path p: it has the path, or
// one of its ancestors keeps unknown fields.
func coveredBy(vane map[string]schemaNode, p string) bool {
	if _, ok := vane[p]; ok {
		return true
	}
	for _, a := range parents(p) {
		if n, ok := vane[a]; ok && n.open {
			return true
		}
	}
	return false
}

// allowedGap returns the entry of gaps that covers p (p itself or an ancestor).
func allowedGap(gaps map[string]string, p string) (string, bool) {
	if _, ok := gaps[p]; ok {
		return p, true
	}
	for _, a := range parents(p) {
		if _, ok := gaps[a]; ok && a != "" {
			return a, true
		}
	}
	return "", false
}

// TestArgoCRDPaths compares every schema path of Argo Rollouts' CRDs (manifests/crds of the
// pinned module) with Vane's CRDs: a path Argo's schema has and Vane's does not (and that no
// open ancestor of Vane's keeps) fails the test unless argoCRDGaps lists it with a reason.
// Argo's CRDs are those of the release hack/tools/argo/version.env pins (v1.10.1 when this was
// written), not of Argo's development branch: moving the pin moves the comparison.
// The comparison is of paths only: types, enums and required fields are not compared.
func TestArgoCRDPaths(t *testing.T) {
	argoDir := argoCRDDir(t)
	if len(argoCRDGaps) != len(argoCRDFiles) {
		t.Fatalf("argoCRDGaps must name every CRD of argoCRDFiles")
	}
	files := make([]string, 0, len(argoCRDFiles))
	for f := range argoCRDFiles {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, vaneFile := range files {
		t.Run(strings.TrimSuffix(vaneFile, ".yaml"), func(t *testing.T) {
			argoFile := filepath.Join(argoDir, argoCRDFiles[vaneFile])
			argo, vane := map[string]schemaNode{}, map[string]schemaNode{}
			schemaPaths(crdSchema(t, argoFile), "", argo)
			schemaPaths(crdSchema(t, filepath.Join("..", "..", "config", "crd", "bases", vaneFile)), "", vane)
			// a schema read wrongly (another version, a walk that stops early) must not pass as
			// "nothing missing"
			if _, ok := argo["spec"]; !ok || len(argo) < 100 {
				t.Fatalf("%s: only %d schema paths read from Argo's CRD, no spec", argoFile, len(argo))
			}
			gaps := argoCRDGaps[vaneFile]
			used := map[string]bool{}
			var missing []string
			for p := range argo {
				if coveredBy(vane, p) {
					continue
				}
				if g, ok := allowedGap(gaps, p); ok {
					used[g] = true
					continue
				}
				missing = append(missing, p)
			}
			sort.Strings(missing)
			// report only the top of each missing subtree
			var top []string
			for _, p := range missing {
				if len(top) > 0 && strings.HasPrefix(p, top[len(top)-1]) &&
					strings.ContainsAny(p[len(top[len(top)-1]):len(top[len(top)-1])+1], ".[{") {
					continue
				}
				top = append(top, p)
			}
			for _, p := range top {
				t.Errorf("%s has %s; Vane's %s lacks it (add the field to api/v1alpha1 and run `make generate`, "+
					"or list it in argoCRDGaps with the reason)", argoCRDFiles[vaneFile], p, vaneFile)
			}
			for g, why := range gaps {
				if !used[g] {
					t.Errorf("argoCRDGaps lists %s of %s (%s), but Vane's CRD has it now (or Argo's does not): remove the entry",
						g, vaneFile, why)
				}
			}
			t.Logf("%s: %d paths in Argo's schema, %d known gaps", vaneFile, len(argo), len(used))
		})
	}
}
