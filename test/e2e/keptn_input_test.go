package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/keptn"
	"github.com/vanedev/vane/internal/testenv"
)

// structuredEvent is the JSON of a structured-mode CloudEvent.
func structuredEvent(t *testing.T, typ, id, kctx string, data any) []byte {
	t.Helper()
	ev := map[string]any{"specversion": "1.0", "id": id, "source": "shipyard-controller", "type": typ,
		"datacontenttype": "application/json", "data": data}
	if kctx != "" {
		ev["shkeptncontext"] = kctx
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recordedTasks returns the states of the tasks recorded for the rollout, by triggered id.
func recordedTasks(t *testing.T, env *testenv.Env, ns string) map[string]string {
	t.Helper()
	var cm corev1.ConfigMap
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "vane-keptn-" + keptnRollout}, &cm)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, raw := range cm.Data {
		var task keptn.Task
		mustUnmarshal(t, []byte(raw), &task)
		out[task.ID] = task.State
	}
	return out
}

// rawRequest is a request sent as is; code and reason are what the receiver must answer.
type rawRequest struct {
	method  string
	body    []byte
	headers map[string]string
	code    int
	reason  string
}

// badInputs returns the refused requests of TestKeptnBadInput; valid is a valid event.
func badInputs(t *testing.T, project string, valid []byte) map[string]rawRequest {
	t.Helper()
	typ := keptn.EventTypePrefix + "test.triggered"
	wait := keptnData(project, map[string]any{"test": map[string]any{"teststrategy": "canarywait", "canarywaitduration": "1h"}})
	return map[string]rawRequest{
		"no token":    {body: valid, headers: map[string]string{"x-token": ""}, code: 401, reason: "token"},
		"wrong token": {body: valid, headers: map[string]string{"x-token": "nope"}, code: 401, reason: "token"},
		"wrong bearer": {body: valid, headers: map[string]string{"x-token": "", "Authorization": "Bearer nope"},
			code: 401, reason: "token"},
		"GET":           {method: http.MethodGet, code: 405, reason: "POST"},
		"not JSON":      {body: []byte("{not json"), code: 400, reason: "not a CloudEvent"},
		"binary, no id": {body: []byte(`{}`), headers: map[string]string{"Content-Type": "application/json", "ce-specversion": "1.0", "ce-type": typ, "ce-source": "x"}, code: 400, reason: "id"},
		"not a Keptn type": {body: structuredEvent(t, "com.example.thing", "x-1", "ctx-1", wait),
			code: 400, reason: "not a Keptn task event"},
		"no shkeptncontext": {body: structuredEvent(t, typ, "x-2", "", wait), code: 400, reason: "shkeptncontext"},
		"no project": {body: structuredEvent(t, typ, "x-3", "ctx-1", map[string]any{"stage": "prod", "service": "podtatohead"}),
			code: 400, reason: "data.project is missing"},
		"project not a DNS label": {body: structuredEvent(t, typ, "x-4", "ctx-1", keptnData("Bad_Project", nil)),
			code: 400, reason: "data.project"},
		"data an array": {body: structuredEvent(t, typ, "x-5", "ctx-1", []int{1, 2}), code: 400, reason: "data is not"},
		"bad canarywaitduration": {body: structuredEvent(t, typ, "x-6", "ctx-1", keptnData(project, map[string]any{
			"test": map[string]any{"canarywaitduration": "soon"}})), code: 400, reason: "invalid duration"},
		"canarywait without a duration": {body: structuredEvent(t, typ, "x-7", "ctx-1", keptnData(project, map[string]any{
			"test": map[string]any{"teststrategy": "canarywait"}})), code: 400, reason: "canarywaitduration is missing"},
		"body over 1MiB": {body: append(append([]byte(`{"specversion":"1.0","id":"x-8","x":"`), strings.Repeat("a", 1<<20)...), `"}`...),
			code: 400, reason: "too large"},
	}
}

