package datadog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/apicall"
)

// DefaultAggregator reduces each v2 query's series when the metric sets no aggregator.
const DefaultAggregator = "last"

// MaxGroups bounds the groups listed in a measurement's metadata (the result keeps them all).
const MaxGroups = 100

// buildCall makes the request of a v1 or v2 query over the window ending at now.
func buildCall(d *v1alpha1.DatadogMetric, k keys, now time.Time, span time.Duration) (apicall.Call, error) {
	version := d.EffectiveAPIVersion()
	target, err := endpoint(k.address, version)
	if err != nil {
		return apicall.Call{}, provider.Permanent(fmt.Errorf("datadog: %s: %w", k.from, err))
	}
	from, to := window(now, span)
	call := apicall.Call{API: "datadog", Secrets: []string{k.apiKey, k.appKey}, Header: http.Header{
		"Content-Type":       {"application/json"},
		"Dd-Api-Key":         {k.apiKey},
		"Dd-Application-Key": {k.appKey},
	}}
	if version != "v2" {
		q := url.Values{"query": {d.Query}, "from": {strconv.FormatInt(from, 10)}, "to": {strconv.FormatInt(to, 10)}}
		call.Method, call.URL = http.MethodGet, target+"?"+q.Encode()
		return call, nil
	}
	body, err := json.Marshal(v2Request(d, from, to))
	if err != nil {
		return apicall.Call{}, fmt.Errorf("datadog: encoding the query: %w", err)
	}
	call.Method, call.URL, call.Body = http.MethodPost, target, body
	return call, nil
}

// scalarRequest is the body of POST /api/v2/query/scalar.
type scalarRequest struct {
	Data struct {
		Type       string `json:"type"`
		Attributes struct {
			From     int64               `json:"from"`
			To       int64               `json:"to"`
			Queries  []map[string]string `json:"queries"`
			Formulas []map[string]string `json:"formulas"`
		} `json:"attributes"`
	} `json:"data"`
}

// v2Request is the scalar request of a metric: its query (named "query") or queries, sorted
// by name, and its formula; times in milliseconds.
func v2Request(d *v1alpha1.DatadogMetric, from, to int64) scalarRequest {
	queries := d.Queries
	if d.Query != "" {
		queries = map[string]string{"query": d.Query}
	}
	names := make([]string, 0, len(queries))
	for name := range queries {
		names = append(names, name)
	}
	sort.Strings(names)
	aggregator := d.Aggregator
	if aggregator == "" {
		aggregator = DefaultAggregator
	}
	var r scalarRequest
	r.Data.Type = "scalar_request"
	r.Data.Attributes.From, r.Data.Attributes.To = from*1000, to*1000
	r.Data.Attributes.Queries = []map[string]string{}
	for _, name := range names {
		r.Data.Attributes.Queries = append(r.Data.Attributes.Queries, map[string]string{
			"aggregator": aggregator, "data_source": "metrics", "name": name, "query": queries[name]})
	}
	r.Data.Attributes.Formulas = []map[string]string{}
	if d.Formula != "" {
		r.Data.Attributes.Formulas = append(r.Data.Attributes.Formulas, map[string]string{"formula": d.Formula})
	}
	return r
}

// v1Response is the answer of GET /api/v1/query (the fields read).
type v1Response struct {
	Series []struct {
		Pointlist [][]*float64 `json:"pointlist"`
	} `json:"series"`
	Error string `json:"error"`
}

// parseV1 reads the last point of the first series; no series or no point is a nil result,
// and so is a null point (Datadog's "no data in this bucket").
func parseV1(call apicall.Call, body []byte) (provider.Result, error) {
	var r v1Response
	if err := json.Unmarshal(body, &r); err != nil {
		return provider.Result{}, call.Errorf("the answer is not a v1 query result (%v)%s", err, apicall.Excerpt(body))
	}
	if r.Error != "" {
		return provider.Result{}, call.Errorf("the query failed: %s", r.Error)
	}
	if len(r.Series) == 0 || len(r.Series[0].Pointlist) == 0 {
		return provider.Result{Value: nil, Display: "[]"}, nil
	}
	points := r.Series[0].Pointlist
	last := points[len(points)-1]
	if len(last) != 2 {
		return provider.Result{}, call.Errorf("the last point of the series has %d values, not [time, value]", len(last))
	}
	if last[1] == nil {
		return provider.Result{Value: nil, Display: "null"}, nil
	}
	v := *last[1]
	return provider.Result{Value: v, Display: strconv.FormatFloat(v, 'f', -1, 64)}, nil
}

