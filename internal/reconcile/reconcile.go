// Package reconcile is the reconcile kit Vane's controllers share: one reconcile reads its
// object, decides, writes the status once at the end with an optimistic lock, and only then
// emits the events that announce what the status now says. A conflict (someone wrote the object
// meanwhile) is a requeue, not an error; a retried reconcile repeats no event.
//
// A reconciler embeds Settings (configured by Configure and its options) and runs each
// reconcile like this:
//
//	func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
//		return reconcile.Run(ctx, r.Client, r.Recorder, &r.Settings, req, &v1alpha1.AnalysisRun{}, statusOf, r.sync)
//	}
//
//	func (r *Reconciler) sync(ctx context.Context, s *reconcile.Session[*v1alpha1.AnalysisRun]) (ctrl.Result, error) {
//		// decide and act on s.Obj
//		s.Events.Add(false, "Reason", "message %d", n)
//		...
//	}
//
// Fetch, Begin and End are Run's steps, for a reconciler that needs them apart.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrl "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Event is something worth telling the user about an object.
type Event struct {
	Warning bool
	Reason  string
	Message string
}

// Events buffers a reconcile's events until the status they announce is stored.
type Events []Event

// Add buffers an event with a formatted message.
func (e *Events) Add(warning bool, reason, format string, args ...any) {
	*e = append(*e, Event{Warning: warning, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

// Has reports whether an event with the reason is buffered already.
func (e Events) Has(reason string) bool {
	for _, ev := range e {
		if ev.Reason == reason {
			return true
		}
	}
	return false
}

// Emit sends the buffered events about obj.
func (e Events) Emit(rec record.EventRecorder, obj client.Object) {
	for _, ev := range e {
		kind := corev1.EventTypeNormal
		if ev.Warning {
			kind = corev1.EventTypeWarning
		}
		rec.Event(obj, kind, ev.Reason, ev.Message)
	}
}

// Session is one reconcile of one object: the object as read (Orig), the object the reconcile
// changes (Obj) and the events it buffers.
type Session[T client.Object] struct {
	// Orig is the object as read; the status patch is computed from it, and its
	// resourceVersion is the optimistic lock's.
	Orig T
	// Obj is the object the reconcile works on.
	Obj T
	// Events are emitted once the status is stored.
	Events Events
	// BeforePatch, when set, runs just before the status is compared and written (to stamp
	// observedGeneration, say).
	BeforePatch func()
	// Writes, when set, learns the resourceVersion the status write replaced.
	Writes *Written
	// AfterEmit, when set, runs once the status is stored and the events are emitted (to
	// announce them elsewhere: webhooks, alerts); not after a failed or conflicting write.
	AfterEmit func()
	status    func(T) any
}

// Begin starts a session on obj. status returns the part of an object the session writes (its
// .status); the write happens only when it differs from the original's.
func Begin[T client.Object](obj T, status func(T) any) *Session[T] {
	return &Session[T]{Orig: obj.DeepCopyObject().(T), Obj: obj, status: status}
}

// Stalled marks an error the user has to fix (a spec the controller cannot act on): the
// reconcile reports it and waits for a change of the object instead of retrying with backoff.
func Stalled(err error) error { return ctrl.TerminalError(err) }

// End finishes the session, deferred by the reconciler with its named results: it writes the
// status (once, when it changed, with an optimistic lock), then emits the events. A reconcile
// that returns an error writes nothing and emits nothing: what it computed is incomplete, and
// its retry decides again (a conflict, of the write or of the reconcile's own, becomes a
// requeue; the error of an object or namespace going away is dropped).
func (s *Session[T]) End(ctx context.Context, c client.Client, rec record.EventRecorder, res *ctrl.Result, err *error) {
	switch {
	case apierrors.IsConflict(*err):
		// something moved under the reconcile: look again with fresh state
		*res, *err = ctrl.Result{Requeue: true}, nil
		return
	case apierrors.HasStatusCause(*err, corev1.NamespaceTerminatingCause):
		*err = nil
		return
	case *err != nil:
		return
	}
	if s.BeforePatch != nil {
		s.BeforePatch()
	}
	if !equality.Semantic.DeepEqual(s.status(s.Orig), s.status(s.Obj)) {
		perr := c.Status().Patch(ctx, s.Obj, client.MergeFromWithOptions(s.Orig, client.MergeFromWithOptimisticLock{}))
		switch {
		case apierrors.IsConflict(perr):
			*res, *err = ctrl.Result{Requeue: true}, nil
			return
		case apierrors.IsNotFound(perr):
			return
		case perr != nil:
			*err = errors.Join(*err, fmt.Errorf("writing the status of %s: %w", s.Obj.GetName(), perr))
			return
		}
		s.Writes.Replaced(s.Obj, s.Orig.GetResourceVersion())
	}
	s.Events.Emit(rec, s.Obj)
	if s.AfterEmit != nil {
		s.AfterEmit()
	}
}

// staleRecheck is when Run looks again at an object whose cached copy its own write replaced,
// should the write's watch event not come first.
const staleRecheck = time.Second

// Run is one reconcile of the object req names, as each of Vane's reconcilers runs one: it
// reads the object into obj through c (nothing more to do when Fetch says so, for the
// reconciler's instance ID), skips a copy older than the reconciler's own last write (see
// Written: the write's watch event brings the object back, and staleRecheck is the safety
// net), begins a session on it (Begin, with status), lets sync decide and act, and ends the
// session (End: the status written once, then the events recorded by rec).
func Run[T client.Object](ctx context.Context, c client.Client, rec record.EventRecorder, set *Settings, req ctrl.Request,
	obj T, status func(T) any, sync func(context.Context, *Session[T]) (ctrl.Result, error)) (res ctrl.Result, err error) {
	if ok, err := Fetch(ctx, c, req, obj, set.InstanceID); !ok {
		return ctrl.Result{}, err
	}
	if set.Writes.Stale(obj) {
		return ctrl.Result{RequeueAfter: staleRecheck}, nil
	}
	s := Begin(obj, status)
	s.Writes = &set.Writes
	defer s.End(ctx, c, rec, &res, &err)
	return sync(ctx, s)
}

// Fetch reads the object a request names into obj. It reports false when there is nothing to
// do: the object is gone, is being deleted, or is labelled for another controller instance
// (argo-rollouts.argoproj.io/controller-instance-id; "" serves the unlabelled ones).
func Fetch(ctx context.Context, c client.Reader, req ctrl.Request, obj client.Object, instanceID string) (bool, error) {
	if err := c.Get(ctx, req.NamespacedName, obj); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return obj.GetDeletionTimestamp() == nil && obj.GetLabels()[v1alpha1.InstanceIDLabel] == instanceID, nil
}
