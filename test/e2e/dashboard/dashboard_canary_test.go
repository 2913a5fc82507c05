package dashboard

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/zap/zapcore"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	flaggerv1beta1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/controller"
	"github.com/vanedev/vane/internal/gate"
	"github.com/vanedev/vane/internal/server"
	"github.com/vanedev/vane/internal/testenv"
)

// The Canaries of these tests are suspended, so that a controller acting on Canaries leaves
// them alone (Flagger skips a suspended Canary): the tests write their status through the
// status subresource, as a controller would.

// startFlaggerDashboard is startDashboard with the controller's scheme, which knows Flagger's
// kinds (as `vane dashboard` runs it), and a client of that scheme for the test.
func startFlaggerDashboard(t *testing.T, env *testenv.Env, cfg *rest.Config, inCluster bool, namespaces ...string) (*dashboard, client.Client) {
	t.Helper()
	scheme, err := controller.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := zap.New(zap.WriteTo(logs), zap.UseDevMode(true), zap.Level(zapcore.Level(-1)))
	ctx, cancel := context.WithCancel(log.IntoContext(context.Background(), logger))
	srv, err := server.New(server.Options{Config: cfg, Scheme: scheme, InCluster: inCluster, Namespaces: namespaces})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = server.Serve(ctx, ln, srv.Handler()) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("dashboard log:\n%s", logs.String())
		}
	})
	return &dashboard{URL: "http://" + ln.Addr().String(), Logs: logs, Stop: stop}, c
}

// newFlaggerCanary creates a suspended Canary of the Deployment NAME with a confirm-rollout
// gate, a load test without a type and a rollback webhook, and writes its status.
func newFlaggerCanary(t *testing.T, c client.Client, ns, name string, st flaggerv1beta1.CanaryStatus) *flaggerv1beta1.Canary {
	t.Helper()
	lt := "http://flagger-loadtester." + ns
	cn := &flaggerv1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: flaggerv1beta1.CanarySpec{
			TargetRef: flaggerv1beta1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			Service:   flaggerv1beta1.CanaryService{Port: 9898},
			Suspend:   ptrTo(true),
			Analysis: &flaggerv1beta1.CanaryAnalysis{Interval: "30s", Threshold: ptrTo[int32](5), MaxWeight: ptrTo[int32](50), StepWeight: ptrTo[int32](10),
				Webhooks: []flaggerv1beta1.CanaryWebhook{
					{Name: "gate", Type: "confirm-rollout", URL: lt + "/gate/check"},
					{Name: "load-test", URL: lt + "/", Timeout: "5s"},
					{Name: "rollback", Type: "rollback", URL: lt + "/rollback/check"},
				}}}}
	if err := c.Create(context.Background(), cn); err != nil {
		t.Fatalf("creating canary %s/%s: %v", ns, name, err)
	}
	writeCanaryStatus(t, c, cn, st)
	return cn
}

// writeCanaryStatus writes the Canary's status through the status subresource.
func writeCanaryStatus(t *testing.T, c client.Client, cn *flaggerv1beta1.Canary, st flaggerv1beta1.CanaryStatus) {
	t.Helper()
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(cn), cn); err != nil {
		t.Fatal(err)
	}
	cn.Status = st
	if err := c.Status().Update(context.Background(), cn); err != nil {
		t.Fatalf("writing the status of canary %s/%s: %v", cn.Namespace, cn.Name, err)
	}
}

var transition = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// midAnalysis is a status mid-analysis at weight w, one failed check, the Promoted condition.
func midAnalysis(w int32) flaggerv1beta1.CanaryStatus {
	return flaggerv1beta1.CanaryStatus{Phase: "Progressing", CanaryWeight: w, FailedChecks: 1,
		LastTransitionTime: &metav1.Time{Time: transition},
		Conditions: []flaggerv1beta1.CanaryCondition{{Type: "Promoted", Status: "Unknown", Reason: "Progressing",
			Message: "New revision detected, progressing canary analysis."}}}
}

// waitCanaryChange waits for the stream to announce a change of the canary.
func waitCanaryChange(t *testing.T, stream <-chan sseEvent, ns, name string) {
	t.Helper()
	want, _ := json.Marshal(server.Ref{Namespace: ns, Name: name, Kind: server.KindCanary})
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-stream:
			if ev.Event == "change" && ev.Data == string(want) {
				return
			}
		case <-timeout:
			t.Fatalf("the stream announced no change of canary %s/%s", ns, name)
		}
	}
}

