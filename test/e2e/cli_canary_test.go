package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1beta1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/controller"
	"github.com/vanedev/vane/internal/testenv"
)

// The Canaries of these tests are suspended, so that a controller that acts on Canaries
// leaves them alone (Flagger skips a suspended Canary); their status is written by the tests
// through the status subresource, as a controller would write it.

// flaggerClient is a client of the test cluster whose scheme knows flagger.app/v1beta1.
func flaggerClient(t *testing.T, env *testenv.Env) client.Client {
	t.Helper()
	s, err := controller.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newFlaggerCanary creates a suspended Canary of the Deployment target, with a confirm-rollout
// gate, a load test without a type and a rollback webhook, and sets its status.
func newFlaggerCanary(t *testing.T, c client.Client, ns, name string, st flaggerv1beta1.CanaryStatus) *flaggerv1beta1.Canary {
	t.Helper()
	lt := "http://flagger-loadtester." + ns
	cn := &flaggerv1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: flaggerv1beta1.CanarySpec{
			TargetRef: flaggerv1beta1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			Service:   flaggerv1beta1.CanaryService{Port: 9898},
			Suspend:   ptr.To(true),
			Analysis: &flaggerv1beta1.CanaryAnalysis{Interval: "1m", Threshold: ptr.To[int32](5), MaxWeight: ptr.To[int32](50), StepWeight: ptr.To[int32](10),
				Webhooks: []flaggerv1beta1.CanaryWebhook{
					{Name: "gate", Type: "confirm-rollout", URL: lt + "/gate/check"},
					{Name: "load-test", URL: lt + "/", Metadata: map[string]string{"cmd": "hey -z 1m http://" + name + "-canary:9898/"}},
					{Name: "rollback", Type: "rollback", URL: lt + "/rollback/check"},
				}},
		},
	}
	if err := c.Create(context.Background(), cn); err != nil {
		t.Fatalf("creating canary %s/%s: %v", ns, name, err)
	}
	setCanaryStatus(t, c, cn, st)
	return cn
}

// setCanaryStatus writes the Canary's status through the status subresource.
func setCanaryStatus(t *testing.T, c client.Client, cn *flaggerv1beta1.Canary, st flaggerv1beta1.CanaryStatus) {
	t.Helper()
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(cn), cn); err != nil {
		t.Fatal(err)
	}
	cn.Status = st
	if err := c.Status().Update(context.Background(), cn); err != nil {
		t.Fatalf("setting the status of canary %s/%s: %v", cn.Namespace, cn.Name, err)
	}
}

// progressing is a status mid-analysis: weight 20, one failed check, the Promoted condition.
func progressing(weight int32) flaggerv1beta1.CanaryStatus {
	return flaggerv1beta1.CanaryStatus{Phase: "Progressing", CanaryWeight: weight, FailedChecks: 1,
		LastTransitionTime: &metav1.Time{Time: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)},
		Conditions: []flaggerv1beta1.CanaryCondition{{Type: "Promoted", Status: "Unknown", Reason: "Progressing",
			Message: "New revision detected, progressing canary analysis."}}}
}

// flaggerWorkloads creates what Flagger generates for the target NAME: the primary Deployment
// (2 replicas), the target scaled to 0, and the apex, primary and canary Services; it waits
// until the primary's pods are ready.
func flaggerWorkloads(t *testing.T, env *testenv.Env, ns, name string) {
	t.Helper()
	ctx := context.Background()
	for _, d := range []struct {
		name     string
		replicas int32
	}{{name + "-primary", 2}, {name, 0}} {
		labels := map[string]string{"app": d.name}
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: d.name, Namespace: ns},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(d.replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "podinfod", Image: "ghcr.io/stefanprodan/podinfo:6.0.0"}}}}}}
		if err := env.Client.Create(ctx, dep); err != nil {
			t.Fatal(err)
		}
	}
	for _, svc := range []string{name, name + "-primary", name + "-canary"} {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name + "-primary"},
				Ports: []corev1.ServicePort{{Name: "http", Port: 9898, Protocol: corev1.ProtocolTCP}}}}
		if err := env.Client.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 60*time.Second, name+"-primary ready", func() (bool, string) {
		d := &appsv1.Deployment{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name + "-primary"}, d); err != nil {
			return false, err.Error()
		}
		st := d.Status
		return st.ReadyReplicas == 2 && st.UpdatedReplicas == 2 && st.AvailableReplicas == 2, fmt.Sprintf("%+v", st)
	})
}

