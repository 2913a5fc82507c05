package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/internal/keptn"
	"github.com/vanedev/vane/internal/testenv"
)

const (
	keptnToken    = "receiver-shared-token"
	keptnAPIToken = "keptn-api-token-value"
	podtatoImage  = "ghcr.io/podtato-head/podtatoserver:"
)

// keptnEvent is one event the stand-in for Keptn's API received, as the API's
// KeptnContextExtendedCE carries it.
type keptnEvent struct {
	Type        string          `json:"type"`
	ID          string          `json:"id"`
	Source      string          `json:"source"`
	SpecVersion string          `json:"specversion"`
	Context     string          `json:"shkeptncontext"`
	TriggeredID string          `json:"triggeredid"`
	KeptnSpec   string          `json:"shkeptnspecversion"`
	Data        json.RawMessage `json:"data"`
}

// keptnAPI is a loopback stand-in for Keptn's API: POST /v1/event with the x-token header,
// answering {"keptnContext": ...} as the API does; it records what it accepts.
type keptnAPI struct {
	srv      *httptest.Server
	mu       sync.Mutex
	events   []keptnEvent
	rejected int
}

func newKeptnAPI(t *testing.T) *keptnAPI {
	t.Helper()
	a := &keptnAPI{}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve)) // 127.0.0.1
	t.Cleanup(a.srv.Close)
	return a
}

