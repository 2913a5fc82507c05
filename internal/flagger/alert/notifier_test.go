package alert

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// request is what a stand-in service received.
type request struct {
	Method, Path, Query, ContentType, Authorization string
	Body                                            any
}

// recorder is a loopback stand-in for a chat service: it records each request and answers with
// status and body; paths under failPrefix are refused with 403 and not recorded.
type recorder struct {
	mu         sync.Mutex
	requests   []request
	status     int
	answer     string
	header     http.Header
	failPrefix string
	srv        *httptest.Server
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{status: http.StatusOK, answer: "ok", header: http.Header{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) serve(w http.ResponseWriter, req *http.Request) {
	raw, _ := io.ReadAll(req.Body)
	var body any
	if err := json.Unmarshal(raw, &body); err != nil {
		body = "not JSON: " + string(raw)
	}
	r.mu.Lock()
	if r.failPrefix != "" && strings.HasPrefix(req.URL.Path, r.failPrefix) {
		r.mu.Unlock()
		w.WriteHeader(http.StatusForbidden) // as Slack's webhooks refuse a post
		_, _ = io.WriteString(w, "action_prohibited")
		return
	}
	r.requests = append(r.requests, request{Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery,
		ContentType: req.Header.Get("Content-Type"), Authorization: req.Header.Get("Authorization"), Body: body})
	status, answer := r.status, r.answer
	for k, v := range r.header {
		w.Header()[k] = v
	}
	r.mu.Unlock()
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}

func (r *recorder) got() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.requests...)
}

// decode turns a JSON literal into the generic value a request body decodes to.
func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad expected JSON: %v", err)
	}
	return v
}

var testMessage = Message{
	Canary: "podinfo", Namespace: "test", Text: "New revision detected, progressing canary analysis.",
	Severity: SeverityInfo,
	Fields:   []Field{{Name: "Target", Value: "Deployment/podinfo.test"}, {Name: "Progress deadline", Value: "60s"}},
}

const slackInfoBody = `{"channel":"general","username":"flagger","icon_url":"","icon_emoji":":rocket:",
	"attachments":[{"color":"%s","author_name":"podinfo.test",
	"text":"New revision detected, progressing canary analysis.","mrkdwn_in":["text"],
	"fields":[{"title":"Target","value":"Deployment/podinfo.test","short":false},
	          {"title":"Progress deadline","value":"60s","short":false}]}]}`

const teamsBodyJSON = `{"@type":"MessageCard","@context":"http://schema.org/extensions","themeColor":"%s",
	"summary":"podinfo.test","sections":[{"activityTitle":"New revision detected, progressing canary analysis.",
	"activitySubtitle":"podinfo.test","facts":[{"name":"Target","value":"Deployment/podinfo.test"},
	{"name":"Progress deadline","value":"60s"}]}]}`

const gchatBodyJSON = `{"cards":[{"header":{"title":"Flagger","subtitle":"podinfo.test",
	"imageUrl":"https://flagger.app/favicon.png"},"sections":[
	{"widgets":[{"textParagraph":{"text":"<font color=#848484><strong>%s</strong></font>"}}]},
	{"widgets":[{"textParagraph":{"text":"Target<br><font color=#848484><strong>Deployment/podinfo.test</strong></font>"}}]},
	{"widgets":[{"textParagraph":{"text":"Progress deadline<br><font color=#848484><strong>60s</strong></font>"}}]}]}]}`

func sprintf(format, arg string) string { return strings.Replace(format, "%s", arg, 1) }

