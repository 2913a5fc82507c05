// Package server is Vane's dashboard: HTML pages, a JSON API under /api/v1/ shaped like
// Kubernetes paths, and a Server-Sent Events stream of changes, for rollouts and (read only)
// Flagger's Canaries with their gates, all served from one set of shared informers. In local
// mode (`vane dashboard`) it acts with the user's kubeconfig and listens on loopback only; in
// cluster mode (`vane dashboard --in-cluster`) every request is authenticated with TokenReview,
// every read is filtered with SubjectAccessReview and every action is performed by
// impersonating the user, so the API server itself authorizes it.
package server

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vanedev/vane/api/v1alpha1"
)

//go:embed web/templates/*.html
var templateFS embed.FS

//go:embed web/static
var staticFS embed.FS

// Options configure a dashboard server.
type Options struct {
	// Config is the server's own identity: it watches with it and, in cluster mode, reviews
	// tokens and access and impersonates users with it.
	Config *rest.Config
	// Scheme knows the built-in kinds and Vane's API.
	Scheme *runtime.Scheme
	// Namespaces limits the dashboard to these namespaces; empty means every namespace.
	Namespaces []string
	// InCluster turns authentication on: a bearer token (header or login page) checked with
	// TokenReview for every request, reads filtered by SubjectAccessReview, actions impersonated.
	InCluster bool
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Server is the dashboard.
type Server struct {
	opts   Options
	store  *store
	hub    *hub
	client client.Client
	// cached reads from the store's cache (the gates, through internal/gate's reader).
	cached client.Client
	mapper meta.RESTMapper
	cs     kubernetes.Interface
	authn  *authenticator
	authz  *authorizer
	pages  *template.Template
	health *health
	// localCSRF is the token the pages of the local mode send with actions, so that another web
	// site open in the user's browser cannot post to the loopback port.
	localCSRF string
}

// New builds a server; Start runs its informers.
func New(opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	httpClient, err := rest.HTTPClientFor(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("http client: %w", err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(opts.Config, httpClient)
	if err != nil {
		return nil, fmt.Errorf("rest mapper: %w", err)
	}
	c, err := client.New(opts.Config, client.Options{Scheme: opts.Scheme, Mapper: mapper, HTTPClient: httpClient})
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	cs, err := kubernetes.NewForConfigAndClient(opts.Config, httpClient)
	if err != nil {
		return nil, fmt.Errorf("clientset: %w", err)
	}
	if err := ping(context.Background(), cs, opts.Config.Host); err != nil {
		return nil, err
	}
	h := newHub()
	st, err := newStore(opts.Config, opts.Scheme, opts.Namespaces, h)
	if err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	cached, err := client.New(opts.Config, client.Options{Scheme: opts.Scheme, Mapper: mapper, HTTPClient: httpClient,
		Cache: &client.CacheOptions{Reader: st.cache}})
	if err != nil {
		return nil, fmt.Errorf("cache client: %w", err)
	}
	pinger := func(ctx context.Context) error { return ping(ctx, cs, opts.Config.Host) }
	return &Server{opts: opts, store: st, hub: h, client: c, cached: cached, mapper: mapper, cs: cs, authn: newAuthenticator(cs),
		authz: newAuthorizer(cs), pages: pages, health: newHealth(pinger, opts.Now, h), localCSRF: randomID()}, nil
}

// Start runs the shared informers and returns once they hold the cluster's state (or fail),
// and checks from then on that the API server answers (the pages say when it does not). A
// cluster without Vane's CRDs fails it at once; Flagger's Canaries are shown when the cluster
// serves them and the server may watch them (see detectFlagger).
func (s *Server) Start(ctx context.Context) error {
	if _, err := s.mapper.RESTMapping(v1alpha1.GroupVersion.WithKind("Rollout").GroupKind(), v1alpha1.GroupVersion.Version); err != nil {
		return fmt.Errorf("the cluster at %s does not serve argoproj.io/v1alpha1 Rollouts (install the CRDs: kubectl apply -k config/crd): %w", s.opts.Config.Host, err)
	}
	f, err := s.detectFlagger(ctx)
	if err != nil {
		return err
	}
	s.store.flagger = f
	if err := s.store.start(ctx); err != nil {
		return err
	}
	go s.health.run(ctx)
	return nil
}

// ping fails with a clear sentence when the API server cannot be reached.
func ping(ctx context.Context, cs kubernetes.Interface, host string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cs.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Error(); err != nil {
		return fmt.Errorf("cannot reach the Kubernetes API server at %s: %w", host, err)
	}
	return nil
}

// Handler serves the pages, the API and the stream.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "web/static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.loginSubmit)
	mux.HandleFunc("POST /logout", s.authenticated(s.logoutSubmit))
	mux.HandleFunc("GET /{$}", s.authenticated(s.listPage))
	mux.HandleFunc("GET /namespaces/{ns}/rollouts/{name}", s.authenticated(s.rolloutPage))
	mux.HandleFunc("GET /api/v1/rollouts", s.authenticated(s.apiList))
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/rollouts", s.authenticated(s.apiList))
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/rollouts/{name}", s.authenticated(s.apiGet))
	mux.HandleFunc("POST /api/v1/namespaces/{ns}/rollouts/{name}/{action}", s.authenticated(s.apiAction))
	mux.HandleFunc("GET /namespaces/{ns}/canaries/{name}", s.authenticated(s.canaryPage))
	mux.HandleFunc("GET /api/v1/canaries", s.authenticated(s.apiCanaryList))
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/canaries", s.authenticated(s.apiCanaryList))
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/canaries/{name}", s.authenticated(s.apiCanaryGet))
	mux.HandleFunc("GET /api/v1/stream", s.authenticated(s.apiStream))
	mux.HandleFunc("GET /api/v1/whoami", s.authenticated(s.apiWhoami))
	return s.guard(mux)
}

// Serve serves h on ln until ctx ends; requests get ctx's logger.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving the dashboard: %w", err)
	}
	log.FromContext(ctx).Info("dashboard stopped")
	return nil
}

// namespaces are those the dashboard covers: the configured ones, else every namespace that
// has a rollout or a Canary.
func (s *Server) namespaces(ctx context.Context) ([]string, error) {
	if len(s.opts.Namespaces) > 0 {
		return s.opts.Namespaces, nil
	}
	var list v1alpha1.RolloutList
	if err := s.store.cache.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing rollouts: %w", err)
	}
	out, err := s.canaryNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	for _, ro := range list.Items {
		out = append(out, ro.Namespace)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
