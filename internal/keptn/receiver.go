package keptn

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// maxBody bounds the size of an event Vane reads.
const maxBody = 1 << 20

// Options configures a Service.
type Options struct {
	// Client acts on Rollouts and keeps the task records.
	Client client.Client
	// Token is the shared token every request must carry (x-token header or Bearer).
	Token string
	// Sender delivers Vane's events to Keptn.
	Sender *Sender
	// Clock times the canary waits (clock.RealClock when nil).
	Clock clock.WithTicker
	// Interval is how often the scheduler looks at pending tasks (2s when 0).
	Interval time.Duration
	// Namespaces limits the rollouts and records served (every namespace when empty).
	Namespaces []string
	// Manifests is the folder holding SERVICE.yaml, applied by the first deployment.
	Manifests string
}

// Service is the receiver and the scheduler of Keptn tasks.
type Service struct {
	opts  Options
	store *Store
	kick  chan struct{}
	mu    sync.Mutex // one scheduler pass at a time
}

// New returns a Service; it fails without a client, a token or a sender.
func New(opts Options) (*Service, error) {
	switch {
	case opts.Client == nil:
		return nil, errors.New("keptn: no Kubernetes client")
	case opts.Token == "":
		return nil, errors.New("keptn: no shared token: every request must be authenticated")
	case opts.Sender == nil || opts.Sender.URL == "":
		return nil, errors.New("keptn: nowhere to send events (Keptn's API endpoint or the distributor's)")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	return &Service{opts: opts, store: &Store{Client: opts.Client}, kick: make(chan struct{}, 1)}, nil
}

// reply is the JSON body of every answer.
type reply struct {
	Result string `json:"result"` // accepted, duplicate, ignored, error
	Reason string `json:"reason,omitempty"`
}

// httpError is a refusal with its status code.
type httpError struct {
	code int
	err  error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func badRequest(format string, a ...any) error {
	return &httpError{code: http.StatusBadRequest, err: fmt.Errorf(format, a...)}
}

// ServeHTTP receives one Keptn CloudEvent, structured or binary.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeReply(w, http.StatusMethodNotAllowed, reply{Result: "error", Reason: "POST a CloudEvent"})
		return
	}
	if !s.authorized(r) {
		writeReply(w, http.StatusUnauthorized, reply{Result: "error", Reason: "missing or wrong token (x-token header or Authorization: Bearer)"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	ev, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		writeReply(w, http.StatusBadRequest, reply{Result: "error", Reason: "not a CloudEvent: " + err.Error()})
		return
	}
	ctx := ctrl.LoggerInto(r.Context(), ctrl.LoggerFrom(r.Context()).WithValues("eventID", ev.ID(), "type", ev.Type()))
	result, err := s.Receive(ctx, ev)
	var he *httpError
	switch {
	case errors.As(err, &he):
		writeReply(w, he.code, reply{Result: "error", Reason: he.Error()})
	case err != nil:
		ctrl.LoggerFrom(ctx).Error(err, "Keptn event not recorded")
		writeReply(w, http.StatusInternalServerError, reply{Result: "error", Reason: err.Error()})
	case result == "accepted":
		writeReply(w, http.StatusAccepted, reply{Result: result})
	default:
		writeReply(w, http.StatusOK, reply{Result: result})
	}
}

func (s *Service) authorized(r *http.Request) bool {
	got := r.Header.Get("x-token")
	if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && got == "" {
		got = b
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.Token)) == 1
}

func writeReply(w http.ResponseWriter, code int, r reply) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(r)
}

