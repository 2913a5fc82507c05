package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// received is one request a loopback receiver got.
type received struct {
	Path, Body, Auth string
}

// receiver is a loopback HTTP server standing for Slack, Google Chat and webhooks: it records
// every request; under /hang it answers only when the test ends.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []received
	hang chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{hang: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/hang") {
			<-r.hang
			return
		}
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{Path: req.URL.Path, Body: string(body), Auth: req.Header.Get("Authorization")})
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(req.URL.Path, "/slack/") {
			_, _ = io.WriteString(w, `{"ok":true,"channel":"C1","ts":"1.1"}`)
			return
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(func() { close(r.hang); r.srv.Close() })
	return r
}

// requests returns the requests whose path starts with prefix, in arrival order.
func (r *receiver) requests(prefix string) []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []received
	for _, g := range r.got {
		if strings.HasPrefix(g.Path, prefix) {
			out = append(out, g)
		}
	}
	return out
}

// waitRequests waits until at least n requests under prefix arrived and returns them all.
func (r *receiver) waitRequests(t *testing.T, prefix string, n int) []received {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		got := r.requests(prefix)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %d requests under %s; got %d: %+v", waitLong, n, prefix, len(got), got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// createNotificationConfig creates the notification ConfigMap and Secret in ns.
func createNotificationConfig(t *testing.T, env *testenv.Env, ns string, data map[string]string, secret map[string]string) {
	t.Helper()
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "argo-rollouts-notification-configmap"}, Data: data}
	if err := env.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "argo-rollouts-notification-secret"}, StringData: secret}
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
}

// notifyController is `vane controller` as a child process, reading the notification
// configuration of ns, that a test can kill and start again.
type notifyController struct {
	t       *testing.T
	env     *testenv.Env
	bin     string
	args    []string
	logPath string
	cmd     *exec.Cmd
}

func newNotifyController(t *testing.T, env *testenv.Env, id, ns string, extra ...string) *notifyController {
	t.Helper()
	c := &notifyController{t: t, env: env, bin: buildVane(t, env), logPath: filepath.Join(t.TempDir(), "controller.log"),
		args: append([]string{"controller", "--kubeconfig", env.Kubeconfig, "--instance-id", id, "--notifications-namespace", ns,
			"--metrics-bind-address", "0", "--health-probe-bind-address", "0", "-v", "1"}, extra...)}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(c.logPath)
			t.Logf("controller log:\n%s", tail(string(b), 6000))
		}
	})
	c.start()
	return c
}

func (c *notifyController) start() {
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(c.bin, c.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c.cmd = cmd
}

func (c *notifyController) kill() { kill(c.t, c.cmd) }

// logLines counts the lines of the controller's log (every run) that contain s.
func (c *notifyController) logLines(s string) int {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		c.t.Fatal(err)
	}
	return strings.Count(string(b), s)
}

// patchRollout applies mutate to the rollout with a merge patch.
func patchRollout(t *testing.T, env *testenv.Env, ns, name string, mutate func(*v1alpha1.Rollout)) {
	t.Helper()
	ctx := context.Background()
	ro := &v1alpha1.Rollout{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(ro.DeepCopy())
	mutate(ro)
	if err := env.Client.Patch(ctx, ro, patch); err != nil {
		t.Fatal(err)
	}
}

// subscribe adds notification subscription annotations (trigger.service: recipients).
func subscribe(subs map[string]string) func(*v1alpha1.Rollout) {
	return func(ro *v1alpha1.Rollout) {
		if ro.Annotations == nil {
			ro.Annotations = map[string]string{}
		}
		for k, v := range subs {
			ro.Annotations["notifications.argoproj.io/subscribe."+k] = v
		}
	}
}
