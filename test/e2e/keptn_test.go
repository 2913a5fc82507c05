package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/clock"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/keptn"
	"github.com/vanedev/vane/internal/testenv"
)

// keptnRollout is the rollout seed 000's convention names: SERVICE-STAGE in PROJECT-STAGE.
const keptnRollout = "podtatohead-prod"

// keptnState asserts the rollout's state right when a .finished event arrived: the event is
// sent once the rollout is there, so no waiting is involved.
func keptnState(t *testing.T, env *testenv.Env, ns string, want snapshot) {
	t.Helper()
	got, _, err := observe(context.Background(), env, ns, keptnRollout)
	if err != nil {
		t.Fatal(err)
	}
	if !matches(got, want) {
		t.Fatalf("rollout when the task finished:\n  got  %s\n  want %s", got, want)
	}
}

// deployVersions plays the delivery sequence's deployments: 0.1.1 (Healthy, first apply), then
// 0.1.2 (set image, paused at 25%). It returns the namespace.
func deployVersions(t *testing.T, env *testenv.Env, s *keptnServer, api *keptnAPI, project string) string {
	t.Helper()
	ns := project + "-prod"
	for i, v := range []string{"v0.1.1", "v0.1.2"} {
		id := fmt.Sprintf("deploy-%d", i+1)
		s.mustPost(t, triggered{Task: keptn.TaskDeployment, ID: id, Context: "ctx-delivery-" + v, Data: keptnData(project, map[string]any{
			"configurationChange": map[string]any{"values": map[string]any{"image": podtatoImage + v}},
			"deployment":          map[string]any{"deploymentstrategy": "user_managed"},
		})}, 202)
		_, d := api.waitFinished(t, id)
		if d.Result != keptn.ResultPass || d.Deployment == nil {
			t.Fatalf("deployment %s finished with %+v", v, d)
		}
		wantURI := []string{"http://podtatohead." + ns + ".svc.cluster.local:80"}
		if diff := cmp.Diff(wantURI, d.Deployment.DeploymentURIsLocal); diff != "" {
			t.Errorf("deployment %s URIs (-want +got):\n%s", v, diff)
		}
	}
	return ns
}

// TestKeptnShipyard plays seed 000's shipyard against `vane keptn`: the delivery sequence's two
// deployments, then three canary phases of release and canary-wait test. Each .finished comes
// when the rollout rests at its next pause (ReplicaSets at 1/3, 2/2, 3/1 of 4) or is Healthy,
// and Keptn's API receives exactly the started/finished pairs with the triggering ids.
func TestKeptnShipyard(t *testing.T) {
	env := withController(t)
	api := newKeptnAPI(t)
	project := keptnProject(t, env)
	s := startKeptn(t, env, api, project+"-prod", clock.RealClock{}, true)
	old, next := podtatoImage+"v0.1.1", podtatoImage+"v0.1.2"

	ns := deployVersions(t, env, s, api, project)
	keptnState(t, env, ns, snapshot{Phase: v1alpha1.RolloutPhasePaused, Step: 1, Stable: old, Sets: old + "=3/3 " + next + "=1/1"})
	// the delivery sequence's performance test is another service's: Vane does not answer
	s.mustPost(t, triggered{Task: keptn.TaskTest, ID: "perf-test", Context: "ctx-delivery-v0.1.2",
		Data: keptnData(project, map[string]any{"test": map[string]any{"teststrategy": "performance"}})}, 200)

	phases := []struct {
		step int32
		want snapshot
	}{
		{3, snapshot{Phase: v1alpha1.RolloutPhasePaused, Step: 3, Stable: old, Sets: old + "=2/2 " + next + "=2/2"}},
		{5, snapshot{Phase: v1alpha1.RolloutPhasePaused, Step: 5, Stable: old, Sets: old + "=1/1 " + next + "=3/3"}},
		{6, snapshot{Phase: v1alpha1.RolloutPhaseHealthy, Step: 6, Stable: next, Sets: next + "=4/4"}},
	}
	want := []string{
		"deployment.started deploy-1 ctx-delivery-v0.1.1 result= status=succeeded",
		"deployment.finished deploy-1 ctx-delivery-v0.1.1 result=pass status=succeeded",
		"deployment.started deploy-2 ctx-delivery-v0.1.2 result= status=succeeded",
		"deployment.finished deploy-2 ctx-delivery-v0.1.2 result=pass status=succeeded",
	}
	for i, ph := range phases {
		kctx := fmt.Sprintf("ctx-canaryphase%d", i+1)
		rel, wait := fmt.Sprintf("release-%d", i+1), fmt.Sprintf("canarywait-%d", i+1)
		s.mustPost(t, triggered{Task: keptn.TaskRelease, ID: rel, Context: kctx, Binary: i%2 == 1, Data: keptnData(project, map[string]any{
			"result": "pass", "deployment": map[string]any{"deploymentstrategy": "user_managed"},
		})}, 202)
		_, d := api.waitFinished(t, rel)
		keptnState(t, env, ns, ph.want)
		if d.Result != keptn.ResultPass {
			t.Fatalf("%s: %+v", rel, d)
		}
		s.mustPost(t, triggered{Task: keptn.TaskTest, ID: wait, Context: kctx, Data: keptnData(project, map[string]any{
			"test": map[string]any{"teststrategy": "real-user", "canarywaitduration": "1s"},
		})}, 202)
		_, td := api.waitFinished(t, wait)
		if td.Test == nil || td.Test.Start == "" || td.Test.End == "" {
			t.Errorf("%s: test.finished without start and end: %+v", wait, td)
		}
		want = append(want,
			"release.started "+rel+" "+kctx+" result= status=succeeded",
			"release.finished "+rel+" "+kctx+" result=pass status=succeeded",
			"test.started "+wait+" "+kctx+" result= status=succeeded",
			"test.finished "+wait+" "+kctx+" result=pass status=succeeded")
	}
	if diff := cmp.Diff(want, api.rows()); diff != "" {
		t.Errorf("events Keptn's API received (-want +got):\n%s", diff)
	}
	assertEventData(t, api, project)
	s.assertNoSecrets(t, keptnToken, keptnAPIToken)
	if api.rejected != 0 {
		t.Errorf("Keptn's API rejected %d events", api.rejected)
	}
}