func (a *keptnAPI) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ev keptnEvent
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/v1/event":
		http.Error(w, "not found", http.StatusNotFound)
	case r.Header.Get("x-token") != keptnAPIToken:
		a.rejected++
		http.Error(w, `{"code":401,"message":"invalid token"}`, http.StatusUnauthorized)
	case json.NewDecoder(r.Body).Decode(&ev) != nil || ev.Type == "" || ev.Context == "" || ev.TriggeredID == "":
		a.rejected++
		http.Error(w, `{"code":400,"message":"bad event"}`, http.StatusBadRequest)
	default:
		a.events = append(a.events, ev)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"keptnContext":%q}`, ev.Context)
	}
}

// list returns the events received so far.
func (a *keptnAPI) list() []keptnEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]keptnEvent(nil), a.events...)
}

// rows returns "TYPE TRIGGEREDID CONTEXT result=R status=S" for every event received.
func (a *keptnAPI) rows() []string {
	var out []string
	for _, ev := range a.list() {
		var d keptn.EventData
		_ = json.Unmarshal(ev.Data, &d)
		out = append(out, fmt.Sprintf("%s %s %s result=%s status=%s", strings.TrimPrefix(ev.Type, keptn.EventTypePrefix), ev.TriggeredID, ev.Context, d.Result, d.Status))
	}
	return out
}

// waitFinished waits until the .finished event answering triggeredID arrived and returns it.
func (a *keptnAPI) waitFinished(t *testing.T, triggeredID string) (keptnEvent, keptn.FinishedData) {
	t.Helper()
	var got keptnEvent
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 3*time.Minute, true,
		func(context.Context) (bool, error) {
			for _, ev := range a.list() {
				if ev.TriggeredID == triggeredID && strings.HasSuffix(ev.Type, ".finished") {
					got = ev
					return true, nil
				}
			}
			return false, nil
		})
	if err != nil {
		t.Fatalf("no .finished event for %s; received:\n%s", triggeredID, strings.Join(a.rows(), "\n"))
	}
	var d keptn.FinishedData
	if err := json.Unmarshal(got.Data, &d); err != nil {
		t.Fatalf("finished event data: %v", err)
	}
	return got, d
}

// keptnServer is `vane keptn` served in this process on a loopback port.
type keptnServer struct {
	svc  *keptn.Service
	url  string
	stop func()
	// ctx carries the logger writing to logs: pass it to svc.Pass
	ctx  context.Context
	logs *syncBuffer
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) write(prefix, args string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintf(&b.b, "%s %s\n", prefix, args)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// assertNoSecrets checks that the server logged something, and none of secrets.
func (s *keptnServer) assertNoSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	logs := s.logs.String()
	if !strings.Contains(logs, "Keptn task") {
		t.Errorf("vane keptn logged no task:\n%s", logs)
	}
	for _, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("a secret (%d characters) is in vane keptn's logs", len(secret))
		}
	}
}

// startKeptn serves a keptn.Service acting as config/keptn's ServiceAccount; run starts its
// scheduler loop (otherwise the test drives it with Pass).
func startKeptn(t *testing.T, env *testenv.Env, api *keptnAPI, ns string, clk clock.WithTicker, run bool) *keptnServer {
	t.Helper()
	c := keptnIdentity(t, env)
	svc, err := keptn.New(keptn.Options{
		Client: c, Token: keptnToken, Clock: clk, Interval: 200 * time.Millisecond, Namespaces: []string{ns},
		Sender:    &keptn.Sender{URL: keptn.APIEventURL(api.srv.URL), Token: keptnAPIToken},
		Manifests: keptnManifests(t, env),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := funcr.New(logs.write, funcr.Options{Verbosity: 1})
	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), logger))
	srv := &http.Server{Handler: svc, BaseContext: func(net.Listener) context.Context { return ctx }}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	if run {
		wg.Add(1)
		go func() { defer wg.Done(); _ = svc.Run(ctx) }()
	}
	once := sync.Once{}
	stop := func() { once.Do(func() { cancel(); _ = srv.Close(); wg.Wait() }) }
	t.Cleanup(stop)
	return &keptnServer{svc: svc, url: "http://" + ln.Addr().String() + "/", stop: stop, ctx: ctx, logs: logs}
}

// keptnIdentity installs config/keptn/rbac.yaml and returns a client acting as its
// ServiceAccount, so that the tests also prove the ClusterRole grants enough.
func keptnIdentity(t *testing.T, env *testenv.Env) client.Client {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "vane-system"}}
	if err := env.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, u := range loadManifests(t, env, "config/keptn/rbac.yaml") {
		if err := env.Client.Create(ctx, u); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:vane-system:vane-keptn"}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// keptnManifests returns a folder with podtatohead.yaml: seed 000's Rollout and a Service.
func keptnManifests(t *testing.T, env *testenv.Env) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.RepoRoot, "examples/seeds/keptn-podtatohead-rollout.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	svc := "\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: podtatohead\nspec:\n" +
		"  selector:\n    app: podtatohead\n  ports:\n  - port: 80\n    targetPort: 9000\n"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "podtatohead.yaml"), append(b, svc...), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// keptnProject creates the namespace PROJECT-prod of a new project and returns the project.
func keptnProject(t *testing.T, env *testenv.Env) string {
	t.Helper()
	project := "podtato-" + rand.String(5)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: project + "-prod"}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			_ = env.Client.Delete(context.Background(), ns)
		}
	})
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true,
		func(ctx context.Context) (bool, error) {
			var sa corev1.ServiceAccount
			return env.Client.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "default"}, &sa) == nil, nil
		})
	if err != nil {
		t.Fatalf("namespace %s has no default ServiceAccount: %v", ns.Name, err)
	}
	return project
}

// triggered is a Keptn .triggered event to send.
type triggered struct {
	Task, ID, Context string
	Data              map[string]any
	Binary            bool // binary content mode (ce-* headers) instead of structured
	Token             string
}

// data returns the data of an event for project's podtatohead in stage prod, with extra keys.
func keptnData(project string, extra map[string]any) map[string]any {
	d := map[string]any{"project": project, "stage": "prod", "service": "podtatohead"}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

// post sends ev to the receiver and returns the status code and body.
func (s *keptnServer) post(t *testing.T, ev triggered) (int, string) {
	t.Helper()
	return do(t, s.request(t, ev))
}

// request returns the request delivering ev to the receiver.
func (s *keptnServer) request(t *testing.T, ev triggered) *http.Request {
	t.Helper()
	ce := cloudevents.NewEvent()
	ce.SetID(ev.ID)
	ce.SetSource("shipyard-controller")
	ce.SetType(keptn.EventTypePrefix + ev.Task + ".triggered")
	ce.SetTime(time.Now())
	ce.SetExtension(keptn.ExtContext, ev.Context)
	ce.SetExtension(keptn.ExtSpecVersion, keptn.SpecVersion)
	if err := ce.SetData(cloudevents.ApplicationJSON, ev.Data); err != nil {
		t.Fatal(err)
	}
	var req *http.Request
	if ev.Binary {
		req = mustRequest(t, s.url, ce.Data())
		req.Header.Set("Content-Type", "application/json")
		for k, v := range map[string]string{"specversion": "1.0", "id": ce.ID(), "source": ce.Source(), "type": ce.Type(), keptn.ExtContext: ev.Context} {
			req.Header.Set("ce-"+k, v)
		}
	} else {
		b, err := json.Marshal(ce)
		if err != nil {
			t.Fatal(err)
		}
		req = mustRequest(t, s.url, b)
		req.Header.Set("Content-Type", "application/cloudevents+json")
	}
	token := ev.Token
	if token == "" {
		token = keptnToken
	}
	req.Header.Set("x-token", token)
	return req
}

func mustRequest(t *testing.T, url string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// mustPost sends ev and fails unless the receiver answers code.
func (s *keptnServer) mustPost(t *testing.T, ev triggered, code int) {
	t.Helper()
	if got, body := s.post(t, ev); got != code {
		t.Fatalf("%s.triggered %s: status %d (%s), want %d", ev.Task, ev.ID, got, body, code)
	}
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}
