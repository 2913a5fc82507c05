package rollout

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vanedev/vane/api/v1alpha1"
)

// The router objects are watched one by one (a watch with a field selector on the name), so
// the controller lists and watches no router kind cluster-wide:
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes;grpcroutes;tcproutes;tlsroutes,verbs=list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=list;watch
// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices;destinationrules,verbs=list;watch
// +kubebuilder:rbac:groups=split.smi-spec.io,resources=trafficsplits,verbs=list;watch
// +kubebuilder:rbac:groups=getambassador.io;x.getambassador.io,resources=mappings;ambassadormappings,verbs=list;watch
// +kubebuilder:rbac:groups=traefik.io;traefik.containo.us,resources=traefikservices,verbs=list;watch
// +kubebuilder:rbac:groups=apisix.apache.org,resources=apisixroutes,verbs=list;watch

// objKey names a router object.
type objKey struct {
	gvk       schema.GroupVersionKind
	namespace string
	name      string
}

func (k objKey) String() string { return fmt.Sprintf("%s %s/%s", k.gvk.Kind, k.namespace, k.name) }

// change is an edit or deletion of a router object the watch saw.
type change struct {
	key objKey
	rv  string
	// deleted: the object is gone; diff: otherwise, what changed in its metadata and spec
	deleted bool
	diff    []pathChange
}

// watched is one object's informer and the rollouts whose routers read it.
type watched struct {
	stop     context.CancelFunc
	rollouts map[types.NamespacedName]bool
}

// routerWatch watches the objects the rollouts' routers read (each router's own objects,
// learned from what it reads: see capture), and only those: a change someone else makes is
// noticed at once, the rollouts reading the object are reconciled, and their routers put
// back what they manage. It remembers the resourceVersions Vane's own writes produced, to
// tell them apart.
type routerWatch struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
	// ctx lives as long as the manager; each informer runs under it
	ctx    context.Context
	cancel context.CancelFunc
	events chan event.GenericEvent

	mu        sync.Mutex
	objects   map[objKey]*watched
	byRollout map[types.NamespacedName]map[objKey]bool
	own       map[objKey][]string // resourceVersions Vane wrote, newest last
	deletes   map[objKey]int      // deletions Vane made, not yet seen
	changes   map[types.NamespacedName][]change
}

// maxOwn bounds the resourceVersions remembered per object.
const maxOwn = 32

func newRouterWatch(dyn dynamic.Interface, mapper meta.RESTMapper) *routerWatch {
	ctx, cancel := context.WithCancel(context.Background())
	return &routerWatch{dyn: dyn, mapper: mapper, ctx: ctx, cancel: cancel, events: make(chan event.GenericEvent, 256),
		objects: map[objKey]*watched{}, byRollout: map[types.NamespacedName]map[objKey]bool{},
		own: map[objKey][]string{}, deletes: map[objKey]int{}, changes: map[types.NamespacedName][]change{}}
}

// Start runs until ctx ends, then stops every informer (a manager Runnable).
func (w *routerWatch) Start(ctx context.Context) error {
	<-ctx.Done()
	w.cancel()
	return nil
}

// track makes the objects keys the ones watched for the rollout ro (none: stop watching for
// it): informers start for new objects and stop for objects no rollout reads any more. A nil
// watch watches nothing.
func (w *routerWatch) track(ro types.NamespacedName, keys []objKey) { w.follow(ro, keys, true) }

// add watches the objects keys for the rollout ro too, beside those it already watches: for
// a reconcile that stopped before its router read everything it reads.
func (w *routerWatch) add(ro types.NamespacedName, keys []objKey) { w.follow(ro, keys, false) }

// follow watches keys for ro and, with only, nothing else.
func (w *routerWatch) follow(ro types.NamespacedName, keys []objKey, only bool) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	want := map[objKey]bool{}
	for _, k := range keys {
		want[k] = true
	}
	for k := range w.byRollout[ro] {
		if only && !want[k] {
			w.release(ro, k)
		} else {
			want[k] = true
		}
	}
	for k := range want {
		o := w.objects[k]
		if o == nil {
			o = &watched{rollouts: map[types.NamespacedName]bool{}}
			if err := w.start(k, o); err != nil {
				logf.FromContext(w.ctx).Info("not watching a router object", "object", k.String(), "error", err.Error())
				continue
			}
			w.objects[k] = o
		}
		o.rollouts[ro] = true
	}
	if len(want) == 0 {
		delete(w.byRollout, ro)
		delete(w.changes, ro)
		return
	}
	w.byRollout[ro] = want
}

