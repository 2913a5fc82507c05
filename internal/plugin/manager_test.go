package plugin_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vanedev/vane/internal/plugin"
	"github.com/vanedev/vane/internal/plugin/plugintest"
)

const sample = "argoproj/sample-prometheus"

// typeOf asks a metric plugin its type (Argo's sample answers "RPCPlugin").
func typeOf(ctx context.Context, pm *plugin.Manager, name string) (string, error) {
	var out string
	err := pm.Call(ctx, plugin.MetricProvider, name, "Plugin.Type", nil, &out)
	return out, err
}

// outcome is what a test sees of a plugin call.
type outcome struct {
	Type      string
	Err       string // a substring of the error
	Permanent bool
}

func see(typ string, err error) outcome {
	o := outcome{Type: typ}
	if err != nil {
		o.Err = err.Error()
		if e, ok := plugin.AsError(err); ok {
			o.Permanent = e.Permanent
		}
	}
	return o
}

// TestLoad loads Argo's sample metric plugin from file:// and from a loopback http:// server,
// with and without sha256, and checks what a use of each unusable entry says: the plugin's
// name, why, and whether retrying can help.
func TestLoad(t *testing.T) {
	bin := plugintest.Binary(t, plugintest.MetricsSample)
	sum := plugintest.SHA256(t, bin)
	notPlugin := filepath.Join(t.TempDir(), "not-a-plugin")
	if err := os.WriteFile(notPlugin, []byte("#!/bin/sh\necho not a plugin >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := plugintest.Serve(t, map[string]string{"sample": bin})
	token := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "plugin-download", Namespace: plugintest.Namespace},
		Data: map[string][]byte{"Authorization": []byte("Bearer s3cr3t")}}
	const wrongSum = "0000000000000000000000000000000000000000000000000000000000000000"
	for name, tc := range map[string]struct {
		item plugin.Item
		use  string
		want outcome
	}{
		"file":                {item: plugin.Item{Location: "file://" + bin}, want: outcome{Type: "RPCPlugin"}},
		"file with sha256":    {item: plugin.Item{Location: "file://" + bin, Sha256: strings.ToUpper(sum)}, want: outcome{Type: "RPCPlugin"}},
		"http with sha256":    {item: plugin.Item{Location: srv.URL + "/sample", Sha256: sum}, want: outcome{Type: "RPCPlugin"}},
		"http, headersFrom":   {item: plugin.Item{Location: srv.URL + "/sample", HeadersFrom: []plugin.HeadersFrom{{SecretRef: plugin.SecretRef{Name: "plugin-download"}}}}, want: outcome{Type: "RPCPlugin"}},
		"file, wrong sha256":  {item: plugin.Item{Location: "file://" + bin, Sha256: wrongSum}, want: outcome{Err: `metric provider plugin "argoproj/sample-prometheus": unusable (fix the ConfigMap entry and restart the controller): the binary from file://` + bin + ` has sha256 ` + sum + `, the ConfigMap expects ` + wrongSum + `: refusing to run it`, Permanent: true}},
		"http, wrong sha256":  {item: plugin.Item{Location: srv.URL + "/sample", Sha256: wrongSum}, want: outcome{Err: "the binary from " + srv.URL + "/sample has sha256 " + sum, Permanent: true}},
		"missing file":        {item: plugin.Item{Location: "file:///nonexistent/plugin"}, want: outcome{Err: `metric provider plugin "argoproj/sample-prometheus": unusable (fix the ConfigMap entry and restart the controller): the plugin binary /nonexistent/plugin does not exist`, Permanent: true}},
		"http 404":            {item: plugin.Item{Location: srv.URL + "/missing"}, want: outcome{Err: "downloading from " + srv.URL + "/missing: the server answered 404 Not Found", Permanent: true}},
		"headers, no Secret":  {item: plugin.Item{Location: srv.URL + "/sample", HeadersFrom: []plugin.HeadersFrom{{SecretRef: plugin.SecretRef{Name: "absent"}}}}, want: outcome{Err: "headersFrom: the Secret argo-rollouts-test/absent does not exist", Permanent: true}},
		"bad entry":           {item: plugin.Item{Location: "ftp://host/plugin"}, want: outcome{Err: `metricProviderPlugins[0].location: the scheme must be file, http or https, not "ftp"`, Permanent: true}},
		"not configured":      {item: plugin.Item{Location: "file://" + bin}, use: "argoproj/other", want: outcome{Err: `metric provider plugin "argoproj/other": not configured: the ConfigMap argo-rollouts-test/argo-rollouts-config has no entry of that name in metricProviderPlugins`, Permanent: true}},
		"not a plugin binary": {item: plugin.Item{Location: "file://" + notPlugin}, want: outcome{Err: `metric provider plugin "argoproj/sample-prometheus": starting `}},
	} {
		t.Run(name, func(t *testing.T) {
			tc.item.Kind, tc.item.Name = plugin.MetricProvider, sample
			pm := plugintest.NewManager(t, plugin.Options{StartTimeout: 10 * time.Second}, []plugin.Item{tc.item}, token)
			use := sample
			if tc.use != "" {
				use = tc.use
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got := see(typeOf(ctx, pm, use))
			t.Logf("answer: %+v", got)
			if tc.want.Err != "" && strings.Contains(got.Err, tc.want.Err) {
				got.Err = tc.want.Err
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("-want +got:\n%s", d)
			}
			if len(tc.item.HeadersFrom) > 0 && tc.want.Err == "" {
				var auth []string
				for _, h := range srv.Headers() {
					auth = append(auth, h.Get("Authorization"))
				}
				if !strings.Contains(strings.Join(auth, ","), "Bearer s3cr3t") {
					t.Errorf("the download did not carry the headersFrom Secret's header: %q", auth)
				}
			}
		})
	}
}

// TestNoConfigMap: without the ConfigMap, a plugin is not configured (and says where it
// looked); a ConfigMap that cannot be read is tried again at the next use.
func TestNoConfigMap(t *testing.T) {
	pm := plugin.NewManager(fake.NewClientBuilder().Build(), plugin.Options{Namespace: "ctl", Dir: t.TempDir()})
	_, err := typeOf(context.Background(), pm, sample)
	want := outcome{Err: `metric provider plugin "argoproj/sample-prometheus": not configured: the ConfigMap ctl/argo-rollouts-config does not exist`, Permanent: true}
	if d := cmp.Diff(want, see("", err)); d != "" {
		t.Errorf("-want +got:\n%s", d)
	}
}

// TestRestart crashes the plugin's process (SIGKILL): the next call starts it again and
// succeeds. A binary changed in the cache after its check is refused at that start.
func TestRestart(t *testing.T) {
	bin := plugintest.Binary(t, plugintest.MetricsSample)
	dir := t.TempDir()
	pm := plugintest.NewManager(t, plugin.Options{Dir: dir}, []plugin.Item{{Kind: plugin.MetricProvider, Name: sample, Location: "file://" + bin}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var pids []int
	for i := 0; i < 3; i++ {
		if typ, err := typeOf(ctx, pm, sample); err != nil || typ != "RPCPlugin" {
			t.Fatalf("call %d: %q, %v", i, typ, err)
		}
		pid := pm.PID(plugin.MetricProvider, sample)
		pids = append(pids, pid)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			time.Sleep(200 * time.Millisecond) // the second time, let go-plugin see it exit
		}
	}
	if pids[0] == 0 || pids[0] == pids[1] || pids[1] == pids[2] {
		t.Errorf("the plugin was not started again after each crash: pids %v", pids)
	}
	cached := filepath.Join(dir, "metricprovider", "argoproj", "sample-prometheus")
	if err := os.Remove(cached); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cached, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := typeOf(ctx, pm, sample)
	want := outcome{Err: `metric provider plugin "argoproj/sample-prometheus": unusable (fix the ConfigMap entry and restart the controller): the binary ` + cached + ` changed after it was verified: checksums did not match`, Permanent: true}
	if d := cmp.Diff(want, see("", err)); d != "" {
		t.Errorf("tampered cache: -want +got:\n%s", d)
	}
}
