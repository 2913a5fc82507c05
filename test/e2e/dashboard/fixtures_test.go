package dashboard

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// pauseStep is an indefinite pause; weightStep sets the canary's weight.
func pauseStep() v1alpha1.CanaryStep { return v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{}} }
func weightStep(w int32) v1alpha1.CanaryStep {
	return v1alpha1.CanaryStep{SetWeight: ptr.To(w)}
}

// newCanary creates a canary rollout of replicas pods running image.
func newCanary(t *testing.T, env *testenv.Env, ns, name, image string, replicas int32, steps ...v1alpha1.CanaryStep) *v1alpha1.Rollout {
	t.Helper()
	labels := map[string]string{"app": name}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.RolloutSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels, image),
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps}}}}
	if err := env.Client.Create(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	return ro
}

// newBlueGreen creates a blue/green rollout with an active and a preview Service, promoted by
// hand.
func newBlueGreen(t *testing.T, env *testenv.Env, ns, name, image string) *v1alpha1.Rollout {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app": name}
	for _, svc := range []string{name + "-active", name + "-preview"} {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns},
			Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80}}}}
		if err := env.Client.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.RolloutSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels, image),
			Strategy: v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: name + "-active",
				PreviewService: name + "-preview", AutoPromotionEnabled: ptr.To(false)}}}}
	if err := env.Client.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	return ro
}

func podTemplate(labels map[string]string, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}}
}

// setImage changes the rollout's image with the admin client (an update from outside the
// dashboard).
func setImage(t *testing.T, env *testenv.Env, ns, name, image string) {
	t.Helper()
	ro := &v1alpha1.Rollout{}
	getRollout(t, env, ns, name, ro)
	ro.Spec.Template.Spec.Containers[0].Image = image
	if err := env.Client.Update(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	Event, Data string
}

// openStream reads the dashboard's event stream into a channel until the test ends.
func openStream(t *testing.T, url string, hdr map[string]string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %s", resp.Status)
	}
	out := make(chan sseEvent, 100000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data = strings.TrimPrefix(line, "data: ")
			case line == "" && ev.Event != "":
				out <- ev
				ev = sseEvent{}
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return out
}
