package chaos

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// rolloutOpts describe a test Rollout: a canary of replicas pods of one container.
type rolloutOpts struct {
	name, instance, image string
	replicas              int32
	// steps is the YAML of the canary's steps
	steps string
	// annotations go on the Rollout (notification subscriptions)
	annotations map[string]string
	// podAnnotations go on the pod template
	podAnnotations map[string]string
}

// newRollout builds the Rollout o describes in ns.
func newRollout(t *testing.T, ns string, o rolloutOpts) *v1alpha1.Rollout {
	t.Helper()
	var steps []v1alpha1.CanaryStep
	if err := yaml.Unmarshal([]byte(o.steps), &steps); err != nil {
		t.Fatalf("steps of %s: %v\n%s", o.name, err, o.steps)
	}
	labels := map[string]string{}
	if o.instance != "" {
		labels[v1alpha1.InstanceIDLabel] = o.instance
	}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: o.name, Labels: labels, Annotations: o.annotations},
		Spec: v1alpha1.RolloutSpec{
			Replicas:             ptr.To(o.replicas),
			RevisionHistoryLimit: ptr.To[int32](3),
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{"app": o.name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": o.name}, Annotations: o.podAnnotations},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: o.image}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps}},
		},
	}
}

// createAll creates the objects, failing the test on the first error.
func createAll[T client.Object](t *testing.T, env *testenv.Env, objs ...T) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %s %s: %v", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
	}
}

// webTemplate is an AnalysisTemplate of one web metric: count measurements every interval of
// url, successful when $.ok is true, failed at the first false.
func webTemplate(ns, name, url string, count int, interval string, extra string) *v1alpha1.AnalysisTemplate {
	doc := fmt.Sprintf(`
metadata: {name: %s, namespace: %s}
spec:
  metrics:
  - name: web
    count: %d
    interval: %s
    successCondition: result == true
    failureLimit: 0
    provider:
      web:
        url: %q
        jsonPath: "{$.ok}"
%s`, name, ns, count, interval, url, extra)
	tpl := &v1alpha1.AnalysisTemplate{}
	if err := yaml.Unmarshal([]byte(doc), tpl); err != nil {
		panic(fmt.Sprintf("template %s: %v", name, err)) // a constant of the test: not input
	}
	return tpl
}

// setImage points the rollout's container at image (an update).
func setImage(ctx context.Context, env *testenv.Env, ns, name, image string) error {
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":%q}]}}}}`, image)
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := env.Client.Patch(ctx, ro, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return fmt.Errorf("setting the image of %s: %w", name, err)
	}
	return nil
}

// listRollouts returns the rollouts of ns by name.
func listRollouts(ctx context.Context, env *testenv.Env, ns string) (map[string]*v1alpha1.Rollout, error) {
	var list v1alpha1.RolloutList
	if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing rollouts: %w", err)
	}
	out := make(map[string]*v1alpha1.Rollout, len(list.Items))
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out, nil
}

// verdict says whether a rollout is in its final state, and if not what it is in.
type verdict func(ro *v1alpha1.Rollout) (done bool, why string)

// healthyAt is the verdict of a rollout that completed: Healthy, observed, every replica
// updated and available, the stable ReplicaSet the current one.
func healthyAt(replicas int32) verdict {
	return func(ro *v1alpha1.Rollout) (bool, string) {
		s := ro.Status
		ok := s.Phase == v1alpha1.RolloutPhaseHealthy && s.ObservedGeneration == fmt.Sprint(ro.Generation) &&
			s.StableRS != "" && s.StableRS == s.CurrentPodHash && !s.Abort &&
			s.UpdatedReplicas == replicas && s.AvailableReplicas == replicas && s.Replicas == replicas
		return ok, describe(ro)
	}
}

// abortedTo is the verdict of a rollout whose update was aborted: Degraded, stable on the
// previous ReplicaSet with every replica, the message containing want.
func abortedTo(replicas int32, want string) verdict {
	return func(ro *v1alpha1.Rollout) (bool, string) {
		s := ro.Status
		ok := s.Phase == v1alpha1.RolloutPhaseDegraded && s.Abort && s.StableRS != "" && s.StableRS != s.CurrentPodHash &&
			s.AvailableReplicas == replicas && strings.Contains(s.Message, want) &&
			s.ObservedGeneration == fmt.Sprint(ro.Generation)
		return ok, describe(ro)
	}
}

// describe is a one-line summary of a rollout's state.
func describe(ro *v1alpha1.Rollout) string {
	s := ro.Status
	return fmt.Sprintf("phase=%s step=%d stable=%s current=%s abort=%v replicas=%d/%d/%d observed=%s/%d message=%q",
		s.Phase, ptr.Deref(s.CurrentStepIndex, -1), s.StableRS, s.CurrentPodHash, s.Abort,
		s.Replicas, s.UpdatedReplicas, s.AvailableReplicas, s.ObservedGeneration, ro.Generation, s.Message)
}

// waitAll waits until every named rollout of ns meets its verdict, and fails the test with the
// ones that do not after timeout. It returns how long that took.
func waitAll(t *testing.T, env *testenv.Env, ns string, want map[string]verdict, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var pending []string
	for {
		ros, err := listRollouts(context.Background(), env, ns)
		pending = pending[:0]
		if err != nil {
			pending = append(pending, err.Error())
		}
		for name, v := range want {
			ro, ok := ros[name]
			if !ok {
				pending = append(pending, name+": missing")
				continue
			}
			if done, why := v(ro); !done {
				pending = append(pending, name+": "+why)
			}
		}
		if len(pending) == 0 {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			if len(pending) > 20 {
				pending = append(pending[:20], fmt.Sprintf("... and %d more", len(pending)-20))
			}
			t.Fatalf("%d rollouts not in their final state after %s:\n  %s", len(pending), timeout, strings.Join(pending, "\n  "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// counter counts things by key, safely across goroutines.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[key]++
}

func (c *counter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

func (c *counter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}
