package controller

import (
	"context"
	"errors"
	"hash/fnv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// client-go's broadcaster writes events one at a time, on one goroutine, and drops those that
// find 1000 queued before them. A controller updating a thousand Rollouts at once records events
// faster than one writer can send them on a busy API server: the bench at n=1000 lost more than
// half of them (docs/performance.md). parallelSinks writes them through several writers instead,
// each with a deep queue.
const (
	// eventWriters are the events written at once.
	eventWriters = 8
	// eventQueue is how many events each writer holds before one is dropped (and counted).
	eventQueue = 4096
	// eventTries bounds the tries of an event whose write fails without an answer from the API
	// server.
	eventTries = 4
)

// eventRetryDelay is the wait between two tries of an event (tests shorten it).
var eventRetryDelay = time.Second

// parallelSinks is an event broadcaster whose sinks write through parallelSink.
type parallelSinks struct {
	record.EventBroadcaster
	// ctx bounds the writers (the process' life, as the broadcaster's)
	ctx     context.Context
	dropped func() // counts an event dropped on a full queue
}

// StartRecordingToSink records the broadcaster's events to sink through eventWriters writers.
func (b parallelSinks) StartRecordingToSink(sink record.EventSink) watch.Interface {
	return b.EventBroadcaster.StartRecordingToSink(newParallelSink(b.ctx, sink, eventWriters, eventQueue, b.dropped))
}

// sinkWrite is one write of an event: a creation, or a patch of the event's count.
type sinkWrite struct {
	event *corev1.Event
	patch []byte // nil: create
}

// parallelSink is an EventSink that answers at once and writes through writers, each one owning
// the events of a share of the objects (by UID), so that one object's events (a creation, then
// the patches of its count) reach the API server in order.
type parallelSink struct {
	next    record.EventSink
	queues  []chan sinkWrite
	dropped func()
}

// newParallelSink starts writers writers, each holding up to queue events, until ctx ends.
func newParallelSink(ctx context.Context, next record.EventSink, writers, queue int, dropped func()) *parallelSink {
	s := &parallelSink{next: next, queues: make([]chan sinkWrite, writers), dropped: dropped}
	for i := range s.queues {
		s.queues[i] = make(chan sinkWrite, queue)
		go s.write(ctx, s.queues[i])
	}
	return s
}

// Create queues the creation of e and returns it as the API server will store it.
func (s *parallelSink) Create(e *corev1.Event) (*corev1.Event, error) {
	return s.enqueue(sinkWrite{event: e.DeepCopy()}), nil
}

// Update queues a write of e (the broadcaster does not update events; this writes it anew).
func (s *parallelSink) Update(e *corev1.Event) (*corev1.Event, error) {
	return s.enqueue(sinkWrite{event: e.DeepCopy()}), nil
}

// Patch queues a patch of e's count and returns e.
func (s *parallelSink) Patch(e *corev1.Event, patch []byte) (*corev1.Event, error) {
	return s.enqueue(sinkWrite{event: e.DeepCopy(), patch: patch}), nil
}

// index is the queue of the events about the object with uid.
func (s *parallelSink) index(uid types.UID) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(uid))
	return int(h.Sum32() % uint32(len(s.queues)))
}

func (s *parallelSink) enqueue(w sinkWrite) *corev1.Event {
	select {
	case s.queues[s.index(w.event.InvolvedObject.UID)] <- w:
	default:
		if s.dropped != nil {
			s.dropped()
		}
	}
	return w.event
}

// write sends the writes of one queue in order until ctx ends.
func (s *parallelSink) write(ctx context.Context, q <-chan sinkWrite) {
	for {
		select {
		case <-ctx.Done():
			return
		case w := <-q:
			s.send(ctx, w)
		}
	}
}

// send makes one write as client-go's broadcaster does: a patch of an event that is gone
// becomes a creation; an answer from the API server ends it (a refusal is not retried); a write
// that got no answer is tried again, up to eventTries times.
func (s *parallelSink) send(ctx context.Context, w sinkWrite) {
	var err error
	for try := 1; try <= eventTries; try++ {
		if w.patch != nil {
			if _, err = s.next.Patch(w.event, w.patch); apierrors.IsNotFound(err) {
				w.patch = nil
			}
		}
		if w.patch == nil {
			ev := w.event.DeepCopy()
			ev.ResourceVersion = ""
			_, err = s.next.Create(ev)
		}
		var status apierrors.APIStatus
		if err == nil || errors.As(err, &status) {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(eventRetryDelay):
		}
	}
	if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		log.FromContext(ctx).Error(err, "writing an event", "object", w.event.InvolvedObject.Name,
			"namespace", w.event.InvolvedObject.Namespace, "reason", w.event.Reason)
	}
}
