package server

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"
)

func parsePages() (*template.Template, error) {
	funcs := template.FuncMap{
		"lower": strings.ToLower,
		"join":  strings.Join,
		"sub":   func(a, b int32) int32 { return a - b },
	}
	t, err := template.New("pages").Funcs(funcs).ParseFS(templateFS, "web/templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parsing the page templates: %w", err)
	}
	return t, nil
}

// page is what every page template gets.
type page struct {
	Title     string
	CSRF      string
	User      string
	InCluster bool
	Namespace string
	Name      string
	// Kind is the kind of the page's object (Rollout or Canary): its stream asks for it only.
	Kind     string
	Now      time.Time
	List     *RolloutList
	Detail   *Detail
	Canaries *CanaryList
	Canary   *CanaryDetail
	Statuses []string
	Error    *errorBody
}

func (s *Server) newPage(r *http.Request, title string) *page {
	p := principalFrom(r.Context())
	pg := &page{Title: title, CSRF: p.csrf, InCluster: s.opts.InCluster, Now: s.opts.Now(),
		Statuses: []string{stHealthy, stProgressing, stPaused, stDegraded}}
	if p.id != nil {
		pg.User = p.id.User
	}
	return pg
}

func (s *Server) listPage(w http.ResponseWriter, r *http.Request) {
	pg := s.newPage(r, "Rollouts")
	list, err := s.summaries(r.Context(), principalFrom(r.Context()), r.URL.Query().Get("namespace"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	pg.List, pg.Namespace = list, r.URL.Query().Get("namespace")
	if s.store.flagger.canaries {
		if pg.Canaries, err = s.canarySummaries(r.Context(), principalFrom(r.Context()), pg.Namespace, false); err != nil {
			s.apiError(w, r, err)
			return
		}
	}
	s.render(w, r, "list.html", "list-body", pg)
}

func (s *Server) rolloutPage(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	pg := s.newPage(r, name)
	pg.Namespace, pg.Name, pg.Kind = ns, name, "Rollout"
	d, err := s.detail(r.Context(), principalFrom(r.Context()), ns, name)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	pg.Detail = d
	s.render(w, r, "rollout.html", "rollout-body", pg)
}

// render writes a whole page, or only its live part for ?fragment=1 (what the script fetches
// after a change).
func (s *Server) render(w http.ResponseWriter, r *http.Request, full, fragment string, pg *page) {
	name := full
	if r.URL.Query().Get("fragment") != "" {
		name = fragment
	}
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, pg); err != nil {
		log.FromContext(r.Context()).Error(err, "rendering a page", "template", name)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if !s.opts.InCluster {
		http.Redirect(w, r, "/", http.StatusFound)
		return
	}
	s.loginForm(w, r, http.StatusOK, "")
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = s.pages.ExecuteTemplate(w, "login.html", map[string]any{"Title": "Log in", "Message": msg})
}

// loginSubmit reviews the pasted token and opens a session: an HttpOnly, Secure,
// SameSite=Strict cookie holding only a random id; the token stays in the server's memory.
func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.opts.InCluster {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	sess, err := s.authn.login(r.Context(), r.PostFormValue("token"))
	if err != nil {
		msg := "The API server did not accept this token."
		if err != errBadToken {
			log.FromContext(r.Context()).Error(err, "token review failed")
			msg = "The token could not be checked: " + err.Error()
		}
		s.loginForm(w, r, http.StatusUnauthorized, msg)
		return
	}
	log.FromContext(r.Context()).Info("dashboard login", "user", sess.identity.User)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sess.id, Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL.Seconds())})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logoutSubmit(w http.ResponseWriter, r *http.Request) {
	if p := principalFrom(r.Context()); p.session != "" {
		s.authn.logout(p.session)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
