package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vanedev/vane/internal/actions"
)

// Promote runs `promote NAME [--full]` and says what it did.
func Promote(ctx context.Context, o *Options, name string, full bool) error {
	did, err := actions.Promote(ctx, o.Client, o.Namespace, name, full)
	if errors.Is(err, actions.ErrNothingToPromote) || errors.Is(err, actions.ErrNotUpdating) {
		return fmt.Errorf("rollout '%s' is not paused and has no step left: nothing to promote", name)
	}
	if err != nil {
		return o.Explain(err, "rollout", name)
	}
	switch {
	case did.Full:
		fmt.Fprintf(o.Out, "rollout '%s' fully promoted\n", name)
	case did.SkippedStep >= 0:
		fmt.Fprintf(o.Out, "rollout '%s' was not paused: skipped step %d instead\n", name, did.SkippedStep+1)
	default:
		fmt.Fprintf(o.Out, "rollout '%s' promoted\n", name)
	}
	return nil
}

// Abort runs `abort NAME`.
func Abort(ctx context.Context, o *Options, name string) error {
	if err := actions.Abort(ctx, o.Client, o.Namespace, name); errors.Is(err, actions.ErrNotUpdating) {
		return fmt.Errorf("rollout '%s' is not updating (its current template is the stable one): nothing to abort", name)
	} else if err != nil {
		return o.Explain(err, "rollout", name)
	}
	fmt.Fprintf(o.Out, "rollout '%s' aborted\n", name)
	return nil
}

// Retry runs `retry rollout NAME`.
func Retry(ctx context.Context, o *Options, name string) error {
	if err := actions.Retry(ctx, o.Client, o.Namespace, name); err != nil {
		return o.Explain(err, "rollout", name)
	}
	fmt.Fprintf(o.Out, "rollout '%s' retried\n", name)
	return nil
}

// Pause runs `pause NAME`.
func Pause(ctx context.Context, o *Options, name string) error {
	if err := actions.Pause(ctx, o.Client, o.Namespace, name); err != nil {
		return o.Explain(err, "rollout", name)
	}
	fmt.Fprintf(o.Out, "rollout '%s' paused\n", name)
	return nil
}

// Restart runs `restart NAME [--in DURATION]`.
func Restart(ctx context.Context, o *Options, name string, in time.Duration) error {
	if in < 0 {
		return fmt.Errorf("--in must not be negative (got %s)", in)
	}
	if err := actions.Restart(ctx, o.Client, o.Namespace, name, o.Clock.Now().Add(in)); err != nil {
		return o.Explain(err, "rollout", name)
	}
	if in > 0 {
		fmt.Fprintf(o.Out, "rollout '%s' restarts in %s\n", name, in)
	} else {
		fmt.Fprintf(o.Out, "rollout '%s' restarts\n", name)
	}
	return nil
}

// Undo runs `undo NAME [--to-revision N]`.
func Undo(ctx context.Context, o *Options, name string, toRevision int64) error {
	rev, err := actions.Undo(ctx, o.Client, o.Namespace, name, toRevision)
	if err != nil {
		return o.Explain(err, "rollout", name)
	}
	fmt.Fprintf(o.Out, "rollout '%s' rolled back to revision %d\n", name, rev)
	return nil
}

// SetImage runs `set image NAME CONTAINER=IMAGE`.
func SetImage(ctx context.Context, o *Options, name, assignment string) error {
	container, image, ok := strings.Cut(assignment, "=")
	if !ok || container == "" || image == "" {
		return fmt.Errorf("expected CONTAINER=IMAGE (or *=IMAGE for every container), got %q", assignment)
	}
	if err := actions.SetImage(ctx, o.Client, o.Namespace, name, container, image); err != nil {
		return o.Explain(err, "rollout", name)
	}
	fmt.Fprintf(o.Out, "rollout \"%s\" image updated\n", name)
	return nil
}
