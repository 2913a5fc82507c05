package cli

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// TestTerminate: spec.terminate is set on each experiment or run named, each reported as
// Argo's plugin reports it; an unknown one names the namespace searched and stops there.
func TestTerminate(t *testing.T) {
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: "default"} }
	c := fakeClient(t, &v1alpha1.Experiment{ObjectMeta: meta("a")}, &v1alpha1.Experiment{ObjectMeta: meta("b")},
		&v1alpha1.AnalysisRun{ObjectMeta: meta("run")})
	o, out, _ := testOptions(c)
	ctx := context.Background()
	if err := TerminateExperiment(ctx, o, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := TerminateAnalysisRun(ctx, o, []string{"run"}); err != nil {
		t.Fatal(err)
	}
	if want := "experiment 'a' terminated\nexperiment 'b' terminated\nanalysisRun 'run' terminated\n"; out.String() != want {
		t.Errorf("output %q, want %q", out, want)
	}
	for _, name := range []string{"a", "b"} {
		ex := &v1alpha1.Experiment{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, ex); err != nil || !ex.Spec.Terminate {
			t.Errorf("experiment %s: %v, terminate %v", name, err, ex.Spec.Terminate)
		}
	}
	run := &v1alpha1.AnalysisRun{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "run"}, run); err != nil || !run.Spec.Terminate {
		t.Errorf("run: %v, terminate %v", err, run.Spec.Terminate)
	}
	if err := TerminateExperiment(ctx, o, []string{"nope"}); err == nil || err.Error() != `experiment "nope" not found in namespace "default"` {
		t.Errorf("unknown experiment: %v", err)
	}
	if err := TerminateAnalysisRun(ctx, o, []string{"nope"}); err == nil || err.Error() != `analysisrun "nope" not found in namespace "default"` {
		t.Errorf("unknown run: %v", err)
	}
}
