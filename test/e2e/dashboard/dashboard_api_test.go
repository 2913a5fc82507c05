package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/server"
)

// TestDashboardAPI drives a canary through the local dashboard's JSON API (the one the pages
// use), with the stream announcing each change: set image -> 20% paused, promote -> 50%,
// abort -> Degraded with the reason, retry; then the API's answers to bad requests, and to a
// rollout deleted while open.
func TestDashboardAPI(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	newCanary(t, env, ns, "api", "app:blue", 5, weightStep(20), pauseStep(), weightStep(50), pauseStep())
	d := startDashboard(t, env, env.Config, false, ns)
	base := d.URL + "/api/v1/namespaces/" + ns + "/rollouts"

	var who map[string]any
	if code := call(t, "GET", d.URL+"/api/v1/whoami", nil, nil, &who); code != 200 || who["mode"] != "local" || who["csrfToken"] == "" {
		t.Fatalf("whoami: %d %v", code, who)
	}
	csrf := map[string]string{"X-CSRF-Token": who["csrfToken"].(string)}
	waitSummary(t, base+"/api", "Healthy 4/4 100", 60*time.Second)
	stream := openStream(t, d.URL+"/api/v1/stream?namespace="+ns, nil)

	action(t, base+"/api/setimage", csrf, server.ActionRequest{Container: "*", Image: "app:green"}, "image updated")
	waitChange(t, stream, ns, "api")
	waitSummary(t, base+"/api", "Paused 1/4 20", 60*time.Second)
	action(t, base+"/api/promote", csrf, server.ActionRequest{}, "promoted")
	waitSummary(t, base+"/api", "Paused 3/4 50", 60*time.Second)
	action(t, base+"/api/abort", csrf, server.ActionRequest{}, "aborted")
	s := waitSummary(t, base+"/api", "Degraded 0/4 0", 60*time.Second)
	if !strings.Contains(s.Message, "RolloutAborted") {
		t.Errorf("an aborted rollout says why, got message %q", s.Message)
	}
	action(t, base+"/api/retry", csrf, server.ActionRequest{}, "retried")
	waitSummary(t, base+"/api", "Paused 1/4 20", 60*time.Second)

	var list server.RolloutList
	if code := call(t, "GET", d.URL+"/api/v1/rollouts", nil, nil, &list); code != 200 || len(list.Items) != 1 || list.Items[0].Name != "api" {
		t.Errorf("GET /api/v1/rollouts: %d %+v", code, list)
	}
	badRequests(t, d.URL, ns, csrf)

	ro := &v1alpha1.Rollout{}
	getRollout(t, env, ns, "api", ro)
	if err := env.Client.Delete(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a deleted rollout answers 404", func() (bool, string) {
		var e map[string]any
		code := call(t, "GET", base+"/api", nil, nil, &e)
		return code == 404 && strings.Contains(e["message"].(string), "not found"), http.StatusText(code)
	})
}

