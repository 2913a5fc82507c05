package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/localcluster"
	"github.com/vanedev/vane/internal/testenv"
)

// Steps of the rollouts other writers fight over: four weights, each held 3 s.
const longSteps = `
- setWeight: 20
- pause: {duration: 3s}
- setWeight: 40
- pause: {duration: 3s}
- setWeight: 60
- pause: {duration: 3s}
- setWeight: 80
- pause: {duration: 3s}
`

// writer is a goroutine that writes an object over and over until stopped, counting its
// writes and its errors.
type writer struct {
	name   string
	mu     sync.Mutex
	writes int
	errs   []string
	stop   chan struct{}
	done   chan struct{}
}

// every runs write every period until stop.
func every(name string, period time.Duration, write func(i int) error) *writer {
	w := &writer{name: name, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			err := write(i)
			w.mu.Lock()
			w.writes++
			if err != nil {
				w.errs = append(w.errs, err.Error())
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-time.After(period):
			}
		}
	}()
	return w
}

// finish stops the writer and returns its writes and errors.
func (w *writer) finish() (int, []string) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes, w.errs
}

// TestConflictingWriters: while rollouts step through an update, other writers change what
// the controller manages or reads: an HPA-like scaler sets one rollout's replicas through the
// scale subresource every 700 ms; a GitOps tool re-applies another's manifest (the updated
// template) every 2 s with client-side apply, a third's with server-side apply; a person sets
// a managed Service's selector to another pod hash, mid-update and after. No rollout may get
// stuck or restart its update, and the controller must put the Services back.
func TestConflictingWriters(t *testing.T) {
	t.Parallel()
	env := getEnv(t)
	ns := env.Namespace(t)
	rec := record(t, env, ns)
	newController(t, env, ns, "chaos-writers")
	kubectl := kubectlPath(t, env)
	ro := func(name string, replicas int32) *v1alpha1.Rollout {
		return newRollout(t, ns, rolloutOpts{name: name, image: "app:1", replicas: replicas, steps: longSteps})
	}
	svc := ro("svc", 2)
	svc.Spec.Strategy.Canary.CanaryService, svc.Spec.Strategy.Canary.StableService = "svc-canary", "svc-stable"
	createAll(t, env, service(ns, "svc-canary", "svc"), service(ns, "svc-stable", "svc"))
	createAll(t, env, ro("scaled", 2), svc)
	csa, ssa := ro("csa", 2), ro("ssa", 2)
	kubectlApply(t, kubectl, env, csa)
	kubectlApply(t, kubectl, env, ssa, "--server-side", "--field-manager=gitops")
	all := map[string]verdict{"scaled": healthyAt(2), "svc": healthyAt(2), "csa": healthyAt(2), "ssa": healthyAt(2)}
	waitAll(t, env, ns, all, 2*time.Minute)

	ctx := context.Background()
	start := time.Now()
	for _, name := range []string{"scaled", "svc"} {
		if err := setImage(ctx, env, ns, name, "app:2"); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []*v1alpha1.Rollout{csa, ssa} {
		o.Spec.Template.Spec.Containers[0].Image = "app:2"
	}
	gitops := []*writer{
		every("client-side apply", 2*time.Second, func(int) error { return apply(kubectl, env, csa) }),
		every("server-side apply", 2*time.Second, func(int) error {
			return apply(kubectl, env, ssa, "--server-side", "--field-manager=gitops")
		}),
	}
	sizes := []int32{4, 2, 5, 3}
	hpa := every("scaler", 700*time.Millisecond, func(i int) error { return scaleTo(ctx, env, ns, "scaled", sizes[i%len(sizes)]) })
	repairs := tamperServices(t, env, ns, "svc")
	time.Sleep(time.Until(start.Add(12 * time.Second))) // the scaler runs through most steps
	scaleWrites, scaleErrs := hpa.finish()
	final := lastScale(t, env, ns, "scaled")

	want := map[string]verdict{"scaled": healthyAt(final), "svc": healthyAt(2), "csa": healthyAt(2), "ssa": healthyAt(2)}
	for name, v := range want {
		want[name] = updated(v)
	}
	took := waitAll(t, env, ns, want, 2*time.Minute)
	finishApplies(t, gitops)
	repairs = append(repairs, tamperAfter(t, env, ns, "svc")...)
	rs, runs, details := rec.duplicates()
	if rs+runs > 0 || rec.count("ReplicaSet") != 8 {
		t.Errorf("%d ReplicaSets (want 8: two per rollout), duplicates: %v", rec.count("ReplicaSet"), details)
	}
	t.Logf("writers: scaler %d writes (%d conflicts), final replicas %d; all Healthy %.0fs after the scaler stopped; "+
		"Service selectors put back after %v", scaleWrites, len(scaleErrs), final, took.Seconds(), repairs)
}

// finishApplies stops the GitOps writers: every apply must have succeeded.
func finishApplies(t *testing.T, writers []*writer) {
	t.Helper()
	for _, w := range writers {
		n, errs := w.finish()
		if len(errs) > 0 {
			t.Errorf("%s: %d of %d applies failed: %v", w.name, len(errs), n, errs)
		}
		t.Logf("%s: %d applies of the same template", w.name, n)
	}
}

// updated wraps a verdict: the rollout must also run app:2.
func updated(v verdict) verdict {
	return func(ro *v1alpha1.Rollout) (bool, string) {
		if img := ro.Spec.Template.Spec.Containers[0].Image; img != "app:2" {
			return false, "still " + img
		}
		return v(ro)
	}
}

// service is a Service selecting app's pods.
func service(ns, name, app string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": app},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}
}

// scaleTo sets a rollout's replicas through its scale subresource, as the HPA does.
func scaleTo(ctx context.Context, env *testenv.Env, ns, name string, n int32) error {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	sc := &autoscalingv1.Scale{}
	if err := env.Client.SubResource("scale").Get(ctx, ro, sc); err != nil {
		return fmt.Errorf("reading the scale of %s: %w", name, err)
	}
	sc.Spec.Replicas = n
	if err := env.Client.SubResource("scale").Update(ctx, ro, client.WithSubResourceBody(sc)); err != nil {
		return fmt.Errorf("scaling %s to %d: %w", name, n, err)
	}
	return nil
}

// lastScale is the rollout's spec.replicas.
func lastScale(t *testing.T, env *testenv.Env, ns, name string) int32 {
	t.Helper()
	ro := &v1alpha1.Rollout{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
		t.Fatal(err)
	}
	return *ro.Spec.Replicas
}

// kubectlPath is the control plane's kubectl (hack/cluster/install.sh builds it).
func kubectlPath(t *testing.T, env *testenv.Env) string {
	t.Helper()
	dir, err := localcluster.DefaultBinDir(env.RepoRoot)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "kubectl")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no kubectl in %s: run `make k8s-tools`", dir)
	}
	return p
}

