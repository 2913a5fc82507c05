package resolve

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func service(ns, name, ip string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{ClusterIP: ip}}
}

func TestResolve(t *testing.T) {
	r := &Resolver{Reader: fake.NewClientBuilder().WithObjects(
		service("dev", "gate", "127.2.0.9"), service("dev", "headless", "None")).Build()}
	tests := map[string]struct {
		addr, want, err string
	}{
		"service.namespace":       {addr: "gate.dev:80", want: "127.2.0.9:80"},
		"with svc":                {addr: "gate.dev.svc:8080", want: "127.2.0.9:8080"},
		"fully qualified":         {addr: "Gate.dev.svc.cluster.local.:80", want: "127.2.0.9:80"},
		"single label left alone": {addr: "localhost:80", want: "localhost:80"},
		"three labels left alone": {addr: "chat.example.invalid:443", want: "chat.example.invalid:443"},
		"an IP left alone":        {addr: "127.0.0.1:80", want: "127.0.0.1:80"},
		"missing service":         {addr: "nope.dev:80", err: `resolving nope.dev: Service dev/nope: services "nope" not found`},
		"headless service":        {addr: "headless.dev:80", err: "resolving headless.dev: Service dev/headless has no ClusterIP"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := r.Resolve(context.Background(), tc.addr)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Resolve(%q) (-want +got):\n%s", tc.addr, diff)
			}
		})
	}
}

// TestTransport: a request to http://<svc>.<ns>:<port> reaches the server listening on the
// Service's ClusterIP.
func TestTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "host="+r.Host)
	}))
	defer srv.Close()
	ip, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	r := &Resolver{Reader: fake.NewClientBuilder().WithObjects(service("dev", "gate", ip)).Build()}
	c := &http.Client{Transport: Transport(nil, r)}
	resp, err := c.Get("http://gate.dev:" + port + "/gate/check")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got, want := string(body), "host=gate.dev:"+port; got != want {
		t.Errorf("body = %q, want %q (the Host header keeps the Service name)", got, want)
	}
}
