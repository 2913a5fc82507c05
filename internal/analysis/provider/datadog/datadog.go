// Package datadog measures a metric with a Datadog metrics query, as Argo Rollouts' Datadog
// provider does.
//
// apiVersion v1 (the default) sends `query` to GET /api/v1/query over the last `interval`
// (default 5m); the result is the last point of the first series, a number, or nil when the
// query has no data (so `default(result, 0) < 0.05`). apiVersion v2 sends `query`, or
// `queries` combined by `formula`, to POST /api/v2/query/scalar, each reduced by `aggregator`
// (default last); the result is the first value of the first number column, or nil when there
// is none, and for a query grouped `by {tag}` a list with one value per group, whose names
// are stored in the measurement's metadata (`groups`, JSON, at most 100).
//
// The keys, as Argo finds them: with `secretRef.namespaced: true`, the Secret secretRef.name
// of the analysis' namespace; with only secretRef.name, that Secret in the controller's
// namespace; otherwise the DD_API_KEY, DD_APP_KEY and DD_ADDRESS environment variables when
// all three are set, else the controller namespace's `datadog` Secret. A Secret holds
// `api-key`, `app-key` and optionally `address` (default https://api.datadoghq.com). Keys
// travel in the DD-API-KEY and DD-APPLICATION-KEY headers and never appear in a message.
//
// Every call is bounded by `requestTimeout` (default 10s) and retried while it can pass (see
// package apicall).
package datadog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/apicall"
	"github.com/vanedev/vane/internal/analysis/provider/credentials"
)

// Names Argo Rollouts uses for the keys.
const (
	// DefaultSecretName is the controller namespace's Secret of the keys.
	DefaultSecretName = "datadog"
	// APIKeyKey, AppKeyKey and AddressKey are the Secret's keys.
	APIKeyKey  = "api-key"
	AppKeyKey  = "app-key"
	AddressKey = "address"
	// DefaultAddress is Datadog's API when the Secret gives no address.
	DefaultAddress = "https://api.datadoghq.com"
)

// Provider queries Datadog.
type Provider struct {
	// Secrets reads the keys' Secrets.
	Secrets credentials.Store
	// Clock gives the end of the queried window.
	Clock clock.PassiveClock
	// HTTP sends the requests (http.DefaultClient when nil).
	HTTP *http.Client
	// LookupEnv reads the DD_* environment variables (os.LookupEnv when nil).
	LookupEnv func(string) (string, bool)
}

// New returns a Datadog Provider reading Secrets from store, its time from clk.
func New(store credentials.Store, clk clock.PassiveClock) *Provider {
	return &Provider{Secrets: store, Clock: clk}
}

// keys are the credentials and the API address.
type keys struct {
	apiKey, appKey, address string
	// from says where they were found, for messages
	from string
}

// Measure implements provider.Provider.
func (p *Provider) Measure(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) (provider.Result, error) {
	d := metric.Provider.Datadog
	if d == nil {
		return provider.Result{}, errors.New("the metric has no datadog provider")
	}
	window, err := d.EffectiveInterval().Duration()
	if err != nil || window <= 0 {
		return provider.Result{}, provider.Permanent(fmt.Errorf("datadog.interval %q: give a positive duration such as 5m", d.EffectiveInterval().String()))
	}
	timeout, err := d.EffectiveRequestTimeout().Duration()
	if err != nil || timeout <= 0 {
		return provider.Result{}, provider.Permanent(fmt.Errorf("datadog.requestTimeout %q: give a positive duration such as 30s", d.EffectiveRequestTimeout().String()))
	}
	k, err := p.keys(ctx, run.Namespace, d)
	if err != nil {
		return provider.Result{}, fmt.Errorf("datadog: %w", err)
	}
	call, err := buildCall(d, k, p.Clock.Now(), window)
	if err != nil {
		return provider.Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := apicall.Do(ctx, p.HTTP, call)
	if err != nil {
		return provider.Result{}, err
	}
	if !resp.OK() {
		return provider.Result{}, call.StatusError(resp)
	}
	if d.EffectiveAPIVersion() == "v2" {
		return parseV2(call, resp.Body)
	}
	return parseV1(call, resp.Body)
}

// keys finds the API and application keys where Argo Rollouts looks for them.
func (p *Provider) keys(ctx context.Context, namespace string, d *v1alpha1.DatadogMetric) (keys, error) {
	ref := d.SecretRef
	switch {
	case ref.Namespaced && ref.Name == "":
		return keys{}, errors.New("secretRef.namespaced needs secretRef.name")
	case ref.Namespaced:
		return p.fromSecret(ctx, namespace, ref.Name)
	case ref.Name != "":
		return p.fromSecret(ctx, p.Secrets.ControllerNamespace(), ref.Name)
	}
	if k, ok := p.fromEnv(); ok {
		return k, nil
	}
	k, err := p.fromSecret(ctx, p.Secrets.ControllerNamespace(), DefaultSecretName)
	if err != nil {
		return keys{}, fmt.Errorf("no keys in DD_API_KEY, DD_APP_KEY and DD_ADDRESS, nor in the default Secret: %w", err)
	}
	return k, nil
}

func (p *Provider) fromSecret(ctx context.Context, namespace, name string) (keys, error) {
	s, err := p.Secrets.Get(ctx, namespace, name)
	if err != nil {
		return keys{}, err
	}
	if err := s.Require(APIKeyKey, AppKeyKey); err != nil {
		return keys{}, err
	}
	return keys{apiKey: s.Value(APIKeyKey), appKey: s.Value(AppKeyKey), address: s.Value(AddressKey),
		from: fmt.Sprintf("the Secret %s/%s", namespace, name)}, nil
}

// fromEnv reads the keys from the environment: all three variables must be set, and both
// keys non-empty.
func (p *Provider) fromEnv() (keys, bool) {
	lookup := p.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	apiKey, ok1 := lookup("DD_API_KEY")
	appKey, ok2 := lookup("DD_APP_KEY")
	address, ok3 := lookup("DD_ADDRESS")
	if !ok1 || !ok2 || !ok3 || apiKey == "" || appKey == "" {
		return keys{}, false
	}
	return keys{apiKey: apiKey, appKey: appKey, address: address, from: "the DD_* environment variables"}, true
}

// endpoint returns the URL of the API version's query endpoint.
func endpoint(address, apiVersion string) (string, error) {
	if address == "" {
		address = DefaultAddress
	}
	address = strings.TrimRight(strings.TrimSpace(address), "/")
	if !strings.HasPrefix(address, "http://") && !strings.HasPrefix(address, "https://") {
		return "", fmt.Errorf("the address %q is not an http:// or https:// URL", address)
	}
	if apiVersion == "v2" {
		return address + "/api/v2/query/scalar", nil
	}
	return address + "/api/v1/query", nil
}

// window returns the bounds of the queried window ending at now, in Unix seconds.
func window(now time.Time, d time.Duration) (from, to int64) {
	to = now.Unix()
	return to - int64(d.Seconds()), to
}
