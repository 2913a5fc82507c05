// Package newrelic measures a metric with an NRQL query over New Relic's NerdGraph (GraphQL)
// API, as Argo Rollouts' New Relic provider does.
//
// The query runs as `actor { account(id) { nrql(query, timeout) { results } } }` with
// `timeout` (seconds, default 5). The result is the one row of the results, a map whose keys
// are NRQL's names (`result.successRate`, or `result['average.duration']`), or the list of
// rows when there are several; no row, or an empty one, is an error. The resolved query is
// stored as the metric's ResolvedNewRelicQuery metadata.
//
// The account comes from a Secret of the controller's namespace named by `profile` (default
// `newrelic`): `personal-api-key` (sent as the Api-Key header, never shown), `account-id`,
// and optionally `region` (us, the default, or eu) or `base-url-nerdgraph`, the NerdGraph URL
// of a proxy. The `base-url-rest` key Argo also reads is not needed for NRQL.
//
// Requests are plain HTTP rather than through newrelic-client-go: that client drops the
// caller's context (its Request.WithContext discards the copy it makes, still in v2.98.0),
// so a query could outlive its timeout. Here the call is bounded by the NRQL timeout plus
// NetworkAllowance and retried while it can pass (package apicall).
package newrelic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/apicall"
	"github.com/vanedev/vane/internal/analysis/provider/credentials"
)

// Names Argo Rollouts uses.
const (
	// DefaultProfile is the Secret of the account when the metric names no profile.
	DefaultProfile = "newrelic"
	// Keys of the profile Secret.
	APIKeyKey           = "personal-api-key"
	AccountIDKey        = "account-id"
	RegionKey           = "region"
	NerdGraphURLKey     = "base-url-nerdgraph"
	ResolvedQueryKey    = "ResolvedNewRelicQuery"
	userAgent           = "vane (Argo Rollouts-compatible progressive delivery)"
	nerdGraphUSEndpoint = "https://api.newrelic.com/graphql"
	nerdGraphEUEndpoint = "https://api.eu.newrelic.com/graphql"
)

// NetworkAllowance is added to the NRQL timeout to bound a call.
const NetworkAllowance = 15 * time.Second

// nrqlQuery is the GraphQL query of an NRQL query.
const nrqlQuery = `query ($query: Nrql!, $accountId: Int!, $timeout: Seconds!) {
  actor { account(id: $accountId) { nrql(query: $query, timeout: $timeout) { results } } }
}`

// Provider queries New Relic.
type Provider struct {
	// Secrets reads the profile Secrets.
	Secrets credentials.Store
	// HTTP sends the requests (http.DefaultClient when nil).
	HTTP *http.Client
}

// New returns a New Relic Provider reading profiles with store.
func New(store credentials.Store) *Provider { return &Provider{Secrets: store} }

// account is a profile's credentials and endpoint.
type account struct {
	apiKey   string
	id       int
	endpoint string
}

// Measure implements provider.Provider.
func (p *Provider) Measure(ctx context.Context, _ *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) (provider.Result, error) {
	n := metric.Provider.NewRelic
	if n == nil {
		return provider.Result{}, errors.New("the metric has no newRelic provider")
	}
	meta := map[string]string{ResolvedQueryKey: n.Query}
	timeout := n.EffectiveTimeoutSeconds()
	if timeout < 0 {
		return provider.Result{MetricMetadata: meta}, provider.Permanent(fmt.Errorf("newRelic.timeout %d: give a number of seconds >= 0", timeout))
	}
	acct, err := p.account(ctx, n.Profile)
	if err != nil {
		return provider.Result{MetricMetadata: meta}, fmt.Errorf("newrelic: %w", err)
	}
	body, err := json.Marshal(map[string]any{"query": nrqlQuery, "variables": map[string]any{"accountId": acct.id, "query": n.Query, "timeout": timeout}})
	if err != nil {
		return provider.Result{MetricMetadata: meta}, fmt.Errorf("newrelic: encoding the query: %w", err)
	}
	call := apicall.Call{API: "newrelic", Method: http.MethodPost, URL: acct.endpoint, Body: body, Secrets: []string{acct.apiKey},
		Header: http.Header{"Api-Key": {acct.apiKey}, "Content-Type": {"application/json"}, "User-Agent": {userAgent}}}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(max(timeout, v1alpha1.DefaultNewRelicTimeoutSeconds))*time.Second+NetworkAllowance)
	defer cancel()
	resp, err := apicall.Do(ctx, p.HTTP, call)
	if err != nil {
		return provider.Result{MetricMetadata: meta}, err
	}
	res, err := parse(call, resp)
	res.MetricMetadata = meta
	return res, err
}

