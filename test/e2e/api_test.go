package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/localcluster"
	"github.com/vanedev/vane/internal/testenv"
)

// apiSeedsSkipped are seeds that are not applied here (none: the flagger.app CRDs are installed
// too, so seed 003's Canary applies).
var apiSeedsSkipped = map[string]bool{}

// apiKubectl runs the kubectl built with the control plane against the test cluster.
type apiKubectl struct{ bin, kubeconfig, cacheDir string }

// newAPIKubectl finds the project's kubectl and points it at env's kubeconfig.
func newAPIKubectl(t *testing.T, env *testenv.Env) *apiKubectl {
	t.Helper()
	dir, err := localcluster.DefaultBinDir(env.RepoRoot)
	if err != nil {
		t.Fatal(err)
	}
	k := &apiKubectl{bin: filepath.Join(dir, "kubectl"), kubeconfig: env.Kubeconfig, cacheDir: t.TempDir()}
	if _, err := os.Stat(k.bin); err != nil {
		t.Fatalf("the project's kubectl: %v", err)
	}
	if k.kubeconfig == "" {
		t.Fatal("testenv gave no kubeconfig path")
	}
	return k
}

// run runs kubectl with args and returns its stdout and stderr.
func (k *apiKubectl) run(args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(k.bin, append([]string{"--kubeconfig=" + k.kubeconfig, "--cache-dir=" + k.cacheDir}, args...)...)
	cmd.Env = append(os.Environ(), "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// mustRun runs kubectl and fails the test unless it exits 0; it returns stdout's lines.
func (k *apiKubectl) mustRun(t *testing.T, args ...string) []string {
	t.Helper()
	out, errOut, err := k.run(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return strings.Split(strings.TrimSpace(out), "\n")
}

// apiDoc is one document of a manifest file.
type apiDoc struct {
	raw []byte
	obj *unstructured.Unstructured
}

// apiReadDocs splits a YAML file into its non-empty documents.
func apiReadDocs(t *testing.T, path string) []apiDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var docs []apiDoc
	for {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		u := &unstructured.Unstructured{}
		if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096).Decode(&u.Object); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) > 0 {
			docs = append(docs, apiDoc{raw: raw, obj: u})
		}
	}
}

// apiInstanceID labels the objects these tests create for a controller instance that does not
// run: the e2e controller of this process (started by other tests) leaves them alone, so their
// resourceVersions change only when the tests write.
const apiInstanceID = "api-tests-no-controller"

