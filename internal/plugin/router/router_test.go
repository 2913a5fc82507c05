package router_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/plugin"
	"github.com/vanedev/vane/internal/plugin/plugintest"
	"github.com/vanedev/vane/internal/plugin/router"
	"github.com/vanedev/vane/internal/testenv"
	"github.com/vanedev/vane/internal/traffic"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// sample is the name Argo's sample router plugin reads its configuration under.
const sample = "argoproj/sample-nginx"

var _ traffic.Router = (*router.Router)(nil)

// fixture is a namespace of the local control plane with the stable Ingress "web" (host
// web.test, backend Service "stable") and the Rollout "web" routed by the sample plugin.
type fixture struct {
	env *testenv.Env
	ns  string
	ro  *v1alpha1.Rollout
	pm  *plugin.Manager
}

func newFixture(t *testing.T, items ...plugin.Item) *fixture {
	env := testenv.Get(t)
	bin := plugintest.Binary(t, plugintest.RouterSample)
	f := &fixture{env: env, ns: env.Namespace(t)}
	ctx := context.Background()
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: f.ns},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "web.test", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix),
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "stable", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}}}
	f.ro = &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: f.ns}, Spec: v1alpha1.RolloutSpec{
		Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1"}}}},
		Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{StableService: "stable", CanaryService: "canary",
			Steps:          []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](20)}, {Pause: &v1alpha1.RolloutPause{Duration: ptr.To(v1alpha1.DurationFromInt(30))}}},
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{Plugins: map[string]json.RawMessage{sample: json.RawMessage(`{"stableIngress":"web"}`)}}}},
	}}
	for _, obj := range []client.Object{ing, f.ro} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	if len(items) == 0 {
		srv := plugintest.Serve(t, map[string]string{"nginx": bin})
		items = []plugin.Item{{Kind: plugin.TrafficRouter, Name: sample, Location: srv.URL + "/nginx", Sha256: plugintest.SHA256(t, bin)}}
	}
	// the plugin reads and writes Ingresses with the kubeconfig it finds in its environment
	f.pm = plugintest.NewManager(t, plugin.Options{Env: []string{"KUBECONFIG=" + env.Kubeconfig}}, items)
	return f
}

// canaryWeight returns the canary-weight annotation of the canary Ingress the plugin keeps
// ("" when there is none) and the Ingress's controller owner.
func (f *fixture) canaryWeight(t *testing.T) (string, string) {
	ing := &networkingv1.Ingress{}
	err := f.env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "web-web-canary"}, ing)
	if err != nil {
		return "", err.Error()
	}
	owner := ""
	if ref := metav1.GetControllerOf(ing); ref != nil {
		owner = ref.Kind + "/" + ref.Name
	}
	return ing.Annotations["nginx.ingress.kubernetes.io/canary-weight"], owner
}

// TestWeights: the sample nginx plugin, downloaded over loopback HTTP with its sha256, keeps
// the canary Ingress at each weight the Router sends it, also after its process crashed.
func TestWeights(t *testing.T) {
	f := newFixture(t)
	r := router.New(f.pm, sample)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, w := range []int32{20, 50, 100, 0} {
		if i == 2 { // crash the plugin: the next call starts it again
			if err := syscall.Kill(f.pm.PID(plugin.TrafficRouter, sample), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.SetWeight(ctx, f.ro, w, nil); err != nil {
			t.Fatalf("SetWeight(%d): %v", w, err)
		}
		weight, owner := f.canaryWeight(t)
		if d := cmp.Diff([]string{itoa(w), "Rollout/web"}, []string{weight, owner}); d != "" {
			t.Errorf("after SetWeight(%d), canary Ingress -want +got:\n%s", w, d)
		}
	}
	ok, err := r.VerifyWeight(ctx, f.ro, 0, nil)
	typ, terr := r.PluginType(ctx, f.ro)
	got := []any{ok, err, typ, terr, r.Type(),
		r.UpdateHash(ctx, f.ro, "abc", "def", nil),
		r.SetHeaderRoute(ctx, f.ro, &v1alpha1.SetHeaderRoute{Name: "h"}),
		r.SetMirrorRoute(ctx, f.ro, &v1alpha1.SetMirrorRoute{Name: "m"}),
		r.RemoveManagedRoutes(ctx, f.ro)}
	want := []any{true, nil, "plugin-nginx", nil, "plugin argoproj/sample-nginx", nil, nil, nil, nil}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("VerifyWeight (not implemented by the plugin: verified), types, other calls: -want +got:\n%s", d)
	}
}

// TestErrors: a plugin the ConfigMap lacks or whose binary fails its sha256 is an Invalid
// router Error on the Rollout's plugins["<name>"] field, naming the plugin; an error the
// plugin returns is a plain error saying which call failed.
func TestErrors(t *testing.T) {
	bin := plugintest.Binary(t, plugintest.RouterSample)
	const wrongSum = "1111111111111111111111111111111111111111111111111111111111111111"
	type want struct {
		Reason traffic.Reason
		Field  string
		Err    string
	}
	for name, tc := range map[string]struct {
		item   plugin.Item
		plugin string
		config string
		want   want
	}{
		"not configured": {plugin: "argoproj/other", want: want{Reason: traffic.Invalid, Field: `spec.strategy.canary.trafficRouting.plugins["argoproj/other"]`,
			Err: `traffic router plugin "argoproj/other": not configured: the ConfigMap argo-rollouts-test/argo-rollouts-config has no entry of that name in trafficRouterPlugins`}},
		"wrong sha256": {item: plugin.Item{Sha256: wrongSum}, want: want{Reason: traffic.Invalid, Field: `spec.strategy.canary.trafficRouting.plugins["argoproj/sample-nginx"]`,
			Err: `traffic router plugin "argoproj/sample-nginx": unusable (fix the ConfigMap entry and restart the controller): the binary from file://` + bin + ` has sha256 `}},
		"no such stable Ingress": {config: `{"stableIngress":"missing"}`,
			want: want{Err: "failed to set weight via plugin: error retrieving stableIngress `missing` from cache: "}},
	} {
		t.Run(name, func(t *testing.T) {
			tc.item.Kind, tc.item.Name, tc.item.Location = plugin.TrafficRouter, sample, "file://"+bin
			f := newFixture(t, tc.item)
			name := sample
			if tc.plugin != "" {
				name = tc.plugin
			}
			ro := f.ro.DeepCopy()
			if tc.config != "" {
				ro.Spec.Strategy.Canary.TrafficRouting.Plugins[sample] = json.RawMessage(tc.config)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := router.New(f.pm, name).SetWeight(ctx, ro, 10, nil)
			var got want
			if err != nil {
				got.Err = err.Error()
				if e, ok := traffic.AsError(err); ok {
					got.Reason, got.Field, got.Err = e.Reason, e.Field, e.Message
				}
				if strings.HasPrefix(got.Err, tc.want.Err) {
					got.Err = tc.want.Err
				}
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("-want +got:\n%s", d)
			}
		})
	}
}

func itoa(w int32) string {
	b, _ := json.Marshal(w)
	return string(b)
}