// account reads the profile Secret.
func (p *Provider) account(ctx context.Context, profile string) (account, error) {
	if profile == "" {
		profile = DefaultProfile
	}
	s, err := p.Secrets.Get(ctx, p.Secrets.ControllerNamespace(), profile)
	if err != nil {
		return account{}, err
	}
	if err := s.Require(APIKeyKey, AccountIDKey); err != nil {
		return account{}, err
	}
	id, err := strconv.Atoi(strings.TrimSpace(s.Value(AccountIDKey)))
	if err != nil {
		return account{}, fmt.Errorf("the Secret %s/%s: %s is not a number", s.Namespace, s.Name, AccountIDKey)
	}
	endpoint := strings.TrimSpace(s.Value(NerdGraphURLKey))
	if endpoint == "" {
		switch region := strings.ToLower(strings.TrimSpace(s.Value(RegionKey))); region {
		case "", "us":
			endpoint = nerdGraphUSEndpoint
		case "eu":
			endpoint = nerdGraphEUEndpoint
		default:
			return account{}, fmt.Errorf("the Secret %s/%s: region %q is not us or eu", s.Namespace, s.Name, region)
		}
	}
	if !strings.HasPrefix(endpoint, "http://") && !strings.HasPrefix(endpoint, "https://") {
		return account{}, fmt.Errorf("the Secret %s/%s: %s %q is not an http:// or https:// URL", s.Namespace, s.Name, NerdGraphURLKey, endpoint)
	}
	return account{apiKey: s.Value(APIKeyKey), id: id, endpoint: endpoint}, nil
}

// answer is NerdGraph's answer to the NRQL query.
type answer struct {
	Data *struct {
		Actor struct {
			Account struct {
				NRQL *struct {
					Results []map[string]any `json:"results"`
				} `json:"nrql"`
			} `json:"account"`
		} `json:"actor"`
	} `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

// parse reads the NRQL results: one row is a map, several a list of maps.
func parse(call apicall.Call, resp *apicall.Response) (provider.Result, error) {
	var a answer
	if err := json.Unmarshal(resp.Body, &a); err != nil {
		if !resp.OK() {
			return provider.Result{}, call.StatusError(resp)
		}
		return provider.Result{}, call.Errorf("the answer is not a NerdGraph answer (%v)%s", err, apicall.Excerpt(resp.Body))
	}
	if len(a.Errors) > 0 {
		msgs := make([]string, len(a.Errors))
		for i, e := range a.Errors {
			msgs[i] = e.Message
		}
		return provider.Result{}, call.Errorf("the query failed: %s", strings.Join(msgs, "; "))
	}
	if !resp.OK() {
		return provider.Result{}, call.StatusError(resp)
	}
	if a.Data == nil || a.Data.Actor.Account.NRQL == nil {
		return provider.Result{}, call.Errorf("the answer has no NRQL results%s", apicall.Excerpt(resp.Body))
	}
	rows := a.Data.Actor.Account.NRQL.Results
	var value any
	switch {
	case len(rows) == 0 || (len(rows) == 1 && len(rows[0]) == 0):
		return provider.Result{}, call.Errorf("no results returned from the NRQL query")
	case len(rows) == 1:
		value = rows[0]
	default:
		list := make([]any, len(rows))
		for i, r := range rows {
			list[i] = r
		}
		value = list
	}
	b, err := json.Marshal(value)
	if err != nil {
		return provider.Result{}, call.Errorf("encoding the result: %v", err)
	}
	return provider.Result{Value: value, Display: string(b)}, nil
}
