// Package skywalking measures a metric with a GraphQL query to Apache SkyWalking's OAP server,
// as Argo Rollouts' SkyWalking provider does.
//
// `query` is POSTed to <address>/graphql with one variable, `$duration: Duration!`, the
// window of `interval` ending now, by the minute ({start, end: "2006-01-02 1504", step:
// MINUTE}, in the controller's time zone). The result is the answer's `data`, as decoded from
// JSON, so a condition walks the shape the query asked for, e.g.
// `all(result.service_apdex.values.values, {asFloat(.value) >= 9900})`. GraphQL errors, or
// no data, are an error. Queries are bounded by DefaultTimeout and retried while they can
// pass (package apicall).
package skywalking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/apicall"
)

// DefaultTimeout bounds a query (Argo's).
const DefaultTimeout = 30 * time.Second

// timeLayout is SkyWalking's minute-step time format.
const timeLayout = "2006-01-02 1504"

// Provider queries SkyWalking.
type Provider struct {
	// Clock gives the end of the queried window.
	Clock clock.PassiveClock
	// HTTP sends the requests (http.DefaultClient when nil).
	HTTP *http.Client
	// Timeout bounds a query (DefaultTimeout when 0).
	Timeout time.Duration
}

// New returns a SkyWalking Provider taking its time from clk.
func New(clk clock.PassiveClock) *Provider { return &Provider{Clock: clk} }

// duration is SkyWalking's Duration input.
type duration struct {
	Start string `json:"start"`
	End   string `json:"end"`
	Step  string `json:"step"`
}

// Measure implements provider.Provider.
func (p *Provider) Measure(ctx context.Context, _ *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) (provider.Result, error) {
	s := metric.Provider.SkyWalking
	if s == nil {
		return provider.Result{}, errors.New("the metric has no skywalking provider")
	}
	if s.Interval == nil {
		return provider.Result{}, provider.Permanent(errors.New("skywalking.interval: give the window the query covers, e.g. 5m"))
	}
	span, err := s.Interval.Duration()
	if err != nil || span <= 0 {
		return provider.Result{}, provider.Permanent(fmt.Errorf("skywalking.interval %q: give a positive duration such as 5m", s.Interval.String()))
	}
	base, err := url.Parse(strings.TrimSpace(s.Address))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return provider.Result{}, provider.Permanent(fmt.Errorf("skywalking.address %q is not an http:// or https:// URL", s.Address))
	}
	now := p.Clock.Now()
	body, err := json.Marshal(map[string]any{"query": s.Query, "variables": map[string]any{
		"duration": duration{Start: now.Add(-span).Format(timeLayout), End: now.Format(timeLayout), Step: "MINUTE"}}})
	if err != nil {
		return provider.Result{}, fmt.Errorf("skywalking: encoding the query: %w", err)
	}
	call := apicall.Call{API: "skywalking", Method: http.MethodPost, URL: strings.TrimRight(base.String(), "/") + "/graphql", Body: body,
		Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Accept": {"application/json; charset=utf-8"}}}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := apicall.Do(ctx, p.HTTP, call)
	if err != nil {
		return provider.Result{}, err
	}
	return parse(call, resp)
}

// answer is a GraphQL answer.
type answer struct {
	Data   any `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

// parse reads a GraphQL answer: its errors, or its data.
func parse(call apicall.Call, resp *apicall.Response) (provider.Result, error) {
	var a answer
	if err := json.Unmarshal(resp.Body, &a); err != nil {
		if !resp.OK() {
			return provider.Result{}, call.StatusError(resp)
		}
		return provider.Result{}, call.Errorf("the answer is not a GraphQL answer (%v)%s", err, apicall.Excerpt(resp.Body))
	}
	if len(a.Errors) > 0 {
		msgs := make([]string, len(a.Errors))
		for i, e := range a.Errors {
			msgs[i] = e.Message
		}
		return provider.Result{}, call.Errorf("the query failed: %s", strings.Join(msgs, "; "))
	}
	if !resp.OK() {
		return provider.Result{}, call.StatusError(resp)
	}
	if a.Data == nil {
		return provider.Result{}, call.Errorf("no results returned from the query")
	}
	b, err := json.Marshal(a.Data)
	if err != nil {
		return provider.Result{}, call.Errorf("encoding the result: %v", err)
	}
	return provider.Result{Value: a.Data, Display: string(b)}, nil
}
