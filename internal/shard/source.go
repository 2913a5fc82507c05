package shard

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// channelSource feeds one controller the objects of the shards its replica takes over.
type channelSource struct {
	newList func() client.ObjectList
	ch      chan event.GenericEvent
}

// Source returns a source for a controller of the kind newList lists: when this replica takes
// a shard, the objects of that kind in it are enqueued (their events, seen while another
// replica held the shard, were dropped here). Register it before the Ring starts.
func (r *Ring) Source(newList func() client.ObjectList) source.Source {
	s := &channelSource{newList: newList, ch: make(chan event.GenericEvent, 1024)}
	r.mu.Lock()
	r.sources = append(r.sources, s)
	r.mu.Unlock()
	return source.Channel(s.ch, &handler.EnqueueRequestForObject{})
}

// objects lists the source's kind from reader and keeps those in.
func (s *channelSource) objects(ctx context.Context, reader client.Reader, in func(client.Object) bool) ([]client.Object, error) {
	list := s.newList()
	if err := reader.List(ctx, list); err != nil {
		return nil, fmt.Errorf("listing %T: %w", list, err)
	}
	var out []client.Object
	err := meta.EachListItem(list, func(o runtime.Object) error {
		if obj, ok := o.(client.Object); ok && in(obj) {
			out = append(out, obj)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %T: %w", list, err)
	}
	return out, nil
}

// Wrap returns a reconciler that reconciles only the objects of the shards this replica holds
// (the others' requests end at once, without a read) and counts the reconciles in flight on
// each shard, so that a shard is given back only once they are done. Its signature is
// reconcile kit's WithWrap.
func (r *Ring) Wrap(name string, inner reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		i, ok := r.begin(req.Namespace, req.Name)
		if !ok {
			logf.FromContext(ctx).V(2).Info("not this replica's shard", "controller", name, "shard", i)
			return reconcile.Result{}, nil
		}
		defer r.end(i)
		return inner.Reconcile(ctx, req)
	})
}