// TestCLICanaryVerbs runs `get canary` and `list canaries` as processes against Canaries whose
// status the test sets: the header, the generated Deployments and Services, the webhooks, the
// gates once `vane gate open` made the ConfigMap, the nouns' aliases, -A, and -w redrawing
// after a change of the status.
func TestCLICanaryVerbs(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	cli := vaneCLI{t: t, bin: buildVane(t, env), env: env, ns: ns}
	fc := flaggerClient(t, env)

	cli.ok("No canaries found.", "list", "canaries")
	flaggerWorkloads(t, env, ns, "podinfo")
	cn := newFlaggerCanary(t, fc, ns, "podinfo", progressing(20))

	out := cli.ok("Name:            podinfo", "get", "canary", "podinfo")
	cliExpLines(t, "get canary", out,
		`^Namespace: +`+ns+`$`, `^Target: +Deployment/podinfo$`, `^Provider: +\(controller default\)$`,
		`^Status: +◌ Progressing \(suspended\)$`, `^Message: +New revision detected, progressing canary analysis\.$`,
		`^Weight: +20 \(stepWeight 10, maxWeight 50\)$`, `^Iterations: +0$`, `^FailedChecks: +1/5$`,
		`^LastTransition: +2026-03-04T05:06:07Z \(`,
		`^Deployments:$`, `^  primary +podinfo-primary +2 +2 +2 +2$`, `^  canary +podinfo +0 +0 +0 +0$`,
		`^  apex +podinfo +ClusterIP +[0-9.]+ +9898/TCP$`, `^  primary +podinfo-primary +ClusterIP +[0-9.]+ +9898/TCP$`,
		`^  canary +podinfo-canary +ClusterIP +[0-9.]+ +9898/TCP$`,
		`^  gate +confirm-rollout +http://flagger-loadtester\.`+ns+`/gate/check$`,
		`^  load-test +rollout +http://flagger-loadtester\.`+ns+`/$`,
		`^  rollback +rollback +http://flagger-loadtester\.`+ns+`/rollback/check$`)
	if strings.Contains(out, "Gates:") {
		t.Errorf("get canary shows gates while the namespace has no gate ConfigMap:\n%s", out)
	}

	cli.ok("gate of canary "+ns+"/podinfo is open", "gate", "open", "podinfo")
	cli.ok("Gates:           confirm open, rollback closed (ConfigMap vane-gate)", "get", "canaries", "podinfo")
	cli.ok("rollback of canary "+ns+"/podinfo is open", "rollback", "podinfo")
	cli.ok("Gates:           confirm open, rollback open (ConfigMap vane-gate)", "get", "canary", "podinfo")

	list := cli.ok("podinfo", "list", "canaries")
	cliExpLines(t, "list canaries", list, `^NAME +STATUS +WEIGHT +LASTTRANSITIONTIME$`, `^podinfo +Progressing +20 +2026-03-04T05:06:07Z$`)
	if got := cli.ok("podinfo", "list", "canary"); got != list {
		t.Errorf("list canary (the alias) printed\n%s\nwant\n%s", got, list)
	}
	other := env.Namespace(t)
	done := flaggerv1beta1.CanaryStatus{Phase: "Succeeded", LastTransitionTime: &metav1.Time{Time: time.Date(2026, 3, 4, 6, 0, 0, 0, time.UTC)}}
	newFlaggerCanary(t, fc, other, "backend", done)
	all := cli.ok("backend", "list", "canaries", "-A")
	cliExpLines(t, "list canaries -A", all, `^NAMESPACE +NAME +STATUS +WEIGHT +LASTTRANSITIONTIME$`,
		`^`+ns+` +podinfo +Progressing +20 +2026-03-04T05:06:07Z$`, `^`+other+` +backend +Succeeded +0 +2026-03-04T06:00:00Z$`)
	if first, second := strings.Index(all, "\n"+ns+" "), strings.Index(all, "\n"+other+" "); (first < second) != (ns < other) {
		t.Errorf("list canaries -A is not sorted by namespace:\n%s", all)
	}
	watchCanary(t, cli, fc, cn)
}

// watchCanary runs `get canary -w` (not on a terminal: a new frame only when something
// changed), changes the status and waits for the frame that shows it.
func watchCanary(t *testing.T, cli vaneCLI, fc client.Client, cn *flaggerv1beta1.Canary) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli.bin, "--kubeconfig", cli.env.Kubeconfig, "-n", cli.ns, "get", "canary", cn.Name, "-w")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	waitLine := func(want string) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("get canary -w ended before printing %q", want)
				}
				if strings.HasPrefix(l, want) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("get canary -w printed no %q", want)
			}
		}
	}
	waitLine("Weight:          20 ")
	next := progressing(30)
	next.Phase, next.FailedChecks = "WaitingPromotion", 2
	setCanaryStatus(t, fc, cn, next)
	waitLine("Status:          ॥ WaitingPromotion (suspended)")
	waitLine("Weight:          30 ")
	waitLine("FailedChecks:    2/5")
}