// v2Response is the answer of POST /api/v2/query/scalar (the fields read). Datadog documents
// errors at the top level; Argo reads them inside data: both are read.
type v2Response struct {
	Data struct {
		Attributes struct {
			Columns []column `json:"columns"`
		} `json:"attributes"`
		Errors string `json:"errors"`
	} `json:"data"`
	Errors json.RawMessage `json:"errors"`
}

// column is a number column (values: numbers or null) or a group column (values: a list of
// tag values per group). Answers without a type are number columns.
type column struct {
	Name   string            `json:"name"`
	Type   string            `json:"type"`
	Values []json.RawMessage `json:"values"`
}

// group is a grouped value, as stored in the measurement's metadata.
type group struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// parseV2 reads a scalar answer: the first number column's values, without nulls; one number
// for an ungrouped query, a list for a grouped one.
func parseV2(call apicall.Call, body []byte) (provider.Result, error) {
	var r v2Response
	if err := json.Unmarshal(body, &r); err != nil {
		return provider.Result{}, call.Errorf("the answer is not a v2 scalar result (%v)%s", err, apicall.Excerpt(body))
	}
	if msg := errorsOf(r); msg != "" {
		return provider.Result{}, call.Errorf("the query failed: %s", msg)
	}
	values, groups, grouped, err := extract(r.Data.Attributes.Columns)
	if err != nil {
		return provider.Result{}, call.Errorf("%v", err)
	}
	if len(values) == 0 {
		return provider.Result{Value: nil, Display: "[]"}, nil
	}
	if !grouped {
		return provider.Result{Value: values[0], Display: strconv.FormatFloat(values[0], 'f', -1, 64)}, nil
	}
	shown := make([]string, len(values))
	for i, v := range values {
		shown[i] = strconv.FormatFloat(v, 'f', -1, 64)
	}
	res := provider.Result{Value: values, Display: "[" + strings.Join(shown, ",") + "]", Metadata: map[string]string{}}
	listed, truncated := groupsShown(groups)
	b, _ := json.Marshal(listed)
	res.Metadata["groups"] = string(b)
	if truncated {
		res.Metadata["groups_truncated"] = "true"
	}
	return res, nil
}

// errorsOf returns the errors of a scalar answer (a string, or a list of strings).
func errorsOf(r v2Response) string {
	if r.Data.Errors != "" {
		return r.Data.Errors
	}
	raw := bytes.TrimSpace(r.Errors)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, "; ")
	}
	return string(raw)
}

// extract returns the values of the first number column without nulls, with the names of
// their groups when there are group columns (one per tag: a group's name joins its tag
// values with commas).
func extract(columns []column) (values []float64, groups []group, grouped bool, err error) {
	var num *column
	var groupCols []*column
	for i := range columns {
		c := &columns[i]
		if num == nil && (c.Type == "" || c.Type == "number") {
			num = c
		}
		if c.Type == "group" {
			groupCols = append(groupCols, c)
		}
	}
	grouped = len(groupCols) > 0
	if num == nil {
		return nil, nil, grouped, nil
	}
	values = []float64{}
	for i, raw := range num.Values {
		if string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, nil, grouped, fmt.Errorf("the value %s of column %q is not a number", raw, num.Name)
		}
		values = append(values, f)
		if grouped {
			name, ok := groupName(groupCols, i)
			if !ok {
				return nil, nil, grouped, fmt.Errorf("the group of value %d is missing or not a list of tags", i)
			}
			groups = append(groups, group{Name: name, Value: f})
		}
	}
	return values, groups, grouped, nil
}

// groupName joins the tag values of row i across the group columns.
func groupName(cols []*column, i int) (string, bool) {
	var parts []string
	for _, c := range cols {
		if i >= len(c.Values) {
			return "", false
		}
		var tags []string
		if err := json.Unmarshal(c.Values[i], &tags); err != nil || len(tags) == 0 {
			return "", false
		}
		parts = append(parts, tags...)
	}
	return strings.Join(parts, ","), true
}

// groupsShown returns at most MaxGroups groups: when there are more, the lowest and the
// highest values (whichever end is the bad one, it stays in view).
func groupsShown(groups []group) ([]group, bool) {
	if len(groups) <= MaxGroups {
		return groups, false
	}
	sorted := append([]group(nil), groups...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Value < sorted[j].Value })
	low := MaxGroups / 2
	return append(sorted[:low:low], sorted[len(sorted)-(MaxGroups-low):]...), true
}
