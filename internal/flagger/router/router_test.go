package router

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestNew(t *testing.T) {
	tests := map[string]struct {
		provider string
		want     string // the router's type
		wantErr  string
	}{
		"default":            {provider: "", want: "*router.istioRouter"},
		"istio":              {provider: "istio", want: "*router.istioRouter"},
		"kubernetes":         {provider: "kubernetes", want: "router.nopRouter"},
		"nginx":              {provider: "nginx", want: "*router.nginxRouter"},
		"gatewayapi":         {provider: "gatewayapi", want: "*router.gatewayRouter v1"},
		"gatewayapi:v1":      {provider: "gatewayapi:v1", want: "*router.gatewayRouter v1"},
		"gatewayapi:v1beta1": {provider: "gatewayapi:v1beta1", want: "*router.gatewayRouter v1beta1"},
		"linkerd": {provider: "linkerd",
			wantErr: `provider not supported: Vane does not route spec.provider "linkerd"; it routes kubernetes, istio, nginx, gatewayapi, gatewayapi:v1, gatewayapi:v1beta1`},
		"appmesh:v1beta2": {provider: "appmesh:v1beta2",
			wantErr: `provider not supported: Vane does not route spec.provider "appmesh:v1beta2"; it routes kubernetes, istio, nginx, gatewayapi, gatewayapi:v1, gatewayapi:v1beta1`},
		"smi:v1alpha3:osm": {provider: "smi:v1alpha3:osm",
			wantErr: `provider not supported: Vane does not route spec.provider "smi:v1alpha3:osm"; it routes kubernetes, istio, nginx, gatewayapi, gatewayapi:v1, gatewayapi:v1beta1`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := New(tc.provider, nil)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrUnsupportedProvider) {
					t.Fatalf("error = %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("%T", r)
			if g, ok := r.(*gatewayRouter); ok {
				got += " " + g.gvk.Version
			}
			if got != tc.want {
				t.Errorf("router = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestKubernetes(t *testing.T) {
	tests := map[string]struct {
		iterations int32
		want       [3]any
	}{
		"before the iterations": {iterations: 0, want: [3]any{100, 0, false}},
		"during the iterations": {iterations: 2, want: [3]any{0, 100, false}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := New(Kubernetes, nil)
			if err != nil {
				t.Fatal(err)
			}
			cd := &flaggerv1.Canary{Status: flaggerv1.CanaryStatus{Iterations: tc.iterations}}
			for _, err := range []error{r.Reconcile(context.Background(), cd), r.SetRoutes(context.Background(), cd, 0, 100, true),
				r.Finalize(context.Background(), cd)} {
				if err != nil {
					t.Fatal(err)
				}
			}
			p, c, m, err := r.GetRoutes(context.Background(), cd)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, [3]any{p, c, m}); diff != "" {
				t.Errorf("GetRoutes (-want +got):\n%s", diff)
			}
		})
	}
}

// fixture is one test's Canary, its router and the client to the API server.
type fixture struct {
	ctx context.Context
	c   client.Client
	r   Router
	cd  *flaggerv1.Canary
	ns  string
}

// step is something done to the fixture: a router call or a user's edit.
type step func(t *testing.T, x *fixture)

func reconcile(t *testing.T, x *fixture) {
	t.Helper()
	if err := x.r.Reconcile(x.ctx, x.cd); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
}

func setRoutes(primary, canary int, mirrored bool) step {
	return func(t *testing.T, x *fixture) {
		t.Helper()
		if err := x.r.SetRoutes(x.ctx, x.cd, primary, canary, mirrored); err != nil {
			t.Fatalf("SetRoutes(%d, %d, %t): %v", primary, canary, mirrored, err)
		}
	}
}

func finalize(t *testing.T, x *fixture) {
	t.Helper()
	if err := x.r.Finalize(x.ctx, x.cd); err != nil {
		t.Fatalf("Finalize: %v", err)
	}
}

// phase sets the Canary's status phase (as the controller would).
func phase(p flaggerv1.CanaryPhase) step {
	return func(_ *testing.T, x *fixture) { x.cd.Status.Phase = p }
}

// edit is a user's patch of the object gvk/name: a JSON patch when it is a list, else a merge
// patch.
func edit(gvk schema.GroupVersionKind, name, patch string) step {
	return func(t *testing.T, x *fixture) {
		t.Helper()
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		u.SetNamespace(x.ns)
		u.SetName(name)
		pt := types.MergePatchType
		if strings.HasPrefix(patch, "[") {
			pt = types.JSONPatchType
		}
		if err := x.c.Patch(x.ctx, u, client.RawPatch(pt, []byte(patch))); err != nil {
			t.Fatalf("patching %s %s: %v", gvk.Kind, name, err)
		}
	}
}

// apply creates the object of manifest (YAML) in the test's namespace.
func apply(manifest string) step {
	return func(t *testing.T, x *fixture) {
		t.Helper()
		u := &unstructured.Unstructured{Object: parse(t, manifest, nil)}
		u.SetNamespace(x.ns)
		if err := x.c.Create(x.ctx, u); err != nil {
			t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

var (
	crdsOnce sync.Once
	crdsErr  error
)

// setup returns a client of the shared API server with the Gateway API (v1.4.0's standard
// channel, from the Go module cache) and Istio CRDs installed, and a fresh namespace.
func setup(t *testing.T) (client.Client, string) {
	t.Helper()
	env := testenv.Get(t)
	crdsOnce.Do(func() { crdsErr = installCRDs(env) })
	if crdsErr != nil {
		t.Fatal(crdsErr)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, flaggerv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c, env.Namespace(t)
}

func installCRDs(env *testenv.Env) error {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api")
	cmd.Dir = env.RepoRoot
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("locating the sigs.k8s.io/gateway-api module: %w", err)
	}
	ctx := context.Background()
	if err := testenv.InstallCRDs(ctx, env.Client, filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard")); err != nil {
		return fmt.Errorf("installing the Gateway API CRDs: %w", err)
	}
	if err := testenv.InstallCRDs(ctx, env.Client, filepath.Join(env.RepoRoot, "test", "e2e", "testdata", "crds")); err != nil {
		return fmt.Errorf("installing the Istio CRDs: %w", err)
	}
	return nil
}

// newFixture creates the Canary podinfo (base, changed by mutate) in a fresh namespace, so
// that the objects it owns are not collected, and the router of its provider.
func newFixture(t *testing.T, base func(ns string) *flaggerv1.Canary, mutate func(*flaggerv1.Canary), opts ...Option) *fixture {
	t.Helper()
	c, ns := setup(t)
	cd := base(ns)
	if mutate != nil {
		mutate(cd)
	}
	x := &fixture{ctx: context.Background(), c: c, ns: ns}
	if err := c.Create(x.ctx, cd); err != nil {
		t.Fatalf("creating the Canary: %v", err)
	}
	x.cd = cd
	r, err := New(cd.Spec.Provider, c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	x.r = r
	return x
}

// analysis is a progressive analysis (stepWeight 10 up to 50).
func analysis() *flaggerv1.CanaryAnalysis {
	return &flaggerv1.CanaryAnalysis{Interval: "1m", Threshold: ptr.To[int32](5), StepWeight: ptr.To[int32](10), MaxWeight: ptr.To[int32](50)}
}

// blueGreen makes cd's analysis run iterations instead of shifting weights.
func blueGreen(cd *flaggerv1.Canary) {
	cd.Spec.Analysis.StepWeight, cd.Spec.Analysis.MaxWeight = nil, nil
	cd.Spec.Analysis.Iterations = ptr.To[int32](5)
}

// object reads gvk/name: apiVersion, kind, spec and the metadata a router sets.
func object(t *testing.T, x *fixture, gvk schema.GroupVersionKind, name string) map[string]any {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := x.c.Get(x.ctx, client.ObjectKey{Namespace: x.ns, Name: name}, u); err != nil {
		t.Fatalf("reading %s %s: %v", gvk.Kind, name, err)
	}
	meta := map[string]any{"name": u.GetName(), "namespace": u.GetNamespace()}
	for _, k := range []string{"labels", "annotations", "ownerReferences"} {
		if v, ok := u.Object["metadata"].(map[string]any)[k]; ok {
			meta[k] = v
		}
	}
	out := map[string]any{"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(), "metadata": meta}
	if spec, ok := u.Object["spec"]; ok {
		out["spec"] = spec
	}
	return out
}

func resourceVersion(t *testing.T, x *fixture, gvk schema.GroupVersionKind, name string) string {
	t.Helper()
	u := &metav1.PartialObjectMetadata{}
	u.SetGroupVersionKind(gvk)
	if err := x.c.Get(x.ctx, client.ObjectKey{Namespace: x.ns, Name: name}, u); err != nil {
		t.Fatalf("reading %s %s: %v", gvk.Kind, name, err)
	}
	return u.ResourceVersion
}

// parse decodes a YAML manifest after replacing $NS, $UID, $COOKIE and $PREVIOUS with the
// fixture's namespace, Canary UID and session-affinity cookies ($COOKIEVALUE and
// $PREVIOUSVALUE: the cookies' values).
func parse(t *testing.T, manifest string, x *fixture) map[string]any {
	t.Helper()
	if x != nil {
		_, cookie, _ := strings.Cut(x.cd.Status.SessionAffinityCookie, "=")
		_, previous, _ := strings.Cut(x.cd.Status.PreviousSessionAffinityCookie, "=")
		manifest = strings.NewReplacer("$NS", x.ns, "$UID", string(x.cd.UID),
			"$COOKIEVALUE", cookie, "$COOKIE", x.cd.Status.SessionAffinityCookie,
			"$PREVIOUSVALUE", previous, "$PREVIOUS", x.cd.Status.PreviousSessionAffinityCookie).Replace(manifest)
	}
	data, err := yaml.YAMLToJSON([]byte(manifest))
	if err != nil {
		t.Fatalf("bad manifest: %v\n%s", err, manifest)
	}
	var out map[string]any
	if err := utiljson.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// owner is the owner reference a Canary podinfo puts on the objects it generates.
const owner = `
  ownerReferences:
  - apiVersion: flagger.app/v1beta1
    kind: Canary
    name: podinfo
    uid: $UID
    controller: true
    blockOwnerDeletion: true`

// toolkit are the annotations Flagger puts on the routes it generates.
const toolkit = `
    helm.toolkit.fluxcd.io/driftDetection: disabled
    kustomize.toolkit.fluxcd.io/reconcile: disabled`

// routerCase is one scenario of a provider: steps, then the objects and routes they leave.
type routerCase struct {
	canary  func(*flaggerv1.Canary)
	options []Option
	steps   []step
	// want are the manifests (YAML, see parse) of the objects afterwards, by name
	want map[string]string
	// routes is what GetRoutes returns afterwards, or routesErr its error
	routes    [3]any
	routesErr string
	// again are steps that must leave every object of want as it is (no write)
	again []step
}

// run runs the cases of a provider whose objects are of kinds (by name).
func run(t *testing.T, base func(ns string) *flaggerv1.Canary, kinds map[string]schema.GroupVersionKind, tests map[string]routerCase) {
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			x := newFixture(t, base, tc.canary, tc.options...)
			for _, s := range tc.steps {
				s(t, x)
			}
			versions := map[string]string{}
			for obj, manifest := range tc.want {
				if diff := cmp.Diff(parse(t, manifest, x), object(t, x, kinds[obj], obj)); diff != "" {
					t.Errorf("%s %s (-want +got):\n%s", kinds[obj].Kind, obj, diff)
				}
				versions[obj] = resourceVersion(t, x, kinds[obj], obj)
			}
			p, c, m, err := x.r.GetRoutes(x.ctx, x.cd)
			switch {
			case tc.routesErr != "":
				if want := strings.ReplaceAll(tc.routesErr, "$NS", x.ns); err == nil || err.Error() != want {
					t.Errorf("GetRoutes: error %v, want %s", err, want)
				}
			case err != nil:
				t.Fatalf("GetRoutes: %v", err)
			default:
				if diff := cmp.Diff(tc.routes, [3]any{p, c, m}); diff != "" {
					t.Errorf("GetRoutes (-want +got):\n%s", diff)
				}
			}
			for _, s := range tc.again {
				s(t, x)
			}
			for obj, rv := range versions {
				if got := resourceVersion(t, x, kinds[obj], obj); len(tc.again) > 0 && got != rv {
					t.Errorf("%s %s was written again (resourceVersion %s -> %s)", kinds[obj].Kind, obj, rv, got)
				}
			}
		})
	}
}

// errorCase is a Canary a router refuses.
type errorCase struct {
	canary  func(*flaggerv1.Canary)
	steps   []step
	call    func(x *fixture) error
	wantErr string
}

func runErrors(t *testing.T, base func(ns string) *flaggerv1.Canary, tests map[string]errorCase) {
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			x := newFixture(t, base, tc.canary)
			for _, s := range tc.steps {
				s(t, x)
			}
			err := tc.call(x)
			if err == nil {
				t.Fatalf("no error, want %s", tc.wantErr)
			}
			want := strings.ReplaceAll(tc.wantErr, "$NS", x.ns)
			if err.Error() != want {
				t.Errorf("error:\n got %s\nwant %s", err, want)
			}
		})
	}
}

func callReconcile(x *fixture) error { return x.r.Reconcile(x.ctx, x.cd) }

func callSetRoutes(p, c int, m bool) func(x *fixture) error {
	return func(x *fixture) error { return x.r.SetRoutes(x.ctx, x.cd, p, c, m) }
}
