package webhook

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

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

type recorder struct {
	mu       sync.Mutex
	payloads []Payload
	codes    []int // answers, in order; the last repeats
	delay    time.Duration
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	var p Payload
	body, _ := io.ReadAll(req.Body)
	_ = json.Unmarshal(body, &p)
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		p.Name = "unexpected " + req.Method + " " + req.Header.Get("Content-Type")
	}
	r.payloads = append(r.payloads, p)
	code := r.codes[min(len(r.payloads), len(r.codes))-1]
	r.mu.Unlock()
	time.Sleep(r.delay)
	w.WriteHeader(code)
	_, _ = io.WriteString(w, http.StatusText(code))
}

var canary = &flaggerv1.Canary{ObjectMeta: metav1.ObjectMeta{Name: "api-gateway", Namespace: "dev"}}

func TestCall(t *testing.T) {
	tests := map[string]struct {
		codes   []int
		retries *int32
		timeout string
		delay   time.Duration
		wantErr string
		calls   int
	}{
		"200 passes":                  {codes: []int{200}, calls: 1},
		"202 passes":                  {codes: []int{202}, calls: 1},
		"403 refuses with its body":   {codes: []int{403}, wantErr: "Forbidden", calls: 1},
		"a 403 is not retried":        {codes: []int{403}, retries: ptr.To[int32](3), wantErr: "Forbidden", calls: 1},
		"500 retried then 200 passes": {codes: []int{500, 500, 200}, retries: ptr.To[int32](2), calls: 3},
		"500 without retries fails":   {codes: []int{500, 200}, wantErr: "Internal Server Error", calls: 1},
		"timeout":                     {codes: []int{200}, timeout: "50ms", delay: 300 * time.Millisecond, wantErr: "Client.Timeout", calls: 1},
		"bad timeout":                 {codes: []int{200}, timeout: "soon", wantErr: `webhook gate: timeout "soon": time: invalid duration "soon"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{codes: tc.codes, delay: tc.delay}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			w := flaggerv1.CanaryWebhook{Name: "gate", URL: srv.URL + "/gate/check", Retries: tc.retries, Timeout: tc.timeout,
				Metadata: map[string]string{"cmd": "hey"}}
			err := (&Caller{}).Call(context.Background(), canary, flaggerv1.PhaseProgressing, "abc", w)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error = %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want one with %q", err, tc.wantErr)
			}
			if len(rec.payloads) != tc.calls {
				t.Fatalf("calls = %d, want %d", len(rec.payloads), tc.calls)
			}
			if tc.calls == 0 {
				return
			}
			want := Payload{Name: "api-gateway", Namespace: "dev", Phase: "Progressing", Checksum: "abc", Metadata: map[string]string{"cmd": "hey"}}
			if diff := cmp.Diff(want, rec.payloads[0]); diff != "" {
				t.Errorf("payload (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvent(t *testing.T) {
	rec := &recorder{codes: []int{200}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	w := flaggerv1.CanaryWebhook{Name: "notify", Type: "event", URL: srv.URL,
		Metadata: map[string]string{"text": "Ready for promotion", "eventType": "cannot override"}}
	now := time.UnixMilli(1765000000123)
	if err := (&Caller{}).Event(context.Background(), canary, "Initialized", "abc", w, "Initialization done! api-gateway.dev", "Normal", now); err != nil {
		t.Fatal(err)
	}
	want := []Payload{{Name: "api-gateway", Namespace: "dev", Phase: "Initialized", Checksum: "abc", Metadata: map[string]string{
		"eventMessage": "Initialization done! api-gateway.dev", "eventType": "Normal", "timestamp": "1765000000123",
		"text": "Ready for promotion"}}}
	if diff := cmp.Diff(want, rec.payloads); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

func TestBadURL(t *testing.T) {
	w := flaggerv1.CanaryWebhook{Name: "gate", URL: "flagger-loadtester/gate/check"}
	err := (&Caller{}).Call(context.Background(), canary, "Progressing", "", w)
	if err == nil || err.Error() != `webhook gate: url "flagger-loadtester/gate/check" is not an http(s) URL` {
		t.Errorf("error = %v", err)
	}
}