// TestPayloads: each type posts Flagger's JSON body, as application/json, to its address.
func TestPayloads(t *testing.T) {
	tests := map[string]struct {
		kind, path, token string
		severity, text    string
		wantPath, auth    string
		body              string
	}{
		"slack webhook": {kind: "slack", path: "/services/T0/B0/xyz", wantPath: "/services/T0/B0/xyz",
			body: sprintf(slackInfoBody, "good")},
		"slack api with token, error": {kind: "slack", path: "/api/chat.postMessage", token: "xoxb-1",
			severity: SeverityError, wantPath: "/api/chat.postMessage", auth: "Bearer xoxb-1",
			body: sprintf(slackInfoBody, "danger")},
		"discord gets /slack": {kind: "discord", path: "/api/webhooks/1/tok", token: "ignored",
			wantPath: "/api/webhooks/1/tok/slack", body: sprintf(slackInfoBody, "good")},
		"discord already /slack": {kind: "discord", path: "/api/webhooks/1/tok/slack", severity: SeverityError,
			wantPath: "/api/webhooks/1/tok/slack", body: sprintf(slackInfoBody, "danger")},
		"rocket": {kind: "rocket", path: "/hooks/id/tok", severity: SeverityWarn, wantPath: "/hooks/id/tok",
			body: sprintf(slackInfoBody, "#0076D7")},
		"rocket error": {kind: "rocket", path: "/hooks/id/tok", severity: SeverityError, wantPath: "/hooks/id/tok",
			body: sprintf(slackInfoBody, "#FF0000")},
		"msteams": {kind: "msteams", path: "/webhookb2/abc", wantPath: "/webhookb2/abc",
			body: sprintf(teamsBodyJSON, "0076D7")},
		"msteams error": {kind: "msteams", path: "/webhookb2/abc", severity: SeverityError, wantPath: "/webhookb2/abc",
			body: sprintf(teamsBodyJSON, "FF0000")},
		"gchat": {kind: "gchat", path: "/v1/spaces/AAA/messages", wantPath: "/v1/spaces/AAA/messages",
			body: sprintf(gchatBodyJSON, "New revision detected, progressing canary analysis.")},
		"gchat escapes html": {kind: "gchat", path: "/v1/spaces/AAA/messages", text: "a <b> & c",
			wantPath: "/v1/spaces/AAA/messages", body: sprintf(gchatBodyJSON, "a &lt;b&gt; &amp; c")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rec := newRecorder(t)
			n, err := New(tc.kind, Options{Address: rec.srv.URL + tc.path, Token: tc.token,
				Username: "flagger", Channel: "general"})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			m := testMessage
			if tc.severity != "" {
				m.Severity = tc.severity
			}
			if tc.text != "" {
				m.Text = tc.text
			}
			if err := n.Post(context.Background(), m); err != nil {
				t.Fatalf("Post: %v", err)
			}
			want := []request{{Method: http.MethodPost, Path: tc.wantPath, ContentType: "application/json",
				Authorization: tc.auth, Body: decode(t, tc.body)}}
			if diff := cmp.Diff(want, rec.got()); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNewErrors: bad options are refused with an error that names the fault and not the secret.
func TestNewErrors(t *testing.T) {
	custom := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("unused")
	})}
	tests := map[string]struct {
		kind string
		o    Options
		want string
	}{
		"unknown type": {kind: "email", o: Options{Address: "https://x.example/y"},
			want: `alert provider type "email" is not supported (supported: discord, gchat, msteams, rocket, slack)`},
		"empty address":    {kind: "msteams", want: "address is empty"},
		"not http":         {kind: "gchat", o: Options{Address: "ftp://h/secret"}, want: `address is not an http(s) URL (scheme "ftp")`},
		"no scheme":        {kind: "gchat", o: Options{Address: "hooks.slack.com/services/secret"}, want: `address is not an http(s) URL (scheme "")`},
		"no host":          {kind: "msteams", o: Options{Address: "https:///secret"}, want: "address has no host"},
		"unparsable":       {kind: "msteams", o: Options{Address: "https://h/%zz-secret"}, want: "address is not a valid URL"},
		"slack username":   {kind: "slack", o: Options{Address: "https://h/s", Channel: "c"}, want: "slack alert provider: username is empty"},
		"rocket channel":   {kind: "rocket", o: Options{Address: "https://h/s", Username: "u"}, want: "rocket alert provider: channel is empty"},
		"proxy scheme":     {kind: "msteams", o: Options{Address: "https://h/s", Proxy: "ftp://u:pw@p:1"}, want: "proxy ftp://u:xxxxx@p:1: scheme must be http, https or socks5"},
		"proxy no host":    {kind: "msteams", o: Options{Address: "https://h/s", Proxy: "http://"}, want: "proxy has no host"},
		"proxy transport":  {kind: "msteams", o: Options{Address: "https://h/s", Proxy: "http://p:3128", Client: custom}, want: "proxy http://p:3128: the client's transport (alert.roundTripFunc) cannot be given a proxy"},
		"proxy unparsable": {kind: "msteams", o: Options{Address: "https://h/s", Proxy: "http://u:pw@p:1%zz"}, want: "proxy is not a valid URL"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n, err := New(tc.kind, tc.o)
			if n != nil || err == nil {
				t.Fatalf("New = %v, %v; want an error", n, err)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestPostErrors: failed posts give the status or cause, with the address's path, query and the
// token redacted, even when the answer echoes them.
func TestPostErrors(t *testing.T) {
	const secretPath, token = "/services/T0/B0/s3cr3t", "xoxb-t0k3n"
	tests := map[string]struct {
		kind, query string
		status      int
		answer      string
		contentType string
		want        string
	}{
		"404 echoing the path": {kind: "slack", status: 404, answer: "Cannot POST " + secretPath + " with " + token,
			want: "posting the slack message to http://HOST/<redacted>: answered 404 Not Found: Cannot POST <redacted> with <redacted>"},
		"500 without body": {kind: "discord", status: 500,
			want: "posting the discord message to http://HOST/<redacted>: answered 500 Internal Server Error"},
		"query secret": {kind: "gchat", query: "key=k3y&token=t0k", status: 400, answer: `{"error":"bad key=k3y&token=t0k"}`,
			want: `posting the gchat message to http://HOST/<redacted>: answered 400 Bad Request: {"error":"bad <redacted>"}`},
		"long answer cut": {kind: "msteams", status: 429, answer: strings.Repeat("é", 150),
			want: "posting the msteams message to http://HOST/<redacted>: answered 429 Too Many Requests: " + strings.Repeat("é", 100) + "..."},
		"slack ok false": {kind: "slack", status: 200, contentType: "application/json; charset=utf-8",
			answer: `{"ok":false,"error":"channel_not_found"}`,
			want:   "posting the slack message to http://HOST/<redacted>: answered ok=false: channel_not_found"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rec := newRecorder(t)
			rec.status, rec.answer = tc.status, tc.answer
			if tc.contentType != "" {
				rec.header.Set("Content-Type", tc.contentType)
			}
			addr := rec.srv.URL + secretPath
			if tc.query != "" {
				addr += "?" + tc.query
			}
			n, err := New(tc.kind, Options{Address: addr, Token: token, Username: "u", Channel: "c"})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			err = n.Post(context.Background(), testMessage)
			if err == nil {
				t.Fatal("Post succeeded; want an error")
			}
			got := strings.ReplaceAll(err.Error(), strings.TrimPrefix(rec.srv.URL, "http://"), "HOST")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if len(rec.got()) != 1 {
				t.Errorf("service got %d requests, want 1", len(rec.got()))
			}
		})
	}
}

// TestPostTransportErrorRedacted: a transport error (nothing listening) does not carry the URL.
func TestPostTransportErrorRedacted(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	_ = l.Close()
	n, err := New("slack", Options{Address: addr + "/services/T0/B0/s3cr3t?x=q5", Token: "tk",
		Username: "u", Channel: "c"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	err = n.Post(context.Background(), testMessage)
	if err == nil {
		t.Fatal("Post succeeded; want an error")
	}
	for _, secret := range []string{"s3cr3t", "services", "q5"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q holds %q", err, secret)
		}
	}
	if want := "posting the slack message to " + addr + "/<redacted>: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q; want prefix %q", err, want)
	}
}

// TestPostTimeout: a post takes the context's deadline, or DefaultTimeout when it has none.
func TestPostTimeout(t *testing.T) {
	tests := map[string]struct {
		timeout time.Duration
		want    time.Duration
	}{
		"no deadline": {want: DefaultTimeout},
		"deadline":    {timeout: 90 * time.Second, want: 90 * time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got time.Duration
			c := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if d, ok := r.Context().Deadline(); ok {
					got = time.Until(d)
				}
				return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Header: http.Header{}}, nil
			})}
			n, err := New("msteams", Options{Address: "https://outlook.example/webhookb2/x", Client: c})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			if err := n.Post(ctx, testMessage); err != nil {
				t.Fatalf("Post: %v", err)
			}
			if got <= tc.want-time.Second || got > tc.want {
				t.Errorf("request deadline in %v; want about %v", got, tc.want)
			}
		})
	}
}

