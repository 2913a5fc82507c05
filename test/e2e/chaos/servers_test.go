package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vanedev/vane/internal/testenv"
)

// hugeBody is the size of the answer of the metric server's /huge.
const hugeBody = 50 << 20

// metricServer is a loopback web metric endpoint: /ok answers {"ok":true}, /fail
// {"ok":false}, /slow answers {"ok":true} after five minutes (or when the caller gives up, or
// the test ends), /huge answers 50 MB of JSON. It counts the requests per path.
type metricServer struct {
	srv     *httptest.Server
	hits    counter
	release chan struct{}
	mu      sync.Mutex
	slowNow int // /slow requests waiting now
	slowMax int // the most that waited at once
}

func newMetricServer(t *testing.T) *metricServer {
	m := &metricServer{release: make(chan struct{})}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(func() { close(m.release); m.srv.Close() })
	return m
}

func (m *metricServer) url(path string) string { return m.srv.URL + path }

func (m *metricServer) serve(w http.ResponseWriter, r *http.Request) {
	m.hits.add(r.URL.Path)
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/ok":
		_, _ = io.WriteString(w, `{"ok":true}`)
	case "/fail":
		_, _ = io.WriteString(w, `{"ok":false}`)
	case "/slow":
		m.slow(r)
		_, _ = io.WriteString(w, `{"ok":true}`)
	case "/huge":
		_, _ = io.WriteString(w, `{"ok":true,"pad":"`)
		chunk := strings.Repeat("x", 1<<16)
		for n := 0; n < hugeBody; n += len(chunk) {
			if _, err := io.WriteString(w, chunk); err != nil {
				return // the caller stopped reading
			}
		}
		_, _ = io.WriteString(w, `"}`)
	default:
		http.NotFound(w, r)
	}
}

// slow waits five minutes, unless the caller or the test gives up first.
func (m *metricServer) slow(r *http.Request) {
	m.mu.Lock()
	m.slowNow++
	m.slowMax = max(m.slowMax, m.slowNow)
	m.mu.Unlock()
	defer func() { m.mu.Lock(); m.slowNow--; m.mu.Unlock() }()
	select {
	case <-time.After(5 * time.Minute):
	case <-r.Context().Done():
	case <-m.release:
	}
}

// notification is one request the receiver got.
type notification struct {
	Rollout, Event, Step, Revision string
}

func (n notification) String() string {
	return fmt.Sprintf("%s %s step=%s rev=%s", n.Rollout, n.Event, n.Step, n.Revision)
}

// receiver is a loopback webhook that records every notification.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []notification
	bad []string // bodies that were not a notification
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var n notification
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := json.Unmarshal(b, &n); err != nil || n.Rollout == "" {
			r.bad = append(r.bad, string(b))
		} else {
			r.got = append(r.got, n)
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) notifications() []notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notification(nil), r.got...)
}

// notifiedTriggers are the triggers the test rollouts subscribe to (the built-in ones, each
// named after the event reason that fires it), with the event reason.
var notifiedTriggers = map[string]string{
	"on-rollout-updated":        "RolloutUpdated",
	"on-rollout-step-completed": "RolloutStepCompleted",
	"on-rollout-paused":         "RolloutPaused",
	"on-rollout-aborted":        "RolloutAborted",
	"on-rollout-completed":      "RolloutCompleted",
	"on-analysis-run-failed":    "AnalysisRunFailed",
}

// subscriptions are the annotations that subscribe a rollout to every notified trigger,
// through the webhook service "chaos".
func subscriptions() map[string]string {
	out := map[string]string{}
	for trigger := range notifiedTriggers {
		out["notifications.argoproj.io/subscribe."+trigger+".chaos"] = ""
	}
	return out
}

// createNotificationConfig creates the notification ConfigMap of ns: the webhook service
// "chaos" posting to the receiver, and for each notified trigger a template whose body names
// the rollout, the event, the step and the revision.
func createNotificationConfig(t *testing.T, env *testenv.Env, ns string, r *receiver) {
	t.Helper()
	data := map[string]string{"service.webhook.chaos": "url: " + r.srv.URL + "/\n"}
	for trigger, reason := range notifiedTriggers {
		body := fmt.Sprintf(`{"rollout":"{{.rollout.metadata.name}}","event":%q,`+
			`"step":"{{.rollout.status.currentStepIndex}}",`+
			`"revision":"{{index .rollout.metadata.annotations "rollout.argoproj.io/revision"}}"}`, reason)
		data["template."+strings.TrimPrefix(trigger, "on-")] = fmt.Sprintf("message: %s\nwebhook:\n  chaos:\n    method: POST\n    body: '%s'\n", reason, body)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "argo-rollouts-notification-configmap"}, Data: data}
	if err := env.Client.Create(context.Background(), cm); err != nil {
		t.Fatalf("creating the notification ConfigMap: %v", err)
	}
}
