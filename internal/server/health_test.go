package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestHealth: the checks' answers, in order, give the health the pages show and wake the
// streams only when it changes; a check cut short by the server stopping tells nothing.
func TestHealth(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	refused := errors.New("cannot reach the Kubernetes API server at https://127.0.0.1:6443: connection refused")
	timeout := errors.New("cannot reach the Kubernetes API server at https://127.0.0.1:6443: timeout")
	type step struct {
		err      error
		want     ClusterHealth
		notified bool
	}
	tests := map[string][]step{
		"up stays up": {{nil, ClusterHealth{Reachable: true}, false}},
		"down, still down, up again": {
			{refused, ClusterHealth{Since: t0.Add(time.Minute), Error: refused.Error()}, true},
			{refused, ClusterHealth{Since: t0.Add(time.Minute), Error: refused.Error()}, false},
			{timeout, ClusterHealth{Since: t0.Add(time.Minute), Error: timeout.Error()}, true},
			{nil, ClusterHealth{Reachable: true}, true},
		},
	}
	for name, steps := range tests {
		t.Run(name, func(t *testing.T) {
			var next error
			now := t0
			hub := newHub()
			sub := hub.subscribe()
			h := newHealth(func(context.Context) error { return next }, func() time.Time { return now }, hub)
			for i, st := range steps {
				now = now.Add(time.Minute)
				next = st.err
				h.check(context.Background())
				if d := cmp.Diff(st.want, h.current()); d != "" {
					t.Errorf("check %d: health (-want +got):\n%s", i, d)
				}
				if _, got := sub.take(); got != st.notified {
					t.Errorf("check %d: streams told of a change: %v, want %v", i, got, st.notified)
				}
			}
		})
	}
	t.Run("stopping", func(t *testing.T) {
		hub := newHub()
		sub := hub.subscribe()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		h := newHealth(func(ctx context.Context) error { return ctx.Err() }, time.Now, hub)
		h.check(ctx)
		if _, got := sub.take(); got || !h.current().Reachable {
			t.Errorf("a check cut short by the stop changed the health: %+v, told %v", h.current(), got)
		}
	})
}
