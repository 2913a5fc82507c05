// Package prometheus measures a metric with a PromQL query against Prometheus' HTTP API.
//
// The result the conditions see: an instant vector is a list of its sample values (so
// `result[0]`), a scalar is a number, a range of samples (a matrix, from a range query or a
// range selector) is the flat list of every sample value (so `all(result, # < 1000)`), a string
// is a string. A query that matches no series gives an empty list.
//
// A metric's rangeQuery makes it a range query (POST /api/v1/query_range): start and end are expr
// expressions of a time evaluated with now() from the Provider's clock. authentication.oauth2
// gets a token from the token endpoint before each query, basicAuth sends a user and password,
// and sigv4 signs the query with AWS credentials for Amazon Managed Prometheus (see package
// auth).
package prometheus

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"k8s.io/utils/clock"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/auth"
)

// DefaultTimeout bounds a query whose metric sets no timeout.
const DefaultTimeout = 30 * time.Second

// ResolvedQueryKey is the metric metadata key of the query as sent (placeholders substituted).
const ResolvedQueryKey = "ResolvedPrometheusQuery"

// Provider queries Prometheus servers.
type Provider struct {
	// Clock gives now() to range query bounds.
	Clock clock.PassiveClock
	// SigV4 signs the queries of metrics with authentication.sigv4.
	SigV4            *auth.SigV4
	secure, insecure *http.Transport
}

// New returns a Prometheus Provider whose range queries take their time from clk.
func New(clk clock.PassiveClock) *Provider {
	secure := http.DefaultTransport.(*http.Transport).Clone()
	insecure := secure.Clone()
	insecure.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the metric asks for it with insecure: true
	return &Provider{Clock: clk, SigV4: &auth.SigV4{}, secure: secure, insecure: insecure}
}

// RangeQuery asks for the samples of a time range instead of one instant.
type RangeQuery struct {
	// Start and End are expr expressions of a time, e.g. `now() - duration("5m")` and `now()`.
	Start, End string
	// Step is the resolution: a duration (`1m`) or a number of seconds.
	Step string
}

// Query is one query to run.
type Query struct {
	Address  string
	Query    string
	Timeout  time.Duration
	Headers  []v1alpha1.WebMetricHeader
	Insecure bool
	// Range, when set, makes it a range query.
	Range *RangeQuery
	// Authentication of the request (oauth2, basicAuth or sigv4).
	Authentication v1alpha1.Authentication
}

// QueryOf returns the query a prometheus metric describes.
func QueryOf(m *v1alpha1.PrometheusMetric) Query {
	q := Query{Address: m.Address, Query: m.Query, Headers: m.Headers, Insecure: m.Insecure, Timeout: DefaultTimeout,
		Authentication: m.Authentication}
	if m.Timeout != nil && *m.Timeout > 0 {
		q.Timeout = time.Duration(*m.Timeout) * time.Second
	}
	if r := m.RangeQuery; r != nil {
		q.Range = &RangeQuery{Start: r.Start, End: r.End, Step: r.Step}
	}
	return q
}

// Measure implements provider.Provider.
func (p *Provider) Measure(ctx context.Context, _ *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) (provider.Result, error) {
	m := metric.Provider.Prometheus
	if m == nil {
		return provider.Result{}, fmt.Errorf("the metric has no prometheus provider")
	}
	return p.Run(ctx, QueryOf(m))
}

// Run runs q and returns its result.
func (p *Provider) Run(ctx context.Context, q Query) (provider.Result, error) {
	meta := map[string]string{ResolvedQueryKey: q.Query}
	if strings.TrimSpace(q.Address) == "" {
		return provider.Result{MetricMetadata: meta}, fmt.Errorf("prometheus: no address")
	}
	form := url.Values{"query": {q.Query}}
	endpoint := "/api/v1/query"
	if q.Range != nil {
		endpoint = "/api/v1/query_range"
		start, end, step, err := p.bounds(q.Range)
		if err != nil {
			// the same expressions give the same error at the next measurement
			return provider.Result{MetricMetadata: meta}, provider.Permanent(err)
		}
		form.Set("start", formatTime(start))
		form.Set("end", formatTime(end))
		form.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
		meta["RangeQuery"] = fmt.Sprintf("start=%s end=%s step=%s", start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), step)
	}
	if q.Timeout > 0 {
		form.Set("timeout", q.Timeout.String())
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, q.Timeout)
		defer cancel()
	}
	target := strings.TrimRight(q.Address, "/") + endpoint
	encoded := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(encoded))
	if err != nil {
		return provider.Result{MetricMetadata: meta}, fmt.Errorf("prometheus: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, h := range q.Headers {
		req.Header.Add(h.Key, h.Value)
	}
	transport := p.secure
	if q.Insecure {
		transport = p.insecure
	}
	client := &http.Client{Transport: transport}
	if err := p.authenticate(ctx, client, q.Authentication, req, encoded); err != nil {
		return provider.Result{MetricMetadata: meta}, fmt.Errorf("prometheus: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return provider.Result{MetricMetadata: meta}, fmt.Errorf("prometheus: no answer from %s within %s", q.Address, q.Timeout)
		}
		return provider.Result{MetricMetadata: meta}, fmt.Errorf("prometheus at %s is unreachable: %w", q.Address, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 50<<20))
	if err != nil {
		return provider.Result{MetricMetadata: meta}, fmt.Errorf("prometheus: reading the answer: %w", err)
	}
	res, err := parse(resp.StatusCode, body)
	res.MetricMetadata = meta
	return res, err
}

