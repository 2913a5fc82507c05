package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"k8s.io/utils/clock"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	dt "github.com/vanedev/vane/internal/analysis/provider/dynatrace"
)

// Flagger's use of the Dynatrace Metrics API v2: the Secret's key, the endpoint that checks the
// token, and how many metric intervals back a query looks.
const (
	dynatraceTokenKey     = dt.FlaggerTokenKey
	dynatraceValidatePath = "/api/v2/metrics"
	dynatraceWindow       = 10
)

// dynatrace runs a metric selector on Dynatrace's Metrics API v2 (GET /api/v2/metrics/query,
// the answer shapes of package internal/analysis/provider/dynatrace) over the last ten metric
// intervals at resolution Inf, and takes the first value of the last series of the first
// metric, as Flagger does (a gap reads as 0).
type dynatrace struct {
	client        *http.Client
	clock         clock.PassiveClock
	address       string
	token         string
	windowInMilli int64
}

func newDynatrace(hc *http.Client, clk clock.PassiveClock, interval string, p flaggerv1.MetricProvider, creds map[string][]byte) (*dynatrace, error) {
	if p.Address == "" {
		return nil, errors.New("dynatrace endpoint is not set")
	}
	client, err := httpClient(hc, p.InsecureSkipVerify)
	if err != nil {
		return nil, err
	}
	token, ok := creds[dynatraceTokenKey]
	if !ok {
		return nil, fmt.Errorf("dynatrace credentials does not contain %s", dynatraceTokenKey)
	}
	window, err := time.ParseDuration(interval)
	if err != nil {
		return nil, fmt.Errorf("error parsing metric interval: %w", err)
	}
	return &dynatrace{client: client, clock: clk, address: p.Address, token: string(token),
		windowInMilli: dynatraceWindow * window.Milliseconds()}, nil
}

// get sends an authenticated GET and returns the body of a 200 answer.
func (d *dynatrace) get(ctx context.Context, endpoint string, params url.Values) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.address+endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("error http.NewRequest: address %s is not a valid URL", d.address)
	}
	req.Header.Set("Authorization", dt.AuthScheme+" "+d.token)
	req.URL.RawQuery = params.Encode()
	resp, err := d.client.Do(req)
	if err != nil {
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

func (d *dynatrace) query(ctx context.Context, q string) (float64, error) {
	now := d.clock.Now().UnixMilli()
	b, err := d.get(ctx, dt.QueryPath, url.Values{
		"metricSelector": {q},
		"resolution":     {"Inf"},
		"from":           {strconv.FormatInt(now-d.windowInMilli, 10)},
		"to":             {strconv.FormatInt(now, 10)},
	})
	if err != nil {
		return 0, err
	}
	var res dt.Answer
	if err := json.Unmarshal(b, &res); err != nil {
		return 0, fmt.Errorf("error unmarshaling result: %w, '%s'", err, b)
	}
	if len(res.Result) == 0 || len(res.Result[0].Data) == 0 {
		return 0, fmt.Errorf("invalid response: %s: %w", b, errNoValues)
	}
	series := res.Result[0].Data[len(res.Result[0].Data)-1]
	if len(series.Values) == 0 {
		return 0, fmt.Errorf("invalid response: %s: %w", b, errNoValues)
	}
	if series.Values[0] == nil {
		return 0, nil
	}
	return *series.Values[0], nil
}

// online lists one metric, which any token with the metrics.read scope may.
func (d *dynatrace) online(ctx context.Context) error {
	_, err := d.get(ctx, dynatraceValidatePath, url.Values{"pageSize": {"1"}})
	return err
}
