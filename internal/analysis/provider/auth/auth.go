// Package auth applies a metric's `authentication` to the requests of the web and prometheus
// providers.
//
// OAuth2 is the client credentials flow (RFC 6749 section 4.4), as Argo Rollouts does it: before
// each measurement a token is requested from tokenUrl with clientId, clientSecret and scopes,
// and the provider's request carries it as `Authorization: Bearer <token>`. basicAuth sends
// the username and password as `Authorization: Basic ...` (OAuth2 wins when both are set).
// SigV4 signs a request with AWS credentials (SigV4, for the prometheus provider and Amazon
// Managed Prometheus); Apply refuses it, for the web provider, with a permanent error.
//
// The client secret, the password, the token and AWS keys never appear in an error: messages
// name the token endpoint, the client ID or the user, and what was answered.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
)

// Apply authenticates req as a says, requesting a token with client when a asks for oauth2,
// setting basic authentication when it asks for basicAuth. The returned error is the reason
// the request cannot be made; a SigV4 configuration (the caller signs, see SigV4) and an
// incomplete basicAuth are permanent errors.
func Apply(ctx context.Context, client *http.Client, a *v1alpha1.Authentication, req *http.Request) error {
	if !a.Sigv4.IsZero() {
		return provider.Permanent(errors.New("authentication.sigv4 is only supported by the prometheus provider: use authentication.oauth2 or basicAuth, or pass a token in a header from a secret argument"))
	}
	if b := a.BasicAuth; b != (v1alpha1.BasicAuthConfig{}) && a.OAuth2.IsZero() {
		switch {
		case b.Username == "":
			return provider.Permanent(errors.New("authentication.basicAuth: give the username"))
		case b.Password == "":
			return provider.Permanent(fmt.Errorf("authentication.basicAuth: give the password of user %q", b.Username))
		}
		req.SetBasicAuth(b.Username, b.Password)
		return nil
	}
	if a.OAuth2.IsZero() {
		return nil
	}
	tok, err := Token(ctx, client, &a.OAuth2)
	if err != nil {
		return err
	}
	// oauth2 tokens are Bearer tokens; SetAuthHeader writes the type the endpoint gave.
	tok.SetAuthHeader(req)
	return nil
}

// Token requests an access token with the client credentials flow. Errors name the token
// endpoint and the client, never the secret.
func Token(ctx context.Context, client *http.Client, c *v1alpha1.OAuth2Config) (*oauth2.Token, error) {
	cfg := clientcredentials.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		TokenURL:     c.TokenURL,
		Scopes:       c.Scopes,
	}
	tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, client))
	if err == nil {
		return tok, nil
	}
	return nil, errors.New(scrub(describe(ctx, c, err), c.ClientSecret))
}

// describe says why a token request failed.
func describe(ctx context.Context, c *v1alpha1.OAuth2Config, err error) string {
	prefix := fmt.Sprintf("authentication.oauth2: the token endpoint %s", c.TokenURL)
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := "no answer"
		if re.Response != nil {
			status = "HTTP " + re.Response.Status
		}
		switch {
		case re.ErrorCode != "":
			detail := re.ErrorCode
			if re.ErrorDescription != "" {
				detail += fmt.Sprintf(" (%s)", re.ErrorDescription)
			}
			msg := fmt.Sprintf("%s refused client %q: %s, %s", prefix, c.ClientID, status, detail)
			switch re.ErrorCode {
			case "invalid_client", "unauthorized_client":
				msg += ": check clientId and clientSecret"
			case "invalid_scope":
				msg += ": check scopes"
			}
			return msg
		case re.Response != nil && (re.Response.StatusCode == http.StatusUnauthorized || re.Response.StatusCode == http.StatusForbidden):
			return fmt.Sprintf("%s refused client %q: %s%s: check clientId and clientSecret", prefix, c.ClientID, status, excerpt(re.Body))
		default:
			return fmt.Sprintf("%s answered %s%s", prefix, status, excerpt(re.Body))
		}
	}
	if ctx.Err() == context.DeadlineExceeded {
		return prefix + " did not answer in time"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Sprintf("%s is unreachable: %v", prefix, ue.Err)
	}
	return fmt.Sprintf("%s gave no usable token: %v", prefix, strings.TrimPrefix(err.Error(), "oauth2: "))
}

// excerpt quotes the start of an answer for an error message.
func excerpt(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return fmt.Sprintf(": %q", s)
}

// scrub removes the secret from s, also URL-escaped (as it travels in a token request) and
// escaped as in a quoted string.
func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	quoted := strconv.Quote(secret)
	for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret), quoted[1 : len(quoted)-1]} {
		s = strings.ReplaceAll(s, form, "*****")
	}
	return s
}