// sendRaw sends tc to the receiver with the right token unless tc's headers replace it.
func (s *keptnServer) sendRaw(t *testing.T, tc rawRequest) (int, string) {
	t.Helper()
	method := tc.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, s.url, strings.NewReader(string(tc.body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("x-token", keptnToken)
	for k, v := range tc.headers {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

// TestKeptnBadInput: missing or wrong tokens get 401, malformed events 400 with a reason, and
// none of them is recorded or answered; a valid event with a Bearer token is.
func TestKeptnBadInput(t *testing.T) {
	env := testenv.Get(t)
	api := newKeptnAPI(t)
	project := keptnProject(t, env)
	s := startKeptn(t, env, api, project+"-prod", clock.RealClock{}, false)
	valid := structuredEvent(t, keptn.EventTypePrefix+"test.triggered", "valid-1", "ctx-1",
		keptnData(project, map[string]any{"test": map[string]any{"teststrategy": "canarywait", "canarywaitduration": "1h"}}))
	for name, tc := range badInputs(t, project, valid) {
		t.Run(name, func(t *testing.T) {
			if code, body := s.sendRaw(t, tc); code != tc.code || !strings.Contains(body, tc.reason) {
				t.Errorf("got %d %s, want %d with %q", code, body, tc.code, tc.reason)
			}
		})
	}
	if err := s.svc.Pass(s.ctx); err != nil {
		t.Fatal(err)
	}
	if got := api.rows(); len(got) != 0 {
		t.Fatalf("refused events were answered: %v", got)
	}
	req := mustRequest(t, s.url, valid)
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("Authorization", "Bearer "+keptnToken)
	if code, body := do(t, req); code != 202 {
		t.Fatalf("valid event with a Bearer token: %d %s", code, body)
	}
	if err := s.svc.Pass(s.ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"test.started valid-1 ctx-1 result= status=succeeded"}, api.rows()); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"valid-1": "awaiting"}, recordedTasks(t, env, project+"-prod")); diff != "" {
		t.Errorf("recorded tasks (-want +got):\n%s", diff)
	}
	s.assertNoSecrets(t, keptnToken, keptnAPIToken, "nope")
}

// TestKeptnDuplicateAndOutOfOrder: the same release.triggered delivered five times at once and
// again later promotes once; a release whose approval failed does nothing; events of other
// tasks and kinds are ignored; a release arriving while the previous one is still under way
// waits for the rollout to rest at the next pause instead of skipping a step.
func TestKeptnDuplicateAndOutOfOrder(t *testing.T) {
	env := withController(t)
	api := newKeptnAPI(t)
	project := keptnProject(t, env)
	s := startKeptn(t, env, api, project+"-prod", clock.RealClock{}, true)
	old, next := podtatoImage+"v0.1.1", podtatoImage+"v0.1.2"
	ns := deployVersions(t, env, s, api, project)
	release := func(id, result string, binary bool) triggered {
		return triggered{Task: keptn.TaskRelease, ID: id, Context: "ctx-" + id, Binary: binary, Data: keptnData(project, map[string]any{
			"result": result, "deployment": map[string]any{"deploymentstrategy": "user_managed"}})}
	}

	postConcurrently(t, s, release("release-1", "pass", false), 5)
	api.waitFinished(t, "release-1")
	keptnState(t, env, ns, snapshot{Phase: v1alpha1.RolloutPhasePaused, Step: 3, Sets: old + "=2/2 " + next + "=2/2"})
	if code, body := s.post(t, release("release-1", "pass", false)); code != 200 || !strings.Contains(body, "duplicate") {
		t.Errorf("release-1 once more: %d %s", code, body)
	}

	s.mustPost(t, release("release-nop", "fail", false), 202)
	_, d := api.waitFinished(t, "release-nop")
	if d.Result != keptn.ResultPass || d.Status != keptn.StatusSucceeded || !strings.Contains(d.Message, "nothing to do") {
		t.Errorf("release after a failed approval: %+v", d)
	}
	keptnState(t, env, ns, snapshot{Phase: v1alpha1.RolloutPhasePaused, Step: 3, Sets: old + "=2/2 " + next + "=2/2"})
	assertIgnored(t, s, project)

	s.mustPost(t, release("release-2", "pass", false), 202)
	s.mustPost(t, release("release-3", "pass", true), 202)
	_, d3 := api.waitFinished(t, "release-3")
	keptnState(t, env, ns, snapshot{Phase: v1alpha1.RolloutPhaseHealthy, Step: 6, Stable: next, Sets: next + "=4/4"})
	_, d2 := api.waitFinished(t, "release-2")
	if d2.Message != "rollout paused at step 5" || d3.Result != keptn.ResultPass || !strings.Contains(d3.Message, "Healthy") {
		t.Errorf("release-2 %+v, release-3 %+v", d2, d3)
	}
	assertOncePerTask(t, api, []string{"deploy-1", "deploy-2", "release-1", "release-nop", "release-2", "release-3"})
	finished := []string{}
	for _, ev := range api.list() {
		if strings.HasSuffix(ev.Type, ".finished") {
			finished = append(finished, ev.TriggeredID)
		}
	}
	if diff := cmp.Diff([]string{"deploy-1", "deploy-2", "release-1", "release-nop", "release-2", "release-3"}, finished); diff != "" {
		t.Errorf("order of the .finished events (-want +got):\n%s", diff)
	}
	want := map[string]string{"deploy-1": "done", "deploy-2": "done", "release-1": "done", "release-nop": "done", "release-2": "done", "release-3": "done"}
	if diff := cmp.Diff(want, recordedTasks(t, env, ns)); diff != "" {
		t.Errorf("recorded tasks (-want +got):\n%s", diff)
	}
}

// postConcurrently delivers n copies of ev at once (alternating binary and structured) and
// checks that exactly one is accepted and the others are answered as duplicates.
func postConcurrently(t *testing.T, s *keptnServer, ev triggered, n int) {
	t.Helper()
	reqs := make([]*http.Request, n)
	for i := range reqs {
		copyEv := ev
		copyEv.Binary = i%2 == 0
		reqs[i] = s.request(t, copyEv)
	}
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := http.DefaultClient.Do(req); err == nil {
				codes[i] = resp.StatusCode
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	accepted := 0
	for _, c := range codes {
		if c == 202 {
			accepted++
		} else if c != 200 {
			t.Errorf("a copy of %s got %d", ev.ID, c)
		}
	}
	if accepted != 1 {
		t.Fatalf("%d of %d copies of %s accepted, want 1 (codes %v)", accepted, n, ev.ID, codes)
	}
}

// assertIgnored sends events of tasks and kinds Vane does not handle: 200 ignored each.
func assertIgnored(t *testing.T, s *keptnServer, project string) {
	t.Helper()
	for _, typ := range []string{"evaluation.triggered", "release.finished", "approval.started"} {
		body := structuredEvent(t, keptn.EventTypePrefix+typ, "other-"+typ, "ctx-x", keptnData(project, nil))
		if code, resp := s.sendRaw(t, rawRequest{body: body}); code != 200 || !strings.Contains(resp, "ignored") {
			t.Errorf("%s: %d %s, want 200 ignored", typ, code, resp)
		}
	}
}

// assertOncePerTask checks that each triggered id got exactly one .started then one .finished.
func assertOncePerTask(t *testing.T, api *keptnAPI, ids []string) {
	t.Helper()
	got := map[string][]string{}
	for _, ev := range api.list() {
		got[ev.TriggeredID] = append(got[ev.TriggeredID], ev.Type[strings.LastIndexByte(ev.Type, '.')+1:])
	}
	want := map[string][]string{}
	for _, id := range ids {
		want[id] = []string{"started", "finished"}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events per triggered id (-want +got):\n%s", diff)
	}
}

// TestKeptnRestartDuringCanaryWait: `vane keptn` stops during a 10m canary wait; a new one
// (its clock 9m later) does not finish it early nor start it again, and at 10m sends
// test.finished once, with the start and end of the wait the first one recorded.
func TestKeptnRestartDuringCanaryWait(t *testing.T) {
	env := testenv.Get(t)
	api := newKeptnAPI(t)
	project := keptnProject(t, env)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ev := triggered{Task: keptn.TaskTest, ID: "canarywait-1", Context: "ctx-phase1", Data: keptnData(project, map[string]any{
		"test": map[string]any{"teststrategy": "real-user", "canarywaitduration": "10m"}})}
	first := startKeptn(t, env, api, project+"-prod", clocktesting.NewFakeClock(t0), false)
	first.mustPost(t, ev, 202)
	if err := first.svc.Pass(first.ctx); err != nil {
		t.Fatal(err)
	}
	first.stop()
	started := []string{"test.started canarywait-1 ctx-phase1 result= status=succeeded"}
	if diff := cmp.Diff(started, api.rows()); diff != "" {
		t.Fatalf("before the restart (-want +got):\n%s", diff)
	}

	clk := clocktesting.NewFakeClock(t0.Add(9 * time.Minute))
	second := startKeptn(t, env, api, project+"-prod", clk, false)
	second.mustPost(t, ev, 200) // Keptn's retry of the same event: a duplicate
	if err := second.svc.Pass(second.ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(started, api.rows()); diff != "" {
		t.Fatalf("9m in, after the restart (-want +got):\n%s", diff)
	}
	clk.SetTime(t0.Add(10 * time.Minute))
	for range 2 {
		if err := second.svc.Pass(second.ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := append(started, "test.finished canarywait-1 ctx-phase1 result=pass status=succeeded")
	if diff := cmp.Diff(want, api.rows()); diff != "" {
		t.Fatalf("10m in (-want +got):\n%s", diff)
	}
	_, d := api.waitFinished(t, "canarywait-1")
	wantTest := &keptn.TestData{Start: "2026-03-01T12:00:00Z", End: "2026-03-01T12:10:00Z"}
	if diff := cmp.Diff(wantTest, d.Test); diff != "" {
		t.Errorf("test.finished data.test (-want +got):\n%s", diff)
	}
}
