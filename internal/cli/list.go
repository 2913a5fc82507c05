package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"
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
	header := "NAME\tSTRATEGY\tSTATUS\tSTEP\tSET-WEIGHT\tREADY\tDESIRED\tUP-TO-DATE\tAVAILABLE"
	writeTable(w, items, withNamespace, "rollouts", header, func(ro *v1alpha1.Rollout) string {
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
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%d", ro.Name, kind, phase, step, weight,
			ro.Status.ReadyReplicas, ro.Status.Replicas, ro.Spec.EffectiveReplicas(), ro.Status.UpdatedReplicas, ro.Status.AvailableReplicas)
	})
}

// writeTable prints items sorted by namespace and name under header, a NAMESPACE column first
// with withNamespace, one row each; "No <what> found." when there is none.
func writeTable[T any, P interface {
	*T
	client.Object
}](w io.Writer, items []T, withNamespace bool, what, header string, row func(P) string) {
	if len(items) == 0 {
		fmt.Fprintf(w, "No %s found.\n", what)
		return
	}
	sort.Slice(items, func(i, j int) bool {
		a, b := P(&items[i]), P(&items[j])
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		return a.GetName() < b.GetName()
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if withNamespace {
		header = "NAMESPACE\t" + header
	}
	fmt.Fprintln(tw, header)
	for i := range items {
		line := row(P(&items[i]))
		if withNamespace {
			line = P(&items[i]).GetNamespace() + "\t" + line
		}
		fmt.Fprintln(tw, line)
	}
	_ = tw.Flush()
}

// ListExperiments prints a table of the experiments in the namespace (or all, with -A), with
// Argo's columns: NAME, STATUS, DURATION, REMAINING (of a running experiment's duration), AGE.
func ListExperiments(ctx context.Context, o *Options) error {
	var list v1alpha1.ExperimentList
	var opts []client.ListOption
	if !o.AllNamespaces {
		opts = append(opts, client.InNamespace(o.Namespace))
	}
	if err := o.Client.List(ctx, &list, opts...); err != nil {
		return o.Explain(err, "experiments", "")
	}
	renderExperimentList(o.Out, list.Items, o.AllNamespaces, o.Clock.Now())
	return nil
}

func renderExperimentList(w io.Writer, items []v1alpha1.Experiment, withNamespace bool, now time.Time) {
	writeTable(w, items, withNamespace, "experiments", "NAME\tSTATUS\tDURATION\tREMAINING\tAGE", func(ex *v1alpha1.Experiment) string {
		dur, remaining := experimentDuration(ex, now)
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", ex.Name, analysisPhase(ex.Status.Phase), dur, remaining,
			duration.HumanDuration(now.Sub(ex.CreationTimestamp.Time)))
	})
}

// experimentDuration is the experiment's duration and, while it runs, the time left of it
// ("-" when there is none, or none left).
func experimentDuration(ex *v1alpha1.Experiment, now time.Time) (string, string) {
	if ex.Spec.Duration == nil {
		return "-", "-"
	}
	d, err := ex.Spec.Duration.Duration()
	if err != nil {
		return "-", "-"
	}
	remaining := "-"
	if at := ex.Status.AvailableAt; !ex.Status.Phase.Completed() && at != nil {
		if left := d - now.Sub(at.Time); left > 0 {
			remaining = duration.HumanDuration(left)
		}
	}
	return duration.HumanDuration(d), remaining
}