// kubectlApply applies ro's manifest with kubectl, failing the test on an error.
func kubectlApply(t *testing.T, kubectl string, env *testenv.Env, ro *v1alpha1.Rollout, flags ...string) {
	t.Helper()
	if err := apply(kubectl, env, ro, flags...); err != nil {
		t.Fatal(err)
	}
}

// apply runs `kubectl apply` of ro's manifest (its metadata and spec, as a Git repository
// holds it) with flags.
func apply(kubectl string, env *testenv.Env, ro *v1alpha1.Rollout, flags ...string) error {
	doc := map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"name": ro.Name, "namespace": ro.Namespace, "labels": ro.Labels},
		"spec":     ro.Spec,
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return fmt.Errorf("manifest of %s: %w", ro.Name, err)
	}
	cmd := exec.Command(kubectl, append([]string{"apply", "--kubeconfig", env.Kubeconfig, "-f", "-"}, flags...)...)
	cmd.Stdin = strings.NewReader(string(b))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl apply %s: %w: %s", strings.Join(flags, " "), err, out)
	}
	return nil
}

// tamperServices sets the selector of the rollout's stable Service to another pod hash while
// its update holds a step, and returns how long the controller took to put it back.
func tamperServices(t *testing.T, env *testenv.Env, ns, name string) []time.Duration {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ros, err := listRollouts(context.Background(), env, ns)
		if err != nil {
			t.Fatal(err)
		}
		if s := ros[name].Status; s.CurrentPodHash != s.StableRS && len(s.PauseConditions) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not pause at a step within a minute: %s", name, describe(ros[name]))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return []time.Duration{tamper(t, env, ns, name, name+"-stable"), tamper(t, env, ns, name, name+"-canary")}
}

// tamperAfter sets both Services' selectors to another pod hash once the update completed.
func tamperAfter(t *testing.T, env *testenv.Env, ns, name string) []time.Duration {
	t.Helper()
	return []time.Duration{tamper(t, env, ns, name, name+"-stable"), tamper(t, env, ns, name, name+"-canary")}
}

// tamper points the Service of rollout name at pod hash "tampered", as a person editing it
// would, and waits until its selector has the hash it had before (or one of the rollout's).
func tamper(t *testing.T, env *testenv.Env, ns, rollout, name string) time.Duration {
	t.Helper()
	ctx := context.Background()
	key := client.ObjectKey{Namespace: ns, Name: name}
	var s corev1.Service
	if err := env.Client.Get(ctx, key, &s); err != nil {
		t.Fatal(err)
	}
	want := s.Spec.Selector[v1alpha1.PodTemplateHashLabel]
	if want == "" {
		t.Fatalf("Service %s has no %s in its selector: %v", name, v1alpha1.PodTemplateHashLabel, s.Spec.Selector)
	}
	patch := fmt.Sprintf(`{"spec":{"selector":{%q:"tampered"}}}`, v1alpha1.PodTemplateHashLabel)
	if err := env.Client.Patch(ctx, &s, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for time.Since(start) < 30*time.Second {
		if err := env.Client.Get(ctx, key, &s); err != nil {
			t.Fatal(err)
		}
		if got := s.Spec.Selector[v1alpha1.PodTemplateHashLabel]; got != "tampered" {
			if stable, current := rolloutHashes(t, env, ns, rollout); got != want && got != stable && got != current {
				t.Errorf("Service %s: selector hash %q after the edit, want %q (or the rollout's %s, %s)", name, got, want, stable, current)
			}
			return time.Since(start).Round(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("Service %s: the controller did not put its selector back within 30s: %v", name, s.Spec.Selector)
	return 0
}

// rolloutHashes are the rollout's stable and current pod hashes now (the update may have
// moved on since a Service was edited).
func rolloutHashes(t *testing.T, env *testenv.Env, ns, name string) (stable, current string) {
	t.Helper()
	ro := &v1alpha1.Rollout{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
		t.Fatal(err)
	}
	return ro.Status.StableRS, ro.Status.CurrentPodHash
}