// badRequests checks the answers to requests the dashboard refuses.
func badRequests(t *testing.T, url, ns string, csrf map[string]string) {
	t.Helper()
	type want struct {
		Code    int
		Message bool // the message contains the case's phrase
	}
	cases := map[string]struct {
		method, path string
		hdr          map[string]string
		body         any
		phrase       string
	}{
		"no CSRF token":         {"POST", "/api/v1/namespaces/" + ns + "/rollouts/api/promote", nil, nil, "CSRF token"},
		"wrong CSRF token":      {"POST", "/api/v1/namespaces/" + ns + "/rollouts/api/promote", map[string]string{"X-CSRF-Token": "guess"}, nil, "CSRF token"},
		"cross-site origin":     {"POST", "/api/v1/namespaces/" + ns + "/rollouts/api/promote", map[string]string{"X-CSRF-Token": csrf["X-CSRF-Token"], "Origin": "http://evil.example"}, nil, "cross-site"},
		"foreign Host":          {"GET", "/api/v1/rollouts", map[string]string{"Host": "evil.example:3100"}, nil, "127.0.0.1 or localhost"},
		"unknown action":        {"POST", "/api/v1/namespaces/" + ns + "/rollouts/api/explode", csrf, nil, "unknown action"},
		"unknown rollout":       {"GET", "/api/v1/namespaces/" + ns + "/rollouts/nope", nil, nil, "not found"},
		"namespace not served":  {"GET", "/api/v1/namespaces/kube-system/rollouts", nil, nil, "not served"},
		"nothing to retry":      {"POST", "/api/v1/namespaces/" + ns + "/rollouts/api/retry", csrf, nil, "not aborted"},
		"set image, no such":    {"POST", "/api/v1/namespaces/" + ns + "/rollouts/api/setimage", csrf, server.ActionRequest{Container: "nope", Image: "x"}, "no container named"},
		"undo to a missing rev": {"POST", "/api/v1/namespaces/" + ns + "/rollouts/api/undo", csrf, server.ActionRequest{Revision: 99}, "no revision 99"},
	}
	wants := map[string]want{
		"no CSRF token": {403, true}, "wrong CSRF token": {403, true}, "cross-site origin": {403, true},
		"foreign Host": {403, true}, "unknown action": {400, true}, "unknown rollout": {404, true},
		"namespace not served": {404, true}, "nothing to retry": {409, true}, "set image, no such": {400, true},
		"undo to a missing rev": {409, true},
	}
	got := map[string]want{}
	for name, c := range cases {
		var e map[string]any
		hdr := map[string]string{}
		for k, v := range c.hdr {
			hdr[k] = v
		}
		code := callHost(t, c.method, url+c.path, hdr, c.body, &e)
		msg, _ := e["message"].(string)
		got[name] = want{Code: code, Message: strings.Contains(msg, c.phrase)}
		if !got[name].Message {
			t.Logf("%s: message %q", name, msg)
		}
	}
	if diff := cmp.Diff(wants, got); diff != "" {
		t.Errorf("bad requests (-want +got):\n%s", diff)
	}
}

// callHost is call with a Host header honoured.
func callHost(t *testing.T, method, url string, hdr map[string]string, body, out any) int {
	t.Helper()
	if h, ok := hdr["Host"]; ok {
		delete(hdr, "Host")
		return callWithHost(t, method, url, h, hdr, out)
	}
	return call(t, method, url, hdr, body, out)
}

func callWithHost(t *testing.T, method, url, host string, hdr map[string]string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(out)
	return resp.StatusCode
}

// action posts an action and expects it to succeed with the message.
func action(t *testing.T, url string, hdr map[string]string, req server.ActionRequest, want string) {
	t.Helper()
	var res map[string]any
	if code := call(t, "POST", url, hdr, req, &res); code != 200 || res["message"] != want {
		t.Fatalf("POST %s: %d %v, want 200 %q", url, code, res, want)
	}
}

// waitSummary waits until the rollout's "status step/steps setWeight" is want.
func waitSummary(t *testing.T, url, want string, timeout time.Duration) server.Detail {
	t.Helper()
	var d server.Detail
	eventually(t, timeout, url+" to be "+want, func() (bool, string) {
		d = server.Detail{}
		code := call(t, "GET", url, nil, nil, &d)
		got := d.Status + " " + d.StepText() + " " + itoa(d.SetWeight)
		return code == 200 && got == want, got
	})
	return d
}

func itoa(n int32) string { b, _ := json.Marshal(n); return string(b) }

// waitChange waits for the stream to announce a change of the rollout.
func waitChange(t *testing.T, stream <-chan sseEvent, ns, name string) {
	t.Helper()
	want, _ := json.Marshal(server.Ref{Namespace: ns, Name: name})
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-stream:
			if ev.Event == "change" && ev.Data == string(want) {
				return
			}
		case <-timeout:
			t.Fatalf("the stream announced no change of %s/%s", ns, name)
		}
	}
}
