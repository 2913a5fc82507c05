package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vanedev/vane/api/v1alpha1"
)

// RolloutList is the answer of the list endpoints.
type RolloutList struct {
	Items []Summary `json:"items"`
	// Namespaces are the namespaces listed (those the user may list rollouts in).
	Namespaces []string `json:"namespaces"`
}

// summaries lists the rollouts of ns (every namespace the user may list rollouts in when ns
// is empty), from the cache.
func (s *Server) summaries(ctx context.Context, p *principal, ns string) (*RolloutList, error) {
	var spaces []string
	if ns != "" {
		if len(s.opts.Namespaces) > 0 && !slices.Contains(s.opts.Namespaces, ns) {
			return nil, fmt.Errorf("namespace %q: %w", ns, errNotServed)
		}
		if err := s.authz.require(ctx, p.id, access{ns, "list", "rollouts"}); err != nil {
			return nil, err
		}
		spaces = []string{ns}
	} else {
		all, err := s.namespaces(ctx)
		if err != nil {
			return nil, err
		}
		for _, n := range all {
			if ok, err := s.authz.allowed(ctx, p.id, access{n, "list", "rollouts"}); err != nil {
				return nil, err
			} else if ok {
				spaces = append(spaces, n)
			}
		}
	}
	out := &RolloutList{Items: []Summary{}, Namespaces: spaces}
	for _, n := range spaces {
		var ros v1alpha1.RolloutList
		if err := s.store.cache.List(ctx, &ros, client.InNamespace(n), client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("listing rollouts in %s: %w", n, err)
		}
		var sets appsv1.ReplicaSetList
		if err := s.store.cache.List(ctx, &sets, client.InNamespace(n), client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("listing ReplicaSets in %s: %w", n, err)
		}
		for i := range ros.Items {
			ro := &ros.Items[i]
			var owned []*appsv1.ReplicaSet
			for j := range sets.Items {
				if ref := controllerOf(&sets.Items[j]); ref != nil && ref.UID == ro.UID {
					owned = append(owned, &sets.Items[j])
				}
			}
			out.Items = append(out.Items, summarize(ro, owned))
		}
	}
	slices.SortFunc(out.Items, func(a, b Summary) int {
		if a.Namespace != b.Namespace {
			return cmpString(a.Namespace, b.Namespace)
		}
		return cmpString(a.Name, b.Name)
	})
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// errNotServed is a namespace outside the dashboard's -n.
var errNotServed = errors.New("not served by this dashboard")

// detail reads one rollout for the user: get on rollouts is required, the other kinds are
// shown when the user may list them.
func (s *Server) detail(ctx context.Context, p *principal, ns, name string) (*Detail, error) {
	if len(s.opts.Namespaces) > 0 && !slices.Contains(s.opts.Namespaces, ns) {
		return nil, fmt.Errorf("namespace %q: %w", ns, errNotServed)
	}
	if err := s.authz.require(ctx, p.id, access{ns, "get", "rollouts"}); err != nil {
		return nil, err
	}
	var checkErr error
	may := func(resource string) bool {
		ok, err := s.authz.allowed(ctx, p.id, access{ns, "list", resource})
		if err != nil && checkErr == nil {
			checkErr = err
		}
		return ok
	}
	d, err := collect(ctx, s.store.cache, ns, name, may, s.opts.Now())
	if err == nil {
		err = checkErr
	}
	return d, err
}

func (s *Server) apiList(w http.ResponseWriter, r *http.Request) {
	list, err := s.summaries(r.Context(), principalFrom(r.Context()), r.PathValue("ns"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) apiGet(w http.ResponseWriter, r *http.Request) {
	d, err := s.detail(r.Context(), principalFrom(r.Context()), r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) apiWhoami(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	body := map[string]any{"mode": "local", "csrfToken": p.csrf}
	if p.id != nil {
		body = map[string]any{"mode": "in-cluster", "user": p.id.User, "groups": p.id.Groups}
		if !p.bearer {
			body["csrfToken"] = p.csrf
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// apiError turns an error into a status and a sentence: 403 naming the verb and resource, 404
// for a rollout that is gone, 409 for an action the rollout's state does not allow, 503 when the
// API server cannot be reached. Unexpected errors are logged.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	var fe *ForbiddenError
	var st apierrors.APIStatus
	body := errorBody{Code: http.StatusInternalServerError, Message: err.Error()}
	switch {
	case errors.As(err, &fe):
		body = errorBody{Code: http.StatusForbidden, Message: err.Error(), Verb: fe.Access.Verb,
			Resource: fe.Access.Resource, Namespace: fe.Access.Namespace}
	case apierrors.IsNotFound(err), errors.Is(err, errNotServed), errors.Is(err, errNoCanaries):
		body.Code = http.StatusNotFound
	case apierrors.IsForbidden(err) && errors.As(err, &st):
		body = forbiddenFromAPI(st)
	case apierrors.IsConflict(err), errors.Is(err, errState):
		body.Code = http.StatusConflict
	case apierrors.IsInvalid(err), errors.Is(err, errBadInput):
		body.Code = http.StatusBadRequest
	case isUnreachable(err):
		body.Code = http.StatusServiceUnavailable
		body.Message = "the Kubernetes API server cannot be reached: " + err.Error()
	default:
		log.FromContext(r.Context()).Error(err, "dashboard request failed", "path", r.URL.Path)
	}
	s.failBody(w, r, body)
}

// forbiddenFromAPI keeps the API server's own sentence (which user, verb and resource) and its
// details.
func forbiddenFromAPI(st apierrors.APIStatus) errorBody {
	s := st.Status()
	b := errorBody{Code: http.StatusForbidden, Message: s.Message}
	if d := s.Details; d != nil {
		b.Resource = d.Kind
	}
	return b
}
