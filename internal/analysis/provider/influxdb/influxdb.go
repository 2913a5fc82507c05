// Package influxdb measures a metric with a Flux query to InfluxDB (2.x, Cloud, or 1.8+ with
// Flux enabled), as Argo Rollouts' InfluxDB provider does, through InfluxData's client
// (influxdb-client-go/v2).
//
// The result is the list of the `_value`s of every record of every table the query returns,
// typed as the answer's annotations say (double as a number, long as an integer, string,
// boolean, dateTime as a time), so `result[0] <= 0.01`; the measurement's value shows it as
// Go prints a list ([0.004 0.006]), as Argo does. A query that returns no record is an error.
// InfluxQL is not supported (nor is it by Argo).
//
// The server comes from a Secret of the controller's namespace named by `profile` (default
// `influxdb`), with the keys `address`, `authToken` (sent as `Authorization: Token ...`,
// never shown) and `org`. A query is bounded by DefaultTimeout and tried again, at most
// Attempts times in all, when InfluxDB answers 429 or 502-504 or cannot be reached.
package influxdb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/credentials"
)

// Names Argo Rollouts uses.
const (
	// DefaultProfile is the Secret of the server when the metric names no profile.
	DefaultProfile = "influxdb"
	// Keys of the profile Secret.
	AddressKey = "address"
	TokenKey   = "authToken"
	OrgKey     = "org"
)

const (
	// DefaultTimeout bounds a query (Argo's).
	DefaultTimeout = 30 * time.Second
	// Attempts bounds the tries of a query whose failure can pass.
	Attempts = 3
	// backoff is the wait before the second try (doubled after each one).
	backoff = 500 * time.Millisecond
)

// Provider queries InfluxDB.
type Provider struct {
	// Secrets reads the profile Secrets.
	Secrets credentials.Store
	// HTTP sends the requests (a client of its own when nil).
	HTTP *http.Client
	// Timeout bounds a query (DefaultTimeout when 0).
	Timeout time.Duration
}

// New returns an InfluxDB Provider reading profiles with store.
func New(store credentials.Store) *Provider {
	return &Provider{Secrets: store, HTTP: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}
}

// Measure implements provider.Provider.
func (p *Provider) Measure(ctx context.Context, _ *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) (provider.Result, error) {
	m := metric.Provider.Influxdb
	if m == nil {
		return provider.Result{}, errors.New("the metric has no influxdb provider")
	}
	profile := m.Profile
	if profile == "" {
		profile = DefaultProfile
	}
	s, err := p.Secrets.Get(ctx, p.Secrets.ControllerNamespace(), profile)
	if err != nil {
		return provider.Result{}, fmt.Errorf("influxdb: %w", err)
	}
	if err := s.Require(AddressKey, TokenKey, OrgKey); err != nil {
		return provider.Result{}, fmt.Errorf("influxdb: %w", err)
	}
	address, token := strings.TrimSpace(s.Value(AddressKey)), s.Value(TokenKey)
	if !strings.HasPrefix(address, "http://") && !strings.HasPrefix(address, "https://") {
		return provider.Result{}, fmt.Errorf("influxdb: the Secret %s/%s: address %q is not an http:// or https:// URL", s.Namespace, s.Name, address)
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	values, err := p.query(ctx, address, token, s.Value(OrgKey), m.Query)
	if err != nil {
		return provider.Result{}, errors.New(analysis.Scrub(fmt.Sprintf("influxdb: the query to %s failed: %v", address, err), []string{token}))
	}
	if len(values) == 0 {
		return provider.Result{}, errors.New("influxdb: no results returned from the Flux query")
	}
	return provider.Result{Value: values, Display: fmt.Sprint(values)}, nil
}

// query runs a Flux query and collects the records' values, trying again while the failure
// can pass.
func (p *Provider) query(ctx context.Context, address, token, org, flux string) ([]any, error) {
	opts := influxdb2.DefaultOptions().SetApplicationName("vane").SetLogLevel(0)
	if p.HTTP != nil {
		opts = opts.SetHTTPClient(p.HTTP)
	}
	client := influxdb2.NewClientWithOptions(address, token, opts)
	defer client.Close()
	api := client.QueryAPI(org)
	wait := backoff
	for attempt := 1; ; attempt++ {
		values, err := func() ([]any, error) {
			res, err := api.Query(ctx, flux)
			if err != nil {
				return nil, err
			}
			defer func() { _ = res.Close() }()
			var values []any
			for res.Next() {
				values = append(values, res.Record().Value())
			}
			return values, res.Err()
		}()
		if err == nil || attempt >= Attempts || !retryable(err) {
			return values, describe(ctx, err)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return nil, describe(ctx, err)
		}
		select {
		case <-ctx.Done():
			return nil, describe(ctx, err)
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// retryable says whether a query's failure can pass: InfluxDB busy or unreachable.
func retryable(err error) bool {
	var he *influxhttp.Error
	if errors.As(err, &he) {
		switch he.StatusCode {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// describe words a query's error: a timeout, or InfluxDB's status and message.
func describe(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errors.New("no answer in time")
	}
	var he *influxhttp.Error
	if errors.As(err, &he) && he.StatusCode != 0 {
		msg := fmt.Sprintf("HTTP %d %s", he.StatusCode, http.StatusText(he.StatusCode))
		if he.Code != "" || he.Message != "" {
			msg += ": " + strings.TrimSpace(he.Code+" "+he.Message)
		}
		if he.StatusCode == http.StatusUnauthorized || he.StatusCode == http.StatusForbidden {
			msg += ": check the authToken and org"
		}
		return errors.New(msg)
	}
	return err
}
