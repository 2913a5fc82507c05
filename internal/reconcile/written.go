package reconcile

import (
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// maxReplaced bounds how many replaced resourceVersions Written keeps per object (one reconcile
// writes an object at most a few times).
const maxReplaced = 4

// Written remembers, per object, the resourceVersions the controller's own writes replaced. A
// cache that still serves one of them has not seen the write yet: a reconcile of that copy would
// decide from the past, and its status write would lose to a conflict. Run skips such a
// reconcile; the watch event of the write brings the object back. The zero value is ready.
type Written struct {
	mu       sync.Mutex
	replaced map[types.UID][]string
}

// Replaced records that a write of obj replaced resourceVersion before (obj carries the
// resourceVersion the write returned; nothing is recorded when it did not change).
func (w *Written) Replaced(obj client.Object, before string) {
	if w == nil || before == "" || obj.GetResourceVersion() == before {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.replaced == nil {
		w.replaced = map[types.UID][]string{}
	}
	rvs := append(w.replaced[obj.GetUID()], before)
	if len(rvs) > maxReplaced {
		rvs = rvs[len(rvs)-maxReplaced:]
	}
	w.replaced[obj.GetUID()] = rvs
}

// Stale reports whether obj, as a cache served it, is a version the controller's own write
// replaced. A version it did not replace means the cache caught up: the record is dropped.
func (w *Written) Stale(obj client.Object) bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	rvs, ok := w.replaced[obj.GetUID()]
	if !ok {
		return false
	}
	if slices.Contains(rvs, obj.GetResourceVersion()) {
		return true
	}
	delete(w.replaced, obj.GetUID())
	return false
}

// Forget drops what Written knows of an object (it is gone).
func (w *Written) Forget(uid types.UID) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.replaced, uid)
}
