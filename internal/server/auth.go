package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Identity is the person (or ServiceAccount) behind a request, as TokenReview reported it.
type Identity struct {
	User   string              `json:"user"`
	UID    string              `json:"uid,omitempty"`
	Groups []string            `json:"groups,omitempty"`
	Extra  map[string][]string `json:"-"`
}

// principal is what a request may do: Identity is nil in local mode (the kubeconfig's user
// acts); csrf is the token state-changing requests must carry; bearer marks a request
// authenticated by its Authorization header (no cookie, so no CSRF risk).
type principal struct {
	id      *Identity
	csrf    string
	bearer  bool
	session string
}

type ctxKey struct{}

func principalFrom(ctx context.Context) *principal {
	p, _ := ctx.Value(ctxKey{}).(*principal)
	return p
}

// sessionCookie names the session cookie of the in-cluster dashboard.
const sessionCookie = "vane_session"

// Lifetimes: a session lasts sessionTTL; its token is reviewed again after reviewTTL; a bearer
// token's review is cached for reviewTTL.
const (
	sessionTTL = 8 * time.Hour
	reviewTTL  = time.Minute
)

type session struct {
	id, csrf   string
	token      string
	identity   Identity
	reviewedAt time.Time
	expires    time.Time
}

type reviewed struct {
	identity Identity
	at       time.Time
}

// authenticator checks bearer tokens with TokenReview and keeps the sessions in memory.
type authenticator struct {
	cs  kubernetes.Interface
	now func() time.Time

	mu       sync.Mutex
	sessions map[string]*session
	bearers  map[[32]byte]reviewed
}

// errBadToken is a token the API server does not accept.
var errBadToken = errors.New("the API server does not accept this token")

func newAuthenticator(cs kubernetes.Interface) *authenticator {
	return &authenticator{cs: cs, now: time.Now, sessions: map[string]*session{}, bearers: map[[32]byte]reviewed{}}
}

// review asks the API server who the token belongs to.
func (a *authenticator) review(ctx context.Context, token string) (Identity, error) {
	if strings.TrimSpace(token) == "" {
		return Identity{}, errBadToken
	}
	tr, err := a.cs.AuthenticationV1().TokenReviews().Create(ctx,
		&authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: strings.TrimSpace(token)}}, metav1.CreateOptions{})
	if err != nil {
		return Identity{}, fmt.Errorf("reviewing the token: %w", err)
	}
	if !tr.Status.Authenticated {
		return Identity{}, errBadToken
	}
	u := tr.Status.User
	id := Identity{User: u.Username, UID: u.UID, Groups: u.Groups, Extra: map[string][]string{}}
	for k, v := range u.Extra {
		id.Extra[k] = v
	}
	return id, nil
}

// bearer authenticates an Authorization header's token, with its review cached briefly.
func (a *authenticator) bearer(ctx context.Context, token string) (Identity, error) {
	key := sha256.Sum256([]byte(token))
	a.mu.Lock()
	r, ok := a.bearers[key]
	a.mu.Unlock()
	if ok && a.now().Sub(r.at) < reviewTTL {
		return r.identity, nil
	}
	id, err := a.review(ctx, token)
	if err != nil {
		return id, err
	}
	a.mu.Lock()
	a.bearers[key] = reviewed{identity: id, at: a.now()}
	a.mu.Unlock()
	return id, nil
}

// login reviews the token and opens a session.
func (a *authenticator) login(ctx context.Context, token string) (*session, error) {
	id, err := a.review(ctx, token)
	if err != nil {
		return nil, err
	}
	now := a.now()
	s := &session{id: randomID(), csrf: randomID(), token: strings.TrimSpace(token), identity: id,
		reviewedAt: now, expires: now.Add(sessionTTL)}
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, old := range a.sessions { // drop expired sessions
		if now.After(old.expires) {
			delete(a.sessions, k)
		}
	}
	a.sessions[s.id] = s
	return s, nil
}

// lookup returns a live session, reviewing its token again when the last review is old: a
// revoked or expired token ends the session.
func (a *authenticator) lookup(ctx context.Context, id string) (*session, bool) {
	a.mu.Lock()
	s, ok := a.sessions[id]
	a.mu.Unlock()
	now := a.now()
	if !ok || now.After(s.expires) {
		return nil, false
	}
	if now.Sub(s.reviewedAt) > reviewTTL {
		if _, err := a.review(ctx, s.token); err != nil {
			a.logout(id)
			return nil, false
		}
		a.mu.Lock()
		s.reviewedAt = now
		a.mu.Unlock()
	}
	return s, true
}

func (a *authenticator) logout(id string) {
	a.mu.Lock()
	delete(a.sessions, id)
	a.mu.Unlock()
}

func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func sameSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// bearerToken is the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}
