// Package graphite measures a metric with a Graphite render query, as Argo Rollouts' Graphite
// provider does.
//
// `query` is the query string of Graphite's render API without its whitespace (e.g.
// `target=summarize(...)&from=-5min`); it is sent as GET <address>/render?<query>&format=json.
// The result is the list of the first target's non-null values (so `result[0] >= 90`); the
// measurement's value shows them with six decimals, as Argo does. A target without data
// points, or no target, is an error. Calls are bounded by DefaultTimeout and retried while
// they can pass (package apicall).
package graphite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/apicall"
)

// DefaultTimeout bounds a query (Argo's client timeout).
const DefaultTimeout = 10 * time.Second

// Provider queries Graphite.
type Provider struct {
	// HTTP sends the requests (http.DefaultClient when nil).
	HTTP *http.Client
	// Timeout bounds a query (DefaultTimeout when 0).
	Timeout time.Duration
}

// New returns a Graphite Provider.
func New() *Provider { return &Provider{} }

var whitespace = regexp.MustCompile(`\s+`)

// Measure implements provider.Provider.
func (p *Provider) Measure(ctx context.Context, _ *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) (provider.Result, error) {
	g := metric.Provider.Graphite
	if g == nil {
		return provider.Result{}, errors.New("the metric has no graphite provider")
	}
	target, err := renderURL(g.Address, g.Query)
	if err != nil {
		return provider.Result{}, provider.Permanent(err)
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	call := apicall.Call{API: "graphite", Method: http.MethodGet, URL: target, Header: http.Header{"Accept": {"application/json"}}}
	resp, err := apicall.Do(ctx, p.HTTP, call)
	if err != nil {
		return provider.Result{}, err
	}
	if !resp.OK() {
		return provider.Result{}, call.StatusError(resp)
	}
	return parse(call, resp.Body)
}

// renderURL returns the render API URL of a query.
func renderURL(address, query string) (string, error) {
	base, err := url.Parse(strings.TrimSpace(address))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return "", fmt.Errorf("graphite.address %q is not an http:// or https:// URL", address)
	}
	values, err := url.ParseQuery(whitespace.ReplaceAllLiteralString(query, ""))
	if err != nil {
		return "", fmt.Errorf("graphite.query is not a query string such as target=...&from=-5min: %w", err)
	}
	values.Set("format", "json")
	base.Path = path.Join(base.Path, "render")
	base.RawQuery = values.Encode()
	return base.String(), nil
}

// target is one series of a render answer.
type target struct {
	Target     string      `json:"target"`
	Datapoints []datapoint `json:"datapoints"`
}

// datapoint is [value, timestamp]; the value is null when there is no data.
type datapoint struct {
	value *float64
}

// UnmarshalJSON reads [value, timestamp], value a number, a numeric string or null.
func (d *datapoint) UnmarshalJSON(b []byte) error {
	var pair []any
	if err := json.Unmarshal(b, &pair); err != nil {
		return err
	}
	if len(pair) != 2 {
		return fmt.Errorf("a data point %s is not [value, timestamp]", b)
	}
	switch v := pair[0].(type) {
	case nil:
	case float64:
		d.value = &v
	case string:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("the value %q of a data point is not a number", v)
		}
		d.value = &f
	default:
		return fmt.Errorf("the value %v of a data point is not a number", v)
	}
	return nil
}

// parse reads the first target's values.
func parse(call apicall.Call, body []byte) (provider.Result, error) {
	var targets []target
	if err := json.Unmarshal(body, &targets); err != nil {
		return provider.Result{}, call.Errorf("the answer is not a render result (%v)%s", err, apicall.Excerpt(body))
	}
	if len(targets) == 0 || len(targets[0].Datapoints) == 0 {
		return provider.Result{}, call.Errorf("no values found: the query matched no series, or none with data points")
	}
	values, shown := []float64{}, []string{}
	for _, dp := range targets[0].Datapoints {
		if dp.value == nil || math.IsNaN(*dp.value) {
			continue
		}
		values = append(values, *dp.value)
		shown = append(shown, fmt.Sprintf("%f", *dp.value))
	}
	return provider.Result{Value: values, Display: "[" + strings.Join(shown, ",") + "]"}, nil
}
