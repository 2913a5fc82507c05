package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"
)

// heartbeat keeps idle streams open through proxies.
const heartbeat = 15 * time.Second

// apiStream sends a "change" event (data: {"namespace","name"}) for each rollout that changed
// or whose ReplicaSets, pods, analysis runs, experiments or events changed, among the rollouts
// the user may list, and (data: {"namespace","name","kind":"Canary"}) for each Flagger Canary
// that changed or whose gates changed, among those the user may list; ?namespace=, ?name= and
// ?kind= (Rollout or Canary) narrow it. Changes arriving together are sent once.
// A "cluster" event (data: ClusterHealth) follows "hello" while the API server does not answer,
// and comes whenever that changes.
func (s *Server) apiStream(w http.ResponseWriter, r *http.Request) {
	ctx, p := r.Context(), principalFrom(r.Context())
	ns, name, kind := r.URL.Query().Get("namespace"), r.URL.Query().Get("name"), r.URL.Query().Get("kind")
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.fail(w, r, http.StatusInternalServerError, "streaming is not supported")
		return
	}
	sub := s.hub.subscribe()
	defer s.hub.unsubscribe(sub)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	fmt.Fprint(w, "retry: 1000\nevent: hello\ndata: {}\n\n")
	if h := s.health.current(); !h.Reachable {
		writeHealth(w, h)
	}
	flusher.Flush()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fmt.Fprint(w, ": ping\n\n")
		case <-sub.ready:
			refs, healthChanged := sub.take()
			if healthChanged {
				writeHealth(w, s.health.current())
			}
			for _, ref := range refs {
				if (ns != "" && ref.Namespace != ns) || (name != "" && ref.Name != name) || (kind != "" && kindOf(ref) != kind) {
					continue
				}
				resource := "rollouts"
				if ref.Kind == KindCanary {
					resource = "canaries"
				}
				if ok, err := s.authz.allowed(ctx, p.id, access{ref.Namespace, "list", resource}); err != nil || !ok {
					if err != nil {
						log.FromContext(ctx).Error(err, "checking a stream's access")
					}
					continue
				}
				b, _ := json.Marshal(ref)
				fmt.Fprintf(w, "event: change\ndata: %s\n\n", b)
			}
		}
		flusher.Flush()
	}
}

// kindOf is the kind a Ref names: Rollout or Canary.
func kindOf(ref Ref) string {
	if ref.Kind == "" {
		return "Rollout"
	}
	return ref.Kind
}

// writeHealth sends a "cluster" event.
func writeHealth(w http.ResponseWriter, h ClusterHealth) {
	b, _ := json.Marshal(h)
	fmt.Fprintf(w, "event: cluster\ndata: %s\n\n", b)
}
