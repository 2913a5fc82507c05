package colorapi

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestAnswer(t *testing.T) {
	for image, want := range map[string]Response{
		"particule/simplecolorapi:1.0":           {"red", "ok"},
		"particule/simplecolorapi:2.0":           {"blue", "ok"},
		"particule/simplecolorapi:3.0":           {"black", "nok"},
		"colorapi:green":                         {"green", "ok"},
		"registry.local:5000/simplecolorapi":     {"registry.local:5000/simplecolorapi", "ok"},
		"registry.local:5000/simplecolorapi:3.0": {"black", "nok"},
	} {
		if got := Answer(image); got != want {
			t.Errorf("Answer(%q) = %+v, want %+v", image, got, want)
		}
	}
}

func pod(name, image string, ready bool, labels map[string]string) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: labels},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}}}
}

// TestServe: the server answers round robin as the ready pods the Service selects, and follows
// the Service's selector.
func TestServe(t *testing.T) {
	stable := map[string]string{"app": "colorapi", "hash": "a"}
	canary := map[string]string{"app": "colorapi", "hash": "b"}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "colorapi", Namespace: "ns"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "colorapi"}, ClusterIP: "127.0.0.1",
			Ports: []corev1.ServicePort{{Port: 80}}}}
	c := fake.NewClientBuilder().WithObjects(svc,
		pod("a1", "particule/simplecolorapi:2.0", true, stable),
		pod("a2", "particule/simplecolorapi:2.0", true, stable),
		pod("a3", "particule/simplecolorapi:2.0", true, stable),
		pod("a4", "particule/simplecolorapi:2.0", true, stable),
		pod("b1", "particule/simplecolorapi:3.0", true, canary),
		pod("b2", "particule/simplecolorapi:3.0", false, canary), // not ready: no traffic
		pod("other", "particule/simplecolorapi:1.0", true, map[string]string{"app": "other"}),
	).Build()
	if a, err := ServiceAddr(svc); err != nil || a != "127.0.0.1:80" {
		t.Fatalf("ServiceAddr = %q, %v", a, err)
	}
	s, err := Serve(context.Background(), c, "ns", "colorapi", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	get := func() (int, Response) {
		t.Helper()
		resp, err := http.Get("http://" + s.Addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r Response
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, r
	}
	counts := map[Response]int{}
	for range 50 {
		_, r := get()
		counts[r]++
	}
	if want := (map[Response]int{{"blue", "ok"}: 40, {"black", "nok"}: 10}); len(counts) != 2 || counts[Response{"blue", "ok"}] != 40 {
		t.Errorf("50 requests over 4 pods of 2.0 and 1 of 3.0: %v, want %v", counts, want)
	}

	// the Service now selects the canary's pods only
	svc.Spec.Selector = canary
	if err := c.Update(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, r := get(); return r.Color == "black" && len(s.Images()) == 1 })
	for range 5 {
		if _, r := get(); r != (Response{"black", "nok"}) {
			t.Fatalf("the canary's pods answered %+v", r)
		}
	}

	// no ready pod selected
	if err := c.Delete(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b1", Namespace: "ns"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { code, _ := get(); return code == http.StatusServiceUnavailable })
	if _, r := get(); r.Status != "no pods" {
		t.Errorf("no pods: %+v", r)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
