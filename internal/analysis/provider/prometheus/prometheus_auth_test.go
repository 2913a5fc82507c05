package prometheus

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
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/auth"
)

// ampSignature is the shape of a SigV4 signature for Amazon Managed Prometheus ("aps") in
// eu-west-1, over the form body's content type and length, the host and the date.
var ampSignature = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=AKIDVANEPROM/20260301/eu-west-1/aps/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date;x-scope-orgid, Signature=[0-9a-f]{64}$`)

// TestAuthentication checks what a Prometheus (or its front) receives with basicAuth and
// sigv4, and that an incomplete basicAuth is a permanent error sent nowhere.
func TestAuthentication(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		if r.URL.Path != "/api/v1/query" || !strings.Contains(string(body), "query=up") {
			t.Errorf("request %s %s", r.URL.Path, body)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1772366400,"1"]}]}}`)
	}))
	defer srv.Close()
	p := New(clocktesting.NewFakePassiveClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)))
	p.SigV4 = &auth.SigV4{Now: func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) },
		LoadConfig: func(_ context.Context, region, _ string) (aws.Config, error) {
			return aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider("AKIDVANEPROM", "s3cr3t", "")}, nil
		}}
	for name, tc := range map[string]struct {
		auth      v1alpha1.Authentication
		check     func(h http.Header) bool
		wantErr   string
		permanent bool
	}{
		"basicAuth": {auth: v1alpha1.Authentication{BasicAuth: v1alpha1.BasicAuthConfig{Username: "123456", Password: "glc_t0ken"}},
			check: func(h http.Header) bool { return h.Get("Authorization") == "Basic MTIzNDU2OmdsY190MGtlbg==" }},
		"sigv4": {auth: v1alpha1.Authentication{Sigv4: v1alpha1.Sigv4Config{Region: "eu-west-1"}},
			check: func(h http.Header) bool {
				return ampSignature.MatchString(h.Get("Authorization")) && h.Get("X-Amz-Date") == "20260301T120000Z"
			}},
		"basicAuth without a password": {auth: v1alpha1.Authentication{BasicAuth: v1alpha1.BasicAuthConfig{Username: "123456"}},
			wantErr: `prometheus: authentication.basicAuth: give the password of user "123456"`, permanent: true},
	} {
		t.Run(name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			m := &v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Address: srv.URL, Query: "up",
				Headers: []v1alpha1.WebMetricHeader{{Key: "X-Scope-OrgID", Value: "tenant-1"}}, Authentication: tc.auth}}}
			res, err := p.Measure(context.Background(), nil, m)
			mu.Lock()
			defer mu.Unlock()
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || provider.IsPermanent(err) != tc.permanent || len(seen) != 0 {
					t.Errorf("error %v (permanent %v), %d requests; want %q", err, provider.IsPermanent(err), len(seen), tc.wantErr)
				}
				return
			}
			if err != nil || res.Display != "[1]" || len(seen) != 1 || !tc.check(seen[0]) {
				t.Errorf("result %q, error %v, headers %v", res.Display, err, seen)
			}
		})
	}
}
