package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	flaggerv1beta1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/cli"
	"github.com/vanedev/vane/internal/testenv"
)

// flaggerModule is the Flagger release whose docs and examples are the corpus.
const flaggerModule = "github.com/fluxcd/flagger@v1.36.1"

// flaggerDoc is one flagger.app/v1beta1 object found in Flagger's module.
type flaggerDoc struct {
	source string         // file (relative to the module) and document index
	obj    map[string]any // the object, numbers as float64 (JSON)
	raw    []byte         // its JSON
}

// flaggerModuleDir returns Flagger's module directory in the module cache, downloading it
// with `go mod download` when it is not there yet.
func flaggerModuleDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), filepath.FromSlash(flaggerModule))
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	out, err = exec.Command("go", "mod", "download", "-json", flaggerModule).Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", flaggerModule, err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("go mod download %s: no directory in %s (%v)", flaggerModule, out, err)
	}
	return m.Dir
}

var (
	// flaggerFence matches a fenced code block of a Markdown file.
	flaggerFence = regexp.MustCompile("(?s)```[a-zA-Z]*\n(.*?)```")
	// flaggerHeredoc matches a shell here-document ending with EOF.
	flaggerHeredoc = regexp.MustCompile(`(?s)<<\s*'?EOF'?[^\n]*\n(.*?)\nEOF`)
	flaggerKinds   = map[string]bool{"Canary": true, "MetricTemplate": true, "AlertProvider": true}
)

// flaggerCorpus finds every Canary, MetricTemplate and AlertProvider in the YAML files, the
// Markdown code blocks and the shell here-documents of Flagger's module (the Helm chart's
// templates and the CRD files excepted).
func flaggerCorpus(t *testing.T, dir string) []flaggerDoc {
	t.Helper()
	var docs []flaggerDoc
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if strings.HasPrefix(rel, "charts"+string(filepath.Separator)) || strings.HasSuffix(rel, "crd.yaml") {
			return nil
		}
		var blocks []string
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml":
			blocks = []string{string(b)}
		case ".md":
			for _, m := range flaggerFence.FindAllStringSubmatch(string(b), -1) {
				blocks = append(blocks, m[1])
			}
		case ".sh":
			for _, m := range flaggerHeredoc.FindAllStringSubmatch(string(b), -1) {
				blocks = append(blocks, m[1])
			}
		}
		for _, blk := range blocks {
			docs = append(docs, flaggerDocs(rel, blk, len(docs))...)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	return docs
}

// flaggerDocs splits a block into YAML documents and keeps the flagger.app/v1beta1 kinds;
// documents that are not YAML (shell, templates) are no objects and are skipped.
func flaggerDocs(rel, block string, seen int) []flaggerDoc {
	var out []flaggerDoc
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(block)))
	for {
		raw, err := r.Read()
		if err != nil {
			return out
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			continue
		}
		var obj map[string]any
		if json.Unmarshal(js, &obj) != nil || obj["apiVersion"] != "flagger.app/v1beta1" {
			continue
		}
		if kind, _ := obj["kind"].(string); !flaggerKinds[kind] {
			continue
		}
		out = append(out, flaggerDoc{source: fmt.Sprintf("%s#%d", rel, seen+len(out)), obj: obj, raw: js})
	}
}

// flaggerTyped returns an empty Go object of doc's kind.
func flaggerTyped(t *testing.T, kind string) any {
	t.Helper()
	switch kind {
	case "Canary":
		return &flaggerv1beta1.Canary{}
	case "MetricTemplate":
		return &flaggerv1beta1.MetricTemplate{}
	case "AlertProvider":
		return &flaggerv1beta1.AlertProvider{}
	}
	t.Fatalf("no Go type for kind %q", kind)
	return nil
}

