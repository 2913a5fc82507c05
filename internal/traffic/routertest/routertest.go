// Package routertest helps the traffic routers' unit tests: a Rollout with traffic routing,
// router objects written as YAML, a fake client holding them, and the objects as the client
// has them after an edit, ready for go-cmp.
package routertest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// Namespace is the namespace of the Rollout and of the router objects.
const Namespace = "shop"

// Rollout returns the canary Rollout shop/web (UID "uid-web") of the Services "canary" and
// "stable" with trafficRouting tr, and managedRoutes named after managed.
func Rollout(tr v1alpha1.RolloutTrafficRouting, managed ...string) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: Namespace, UID: "uid-web"}}
	for _, m := range managed {
		tr.ManagedRoutes = append(tr.ManagedRoutes, v1alpha1.MangedRoutes{Name: m})
	}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{CanaryService: "canary", StableService: "stable", TrafficRouting: &tr}
	return ro
}

// Object parses a router object written as YAML (apiVersion, kind, metadata, spec, ...); its
// namespace is Namespace unless it says otherwise.
func Object(t testing.TB, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{Object: Data(t, doc)}
	if u.GetNamespace() == "" {
		u.SetNamespace(Namespace)
	}
	return u
}

// Data parses YAML into the form JSON gives it (numbers are float64), as Normalize does.
func Data(t testing.TB, doc string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("parsing %q: %v", doc, err)
	}
	return m
}

// Normalize returns v in the form JSON gives it (numbers are float64), to compare with Data.
func Normalize(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Scheme knows the built-in kinds and Vane's API; the fake client adds the unstructured kinds
// it is given.
func Scheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// Client returns a fake client holding objs.
func Client(t testing.TB, objs ...client.Object) client.WithWatch {
	t.Helper()
	return fake.NewClientBuilder().WithScheme(Scheme(t)).WithObjects(objs...).Build()
}

// Get returns the object of apiVersion and kind ns/name as the client has it, normalized; nil
// when there is none.
func Get(t testing.TB, c client.Client, apiVersion, kind, ns, name string) map[string]any {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil
		}
		t.Fatalf("reading %s %s/%s: %v", kind, ns, name, err)
	}
	return Normalize(t, u.Object).(map[string]any)
}

// Member returns the member key of an object Get returned (nil for a nil object).
func Member(obj map[string]any, key string) any {
	if obj == nil {
		return nil
	}
	return obj[key]
}

// ResourceVersion returns the resourceVersion of an object Get returned.
func ResourceVersion(obj map[string]any) string {
	md, _ := obj["metadata"].(map[string]any)
	rv, _ := md["resourceVersion"].(string)
	return rv
}

// ErrorText is err's text, or "" for nil; a router Error's text is prefixed with its reason,
// as in "Invalid: VirtualService shop/web: spec.http: ...".
func ErrorText(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := common.AsError(err); ok {
		return string(e.Reason) + ": " + e.Error()
	}
	return err.Error()
}

// ErrAPI is the error Failing's client returns.
var ErrAPI = errors.New("the API server is unavailable")

// Failing wraps c so that every call of verb ("get", "create", "update" or "patch") fails with
// ErrAPI, or, for "nomatch", every get fails as when the API server does not serve the kind.
func Failing(c client.WithWatch, verb string) client.WithWatch {
	fail := func(gvk schema.GroupVersionKind) error {
		if verb == "nomatch" {
			return &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
		}
		return ErrAPI
	}
	funcs := interceptor.Funcs{}
	switch verb {
	case "get", "nomatch":
		funcs.Get = func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			return fail(obj.GetObjectKind().GroupVersionKind())
		}
	case "create":
		funcs.Create = func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			return ErrAPI
		}
	case "update":
		funcs.Update = func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			return ErrAPI
		}
	case "patch":
		funcs.Patch = func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			return ErrAPI
		}
	}
	return interceptor.NewClient(c, funcs)
}

// APIVersions are the versions of the router objects' kinds, for Run's want keys naming an
// object that is not among its objs.
var APIVersions = map[string]string{
	"VirtualService":  "networking.istio.io/v1alpha3",
	"DestinationRule": "networking.istio.io/v1alpha3",
	"TrafficSplit":    "split.smi-spec.io/v1alpha1",
	"Ingress":         "networking.k8s.io/v1",
	"HTTPRoute":       "gateway.networking.k8s.io/v1",
}

