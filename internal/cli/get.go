package cli

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"
)

// GetRollout prints a rollout's header and tree; with watch it keeps printing until ctx ends:
// redrawn in place on a terminal, a new frame only when something changed otherwise.
func GetRollout(ctx context.Context, o *Options, name string, watch bool) error {
	var last string
	lines := 0
	for {
		info, err := Collect(ctx, o.Client, o.Namespace, name)
		if err != nil {
			if watch && ctx.Err() != nil {
				return nil
			}
			return o.Explain(err, "rollout", name)
		}
		var frame bytes.Buffer
		RenderRollout(&frame, info, o.Clock.Now(), o.Color)
		switch {
		case !watch:
			_, err := o.Out.Write(frame.Bytes())
			return err
		case o.Terminal:
			// cursor up over the previous frame and clear to the end of the screen
			if lines > 0 {
				fmt.Fprintf(o.Out, "\x1b[%dA\x1b[J", lines)
			}
			_, _ = o.Out.Write(frame.Bytes())
			lines = strings.Count(frame.String(), "\n")
		default:
			// compare frames without the clock's part: ages move every second
			var sig bytes.Buffer
			RenderRollout(&sig, info, time.Time{}, false)
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
