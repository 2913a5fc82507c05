package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Names of the series the report reads from the API server and the controller.
const (
	mAPIRequests  = "apiserver_request_total"                // API server: every client's requests
	mCtrlRequests = "controller_clientset_k8s_request_total" // the controller's, by kind and verb
	mEvents       = "rollout_events_total"                   // the controller's Rollout events, by type and reason
	mDropped      = "vane_events_dropped_total"
	mLimiterSum   = "rest_client_rate_limiter_duration_seconds_sum"
	mLimiterCount = "rest_client_rate_limiter_duration_seconds_count"
)

// apiServer scrapes the API server's own /metrics.
type apiServer struct{ rc rest.Interface }

func newAPIServer(cfg *rest.Config) (*apiServer, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("API server client: %w", err)
	}
	return &apiServer{rc: cs.Discovery().RESTClient()}, nil
}

// scrape reads the API server's request counter (only that series: the exposition is large).
func (a *apiServer) scrape(ctx context.Context) (scrape, error) {
	b, err := a.rc.Get().AbsPath("/metrics").SetHeader("Accept", "text/plain;version=0.0.4").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("GET /metrics of the API server: %w", err)
	}
	var keep []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, mAPIRequests+"{") {
			keep = append(keep, line)
		}
	}
	return parseMetrics(strings.Join(keep, "\n"))
}

// requestRow is a count of requests of one verb on one resource.
type requestRow struct {
	verb, resource string
	n              float64
}

// requestsBy returns after-before of a request counter by verb and resource (the resource with
// its subresource, as rollouts/status), largest first, and the total. Long-running requests
// (WATCH) are left out: the API server counts them when they end.
func requestsBy(before, after scrape, name, verbLabel, resourceLabel string) ([]requestRow, float64) {
	key := func(s sample) string {
		r := s.labels[resourceLabel]
		if sub := s.labels["subresource"]; sub != "" {
			r += "/" + sub
		}
		return strings.ToUpper(s.labels[verbLabel]) + " " + r
	}
	sum := func(sc scrape) map[string]float64 {
		out := map[string]float64{}
		for _, s := range sc {
			if s.name == name && !strings.EqualFold(s.labels[verbLabel], "watch") {
				out[key(s)] += s.value
			}
		}
		return out
	}
	b, a := sum(before), sum(after)
	var rows []requestRow
	total := 0.0
	for k, v := range a {
		if d := v - b[k]; d > 0 {
			verb, res, _ := strings.Cut(k, " ")
			rows = append(rows, requestRow{verb, res, d})
			total += d
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].n != rows[j].n {
			return rows[i].n > rows[j].n
		}
		return rows[i].verb+rows[i].resource < rows[j].verb+rows[j].resource
	})
	return rows, total
}

// formatRows prints up to max rows as "VERB resource n (per object)".
func formatRows(rows []requestRow, per float64, max int) string {
	var parts []string
	for i, r := range rows {
		if i == max {
			parts = append(parts, fmt.Sprintf("... %d more", len(rows)-max))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %s %.0f (%.2f)", r.verb, r.resource, r.n, r.n/per))
	}
	return strings.Join(parts, ", ")
}
