package metrics

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"k8s.io/utils/clock"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// errNoValues is a query that returned no value (or NaN); its text is Flagger's.
var errNoValues = errors.New("no values found")

// queryTimeout bounds every request to a metrics provider, as Flagger's 5 s.
const queryTimeout = 5 * time.Second

// maxBody bounds what is read of a provider's answer.
const maxBody = 16 << 20

// provider runs the queries of a MetricTemplate.
type provider interface {
	// query returns the query's value; errNoValues (wrapped) when there is none.
	query(ctx context.Context, q string) (float64, error)
	// online reports why the provider cannot be queried, nil when it can.
	online(ctx context.Context) error
}

// newProvider builds the provider of a MetricTemplate as Flagger's factory does: prometheus
// for its own type and for any type Flagger does not know.
func (c *Checker) newProvider(interval string, p flaggerv1.MetricProvider, creds map[string][]byte) (provider, error) {
	switch p.Type {
	case "datadog":
		return newDatadog(c.Client, c.clock(), interval, p, creds)
	case "newrelic":
		return newNewRelic(c.Client, interval, p, creds)
	case "dynatrace":
		return newDynatrace(c.Client, c.clock(), interval, p, creds)
	case "cloudwatch", "graphite", "stackdriver", "influxdb":
		return nil, fmt.Errorf("metric provider %s is not supported by Vane yet", p.Type)
	default:
		return newPrometheus(c.Client, p, creds)
	}
}

func (c *Checker) clock() clock.PassiveClock {
	if c.Clock == nil {
		return clock.RealClock{}
	}
	return c.Clock
}

// httpClient is base (http.DefaultClient when nil), or a copy of it that skips TLS
// verification. The copy keeps no idle connections: it lives for one check.
func httpClient(base *http.Client, insecure *bool) (*http.Client, error) {
	if base == nil {
		base = http.DefaultClient
	}
	if insecure == nil || !*insecure {
		return base, nil
	}
	var t *http.Transport
	switch rt := base.Transport.(type) {
	case nil:
		t = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		t = rt.Clone()
	default:
		return nil, fmt.Errorf("insecureSkipVerify needs an *http.Transport, the controller's client has a %T", rt)
	}
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	t.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // the MetricTemplate asks for it
	t.DisableKeepAlives = true
	c := *base
	c.Transport = t
	return &c, nil
}

// readBody reads an answer, up to maxBody.
func readBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBody))
	if err != nil {
		return nil, fmt.Errorf("error reading body: %w", err)
	}
	return b, nil
}
