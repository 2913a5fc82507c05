package cli

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// terminatePatch is what Argo's plugin writes to stop an Experiment or an AnalysisRun.
const terminatePatch = `{"spec":{"terminate":true}}`

// TerminateExperiment runs `terminate experiment NAME...`: spec.terminate on each. The
// controller then ends the experiment (Successful unless something failed), terminates its
// runs and scales its ReplicaSets down after scaleDownDelaySeconds.
func TerminateExperiment(ctx context.Context, o *Options, names []string) error {
	for _, name := range names {
		ex := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: name}}
		if err := o.Client.Patch(ctx, ex, client.RawPatch(types.MergePatchType, []byte(terminatePatch))); err != nil {
			return o.Explain(err, "experiment", name)
		}
		fmt.Fprintf(o.Out, "experiment '%s' terminated\n", name)
	}
	return nil
}

// TerminateAnalysisRun runs `terminate analysisrun NAME...`: spec.terminate on each. The
// controller takes no more measurements and ends the run on the results it has.
func TerminateAnalysisRun(ctx context.Context, o *Options, names []string) error {
	for _, name := range names {
		run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: name}}
		if err := o.Client.Patch(ctx, run, client.RawPatch(types.MergePatchType, []byte(terminatePatch))); err != nil {
			return o.Explain(err, "analysisrun", name)
		}
		fmt.Fprintf(o.Out, "analysisRun '%s' terminated\n", name)
	}
	return nil
}
