package reconcile

import (
	"fmt"

	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	ctrl "sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Settings are what each of Vane's reconcilers is configured with besides its clients: the
// clock of its decisions and the controller instance it serves. A reconciler embeds them;
// Configure gives them their defaults and applies the options (WithClock, WithInstanceID and
// the reconciler's own).
type Settings struct {
	// Clock is the time source of every decision.
	Clock clock.PassiveClock
	// InstanceID limits the reconciler to objects labelled with it (empty: unlabelled ones).
	InstanceID string
	// Writes are the resourceVersions the reconciler's own writes replaced (see Run).
	Writes Written
	// Wrap, if set, wraps the reconciler Complete registers (the metrics time it; the shards
	// keep out the requests of objects another replica owns).
	Wrap func(name string, r ctrl.Reconciler) ctrl.Reconciler
	// Sources are watched besides the builder's own (the shards enqueue the objects of a
	// shard they take over).
	Sources []source.Source
	// Owns, if set, tells whether this replica acts on the object namespace/name (the shards);
	// nil: every object.
	Owns func(namespace, name string) bool
}

// Mine reports whether this replica acts on the object namespace/name (see Owns).
func (s *Settings) Mine(namespace, name string) bool { return s.Owns == nil || s.Owns(namespace, name) }

func (s *Settings) settings() *Settings { return s }

// Configurable is a reconciler that embeds Settings.
type Configurable interface{ settings() *Settings }

// Option configures a reconciler R.
type Option[R Configurable] func(R)

// WithClock sets the reconciler's clock (tests use a fake one).
func WithClock[R Configurable](c clock.PassiveClock) Option[R] {
	return func(r R) { r.settings().Clock = c }
}

// WithInstanceID limits the reconciler to objects labelled with id.
func WithInstanceID[R Configurable](id string) Option[R] {
	return func(r R) { r.settings().InstanceID = id }
}

// WithWrap has Complete register wrap(name, r) instead of the reconciler r. Of several, the
// later wraps the earlier.
func WithWrap[R Configurable](wrap func(name string, r ctrl.Reconciler) ctrl.Reconciler) Option[R] {
	return func(r R) {
		s := r.settings()
		if inner := s.Wrap; inner != nil {
			s.Wrap = func(name string, rec ctrl.Reconciler) ctrl.Reconciler { return wrap(name, inner(name, rec)) }
			return
		}
		s.Wrap = wrap
	}
}

// WithOwner has the reconciler act only on the objects owns reports (see Settings.Owns).
func WithOwner[R Configurable](owns func(namespace, name string) bool) Option[R] {
	return func(r R) { r.settings().Owns = owns }
}

// WithSource has Complete watch src too.
func WithSource[R Configurable](src source.Source) Option[R] {
	return func(r R) { r.settings().Sources = append(r.settings().Sources, src) }
}

// Configure puts r on the real clock, applies opts in order, and returns r.
func Configure[R Configurable](r R, opts ...Option[R]) R {
	r.settings().Clock = clock.RealClock{}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Complete finishes the controller b builds for r: named name, running workers reconciles at
// once (at least one). A reconciler configured WithWrap is registered wrapped, and one
// configured WithSource watches its sources too.
func Complete(b *builder.Builder, name string, workers int, r ctrl.Reconciler) error {
	if c, ok := r.(Configurable); ok {
		for _, src := range c.settings().Sources {
			b = b.WatchesRawSource(src)
		}
		if c.settings().Wrap != nil {
			r = c.settings().Wrap(name, r)
		}
	}
	err := b.WithOptions(controller.Options{MaxConcurrentReconciles: max(workers, 1)}).Named(name).Complete(r)
	if err != nil {
		return fmt.Errorf("setting up the %s controller: %w", name, err)
	}
	return nil
}
