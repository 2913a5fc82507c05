package apicall

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// dialFailure is a transport whose connections cannot be opened.
type dialFailure struct{ calls atomic.Int32 }

func (d *dialFailure) RoundTrip(*http.Request) (*http.Response, error) {
	d.calls.Add(1)
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
}

// lostConnection is a transport whose connection drops once the request is sent.
type lostConnection struct{ calls atomic.Int32 }

func (l *lostConnection) RoundTrip(*http.Request) (*http.Response, error) {
	l.calls.Add(1)
	return nil, &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
}

// TestTransportErrors checks that a connection that could not be opened is retried and one
// lost after sending is not, and that the message names the API and the URL, not the secret.
func TestTransportErrors(t *testing.T) {
	dial, lost := &dialFailure{}, &lostConnection{}
	for name, tc := range map[string]struct {
		transport http.RoundTripper
		calls     *atomic.Int32
		wantCalls int32
		wantErr   string
	}{
		"dial errors are retried":  {transport: dial, calls: &dial.calls, wantCalls: 3, wantErr: "graphite: GET http://graphite.invalid/render?token=*****: dial tcp: connection refused"},
		"a lost connection is not": {transport: lost, calls: &lost.calls, wantCalls: 1, wantErr: "graphite: GET http://graphite.invalid/render?token=*****: read tcp: connection reset by peer"},
	} {
		t.Run(name, func(t *testing.T) {
			c := Call{API: "graphite", Method: "GET", URL: "http://graphite.invalid/render?token=s3cr3t", Secrets: []string{"s3cr3t"}, Backoff: time.Millisecond}
			_, err := Do(context.Background(), &http.Client{Transport: tc.transport}, c)
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
			if n := tc.calls.Load(); n != tc.wantCalls {
				t.Errorf("%d attempts, want %d", n, tc.wantCalls)
			}
		})
	}
}

// TestRetryAfter checks that the wait the service asks for is kept, and that no attempt is
// made when the deadline would pass first.
func TestRetryAfter(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	for name, tc := range map[string]struct {
		timeout      time.Duration
		wantCalls    int32
		wantAtMost   time.Duration
		wantAttempts int
	}{
		"the deadline comes before the wait": {timeout: time.Second, wantCalls: 1, wantAtMost: 900 * time.Millisecond, wantAttempts: 1},
	} {
		t.Run(name, func(t *testing.T) {
			calls.Store(0)
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			start := time.Now()
			resp, err := Do(ctx, nil, Call{API: "wavefront", Method: "GET", URL: srv.URL})
			if err != nil || resp.StatusCode != http.StatusTooManyRequests || resp.Attempts != tc.wantAttempts {
				t.Fatalf("resp %+v, err %v", resp, err)
			}
			if calls.Load() != tc.wantCalls || time.Since(start) > tc.wantAtMost {
				t.Errorf("%d calls in %s", calls.Load(), time.Since(start))
			}
			if msg := (Call{API: "wavefront", Method: "GET", URL: srv.URL}).StatusError(resp).Error(); !strings.Contains(msg, "answered 429 Too Many Requests") {
				t.Errorf("message %q", msg)
			}
		})
	}
	for name, tc := range map[string]struct {
		header string
		want   time.Duration
	}{
		"seconds":        {header: "3", want: 3 * time.Second},
		"capped":         {header: "3600", want: maxRetryAfter},
		"none":           {header: "", want: 0},
		"garbage":        {header: "soon", want: 0},
		"a date in past": {header: "Mon, 02 Jan 2006 15:04:05 GMT", want: 0},
	} {
		t.Run("Retry-After "+name, func(t *testing.T) {
			if got := retryAfter(tc.header); got != tc.want {
				t.Errorf("retryAfter(%q) = %s, want %s", tc.header, got, tc.want)
			}
		})
	}
}
