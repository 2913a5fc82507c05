// Package authtest serves an OAuth2 token endpoint (client credentials flow) on 127.0.0.1 for
// tests, and protects handlers with the tokens it issues.
package authtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TokenServer issues a Bearer token to one client, for the scopes it requires.
type TokenServer struct {
	// URL is the token endpoint, http://127.0.0.1:PORT/token.
	URL string
	// Token is the access token it issues.
	Token string
	// Requests counts the token requests, refused ones included.
	Requests atomic.Int32

	clientID, secret string
	scopes           []string
	mu               sync.Mutex
	lastScopes       []string
	authorized       []string
}

// NewTokenServer starts a token endpoint for clientID with secret; a token request must ask
// for every scope in scopes. It stops when t ends.
func NewTokenServer(t testing.TB, clientID, secret string, scopes ...string) *TokenServer {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	s := &TokenServer{Token: "tok-" + hex.EncodeToString(b), clientID: clientID, secret: secret, scopes: scopes}
	srv := httptest.NewServer(http.HandlerFunc(s.serveToken))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/token"
	return s
}

func (s *TokenServer) serveToken(w http.ResponseWriter, r *http.Request) {
	s.Requests.Add(1)
	if r.URL.Path != "/token" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "POST a client_credentials grant")
		return
	}
	// RFC 6749 2.3.1: HTTP Basic (preferred) or the request body
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != s.clientID || secret != s.secret {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	asked := strings.Fields(r.PostForm.Get("scope"))
	s.mu.Lock()
	s.lastScopes = asked
	s.mu.Unlock()
	for _, sc := range s.scopes {
		if !slices.Contains(asked, sc) {
			oauthError(w, http.StatusBadRequest, "invalid_scope", "scope "+sc+" is required")
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": s.Token, "token_type": "Bearer", "expires_in": 3600})
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// LastScopes returns the scopes of the last token request.
func (s *TokenServer) LastScopes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lastScopes)
}

// Authorizations returns the Authorization headers Require saw, in order.
func (s *TokenServer) Authorizations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.authorized)
}

// Require serves next only to requests that carry `Authorization: Bearer <Token>`; others get
// 401 Unauthorized.
func (s *TokenServer) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		s.mu.Lock()
		s.authorized = append(s.authorized, h)
		s.mu.Unlock()
		if h != "Bearer "+s.Token {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "a valid bearer token is required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