// flaggerRoundTrip decodes doc strictly into its Go type and encodes it again: the result
// must equal the document.
func flaggerRoundTrip(t *testing.T, d flaggerDoc) {
	t.Helper()
	obj := flaggerTyped(t, d.obj["kind"].(string))
	strict, err := sigsjson.UnmarshalStrict(d.raw, obj)
	if err != nil || len(strict) > 0 {
		t.Errorf("%s: strict decoding: %v %v", d.source, err, errors.Join(strict...))
		return
	}
	js, err := json.Marshal(obj)
	if err != nil {
		t.Fatalf("%s: encoding: %v", d.source, err)
	}
	var got map[string]any
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatal(err)
	}
	delete(got["metadata"].(map[string]any), "creationTimestamp")
	if st, ok := got["status"].(map[string]any); ok && len(st) == 0 {
		delete(got, "status")
	}
	if diff := cmp.Diff(d.obj, got); diff != "" {
		t.Errorf("%s: decoded and encoded again, it differs (-file +Go):\n%s", d.source, diff)
	}
}

// flaggerSchemaDefaults sets on a copy of spec the defaults the CRD schema gives (those of
// Flagger's CRD): the session cookie's maxAge, and the group and kind of Gateway API references.
func flaggerSchemaDefaults(spec map[string]any) map[string]any {
	spec = flaggerCopyJSON(spec)
	setDefault := func(m map[string]any, key string, v any) {
		if _, ok := m[key]; !ok {
			m[key] = v
		}
	}
	if a, ok := spec["analysis"].(map[string]any); ok {
		if sa, ok := a["sessionAffinity"].(map[string]any); ok {
			setDefault(sa, "maxAge", float64(86400))
		}
	}
	svc, _ := spec["service"].(map[string]any)
	refs, _ := svc["gatewayRefs"].([]any)
	for _, r := range refs {
		setDefault(r.(map[string]any), "group", "gateway.networking.k8s.io")
		setDefault(r.(map[string]any), "kind", "Gateway")
	}
	mirrors, _ := svc["mirror"].([]any)
	for _, m := range mirrors {
		if br, ok := m.(map[string]any)["backendRef"].(map[string]any); ok {
			setDefault(br, "group", "")
			setDefault(br, "kind", "Service")
		}
	}
	return spec
}

// flaggerCopyJSON copies a JSON object through encoding/json.
func flaggerCopyJSON(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// flaggerApplyAndCompare creates d in ns, reads it back and compares its spec with the
// document's (schema defaults added): any field the CRD pruned, or value it changed, is a
// difference. The object is deleted afterwards.
func flaggerApplyAndCompare(t *testing.T, env *testenv.Env, ns string, d flaggerDoc) {
	t.Helper()
	ctx := context.Background()
	u := &unstructured.Unstructured{Object: flaggerCopyJSON(d.obj)}
	u.SetNamespace(ns)
	if err := env.Client.Create(ctx, u); err != nil {
		t.Errorf("%s: creating %s/%s: %v", d.source, u.GetKind(), u.GetName(), err)
		return
	}
	defer func() {
		if err := env.Client.Delete(ctx, u); err != nil {
			t.Errorf("deleting %s/%s: %v", u.GetKind(), u.GetName(), err)
		}
	}()
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(u.GroupVersionKind())
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: u.GetName()}, got); err != nil {
		t.Fatalf("%s: reading back: %v", d.source, err)
	}
	gotSpec := flaggerCopyJSON(map[string]any{"spec": got.Object["spec"]})["spec"]
	wantSpec, _ := d.obj["spec"].(map[string]any)
	if diff := cmp.Diff(flaggerSchemaDefaults(wantSpec), gotSpec); diff != "" {
		t.Errorf("%s: %s/%s stored spec differs from the document's (-file +cluster):\n%s", d.source, u.GetKind(), u.GetName(), diff)
	}
}

