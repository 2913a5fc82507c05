package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
	"github.com/vanedev/vane/internal/testenv/controllertest"
)

// withController returns the shared control plane with Vane's controller running in this test
// process (controllertest.Start: started once, as config/rbac's ServiceAccount). A failed
// start fails every test that needs the controller at once, instead of letting it wait out its
// timeouts.
func withController(t *testing.T) *testenv.Env {
	t.Helper()
	env := testenv.Get(t)
	if err := controllertest.Start(env, "e2e"); err != nil {
		t.Fatalf("starting the controller: %v", err)
	}
	return env
}

// loadManifests reads every document of a YAML file under examples/.
func loadManifests(t *testing.T, env *testenv.Env, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.RepoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// applyManifests creates every object of path in ns; mutate may change a Rollout first.
func applyManifests(t *testing.T, env *testenv.Env, ns, path string, mutate func(*v1alpha1.Rollout)) {
	t.Helper()
	for _, u := range loadManifests(t, env, path) {
		u.SetNamespace(ns)
		var obj client.Object = u
		if u.GetKind() == "Rollout" && mutate != nil {
			ro := &v1alpha1.Rollout{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, ro); err != nil {
				t.Fatal(err)
			}
			mutate(ro)
			obj = ro
		}
		if err := env.Client.Create(context.Background(), obj); err != nil {
			t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

// anyStep in a wanted snapshot matches every step index.
const anyStep = -1

// snapshot is what a scenario asserts at each point of a rollout.
type snapshot struct {
	Phase   v1alpha1.RolloutPhase
	Step    int32
	Stable  string // image of the stable ReplicaSet
	Sets    string // "image=replicas/available" per ReplicaSet with pods, sorted
	Message string
}

func (s snapshot) String() string {
	return fmt.Sprintf("phase=%s step=%d stable=%s sets=[%s] message=%q", s.Phase, s.Step, s.Stable, s.Sets, s.Message)
}

// observe reads the rollout and its ReplicaSets.
func observe(ctx context.Context, env *testenv.Env, ns, name string) (snapshot, *v1alpha1.Rollout, error) {
	ro := &v1alpha1.Rollout{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
		return snapshot{}, nil, err
	}
	var list appsv1.ReplicaSetList
	if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return snapshot{}, nil, err
	}
	s := snapshot{Phase: ro.Status.Phase, Step: ptr.Deref(ro.Status.CurrentStepIndex, -1), Message: ro.Status.Message}
	var sets []string
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref == nil || ref.UID != ro.UID {
			continue
		}
		img := rs.Spec.Template.Spec.Containers[0].Image
		if rs.Labels[v1alpha1.PodTemplateHashLabel] == ro.Status.StableRS {
			s.Stable = img
		}
		if n := ptr.Deref(rs.Spec.Replicas, 0); n > 0 || rs.Status.Replicas > 0 {
			sets = append(sets, fmt.Sprintf("%s=%d/%d", img, n, rs.Status.AvailableReplicas))
		}
	}
	sort.Strings(sets)
	s.Sets = strings.Join(sets, " ")
	return s, ro, nil
}

// waitState waits until the rollout looks like want (empty strings and Step anyStep are not
// compared) and returns the rollout.
func waitState(t *testing.T, env *testenv.Env, ns, name string, timeout time.Duration, want snapshot) *v1alpha1.Rollout {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	var last snapshot
	for {
		s, ro, err := observe(ctx, env, ns, name)
		if err == nil {
			last = s
			if matches(s, want) {
				return ro
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout %s/%s: waited %s for\n  want %s\n  last %s", ns, name, timeout, want, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func matches(got, want snapshot) bool {
	return (want.Phase == "" || got.Phase == want.Phase) &&
		(want.Step < 0 || got.Step == want.Step) &&
		(want.Stable == "" || got.Stable == want.Stable) &&
		(want.Sets == "" || got.Sets == want.Sets) &&
		(want.Message == "" || strings.Contains(got.Message, want.Message))
}

// serviceHash returns the rollouts-pod-template-hash a Service selects.
func serviceHash(t *testing.T, env *testenv.Env, ns, name string) string {
	t.Helper()
	var svc corev1.Service
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
		t.Fatal(err)
	}
	return svc.Spec.Selector[v1alpha1.PodTemplateHashLabel]
}

// rsHashOfImage returns the pod-template hash of the rollout's ReplicaSet running image.
func rsHashOfImage(t *testing.T, env *testenv.Env, ns, image string) string {
	t.Helper()
	var list appsv1.ReplicaSetList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, rs := range list.Items {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			return rs.Labels[v1alpha1.PodTemplateHashLabel]
		}
	}
	t.Fatalf("no ReplicaSet runs %s", image)
	return ""
}

// rolloutEventList returns the events on the rollout, oldest first.
func rolloutEventList(t *testing.T, env *testenv.Env, ns, name string) []corev1.Event {
	t.Helper()
	var list corev1.EventList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].FirstTimestamp.Before(&list.Items[j].FirstTimestamp) })
	var out []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "Rollout" && e.InvolvedObject.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// eventReasons returns the reasons of the events on the rollout, oldest first.
func eventReasons(t *testing.T, env *testenv.Env, ns, name string) []string {
	t.Helper()
	var out []string
	for _, e := range rolloutEventList(t, env, ns, name) {
		out = append(out, e.Reason)
	}
	return out
}
