// Package webhook calls a Canary's webhooks as Flagger does: a JSON POST of the Canary's name,
// namespace, phase, checksum and the webhook's metadata, retried up to the webhook's retries,
// each attempt bounded by its timeout (10s by default; 5s for event webhooks). An answer above
// 202 is a refusal whose error is the answer's body.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// Payload is the body of a webhook call (Flagger's CanaryWebhookPayload).
type Payload struct {
	Name      string                `json:"name"`
	Namespace string                `json:"namespace"`
	Phase     flaggerv1.CanaryPhase `json:"phase"`
	Checksum  string                `json:"checksum"`
	Metadata  map[string]string     `json:"metadata,omitempty"`
}

// Defaults of Flagger's calls.
const (
	DefaultTimeout = 10 * time.Second
	EventTimeout   = 5 * time.Second
	// maxBody bounds how much of an answer is read into an error.
	maxBody = 4 << 10
)

// Caller calls webhooks through Client (http.DefaultClient's transport when nil).
type Caller struct {
	Client *http.Client
}

// Call calls webhook w about the Canary in phase with checksum.
func (c *Caller) Call(ctx context.Context, cd *flaggerv1.Canary, phase flaggerv1.CanaryPhase, checksum string, w flaggerv1.CanaryWebhook) error {
	p := Payload{Name: cd.Name, Namespace: cd.Namespace, Phase: phase, Checksum: checksum, Metadata: w.Metadata}
	timeout := DefaultTimeout
	if len(w.Timeout) >= 2 {
		d, err := time.ParseDuration(w.Timeout)
		if err != nil {
			return fmt.Errorf("webhook %s: timeout %q: %w", w.Name, w.Timeout, err)
		}
		timeout = d
	}
	return c.post(ctx, w, p, timeout)
}

// Event sends an event to an event webhook: its metadata carries the message, the event's
// type and a millisecond timestamp, then the webhook's own metadata (which cannot override them).
func (c *Caller) Event(ctx context.Context, cd *flaggerv1.Canary, phase flaggerv1.CanaryPhase, checksum string,
	w flaggerv1.CanaryWebhook, message, eventType string, now time.Time) error {
	md := map[string]string{"eventMessage": message, "eventType": eventType,
		"timestamp": strconv.FormatInt(now.UnixMilli(), 10)}
	for k, v := range w.Metadata {
		if _, taken := md[k]; !taken {
			md[k] = v
		}
	}
	return c.post(ctx, w, Payload{Name: cd.Name, Namespace: cd.Namespace, Phase: phase, Checksum: checksum, Metadata: md}, EventTimeout)
}

func (c *Caller) post(ctx context.Context, w flaggerv1.CanaryWebhook, p Payload, timeout time.Duration) error {
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.Name, err)
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook %s: url %q is not an http(s) URL", w.Name, w.URL)
	}
	rc := retryablehttp.NewClient()
	rc.Logger = nil
	rc.RetryMax = 0
	if w.Retries != nil {
		rc.RetryMax = int(*w.Retries)
	}
	rc.RetryWaitMin, rc.RetryWaitMax = 100*time.Millisecond, 2*time.Second
	rc.HTTPClient = &http.Client{Timeout: timeout}
	if c.Client != nil {
		rc.HTTPClient.Transport = c.Client.Transport
	}
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := rc.Do(req)
	if err != nil {
		return unwrapURL(err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("error reading body: %w", err)
	}
	if resp.StatusCode > http.StatusAccepted {
		return errors.New(strings.TrimSpace(string(text)))
	}
	return nil
}

// unwrapURL keeps a transport error's cause and the method and URL it names.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %q: %w", ue.Op, ue.URL, ue.Err)
	}
	return err
}