// assertEventData checks that every event sent names the project, stage prod and service
// podtatohead, comes from Vane and is a CloudEvent 1.0.
func assertEventData(t *testing.T, api *keptnAPI, project string) {
	t.Helper()
	for _, ev := range api.list() {
		var d keptn.EventData
		mustUnmarshal(t, ev.Data, &d)
		if d.Project != project || d.Stage != "prod" || d.Service != "podtatohead" || ev.Source != keptn.Source || ev.SpecVersion != "1.0" {
			t.Errorf("event %s %s: project/stage/service %s/%s/%s, source %q, specversion %q", ev.Type, ev.ID, d.Project, d.Stage, d.Service, ev.Source, ev.SpecVersion)
		}
	}
}

// TestKeptnRollback: a failed evaluation's rollback.triggered mid-phase aborts the rollout, and
// rollback.finished comes only when the stable version serves all 4 replicas again; a release
// triggered after it fails with the rollout's message.
func TestKeptnRollback(t *testing.T) {
	env := withController(t)
	api := newKeptnAPI(t)
	project := keptnProject(t, env)
	s := startKeptn(t, env, api, project+"-prod", clock.RealClock{}, true)
	old, next := podtatoImage+"v0.1.1", podtatoImage+"v0.1.2"
	ns := deployVersions(t, env, s, api, project)

	releaseData := keptnData(project, map[string]any{"result": "pass", "deployment": map[string]any{"deploymentstrategy": "user_managed"}})
	s.mustPost(t, triggered{Task: keptn.TaskRelease, ID: "release-1", Context: "ctx-phase1", Data: releaseData}, 202)
	api.waitFinished(t, "release-1")
	keptnState(t, env, ns, snapshot{Phase: v1alpha1.RolloutPhasePaused, Step: 3, Sets: old + "=2/2 " + next + "=2/2"})

	s.mustPost(t, triggered{Task: keptn.TaskRollback, ID: "rollback-1", Context: "ctx-rollback", Data: keptnData(project, nil)}, 202)
	_, d := api.waitFinished(t, "rollback-1")
	keptnState(t, env, ns, snapshot{Step: anyStep, Stable: old, Sets: old + "=4/4"})
	if d.Result != keptn.ResultPass || !strings.Contains(d.Message, "serves all 4 replicas") {
		t.Errorf("rollback.finished: %+v", d)
	}

	s.mustPost(t, triggered{Task: keptn.TaskRelease, ID: "release-2", Context: "ctx-phase2", Data: releaseData}, 202)
	_, d = api.waitFinished(t, "release-2")
	_, ro, err := observe(context.Background(), env, ns, keptnRollout)
	if err != nil {
		t.Fatal(err)
	}
	if d.Result != keptn.ResultFail || d.Status != keptn.StatusErrored || d.Message == "" || d.Message != ro.Status.Message {
		t.Errorf("release after the abort: result %q status %q message %q, want fail/errored with the rollout's message %q", d.Result, d.Status, d.Message, ro.Status.Message)
	}
	rows := api.rows()[4:]
	want := []string{
		"release.started release-1 ctx-phase1 result= status=succeeded",
		"release.finished release-1 ctx-phase1 result=pass status=succeeded",
		"rollback.started rollback-1 ctx-rollback result= status=succeeded",
		"rollback.finished rollback-1 ctx-rollback result=pass status=succeeded",
		"release.started release-2 ctx-phase2 result= status=succeeded",
		"release.finished release-2 ctx-phase2 result=fail status=errored",
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("events after the deployments (-want +got):\n%s", diff)
	}
}
