// Package plugin runs Argo Rollouts plugins: the binaries the `argo-rollouts-config` ConfigMap
// lists under metricProviderPlugins, trafficRouterPlugins and stepPlugins, built for Argo
// Rollouts and used by Vane unchanged.
//
// A Manager reads the ConfigMap in the controller's namespace when the controller starts,
// copies (file://) or downloads (http(s)://) each binary into a cache folder and checks its
// sha256; an entry that cannot be used is logged and kept with its reason, and every use of it
// is an *Error naming the plugin. Plugin processes are started on first use with
// hashicorp/go-plugin, with Argo's handshake (magic cookie ARGO_ROLLOUTS_RPC_PLUGIN, protocol
// version 1, net/rpc) and are started again when they exit or their connection breaks; the
// binary's checksum is checked again at every start.
//
// The sub-packages speak each kind's RPC interface: metric (an AnalysisRun provider), router
// (a traffic router) and step (step plugins).
package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/rpc"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	goplugin "github.com/hashicorp/go-plugin"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vanedev/vane/internal/analysis/provider/credentials"
)

// DirEnv names the environment variable that sets the plugin cache folder.
const DirEnv = "VANE_PLUGIN_DIR"

// Options configure a Manager.
type Options struct {
	// Namespace is the controller's namespace, where the ConfigMap and the headersFrom
	// Secrets are read (credentials.ControllerNamespace() when empty).
	Namespace string
	// Dir is the folder binaries are copied to (DefaultDir() when empty).
	Dir string
	// HTTPClient downloads http(s):// locations (one with a 5-minute timeout when nil).
	HTTPClient *http.Client
	// Env is added to the environment plugin processes inherit (e.g. KUBECONFIG=...).
	Env []string
	// StartTimeout bounds a plugin's start and handshake (30s when zero).
	StartTimeout time.Duration
	// CallTimeout bounds an RPC call whose context has no deadline (1 minute when zero).
	CallTimeout time.Duration
}

// DefaultDir is where binaries are kept when Options.Dir is empty: $VANE_PLUGIN_DIR, else
// <user cache folder>/vane/plugins, else <temporary folder>/vane-plugins.
func DefaultDir() string {
	if d := os.Getenv(DirEnv); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "vane", "plugins")
	}
	return filepath.Join(os.TempDir(), "vane-plugins")
}

// Manager loads the plugins the ConfigMap lists and runs their processes. It is safe for
// concurrent use. As a controller-runtime Runnable (Start) it loads them when the manager
// starts and stops the processes when it stops; used without Start, it loads them on first use.
type Manager struct {
	reader client.Reader
	opts   Options
	fetch  fetcher

	loadMu sync.Mutex
	// logger is the logger of the first Load's context: plugin processes outlive the
	// reconciles that start them, so their output goes there
	logger *logr.Logger
	loaded bool
	// cmMissing: the ConfigMap does not exist (no plugins)
	cmMissing bool
	// cfgErr: the ConfigMap could not be read (loading is tried again at the next use)
	cfgErr   error
	listErrs map[Kind]error
	entries  map[key]*entry
}

type key struct {
	kind Kind
	name string
}

// entry is one plugin: its binary, or why it cannot be used, and its process.
type entry struct {
	item      Item
	path, sum string
	err       error

	mu     sync.Mutex
	proc   *goplugin.Client
	rpc    *rpc.Client
	starts int
}

// NewManager returns a Manager that reads the ConfigMap with reader (which should read from
// the API server, not a cache).
func NewManager(reader client.Reader, opts Options) *Manager {
	if opts.Dir == "" {
		opts.Dir = DefaultDir()
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 5 * time.Minute}
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 30 * time.Second
	}
	if opts.CallTimeout == 0 {
		opts.CallTimeout = time.Minute
	}
	store := credentials.Store{Reader: reader, Namespace: opts.Namespace}
	if opts.Namespace == "" {
		opts.Namespace = store.ControllerNamespace()
	}
	return &Manager{reader: reader, opts: opts, fetch: fetcher{dir: opts.Dir, http: opts.HTTPClient, secrets: store}}
}

// Namespace is the namespace whose ConfigMap the Manager reads.
func (m *Manager) Namespace() string { return m.opts.Namespace }

// Start loads the plugins, then waits until ctx ends and stops their processes. A plugin that
// cannot be loaded is logged, never an error: Start fails no controller.
func (m *Manager) Start(ctx context.Context) error {
	m.Load(ctx)
	<-ctx.Done()
	m.Close()
	return nil
}

// NeedLeaderElection is false: every replica loads the plugins at start, as Argo's does.
func (m *Manager) NeedLeaderElection() bool { return false }

// Close stops every plugin process (a later use starts it again).
func (m *Manager) Close() {
	m.loadMu.Lock()
	entries := m.entries
	m.loadMu.Unlock()
	for _, e := range entries {
		e.mu.Lock()
		e.stop()
		e.mu.Unlock()
	}
}

