package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"k8s.io/utils/clock"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// The Datadog API: the default site, the endpoints, the Secret's keys and the headers they go in.
const (
	datadogDefaultAddress = "https://api.datadoghq.com"
	datadogQueryPath      = "/api/v1/query"
	datadogValidatePath   = "/api/v1/validate"
	datadogAPIKey         = "datadog_api_key"
	datadogAppKey         = "datadog_application_key"
	datadogAPIKeyHeader   = "DD-API-KEY"
	datadogAppKeyHeader   = "DD-APPLICATION-KEY"
	// datadogWindow is how many metric intervals back a query looks, as in Flagger.
	datadogWindow = 10
)

// datadog queries Datadog's timeseries API (GET /api/v1/query) over the last ten metric
// intervals and takes the value of the last point of the first series.
type datadog struct {
	client          *http.Client
	clock           clock.PassiveClock
	address         string
	apiKey, appKey  string
	windowInSeconds int64
}

func newDatadog(hc *http.Client, clk clock.PassiveClock, interval string, p flaggerv1.MetricProvider, creds map[string][]byte) (*datadog, error) {
	client, err := httpClient(hc, p.InsecureSkipVerify)
	if err != nil {
		return nil, err
	}
	d := &datadog{client: client, clock: clk, address: p.Address}
	if d.address == "" {
		d.address = datadogDefaultAddress
	}
	apiKey, ok := creds[datadogAPIKey]
	if !ok {
		return nil, fmt.Errorf("datadog credentials does not contain %s", datadogAPIKey)
	}
	appKey, ok := creds[datadogAppKey]
	if !ok {
		return nil, fmt.Errorf("datadog credentials does not contain %s", datadogAppKey)
	}
	d.apiKey, d.appKey = string(apiKey), string(appKey)
	window, err := time.ParseDuration(interval)
	if err != nil {
		return nil, fmt.Errorf("error parsing metric interval: %w", err)
	}
	d.windowInSeconds = int64(datadogWindow * window.Seconds())
	return d, nil
}

// get sends an authenticated GET and returns the body of a 200 answer.
func (d *datadog) get(ctx context.Context, endpoint string, params url.Values) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.address+endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("error http.NewRequest: %w", err)
	}
	req.Header.Set(datadogAPIKeyHeader, d.apiKey)
	req.Header.Set(datadogAppKeyHeader, d.appKey)
	if params != nil {
		req.URL.RawQuery = params.Encode()
	}
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

func (d *datadog) query(ctx context.Context, q string) (float64, error) {
	now := d.clock.Now().Unix()
	b, err := d.get(ctx, datadogQueryPath, url.Values{
		"query": {q},
		"from":  {strconv.FormatInt(now-d.windowInSeconds, 10)},
		"to":    {strconv.FormatInt(now, 10)},
	})
	if err != nil {
		return 0, err
	}
	var res struct {
		Series []struct {
			Pointlist [][]float64 `json:"pointlist"`
		} `json:"series"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return 0, fmt.Errorf("error unmarshaling result: %w, '%s'", err, b)
	}
	if len(res.Series) == 0 || len(res.Series[0].Pointlist) == 0 {
		return 0, fmt.Errorf("invalid response: %s: %w", b, errNoValues)
	}
	points := res.Series[0].Pointlist
	last := points[len(points)-1]
	if len(last) < 2 {
		return 0, fmt.Errorf("invalid response: %s: %w", b, errNoValues)
	}
	// A null value reads as 0, as in Flagger.
	return last[1], nil
}

// online validates the API key.
func (d *datadog) online(ctx context.Context) error {
	_, err := d.get(ctx, datadogValidatePath, nil)
	return err
}