// TestCLICanaryErrors: a canary that does not exist is named with the namespace searched; a
// user who may not read canaries gets the API server's sentence; one who may read the canary
// but not the gate ConfigMap sees everything else; a cluster without Flagger's CRD is told so.
func TestCLICanaryErrors(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	cli := vaneCLI{t: t, bin: buildVane(t, env), env: env, ns: ns}
	fc := flaggerClient(t, env)
	newFlaggerCanary(t, fc, ns, "podinfo", progressing(20))
	cli.ok("gate of canary "+ns+"/podinfo is open", "gate", "open", "podinfo")

	if out, code := cli.run("get", "canary", "nope"); code != 1 || !strings.Contains(out, `canary "nope" not found in namespace "`+ns+`"`) {
		t.Errorf("unknown canary: exit %d, output %q", code, out)
	}
	if out, code := cli.run("--as", "nobody", "get", "canary", "podinfo"); code != 1 ||
		!strings.Contains(out, `forbidden: canaries.flagger.app "podinfo" is forbidden: User "nobody" cannot get resource "canaries"`) {
		t.Errorf("forbidden: exit %d, output %q", code, out)
	}
	if out, code := cli.run("--as", "nobody", "list", "canaries"); code != 1 ||
		!strings.Contains(out, `User "nobody" cannot list resource "canaries"`) {
		t.Errorf("forbidden list: exit %d, output %q", code, out)
	}
	grantCanaryViewer(t, env, ns, "canary-viewer")
	out := cli.ok("Status:          ◌ Progressing (suspended)", "--as", "canary-viewer", "get", "canary", "podinfo")
	cliExpLines(t, "get canary without access to ConfigMaps", out,
		`^Gates: +cannot be read: reading ConfigMap `+ns+`/vane-gate: configmaps "vane-gate" is forbidden: User "canary-viewer" cannot get resource "configmaps"`,
		`^  primary +podinfo-primary +\(not found\)$`, `^  apex +podinfo +\(not found\)$`)

	kc := hideFlaggerAPI(t, env)
	for _, args := range [][]string{{"get", "canary", "podinfo"}, {"list", "canaries", "-A"}} {
		cmd := exec.Command(cli.bin, append([]string{"--kubeconfig", kc, "-n", ns}, args...)...)
		b, err := cmd.CombinedOutput()
		want := "does not serve flagger.app/v1beta1 Canaries: the CRD canaries.flagger.app is not installed (kubectl apply -k config/crd)"
		if err == nil || !strings.Contains(string(b), want) {
			t.Errorf("vane %s on a cluster without Flagger's CRD: %v, output %q", strings.Join(args, " "), err, b)
		}
	}
	// the same cluster still serves rollouts through the filter
	cmd := exec.Command(cli.bin, "--kubeconfig", kc, "-n", ns, "list", "rollouts")
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "No rollouts found.") {
		t.Errorf("list rollouts through the filter: %v, output %q", err, b)
	}
}

// grantCanaryViewer lets user get and list canaries, Deployments and Services in ns, and
// nothing else.
func grantCanaryViewer(t *testing.T, env *testenv.Env, ns, user string) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: ns}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"flagger.app"}, Resources: []string{"canaries"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "daemonsets"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get"}},
	}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: user},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}}}
	for _, o := range []client.Object{role, binding} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
}

// hideFlaggerAPI serves the test cluster on a loopback port as a cluster without Flagger's
// CRDs: the flagger.app group is left out of discovery (/apis, aggregated or not) and its
// paths answer 404 as the API server answers for a group it does not serve; everything else
// goes through to the API server with the admin's credentials. It returns a kubeconfig for it.
func hideFlaggerAPI(t *testing.T, env *testenv.Env) string {
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
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: '" + srv.URL + "'}}]\n" +
		"users: [{name: u, user: {}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return kc
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
		list, _ := doc[key].([]any)
		kept := []any{}
		for _, g := range list {
			m, _ := g.(map[string]any)
			meta, _ := m["metadata"].(map[string]any)
			if m["name"] != group && (meta == nil || meta["name"] != group) {
				kept = append(kept, g)
			}
		}
		if list != nil {
			doc[key] = kept
		}
	}
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_ = json.NewEncoder(w).Encode(doc)
}
