package cloudwatch

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/smithy-go/encoding/cbor"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/condition"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// signature is the shape of a SigV4 Authorization header for CloudWatch ("monitoring") in
// eu-west-1 with the test's access key.
var signature = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=AKIDVANETEST/\d{8}/eu-west-1/monitoring/aws4_request, SignedHeaders=[a-z0-9;-]*host;[a-z0-9;-]*x-amz-date[a-z0-9;-]*, Signature=[0-9a-f]{64}$`)

// reply is one answer of the stand-in: a CBOR value, or an error.
type reply struct {
	status int
	body   cbor.Value
	query  string // x-amzn-query-error of an error
	delay  time.Duration
}

// standIn is a loopback CloudWatch speaking the Smithy RPC v2 CBOR protocol of the SDK.
type standIn struct {
	srv      *httptest.Server
	mu       sync.Mutex
	replies  []reply
	auth     []string
	requests []cbor.Map
}

func newStandIn(t *testing.T, replies ...reply) *standIn {
	s := &standIn{replies: replies}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/service/GraniteServiceVersion20100801/operation/GetMetricData" ||
			r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" || r.Header.Get("Content-Type") != "application/cbor" {
			t.Errorf("request %s %s %v", r.Method, r.URL.Path, r.Header)
		}
		raw, _ := io.ReadAll(r.Body)
		v, err := cbor.Decode(raw)
		if err != nil {
			t.Errorf("request body is not CBOR: %v", err)
		}
		m, _ := v.(cbor.Map)
		s.mu.Lock()
		s.auth, s.requests = append(s.auth, r.Header.Get("Authorization")), append(s.requests, m)
		a := s.replies[min(len(s.auth), len(s.replies))-1]
		s.mu.Unlock()
		if a.delay > 0 {
			select {
			case <-time.After(a.delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("Content-Type", "application/cbor")
		if a.query != "" {
			w.Header().Set("X-Amzn-Query-Error", a.query)
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(cbor.Encode(a.body))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func newProvider(s *standIn) *Provider {
	p := New(clocktesting.NewFakePassiveClock(now))
	p.LoadConfig = func(context.Context) (aws.Config, error) {
		return aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDVANETEST", "s3cr3t-access-key", ""),
			RetryMaxAttempts: 3}, nil
	}
	p.ClientOptions = []func(*cloudwatch.Options){func(o *cloudwatch.Options) { o.BaseEndpoint = aws.String(s.srv.URL) }}
	return p
}

// results is a GetMetricData answer as CloudWatch's API reference documents it.
func results(values ...float64) cbor.Map {
	var vs, ts cbor.List
	for i, v := range values {
		vs = append(vs, cbor.Float64(v))
		ts = append(ts, &cbor.Tag{ID: 1, Value: cbor.Float64(float64(now.Unix() - int64(60*(len(values)-i))))})
	}
	return cbor.Map{"MetricDataResults": cbor.List{cbor.Map{"Id": cbor.String("rate"), "Label": cbor.String("rate"),
		"Timestamps": ts, "Values": vs, "StatusCode": cbor.String("Complete")}}, "Messages": cbor.List{}}
}

// queries are the queries of Argo's docs: an expression over two metrics not returned.
func queries() []v1alpha1.CloudWatchMetricDataQuery {
	stat := func(id, name string) v1alpha1.CloudWatchMetricDataQuery {
		return v1alpha1.CloudWatchMetricDataQuery{Id: id, ReturnData: aws.Bool(false), MetricStat: &v1alpha1.CloudWatchMetricStat{
			Metric: v1alpha1.CloudWatchMetricStatMetric{Namespace: aws.String("app"), MetricName: name,
				Dimensions: []v1alpha1.CloudWatchMetricStatMetricDimension{{Name: "Service", Value: "shop"}}},
			Period: intstr.FromInt32(300), Stat: "Sum", Unit: "Count"}}
	}
	return []v1alpha1.CloudWatchMetricDataQuery{{Id: "rate", Expression: aws.String("errors / requests")}, stat("errors", "errors"), stat("requests", "requests")}
}

// TestMeasure checks the signed GetMetricData request and the result of CloudWatch's answers,
// through the condition of Argo's docs.
func TestMeasure(t *testing.T) {
	const cond = "len(result[0].Values) >= 2 and all(result[0].Values, {# <= 0.01})"
	for name, tc := range map[string]struct {
		replies      []reply
		timeout      time.Duration
		wantPhase    v1alpha1.AnalysisPhase
		wantDisplay  string
		wantMeta     map[string]string
		wantErr      string
		wantRequests int
	}{
		"low error rates": {replies: []reply{{status: 200, body: results(0.004, 0.006)}}, wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantDisplay: "[[0.004 0.006]]", wantRequests: 1},
		"one high":        {replies: []reply{{status: 200, body: results(0.004, 0.02)}}, wantPhase: v1alpha1.AnalysisPhaseFailed, wantDisplay: "[[0.004 0.02]]", wantRequests: 1},
		"no data points":  {replies: []reply{{status: 200, body: results()}}, wantPhase: v1alpha1.AnalysisPhaseFailed, wantDisplay: "[[]]", wantRequests: 1},
		"with messages": {replies: []reply{{status: 200, body: cbor.Map{"MetricDataResults": results(0.001, 0.002)["MetricDataResults"],
			"Messages": cbor.List{cbor.Map{"Code": cbor.String("MaxMetricsExceeded"), "Value": cbor.String("too many metrics")}}}}},
			wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantDisplay: "[[0.001 0.002]]", wantMeta: map[string]string{"messages": "[MaxMetricsExceeded: too many metrics]"}, wantRequests: 1},
		"a bad expression": {replies: []reply{{status: 400, body: cbor.Map{"__type": cbor.String("com.amazonaws.cloudwatch#InvalidParameterValueException"),
			"message": cbor.String("Error in expression 'rate': Unrecognized token")}, query: "InvalidParameterValue;Sender"}},
			wantErr: "InvalidParameterValue: Error in expression 'rate': Unrecognized token", wantRequests: 1},
		"throttled, then data": {replies: []reply{{status: 400, body: cbor.Map{"__type": cbor.String("Throttling"), "message": cbor.String("Rate exceeded")}, query: "Throttling;Sender"},
			{status: 200, body: results(0.001, 0.002)}}, wantPhase: v1alpha1.AnalysisPhaseSuccessful, wantDisplay: "[[0.001 0.002]]", wantRequests: 2},
		// the client may give up before a loaded machine has run the stand-in's handler: the
		// requests are not counted
		"a slow answer": {replies: []reply{{status: 200, body: results(0.001), delay: 3 * time.Second}}, timeout: 300 * time.Millisecond, wantErr: "cloudWatch: GetMetricData:", wantRequests: -1},
	} {
		t.Run(name, func(t *testing.T) {
			api := newStandIn(t, tc.replies...)
			p := newProvider(api)
			p.Timeout = tc.timeout
			m := &v1alpha1.Metric{Provider: v1alpha1.MetricProvider{CloudWatch: &v1alpha1.CloudWatchMetric{
				Interval: v1alpha1.DurationPtr(v1alpha1.DurationFromString("30m")), MetricDataQueries: queries()}}}
			res, err := p.Measure(context.Background(), nil, m)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			case tc.wantErr == "":
				if out := condition.Evaluate(cond, "", res.Value); out.Phase != tc.wantPhase || res.Display != tc.wantDisplay {
					t.Errorf("phase %s (%s) display %s; want %s %s", out.Phase, out.Reason, res.Display, tc.wantPhase, tc.wantDisplay)
				}
				if diff := cmp.Diff(tc.wantMeta, res.Metadata); diff != "" {
					t.Errorf("metadata (-want +got):\n%s", diff)
				}
			}
			if tc.wantRequests < 0 {
				return
			}
			if len(api.auth) != tc.wantRequests || !signature.MatchString(api.auth[0]) {
				t.Fatalf("%d requests, Authorization %q", len(api.auth), api.auth)
			}
			checkRequest(t, api.requests[0])
		})
	}
}

// checkRequest checks the window (the 30m before now) and the queries of a GetMetricData
// request, as the SDK encoded them.
func checkRequest(t *testing.T, req cbor.Map) {
	t.Helper()
	start, _ := cbor.AsTime(req["StartTime"])
	end, _ := cbor.AsTime(req["EndTime"])
	if !start.Equal(now.Add(-30*time.Minute)) || !end.Equal(now) {
		t.Errorf("window %s - %s", start, end)
	}
	qs, _ := req["MetricDataQueries"].(cbor.List)
	if len(qs) != 3 {
		t.Fatalf("queries %v", qs)
	}
	first, errs := qs[0].(cbor.Map), qs[1].(cbor.Map)
	stat, _ := errs["MetricStat"].(cbor.Map)
	metric, _ := stat["Metric"].(cbor.Map)
	dims, _ := metric["Dimensions"].(cbor.List)
	got := map[string]any{"id": first["Id"], "expression": first["Expression"], "id2": errs["Id"], "returnData": errs["ReturnData"],
		"namespace": metric["Namespace"], "name": metric["MetricName"], "stat": stat["Stat"], "unit": stat["Unit"], "dims": len(dims)}
	want := map[string]any{"id": cbor.String("rate"), "expression": cbor.String("errors / requests"), "id2": cbor.String("errors"), "returnData": cbor.Bool(false),
		"namespace": cbor.String("app"), "name": cbor.String("errors"), "stat": cbor.String("Sum"), "unit": cbor.String("Count"), "dims": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
	if p, err := cbor.AsInt32(stat["Period"]); err != nil || p != 300 {
		t.Errorf("period %v %v", stat["Period"], err)
	}
}

// TestConfiguration checks the errors of settings that cannot work, before any request.
func TestConfiguration(t *testing.T) {
	api := newStandIn(t, reply{status: 200, body: results(1)})
	for name, tc := range map[string]struct {
		metric  v1alpha1.CloudWatchMetric
		region  string
		wantErr string
	}{
		"a period that is not a number": {metric: v1alpha1.CloudWatchMetric{MetricDataQueries: []v1alpha1.CloudWatchMetricDataQuery{{Id: "a",
			MetricStat: &v1alpha1.CloudWatchMetricStat{Period: intstr.FromString("5m"), Stat: "Sum"}}}}, region: "eu-west-1",
			wantErr: `cloudWatch.metricDataQueries[0].metricStat.period "5m" is not a number of seconds`},
		"no region": {metric: v1alpha1.CloudWatchMetric{MetricDataQueries: queries()}, wantErr: "cloudWatch: no AWS region: set AWS_REGION"},
	} {
		t.Run(name, func(t *testing.T) {
			p := newProvider(api)
			p.LoadConfig = func(context.Context) (aws.Config, error) {
				return aws.Config{Region: tc.region, Credentials: credentials.NewStaticCredentialsProvider("AKIDVANETEST", "x", "")}, nil
			}
			_, err := p.Measure(context.Background(), nil, &v1alpha1.Metric{Provider: v1alpha1.MetricProvider{CloudWatch: &tc.metric}})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
	if len(api.auth) != 0 {
		t.Errorf("%d requests", len(api.auth))
	}
}