// Receive records a triggered event Vane handles and returns "accepted", "duplicate" (the
// event was recorded before) or "ignored" (not a task for Vane). Bad events are *httpError 400.
func (s *Service) Receive(ctx context.Context, ev *cloudevents.Event) (string, error) {
	if err := ev.Validate(); err != nil {
		return "", badRequest("invalid CloudEvent: %w", err)
	}
	task, kind, err := splitType(ev.Type())
	if err != nil {
		return "", badRequest("%w", err)
	}
	if kind != KindTriggered || !handled(task) {
		return "ignored", nil
	}
	kctx, _ := ev.Extensions()[ExtContext].(string)
	if kctx == "" {
		return "", badRequest("the %s extension attribute is missing", ExtContext)
	}
	d, err := parseTriggered(ev.Data())
	if err != nil {
		return "", badRequest("%w", err)
	}
	t, ok, err := s.newTask(ev, task, kctx, d)
	if err != nil || !ok {
		return "ignored", err
	}
	target, err := s.resolve(ctx, d)
	if err != nil {
		return "", err
	}
	added, err := s.store.Add(ctx, target, t)
	if errors.Is(err, ErrNamespaceMissing) {
		return "", &httpError{code: http.StatusNotFound, err: err}
	}
	if err != nil {
		return "", err
	}
	if !added {
		ctrl.LoggerFrom(ctx).Info("Keptn event received again: already recorded", "rollout", target)
		return "duplicate", nil
	}
	ctrl.LoggerFrom(ctx).Info("Keptn task recorded", "task", task, "rollout", target, "shkeptncontext", kctx)
	s.Kick()
	return "accepted", nil
}

func handled(task string) bool {
	switch task {
	case TaskDeployment, TaskRelease, TaskRollback, TaskTest:
		return true
	}
	return false
}

// newTask builds the record of a triggered event; ok is false for a test that is not a wait.
func (s *Service) newTask(ev *cloudevents.Event, task, kctx string, d *TriggeredData) (Task, bool, error) {
	now := s.opts.Clock.Now().UTC()
	t := Task{ID: ev.ID(), Task: task, Context: kctx, Project: d.Project, Stage: d.Stage, Service: d.Service,
		Labels: d.Labels, Received: now, State: stateNew}
	switch task {
	case TaskTest:
		wait, ok, err := canaryWait(d)
		if err != nil {
			return t, false, badRequest("%w", err)
		}
		if !ok {
			return t, false, nil
		}
		end := now.Add(wait)
		t.WaitUntil = &end
	case TaskRelease:
		t.Release, t.Message = releases(d)
	case TaskDeployment:
		t.Image = imageOf(d)
		if d.Deployment != nil {
			t.Strategy = d.Deployment.DeploymentStrategy
		}
	}
	return t, true, nil
}

// Label keys mapping a Rollout to a Keptn project, stage and service, overriding the
// convention (Rollout SERVICE-STAGE in namespace PROJECT-STAGE).
const (
	LabelProject = "keptn.vane.dev/project"
	LabelStage   = "keptn.vane.dev/stage"
	LabelService = "keptn.vane.dev/service"
)

// resolve finds the Rollout of a project, stage and service: the one labelled with them, or
// by the convention.
func (s *Service) resolve(ctx context.Context, d *TriggeredData) (Target, error) {
	namespaces := s.opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{""}
	}
	var found []Target
	for _, ns := range namespaces {
		var list v1alpha1.RolloutList
		err := s.opts.Client.List(ctx, &list, client.InNamespace(ns),
			client.MatchingLabels{LabelProject: d.Project, LabelStage: d.Stage, LabelService: d.Service})
		if err != nil {
			return Target{}, fmt.Errorf("looking for a labelled rollout: %w", err)
		}
		for _, ro := range list.Items {
			found = append(found, Target{Namespace: ro.Namespace, Name: ro.Name})
		}
	}
	switch len(found) {
	case 0:
		return Target{Namespace: d.Project + "-" + d.Stage, Name: d.Service + "-" + d.Stage}, nil
	case 1:
		return found[0], nil
	}
	return Target{}, &httpError{code: http.StatusConflict,
		err: fmt.Errorf("%d rollouts are labelled for project %s, stage %s, service %s: %v", len(found), d.Project, d.Stage, d.Service, found)}
}

// Kick asks the scheduler for a pass now.
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}
