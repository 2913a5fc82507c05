package server

import (
	"context"
	"sync"
	"time"
)

// healthEvery is how often the server asks the API server whether it answers.
const healthEvery = 5 * time.Second

// ClusterHealth is whether the API server answers the dashboard, as the pages show it: while it
// does not, what they show may be out of date and actions fail.
type ClusterHealth struct {
	Reachable bool `json:"reachable"`
	// Since is when the API server stopped answering (zero while it answers).
	Since time.Time `json:"since,omitzero"`
	// Error is why the last check failed.
	Error string `json:"error,omitempty"`
}

// health checks the API server (ping) and tells the hub when the answer changes.
type health struct {
	ping func(context.Context) error
	now  func() time.Time
	hub  *hub

	mu    sync.Mutex
	state ClusterHealth
}

func newHealth(ping func(context.Context) error, now func() time.Time, h *hub) *health {
	return &health{ping: ping, now: now, hub: h, state: ClusterHealth{Reachable: true}}
}

// current is the last check's result.
func (h *health) current() ClusterHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state
}

// check asks the API server once and records the answer; a change (reachable or not, or a
// different error) is told to every stream.
func (h *health) check(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, healthEvery)
	defer cancel()
	err := h.ping(pctx)
	if err != nil && ctx.Err() != nil {
		return // the server is stopping: nothing to tell
	}
	h.mu.Lock()
	prev := h.state
	switch {
	case err == nil:
		h.state = ClusterHealth{Reachable: true}
	case prev.Reachable:
		h.state = ClusterHealth{Since: h.now(), Error: err.Error()}
	default:
		h.state.Error = err.Error()
	}
	changed := h.state != prev
	h.mu.Unlock()
	if changed {
		h.hub.notifyHealth()
	}
}

// run checks every healthEvery until ctx ends.
func (h *health) run(ctx context.Context) {
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.check(ctx)
		}
	}
}