// TestFlaggerAPICorpus applies every Canary, MetricTemplate and AlertProvider of Flagger's docs,
// examples and test scripts to the control plane and checks that no field is pruned; each also
// decodes strictly into Vane's Go types and encodes back unchanged.
func TestFlaggerAPICorpus(t *testing.T) {
	env := testenv.Get(t)
	docs := flaggerCorpus(t, flaggerModuleDir(t))
	kinds := map[string]int{}
	files := map[string]bool{}
	for _, d := range docs {
		kinds[d.obj["kind"].(string)]++
		files[strings.SplitN(d.source, "#", 2)[0]] = true
	}
	t.Logf("corpus: %d objects in %d files: %v", len(docs), len(files), kinds)
	// v1.36.1 has dozens of Canaries and MetricTemplates, and one AlertProvider (docs/gitbook/usage/alerting.md): a smaller corpus means
	// the extraction broke.
	if kinds["Canary"] < 30 || kinds["MetricTemplate"] < 5 || kinds["AlertProvider"] < 1 {
		t.Fatalf("corpus too small: %v", kinds)
	}
	ns := env.Namespace(t)
	fragments := 0
	for i, d := range docs {
		if filled := flaggerComplete(d.obj, i); len(filled) > 0 {
			fragments++
			t.Logf("%s: a fragment; filled %v", d.source, filled)
			raw, err := json.Marshal(d.obj)
			if err != nil {
				t.Fatal(err)
			}
			d.raw = raw
		}
		flaggerRoundTrip(t, d)
		flaggerApplyAndCompare(t, env, ns, d)
	}
	t.Logf("%d of %d objects were fragments completed with the fields Flagger's CRD requires", fragments, len(docs))
}

// TestFlaggerAPISeed: seed 003's Canary applies with nothing pruned and `vane lint` finds no
// problem in it.
func TestFlaggerAPISeed(t *testing.T) {
	env := testenv.Get(t)
	path := filepath.Join(env.RepoRoot, "examples", "seeds", "flagger-api-gateway-canary.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs := flaggerDocs(filepath.Base(path), string(b), 0)
	if len(docs) != 1 || docs[0].obj["kind"] != "Canary" {
		t.Fatalf("%s: want one Canary, found %d flagger.app objects", path, len(docs))
	}
	flaggerRoundTrip(t, docs[0])
	flaggerApplyAndCompare(t, env, env.Namespace(t), docs[0])
	var out bytes.Buffer
	if err := cli.Lint(&cli.Options{Out: &out, Err: io.Discard}, []string{path}); err != nil {
		t.Errorf("vane lint %s: %v\n%s", path, err, out.String())
	}
	if !strings.Contains(out.String(), "no problems found") {
		t.Errorf("vane lint output: %q", out.String())
	}
}

// flaggerComplete fills, in place, the fields Flagger's CRD requires that a documentation
// fragment left out ("# ..."): such snippets show a few fields, and each of those fields must
// still be stored unpruned. It returns the paths it filled (none for a complete object).
func flaggerComplete(obj map[string]any, n int) []string {
	var filled []string
	if flaggerDropNulls(obj) {
		filled = append(filled, "(null placeholders removed)")
	}
	set := func(m map[string]any, key string, v any, path string) map[string]any {
		if _, ok := m[key]; !ok {
			m[key] = v
			filled = append(filled, path)
		}
		sub, _ := m[key].(map[string]any)
		return sub
	}
	set(obj, "metadata", map[string]any{}, "metadata")
	set(obj["metadata"].(map[string]any), "name", fmt.Sprintf("fragment-%d", n), "metadata.name")
	spec := set(obj, "spec", map[string]any{}, "spec")
	switch obj["kind"] {
	case "Canary":
		set(spec, "targetRef", map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"}, "spec.targetRef")
		set(set(spec, "service", map[string]any{}, "spec.service"), "port", float64(9898), "spec.service.port")
		a := set(spec, "analysis", map[string]any{}, "spec.analysis")
		set(a, "interval", "1m", "spec.analysis.interval")
		set(a, "threshold", float64(5), "spec.analysis.threshold")
		_, w := a["stepWeight"]
		_, ws := a["stepWeights"]
		if !w && !ws {
			set(a, "iterations", float64(10), "spec.analysis.iterations")
		}
	case "MetricTemplate":
		p := set(spec, "provider", map[string]any{}, "spec.provider")
		set(p, "type", "prometheus", "spec.provider.type")
		if ref, ok := p["secretRef"].(map[string]any); ok {
			set(ref, "name", "secret", "spec.provider.secretRef.name")
		}
		set(spec, "query", "vector(1)", "spec.query")
	}
	return filled
}

// flaggerDropNulls removes the keys with null values (a reference page's placeholders, like
// "type: # prometheus, datadog..."), which the API server drops too; it reports whether any was.
func flaggerDropNulls(m map[string]any) bool {
	dropped := false
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			delete(m, k)
			dropped = true
		case map[string]any:
			dropped = flaggerDropNulls(v) || dropped
		}
	}
	return dropped
}
