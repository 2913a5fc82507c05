package keptn

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSend: the event Vane posts to Keptn's API: its attributes, the x-token header, an id
// that is the same on every retry, and an error naming the API's answer when refused.
func TestSend(t *testing.T) {
	type request struct {
		Path, Token, ContentType string
		Event                    map[string]any
	}
	var got []request
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req := request{Path: r.URL.Path, Token: r.Header.Get("x-token"), ContentType: r.Header.Get("Content-Type")}
		if err := json.Unmarshal(b, &req.Event); err != nil {
			t.Errorf("body %s: %v", b, err)
		}
		got = append(got, req)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"code":500,"message":"down"}`))
	}))
	defer srv.Close()
	s := &Sender{URL: APIEventURL(srv.URL + "/"), Token: "secret"}
	task := &Task{ID: "trig-1", Task: TaskRelease, Context: "ctx-1", Project: "p", Stage: "prod", Service: "s"}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	data := FinishedData{EventData: EventData{Project: "p", Stage: "prod", Service: "s", Result: ResultPass, Status: StatusSucceeded}}
	for range 2 {
		if err := s.Send(context.Background(), task, KindFinished, data, now); err != nil {
			t.Fatal(err)
		}
	}
	want := request{Path: "/v1/event", Token: "secret", ContentType: "application/json", Event: map[string]any{
		"specversion": "1.0", "id": eventID("trig-1", KindFinished), "source": Source,
		"type": "sh.keptn.event.release.finished", "time": "2026-03-01T12:00:00Z",
		"datacontenttype": "application/json", "shkeptncontext": "ctx-1", "triggeredid": "trig-1",
		"shkeptnspecversion": SpecVersion,
		"data":               map[string]any{"project": "p", "stage": "prod", "service": "s", "result": "pass", "status": "succeeded"},
	}}
	if diff := cmp.Diff([]request{want, want}, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if eventID("trig-1", KindStarted) == eventID("trig-1", KindFinished) {
		t.Error("started and finished share an id")
	}
	status = http.StatusInternalServerError
	err := s.Send(context.Background(), task, KindFinished, data, now)
	wantErr := "sending the sh.keptn.event.release.finished event to " + srv.URL + "/v1/event: 500 Internal Server Error: {\"code\":500,\"message\":\"down\"}"
	if err == nil || err.Error() != wantErr {
		t.Errorf("refused send: %v, want %s", err, wantErr)
	}
}
