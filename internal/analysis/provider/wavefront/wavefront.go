// Package wavefront measures a metric with a Wavefront (VMware Aria Operations for
// Applications) query, as Argo Rollouts' Wavefront provider does.
//
// The query goes to GET https://<address>/api/v2/chart/api for the instant of the measurement
// (start and end both now, one point, second granularity, series outside the window
// included). The result is the value of the point closest to that instant: a number for one
// series, a list for several (the value shows them with two decimals); the measurement's
// metadata holds the points' timestamps and their drift from now, in seconds, and Wavefront's
// warnings. No series is an error.
//
// The API token is the value, in the controller namespace's `wavefront-api-tokens` Secret, of
// the key named like the address (e.g. `example.wavefront.com: <token>`); it travels as a
// Bearer token and never appears in a message. Calls are bounded by DefaultTimeout and
// retried while they can pass (package apicall).
package wavefront

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/apicall"
	"github.com/vanedev/vane/internal/analysis/provider/credentials"
)

// TokensSecretName is the controller namespace's Secret of API tokens, by address.
const TokensSecretName = "wavefront-api-tokens"

// DefaultTimeout bounds a query.
const DefaultTimeout = 30 * time.Second

// Provider queries Wavefront.
type Provider struct {
	// Secrets reads the tokens' Secret.
	Secrets credentials.Store
	// Clock gives the instant queried.
	Clock clock.PassiveClock
	// HTTP sends the requests (http.DefaultClient when nil).
	HTTP *http.Client
	// Timeout bounds a query (DefaultTimeout when 0).
	Timeout time.Duration
}

// New returns a Wavefront Provider reading the tokens with store, its time from clk.
func New(store credentials.Store, clk clock.PassiveClock) *Provider {
	return &Provider{Secrets: store, Clock: clk}
}

// Measure implements provider.Provider.
func (p *Provider) Measure(ctx context.Context, _ *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) (provider.Result, error) {
	w := metric.Provider.Wavefront
	if w == nil {
		return provider.Result{}, errors.New("the metric has no wavefront provider")
	}
	address := strings.TrimSpace(w.Address)
	if address == "" || strings.Contains(address, "/") {
		return provider.Result{}, provider.Permanent(fmt.Errorf("wavefront.address %q: give the host name of the Wavefront API, e.g. example.wavefront.com", w.Address))
	}
	s, err := p.Secrets.Get(ctx, p.Secrets.ControllerNamespace(), TokensSecretName)
	if err != nil {
		return provider.Result{}, fmt.Errorf("wavefront: %w", err)
	}
	token := s.Value(address)
	if token == "" {
		return provider.Result{}, fmt.Errorf("wavefront: the Secret %s/%s has no token for %q (a key named like the address)", s.Namespace, s.Name, address)
	}
	now := p.Clock.Now()
	ms := strconv.FormatInt(now.Unix()*1000, 10)
	q := url.Values{"q": {w.Query}, "s": {ms}, "e": {ms}, "p": {"1"}, "g": {"s"}, "i": {"true"}, "strict": {"false"}}
	call := apicall.Call{API: "wavefront", Method: http.MethodGet, URL: "https://" + address + "/api/v2/chart/api?" + q.Encode(),
		Header: http.Header{"Authorization": {"Bearer " + token}, "Accept": {"application/json"}}, Secrets: []string{token}}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := apicall.Do(ctx, p.HTTP, call)
	if err != nil {
		return provider.Result{}, err
	}
	if !resp.OK() {
		return provider.Result{}, call.StatusError(resp)
	}
	return parse(call, resp.Body, now)
}

// response is the answer of the chart API (the fields read).
type response struct {
	TimeSeries []struct {
		Label string      `json:"label"`
		Data  [][]float64 `json:"data"`
	} `json:"timeseries"`
	Warnings     string `json:"warnings"`
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
}

// parse reads the point closest to now of each series.
func parse(call apicall.Call, body []byte, now time.Time) (provider.Result, error) {
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		return provider.Result{}, call.Errorf("the answer is not a chart API result (%v)%s", err, apicall.Excerpt(body))
	}
	if r.ErrorType != "" || r.ErrorMessage != "" {
		return provider.Result{}, call.Errorf("the query failed: %s %s", r.ErrorType, r.ErrorMessage)
	}
	meta := map[string]string{}
	if r.Warnings != "" {
		meta["warnings"] = r.Warnings
	}
	if len(r.TimeSeries) == 0 {
		return provider.Result{Metadata: meta}, call.Errorf("no time series found%s", warned(r.Warnings))
	}
	var values []float64
	var shown, epochs, drifts []string
	for _, ts := range r.TimeSeries {
		v, epoch, drift := closest(ts.Data, now)
		values = append(values, v)
		shown = append(shown, fmt.Sprintf("%.2f", v))
		epochs, drifts = append(epochs, strconv.FormatInt(epoch, 10)), append(drifts, strconv.FormatInt(drift, 10))
	}
	if len(values) == 1 {
		meta["timestamps"], meta["drift"] = epochs[0], drifts[0]
		return provider.Result{Value: values[0], Display: shown[0], Metadata: meta}, nil
	}
	list := func(s []string) string { return "[" + strings.Join(s, ",") + "]" }
	meta["timestamps"], meta["drift"] = list(epochs), list(drifts)
	return provider.Result{Value: values, Display: list(shown), Metadata: meta}, nil
}

// closest returns the value of the point ([seconds, value]) closest to now, its time and its
// distance from now in seconds (0, 0, 0 for a series without points, as in Argo).
func closest(points [][]float64, now time.Time) (value float64, epoch, drift int64) {
	best := math.Inf(1)
	at := float64(now.Unix())
	var bestTime float64
	for _, pt := range points {
		if len(pt) < 2 {
			continue
		}
		if d := pt[0] - at; math.Abs(d) < math.Abs(best) {
			value, bestTime, best = pt[1], pt[0], d
		}
	}
	if math.IsInf(best, 1) {
		return 0, 0, 0
	}
	return value, int64(bestTime), int64(best)
}

func warned(w string) string {
	if w == "" {
		return ""
	}
	return " (Wavefront warns: " + w + ")"
}