// Run puts objs in a fake client, calls call with it, and checks the error's text (ErrorText)
// against wantErr and every object afterwards. want holds, by "Kind/name", YAML of the members
// an object must have (within metadata, only the keys it names are compared; an empty
// document: the object must not exist); every object of objs want does not name must be as it
// was, and not even written (the same resourceVersion). It returns the client.
func Run(t *testing.T, objs []client.Object, call func(client.WithWatch) error, want map[string]string, wantErr string) client.WithWatch {
	t.Helper()
	var cobjs []client.Object
	for _, o := range objs {
		cobjs = append(cobjs, o.DeepCopyObject().(client.Object))
	}
	c := Client(t, cobjs...)
	refs := map[string]ref{}
	before := map[string]map[string]any{}
	for _, o := range objs {
		gvk, err := apiutil.GVKForObject(o, c.Scheme())
		if err != nil {
			t.Fatal(err)
		}
		key := gvk.Kind + "/" + o.GetName()
		refs[key] = ref{gvk.GroupVersion().String(), gvk.Kind, o.GetNamespace(), o.GetName()}
		before[key] = refs[key].get(t, c)
	}
	if diff := cmp.Diff(wantErr, ErrorText(call(c))); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	for key, obj := range before {
		if _, named := want[key]; !named {
			if diff := cmp.Diff(obj, refs[key].get(t, c)); diff != "" {
				t.Errorf("%s changed (-before +after):\n%s", key, diff)
			}
		}
	}
	for key, doc := range want {
		r, ok := refs[key]
		if !ok {
			kind, name, _ := strings.Cut(key, "/")
			r = ref{APIVersions[kind], kind, Namespace, name}
		}
		if diff := cmp.Diff(Data(t, doc), Pick(r.get(t, c), Data(t, doc))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", key, diff)
		}
	}
	return c
}

// ref names an object for Get.
type ref struct{ version, kind, ns, name string }

func (r ref) get(t *testing.T, c client.Client) map[string]any {
	t.Helper()
	return Get(t, c, r.version, r.kind, r.ns, r.name)
}

// Pick returns the members of obj that like names (within metadata, the keys it names); all
// of obj for an empty like.
func Pick(obj, like map[string]any) map[string]any {
	if obj == nil || len(like) == 0 {
		return obj
	}
	out := map[string]any{}
	for k, v := range like {
		got, ok := obj[k]
		if !ok {
			continue
		}
		if wantMD, isMD := v.(map[string]any); isMD && k == "metadata" {
			md, _ := got.(map[string]any)
			got = Pick(md, wantMD)
		}
		out[k] = got
	}
	return out
}

// Spec returns YAML of an object whose spec is spec (YAML), for Run's want.
func Spec(spec string) string {
	return "spec:\n  " + strings.ReplaceAll(strings.TrimSpace(spec), "\n", "\n  ") + "\n"
}

// RunRouter is Run for a router: it makes one over the fake client with newRouter, then calls
// call on it with ro.
func RunRouter[R any](t *testing.T, ro *v1alpha1.Rollout, objs []client.Object, newRouter func(*v1alpha1.Rollout, client.Client) (R, error),
	call func(context.Context, R, *v1alpha1.Rollout) error, want map[string]string, wantErr string) {
	t.Helper()
	Run(t, objs, func(c client.WithWatch) error {
		r, err := newRouter(ro, c)
		if err != nil {
			return err
		}
		return call(context.Background(), r, ro)
	}, want, wantErr)
}

// CheckAPIError checks that err's text is wantErr and that it wraps ErrAPI when wrapped says
// so (a router Error when not).
func CheckAPIError(t *testing.T, err error, wantErr string, wrapped bool) {
	t.Helper()
	if diff := cmp.Diff(wantErr, ErrorText(err)); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	if got := errors.Is(err, ErrAPI); got != wrapped {
		t.Errorf("errors.Is(err, ErrAPI) = %v, want %v (%#v)", got, wrapped, err)
	}
}

// Verifier is a router's VerifyWeight.
type Verifier interface {
	VerifyWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, additional []v1alpha1.WeightDestination) (bool, error)
}

// CheckVerifyWeight checks that VerifyWeight(weight, additional) of a router over objs answers
// want, or fails with wantErr, and changes nothing.
func CheckVerifyWeight[R Verifier](t *testing.T, ro *v1alpha1.Rollout, objs []client.Object, newRouter func(*v1alpha1.Rollout, client.Client) (R, error),
	weight int32, additional []v1alpha1.WeightDestination, want bool, wantErr string) {
	t.Helper()
	var got bool
	RunRouter(t, ro, objs, newRouter, func(ctx context.Context, r R, ro *v1alpha1.Rollout) error {
		var err error
		got, err = r.VerifyWeight(ctx, ro, weight, additional)
		return err
	}, nil, wantErr)
	if got != want {
		t.Errorf("VerifyWeight(%d, %v) = %v, want %v", weight, additional, got, want)
	}
}
