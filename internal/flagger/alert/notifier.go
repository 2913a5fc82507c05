// Package alert sends a Flagger Canary's alerts (spec.analysis.alerts) to the chat services its
// AlertProviders name, with the request bodies Flagger posts for each provider type.
//
// New builds a Notifier for one provider type and address; Sender reads a Canary's alerts,
// their AlertProviders and Secrets, and posts one message to each provider whose severity
// filter lets it through.
package alert

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DefaultTimeout bounds a post whose context carries no deadline (Flagger's own bound).
const DefaultTimeout = 5 * time.Second

// Field is one name/value line of an alert (the cluster, the target, the traffic routing...).
type Field struct {
	Name, Value string
}

// Message is one alert about a Canary: its name and namespace, the text, the severity of the
// event (SeverityInfo, SeverityWarn or SeverityError) and the fields shown under the text.
type Message struct {
	Canary, Namespace, Text, Severity string
	Fields                            []Field
}

// Notifier posts alerts to one chat service.
type Notifier interface {
	// Post sends m; an answer outside 2xx is an error with its status code.
	Post(ctx context.Context, m Message) error
}

// Options are where and how a Notifier posts.
type Options struct {
	// Address is the webhook (or API) URL; it must be http or https. It is treated as a secret:
	// errors show its scheme and host only.
	Address string
	// Token is sent as "Authorization: Bearer <token>" by the slack type; the other types
	// ignore it, as Flagger does.
	Token string
	// Proxy is the URL of an HTTP(S) or SOCKS5 proxy every post goes through.
	Proxy string
	// Username and Channel are required by the slack, discord and rocket types.
	Username, Channel string
	// Client sends the requests; nil uses a plain http.Client. With Proxy set, its Transport
	// must be nil or an *http.Transport, which is cloned with the proxy set.
	Client *http.Client
}

// builder turns a message into a provider type's request body.
type builder func(n *webhook, m Message) any

// kinds are the provider types Flagger's notifier factory accepts, with the body each posts.
var kinds = map[string]builder{
	"slack":   slackBody("good", "danger"),
	"discord": slackBody("good", "danger"),
	"rocket":  slackBody("#0076D7", "#FF0000"),
	"msteams": teamsBody,
	"gchat":   gchatBody,
}

// usesSlackFields are the types that need a username and a channel.
var usesSlackFields = map[string]bool{"slack": true, "discord": true, "rocket": true}

// SupportedTypes returns the provider types New accepts, sorted.
func SupportedTypes() []string {
	types := make([]string, 0, len(kinds))
	for k := range kinds {
		types = append(types, k)
	}
	slices.Sort(types)
	return types
}

// New returns the Notifier of a provider type (slack, msteams, discord, rocket or gchat).
// An unknown type, an address that is not an http(s) URL, a bad proxy or a missing username or
// channel is an error. A discord address gets "/slack" appended to its path, as Flagger does,
// so that Discord reads the Slack-formatted body.
func New(kind string, o Options) (Notifier, error) {
	build, ok := kinds[kind]
	if !ok {
		return nil, fmt.Errorf("alert provider type %q is not supported (supported: %s)",
			kind, strings.Join(SupportedTypes(), ", "))
	}
	addr, err := parseAddress(o.Address)
	if err != nil {
		return nil, err
	}
	if kind == "discord" && !strings.HasSuffix(addr.Path, "/slack") {
		addr.Path = strings.TrimSuffix(addr.Path, "/") + "/slack"
		addr.RawPath = ""
	}
	if usesSlackFields[kind] {
		if o.Username == "" {
			return nil, fmt.Errorf("%s alert provider: username is empty", kind)
		}
		if o.Channel == "" {
			return nil, fmt.Errorf("%s alert provider: channel is empty", kind)
		}
	}
	client, err := withProxy(o.Client, o.Proxy)
	if err != nil {
		return nil, err
	}
	n := &webhook{kind: kind, addr: addr, username: o.Username, channel: o.Channel,
		client: client, build: build}
	if kind == "slack" {
		n.token = o.Token
	}
	return n, nil
}

// parseAddress checks that s is an absolute http(s) URL with a host. The address is a secret:
// the error names its scheme at most.
func parseAddress(s string) (*url.URL, error) {
	if s == "" {
		return nil, fmt.Errorf("address is empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("address is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("address is not an http(s) URL (scheme %q)", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("address has no host")
	}
	return u, nil
}

// withProxy returns c (a plain client when nil), or a copy whose transport goes through proxy.
func withProxy(c *http.Client, proxy string) (*http.Client, error) {
	if c == nil {
		c = &http.Client{}
	}
	if proxy == "" {
		return c, nil
	}
	p, err := url.Parse(proxy)
	if err != nil {
		return nil, fmt.Errorf("proxy is not a valid URL")
	}
	switch p.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return nil, fmt.Errorf("proxy %s: scheme must be http, https or socks5", p.Redacted())
	}
	if p.Host == "" {
		return nil, errors.New("proxy has no host")
	}
	var base *http.Transport
	switch t := c.Transport.(type) {
	case nil:
		base = http.DefaultTransport.(*http.Transport)
	case *http.Transport:
		base = t
	default:
		return nil, fmt.Errorf("proxy %s: the client's transport (%T) cannot be given a proxy",
			p.Redacted(), c.Transport)
	}
	t := base.Clone()
	t.Proxy = http.ProxyURL(p)
	copied := *c
	copied.Transport = t
	return &copied, nil
}
