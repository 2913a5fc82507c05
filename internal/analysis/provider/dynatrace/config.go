package dynatrace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Defaults of a configuration.
const (
	// DefaultFrom is the start of the queried timeframe when the metric gives none.
	DefaultFrom = "now-5m"
	// DefaultResolution makes one data point of the whole timeframe per series.
	DefaultResolution = "Inf"
	// DefaultTimeout bounds a measurement's calls when the metric gives no timeout.
	DefaultTimeout = 10 * time.Second
)

// Config is the value of a metric's `provider.plugin["vane/dynatrace"]`.
type Config struct {
	// Address is the environment's API address, e.g. https://abc12345.live.dynatrace.com
	// (or https://{your-domain}/e/{your-environment-id} for Dynatrace Managed); the Secret's
	// `address` key when empty.
	Address string `json:"address,omitempty"`
	// Query is the metric selector (the API's metricSelector), e.g.
	// `builtin:service.errors.total.rate:filter(eq("dt.entity.service","SERVICE-1"))`.
	Query string `json:"query"`
	// EntitySelector and MzSelector narrow the query (the API's parameters of those names).
	EntitySelector string `json:"entitySelector,omitempty"`
	MzSelector     string `json:"mzSelector,omitempty"`
	// From and To bound the timeframe in Dynatrace's syntax (`now-10m`, an ISO-8601 time or
	// Unix milliseconds); From defaults to DefaultFrom, To to now.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Resolution is the API's resolution (default Inf: one value per series).
	Resolution string `json:"resolution,omitempty"`
	// Timeout bounds the measurement's calls, a duration such as 30s (default 10s).
	Timeout string `json:"timeout,omitempty"`
	// SecretRef names the Secret of the API token (default: the controller namespace's
	// `dynatrace` Secret).
	SecretRef SecretRef `json:"secretRef,omitzero"`
}

// SecretRef names the Secret of the token, as the datadog provider's secretRef does.
type SecretRef struct {
	// Name of the Secret.
	Name string `json:"name,omitempty"`
	// Namespaced reads it from the analysis' namespace instead of the controller's.
	Namespaced bool `json:"namespaced,omitempty"`
}

// Parse decodes and checks a configuration, defaults filled. Unknown fields are errors, and
// every error names the field at fault.
func Parse(raw json.RawMessage) (Config, error) {
	var c Config
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return c, errors.New("give the configuration: at least query, and address unless the Secret has one")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("reading the configuration: %w", err)
	}
	if c.From == "" {
		c.From = DefaultFrom
	}
	if c.Resolution == "" {
		c.Resolution = DefaultResolution
	}
	return c, c.validate()
}

func (c Config) validate() error {
	var errs []error
	if strings.TrimSpace(c.Query) == "" {
		errs = append(errs, errors.New(`query: give a metric selector, e.g. builtin:service.errors.total.rate:avg`))
	}
	if c.Address != "" {
		if err := checkAddress(c.Address); err != nil {
			errs = append(errs, fmt.Errorf("address: %w", err))
		}
	}
	if c.Timeout != "" {
		if d, err := time.ParseDuration(c.Timeout); err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("timeout %q: give a positive duration such as 30s", c.Timeout))
		}
	}
	if c.SecretRef.Namespaced && c.SecretRef.Name == "" {
		errs = append(errs, errors.New("secretRef.namespaced needs secretRef.name"))
	}
	return errors.Join(errs...)
}

// timeout returns the configured timeout, or DefaultTimeout.
func (c Config) timeout() time.Duration {
	if d, err := time.ParseDuration(c.Timeout); err == nil && d > 0 {
		return d
	}
	return DefaultTimeout
}

// checkAddress refuses an address that is not an http(s) URL with a host. Its error quotes
// no part of the address but the scheme (an address may carry credentials).
func checkAddress(address string) error {
	u, err := url.Parse(strings.TrimSpace(address))
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("the scheme must be https (or http), not %q", u.Scheme)
	case u.Host == "":
		return errors.New("names no host")
	case u.User != nil:
		return errors.New("must not carry credentials: put the token in the Secret")
	}
	return nil
}

// endpoint is the metrics query URL of an address.
func endpoint(address string) string {
	return strings.TrimRight(strings.TrimSpace(address), "/") + QueryPath
}

// params are the query's parameters.
func (c Config) params() url.Values {
	q := url.Values{"metricSelector": {c.Query}, "from": {c.From}, "resolution": {c.Resolution}}
	for k, v := range map[string]string{"to": c.To, "entitySelector": c.EntitySelector, "mzSelector": c.MzSelector} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}
