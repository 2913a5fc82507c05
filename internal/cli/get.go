package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// GetRollout prints a rollout's header and tree; with watch it keeps printing until ctx ends:
// redrawn in place on a terminal, a new frame only when something changed otherwise.
func GetRollout(ctx context.Context, o *Options, name string, watch bool) error {
	collect := func() (*RolloutInfo, error) {
		info, err := Collect(ctx, o.Client, o.Namespace, name)
		return info, o.Explain(err, "rollout", name)
	}
	return showFrames(ctx, o, watch, collect, RenderRollout)
}

// showFrames prints what collect reads, rendered, once; with watch again every interval until
// ctx ends: on a terminal in place of the previous frame, elsewhere only when the frame
// rendered without the clock and colours (ages move every second) changed.
func showFrames[T any](ctx context.Context, o *Options, watch bool, collect func() (T, error),
	render func(w io.Writer, v T, now time.Time, color bool)) error {
	var last string
	lines := 0
	for {
		v, err := collect()
		if err != nil {
			if watch && ctx.Err() != nil {
				return nil
			}
			return err
		}
		var frame bytes.Buffer
		render(&frame, v, o.Clock.Now(), o.Color)
		switch {
		case !watch:
			_, err := o.Out.Write(frame.Bytes())
			return err
		case o.Terminal:
			if lines > 0 { // cursor up over the previous frame and clear to the end of the screen
				fmt.Fprintf(o.Out, "\x1b[%dA\x1b[J", lines)
			}
			_, _ = o.Out.Write(frame.Bytes())
			lines = strings.Count(frame.String(), "\n")
		default:
			var sig bytes.Buffer
			render(&sig, v, time.Time{}, false)
			if sig.String() != last {
				if last != "" {
					fmt.Fprintln(o.Out)
				}
				_, _ = o.Out.Write(frame.Bytes())
				last = sig.String()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-o.Clock.After(o.interval()):
		}
	}
}
