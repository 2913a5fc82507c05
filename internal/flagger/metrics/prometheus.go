package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// prometheusOnlineQuery is the query whose answer, 1, shows a Prometheus is online.
const prometheusOnlineQuery = "vector(1)"

var whitespace = regexp.MustCompile(`\s+`)

// prometheus queries a Prometheus' instant-query API.
type prometheus struct {
	base                      url.URL
	client                    *http.Client
	token, username, password string
}

// newPrometheus reads the address and, when the provider has a secretRef, its credentials:
// the Secret's key token (a bearer token) or else username and password (basic auth).
func newPrometheus(hc *http.Client, p flaggerv1.MetricProvider, creds map[string][]byte) (*prometheus, error) {
	u, err := url.Parse(p.Address)
	if p.Address == "" || err != nil {
		return nil, fmt.Errorf("%s address %s is not a valid URL", p.Type, p.Address)
	}
	client, err := httpClient(hc, p.InsecureSkipVerify)
	if err != nil {
		return nil, err
	}
	prom := &prometheus{base: *u, client: client}
	if p.SecretRef == nil {
		return prom, nil
	}
	if token, ok := creds["token"]; ok {
		prom.token = string(token)
		return prom, nil
	}
	username, ok := creds["username"]
	if !ok {
		return nil, fmt.Errorf("%s credentials does not contain a username", p.Type)
	}
	password, ok := creds["password"]
	if !ok {
		return nil, fmt.Errorf("%s credentials does not contain a password", p.Type)
	}
	prom.username, prom.password = string(username), string(password)
	return prom, nil
}

// promResponse is the part of an instant query's answer that is read: the samples of a vector.
type promResponse struct {
	Data struct {
		Result []struct {
			Value []any `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

// query runs an instant query (whitespace collapsed to single spaces) and returns the value of
// its last sample; errNoValues when there is none or it is NaN.
func (p *prometheus) query(ctx context.Context, q string) (float64, error) {
	ref := &url.URL{
		Path:     path.Join(p.base.Path, "api/v1/query"),
		RawQuery: "query=" + url.QueryEscape(whitespace.ReplaceAllString(q, " ")),
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base.ResolveReference(ref).String(), nil)
	if err != nil {
		return 0, fmt.Errorf("http.NewRequest failed: %w", err)
	}
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	} else if p.username != "" && p.password != "" {
		req.SetBasicAuth(p.username, p.password)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("request failed: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := readBody(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode >= 400 {
		return 0, fmt.Errorf("error response: %s", b)
	}
	return promValue(b)
}

// promValue is the value of the last sample of a vector answer.
func promValue(b []byte) (float64, error) {
	var res promResponse
	if err := json.Unmarshal(b, &res); err != nil {
		return 0, fmt.Errorf("error unmarshaling result: %w, '%s'", err, b)
	}
	var value *float64
	for _, r := range res.Data.Result {
		if len(r.Value) < 2 {
			continue
		}
		s, ok := r.Value[1].(string)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, err
		}
		value = &f
	}
	if value == nil || math.IsNaN(*value) {
		return 0, fmt.Errorf("%w", errNoValues)
	}
	return *value, nil
}

// online runs vector(1), which must answer 1.
func (p *prometheus) online(ctx context.Context) error {
	v, err := p.query(ctx, prometheusOnlineQuery)
	if err != nil {
		return fmt.Errorf("running query failed: %w", err)
	}
	if v != 1 {
		return fmt.Errorf("value is not 1 for query: %s", prometheusOnlineQuery)
	}
	return nil
}
