package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/gate"
)

// Ref names a rollout or, with Kind "Canary", a Flagger Canary: what a change notification
// carries.
type Ref struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Kind is empty for a rollout, KindCanary for a Canary.
	Kind string `json:"kind,omitempty"`
}

// syncTimeout bounds the first listing of the watched kinds.
const syncTimeout = time.Minute

// store holds one shared informer per kind the dashboard shows, under the server's own
// identity, and tells the hub which rollout (or Canary) each change concerns.
type store struct {
	cache cache.Cache
	hub   *hub
	// flagger says whether Canaries (and the gate ConfigMaps) are watched too: decided by
	// Server.Start before the informers start.
	flagger flaggerSupport
}

// watchedKinds are the kinds the dashboard shows, one informer each.
func watchedKinds() []client.Object {
	return []client.Object{&v1alpha1.Rollout{}, &appsv1.ReplicaSet{}, &corev1.Pod{},
		&v1alpha1.AnalysisRun{}, &v1alpha1.Experiment{}, &corev1.Event{}}
}

// newStore builds the cache: namespaces empty means every namespace. ReplicaSets and pods are
// only those of rollouts (with the pod-template-hash label), events only those of rollouts.
func newStore(cfg *rest.Config, scheme *runtime.Scheme, namespaces []string, h *hub) (*store, error) {
	hasHash, err := labels.NewRequirement(v1alpha1.PodTemplateHashLabel, selection.Exists, nil)
	if err != nil {
		return nil, fmt.Errorf("label selector: %w", err)
	}
	sel := labels.NewSelector().Add(*hasHash)
	opts := cache.Options{Scheme: scheme, ByObject: map[client.Object]cache.ByObject{
		&appsv1.ReplicaSet{}: {Label: sel},
		&corev1.Pod{}:        {Label: sel},
		&corev1.Event{}:      {Field: fields.OneTermEqualSelector("involvedObject.kind", "Rollout")},
		&corev1.ConfigMap{}:  {Field: fields.OneTermEqualSelector("metadata.name", gate.ConfigMapName)},
	}}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	c, err := cache.New(cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("creating the cache: %w", err)
	}
	return &store{cache: c, hub: h}, nil
}

// start runs the informers and waits for their first list. It returns when they are synced,
// ctx ends, or syncing fails.
func (s *store) start(ctx context.Context) error {
	for _, obj := range watchedKinds() {
		if err := s.cache.IndexField(ctx, obj, ownerIndex, ownerKey); err != nil {
			return fmt.Errorf("indexing %T: %w", obj, err)
		}
		inf, err := s.cache.GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("informer for %T: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(s.handler()); err != nil {
			return fmt.Errorf("event handler for %T: %w", obj, err)
		}
	}
	if err := s.watchFlagger(ctx); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- s.cache.Start(ctx) }()
	syncCtx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	if !s.cache.WaitForCacheSync(syncCtx) {
		select {
		case err := <-errc:
			return fmt.Errorf("watching the cluster: %w", err)
		default:
			return fmt.Errorf("watching the cluster: rollouts, ReplicaSets, pods, analysis runs, experiments and events%s not listed within %s (may this identity list and watch them?)",
				s.flagger.kindsText(), syncTimeout)
		}
	}
	log.FromContext(ctx).Info("dashboard caches synced")
	return nil
}

func (s *store) handler() toolscache.ResourceEventHandler {
	on := func(obj any) {
		if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		o, ok := obj.(client.Object)
		if !ok {
			return
		}
		if ref, ok := s.rolloutOf(context.Background(), o); ok {
			s.hub.notify(ref)
		}
		for _, ref := range s.canariesOf(context.Background(), o) {
			s.hub.notify(ref)
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    on,
		UpdateFunc: func(_, n any) { on(n) },
		DeleteFunc: on,
	}
}

// rolloutOf finds the rollout an object belongs to.
func (s *store) rolloutOf(ctx context.Context, o client.Object) (Ref, bool) {
	switch v := o.(type) {
	case *v1alpha1.Rollout:
		return Ref{Namespace: v.Namespace, Name: v.Name}, true
	case *corev1.Event:
		return Ref{Namespace: v.Namespace, Name: v.InvolvedObject.Name}, v.InvolvedObject.Kind == "Rollout"
	case *corev1.Pod:
		owner := controllerOf(v)
		if owner == nil || owner.Kind != "ReplicaSet" {
			return Ref{}, false
		}
		rs := &appsv1.ReplicaSet{}
		if err := s.cache.Get(ctx, client.ObjectKey{Namespace: v.Namespace, Name: owner.Name}, rs); err != nil {
			return Ref{}, false
		}
		return s.rolloutOf(ctx, rs)
	}
	owner := controllerOf(o)
	if owner == nil {
		return Ref{}, false
	}
	switch owner.Kind {
	case "Rollout":
		return Ref{Namespace: o.GetNamespace(), Name: owner.Name}, true
	case "Experiment":
		ex := &v1alpha1.Experiment{}
		if err := s.cache.Get(ctx, client.ObjectKey{Namespace: o.GetNamespace(), Name: owner.Name}, ex); err != nil {
			return Ref{}, false
		}
		return s.rolloutOf(ctx, ex)
	}
	return Ref{}, false
}

// ownerIndex indexes every watched object by its controller ("Kind/name"), events by the
// object they are about, so a page reads only its rollout's objects.
const ownerIndex = "vane.owner"

func ownerKey(o client.Object) []string {
	if e, ok := o.(*corev1.Event); ok {
		return []string{e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name}
	}
	if ref := controllerOf(o); ref != nil {
		return []string{ref.Kind + "/" + ref.Name}
	}
	return nil
}

// ownedBy lists objects of kind owner/name from the cache (shared, not copied: read only).
func ownedBy(kind, name string) []client.ListOption {
	return []client.ListOption{client.MatchingFields{ownerIndex: kind + "/" + name}, client.UnsafeDisableDeepCopy}
}

// hub fans rollout changes out to the connected streams; each subscriber collects the
// rollouts changed since it last looked, so a slow browser never blocks the informers.
type hub struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

type subscriber struct {
	mu      sync.Mutex
	pending map[Ref]struct{}
	health  bool // the cluster's health changed since the last look
	ready   chan struct{}
}

func newHub() *hub { return &hub{subs: map[*subscriber]struct{}{}} }

func (h *hub) subscribe() *subscriber {
	s := &subscriber{pending: map[Ref]struct{}{}, ready: make(chan struct{}, 1)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

func (h *hub) notify(ref Ref) {
	h.each(func(s *subscriber) { s.pending[ref] = struct{}{} })
}

// notifyHealth tells every stream that the cluster's health changed.
func (h *hub) notifyHealth() {
	h.each(func(s *subscriber) { s.health = true })
}

// each marks every subscriber (under its lock) and wakes it.
func (h *hub) each(mark func(*subscriber)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.mu.Lock()
		mark(s)
		s.mu.Unlock()
		select {
		case s.ready <- struct{}{}:
		default:
		}
	}
}

// take returns the rollouts changed since the last call, and whether the cluster's health
// changed.
func (s *subscriber) take() ([]Ref, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Ref, 0, len(s.pending))
	for r := range s.pending {
		out = append(out, r)
	}
	clear(s.pending)
	health := s.health
	s.health = false
	return out, health
}
