// Package cli holds the work of each `vane` verb as a plain function over a Kubernetes client
// and output streams (one file per verb); cmd/vane wires them to cobra commands. The verbs,
// nouns and flags are those of Argo Rollouts' kubectl plugin, so scripts written for
// `kubectl argo rollouts` work with `vane` (or `kubectl vane`) by changing only the command.
package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Exit codes of `vane status` (and of every verb on error).
const (
	ExitOK       = 0
	ExitFailed   = 1 // an error, or a rollout that is Degraded or aborted
	ExitTimedOut = 2 // `status --timeout` ran out
)

// Options are what every verb needs.
type Options struct {
	// Client talks to the cluster.
	Client client.Client
	// Namespace is the namespace of the rollout the verb acts on.
	Namespace string
	// AllNamespaces lists across namespaces (-A).
	AllNamespaces bool
	// Out and Err are the output streams.
	Out, Err io.Writer
	// Terminal is set when Out is a terminal: watch modes then redraw in place.
	Terminal bool
	// Color turns on ANSI colours.
	Color bool
	// Clock is the time source (ages, timeouts, watch intervals).
	Clock clock.Clock
	// Server and Kubeconfig say which cluster the client talks to, for error messages.
	Server, Kubeconfig string
	// PollInterval is how often watch modes look again; 0 means one second.
	PollInterval time.Duration
}

func (o *Options) interval() time.Duration {
	if o.PollInterval > 0 {
		return o.PollInterval
	}
	return time.Second
}

// ExitError carries the process exit code a verb asks for.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Explain turns an error from the API into a sentence a person understands: which rollout in
// which namespace was not found, which cluster could not be reached with which kubeconfig,
// what was forbidden.
func (o *Options) Explain(err error, kind, name string) error {
	if err == nil {
		return nil
	}
	var st apierrors.APIStatus
	switch {
	case meta.IsNoMatchError(err) || discovery.IsGroupDiscoveryFailedError(err):
		return fmt.Errorf("the cluster at %s does not serve argoproj.io/v1alpha1: install Vane's CRDs first (kubectl apply -k config/crd)", o.Server)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s %q not found in namespace %q", kind, name, o.Namespace)
	case apierrors.IsForbidden(err) && errors.As(err, &st):
		return fmt.Errorf("forbidden: %s", st.Status().Message)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the cluster at %s refused the credentials of %s: %w", o.Server, o.kubeconfig(), err)
	case isUnreachable(err):
		return fmt.Errorf("cannot reach the cluster at %s (kubeconfig %s): %w", o.Server, o.kubeconfig(), rootCause(err))
	}
	return err
}

func (o *Options) kubeconfig() string {
	if o.Kubeconfig == "" {
		return "(default)"
	}
	return o.Kubeconfig
}

func isUnreachable(err error) bool {
	var ue *url.Error
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ue) || errors.As(err, &oe) || errors.As(err, &ne)
}

func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