// TestPostDeadlineExceeded: a service that does not answer in time is an error.
func TestPostDeadlineExceeded(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	n, err := New("gchat", Options{Address: srv.URL + "/v1/spaces/x/messages?key=k"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = n.Post(ctx, testMessage)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Post error %v; want context.DeadlineExceeded", err)
	}
	if strings.Contains(err.Error(), "key=k") || strings.Contains(err.Error(), "spaces") {
		t.Errorf("error %q holds the address's secret", err)
	}
}

// TestProxy: with Proxy set, the post goes to the proxy as an absolute-URI request for the
// address; the address's host is never dialled.
func TestProxy(t *testing.T) {
	type seen struct{ Method, Host, Path, Auth, ContentType string }
	var got []seen
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, seen{r.Method, r.URL.Host, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type")})
		_, _ = io.WriteString(w, "ok")
	}))
	defer proxy.Close()
	base := &http.Client{Transport: &http.Transport{}}
	n, err := New("slack", Options{Address: "http://hooks.slack.invalid/services/T/B/x", Token: "tk",
		Proxy: proxy.URL, Username: "u", Channel: "c", Client: base})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := n.Post(context.Background(), testMessage); err != nil {
		t.Fatalf("Post: %v", err)
	}
	want := []seen{{http.MethodPost, "hooks.slack.invalid", "/services/T/B/x", "Bearer tk", "application/json"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("proxy saw (-want +got):\n%s", diff)
	}
	if base.Transport.(*http.Transport).Proxy != nil {
		t.Error("the caller's transport was changed; want a clone")
	}
}
