package controller

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
)

// EventObserver learns of every event a controller records, as it is recorded: the metrics count
// them and the notifier turns them into notifications. ObserveEvent runs on the reconcile's
// goroutine, after the status the event announces is stored, so it must not block (slow work
// goes to a queue) and must not change obj.
type EventObserver interface {
	ObserveEvent(obj runtime.Object, eventType, reason, message string)
}

// observedBroadcaster is an event broadcaster whose recorders tell the observers of each event
// after recording it.
type observedBroadcaster struct {
	record.EventBroadcaster
	observers []EventObserver
}

// NewRecorder returns the broadcaster's recorder for source, telling the observers.
func (b observedBroadcaster) NewRecorder(scheme *runtime.Scheme, source corev1.EventSource) record.EventRecorderLogger {
	return observedRecorder{EventRecorderLogger: b.EventBroadcaster.NewRecorder(scheme, source), observers: b.observers}
}

// observedRecorder records an event, then tells the observers.
type observedRecorder struct {
	record.EventRecorderLogger
	observers []EventObserver
}

func (r observedRecorder) Event(obj runtime.Object, eventType, reason, message string) {
	r.EventRecorderLogger.Event(obj, eventType, reason, message)
	r.tell(obj, eventType, reason, message)
}

func (r observedRecorder) Eventf(obj runtime.Object, eventType, reason, format string, args ...any) {
	r.Event(obj, eventType, reason, fmt.Sprintf(format, args...))
}

func (r observedRecorder) AnnotatedEventf(obj runtime.Object, annotations map[string]string, eventType, reason, format string, args ...any) {
	r.EventRecorderLogger.AnnotatedEventf(obj, annotations, eventType, reason, format, args...)
	r.tell(obj, eventType, reason, fmt.Sprintf(format, args...))
}

func (r observedRecorder) WithLogger(logger klog.Logger) record.EventRecorderLogger {
	return observedRecorder{EventRecorderLogger: r.EventRecorderLogger.WithLogger(logger), observers: r.observers}
}

func (r observedRecorder) tell(obj runtime.Object, eventType, reason, message string) {
	for _, o := range r.observers {
		o.ObserveEvent(obj, eventType, reason, message)
	}
}
