package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// The New Relic Insights query API: the default address, the Secret's keys and the header.
const (
	newRelicDefaultAddress = "https://insights-api.newrelic.com"
	newRelicAccountKey     = "newrelic_account_id"
	newRelicQueryKey       = "newrelic_query_key"
	newRelicQueryKeyHeader = "X-Query-Key"
	newRelicOnlineQuery    = "SELECT * FROM Metric"
)

// newRelic runs NRQL on New Relic's Insights query API (GET /v1/accounts/ID/query), over the
// last metric interval ("SINCE N seconds ago" appended), and takes the single result.
type newRelic struct {
	client          *http.Client
	address         string
	account         string
	queryKey        string
	windowInSeconds int64
}

func newNewRelic(hc *http.Client, interval string, p flaggerv1.MetricProvider, creds map[string][]byte) (*newRelic, error) {
	client, err := httpClient(hc, p.InsecureSkipVerify)
	if err != nil {
		return nil, err
	}
	n := &newRelic{client: client, address: p.Address}
	if n.address == "" {
		n.address = newRelicDefaultAddress
	}
	account, ok := creds[newRelicAccountKey]
	if !ok {
		return nil, fmt.Errorf("newrelic credentials does not contain the key '%s'", newRelicAccountKey)
	}
	key, ok := creds[newRelicQueryKey]
	if !ok {
		return nil, fmt.Errorf("newrelic credentials does not contain the key '%s'", newRelicQueryKey)
	}
	n.account, n.queryKey = string(account), string(key)
	window, err := time.ParseDuration(interval)
	if err != nil {
		return nil, fmt.Errorf("error parsing metric interval: %w", err)
	}
	n.windowInSeconds = int64(window.Seconds())
	return n, nil
}

// get runs NRQL and returns the body of a 200 answer. The account ID, which comes from the
// Secret, is left out of the error of a request that fails.
func (n *newRelic) get(ctx context.Context, nrql string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	endpoint := fmt.Sprintf("%s/v1/accounts/%s/query", n.address, url.PathEscape(n.account))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("error http.NewRequest: address %s is not a valid URL", n.address)
	}
	req.Header.Set(newRelicQueryKeyHeader, n.queryKey)
	req.URL.RawQuery = url.Values{"nrql": {fmt.Sprintf("%s SINCE %d seconds ago", nrql, n.windowInSeconds)}}.Encode()
	resp, err := n.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			redacted := *ue
			redacted.URL = strings.ReplaceAll(ue.URL, url.PathEscape(n.account), "ACCOUNT")
			err = &redacted
		}
		return nil, fmt.Errorf("request failed: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := readBody(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("error response: %s", b)
	}
	return b, nil
}

func (n *newRelic) query(ctx context.Context, q string) (float64, error) {
	b, err := n.get(ctx, q)
	if err != nil {
		return 0, err
	}
	var res struct {
		Results []struct {
			Result *float64 `json:"result"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return 0, fmt.Errorf("error unmarshaling result: %w, '%s'", err, b)
	}
	if len(res.Results) != 1 || res.Results[0].Result == nil {
		return 0, fmt.Errorf("invalid response: %s: %w", b, errNoValues)
	}
	return *res.Results[0].Result, nil
}

// online runs a query that any account answers.
func (n *newRelic) online(ctx context.Context) error {
	_, err := n.get(ctx, newRelicOnlineQuery)
	return err
}
