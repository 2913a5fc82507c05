package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/strategy"
)

// ListRollouts prints a table of the rollouts in the namespace (or all, with -A); with watch
// it prints the table again whenever a rollout changes, until ctx ends.
func ListRollouts(ctx context.Context, o *Options, watch bool) error {
	var last string
	for {
		var list v1alpha1.RolloutList
		var opts []client.ListOption
		if !o.AllNamespaces {
			opts = append(opts, client.InNamespace(o.Namespace))
		}
		if err := o.Client.List(ctx, &list, opts...); err != nil {
			if watch && ctx.Err() != nil {
				return nil
			}
			return o.Explain(err, "rollouts", "")
		}
		var buf bytes.Buffer
		renderList(&buf, list.Items, o.AllNamespaces)
		if buf.String() != last {
			if last != "" && !o.Terminal {
				fmt.Fprintln(o.Out)
			}
			if last != "" && o.Terminal {
				fmt.Fprintf(o.Out, "\x1b[%dA\x1b[J", bytes.Count([]byte(last), []byte("\n")))
			}
			_, _ = o.Out.Write(buf.Bytes())
			last = buf.String()
		}
		if !watch {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-o.Clock.After(o.interval()):
		}
	}
}

func renderList(w io.Writer, items []v1alpha1.Rollout, withNamespace bool) {
	if len(items) == 0 {
		fmt.Fprintln(w, "No rollouts found.")
		return
	}
	sort.Slice(items, func(i, j int) bool {
		if items[i].Namespace != items[j].Namespace {
			return items[i].Namespace < items[j].Namespace
		}
		return items[i].Name < items[j].Name
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if withNamespace {
		fmt.Fprint(tw, "NAMESPACE\t")
	}
	fmt.Fprintln(tw, "NAME\tSTRATEGY\tSTATUS\tSTEP\tSET-WEIGHT\tREADY\tDESIRED\tUP-TO-DATE\tAVAILABLE")
	for _, ro := range items {
		if withNamespace {
			fmt.Fprintf(tw, "%s\t", ro.Namespace)
		}
		kind, step, weight := "BlueGreen", "-", "-"
		if c := ro.Spec.Strategy.Canary; c != nil {
			kind = "Canary"
			idx := ptr.Deref(ro.Status.CurrentStepIndex, 0)
			if len(c.Steps) > 0 {
				step = fmt.Sprintf("%d/%d", idx, len(c.Steps))
			}
			w := strategy.CurrentWeight(c.Steps, idx)
			if ro.Status.Abort {
				w = 0
			}
			weight = fmt.Sprint(w)
		}
		phase := string(ro.Status.Phase)
		if phase == "" {
			phase = stProgressing
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\n", ro.Name, kind, phase, step, weight,
			ro.Status.ReadyReplicas, ro.Status.Replicas, ro.Spec.EffectiveReplicas(), ro.Status.UpdatedReplicas, ro.Status.AvailableReplicas)
	}
	_ = tw.Flush()
}
