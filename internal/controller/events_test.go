package controller

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
)

type seen []string

func (s *seen) ObserveEvent(obj runtime.Object, eventType, reason, message string) {
	*s = append(*s, obj.(*corev1.ConfigMap).Name+" "+eventType+" "+reason+" "+message)
}

func TestObservedBroadcasterTellsEveryEvent(t *testing.T) {
	var got seen
	b := observedBroadcaster{EventBroadcaster: record.NewBroadcaster(), observers: []EventObserver{&got}}
	defer b.Shutdown()
	rec := b.NewRecorder(clientgoscheme.Scheme, corev1.EventSource{Component: "test"})
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns"}}
	rec.Event(cm, corev1.EventTypeNormal, "One", "first")
	rec.Eventf(cm, corev1.EventTypeWarning, "Two", "second %d", 2)
	rec.AnnotatedEventf(cm, map[string]string{"a": "b"}, corev1.EventTypeNormal, "Three", "third")
	rec.WithLogger(klog.Background()).Event(cm, corev1.EventTypeNormal, "Four", "fourth")
	want := seen{"cm Normal One first", "cm Warning Two second 2", "cm Normal Three third", "cm Normal Four fourth"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("observed events (-want +got):\n%s", diff)
	}
}
