package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/clock"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/keptn"
)

// TestKeptnLabelMapping: a Rollout labelled with a project, stage and service is the one their
// events act on, whatever its name and namespace; a deployment without an image for an existing
// rollout fails with a reason and changes nothing.
func TestKeptnLabelMapping(t *testing.T) {
	env := withController(t)
	api := newKeptnAPI(t)
	ns := env.Namespace(t)
	project := "labelled-" + rand.String(5)
	const name = "podtato-canary"
	old, next := podtatoImage+"v0.1.1", podtatoImage+"v0.1.2"
	applyManifests(t, env, ns, "examples/seeds/keptn-podtatohead-rollout.yaml", func(ro *v1alpha1.Rollout) {
		ro.Name = name
		ro.Labels = map[string]string{keptn.LabelProject: project, keptn.LabelStage: "prod", keptn.LabelService: "podtatohead"}
	})
	waitState(t, env, ns, name, 2*time.Minute, snapshot{Phase: v1alpha1.RolloutPhaseHealthy, Step: anyStep, Sets: old + "=4/4"})
	s := startKeptn(t, env, api, ns, clock.RealClock{}, true)

	s.mustPost(t, triggered{Task: keptn.TaskDeployment, ID: "deploy-2", Context: "ctx-delivery", Data: keptnData(project, map[string]any{
		"configurationChange": map[string]any{"values": map[string]any{"image": next}},
		"deployment":          map[string]any{"deploymentstrategy": "user_managed"},
	})}, 202)
	api.waitFinished(t, "deploy-2")
	s.mustPost(t, triggered{Task: keptn.TaskRelease, ID: "release-1", Context: "ctx-phase1", Data: keptnData(project, map[string]any{
		"result": "pass", "deployment": map[string]any{"deploymentstrategy": "user_managed"},
	})}, 202)
	api.waitFinished(t, "release-1")
	want := snapshot{Phase: v1alpha1.RolloutPhasePaused, Step: 3, Stable: old, Sets: old + "=2/2 " + next + "=2/2"}
	if got, _, err := observe(context.Background(), env, ns, name); err != nil || !matches(got, want) {
		t.Fatalf("labelled rollout after release-1: %s (%v), want %s", got, err, want)
	}

	s.mustPost(t, triggered{Task: keptn.TaskDeployment, ID: "deploy-3", Context: "ctx-delivery-2", Data: keptnData(project, nil)}, 202)
	_, d := api.waitFinished(t, "deploy-3")
	if d.Result != keptn.ResultFail || d.Status != keptn.StatusErrored || !strings.Contains(d.Message, "no image") {
		t.Errorf("deployment without an image: %+v", d)
	}
	if got, _, err := observe(context.Background(), env, ns, name); err != nil || !matches(got, want) {
		t.Errorf("labelled rollout after a deployment without an image: %s (%v), want %s", got, err, want)
	}
	wantRows := []string{
		"deployment.started deploy-2 ctx-delivery result= status=succeeded",
		"deployment.finished deploy-2 ctx-delivery result=pass status=succeeded",
		"release.started release-1 ctx-phase1 result= status=succeeded",
		"release.finished release-1 ctx-phase1 result=pass status=succeeded",
		"deployment.started deploy-3 ctx-delivery-2 result= status=succeeded",
		"deployment.finished deploy-3 ctx-delivery-2 result=fail status=errored",
	}
	if diff := cmp.Diff(wantRows, api.rows()); diff != "" {
		t.Errorf("events Keptn's API received (-want +got):\n%s", diff)
	}
}