// TestDashboardCanaryAPI reads a Canary through the local dashboard's JSON API and pages: the
// summary and the detail (webhooks, gates), a status change and a gate opened with internal/gate
// announced on the stream (to the canary's page, not to rollout pages), the list page's
// canaries, and a canary that does not exist.
func TestDashboardCanaryAPI(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	d, c := startFlaggerDashboard(t, env, env.Config, false, ns)
	cn := newFlaggerCanary(t, c, ns, "podinfo", midAnalysis(20))
	base := d.URL + "/api/v1/namespaces/" + ns + "/canaries"

	want := server.CanarySummary{Namespace: ns, Name: "podinfo", Target: "Deployment/podinfo", Provider: "(controller default)",
		Phase: "Progressing", Status: "Progressing", Icon: "◌", Message: "New revision detected, progressing canary analysis.",
		Weight: 20, MaxWeight: 50, FailedChecks: 1, Threshold: 5, LastTransitionTime: &transition, Suspended: true}
	var list server.CanaryList
	eventually(t, 30*time.Second, "the canary listed", func() (bool, string) {
		list = server.CanaryList{}
		code := call(t, "GET", base, nil, nil, &list)
		return code == 200 && len(list.Items) == 1 && list.Items[0].Weight == 20, http.StatusText(code)
	})
	if diff := cmp.Diff(server.CanaryList{Items: []server.CanarySummary{want}, Namespaces: []string{ns}}, list); diff != "" {
		t.Errorf("GET %s (-want +got):\n%s", base, diff)
	}
	var detail server.CanaryDetail
	if code := call(t, "GET", base+"/podinfo", nil, nil, &detail); code != 200 {
		t.Fatalf("GET %s/podinfo: %d", base, code)
	}
	lt := "http://flagger-loadtester." + ns
	wantDetail := server.CanaryDetail{CanarySummary: want, Interval: "30s", StepWeight: 10,
		Webhooks: []server.WebhookView{{Name: "gate", Type: "confirm-rollout", URL: lt + "/gate/check"},
			{Name: "load-test", Type: "rollout", URL: lt + "/", Timeout: "5s"}, {Name: "rollback", Type: "rollback", URL: lt + "/rollback/check"}},
		Gates: &server.GatesView{Confirm: "closed", Rollback: "closed"}}
	if diff := cmp.Diff(wantDetail, detail); diff != "" {
		t.Errorf("GET %s/podinfo (-want +got):\n%s", base, diff)
	}

	canaryStream := openStream(t, d.URL+"/api/v1/stream?namespace="+ns+"&name=podinfo&kind=Canary", nil)
	rolloutStream := openStream(t, d.URL+"/api/v1/stream?namespace="+ns+"&name=podinfo&kind=Rollout", nil)
	next := midAnalysis(30)
	next.Phase, next.FailedChecks = "WaitingPromotion", 2
	writeCanaryStatus(t, c, cn, next)
	waitCanaryChange(t, canaryStream, ns, "podinfo")
	canaryDetail(t, base+"/podinfo", "WaitingPromotion 30 2/5 confirm closed (ConfigMap false)")

	if err := (&gate.ConfigMapStore{Client: c}).Set(context.Background(), gate.Key{Kind: gate.Confirm, Namespace: ns, Name: "podinfo"}, true); err != nil {
		t.Fatal(err)
	}
	waitCanaryChange(t, canaryStream, ns, "podinfo")
	canaryDetail(t, base+"/podinfo", "WaitingPromotion 30 2/5 confirm open (ConfigMap true)")
	noChange(t, rolloutStream, time.Second)

	canaryPages(t, d.URL, ns)
	var e map[string]any
	if code := call(t, "GET", base+"/nope", nil, nil, &e); code != 404 || !strings.Contains(e["message"].(string), "not found") {
		t.Errorf("GET %s/nope: %d %v, want 404 not found", base, code, e)
	}
	if code := call(t, "GET", d.URL+"/api/v1/namespaces/kube-system/canaries", nil, nil, &e); code != 404 || !strings.Contains(e["message"].(string), "not served") {
		t.Errorf("canaries of a namespace not served: %d %v, want 404", code, e)
	}
}

// canaryDetail waits until the canary's "phase weight failed/threshold confirm GATE
// (ConfigMap BOOL)" is want.
func canaryDetail(t *testing.T, url, want string) {
	t.Helper()
	eventually(t, 30*time.Second, url+" to be "+want, func() (bool, string) {
		var d server.CanaryDetail
		code := call(t, "GET", url, nil, nil, &d)
		got := http.StatusText(code)
		if d.Gates != nil {
			got = d.Phase + " " + itoa(d.Weight) + " " + itoa(d.FailedChecks) + "/" + itoa(d.Threshold) + " confirm " + d.Gates.Confirm
			if d.Gates.ConfigMap {
				got += " (ConfigMap true)"
			} else {
				got += " (ConfigMap false)"
			}
		}
		return got == want, got
	})
}

// noChange fails if the stream announces a change within d.
func noChange(t *testing.T, stream <-chan sseEvent, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-stream:
			if ev.Event == "change" {
				t.Errorf("a stream for rollouts announced %s", ev.Data)
			}
		case <-deadline:
			return
		}
	}
}

