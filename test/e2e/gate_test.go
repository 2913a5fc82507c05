package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/internal/gate"
	"github.com/vanedev/vane/internal/testenv"
)

// gateStep is one request of a scenario: its server, path and expected answer.
type gateStep struct {
	srv, path string
	want      gateReply
}

// gateReply is what a gate endpoint answered.
type gateReply struct {
	Code int
	Body string
}

// gateServer runs gate.NewHandler on loopback, backed by the cluster through c.
func gateServer(t *testing.T, c client.Client, name string) string {
	t.Helper()
	logger := funcr.New(func(prefix, args string) { t.Log(name, prefix, args) }, funcr.Options{})
	srv := httptest.NewUnstartedServer(gate.NewHandler(&gate.ConfigMapStore{Client: c}))
	srv.Config.BaseContext = func(net.Listener) context.Context {
		return logr.NewContext(context.Background(), logger)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// flaggerPayload is the JSON Flagger posts to a webhook for the canary ns/name.
func flaggerPayload(t *testing.T, ns, name string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"name": name, "namespace": ns, "phase": "Waiting",
		"checksum": "6d8b9c7f5", "metadata": map[string]string{"text": "Ready for promotion"}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// postGate posts body to base+path as Flagger does and returns the answer.
func postGate(t *testing.T, base, path, body string) gateReply {
	t.Helper()
	resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: reading the answer: %v", path, err)
	}
	return gateReply{Code: resp.StatusCode, Body: string(b)}
}

// gateIdentity installs config/gate/rbac.yaml in ns and returns a client acting as the gate's
// ServiceAccount, so that the tests also prove the Role grants enough.
func gateIdentity(t *testing.T, env *testenv.Env, ns string) client.Client {
	t.Helper()
	f, err := os.Open(filepath.Join(env.RepoRoot, "config", "gate", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("config/gate/rbac.yaml: %v", err)
		}
		u.SetNamespace(ns)
		if err := env.Client.Create(context.Background(), u); err != nil {
			t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	return gateClient(t, env, ns)
}

// gateConfigMap is the data of the namespace's gate ConfigMap, nil when it does not exist.
func gateConfigMap(t *testing.T, env *testenv.Env, ns string) map[string]string {
	t.Helper()
	var cm corev1.ConfigMap
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: gate.ConfigMapName}, &cm)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data
}

// TestGateLoadtesterAPI drives one canary's gate and rollback switch through two gate handlers
// that share the cluster's state, as flagger-loadtester's API answers them.
func TestGateLoadtesterAPI(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	a := gateServer(t, gateIdentity(t, env, ns), "replica-a")
	other, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	b := gateServer(t, other, "replica-b")
	payload := flaggerPayload(t, ns, "api-gateway")
	closed, approved, accepted := gateReply{403, "Forbidden"}, gateReply{200, "Approved"}, gateReply{202, ""}
	run := func(steps []gateStep) {
		t.Helper()
		for i, s := range steps {
			if got := postGate(t, s.srv, s.path, payload); got != s.want {
				t.Fatalf("step %d, %s on %s: got %+v, want %+v", i, s.path, s.srv, got, s.want)
			}
		}
	}
	// before any open or close both are closed, and checking writes nothing
	run([]gateStep{{a, "/gate/check", closed}, {b, "/rollback/check", closed}})
	if data := gateConfigMap(t, env, ns); data != nil {
		t.Fatalf("checks wrote the ConfigMap: %v", data)
	}
	run([]gateStep{
		{a, "/gate/open", accepted}, {b, "/gate/check", approved}, {a, "/gate/check", approved},
		{b, "/rollback/check", closed}, // the gate and the rollback switch are apart
		{b, "/gate/close", accepted}, {a, "/gate/check", closed},
		{a, "/rollback/open", accepted}, {b, "/rollback/check", approved}, {a, "/gate/check", closed},
		{b, "/rollback/close", accepted}, {a, "/rollback/check", closed},
		{b, "/gate/open", accepted},
	})
	want := map[string]string{"gate.api-gateway": "open", "rollback.api-gateway": "closed"}
	if diff := cmp.Diff(want, gateConfigMap(t, env, ns)); diff != "" {
		t.Errorf("ConfigMap %s (-want +got):\n%s", gate.ConfigMapName, diff)
	}
	// a handler started afterwards (a restarted replica) answers from the cluster
	fresh := gateServer(t, gateClient(t, env, ns), "restarted")
	if got := postGate(t, fresh, "/gate/check", payload); got != approved {
		t.Errorf("restarted replica: /gate/check got %+v, want %+v", got, approved)
	}
	if got := postGate(t, fresh, "/gate/check", flaggerPayload(t, ns, "another-canary")); got != closed {
		t.Errorf("another canary's gate: got %+v, want %+v", got, closed)
	}
}

// gateClient is a client acting as the gate's ServiceAccount of ns (see gateIdentity).
func gateClient(t *testing.T, env *testenv.Env, ns string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":vane-gate"}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGateConstantsAndMalformed: /gate/approve and /gate/halt answer the same whatever is sent;
// a payload that names no canary gets 400 with its reason and writes nothing.
func TestGateConstantsAndMalformed(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	srv := gateServer(t, gateIdentity(t, env, ns), "gate")
	payload := flaggerPayload(t, ns, "api-gateway")
	tests := map[string]struct {
		path, body string
		code       int
		body400    string // for 400: a part of the reason
		exact      string // otherwise: the whole body
	}{
		"approve with a payload": {path: "/gate/approve", body: payload, code: 200, exact: "OK"},
		"approve with nothing":   {path: "/gate/approve", body: "", code: 200, exact: "OK"},
		"halt with a payload":    {path: "/gate/halt", body: payload, code: 403, exact: "Forbidden"},
		"halt with garbage":      {path: "/gate/halt", body: "{", code: 403, exact: "Forbidden"},
		"check, truncated JSON":  {path: "/gate/check", body: `{"name":"api-gateway"`, code: 400, body400: "decoding the payload"},
		"open, empty body":       {path: "/gate/open", body: "", code: 400, body400: "empty payload"},
		"close, no namespace":    {path: "/gate/close", body: `{"name":"api-gateway"}`, code: 400, body400: "both are required"},
		"rollback open, a list":  {path: "/rollback/open", body: `[1]`, code: 400, body400: "decoding the payload"},
		"rollback check, bad ns": {path: "/rollback/check", body: `{"name":"a","namespace":"Bad_NS"}`, code: 400, body400: `namespace "Bad_NS"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := postGate(t, srv, tc.path, tc.body)
			ok := got.Code == tc.code && got.Body == tc.exact
			if tc.body400 != "" {
				ok = got.Code == tc.code && strings.Contains(got.Body, tc.body400)
			}
			if !ok {
				t.Errorf("%s %q: got %+v, want %d with %q%q", tc.path, tc.body, got, tc.code, tc.exact, tc.body400)
			}
		})
	}
	if data := gateConfigMap(t, env, ns); data != nil {
		t.Errorf("constant and refused requests wrote the ConfigMap: %v", data)
	}
}

// TestGateCLI: `vane gate open|close` and `vane rollback [--close]` flip what the handler answers.
func TestGateCLI(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	srv := gateServer(t, gateIdentity(t, env, ns), "gate")
	bin := buildVane(t, env)
	payload := flaggerPayload(t, ns, "api-gateway")
	steps := []struct {
		args       []string
		out, path  string
		wantAnswer gateReply
	}{
		{[]string{"gate", "open", "api-gateway"}, "gate of canary " + ns + "/api-gateway is open", "/gate/check", gateReply{200, "Approved"}},
		{[]string{"rollback", "api-gateway"}, "rollback of canary " + ns + "/api-gateway is open", "/rollback/check", gateReply{200, "Approved"}},
		{[]string{"gate", "close", "api-gateway"}, "gate of canary " + ns + "/api-gateway is closed", "/gate/check", gateReply{403, "Forbidden"}},
		{[]string{"rollback", "--close", "api-gateway"}, "rollback of canary " + ns + "/api-gateway is closed", "/rollback/check", gateReply{403, "Forbidden"}},
	}
	for _, s := range steps {
		args := append(s.args, "-n", ns, "--kubeconfig", env.Kubeconfig)
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != s.out {
			t.Fatalf("vane %s: %v, output %q, want %q", strings.Join(args, " "), err, out, s.out)
		}
		if got := postGate(t, srv, s.path, payload); got != s.wantAnswer {
			t.Errorf("after vane %s: %s got %+v, want %+v", strings.Join(s.args, " "), s.path, got, s.wantAnswer)
		}
	}
	out, err := exec.Command(bin, "gate", "open", "Not_A_Name", "-n", ns, "--kubeconfig", env.Kubeconfig).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `canary name "Not_A_Name"`) {
		t.Errorf("vane gate open Not_A_Name: %v, %q; want a failure naming the invalid name", err, out)
	}
}

// TestGateConcurrentWriters opens many canaries' gates at once through two handlers: every
// write lands although they race on one ConfigMap (conflicts are retried, none overwritten).
func TestGateConcurrentWriters(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	servers := []string{gateServer(t, gateIdentity(t, env, ns), "a"), gateServer(t, gateClient(t, env, ns), "b")}
	const n = 16
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = flaggerPayload(t, ns, fmt.Sprintf("canary-%d", i))
	}
	replies := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(servers[i%2]+"/gate/open", "application/json", strings.NewReader(bodies[i]))
			if err != nil {
				replies[i] = err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			replies[i] = fmt.Sprintf("%d %s", resp.StatusCode, b)
		}()
	}
	wg.Wait()
	want := map[string]string{}
	for i := range n {
		if replies[i] != "202 " {
			t.Errorf("canary-%d: /gate/open answered %q, want 202", i, replies[i])
		}
		want[fmt.Sprintf("gate.canary-%d", i)] = "open"
	}
	if diff := cmp.Diff(want, gateConfigMap(t, env, ns)); diff != "" {
		t.Errorf("ConfigMap %s after concurrent opens (-want +got):\n%s", gate.ConfigMapName, diff)
	}
	for i := range n {
		if got := postGate(t, servers[(i+1)%2], "/gate/check", bodies[i]); got != (gateReply{200, "Approved"}) {
			t.Errorf("canary-%d: /gate/check on the other replica got %+v", i, got)
		}
	}
}
