// Package dynatrace measures a metric with a Dynatrace metric selector over the Metrics API
// v2. Argo Rollouts has no Dynatrace provider (only through a third-party plugin) and its API
// no field for one, so a metric reaches it through Argo's plugin field, as the built-in judge
// does:
//
//	provider:
//	  plugin:
//	    vane/dynatrace:
//	      address: https://abc12345.live.dynatrace.com
//	      query: builtin:service.errors.total.rate:filter(eq("dt.entity.service","{{args.service-id}}")):splitBy()
//	      from: now-10m
//
// A measurement is GET <address>/api/v2/metrics/query with metricSelector (query), from
// (default now-5m), to, resolution (default Inf), entitySelector and mzSelector, and the
// token in the `Authorization: Api-Token <token>` header. The result a condition sees is the
// last value of each series of the one metric the selector names: a number when there is one
// series, a list when there are several (their dimensions are stored in the measurement's
// metadata, `dimensions`, at most MaxDimensions), nil when there is no data (so
// `default(result, 0) < 0.05`). The query and the URL sent are the metric's metadata.
//
// The token, as the datadog provider finds its keys: with `secretRef.namespaced: true`, the
// Secret secretRef.name of the analysis' namespace; with only secretRef.name, that Secret in
// the controller's namespace; otherwise the controller namespace's `dynatrace` Secret. The
// Secret holds `api-token` (or `dynatrace_token`, the key Flagger reads), a token with the
// metrics.read scope, and optionally `address`. The token never appears in a message.
//
// Every call is bounded by `timeout` (default 10s) and retried while it can pass (package
// apicall: 429 with its Retry-After, 502, 503, 504, a connection refused).
package dynatrace

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/apicall"
	"github.com/vanedev/vane/internal/analysis/provider/credentials"
)

// Names of the provider, the API and the Secret.
const (
	// PluginName is the key of the provider's configuration under a metric's provider.plugin.
	PluginName = "vane/dynatrace"
	// ProviderName is the provider's name as provider.Name gives it.
	ProviderName = "plugin " + PluginName
	// QueryPath is the Metrics API v2 endpoint of metric data points.
	QueryPath = "/api/v2/metrics/query"
	// AuthScheme is the scheme of the Authorization header ("Api-Token <token>").
	AuthScheme = "Api-Token"
	// DefaultSecretName is the controller namespace's Secret of the token.
	DefaultSecretName = "dynatrace"
	// TokenKey is the Secret's key of the token; FlaggerTokenKey is read when it is missing.
	TokenKey        = "api-token"
	FlaggerTokenKey = "dynatrace_token"
	// AddressKey is the Secret's key of the address, used when the metric gives none.
	AddressKey = "address"
	// ResolvedQueryKey and QueryURLKey name the metric's metadata: the selector and the URL
	// sent (which has no token).
	ResolvedQueryKey = "ResolvedDynatraceQuery"
	QueryURLKey      = "DynatraceQueryURL"
)

// Provider queries Dynatrace.
type Provider struct {
	// Secrets reads the token's Secret.
	Secrets credentials.Store
	// HTTP sends the requests (http.DefaultClient when nil).
	HTTP *http.Client
}

// New returns a Dynatrace Provider reading Secrets with store.
func New(store credentials.Store) *Provider { return &Provider{Secrets: store} }

// account is the token and the address to use.
type account struct{ token, address string }

// Measure implements provider.Provider. A configuration error is permanent; a missing Secret
// or a failed call is an error a later measurement may not have.
func (p *Provider) Measure(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) (provider.Result, error) {
	raw, ok := metric.Provider.Plugin[PluginName]
	if !ok {
		return provider.Result{}, provider.Permanent(fmt.Errorf("the metric has no provider.plugin[%q]", PluginName))
	}
	cfg, err := Parse(raw)
	if err != nil {
		return provider.Result{}, provider.Permanent(fmt.Errorf("%s: %w", PluginName, err))
	}
	meta := map[string]string{ResolvedQueryKey: cfg.Query}
	namespace := ""
	if run != nil {
		namespace = run.Namespace
	}
	acct, err := p.account(ctx, namespace, cfg)
	if err != nil {
		return provider.Result{MetricMetadata: meta}, fmt.Errorf("dynatrace: %w", err)
	}
	call := apicall.Call{API: "dynatrace", Method: http.MethodGet, URL: endpoint(acct.address) + "?" + cfg.params().Encode(),
		Secrets: []string{acct.token},
		Header:  http.Header{"Authorization": {AuthScheme + " " + acct.token}, "Accept": {"application/json"}}}
	meta[QueryURLKey] = call.URL
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	resp, err := apicall.Do(ctx, p.HTTP, call)
	if err != nil {
		return provider.Result{MetricMetadata: meta}, err
	}
	if !resp.OK() {
		return provider.Result{MetricMetadata: meta}, failure(call, resp)
	}
	res, err := parse(call, resp.Body)
	res.MetricMetadata = meta
	if err == nil {
		log.FromContext(ctx).V(1).Info("dynatrace measured", "metric", metric.Name, "value", res.Display)
	}
	return res, err
}

// account finds the token (and the address when the metric gives none).
func (p *Provider) account(ctx context.Context, namespace string, cfg Config) (account, error) {
	ref, secretNS, name := cfg.SecretRef, p.Secrets.ControllerNamespace(), DefaultSecretName
	switch {
	case ref.Namespaced && namespace == "":
		return account{}, errors.New("secretRef.namespaced: the analysis' namespace is not known")
	case ref.Namespaced:
		secretNS, name = namespace, ref.Name
	case ref.Name != "":
		name = ref.Name
	}
	s, err := p.Secrets.Get(ctx, secretNS, name)
	if err != nil {
		return account{}, err
	}
	key := TokenKey
	if len(s.Data[TokenKey]) == 0 && len(s.Data[FlaggerTokenKey]) > 0 {
		key = FlaggerTokenKey
	}
	if err := s.Require(key); err != nil {
		return account{}, fmt.Errorf("%w (or %q)", err, FlaggerTokenKey)
	}
	acct := account{token: strings.TrimSpace(s.Value(key)), address: cfg.Address}
	if acct.address == "" {
		acct.address = strings.TrimSpace(s.Value(AddressKey))
		if acct.address == "" {
			return account{}, fmt.Errorf("give address (the environment's URL, e.g. https://abc12345.live.dynatrace.com) in %s or in the Secret %s/%s",
				PluginName, secretNS, name)
		}
		if err := checkAddress(acct.address); err != nil {
			return account{}, fmt.Errorf("the Secret %s/%s: %s: %w", secretNS, name, AddressKey, err)
		}
	}
	return acct, nil
}
