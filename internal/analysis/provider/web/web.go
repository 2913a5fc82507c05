// Package web measures a metric with an HTTP request: the JSON answer, or the part of it that
// jsonPath selects, is the result. authentication.oauth2 gets a token from the token endpoint
// before each call, basicAuth sends a user and password (see package auth); sigv4 is refused.
package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/util/jsonpath"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/auth"
)

// maxBody is the largest answer read: a larger one is an error, read no further, so that a
// metric endpoint that answers too much costs at most this much memory per measurement.
const maxBody = 10 << 20

// Provider calls web metrics' URLs.
type Provider struct {
	secure, insecure *http.Transport
}

// New returns a web Provider. Connections are pooled between measurements.
func New() *Provider {
	secure := http.DefaultTransport.(*http.Transport).Clone()
	insecure := secure.Clone()
	insecure.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the metric asks for it with insecure: true
	return &Provider{secure: secure, insecure: insecure}
}

// Measure implements provider.Provider.
func (p *Provider) Measure(ctx context.Context, _ *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) (provider.Result, error) {
	w := metric.Provider.Web
	if w == nil {
		return provider.Result{}, fmt.Errorf("the metric has no web provider")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(w.EffectiveTimeoutSeconds())*time.Second)
	defer cancel()
	var body io.Reader
	switch {
	case len(w.JSONBody) > 0:
		body = bytes.NewReader(w.JSONBody)
	case w.Body != "":
		body = strings.NewReader(w.Body)
	}
	req, err := http.NewRequestWithContext(ctx, string(w.EffectiveMethod()), w.URL, body)
	if err != nil {
		return provider.Result{}, fmt.Errorf("web: %w", err)
	}
	for _, h := range w.Headers {
		if strings.EqualFold(h.Key, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Key, h.Value)
	}
	if len(w.JSONBody) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	transport := p.secure
	if w.Insecure {
		transport = p.insecure
	}
	client := &http.Client{Transport: transport}
	// after the headers: an oauth2 token or basic authentication replaces an Authorization
	// header (a sigv4 or basicAuth error stays permanent through the wrapping)
	if err := auth.Apply(ctx, client, &w.Authentication, req); err != nil {
		return provider.Result{}, fmt.Errorf("web: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return provider.Result{}, fmt.Errorf("web: no answer from %s within %ds (timeoutSeconds)", w.URL, w.EffectiveTimeoutSeconds())
		}
		return provider.Result{}, fmt.Errorf("web: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := readBody(resp, w.URL)
	if err != nil {
		return provider.Result{}, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return provider.Result{}, fmt.Errorf("web: %s %s answered %s%s", req.Method, w.URL, resp.Status, excerpt(data))
	}
	return Parse(data, w.EffectiveJSONPath())
}

// readBody reads an answer of at most maxBody bytes; a larger one is an error, refused from
// its Content-Length when it has one.
func readBody(resp *http.Response, url string) ([]byte, error) {
	tooLarge := fmt.Errorf("web: the answer of %s is larger than %d MiB, the most a web metric reads", url, maxBody>>20)
	if resp.ContentLength > maxBody {
		return nil, tooLarge
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("web: reading the answer of %s: %w", url, err)
	}
	if len(data) > maxBody {
		return nil, tooLarge
	}
	return data, nil
}

// Parse reads a JSON answer and selects the result with a JSONPath expression (as kubectl's
// -o jsonpath, e.g. {$.status}). One match is the result; several make a list.
func Parse(data []byte, path string) (provider.Result, error) {
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return provider.Result{}, fmt.Errorf("web: the answer is not JSON (%v)%s", err, excerpt(data))
	}
	jp := jsonpath.New("metric")
	if err := jp.Parse(path); err != nil {
		return provider.Result{}, fmt.Errorf("web: jsonPath %s: %w", path, err)
	}
	found, err := jp.FindResults(doc)
	if err != nil {
		return provider.Result{}, fmt.Errorf("web: jsonPath %s in %s: %w", path, excerpt(data), err)
	}
	var values []any
	for _, group := range found {
		for _, v := range group {
			values = append(values, v.Interface())
		}
	}
	var value any
	switch len(values) {
	case 0:
		return provider.Result{}, fmt.Errorf("web: jsonPath %s matches nothing in%s", path, excerpt(data))
	case 1:
		value = values[0]
	default:
		value = values
	}
	return provider.Result{Value: value, Display: display(value)}, nil
}

func display(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// excerpt quotes the start of an answer for an error message.
func excerpt(data []byte) string {
	s := strings.TrimSpace(string(data))
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return fmt.Sprintf(": %q", s)
}
