package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sample is one line of a Prometheus text exposition: name{labels} value.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape is the controller's /metrics at one moment.
type scrape []sample

// scrapeMetrics fetches and parses a Prometheus text endpoint.
func scrapeMetrics(ctx context.Context, url string) (scrape, error) {
	// a controller with thousands of Rollouts serves megabytes of series, slowly on a busy machine
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// plain text, never the protobuf or OpenMetrics formats
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return parseMetrics(string(b))
}

// parseMetrics reads the text exposition format (comments skipped, timestamps ignored).
func parseMetrics(text string) (scrape, error) {
	var out scrape
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(line, "{ "); i >= 0 && line[i] == '{' {
			s.name = line[:i]
			var err error
			if rest, err = parseLabels(line[i+1:], s.labels); err != nil {
				return nil, fmt.Errorf("metrics line %d %q: %w", n+1, line, err)
			}
		} else if i >= 0 {
			s.name, rest = line[:i], line[i:]
		} else {
			return nil, fmt.Errorf("metrics line %d %q: no value", n+1, line)
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("metrics line %d %q: no value", n+1, line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d %q: %w", n+1, line, err)
		}
		s.value = v
		out = append(out, s)
	}
	return out, nil
}

// parseLabels reads `k="v",k2="v2"}` into into and returns what follows the closing brace.
func parseLabels(s string, into map[string]string) (string, error) {
	for {
		s = strings.TrimLeft(s, " ,")
		if strings.HasPrefix(s, "}") {
			return s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return "", fmt.Errorf("bad label in %q", s)
		}
		key := strings.TrimSpace(s[:eq])
		var val strings.Builder
		i := eq + 2
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(s[i])
				}
				continue
			}
			val.WriteByte(s[i])
		}
		if i >= len(s) {
			return "", fmt.Errorf("unterminated label value in %q", s)
		}
		into[key] = val.String()
		s = s[i+1:]
	}
}

// sum adds the samples named name whose labels include match.
func (sc scrape) sum(name string, match map[string]string) float64 {
	total := 0.0
	for _, s := range sc {
		if s.name == name && hasLabels(s.labels, match) {
			total += s.value
		}
	}
	return total
}

// by sums the samples named name (matching match) per value of label.
func (sc scrape) by(name, label string, match map[string]string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range sc {
		if s.name == name && hasLabels(s.labels, match) {
			out[s.labels[label]] += s.value
		}
	}
	return out
}

// has reports whether any sample is named name with label set.
func (sc scrape) has(name, label string) bool {
	for _, s := range sc {
		if s.name == name {
			_, ok := s.labels[label]
			return ok
		}
	}
	return false
}

func hasLabels(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// diffBy returns after-before per label value, dropping zero deltas, sorted by key.
func diffBy(before, after map[string]float64) ([]string, map[string]float64) {
	d := map[string]float64{}
	for k, v := range after {
		if delta := v - before[k]; delta != 0 {
			d[k] = delta
		}
	}
	keys := slices.Sorted(maps.Keys(d))
	return keys, d
}

// Names of the controller metrics the report reads (client-go and controller-runtime).
const (
	mRequests       = "rest_client_requests_total"
	mReconciles     = "controller_runtime_reconcile_total"
	mReconcileSum   = "controller_runtime_reconcile_time_seconds_sum"
	mReconcileCount = "controller_runtime_reconcile_time_seconds_count"
	mQueueSum       = "workqueue_queue_duration_seconds_sum"
	mQueueCount     = "workqueue_queue_duration_seconds_count"
	mRetries        = "workqueue_retries_total"
	mReconcileErrs  = "controller_runtime_reconcile_errors_total"
)

// apiCounts is what the controller did between two scrapes.
type apiCounts struct {
	requests                  float64
	byMethod, byCode          map[string]float64
	methodKeys, codeKeys      []string
	reconciles                map[string]float64 // by result
	reconcileKeys             []string
	reconcileErrors, retries  float64
	reconcileSecs, reconcileN float64
	queueSecs, queueN         float64
}

func countsBetween(before, after scrape) apiCounts {
	rollout := map[string]string{"controller": "rollout"}
	queue := map[string]string{"name": "rollout"}
	c := apiCounts{
		requests:        after.sum(mRequests, nil) - before.sum(mRequests, nil),
		reconcileErrors: after.sum(mReconcileErrs, rollout) - before.sum(mReconcileErrs, rollout),
		retries:         after.sum(mRetries, queue) - before.sum(mRetries, queue),
		reconcileSecs:   after.sum(mReconcileSum, rollout) - before.sum(mReconcileSum, rollout),
		reconcileN:      after.sum(mReconcileCount, rollout) - before.sum(mReconcileCount, rollout),
		queueSecs:       after.sum(mQueueSum, queue) - before.sum(mQueueSum, queue),
		queueN:          after.sum(mQueueCount, queue) - before.sum(mQueueCount, queue),
	}
	c.methodKeys, c.byMethod = diffBy(before.by(mRequests, "method", nil), after.by(mRequests, "method", nil))
	c.codeKeys, c.byCode = diffBy(before.by(mRequests, "code", nil), after.by(mRequests, "code", nil))
	c.reconcileKeys, c.reconciles = diffBy(before.by(mReconciles, "result", rollout), after.by(mReconciles, "result", rollout))
	return c
}
