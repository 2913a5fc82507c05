// Package cloudwatch measures a metric with Amazon CloudWatch's GetMetricData, as Argo
// Rollouts' CloudWatch provider does, through the AWS SDK for Go v2.
//
// `metricDataQueries` are sent as they are (ids, expressions, metricStat, periods, returnData)
// over the window of `interval` (default 5m) ending now. The result is the list of
// MetricDataResults as the SDK decodes them, so a condition reads `result[0].Values` (and
// Id, Label, Timestamps, StatusCode): `all(result[0].Values, {# <= 0.01})`. The
// measurement's value shows each result's values ([[0.004 0.006]]), and CloudWatch's
// messages, if any, are stored in its metadata. Pages that CloudWatch splits an answer into
// are joined (Argo reads the first only).
//
// Credentials and region come from the controller's environment, as the SDK finds them:
// AWS_REGION, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a web identity token (IRSA on EKS),
// EKS Pod Identity, shared config files, or the instance role. Calls are bounded by
// DefaultTimeout; the SDK retries throttling and transient failures within it.
package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"k8s.io/utils/clock"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
)

const (
	// DefaultInterval is the window queried when the metric sets no interval (Argo's).
	DefaultInterval = 5 * time.Minute
	// DefaultTimeout bounds a measurement's calls.
	DefaultTimeout = 30 * time.Second
	// maxPages bounds the pages of one answer read.
	maxPages = 10
)

// Provider queries CloudWatch.
type Provider struct {
	// Clock gives the end of the queried window.
	Clock clock.PassiveClock
	// HTTP sends the requests (the SDK's client when nil).
	HTTP *http.Client
	// LoadConfig loads the AWS configuration (region, credentials); the SDK's default
	// chain when nil. It is loaded once, and again after a failure.
	LoadConfig func(ctx context.Context) (aws.Config, error)
	// ClientOptions adjust the CloudWatch client (e.g. its endpoint).
	ClientOptions []func(*cloudwatch.Options)
	// Timeout bounds a measurement (DefaultTimeout when 0).
	Timeout time.Duration

	mu     sync.Mutex
	client *cloudwatch.Client
}

// New returns a CloudWatch Provider taking its time from clk.
func New(clk clock.PassiveClock) *Provider { return &Provider{Clock: clk} }

// Measure implements provider.Provider.
func (p *Provider) Measure(ctx context.Context, _ *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) (provider.Result, error) {
	cw := metric.Provider.CloudWatch
	if cw == nil {
		return provider.Result{}, errors.New("the metric has no cloudWatch provider")
	}
	span := DefaultInterval
	if cw.Interval != nil {
		d, err := cw.Interval.Duration()
		if err != nil || d <= 0 {
			return provider.Result{}, provider.Permanent(fmt.Errorf("cloudWatch.interval %q: give a positive duration such as 30m", cw.Interval.String()))
		}
		span = d
	}
	queries, err := convert(cw.MetricDataQueries)
	if err != nil {
		return provider.Result{}, provider.Permanent(err)
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client, err := p.cloudWatch(ctx)
	if err != nil {
		return provider.Result{}, err
	}
	end := p.Clock.Now()
	start := end.Add(-span)
	results, messages, err := getMetricData(ctx, client, &cloudwatch.GetMetricDataInput{StartTime: &start, EndTime: &end, MetricDataQueries: queries})
	if err != nil {
		return provider.Result{}, fmt.Errorf("cloudWatch: GetMetricData: %w", err)
	}
	values := make([][]float64, len(results))
	for i, r := range results {
		values[i] = r.Values
	}
	res := provider.Result{Value: results, Display: fmt.Sprintf("%v", values)}
	if len(messages) > 0 {
		res.Metadata = map[string]string{"messages": "[" + strings.Join(messages, ", ") + "]"}
	}
	return res, nil
}

// cloudWatch returns the CloudWatch client, loading the AWS configuration the first time.
func (p *Provider) cloudWatch(ctx context.Context) (*cloudwatch.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		return p.client, nil
	}
	load := p.LoadConfig
	if load == nil {
		load = func(ctx context.Context) (aws.Config, error) { return awsconfig.LoadDefaultConfig(ctx) }
	}
	cfg, err := load(ctx)
	if err != nil {
		return nil, fmt.Errorf("cloudWatch: loading the AWS configuration from the environment: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("cloudWatch: no AWS region: set AWS_REGION in the controller's environment")
	}
	if p.HTTP != nil {
		cfg.HTTPClient = p.HTTP
	}
	p.client = cloudwatch.NewFromConfig(cfg, p.ClientOptions...)
	return p.client, nil
}

// getMetricData reads every page of the answer (at most maxPages), joining the values and
// timestamps of each query id.
func getMetricData(ctx context.Context, client *cloudwatch.Client, in *cloudwatch.GetMetricDataInput) ([]types.MetricDataResult, []string, error) {
	var results []types.MetricDataResult
	byID := map[string]int{}
	var messages []string
	pages := cloudwatch.NewGetMetricDataPaginator(client, in)
	for n := 0; pages.HasMorePages() && n < maxPages; n++ {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, m := range out.Messages {
			messages = append(messages, aws.ToString(m.Code)+": "+aws.ToString(m.Value))
		}
		for _, r := range out.MetricDataResults {
			i, seen := byID[aws.ToString(r.Id)]
			if !seen {
				byID[aws.ToString(r.Id)] = len(results)
				results = append(results, r)
				continue
			}
			results[i].Values = append(results[i].Values, r.Values...)
			results[i].Timestamps = append(results[i].Timestamps, r.Timestamps...)
			results[i].StatusCode = r.StatusCode
		}
	}
	return results, messages, nil
}
