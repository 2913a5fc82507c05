package controller

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// fakeSink records the writes it is given; fail answers each one (nil: success).
type fakeSink struct {
	mu     sync.Mutex
	writes []string
	fail   func(op string, e *corev1.Event) error
	hold   chan struct{} // when set, each write waits for it
}

func (f *fakeSink) do(op string, e *corev1.Event) (*corev1.Event, error) {
	if f.hold != nil {
		<-f.hold
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, op+" "+e.Name)
	if f.fail != nil {
		if err := f.fail(op, e); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (f *fakeSink) Create(e *corev1.Event) (*corev1.Event, error) { return f.do("create", e) }
func (f *fakeSink) Update(e *corev1.Event) (*corev1.Event, error) { return f.do("update", e) }
func (f *fakeSink) Patch(e *corev1.Event, _ []byte) (*corev1.Event, error) {
	return f.do("patch", e)
}

func (f *fakeSink) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.writes...)
}

func event(name, uid string) *corev1.Event {
	return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		InvolvedObject: corev1.ObjectReference{Name: "ro", UID: types.UID(uid)}}
}

func TestParallelSink(t *testing.T) {
	eventRetryDelay = time.Millisecond
	notFound := apierrors.NewNotFound(schema.GroupResource{Resource: "events"}, "e")
	tests := map[string]struct {
		writes      func(s *parallelSink)
		fail        func(op string, e *corev1.Event) error
		queue       int
		hold        bool
		want        []string
		wantDropped int
	}{
		"one object's events keep their order": {
			writes: func(s *parallelSink) {
				_, _ = s.Create(event("a", "u1"))
				_, _ = s.Patch(event("a", "u1"), []byte(`{"count":2}`))
				_, _ = s.Create(event("b", "u1"))
			},
			want: []string{"create a", "patch a", "create b"},
		},
		"a patch of an event that is gone creates it": {
			writes: func(s *parallelSink) { _, _ = s.Patch(event("a", "u1"), []byte(`{}`)) },
			fail: func(op string, _ *corev1.Event) error {
				if op == "patch" {
					return notFound
				}
				return nil
			},
			want: []string{"patch a", "create a"},
		},
		"a write without an answer is tried again": {
			writes: func(s *parallelSink) { _, _ = s.Create(event("a", "u1")) },
			fail: func() func(string, *corev1.Event) error {
				n := 0
				return func(string, *corev1.Event) error {
					if n++; n < 3 {
						return errors.New("connection refused")
					}
					return nil
				}
			}(),
			want: []string{"create a", "create a", "create a"},
		},
		"a refusal is not tried again": {
			writes: func(s *parallelSink) { _, _ = s.Create(event("a", "u1")) },
			fail: func(string, *corev1.Event) error {
				return apierrors.NewForbidden(schema.GroupResource{Resource: "events"}, "a", errors.New("no"))
			},
			want: []string{"create a"},
		},
		"a full queue drops the event and counts it": {
			queue: 2, hold: true,
			// the writer holds a; b and c wait in the queue; d finds it full
			want: []string{"create a", "create b", "create c"}, wantDropped: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f := &fakeSink{fail: tc.fail}
			if tc.hold {
				f.hold = make(chan struct{})
			}
			var mu sync.Mutex
			dropped := 0
			queue := 16
			if tc.queue > 0 {
				queue = tc.queue
			}
			s := newParallelSink(ctx, f, 2, queue, func() { mu.Lock(); dropped++; mu.Unlock() })
			if tc.hold {
				_, _ = s.Create(event("a", "u1")) // taken by the writer, which waits
				waitFor(t, func() bool { return len(s.queues[s.index("u1")]) == 0 })
				for _, n := range []string{"b", "c", "d"} {
					_, _ = s.Create(event(n, "u1"))
				}
				close(f.hold)
			} else {
				tc.writes(s)
			}
			waitFor(t, func() bool { return len(f.got()) >= len(tc.want) })
			time.Sleep(20 * time.Millisecond) // nothing more comes
			if d := cmp.Diff(tc.want, f.got()); d != "" {
				t.Errorf("writes (-want +got):\n%s", d)
			}
			mu.Lock()
			defer mu.Unlock()
			if dropped != tc.wantDropped {
				t.Errorf("dropped %d, want %d", dropped, tc.wantDropped)
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
