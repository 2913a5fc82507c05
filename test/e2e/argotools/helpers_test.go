package argotools

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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

const waitLong = 60 * time.Second

// applySeed creates every object of a YAML file of the repository in ns; mutate may change the
// Rollout first.
func applySeed(t *testing.T, env *testenv.Env, ns, path string, mutate func(*v1alpha1.Rollout)) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.RepoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) == 0 {
			continue
		}
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

// snapshot is what a scenario asserts on a rollout read from the API server.
type snapshot struct {
	Phase   v1alpha1.RolloutPhase
	Step    int32
	Stable  string // image of the stable ReplicaSet
	Sets    string // "image=replicas/available" per ReplicaSet with pods, sorted
	Message string // substring of status.message
}

func (s snapshot) String() string {
	return fmt.Sprintf("phase=%s step=%d stable=%s sets=[%s] message=%q", s.Phase, s.Step, s.Stable, s.Sets, s.Message)
}

// rolloutSets returns the ReplicaSets the rollout owns.
func rolloutSets(ctx context.Context, env *testenv.Env, ro *v1alpha1.Rollout) ([]appsv1.ReplicaSet, error) {
	var list appsv1.ReplicaSetList
	if err := env.Client.List(ctx, &list, client.InNamespace(ro.Namespace)); err != nil {
		return nil, err
	}
	var out []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == ro.UID {
			out = append(out, rs)
		}
	}
	return out, nil
}

func observe(ctx context.Context, env *testenv.Env, ns, name string) (snapshot, *v1alpha1.Rollout, error) {
	ro := &v1alpha1.Rollout{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
		return snapshot{}, nil, err
	}
	sets, err := rolloutSets(ctx, env, ro)
	if err != nil {
		return snapshot{}, nil, err
	}
	s := snapshot{Phase: ro.Status.Phase, Step: ptr.Deref(ro.Status.CurrentStepIndex, -1), Message: ro.Status.Message}
	var described []string
	for _, rs := range sets {
		img := rs.Spec.Template.Spec.Containers[0].Image
		if rs.Labels[v1alpha1.PodTemplateHashLabel] == ro.Status.StableRS {
			s.Stable = img
		}
		if n := ptr.Deref(rs.Spec.Replicas, 0); n > 0 || rs.Status.Replicas > 0 {
			described = append(described, fmt.Sprintf("%s=%d/%d", img, n, rs.Status.AvailableReplicas))
		}
	}
	sort.Strings(described)
	s.Sets = strings.Join(described, " ")
	return s, ro, nil
}

// waitState waits until the rollout looks like want (empty fields and Step anyStep are not
// compared) and returns it.
func waitState(t *testing.T, env *testenv.Env, ns, name string, timeout time.Duration, want snapshot) *v1alpha1.Rollout {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	var last snapshot
	for {
		s, ro, err := observe(ctx, env, ns, name)
		if err == nil {
			last = s
			if (want.Phase == "" || s.Phase == want.Phase) && (want.Step < 0 || s.Step == want.Step) &&
				(want.Stable == "" || s.Stable == want.Stable) && (want.Sets == "" || s.Sets == want.Sets) &&
				(want.Message == "" || strings.Contains(s.Message, want.Message)) {
				return ro
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout %s/%s: waited %s for\n  want %s\n  last %s", ns, name, timeout, want, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// replicaSetOfImage returns the rollout's ReplicaSet whose first container runs image.
func replicaSetOfImage(t *testing.T, env *testenv.Env, ro *v1alpha1.Rollout, image string) appsv1.ReplicaSet {
	t.Helper()
	sets, err := rolloutSets(context.Background(), env, ro)
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range sets {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			return rs
		}
	}
	t.Fatalf("rollout %s owns no ReplicaSet that runs %s", ro.Name, image)
	return appsv1.ReplicaSet{}
}
