package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/vanedev/vane/internal/server"
	"github.com/vanedev/vane/internal/testenv"
	"github.com/vanedev/vane/internal/testenv/controllertest"
)

// withController returns the control plane with Vane's controller running in this process
// (controllertest.Start: started once, as config/rbac's ServiceAccount).
func withController(t *testing.T) *testenv.Env {
	t.Helper()
	env := testenv.Get(t)
	if err := controllertest.Start(env, "dashboard-e2e"); err != nil {
		t.Fatalf("starting the controller: %v", err)
	}
	return env
}

// syncBuffer collects a server's log lines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// dashboard is a running dashboard server on a loopback port.
type dashboard struct {
	URL  string
	Logs *syncBuffer
	// Stop stops the server (the test's end does too).
	Stop func()
}

// testEnv is the control plane.
type testEnv = testenv.Env

// startDashboard serves the dashboard with cfg's identity on 127.0.0.1 until the test ends.
func startDashboard(t *testing.T, env *testenv.Env, cfg *rest.Config, inCluster bool, namespaces ...string) *dashboard {
	t.Helper()
	logs := &syncBuffer{}
	logger := zap.New(zap.WriteTo(logs), zap.UseDevMode(true), zap.Level(zapcore.Level(-1)))
	ctx, cancel := context.WithCancel(log.IntoContext(context.Background(), logger))
	srv, err := server.New(server.Options{Config: cfg, Scheme: env.Scheme, InCluster: inCluster, Namespaces: namespaces})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = server.Serve(ctx, ln, srv.Handler()) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("dashboard log:\n%s", logs.String())
		}
	})
	return &dashboard{URL: "http://" + ln.Addr().String(), Logs: logs, Stop: stop}
}

// dashboardIdentity installs config/dashboard's RBAC and returns a config that authenticates
// as its ServiceAccount with a real token, so impersonation is checked against that role.
func dashboardIdentity(t *testing.T, env *testenv.Env) *rest.Config {
	t.Helper()
	if err := env.ApplyFiles("config/dashboard/rbac.yaml"); err != nil {
		t.Fatal(err)
	}
	tok := saToken(t, env, "vane-system", "vane-dashboard")
	cfg := rest.AnonymousClientConfig(env.Config)
	cfg.BearerToken = tok
	return cfg
}

// saToken asks the API server for a token of a ServiceAccount.
func saToken(t *testing.T, env *testenv.Env, ns, name string) string {
	t.Helper()
	tr, err := env.Clientset.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptrTo(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, name, err)
	}
	return tr.Status.Token
}

func ptrTo[T any](v T) *T { return &v }

// call makes an HTTP request and decodes a JSON answer into out (when not nil).
func call(t *testing.T, method, url string, hdr map[string]string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

// eventually polls cond every 100ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last: %s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// getRollout reads a rollout with the admin client.
func getRollout(t *testing.T, env *testenv.Env, ns, name string, into client.Object) {
	t.Helper()
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, into); err != nil {
		t.Fatal(err)
	}
}

func jsonDecode(resp *http.Response, out any) error { return json.NewDecoder(resp.Body).Decode(out) }
