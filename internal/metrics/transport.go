package metrics

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"k8s.io/client-go/rest"
)

// Argo's verbs of controller_clientset_k8s_request_total.
const (
	verbList    = "List"
	verbWatch   = "Watch"
	verbGet     = "Get"
	verbCreate  = "Create"
	verbUpdate  = "Update"
	verbPatch   = "Patch"
	verbDelete  = "Delete"
	verbUnknown = "Unknown"
)

// request is what controller_clientset_k8s_request_total labels a request with.
type request struct {
	Kind, Namespace, Name, Verb string
}

// CountRequests makes every request made through cfg's clients count in
// controller_clientset_k8s_request_total, after the transport wrappers cfg already has.
func CountRequests(cfg *rest.Config) {
	wrap := cfg.WrapTransport
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if wrap != nil {
			rt = wrap(rt)
		}
		return counting{next: rt}
	}
}

type counting struct{ next http.RoundTripper }

// RoundTrip sends r and counts it with the response's status code (0 without a response).
func (c counting) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	code := 0
	if resp != nil {
		code = resp.StatusCode
	}
	q := parseRequest(r)
	k8sRequests.WithLabelValues(q.Kind, q.Namespace, q.Name, q.Verb, strconv.Itoa(code)).Inc()
	return resp, err
}

// parseRequest labels r as Argo does: the verb from the method (a GET of a collection is a List,
// or a Watch with watch=true), the resource as kind, and name "N/A" for a List and for any
// request about events or replicasets. Unlike Argo, a subresource's request (…/rollouts/x/status)
// is labelled with its resource and object name, not with kind=x and name=status.
func parseRequest(r *http.Request) request {
	verb := map[string]string{http.MethodPost: verbCreate, http.MethodPut: verbUpdate, http.MethodPatch: verbPatch,
		http.MethodDelete: verbDelete, http.MethodGet: verbGet}[r.Method]
	if verb == "" {
		return request{Kind: verbUnknown, Namespace: verbUnknown, Name: verbUnknown, Verb: verbUnknown}
	}
	q, resource := parsePath(r.URL.Path)
	q.Verb = verb
	switch {
	case !resource:
	case verb == verbGet && q.Name == "" && r.URL.Query().Get("watch") == "true":
		q.Verb = verbWatch
		if sel := r.URL.Query().Get("fieldSelector"); strings.HasPrefix(sel, "metadata.name=") {
			q.Name = strings.TrimPrefix(sel, "metadata.name=")
		}
	case verb == verbGet && q.Name == "":
		q.Verb = verbList
	case verb == verbCreate:
		q.Name = createdName(r)
	}
	if q.Verb == verbList || q.Kind == "events" || q.Kind == "replicasets" {
		q.Name = "N/A"
	}
	return q
}

// parsePath reads /api/v1[/namespaces/NS]/RESOURCE[/NAME[/SUB]] and its /apis/GROUP/VERSION/…
// form; a path that names no resource (discovery; false) has its last segment as kind.
func parsePath(path string) (request, bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var rest []string
	switch {
	case len(segs) > 2 && segs[0] == "api":
		rest = segs[2:]
	case len(segs) > 3 && segs[0] == "apis":
		rest = segs[3:]
	default:
		return request{Kind: segs[len(segs)-1]}, false
	}
	var q request
	if len(rest) >= 3 && rest[0] == "namespaces" {
		q.Namespace, rest = rest[1], rest[2:]
	}
	q.Kind = rest[0]
	if len(rest) > 1 {
		q.Name = rest[1]
	}
	return q, true
}

// createdName is the metadata.name of a POST's body ("" when it has none or is unreadable).
func createdName(r *http.Request) string {
	if r.GetBody == nil {
		return ""
	}
	body, err := r.GetBody()
	if err != nil {
		return ""
	}
	defer func() { _ = body.Close() }()
	b, err := io.ReadAll(body)
	if err != nil {
		return ""
	}
	var obj struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if json.Unmarshal(b, &obj) != nil {
		return ""
	}
	return obj.Metadata.Name
}