// authenticate applies the query's authentication once its headers are set: an oauth2 token
// or basic authentication replaces an Authorization header, and a SigV4 signature, computed
// last, covers the headers and the body.
func (p *Provider) authenticate(ctx context.Context, client *http.Client, a v1alpha1.Authentication, req *http.Request, body string) error {
	sig := a.Sigv4
	a.Sigv4 = v1alpha1.Sigv4Config{}
	if err := auth.Apply(ctx, client, &a, req); err != nil {
		return err
	}
	if sig.IsZero() {
		return nil
	}
	signer := p.SigV4
	if signer == nil {
		signer = &auth.SigV4{}
	}
	return signer.Sign(ctx, sig, auth.PrometheusService, req, []byte(body))
}

// bounds evaluates a range query's start, end and step.
func (p *Provider) bounds(r *RangeQuery) (start, end time.Time, step time.Duration, err error) {
	now := p.Clock.Now()
	at := func(what, s string) (time.Time, error) {
		if strings.TrimSpace(s) == "" {
			return now, nil
		}
		prog, err := expr.Compile(s, expr.Function("now", func(...any) (any, error) { return now, nil }, new(func() time.Time)))
		if err != nil {
			return time.Time{}, fmt.Errorf("prometheus: rangeQuery.%s %q: %w", what, s, err)
		}
		out, err := expr.Run(prog, nil)
		if err != nil {
			return time.Time{}, fmt.Errorf("prometheus: rangeQuery.%s %q: %w", what, s, err)
		}
		t, ok := out.(time.Time)
		if !ok {
			return time.Time{}, fmt.Errorf("prometheus: rangeQuery.%s %q gives %T, not a time", what, s, out)
		}
		return t, nil
	}
	if start, err = at("start", r.Start); err != nil {
		return
	}
	if end, err = at("end", r.End); err != nil {
		return
	}
	if step, err = v1alpha1.DurationFromString(r.Step).Duration(); err != nil || step <= 0 {
		return start, end, 0, fmt.Errorf("prometheus: rangeQuery.step %q: give a positive duration such as 1m", r.Step)
	}
	if end.Before(start) {
		return start, end, 0, fmt.Errorf("prometheus: rangeQuery ends (%s) before it starts (%s)", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	return start, end, step, nil
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// apiResponse is the envelope of Prometheus' HTTP API.
type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
	Warnings []string `json:"warnings"`
}

type sample [2]any // [unix time, "value"]

func (s sample) value() (float64, string, error) {
	str, ok := s[1].(string)
	if !ok {
		return 0, "", fmt.Errorf("sample value %v is not a string", s[1])
	}
	f, err := strconv.ParseFloat(str, 64)
	return f, str, err
}

// parse turns an HTTP answer of Prometheus into a Result.
func parse(status int, body []byte) (provider.Result, error) {
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		snippet := strings.TrimSpace(string(body))
		if len(snippet) > 200 {
			snippet = snippet[:200] + "..."
		}
		return provider.Result{}, fmt.Errorf("prometheus: HTTP %d, not an API answer: %q", status, snippet)
	}
	if r.Status != "success" {
		return provider.Result{}, fmt.Errorf("prometheus: the query failed (HTTP %d, %s): %s", status, r.ErrorType, r.Error)
	}
	var res provider.Result
	switch r.Data.ResultType {
	case "vector":
		var v []struct {
			Value sample `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &v); err != nil {
			return res, fmt.Errorf("prometheus: reading a vector: %w", err)
		}
		values, shown := []float64{}, []string{}
		for _, s := range v {
			f, str, err := s.Value.value()
			if err != nil {
				return res, fmt.Errorf("prometheus: %w", err)
			}
			values, shown = append(values, f), append(shown, str)
		}
		res.Value, res.Display = values, "["+strings.Join(shown, ",")+"]"
	case "matrix":
		var m []struct {
			Values []sample `json:"values"`
		}
		if err := json.Unmarshal(r.Data.Result, &m); err != nil {
			return res, fmt.Errorf("prometheus: reading a matrix: %w", err)
		}
		values, shown := []float64{}, []string{}
		for _, series := range m {
			for _, s := range series.Values {
				f, str, err := s.value()
				if err != nil {
					return res, fmt.Errorf("prometheus: %w", err)
				}
				values, shown = append(values, f), append(shown, str)
			}
		}
		res.Value, res.Display = values, "["+strings.Join(shown, ",")+"]"
	case "scalar":
		var s sample
		if err := json.Unmarshal(r.Data.Result, &s); err != nil {
			return res, fmt.Errorf("prometheus: reading a scalar: %w", err)
		}
		f, str, err := s.value()
		if err != nil {
			return res, fmt.Errorf("prometheus: %w", err)
		}
		res.Value, res.Display = f, str
	case "string":
		var s sample
		if err := json.Unmarshal(r.Data.Result, &s); err != nil {
			return res, fmt.Errorf("prometheus: reading a string: %w", err)
		}
		str, _ := s[1].(string)
		res.Value, res.Display = str, str
	default:
		return res, fmt.Errorf("prometheus: unknown result type %q", r.Data.ResultType)
	}
	return res, nil
}
