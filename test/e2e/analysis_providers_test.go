package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// datadogStandIn is Datadog's v2 scalar query API on loopback: it answers each query with the
// error rate it is set to, and records the keys and queries it was sent.
type datadogStandIn struct {
	srv     *httptest.Server
	mu      sync.Mutex
	rate    float64
	keys    []string
	queries []string
}

func newDatadogStandIn(t *testing.T, rate float64) *datadogStandIn {
	d := &datadogStandIn{rate: rate}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Data struct {
				Type       string `json:"type"`
				Attributes struct {
					Queries []struct {
						Query string `json:"query"`
					} `json:"queries"`
				} `json:"attributes"`
			} `json:"data"`
		}
		raw, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/api/v2/query/scalar" || json.Unmarshal(raw, &body) != nil || body.Data.Type != "scalar_request" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"errors":["not a scalar query"]}`)
			return
		}
		d.mu.Lock()
		d.keys = append(d.keys, r.Header.Get("DD-API-KEY")+"/"+r.Header.Get("DD-APPLICATION-KEY"))
		for _, q := range body.Data.Attributes.Queries {
			d.queries = append(d.queries, q.Query)
		}
		rate := d.rate
		d.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"type": "scalar_response", "attributes": map[string]any{
			"columns": []any{map[string]any{"name": "query", "type": "number", "values": []float64{rate}}}}}})
	}))
	t.Cleanup(d.srv.Close)
	return d
}

// TestAnalysisDatadog runs an AnalysisRun whose metric is a Datadog v2 query, with the keys in
// a Secret of the analysis' namespace (secretRef, namespaced) and Argo's requestTimeout: the
// template is accepted by a strict client and keeps those fields, the controller queries the
// stand-in with the keys, and the run is Successful; then a high error rate fails it. The keys
// appear nowhere in the run.
func TestAnalysisDatadog(t *testing.T) {
	t.Parallel() // its own namespace: runs beside the others
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	const apiKey, appKey = "e2e-dd-api-k3y", "e2e-dd-app-k3y"
	dd := newDatadogStandIn(t, 0.002)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "datadog-keys", Namespace: ns},
		StringData: map[string]string{"api-key": apiKey, "app-key": appKey, "address": dd.srv.URL}}
	if err := env.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	tmpl := &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: "error-rate", Namespace: ns}, Spec: v1alpha1.AnalysisTemplateSpec{
		Args: []v1alpha1.Argument{{Name: "service-name"}},
		Metrics: []v1alpha1.Metric{{Name: "error-rate", Interval: ptr.To(v1alpha1.DurationFromString("1s")), Count: ptr.To(intstr.FromInt32(2)),
			SuccessCondition: "default(result, 0) < 0.01", FailureLimit: ptr.To(intstr.FromInt32(0)),
			Provider: v1alpha1.MetricProvider{Datadog: &v1alpha1.DatadogMetric{ApiVersion: "v2", Interval: ptr.To(v1alpha1.DurationFromString("5m")),
				Query:          "sum:requests.error.rate{service:{{args.service-name}}}",
				SecretRef:      v1alpha1.SecretRef{Name: "datadog-keys", Namespaced: true},
				RequestTimeout: ptr.To(v1alpha1.DurationFromString("5s"))}}}},
	}}
	if err := env.Client.Create(ctx, tmpl, client.FieldValidation("Strict")); err != nil {
		t.Fatalf("a strict client refuses Argo's datadog fields: %v", err)
	}
	stored := &v1alpha1.AnalysisTemplate{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(tmpl), stored); err != nil {
		t.Fatal(err)
	}
	if d := stored.Spec.Metrics[0].Provider.Datadog; d.SecretRef.Name != "datadog-keys" || !d.SecretRef.Namespaced || d.RequestTimeout == nil {
		t.Fatalf("the API server pruned the datadog fields: %+v", d)
	}

	startRun(t, env, ns, "healthy", []string{"error-rate"}, map[string]string{"service-name": "shop"})
	run := waitPhase(t, env, ns, "healthy", 30*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	if mr := metricResult(run, "error-rate"); mr.Successful != 2 || mr.Measurements[0].Value != "0.002" {
		t.Errorf("metric result %+v", mr)
	}
	dd.mu.Lock()
	if len(dd.keys) < 2 || dd.keys[0] != apiKey+"/"+appKey || dd.queries[0] != "sum:requests.error.rate{service:shop}" {
		t.Errorf("Datadog got keys %q, queries %q", dd.keys, dd.queries)
	}
	dd.rate = 0.05
	dd.mu.Unlock()

	startRun(t, env, ns, "failing", []string{"error-rate"}, map[string]string{"service-name": "shop"})
	failed := waitPhase(t, env, ns, "failing", 30*time.Second, v1alpha1.AnalysisPhaseFailed)
	if msg := failed.Status.Message; !strings.Contains(msg, "0.05") {
		t.Errorf("message %q does not name the value", msg)
	}
	for _, r := range []*v1alpha1.AnalysisRun{run, failed} {
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), apiKey) || strings.Contains(string(b), appKey) {
			t.Errorf("a key shows in the AnalysisRun %s:\n%s", r.Name, b)
		}
	}
}