// canaryPages fetches the list page and the canary's page and looks for what they show.
func canaryPages(t *testing.T, base, ns string) {
	t.Helper()
	pages := map[string][]string{
		"/": {`<h2 id="canaries">Canaries`, `<a href="/namespaces/` + ns + `/canaries/podinfo">podinfo</a>`,
			`<td data-label="Failed checks" class="failed-checks">2/5</td>`},
		"/namespaces/" + ns + "/canaries/podinfo": {`data-kind="Canary"`, `‖ WaitingPromotion`, `<span class="canary-weight">30</span>%`,
			`id="gate-confirm">open</span>`, `id="gate-rollback">closed</span>`, `<code>http://flagger-loadtester.` + ns + `/rollback/check</code>`},
	}
	for path, wants := range pages {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var missing []string
		for _, w := range wants {
			if !strings.Contains(string(b), w) {
				missing = append(missing, w)
			}
		}
		if resp.StatusCode != 200 || len(missing) > 0 {
			t.Errorf("GET %s: %s, lacks %q:\n%s", path, resp.Status, missing, b)
		}
	}
}

// TestDashboardCanaryAuth runs the in-cluster dashboard as config/dashboard's ServiceAccount
// (its RBAC must let it watch Canaries and the gate ConfigMap) and reads a Canary as three
// people: one who may read canaries and the gate ConfigMap, one who may read canaries only
// (the gates are hidden), and one who may read rollouts only (403 naming the verb and the
// resource; the stream does not tell them about the canary).
func TestDashboardCanaryAuth(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	d, c := startFlaggerDashboard(t, env, dashboardIdentity(t, env), true)
	newFlaggerCanary(t, c, ns, "guarded", midAnalysis(10))
	canaries := rbacv1.PolicyRule{APIGroups: []string{"flagger.app"}, Resources: []string{"canaries"}, Verbs: []string{"get", "list"}}
	gates := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{gate.ConfigMapName}, Verbs: []string{"get"}}
	rollouts := rbacv1.PolicyRule{APIGroups: []string{"argoproj.io"}, Resources: []string{"rollouts"}, Verbs: []string{"get", "list"}}
	tokens := map[string]string{
		"gatekeeper": serviceAccount(t, env, ns, "gatekeeper", canaries, gates),
		"viewer":     serviceAccount(t, env, ns, "viewer", canaries),
		"stranger":   serviceAccount(t, env, ns, "stranger", rollouts),
	}
	if err := (&gate.ConfigMapStore{Client: c}).Set(context.Background(), gate.Key{Kind: gate.Rollback, Namespace: ns, Name: "guarded"}, true); err != nil {
		t.Fatal(err)
	}
	list, one := "/api/v1/namespaces/"+ns+"/canaries", "/api/v1/namespaces/"+ns+"/canaries/guarded"
	cases := map[string]canaryRequest{
		"gatekeeper lists":      {"gatekeeper", list},
		"gatekeeper lists all":  {"gatekeeper", "/api/v1/canaries"},
		"gatekeeper reads":      {"gatekeeper", one},
		"viewer reads":          {"viewer", one},
		"stranger lists":        {"stranger", list},
		"stranger reads":        {"stranger", one},
		"stranger lists all":    {"stranger", "/api/v1/canaries"},
		"viewer in kube-system": {"viewer", "/api/v1/namespaces/kube-system/canaries"},
	}
	want := map[string]canaryAnswer{
		"gatekeeper lists":      {Code: 200, Items: []string{"guarded"}},
		"gatekeeper lists all":  {Code: 200, Items: []string{"guarded"}},
		"gatekeeper reads":      {Code: 200, Gates: &server.GatesView{ConfigMap: true, Confirm: "closed", Rollback: "open"}},
		"viewer reads":          {Code: 200, Hidden: []string{"configmaps/vane-gate"}},
		"stranger lists":        {Code: 403, Verb: "list", Resource: "canaries"},
		"stranger reads":        {Code: 403, Verb: "get", Resource: "canaries"},
		"stranger lists all":    {Code: 200},
		"viewer in kube-system": {Code: 403, Verb: "list", Resource: "canaries"},
	}
	eventually(t, 30*time.Second, "the dashboard's cache to hold the gate", func() (bool, string) {
		var dt server.CanaryDetail
		code := call(t, "GET", d.URL+one, map[string]string{"Authorization": "Bearer " + tokens["gatekeeper"]}, nil, &dt)
		return code == 200 && dt.Gates != nil && dt.Gates.Rollback == "open", http.StatusText(code)
	})
	if diff := cmp.Diff(want, askCanaries(t, d.URL, tokens, cases), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	strangerStream := openStream(t, d.URL+"/api/v1/stream?namespace="+ns, map[string]string{"Authorization": "Bearer " + tokens["stranger"]})
	viewerStream := openStream(t, d.URL+"/api/v1/stream?namespace="+ns, map[string]string{"Authorization": "Bearer " + tokens["viewer"]})
	cn := &flaggerv1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "guarded"}}
	writeCanaryStatus(t, c, cn, midAnalysis(20))
	waitCanaryChange(t, viewerStream, ns, "guarded")
	noChange(t, strangerStream, time.Second)
}

