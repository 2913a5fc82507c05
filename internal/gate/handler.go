package gate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// maxPayload bounds a webhook's body; Flagger's payloads are a few hundred bytes.
const maxPayload = 1 << 20

// Payload is the JSON body Flagger posts to a webhook (CanaryWebhookPayload in Flagger's API).
// Only Name and Namespace key the gates; the other fields are accepted and ignored.
type Payload struct {
	// Name is the canary's name.
	Name string `json:"name"`
	// Namespace is the canary's namespace.
	Namespace string `json:"namespace"`
	// Phase is the canary's phase when Flagger called the webhook.
	Phase string `json:"phase"`
	// Checksum identifies the canary's configuration being analysed.
	Checksum string `json:"checksum"`
	// Metadata is the webhook's metadata from the Canary.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// NewHandler serves the gate API on the paths flagger-loadtester uses, backed by store. Like the
// loadtester it accepts any method (Flagger posts) and reads the canary from the body.
func NewHandler(store Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", constant(http.StatusOK, "OK"))
	mux.HandleFunc("/gate/approve", constant(http.StatusOK, "OK"))
	mux.HandleFunc("/gate/halt", constant(http.StatusForbidden, "Forbidden"))
	mux.HandleFunc("/gate/check", check(store, Confirm))
	mux.HandleFunc("/gate/open", set(store, Confirm, true))
	mux.HandleFunc("/gate/close", set(store, Confirm, false))
	mux.HandleFunc("/rollback/check", check(store, Rollback))
	mux.HandleFunc("/rollback/open", set(store, Rollback, true))
	mux.HandleFunc("/rollback/close", set(store, Rollback, false))
	return mux
}

// constant answers every request with code and body.
func constant(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { reply(w, code, body) }
}

// check answers 200 "Approved" when the canary's gate of kind is open, 403 "Forbidden" when it
// is closed or was never set.
func check(store Store, kind Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k, ok := keyOf(w, r, kind)
		if !ok {
			return
		}
		logger := log.FromContext(r.Context()).WithValues("gate", k.String())
		open, err := store.IsOpen(r.Context(), k)
		if err != nil {
			logger.Error(err, "checking the gate failed")
			reply(w, http.StatusInternalServerError, err.Error())
			return
		}
		logger.Info("gate checked", "approved", open)
		if open {
			reply(w, http.StatusOK, "Approved")
			return
		}
		reply(w, http.StatusForbidden, "Forbidden")
	}
}

// set opens or closes the canary's gate of kind and answers 202 with no body.
func set(store Store, kind Kind, open bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k, ok := keyOf(w, r, kind)
		if !ok {
			return
		}
		logger := log.FromContext(r.Context()).WithValues("gate", k.String())
		if err := store.Set(r.Context(), k, open); err != nil {
			logger.Error(err, "setting the gate failed", "open", open)
			reply(w, http.StatusInternalServerError, err.Error())
			return
		}
		logger.Info("gate set", "open", open)
		w.WriteHeader(http.StatusAccepted)
	}
}

// keyOf decodes the payload into the gate's key; on a malformed payload it answers 400 with the
// reason and returns false.
func keyOf(w http.ResponseWriter, r *http.Request, kind Kind) (Key, bool) {
	p, err := decode(w, r)
	if err != nil {
		log.FromContext(r.Context()).Info("malformed payload", "path", r.URL.Path, "reason", err.Error())
		reply(w, http.StatusBadRequest, err.Error())
		return Key{}, false
	}
	return Key{Kind: kind, Namespace: p.Namespace, Name: p.Name}, true
}

// decode reads and validates Flagger's webhook payload.
func decode(w http.ResponseWriter, r *http.Request) (Payload, error) {
	var p Payload
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPayload))
	if err != nil {
		return p, fmt.Errorf("reading the payload: %w", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return p, errors.New(`empty payload: want Flagger's webhook JSON, {"name": CANARY, "namespace": NAMESPACE, ...}`)
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return p, fmt.Errorf("decoding the payload as Flagger's webhook JSON: %w", err)
	}
	if err := validate(p); err != nil {
		return p, err
	}
	return p, nil
}

// validate requires a canary name and namespace that Kubernetes would accept.
func validate(p Payload) error {
	if p.Name == "" || p.Namespace == "" {
		return fmt.Errorf("the payload names no canary: name %q, namespace %q (both are required)", p.Name, p.Namespace)
	}
	if errs := validation.IsDNS1123Subdomain(p.Name); len(errs) > 0 {
		return fmt.Errorf("canary name %q: %s", p.Name, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Label(p.Namespace); len(errs) > 0 {
		return fmt.Errorf("namespace %q: %s", p.Namespace, strings.Join(errs, "; "))
	}
	return nil
}

// reply writes code and a plain-text body.
func reply(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}
