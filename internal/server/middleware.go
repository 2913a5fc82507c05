package server

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/log"
)

// csrfHeader carries the CSRF token of state-changing requests.
const csrfHeader = "X-CSRF-Token"

// guard refuses, before anything else, requests another web site could make through the
// user's browser: in local mode a Host that is not loopback (DNS rebinding), and everywhere a
// POST whose Origin is another site.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Referrer-Policy", "same-origin")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		if !s.opts.InCluster && !loopbackHost(r.Host) {
			s.fail(w, r, http.StatusForbidden, "the local dashboard answers only on 127.0.0.1 or localhost")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
				s.fail(w, r, http.StatusForbidden, "cross-site request refused (Origin "+o+")")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host == host
}

// authenticated runs next with the request's principal: the kubeconfig's user in local mode;
// in cluster mode the owner of the bearer token or of the session cookie, else 401 (API) or the
// login page. State-changing requests need the CSRF token unless authenticated by a header.
func (s *Server) authenticated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.principal(w, r)
		if !ok {
			return
		}
		if r.Method == http.MethodPost && !p.bearer {
			tok := r.Header.Get(csrfHeader)
			if tok == "" && r.URL.Path == "/logout" {
				tok = r.PostFormValue("csrf")
			}
			if !sameSecret(tok, p.csrf) {
				s.fail(w, r, http.StatusForbidden, "forbidden: this request lacks the session's CSRF token")
				return
			}
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, p)
		if p.id != nil {
			ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("user", p.id.User))
		}
		next(w, r.WithContext(ctx))
	}
}

func (s *Server) principal(w http.ResponseWriter, r *http.Request) (*principal, bool) {
	if !s.opts.InCluster {
		return &principal{csrf: s.localCSRF}, true
	}
	if tok, ok := bearerToken(r); ok {
		id, err := s.authn.bearer(r.Context(), tok)
		if err != nil {
			s.unauthenticated(w, r, err)
			return nil, false
		}
		return &principal{id: &id, bearer: true}, true
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		if sess, ok := s.authn.lookup(r.Context(), c.Value); ok {
			id := sess.identity
			return &principal{id: &id, csrf: sess.csrf, session: sess.id}, true
		}
	}
	if wantsHTML(r) {
		http.Redirect(w, r, "/login", http.StatusFound)
		return nil, false
	}
	s.fail(w, r, http.StatusUnauthorized, "authentication required: log in or send an Authorization: Bearer token")
	return nil, false
}

func (s *Server) unauthenticated(w http.ResponseWriter, r *http.Request, err error) {
	msg := "unauthorized: " + errBadToken.Error()
	if !errors.Is(err, errBadToken) {
		log.FromContext(r.Context()).Error(err, "token review failed")
		msg = "the token could not be checked: " + err.Error()
	}
	s.fail(w, r, http.StatusUnauthorized, msg)
}

// wantsHTML tells a page request (a browser navigating) from an API call.
func wantsHTML(r *http.Request) bool {
	return !strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Query().Get("fragment") == ""
}

// errorBody is the JSON of every error the API returns.
type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Verb    string `json:"verb,omitempty"`
	// Resource is the resource (and "/subresource") the verb was refused on.
	Resource  string `json:"resource,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// fail answers an error: JSON for the API and for scripts, a small page for a browser.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.failBody(w, r, errorBody{Code: code, Message: msg})
}

func (s *Server) failBody(w http.ResponseWriter, r *http.Request, body errorBody) {
	if wantsHTML(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(body.Code)
		_ = s.pages.ExecuteTemplate(w, "error.html", map[string]any{"Error": body, "Title": http.StatusText(body.Code)})
		return
	}
	writeJSON(w, body.Code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
