package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Status prints the rollout's status; with watch it waits, printing each change, until the
// rollout is Healthy (nil), Degraded or aborted (ExitError 1), or timeout passes (ExitError 2;
// 0 waits forever). It is what a CI pipeline waits on.
func Status(ctx context.Context, o *Options, name string, watch bool, timeout time.Duration) error {
	var deadline <-chan time.Time
	if timeout > 0 {
		deadline = o.Clock.After(timeout)
	}
	last := ""
	for {
		ro := &v1alpha1.Rollout{}
		if err := o.Client.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: name}, ro); err != nil {
			return &ExitError{Code: ExitFailed, Err: o.Explain(err, "rollout", name)}
		}
		line, done, err := statusLine(ro)
		if line != last {
			fmt.Fprintln(o.Out, line)
			last = line
		}
		if done || !watch {
			return err
		}
		select {
		case <-ctx.Done():
			return &ExitError{Code: ExitFailed, Err: ctx.Err()}
		case <-deadline:
			return &ExitError{Code: ExitTimedOut, Err: fmt.Errorf("timed out after %s waiting for rollout %q to become Healthy (last: %s)", timeout, name, last)}
		case <-o.Clock.After(o.interval()):
		}
	}
}

// statusLine is "Phase - message", whether the wait is over, and the error a finished wait has.
func statusLine(ro *v1alpha1.Rollout) (string, bool, error) {
	st := ro.Status
	if st.ObservedGeneration != fmt.Sprint(ro.Generation) {
		return "Progressing - waiting for rollout spec update to be observed", false, nil
	}
	line := string(st.Phase)
	if st.Message != "" {
		line += " - " + st.Message
	}
	switch {
	case st.Phase == v1alpha1.RolloutPhaseHealthy:
		return line, true, nil
	case st.Phase == v1alpha1.RolloutPhaseDegraded || st.Abort:
		return line, true, &ExitError{Code: ExitFailed, Err: errors.New("the rollout is degraded: " + st.Message)}
	}
	return line, false, nil
}
