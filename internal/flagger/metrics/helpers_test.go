package metrics

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

func ptr[T any](v T) *T { return &v }

// fakeReader is a controller-runtime fake client holding objs.
func fakeReader(t *testing.T, objs ...client.Object) client.Reader {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := flaggerv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
}

// testCanary is Canary test/podinfo targeting Deployment podinfo, with metrics.
func testCanary(metrics ...flaggerv1.CanaryMetric) *flaggerv1.Canary {
	return &flaggerv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: flaggerv1.CanarySpec{
			TargetRef: flaggerv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   flaggerv1.CanaryService{Port: 9898},
			Analysis:  &flaggerv1.CanaryAnalysis{Metrics: metrics},
		},
	}
}

func metricTemplate(ns, name string, p flaggerv1.MetricProvider, query string) *flaggerv1.MetricTemplate {
	return &flaggerv1.MetricTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       flaggerv1.MetricTemplateSpec{Provider: p, Query: query},
	}
}

func secret(ns, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// request is what a stand-in received.
type request struct {
	Method, Path string
	Query        map[string][]string
	Header       map[string]string
}

// standIn is a loopback HTTP server that records requests and answers status and body.
type standIn struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
	status   int
	body     string
	// headers are the request headers recorded.
	headers []string
}

func newStandIn(t *testing.T, status int, body string, headers ...string) *standIn {
	t.Helper()
	s := &standIn{status: status, body: body, headers: headers}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	req := request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: map[string]string{}}
	for _, h := range s.headers {
		if v := r.Header.Get(h); v != "" {
			req.Header[h] = v
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.status)
	_, _ = w.Write([]byte(s.body))
}

func (s *standIn) received() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.requests...)
}

// vector is a Prometheus answer with one sample of value v.
func vector(v string) string {
	return `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"` + v + `"]}]}}`
}