// canaryRequest is a GET of path with who's token; canaryAnswer what it got.
type canaryRequest struct{ who, path string }

type canaryAnswer struct {
	Code           int
	Items          []string
	Gates          *server.GatesView
	Hidden         []string
	Verb, Resource string
}

// askCanaries makes each request with its person's bearer token and collects the answers.
func askCanaries(t *testing.T, base string, tokens map[string]string, cases map[string]canaryRequest) map[string]canaryAnswer {
	t.Helper()
	got := map[string]canaryAnswer{}
	for name, tc := range cases {
		var body struct {
			server.CanaryDetail
			Items          []server.CanarySummary `json:"items"`
			Verb, Resource string
		}
		a := canaryAnswer{Code: call(t, "GET", base+tc.path, map[string]string{"Authorization": "Bearer " + tokens[tc.who]}, nil, &body)}
		for _, it := range body.Items {
			a.Items = append(a.Items, it.Name)
		}
		a.Gates, a.Hidden, a.Verb, a.Resource = body.Gates, body.Hidden, body.Verb, body.Resource
		got[name] = a
	}
	return got
}

// TestDashboardWithoutFlaggerCRD: on a cluster that does not serve flagger.app the dashboard
// starts and shows rollouts; the canary endpoints answer 404 saying why, and the list page has
// no canary section.
func TestDashboardWithoutFlaggerCRD(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	d, _ := startFlaggerDashboard(t, env, hideFlaggerAPI(t, env), false, ns)
	var rollouts server.RolloutList
	if code := call(t, "GET", d.URL+"/api/v1/rollouts", nil, nil, &rollouts); code != 200 {
		t.Errorf("GET /api/v1/rollouts without Flagger's CRD: %d", code)
	}
	for _, path := range []string{"/api/v1/canaries", "/api/v1/namespaces/" + ns + "/canaries/podinfo"} {
		var e map[string]any
		code := call(t, "GET", d.URL+path, nil, nil, &e)
		msg, _ := e["message"].(string)
		if code != 404 || !strings.Contains(msg, "this dashboard does not show Flagger canaries: the cluster at http://127.0.0.1:") ||
			!strings.Contains(msg, "does not serve flagger.app/v1beta1 Canaries (the CRD canaries.flagger.app is not installed)") {
			t.Errorf("GET %s without Flagger's CRD: %d %q", path, code, msg)
		}
	}
	resp, err := http.Get(d.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(b), `id="canaries"`) {
		t.Errorf("the list page without Flagger's CRD: %s, canary section: %v", resp.Status, strings.Contains(string(b), `id="canaries"`))
	}
}

// hideFlaggerAPI serves the test cluster on a loopback port as a cluster without Flagger's
// CRDs: flagger.app is left out of discovery (/apis, aggregated or not) and its paths answer
// 404 as the API server does for a group it does not serve; everything else goes through to
// the API server with the admin's credentials. It returns a config for it.
func hideFlaggerAPI(t *testing.T, env *testenv.Env) *rest.Config {
	t.Helper()
	rt, err := rest.TransportFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	target, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = rt
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/apis/flagger.app" || strings.HasPrefix(r.URL.Path, "/apis/flagger.app/"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}`)
		case r.URL.Path == "/apis":
			discoveryWithout(w, r, rt, target, "flagger.app")
		default:
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}
}

// discoveryWithout answers /apis from the API server in JSON (the aggregated form when asked
// for), with the group left out.
func discoveryWithout(w http.ResponseWriter, r *http.Request, rt http.RoundTripper, target *url.URL, group string) {
	accept := "application/json"
	if strings.Contains(r.Header.Get("Accept"), "apidiscovery.k8s.io") {
		accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
	}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, target.String()+"/apis", nil)
	req.Header.Set("Accept", accept)
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for _, key := range []string{"items", "groups"} { // aggregated, legacy
		list, ok := doc[key].([]any)
		if !ok {
			continue
		}
		kept := []any{}
		for _, g := range list {
			m, _ := g.(map[string]any)
			meta, _ := m["metadata"].(map[string]any)
			if m["name"] != group && (meta == nil || meta["name"] != group) {
				kept = append(kept, g)
			}
		}
		doc[key] = kept
	}
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_ = json.NewEncoder(w).Encode(doc)
}
