package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxSnippet is how much of an error answer's body an error quotes.
const maxSnippet = 200

// webhook is a Notifier that posts a JSON body to one address.
type webhook struct {
	kind              string
	addr              *url.URL
	token             string
	username, channel string
	client            *http.Client
	build             builder
}

// Post sends m as the provider type's JSON body. Errors never hold the address's path or
// query, nor the token.
func (n *webhook) Post(ctx context.Context, m Message) error {
	body, err := json.Marshal(n.build(n, m))
	if err != nil {
		return fmt.Errorf("encoding the %s message: %w", n.kind, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.addr.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building the %s request to %s: %w", n.kind, n.redacted(), n.scrubErr(err))
	}
	req.Header.Set("Content-Type", "application/json")
	if n.token != "" {
		req.Header.Set("Authorization", "Bearer "+n.token)
	}
	res, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("posting the %s message to %s: %w", n.kind, n.redacted(), n.scrubErr(err))
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("posting the %s message to %s: answered %s%s",
			n.kind, n.redacted(), res.Status, n.quote(answer))
	}
	if n.kind == "slack" {
		return n.checkSlackAnswer(res, answer)
	}
	return nil
}

// checkSlackAnswer reports Slack Web API answers (chat.postMessage) that carry "ok": false with
// a 200 status; incoming webhooks answer a plain "ok", which passes.
func (n *webhook) checkSlackAnswer(res *http.Response, answer []byte) error {
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt != "application/json" {
		return nil
	}
	var r struct {
		OK    *bool  `json:"ok"`
		Error string `json:"error"`
	}
	if json.Unmarshal(answer, &r) != nil || r.OK == nil || *r.OK {
		return nil
	}
	return fmt.Errorf("posting the slack message to %s: answered ok=false: %s",
		n.redacted(), n.scrub(r.Error))
}

// redacted is the address with its path and query hidden: webhook URLs carry their secret there.
func (n *webhook) redacted() string {
	return redactURL(n.addr)
}

// redactURL keeps a URL's scheme and host only.
func redactURL(u *url.URL) string {
	s := u.Scheme + "://" + u.Host
	if u.Path != "" || u.RawQuery != "" {
		s += "/<redacted>"
	}
	return s
}

// scrubErr drops the URL a transport error names (it is the full address) and removes any
// remaining secret from its text.
func (n *webhook) scrubErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if s := n.scrub(err.Error()); s != err.Error() {
		return errors.New(s)
	}
	return err
}

// scrub replaces the address, its path and query, and the token, wherever they appear in s.
func (n *webhook) scrub(s string) string {
	secrets := []string{n.addr.String(), n.addr.RequestURI(), n.addr.EscapedPath(), n.addr.Path,
		n.addr.RawQuery, n.token}
	for _, secret := range secrets {
		if secret != "" && secret != "/" {
			s = strings.ReplaceAll(s, secret, "<redacted>")
		}
	}
	return s
}

// quote returns the start of an error answer's body, scrubbed, for the error message.
func (n *webhook) quote(answer []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(answer), ""))
	if s == "" {
		return ""
	}
	s = n.scrub(s)
	if len(s) > maxSnippet {
		cut := maxSnippet
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return ": " + s
}