// Load reads the ConfigMap and fetches and checks every binary it lists, once (again at the
// next use when the ConfigMap could not be read). What cannot be used is logged.
func (m *Manager) Load(ctx context.Context) {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	if m.loaded {
		return
	}
	logger := log.FromContext(ctx).WithName("plugins")
	if m.logger == nil {
		m.logger = &logger
	}
	m.entries, m.listErrs, m.cmMissing = map[key]*entry{}, nil, false
	cm := &corev1.ConfigMap{}
	err := m.reader.Get(ctx, client.ObjectKey{Namespace: m.opts.Namespace, Name: ConfigMapName}, cm)
	switch {
	case apierrors.IsNotFound(err):
		m.loaded, m.cmMissing, m.cfgErr = true, true, nil
		logger.V(1).Info("no plugins: the ConfigMap does not exist", "configMap", m.opts.Namespace+"/"+ConfigMapName)
		return
	case err != nil:
		m.cfgErr = fmt.Errorf("reading the ConfigMap %s/%s: %w", m.opts.Namespace, ConfigMapName, err)
		logger.Error(m.cfgErr, "plugins not loaded; trying again at their next use")
		return
	}
	m.loaded, m.cfgErr = true, nil
	cfg := ParseConfig(cm.Data)
	m.listErrs = cfg.ListErrs
	for k, err := range cfg.ListErrs {
		logger.Error(err, "plugins unusable", "kind", k)
	}
	for _, e := range cfg.Entries {
		m.add(ctx, logger, e)
	}
}

// add fetches an entry's binary and keeps it (the first of two entries of the same name).
func (m *Manager) add(ctx context.Context, logger logr.Logger, e Entry) {
	k := key{e.Kind, e.Name}
	if _, dup := m.entries[k]; dup {
		logger.Error(e.Err, "plugin entry ignored", "kind", e.Kind, "plugin", e.Name)
		return
	}
	ent := &entry{item: e.Item, err: e.Err}
	if ent.err == nil {
		t0 := time.Now()
		ent.path, ent.sum, ent.err = m.fetch.fetch(ctx, e.Item)
		if ent.err == nil {
			logger.Info("plugin ready", "kind", e.Kind, "plugin", e.Name, "location", redact(e.Location),
				"path", ent.path, "sha256", ent.sum, "took", time.Since(t0).Round(time.Millisecond).String())
		}
	}
	if ent.err != nil {
		logger.Error(ent.err, "plugin unusable: every use of it fails until the ConfigMap is fixed and the controller restarted",
			"kind", e.Kind, "plugin", e.Name)
	}
	m.entries[k] = ent
}

// Item returns the ConfigMap's entry for the plugin, or an *Error when it is not listed or
// cannot be used. It loads the plugins first if needed.
func (m *Manager) Item(ctx context.Context, kind Kind, name string) (Item, error) {
	e, err := m.lookup(ctx, kind, name)
	if err != nil {
		return Item{}, err
	}
	return e.item, nil
}

// Configured reports whether the ConfigMap lists a plugin of that kind and name, usable or not.
func (m *Manager) Configured(ctx context.Context, kind Kind, name string) bool {
	m.Load(ctx)
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	_, ok := m.entries[key{kind, name}]
	return ok
}

// lookup returns the usable entry of a plugin, or an *Error.
func (m *Manager) lookup(ctx context.Context, kind Kind, name string) (*entry, error) {
	m.Load(ctx)
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	fail := func(permanent bool, err error) (*entry, error) {
		return nil, &Error{Kind: kind, Name: name, Permanent: permanent, Err: err}
	}
	if m.cfgErr != nil {
		return fail(false, m.cfgErr)
	}
	if err := m.listErrs[kind]; err != nil {
		return fail(true, err)
	}
	e, ok := m.entries[key{kind, name}]
	switch {
	case !ok && m.cmMissing:
		return fail(true, fmt.Errorf("not configured: the ConfigMap %s/%s does not exist", m.opts.Namespace, ConfigMapName))
	case !ok:
		return fail(true, fmt.Errorf("not configured: the ConfigMap %s/%s has no entry of that name in %s",
			m.opts.Namespace, ConfigMapName, kind.ConfigKey()))
	case e.err != nil:
		return fail(true, fmt.Errorf("unusable (fix the ConfigMap entry and restart the controller): %w", e.err))
	}
	return e, nil
}

// Error is a plugin that cannot be used: not configured, its entry or binary unusable, or its
// process failing to start.
type Error struct {
	// Kind and Name identify the plugin.
	Kind Kind
	Name string
	// Permanent is true when trying again will not help until the ConfigMap is fixed and the
	// controller restarted (not configured, a bad entry, a binary missing or tampered with).
	Permanent bool
	// Err says what is wrong.
	Err error
}

// Error names the plugin and what is wrong.
func (e *Error) Error() string {
	return fmt.Sprintf("%s plugin %q: %v", kinds[e.Kind].label, e.Name, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// AsError returns the *Error inside err, if there is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