// release drops the rollout's interest in k, stopping its informer when it was the last (w.mu
// held).
func (w *routerWatch) release(ro types.NamespacedName, k objKey) {
	o := w.objects[k]
	if o == nil {
		return
	}
	delete(o.rollouts, ro)
	if len(o.rollouts) == 0 {
		o.stop()
		delete(w.objects, k)
		delete(w.own, k)
		delete(w.deletes, k)
	}
}

// start runs an informer on the one object k (w.mu held).
func (w *routerWatch) start(k objKey, o *watched) error {
	m, err := w.mapper.RESTMapping(k.gvk.GroupKind(), k.gvk.Version)
	if err != nil {
		return err
	}
	ri := w.dyn.Resource(m.Resource).Namespace(k.namespace)
	sel := fields.OneTermEqualSelector("metadata.name", k.name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = sel
			return ri.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = sel
			return ri.Watch(ctx, opts)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &unstructured.Unstructured{}, 0, cache.Indexers{})
	_, err = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { w.notify(k, nil) }, // created (again): the rollouts look at it
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*unstructured.Unstructured)
			n, ok2 := newObj.(*unstructured.Unstructured)
			if !ok1 || !ok2 || o.GetResourceVersion() == n.GetResourceVersion() {
				return
			}
			if d := diffObjects(o.Object, n.Object); len(d) > 0 {
				w.notify(k, &change{key: k, rv: n.GetResourceVersion(), diff: d})
				return
			}
			w.notify(k, nil) // its status (a Gateway controller accepting a route): look again
		},
		DeleteFunc: func(obj any) {
			rv := ""
			if u, ok := obj.(*unstructured.Unstructured); ok {
				rv = u.GetResourceVersion()
			}
			w.notify(k, &change{key: k, rv: rv, deleted: true})
		},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(w.ctx)
	o.stop = cancel
	go inf.RunWithContext(ctx)
	go func() {
		// an object the router read, gone (deleted) before the informer's first list: no
		// event would say so, so the rollouts look again
		if cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) && len(inf.GetStore().List()) == 0 {
			w.notify(k, nil)
		}
	}()
	return nil
}

// notify records c (if any) for every rollout reading k and has them reconciled.
func (w *routerWatch) notify(k objKey, c *change) {
	w.mu.Lock()
	var rollouts []types.NamespacedName
	if o := w.objects[k]; o != nil {
		for ro := range o.rollouts {
			rollouts = append(rollouts, ro)
			if c != nil {
				w.changes[ro] = append(w.changes[ro], *c)
			}
		}
	}
	w.mu.Unlock()
	for _, ro := range rollouts {
		obj := &v1alpha1.Rollout{}
		obj.Namespace, obj.Name = ro.Namespace, ro.Name
		select {
		case w.events <- event.GenericEvent{Object: obj}:
		case <-w.ctx.Done():
			return
		}
	}
}

// wrote remembers that Vane's write of k produced resourceVersion rv.
func (w *routerWatch) wrote(k objKey, rv string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	own := append(w.own[k], rv)
	if len(own) > maxOwn {
		own = own[len(own)-maxOwn:]
	}
	w.own[k] = own
}

// deleted remembers that Vane deleted k (a router removing an object it created).
func (w *routerWatch) deleted(k objKey) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deletes[k]++
}

// takeChanges returns, and forgets, the changes someone other than Vane made to the objects
// the rollout's router reads since the last call.
func (w *routerWatch) takeChanges(ro types.NamespacedName) []change {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []change
	for _, c := range w.changes[ro] {
		mine := false
		for _, rv := range w.own[c.key] {
			mine = mine || (rv == c.rv && !c.deleted)
		}
		if c.deleted && w.deletes[c.key] > 0 {
			mine = true
			w.deletes[c.key]--
		}
		if !mine {
			out = append(out, c)
		}
	}
	delete(w.changes, ro)
	return out
}
