package e2e

import (
	"context"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/controller"
	"github.com/vanedev/vane/internal/notify"
	"github.com/vanedev/vane/internal/testenv"
)

// countingMetrics records the notifier's counts.
type countingMetrics struct {
	mu   sync.Mutex
	sent map[string]int
}

func (m *countingMetrics) Sent(namespace, name, eventType, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent[name+" "+eventType+" "+reason]++
}
func (m *countingMetrics) Failed(namespace, name, eventType, reason string) {}
func (m *countingMetrics) Observe(namespace, name string, seconds float64)  {}

// startNotifier runs a notifier in a manager of its own (a controller process's) until the
// test ends or stop is called.
func startNotifier(t *testing.T, env *testenv.Env, ns string, m notify.Metrics) (n *notify.Notifier, stop func()) {
	t.Helper()
	scheme, err := controller.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		t.Fatal(err)
	}
	n = notify.New(notify.Options{Namespace: ns, Metrics: m})
	if err := n.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("manager: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return n, stop
}

// TestNotificationsDedupeRealServer drives the notifier directly, as the reconciler's event
// recorder does, against the real API server: the same RolloutAborted event observed twice (a
// retried reconcile recording it again) is sent once, also by a second notifier standing for
// a restarted controller; an abort with a changed status is sent again. RolloutPaused events
// after each step prove, by the notifier's per-rollout order, that the earlier ones were
// handled. The injected metrics count each send.
func TestNotificationsDedupeRealServer(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	rcv := newReceiver(t)
	createNotificationConfig(t, env, ns, map[string]string{"service.webhook": "url: " + rcv.srv.URL + "/hook\n"}, nil)
	ro := &v1alpha1.Rollout{}
	applyManifests(t, env, ns, "examples/seeds/keptn-podtatohead-rollout.yaml", func(r *v1alpha1.Rollout) {
		r.Name = "app"
		r.Labels = map[string]string{v1alpha1.InstanceIDLabel: "no-controller"} // no controller acts on it
		subscribe(map[string]string{"on-rollout-aborted.webhook": "", "on-rollout-paused.webhook": ""})(r)
	})
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app"}, ro); err != nil {
		t.Fatal(err)
	}
	aborted := ro.DeepCopy()
	aborted.Status.Abort, aborted.Status.Message = true, "RolloutAborted: first"
	abortedAgain := aborted.DeepCopy()
	abortedAgain.Status.Message = "RolloutAborted: second"
	abortedAgain.Status.AbortedAt = &metav1.Time{Time: metav1.Now().Time}

	first := &countingMetrics{sent: map[string]int{}}
	n, stop := startNotifier(t, env, ns, first)
	n.ObserveEvent(aborted, corev1.EventTypeWarning, "RolloutAborted", "Rollout aborted update to revision 2")
	n.ObserveEvent(aborted.DeepCopy(), corev1.EventTypeWarning, "RolloutAborted", "Rollout aborted update to revision 2")
	n.ObserveEvent(ro, corev1.EventTypeNormal, "RolloutPaused", "Rollout is paused (1)")
	rcv.waitRequests(t, "/hook", 2)
	stop()

	restarted, _ := startNotifier(t, env, ns, nil)
	restarted.ObserveEvent(aborted, corev1.EventTypeWarning, "RolloutAborted", "Rollout aborted update to revision 2")
	restarted.ObserveEvent(abortedAgain, corev1.EventTypeWarning, "RolloutAborted", "Rollout aborted update to revision 2")
	restarted.ObserveEvent(ro, corev1.EventTypeNormal, "RolloutPaused", "Rollout is paused (2)")
	var got []string
	for _, r := range rcv.waitRequests(t, "/hook", 4) {
		got = append(got, r.Body)
	}
	want := []string{
		ns + "/app: the rollout was aborted, the stable revision is back. RolloutAborted: first",
		ns + "/app: the rollout is paused.",
		ns + "/app: the rollout was aborted, the stable revision is back. RolloutAborted: second",
		ns + "/app: the rollout is paused.",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("webhook messages (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]int{"app Warning RolloutAborted": 1, "app Normal RolloutPaused": 1}, first.sent); d != "" {
		t.Errorf("sends counted by the first notifier (-want +got):\n%s", d)
	}
}
