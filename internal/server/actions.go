package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/actions"
)

var (
	// errState is an action the rollout's current state does not allow (it has moved on).
	errState = errors.New("not possible in the rollout's current state")
	// errBadInput is a malformed action request.
	errBadInput = errors.New("bad request")
)

// ActionRequest is the optional JSON body of an action.
type ActionRequest struct {
	// Full skips every remaining step (promote).
	Full bool `json:"full,omitempty"`
	// Revision is the revision undo goes back to (0: the previous one).
	Revision int64 `json:"revision,omitempty"`
	// Container and Image are set image's assignment ("*" for every container).
	Container string `json:"container,omitempty"`
	Image     string `json:"image,omitempty"`
}

// ActionResult is the answer of a successful action.
type ActionResult struct {
	Action  string `json:"action"`
	Message string `json:"message"`
}

// statusPatch and specPatch are the permissions the actions need.
const (
	statusPatch = "rollouts/status"
	specPatch   = "rollouts"
)

// needs lists the permissions an action needs on the rollout as it is now: promote writes the
// spec only when spec.paused is set.
func needs(action string, ro *v1alpha1.Rollout) ([]string, error) {
	switch action {
	case "promote", "resume":
		if ro.Spec.Paused {
			return []string{specPatch, statusPatch}, nil
		}
		return []string{statusPatch}, nil
	case "abort", "retry":
		return []string{statusPatch}, nil
	case "pause", "restart", "setimage", "undo":
		return []string{specPatch}, nil
	}
	return nil, fmt.Errorf("%w: unknown action %q (promote, resume, abort, retry, pause, restart, undo, setimage)", errBadInput, action)
}

func (s *Server) apiAction(w http.ResponseWriter, r *http.Request) {
	ctx, p := r.Context(), principalFrom(r.Context())
	ns, name, action := r.PathValue("ns"), r.PathValue("name"), r.PathValue("action")
	var req ActionRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		s.apiError(w, r, fmt.Errorf("%w: the body is not JSON: %w", errBadInput, err))
		return
	}
	msg, err := s.act(ctx, p, ns, name, action, req)
	if err != nil {
		log.FromContext(ctx).Info("dashboard action refused", "action", action, "rollout", ns+"/"+name, "reason", err.Error())
		s.apiError(w, r, err)
		return
	}
	log.FromContext(ctx).Info("dashboard action", "action", action, "rollout", ns+"/"+name)
	writeJSON(w, http.StatusOK, ActionResult{Action: action, Message: msg})
}

// act checks the user's permissions first (so nothing is half done), then runs the same
// action function as the CLI with a client that impersonates the user.
func (s *Server) act(ctx context.Context, p *principal, ns, name, action string, req ActionRequest) (string, error) {
	ro := &v1alpha1.Rollout{}
	if err := s.store.cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
		return "", fmt.Errorf("rollout %s/%s: %w", ns, name, err)
	}
	resources, err := needs(action, ro)
	if err != nil {
		return "", err
	}
	checks := []access{{ns, "get", "rollouts"}}
	for _, res := range resources {
		checks = append(checks, access{ns, "patch", res})
	}
	if action == "undo" {
		checks = append(checks, access{ns, "list", "replicasets"})
	}
	if err := s.authz.require(ctx, p.id, checks...); err != nil {
		return "", err
	}
	c, err := s.clientFor(p)
	if err != nil {
		return "", err
	}
	return run(ctx, c, ns, name, action, req, s.opts.Now)
}

// clientFor is the kubeconfig's client in local mode, else one impersonating the user.
func (s *Server) clientFor(p *principal) (client.Client, error) {
	if p.id == nil {
		return s.client, nil
	}
	cfg := rest.CopyConfig(s.opts.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: p.id.User, UID: p.id.UID, Groups: p.id.Groups, Extra: p.id.Extra}
	c, err := client.New(cfg, client.Options{Scheme: s.opts.Scheme, Mapper: s.mapper})
	if err != nil {
		return nil, fmt.Errorf("impersonating %s: %w", p.id.User, err)
	}
	return c, nil
}

// run calls the action function of internal/actions (those the CLI calls).
func run(ctx context.Context, c client.Client, ns, name, action string, req ActionRequest, now nowFunc) (string, error) {
	switch action {
	case "promote", "resume":
		did, err := actions.Promote(ctx, c, ns, name, req.Full)
		if errors.Is(err, actions.ErrNothingToPromote) || errors.Is(err, actions.ErrNotUpdating) {
			return "", fmt.Errorf("%w: %w", errState, err)
		}
		switch {
		case err != nil:
			return "", err
		case did.Full:
			return "fully promoted", nil
		case did.SkippedStep >= 0:
			return fmt.Sprintf("was not paused: skipped step %d", did.SkippedStep+1), nil
		}
		return "promoted", nil
	case "abort":
		if err := actions.Abort(ctx, c, ns, name); errors.Is(err, actions.ErrNotUpdating) {
			return "", fmt.Errorf("%w: %w", errState, err)
		} else if err != nil {
			return "", err
		}
		return "aborted", nil
	case "retry":
		if err := actions.Retry(ctx, c, ns, name); err != nil && strings.Contains(err.Error(), "not aborted") {
			return "", fmt.Errorf("%w: %w", errState, err)
		} else if err != nil {
			return "", err
		}
		return "retried", nil
	}
	return runSpec(ctx, c, ns, name, action, req, now)
}

type nowFunc = func() time.Time

// runSpec runs the actions that write the spec.
func runSpec(ctx context.Context, c client.Client, ns, name, action string, req ActionRequest, now nowFunc) (string, error) {
	switch action {
	case "pause":
		return "paused", actions.Pause(ctx, c, ns, name)
	case "restart":
		return "restarts", actions.Restart(ctx, c, ns, name, now())
	case "undo":
		if req.Revision < 0 {
			return "", fmt.Errorf("%w: revision must be positive", errBadInput)
		}
		rev, err := actions.Undo(ctx, c, ns, name, req.Revision)
		if err != nil && strings.Contains(err.Error(), "has no") {
			return "", fmt.Errorf("%w: %w", errState, err)
		}
		return fmt.Sprintf("rolled back to revision %d", rev), err
	case "setimage":
		if req.Container == "" || req.Image == "" {
			return "", fmt.Errorf("%w: set image needs a container (or *) and an image", errBadInput)
		}
		err := actions.SetImage(ctx, c, ns, name, req.Container, req.Image)
		if err != nil && strings.Contains(err.Error(), "no container named") {
			return "", fmt.Errorf("%w: %w", errBadInput, err)
		}
		return "image updated", err
	}
	return "", fmt.Errorf("%w: unknown action %q", errBadInput, action)
}

// isUnreachable reports a network error talking to the API server.
func isUnreachable(err error) bool {
	var ue *url.Error
	var oe *net.OpError
	return errors.As(err, &ue) || errors.As(err, &oe)
}
