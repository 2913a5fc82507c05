package main

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
)

// rsWrites follows every ReplicaSet (their metadata only) and records, per owner, when the
// driver saw a controller write to one of its ReplicaSets: a creation, or a change of
// generation (the spec), labels or annotations. A status-only change is the ReplicaSet
// controller's and does not count. The time from a spec change to the owner's first such
// write is the owning controller's reaction time (Vane's for a Rollout, the Deployment
// controller's for a Deployment).
type rsWrites struct {
	mu     sync.Mutex
	writes map[string][]time.Time // by owner key (ownerKey)
}

// ownerKey names an owner: Kind/namespace/name.
func ownerKey(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

// watchReplicaSets starts following the ReplicaSets of every namespace until ctx ends.
func watchReplicaSets(ctx context.Context, cfg *rest.Config) (*rsWrites, error) {
	mc, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metadata client: %w", err)
	}
	w := &rsWrites{writes: map[string][]time.Time{}}
	inf := metadatainformer.NewSharedInformerFactory(mc, 0).ForResource(appsv1.SchemeGroupVersion.WithResource("replicasets")).Informer()
	if err := inf.SetTransform(func(o any) (any, error) {
		if m, ok := o.(metav1.Object); ok {
			m.SetManagedFields(nil)
		}
		return o, nil
	}); err != nil {
		return nil, fmt.Errorf("ReplicaSet informer: %w", err)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) { w.saw(o) },
		UpdateFunc: func(before, after any) {
			if controllerWrite(before, after) {
				w.saw(after)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("ReplicaSet informer: %w", err)
	}
	go inf.Run(ctx.Done())
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil, fmt.Errorf("ReplicaSet informer did not sync: %w", ctx.Err())
	}
	return w, nil
}

// controllerWrite reports whether a ReplicaSet's change is more than its status.
func controllerWrite(before, after any) bool {
	b, ok1 := before.(metav1.Object)
	a, ok2 := after.(metav1.Object)
	if !ok1 || !ok2 {
		return false
	}
	return b.GetGeneration() != a.GetGeneration() || !maps.Equal(b.GetLabels(), a.GetLabels()) ||
		!maps.Equal(b.GetAnnotations(), a.GetAnnotations())
}

func (w *rsWrites) saw(o any) {
	m, ok := o.(metav1.Object)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(m)
	if ref == nil {
		return
	}
	key := ownerKey(ref.Kind, m.GetNamespace(), ref.Name)
	w.mu.Lock()
	w.writes[key] = append(w.writes[key], time.Now()) // taken under the lock: each owner's times stay sorted
	w.mu.Unlock()
}

// reactions returns, sorted, each owner's time from its spec change (changed, by owner key) to
// the first ReplicaSet write at or after it, and how many owners saw no write by end.
func (w *rsWrites) reactions(changed map[string]time.Time, end time.Time) ([]time.Duration, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []time.Duration
	missing := 0
	for key, at := range changed {
		i := sort.Search(len(w.writes[key]), func(i int) bool { return !w.writes[key][i].Before(at) })
		if i == len(w.writes[key]) || w.writes[key][i].After(end) {
			missing++
			continue
		}
		out = append(out, w.writes[key][i].Sub(at))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, missing
}
