package dynatrace

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/apicall"
)

// MaxDimensions bounds the series whose dimensions a measurement's metadata lists (the result
// keeps every value).
const MaxDimensions = 100

// Answer is the body of a successful GET /api/v2/metrics/query (the fields read), as the
// Metrics API v2 reference documents it.
type Answer struct {
	// TotalCount is the number of series.
	TotalCount int `json:"totalCount"`
	// Resolution is the resolution of the data points.
	Resolution string `json:"resolution"`
	// Result has one collection per metric the selector names; nil when the answer has no
	// result field.
	Result []Collection `json:"result"`
	// Warnings are the API's warnings about the whole query.
	Warnings []string `json:"warnings,omitempty"`
}

// Collection is the series of one metric.
type Collection struct {
	// MetricID is the metric key with its transformations.
	MetricID string `json:"metricId"`
	// Data has one series per combination of dimension values.
	Data []Series `json:"data"`
	// Warnings are the API's warnings about this metric.
	Warnings []string `json:"warnings,omitempty"`
}

// Series is one series: parallel timestamps (Unix milliseconds) and values, a nil value being
// a gap without data.
type Series struct {
	Dimensions   []string          `json:"dimensions"`
	DimensionMap map[string]string `json:"dimensionMap"`
	Timestamps   []int64           `json:"timestamps"`
	Values       []*float64        `json:"values"`
}

// ErrorAnswer is the body of a failed call.
type ErrorAnswer struct {
	Error *struct {
		Code                 int    `json:"code"`
		Message              string `json:"message"`
		ConstraintViolations []struct {
			Path              string `json:"path"`
			Message           string `json:"message"`
			ParameterLocation string `json:"parameterLocation"`
		} `json:"constraintViolations"`
	} `json:"error"`
}

// Message returns the API's message with its constraint violations ("" when the body is not
// an error answer).
func (e ErrorAnswer) Message() string {
	if e.Error == nil {
		return ""
	}
	parts := []string{e.Error.Message}
	for _, v := range e.Error.ConstraintViolations {
		if v.Path != "" {
			parts = append(parts, v.Path+": "+v.Message)
		} else {
			parts = append(parts, v.Message)
		}
	}
	return strings.Join(parts, "; ")
}

// Last returns the series' last value that is not a gap.
func (s Series) Last() (float64, bool) {
	for i := len(s.Values) - 1; i >= 0; i-- {
		if s.Values[i] != nil {
			return *s.Values[i], true
		}
	}
	return 0, false
}

// failure is the error of an answer that is not 2xx: Dynatrace's own message when the body is
// an error answer, else the status and the start of the body.
func failure(call apicall.Call, resp *apicall.Response) error {
	var e ErrorAnswer
	if json.Unmarshal(resp.Body, &e) != nil || e.Message() == "" {
		return call.StatusError(resp)
	}
	msg := fmt.Sprintf("%s %s answered %s: %s", call.Method, call.URL, resp.Status, e.Message())
	if resp.Attempts > 1 {
		msg += fmt.Sprintf(" (after %d attempts)", resp.Attempts)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		msg += ": check the token and its metrics.read scope"
	}
	return call.Errorf("%s", msg)
}

// parse reads a successful answer: the last value of each series of the one metric queried; a
// number for one series, a list for several (their dimensions in the metadata), nil when
// there is no data.
func parse(call apicall.Call, body []byte) (provider.Result, error) {
	var a Answer
	if err := json.Unmarshal(body, &a); err != nil {
		return provider.Result{}, call.Errorf("the answer is not a metrics query result (%v)%s", err, apicall.Excerpt(body))
	}
	if a.Result == nil {
		return provider.Result{}, call.Errorf("the answer has no result%s", apicall.Excerpt(body))
	}
	meta := map[string]string{}
	if w := warnings(a); w != "" {
		meta["warnings"] = w
	}
	switch len(a.Result) {
	case 0:
		return provider.Result{Value: nil, Display: "[]", Metadata: meta}, nil
	case 1:
	default:
		ids := make([]string, len(a.Result))
		for i, c := range a.Result {
			ids[i] = c.MetricID
		}
		return provider.Result{}, call.Errorf("the selector gave %d metrics (%s): select one", len(ids), strings.Join(ids, ", "))
	}
	c := a.Result[0]
	meta["metricId"] = c.MetricID
	var values []float64
	var dims []map[string]string
	for _, s := range c.Data {
		if v, ok := s.Last(); ok {
			values = append(values, v)
			dims = append(dims, dimensionsOf(s))
		}
	}
	switch {
	case len(c.Data) == 0:
		return provider.Result{Value: nil, Display: "[]", Metadata: meta}, nil
	case len(values) == 0:
		return provider.Result{Value: nil, Display: "null", Metadata: meta}, nil
	}
	if len(dims) > MaxDimensions {
		dims, meta["dimensions_truncated"] = dims[:MaxDimensions], "true"
	}
	b, err := json.Marshal(dims)
	if err != nil {
		return provider.Result{}, call.Errorf("encoding the dimensions: %v", err)
	}
	meta["dimensions"] = string(b)
	if len(values) == 1 {
		return provider.Result{Value: values[0], Display: strconv.FormatFloat(values[0], 'f', -1, 64), Metadata: meta}, nil
	}
	shown := make([]string, len(values))
	for i, v := range values {
		shown[i] = strconv.FormatFloat(v, 'f', -1, 64)
	}
	return provider.Result{Value: values, Display: "[" + strings.Join(shown, ",") + "]", Metadata: meta}, nil
}

// dimensionsOf is a series' dimension map, or its dimension values by position when the
// answer has no map.
func dimensionsOf(s Series) map[string]string {
	if len(s.DimensionMap) > 0 || len(s.Dimensions) == 0 {
		if s.DimensionMap == nil {
			return map[string]string{}
		}
		return s.DimensionMap
	}
	m := make(map[string]string, len(s.Dimensions))
	for i, d := range s.Dimensions {
		m[strconv.Itoa(i)] = d
	}
	return m
}

// warnings joins the answer's and the metric's warnings.
func warnings(a Answer) string {
	w := append([]string(nil), a.Warnings...)
	for _, c := range a.Result {
		w = append(w, c.Warnings...)
	}
	return strings.Join(w, "; ")
}