// apiWriteDocs writes docs into a temporary file: Services verbatim, argoproj.io objects
// re-encoded with the apiInstanceID label and without metadata.namespace (so that `kubectl -n`
// puts them in the test's namespace).
func apiWriteDocs(t *testing.T, docs []apiDoc) string {
	t.Helper()
	var parts [][]byte
	for _, d := range docs {
		raw := d.raw
		if d.obj.GetNamespace() != "" || d.obj.GroupVersionKind().Group == v1alpha1.GroupVersion.Group {
			u := d.obj.DeepCopy()
			unstructured.RemoveNestedField(u.Object, "metadata", "namespace")
			if u.GroupVersionKind().Group == v1alpha1.GroupVersion.Group {
				labels := u.GetLabels()
				if labels == nil {
					labels = map[string]string{}
				}
				labels[v1alpha1.InstanceIDLabel] = apiInstanceID
				u.SetLabels(labels)
			}
			js, err := json.Marshal(u.Object)
			if err != nil {
				t.Fatal(err)
			}
			if raw, err = yaml.JSONToYAML(js); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.HasSuffix(raw, []byte("\n")) {
			raw = append(raw[:len(raw):len(raw)], '\n')
		}
		// no blank line before the separator: it would belong to a `>+` block scalar
		parts = append(parts, raw)
	}
	path := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(path, bytes.Join(parts, []byte("---\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// apiRef is how kubectl names an object in its output: service/x, rollout.argoproj.io/x.
func apiRef(u *unstructured.Unstructured) string {
	gvk := u.GroupVersionKind()
	if gvk.Group == "" {
		return strings.ToLower(gvk.Kind) + "/" + u.GetName()
	}
	return strings.ToLower(gvk.Kind) + "." + gvk.Group + "/" + u.GetName()
}

// apiWantOutput asserts that kubectl reported every document with verb, and nothing else.
func apiWantOutput(t *testing.T, docs []apiDoc, lines []string, verb string) {
	t.Helper()
	var want []string
	for _, d := range docs {
		want = append(want, apiRef(d.obj)+" "+verb)
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("kubectl output (-want +got):\n%s", diff)
	}
}

// apiTyped returns an empty object of an argoproj.io kind, in its Go type, and a function
// returning its spec.
func apiTyped(t *testing.T, env *testenv.Env, gvk schema.GroupVersionKind) (client.Object, func() any) {
	t.Helper()
	o, err := env.Scheme.New(gvk)
	if err != nil {
		t.Fatal(err)
	}
	return o.(client.Object), func() any { return reflect.ValueOf(o).Elem().FieldByName("Spec").Interface() }
}

// apiSchemaDefaults fills in what the CRD schema defaults on the way in, so that a manifest's
// spec can be compared with the stored one: the only default the seeds meet is a container
// port's protocol (`default: TCP`, inherited from the core PodSpec schema).
func apiSchemaDefaults(obj client.Object) {
	ro, ok := obj.(*v1alpha1.Rollout)
	if !ok {
		return
	}
	for _, cs := range [][]corev1.Container{ro.Spec.Template.Spec.InitContainers, ro.Spec.Template.Spec.Containers} {
		for i := range cs {
			for j := range cs[i].Ports {
				if cs[i].Ports[j].Protocol == "" {
					cs[i].Ports[j].Protocol = corev1.ProtocolTCP
				}
			}
		}
	}
}

// apiCheckStored reads every argoproj.io object of docs back from ns into its Go type and
// compares its spec with the manifest's, so that a field the CRD schema prunes (or a value it
// changes) shows up as a difference. It returns how many objects it compared.
func apiCheckStored(t *testing.T, env *testenv.Env, ns string, docs []apiDoc) int {
	t.Helper()
	n := 0
	for _, d := range docs {
		if d.obj.GroupVersionKind().GroupVersion() != v1alpha1.GroupVersion {
			continue
		}
		want, wantSpec := apiTyped(t, env, d.obj.GroupVersionKind())
		if err := yaml.UnmarshalStrict(d.raw, want); err != nil {
			t.Fatalf("decoding %s into %T: %v", apiRef(d.obj), want, err)
		}
		apiSchemaDefaults(want)
		got, gotSpec := apiTyped(t, env, d.obj.GroupVersionKind())
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: d.obj.GetName()}, got); err != nil {
			t.Fatalf("reading %s back: %v", apiRef(d.obj), err)
		}
		if diff := cmp.Diff(wantSpec(), gotSpec()); diff != "" {
			t.Errorf("%s: stored spec differs from the manifest's (-file +cluster):\n%s", apiRef(d.obj), diff)
		}
		n++
	}
	return n
}

// apiVersions returns the resourceVersion of each object of docs in ns, but Deployments, whose
// status the controller-manager writes on its own schedule.
func apiVersions(t *testing.T, env *testenv.Env, ns string, docs []apiDoc) []string {
	t.Helper()
	var out []string
	for _, d := range docs {
		if d.obj.GetKind() == "Deployment" {
			continue
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(d.obj.GroupVersionKind())
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: d.obj.GetName()}, u); err != nil {
			t.Fatalf("reading %s: %v", apiRef(d.obj), err)
		}
		out = append(out, u.GetResourceVersion())
	}
	return out
}

// TestAPISeedsApply: every Argo Rollouts seed applies with client-side `kubectl apply` (twice:
// the second apply finds nothing to change) and, in a fresh namespace, with `kubectl apply
// --server-side`; each argoproj.io object reads back into its Go type with the file's spec.
func TestAPISeedsApply(t *testing.T) {
	env := testenv.Get(t)
	k := newAPIKubectl(t, env)
	files, err := filepath.Glob(filepath.Join(env.RepoRoot, "examples", "seeds", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	seeds, argo, compared := 0, 0, 0
	for _, f := range files {
		if apiSeedsSkipped[filepath.Base(f)] {
			continue
		}
		seeds++
		t.Run(filepath.Base(f), func(t *testing.T) {
			docs := apiReadDocs(t, f)
			for _, d := range docs {
				if d.obj.GroupVersionKind().GroupVersion() == v1alpha1.GroupVersion {
					argo++
				}
			}
			file := apiWriteDocs(t, docs)
			t.Run("client-side", func(t *testing.T) {
				ns := env.Namespace(t)
				apiWantOutput(t, docs, k.mustRun(t, "apply", "-n", ns, "-f", file), "created")
				compared += apiCheckStored(t, env, ns, docs)
				before := apiVersions(t, env, ns, docs)
				lines := k.mustRun(t, "apply", "-n", ns, "-f", file)
				for i, l := range lines {
					// JSON merge patch replaces a list whole: a list the schema defaults into
					// (containers[].ports[].protocol) differs from the file's, so kubectl sends
					// it again and says "configured"; the server finds nothing to change.
					if strings.HasSuffix(l, " configured") {
						t.Logf("second apply: %s", l)
						lines[i] = strings.TrimSuffix(l, " configured") + " unchanged"
					}
				}
				apiWantOutput(t, docs, lines, "unchanged")
				if after := apiVersions(t, env, ns, docs); !slices.Equal(before, after) {
					t.Errorf("the second apply wrote objects: resourceVersions %v, then %v", before, after)
				}
				apiCheckStored(t, env, ns, docs)
			})
			t.Run("server-side", func(t *testing.T) {
				ns := env.Namespace(t)
				apiWantOutput(t, docs, k.mustRun(t, "apply", "--server-side", "-n", ns, "-f", file), "serverside-applied")
				compared += apiCheckStored(t, env, ns, docs)
			})
		})
	}
	// each argoproj.io document is compared after both kinds of apply
	if seeds < 5 || compared != 2*argo {
		t.Errorf("%d seeds: compared %d argoproj.io objects with their manifests, want %d", seeds, compared, 2*argo)
	}
}

// TestAPICRDsApplyClientSide: `kubectl apply -f` of each CRD in config/crd/bases succeeds over
// the CRDs testenv installed, stores the whole CRD in the last-applied annotation (it fits the
// annotation size limit), and a second apply changes nothing; the CRD stays Established.
func TestAPICRDsApplyClientSide(t *testing.T) {
	env := testenv.Get(t)
	k := newAPIKubectl(t, env)
	files, err := filepath.Glob(filepath.Join(env.RepoRoot, "config", "crd", "bases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 8 {
		t.Fatalf("found %d CRD files, want 8 (rollouts, analysistemplates, clusteranalysistemplates, analysisruns, experiments; flagger.app's canaries, metrictemplates, alertproviders)", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var want apiextensionsv1.CustomResourceDefinition
			if err := yaml.UnmarshalStrict(b, &want); err != nil {
				t.Fatal(err)
			}
			ref := "customresourcedefinition.apiextensions.k8s.io/" + want.Name
			// testenv's Update leaves no last-applied annotation: the first apply patches it in
			// ("configured"); it is "unchanged" only when this test runs again on the same cluster.
			if out := k.mustRun(t, "apply", "-f", f); !slices.Contains([]string{ref + " configured", ref + " unchanged"}, out[0]) || len(out) != 1 {
				t.Errorf("first apply printed %q, want %q", out, ref+" configured")
			}
			if out := k.mustRun(t, "apply", "-f", f); len(out) != 1 || out[0] != ref+" unchanged" {
				t.Errorf("second apply printed %q, want %q", out, ref+" unchanged")
			}
			var got apiextensionsv1.CustomResourceDefinition
			if err := env.Client.Get(context.Background(), client.ObjectKey{Name: want.Name}, &got); err != nil {
				t.Fatal(err)
			}
			var last apiextensionsv1.CustomResourceDefinition
			if err := json.Unmarshal([]byte(got.Annotations[corev1.LastAppliedConfigAnnotation]), &last); err != nil {
				t.Fatalf("last-applied annotation: %v", err)
			}
			if diff := cmp.Diff(want.Spec, last.Spec); diff != "" {
				t.Errorf("last-applied annotation differs from the file (-file +annotation):\n%s", diff)
			}
			if err := testenv.WaitEstablished(context.Background(), env.Client, want.Name); err != nil {
				t.Errorf("CRD %s not Established after apply: %v", want.Name, err)
			}
		})
	}
}

// apiSeed returns the document of kind in a seed; its object is put in ns.
func apiSeed(t *testing.T, env *testenv.Env, seed, kind, ns string) apiDoc {
	t.Helper()
	for _, d := range apiReadDocs(t, filepath.Join(env.RepoRoot, "examples", "seeds", seed)) {
		if d.obj.GetKind() == kind {
			d.obj.SetNamespace(ns)
			return d
		}
	}
	t.Fatalf("no %s in %s", kind, seed)
	return apiDoc{}
}

// apiSetPath sets value at path in obj; numeric path elements index lists.
func apiSetPath(obj map[string]any, value any, path ...string) {
	var cur any = obj
	for n, p := range path {
		var set func(any)
		switch c := cur.(type) {
		case map[string]any:
			cur, set = c[p], func(v any) { c[p] = v }
		case []any:
			i, _ := strconv.Atoi(p)
			cur, set = c[i], func(v any) { c[i] = v }
		}
		if n == len(path)-1 {
			set(value)
		}
	}
}

// TestAPIRejectsWrongTypes: the API server's CRD schema rejects objects with a field of the
// wrong type as Invalid, with a message naming the field, both through the Go client and
// through kubectl; the same objects with the field left alone are accepted.
func TestAPIRejectsWrongTypes(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	cases := map[string]struct {
		seed, kind string
		path       []string // nil: the seed's object unchanged, which must be accepted
		value      any
		field      string
		wantType   string
	}{
		"rollout-valid":           {seed: "gradual-rollout.yaml", kind: "Rollout"},
		"analysistemplate-valid":  {seed: "canary-demo-prometheus.yaml", kind: "AnalysisTemplate"},
		"replicas-string":         {"gradual-rollout.yaml", "Rollout", []string{"spec", "replicas"}, "three", "spec.replicas", "integer"},
		"image-number":            {"gradual-rollout.yaml", "Rollout", []string{"spec", "template", "spec", "containers", "0", "image"}, int64(5), "spec.template.spec.containers[0].image", "string"},
		"setweight-string":        {"gradual-rollout.yaml", "Rollout", []string{"spec", "strategy", "canary", "steps", "0", "setWeight"}, "ten", "spec.strategy.canary.steps[0].setWeight", "integer"},
		"analysis-metrics-string": {"canary-demo-prometheus.yaml", "AnalysisTemplate", []string{"spec", "metrics"}, "success-rate", "spec.metrics", "array"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			u := apiSeed(t, env, tc.seed, tc.kind, ns).obj
			u.SetName(name)
			if tc.path != nil {
				apiSetPath(u.Object, tc.value, tc.path...)
			}
			err := env.Client.Create(context.Background(), u)
			if tc.path == nil {
				if err != nil {
					t.Fatalf("the unchanged %s was refused: %v", tc.kind, err)
				}
				return
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("got %v, want an Invalid error", err)
			}
			for _, s := range []string{tc.field, "must be of type " + tc.wantType} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}

	t.Run("kubectl", func(t *testing.T) {
		k := newAPIKubectl(t, env)
		u := apiSeed(t, env, "gradual-rollout.yaml", "Rollout", ns).obj
		u.SetName("kubectl-replicas-string")
		apiSetPath(u.Object, "three", "spec", "replicas")
		js, err := json.Marshal(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "bad.json")
		if err := os.WriteFile(file, js, 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, err := k.run("apply", "-n", ns, "-f", file)
		if err == nil {
			t.Fatalf("kubectl apply of a string spec.replicas succeeded: %s", out)
		}
		for _, s := range []string{`The Rollout "kubectl-replicas-string" is invalid`, "spec.replicas", "must be of type integer"} {
			if !strings.Contains(errOut, s) {
				t.Errorf("kubectl stderr %q does not contain %q", errOut, s)
			}
		}
	})
}

// TestAPIRolloutScaleSubresource: a Rollout serves /scale (as an HPA uses it): reading it gives
// spec.replicas, and updating it to 5 sets the Rollout's spec.replicas to 5.
func TestAPIRolloutScaleSubresource(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	ro := &v1alpha1.Rollout{}
	if err := yaml.UnmarshalStrict(apiSeed(t, env, "gradual-rollout.yaml", "Rollout", ns).raw, ro); err != nil {
		t.Fatal(err)
	}
	ro.Namespace = ns
	ro.Labels = map[string]string{v1alpha1.InstanceIDLabel: apiInstanceID}
	if err := env.Client.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	scale := &autoscalingv1.Scale{}
	if err := env.Client.SubResource("scale").Get(ctx, ro, scale); err != nil {
		t.Fatalf("reading /scale: %v", err)
	}
	if scale.Name != ro.Name || scale.Spec.Replicas != 3 {
		t.Fatalf("/scale of %s with 3 replicas: name %q, spec.replicas %d", ro.Name, scale.Name, scale.Spec.Replicas)
	}
	scale.Spec.Replicas = 5
	if err := env.Client.SubResource("scale").Update(ctx, ro, client.WithSubResourceBody(scale)); err != nil {
		t.Fatalf("updating /scale: %v", err)
	}
	got := &v1alpha1.Rollout{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ro), got); err != nil {
		t.Fatal(err)
	}
	if r := ptr.Deref(got.Spec.Replicas, -1); r != 5 {
		t.Errorf("after scaling to 5, spec.replicas is %d", r)
	}
	if err := env.Client.SubResource("scale").Get(ctx, ro, scale); err != nil || scale.Spec.Replicas != 5 {
		t.Errorf("/scale after the update: spec.replicas %d, err %v; want 5", scale.Spec.Replicas, err)
	}
}

// TestAPIShortNamesAndColumns: `kubectl get ro` lists a Rollout with the Argo print columns,
// and every short name of the API resolves to its resource.
func TestAPIShortNamesAndColumns(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	k := newAPIKubectl(t, env)
	for _, kind := range []string{"Rollout", "AnalysisTemplate"} {
		if err := env.Client.Create(context.Background(), apiSeed(t, env, "canary-demo-prometheus.yaml", kind, ns).obj); err != nil {
			t.Fatal(err)
		}
	}

	lines := k.mustRun(t, "get", "ro", "-n", ns)
	if len(lines) != 2 {
		t.Fatalf("kubectl get ro printed %d lines, want a header and one rollout:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	if got, want := strings.Fields(lines[0]), []string{"NAME", "DESIRED", "CURRENT", "UP-TO-DATE", "AVAILABLE", "AGE"}; !slices.Equal(got, want) {
		t.Errorf("header %q, want columns %q", lines[0], want)
	}
	if row := strings.Fields(lines[1]); len(row) < 2 || row[0] != "canary-demo" || row[1] != "3" {
		t.Errorf("row %q, want canary-demo with DESIRED 3", lines[1])
	}

	for short, want := range map[string]string{
		"ro":  "rollout.argoproj.io/canary-demo",
		"at":  "analysistemplate.argoproj.io/success-rate",
		"ar":  "", // none in the namespace: kubectl succeeds and prints nothing
		"exp": "",
	} {
		t.Run(short, func(t *testing.T) {
			out, errOut, err := k.run("get", short, "-n", ns, "-o", "name")
			if err != nil || strings.TrimSpace(out) != want {
				t.Errorf("kubectl get %s -o name: %q (stderr %q, err %v), want %q", short, out, errOut, err, want)
			}
		})
	}
	t.Run("cat", func(t *testing.T) { // cluster-scoped: only that it resolves
		if _, errOut, err := k.run("get", "cat", "-o", "name"); err != nil {
			t.Errorf("kubectl get cat: %v: %s", err, errOut)
		}
	})
}
