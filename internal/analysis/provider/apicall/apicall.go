// Package apicall sends the HTTP requests of the metric providers that speak to a service's
// API (Datadog, Graphite, Kayenta, SkyWalking, Wavefront): one request, retried while its
// failure can pass, within the caller's deadline, and errors that quote the answer without
// the credentials.
//
// What is retried: an answer 429 Too Many Requests, 502, 503 or 504 (the service did not act
// on the request), and a connection that could not be opened. Another status, or a
// connection lost once the request was sent, is returned at once: sending it again could do
// the work twice or fail the same way. Between attempts it waits Retry-After when the
// service gave one, else a growing delay, and never past the context's deadline.
package apicall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vanedev/vane/internal/analysis"
)

// MaxBody is the largest answer read.
const MaxBody = 20 << 20

// Defaults of Call.
const (
	// DefaultAttempts is the number of attempts of a call that sets none.
	DefaultAttempts = 3
	// DefaultBackoff is the wait before the second attempt (doubled after each one).
	DefaultBackoff = 500 * time.Millisecond
	// maxRetryAfter caps a Retry-After the service asks for.
	maxRetryAfter = 10 * time.Second
)

// Call is one request to an API.
type Call struct {
	// API names the service in messages, e.g. "datadog".
	API string
	// Method, URL, Header and Body make the request.
	Method string
	URL    string
	Header http.Header
	Body   []byte
	// Secrets are values (API keys, tokens) removed from every message.
	Secrets []string
	// Attempts bounds the attempts (DefaultAttempts when 0); Backoff is the first wait
	// between two (DefaultBackoff when 0).
	Attempts int
	Backoff  time.Duration
}

// Response is the final answer to a call.
type Response struct {
	StatusCode int
	Status     string
	Header     http.Header
	Body       []byte
	// Attempts is the number of requests sent.
	Attempts int
}

// OK reports whether the status is 2xx.
func (r *Response) OK() bool { return r.StatusCode >= 200 && r.StatusCode <= 299 }

// Do sends the call with client (http.DefaultClient when nil) and returns the last answer,
// whatever its status; the error says why there is none. ctx's deadline bounds every attempt
// and every wait.
func Do(ctx context.Context, client *http.Client, c Call) (*Response, error) {
	if client == nil {
		client = http.DefaultClient
	}
	attempts, wait := c.Attempts, c.Backoff
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	if wait <= 0 {
		wait = DefaultBackoff
	}
	for n := 1; ; n++ {
		resp, err := send(ctx, client, c)
		if resp != nil {
			resp.Attempts = n
		}
		retry, delay := retryable(resp, err)
		if !retry || n >= attempts {
			return resp, c.describe(ctx, err)
		}
		if delay <= 0 {
			delay = wait
			wait *= 2
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < delay {
			return resp, c.describe(ctx, err) // no time left for another attempt
		}
		select {
		case <-ctx.Done():
			return resp, c.describe(ctx, err)
		case <-time.After(delay):
		}
	}
}

// send makes one attempt.
func send(ctx context.Context, client *http.Client, c Call) (*Response, error) {
	var body io.Reader
	if c.Body != nil {
		body = bytes.NewReader(c.Body)
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, c.URL, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range c.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	return &Response{StatusCode: resp.StatusCode, Status: resp.Status, Header: resp.Header, Body: data}, nil
}

// retryable says whether an attempt's failure can pass, and how long the service asked to
// wait (0: not said).
func retryable(resp *Response, err error) (bool, time.Duration) {
	if err != nil {
		var op *net.OpError
		return errors.As(err, &op) && op.Op == "dial", 0
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true, retryAfter(resp.Header.Get("Retry-After"))
	}
	return false, 0
}

// retryAfter reads a Retry-After header in seconds or as an HTTP date.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(v); err == nil {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	return min(max(d, 0), maxRetryAfter)
}

// describe turns a transport error into a message naming the API and the URL.
func (c Call) describe(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return errors.New(c.scrub(fmt.Sprintf("%s: no answer from %s in time", c.API, c.URL)))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // without url.Error's repetition of the method and URL
	}
	return errors.New(c.scrub(fmt.Sprintf("%s: %s %s: %v", c.API, c.Method, c.URL, err)))
}

// StatusError returns the error of an answer that is not 2xx: the API, the request, the
// status and the start of the body, without the call's secrets.
func (c Call) StatusError(r *Response) error {
	msg := fmt.Sprintf("%s: %s %s answered %s%s", c.API, c.Method, c.URL, r.Status, Excerpt(r.Body))
	if r.Attempts > 1 {
		msg += fmt.Sprintf(" (after %d attempts)", r.Attempts)
	}
	if r.StatusCode == http.StatusUnauthorized || r.StatusCode == http.StatusForbidden {
		msg += ": check the credentials"
	}
	return errors.New(c.scrub(msg))
}

// Errorf formats an error about the call's answer, without the call's secrets.
func (c Call) Errorf(format string, args ...any) error {
	return errors.New(c.scrub(c.API + ": " + fmt.Sprintf(format, args...)))
}

func (c Call) scrub(s string) string { return analysis.Scrub(s, c.Secrets) }

// Excerpt quotes the start of an answer for a message (empty for an empty answer).
func Excerpt(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return ""
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return fmt.Sprintf(": %q", s)
}
