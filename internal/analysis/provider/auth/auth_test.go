package auth

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/auth/authtest"
)

const secret = "s3cr3t/&+value"

// fake serves a fixed answer on 127.0.0.1, standing in for a token endpoint that misbehaves.
func fake(t *testing.T, status int, contentType, body string, delay time.Duration) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/token"
}

func TestToken(t *testing.T) {
	ts := authtest.NewTokenServer(t, "vane", secret, "metrics:read")
	client := &http.Client{}
	html := fake(t, 500, "text/html", "<html>oops</html>", 0)
	bare401 := fake(t, 401, "text/plain", "", 0)
	echo := fake(t, 400, "application/json", `{"error":"invalid_request","error_description":"bad secret `+secret+`"}`, 0)
	empty := fake(t, 200, "application/json", `{}`, 0)
	slow := fake(t, 200, "application/json", `{"access_token":"late","token_type":"Bearer"}`, time.Second)
	good := v1alpha1.OAuth2Config{TokenURL: ts.URL, ClientID: "vane", ClientSecret: secret, Scopes: []string{"metrics:read"}}
	with := func(mutate func(*v1alpha1.OAuth2Config)) v1alpha1.OAuth2Config {
		c := good
		mutate(&c)
		return c
	}
	for name, tc := range map[string]struct {
		cfg     v1alpha1.OAuth2Config
		timeout time.Duration
		token   string
		err     string
	}{
		"the client's credentials": {cfg: good, token: ts.Token},
		"a wrong secret": {cfg: with(func(c *v1alpha1.OAuth2Config) { c.ClientSecret = "wrong" }),
			err: `authentication.oauth2: the token endpoint ` + ts.URL + ` refused client "vane": HTTP 401 Unauthorized, invalid_client (client authentication failed): check clientId and clientSecret`},
		"an unknown client": {cfg: with(func(c *v1alpha1.OAuth2Config) { c.ClientID = "nobody" }),
			err: `authentication.oauth2: the token endpoint ` + ts.URL + ` refused client "nobody": HTTP 401 Unauthorized, invalid_client (client authentication failed): check clientId and clientSecret`},
		"a missing scope": {cfg: with(func(c *v1alpha1.OAuth2Config) { c.Scopes = nil }),
			err: `authentication.oauth2: the token endpoint ` + ts.URL + ` refused client "vane": HTTP 400 Bad Request, invalid_scope (scope metrics:read is required): check scopes`},
		"an endpoint that is not OAuth2": {cfg: with(func(c *v1alpha1.OAuth2Config) { c.TokenURL = html }),
			err: `authentication.oauth2: the token endpoint ` + html + ` answered HTTP 500 Internal Server Error: "<html>oops</html>"`},
		"a bare 401": {cfg: with(func(c *v1alpha1.OAuth2Config) { c.TokenURL = bare401 }),
			err: `authentication.oauth2: the token endpoint ` + bare401 + ` refused client "vane": HTTP 401 Unauthorized: check clientId and clientSecret`},
		"an endpoint that quotes the secret": {cfg: with(func(c *v1alpha1.OAuth2Config) { c.TokenURL = echo }),
			err: `authentication.oauth2: the token endpoint ` + echo + ` refused client "vane": HTTP 400 Bad Request, invalid_request (bad secret *****)`},
		"an answer without a token": {cfg: with(func(c *v1alpha1.OAuth2Config) { c.TokenURL = empty }),
			err: `authentication.oauth2: the token endpoint ` + empty + ` gave no usable token: server response missing access_token`},
		"an endpoint that is down": {cfg: with(func(c *v1alpha1.OAuth2Config) { c.TokenURL = "http://127.0.0.1:1/token" }),
			err: `authentication.oauth2: the token endpoint http://127.0.0.1:1/token is unreachable: dial tcp 127.0.0.1:1: connect: connection refused`},
		"an endpoint too slow": {cfg: with(func(c *v1alpha1.OAuth2Config) { c.TokenURL = slow }), timeout: 300 * time.Millisecond,
			err: `authentication.oauth2: the token endpoint ` + slow + ` did not answer in time`},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			tok, err := Token(ctx, client, &tc.cfg)
			var gotToken, gotErr string
			if tok != nil {
				gotToken = tok.AccessToken
			}
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(struct{ Token, Err string }{tc.token, tc.err}, struct{ Token, Err string }{gotToken, gotErr}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if strings.Contains(gotErr, secret) || strings.Contains(gotErr, ts.Token) {
				t.Errorf("the error gives the secret or the token away: %s", gotErr)
			}
		})
	}
	// the scopes travel in the request
	if _, err := Token(context.Background(), client, &good); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"metrics:read"}, ts.LastScopes()); diff != "" {
		t.Errorf("scopes asked (-want +got):\n%s", diff)
	}
}

func TestApply(t *testing.T) {
	ts := authtest.NewTokenServer(t, "vane", secret)
	for name, tc := range map[string]struct {
		auth      v1alpha1.Authentication
		header    string // Authorization after Apply
		err       string
		permanent bool
	}{
		"none": {header: "Basic kept"},
		"oauth2 replaces the Authorization header": {auth: v1alpha1.Authentication{OAuth2: v1alpha1.OAuth2Config{TokenURL: ts.URL, ClientID: "vane", ClientSecret: secret}},
			header: "Bearer " + ts.Token},
		"sigv4 (signed by the prometheus provider only)": {auth: v1alpha1.Authentication{Sigv4: v1alpha1.Sigv4Config{Region: "eu-west-1"}}, header: "Basic kept", permanent: true,
			err: "authentication.sigv4 is only supported by the prometheus provider: use authentication.oauth2 or basicAuth, or pass a token in a header from a secret argument"},
		"basicAuth replaces the Authorization header": {auth: v1alpha1.Authentication{BasicAuth: v1alpha1.BasicAuthConfig{Username: "grafana", Password: secret}},
			header: "Basic Z3JhZmFuYTpzM2NyM3QvJit2YWx1ZQ=="},
		"oauth2 wins over basicAuth": {auth: v1alpha1.Authentication{BasicAuth: v1alpha1.BasicAuthConfig{Username: "grafana", Password: secret},
			OAuth2: v1alpha1.OAuth2Config{TokenURL: ts.URL, ClientID: "vane", ClientSecret: secret}}, header: "Bearer " + ts.Token},
		"basicAuth without a password": {auth: v1alpha1.Authentication{BasicAuth: v1alpha1.BasicAuthConfig{Username: "grafana"}}, header: "Basic kept", permanent: true,
			err: `authentication.basicAuth: give the password of user "grafana"`},
		"basicAuth without a username": {auth: v1alpha1.Authentication{BasicAuth: v1alpha1.BasicAuthConfig{Password: secret}}, header: "Basic kept", permanent: true,
			err: "authentication.basicAuth: give the username"},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
			req.Header.Set("Authorization", "Basic kept")
			err := Apply(context.Background(), &http.Client{}, &tc.auth, req)
			var gotErr string
			if err != nil {
				gotErr = err.Error()
			}
			type outcome struct {
				Header, Err string
				Permanent   bool
			}
			want := outcome{tc.header, tc.err, tc.permanent}
			got := outcome{req.Header.Get("Authorization"), gotErr, err != nil && provider.IsPermanent(err)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
