package keptn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
)

// Source is the CloudEvents source of the events Vane sends.
const Source = "vane-keptn"

// Sender posts Vane's `.started` and `.finished` events to Keptn: to its API
// (KEPTN_API_ENDPOINT + /v1/event with the x-token header) or to the distributor's local
// endpoint (no token).
type Sender struct {
	// URL receives the events: https://keptn.example.com/api/v1/event or
	// http://127.0.0.1:8081/event.
	URL string
	// Token goes in the x-token header when not empty.
	Token string
	// HTTP is the client (http.DefaultClient when nil).
	HTTP *http.Client
}

// APIEventURL returns the URL of Keptn API's event endpoint under endpoint.
func APIEventURL(endpoint string) string {
	return strings.TrimSuffix(endpoint, "/") + "/v1/event"
}

// eventID is the id of the kind event answering triggered id: the same on every retry, so that
// a resent event is recognisable.
func eventID(triggeredID, kind string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("vane-keptn:"+triggeredID+":"+kind)).String()
}

// Send posts the kind ("started" or "finished") event of t with data.
func (s *Sender) Send(ctx context.Context, t *Task, kind string, data any, now time.Time) error {
	ev := cloudevents.NewEvent()
	ev.SetID(eventID(t.ID, kind))
	ev.SetSource(Source)
	ev.SetType(EventTypePrefix + t.Task + "." + kind)
	ev.SetTime(now)
	ev.SetExtension(ExtContext, t.Context)
	ev.SetExtension(ExtTriggeredID, t.ID)
	ev.SetExtension(ExtSpecVersion, SpecVersion)
	if err := ev.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return fmt.Errorf("encoding the %s event: %w", ev.Type(), err)
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding the %s event: %w", ev.Type(), err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sending the %s event: %w", ev.Type(), err)
	}
	req.Header.Set("Content-Type", "application/json")
	if s.Token != "" {
		req.Header.Set("x-token", s.Token)
	}
	hc := s.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("sending the %s event to %s: %w", ev.Type(), s.URL, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sending the %s event to %s: %s: %s", ev.Type(), s.URL, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// eventData returns the common data of t's events.
func (t *Task) eventData() EventData {
	return EventData{Project: t.Project, Stage: t.Stage, Service: t.Service, Labels: t.Labels}
}
