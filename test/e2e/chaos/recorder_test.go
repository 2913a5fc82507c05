package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

// made is an object some controller created, as a watch saw it.
type made struct {
	kind, name string
	uid        types.UID
	owner      string // name of the controlling Rollout
	revision   string // rollout.argoproj.io/revision
	hash       string // rollouts-pod-template-hash
	step       string // step-index label of a step's AnalysisRun
}

// recorder remembers every ReplicaSet and AnalysisRun of a namespace that ever existed, also
// those deleted again, from watches that outlive API server restarts.
type recorder struct {
	mu   sync.Mutex
	objs map[types.UID]made
}

// record starts watching ns until the test ends.
func record(t *testing.T, env *testenv.Env, ns string) *recorder {
	t.Helper()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatalf("a watching client: %v", err)
	}
	r := &recorder{objs: map[types.UID]made{}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, kind := range []struct {
		obj  runtime.Object
		list client.ObjectList
	}{{&appsv1.ReplicaSet{}, &appsv1.ReplicaSetList{}}, {&v1alpha1.AnalysisRun{}, &v1alpha1.AnalysisRunList{}}} {
		inf := cache.NewSharedIndexInformer(listWatch(ctx, wc, ns, kind.list), kind.obj, 0, cache.Indexers{})
		_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { r.add(o) },
			UpdateFunc: func(_, o any) { r.add(o) },
		})
		if err != nil {
			t.Fatalf("watching %T: %v", kind.obj, err)
		}
		go inf.Run(ctx.Done())
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			t.Fatalf("watch of %T did not sync", kind.obj)
		}
	}
	return r
}

func listWatch(ctx context.Context, wc client.WithWatch, ns string, list client.ObjectList) *cache.ListWatch {
	return &cache.ListWatch{
		ListFunc: func(o metav1.ListOptions) (runtime.Object, error) {
			l := list.DeepCopyObject().(client.ObjectList)
			err := wc.List(ctx, l, client.InNamespace(ns), &client.ListOptions{Raw: &o})
			return l, err
		},
		WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
			return wc.Watch(ctx, list.DeepCopyObject().(client.ObjectList), client.InNamespace(ns), &client.ListOptions{Raw: &o})
		},
	}
}

func (r *recorder) add(o any) {
	obj, ok := o.(client.Object)
	if !ok {
		return
	}
	m := made{name: obj.GetName(), uid: obj.GetUID(), revision: obj.GetAnnotations()[v1alpha1.RevisionAnnotation],
		hash: obj.GetLabels()[v1alpha1.PodTemplateHashLabel], step: obj.GetLabels()["step-index"]}
	switch obj.(type) {
	case *appsv1.ReplicaSet:
		m.kind = "ReplicaSet"
	case *v1alpha1.AnalysisRun:
		m.kind = "AnalysisRun"
	}
	if ref := metav1.GetControllerOf(obj); ref != nil && ref.Kind == "Rollout" {
		m.owner = ref.Name
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.objs[m.uid] = m
}

// duplicates lists the ReplicaSets made more than once for one revision of a rollout (two
// objects with the same pod template hash) and the AnalysisRuns made more than once for one
// step of one revision; the counts are of objects seen.
func (r *recorder) duplicates() (replicaSets, runs int, details []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	groups := map[string][]string{}
	for _, m := range r.objs {
		key := ""
		switch m.kind {
		case "ReplicaSet":
			key = fmt.Sprintf("ReplicaSet of %s for hash %s", m.owner, m.hash)
		case "AnalysisRun":
			key = fmt.Sprintf("AnalysisRun of %s for revision %s hash %s step %q", m.owner, m.revision, m.hash, m.step)
		}
		groups[key] = append(groups[key], m.name+"/"+string(m.uid))
	}
	for key, objs := range groups {
		if len(objs) < 2 {
			continue
		}
		if strings.HasPrefix(key, "ReplicaSet") {
			replicaSets += len(objs) - 1
		} else {
			runs += len(objs) - 1
		}
		details = append(details, fmt.Sprintf("%s: %d objects %v", key, len(objs), objs))
	}
	sort.Strings(details)
	return replicaSets, runs, details
}

// count returns how many objects of kind were seen.
func (r *recorder) count(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.objs {
		if m.kind == kind {
			n++
		}
	}
	return n
}

// eventCounts reads the events of ns about Rollouts and AnalysisRuns and returns, per object,
// reason and message, how many times it was recorded (the sum of the events' counts).
func eventCounts(t *testing.T, env *testenv.Env, ns string) map[string]int {
	t.Helper()
	var list corev1.EventList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatalf("listing events: %v", err)
	}
	out := map[string]int{}
	for _, e := range list.Items {
		k := e.InvolvedObject.Kind
		if k != "Rollout" && k != "AnalysisRun" {
			continue
		}
		key := fmt.Sprintf("%s %s|%s|%s", k, e.InvolvedObject.Name, e.Reason, e.Message)
		out[key] += int(max(e.Count, 1))
	}
	return out
}

// repeatedEvents lists the events recorded for one object with one reason and message more
// times than allowed says they may be (one transition announced twice). allowed gets the
// object ("Rollout name"), the reason and the message.
func repeatedEvents(counts map[string]int, allowed func(object, reason, message string) int) []string {
	var out []string
	for k, n := range counts {
		parts := strings.SplitN(k, "|", 3)
		if n > max(1, allowed(parts[0], parts[1], parts[2])) {
			out = append(out, fmt.Sprintf("%dx %s", n, k))
		}
	}
	sort.Strings(out)
	return out
}

// waitQuiet waits until no event of ns changed for quiet, at most limit.
func waitQuiet(t *testing.T, env *testenv.Env, ns string, quiet, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	last, lastChange := -1, time.Now()
	for time.Now().Before(deadline) {
		n := 0
		for _, c := range eventCounts(t, env, ns) {
			n += c
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		if time.Since(lastChange) >= quiet {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}
