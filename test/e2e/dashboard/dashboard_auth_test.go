package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/server"
	"github.com/vanedev/vane/internal/testenv"
)

// TestDashboardAuth serves the in-cluster dashboard as config/dashboard's ServiceAccount and
// checks who may see and do what: no token -> login page (401 for the API), a bad token ->
// 401, a ServiceAccount with only get and list sees the rollout but its Promote answers 403
// naming patch and rollouts/status with the rollout unchanged, one with patch on
// rollouts/status promotes (the dashboard's own identity may not: the action is the user's),
// the session cookie's attributes, a forged request without the CSRF token is refused, and no
// token appears in the server's logs.
func TestDashboardAuth(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	newCanary(t, env, ns, "guarded", "app:blue", 2, weightStep(50), pauseStep(), pauseStep())
	waitPhase(t, env, ns, "guarded", "Healthy")
	setImage(t, env, ns, "guarded", "app:green")
	waitPhase(t, env, ns, "guarded", "Paused")
	viewer := serviceAccount(t, env, ns, "viewer", rbacv1.PolicyRule{APIGroups: []string{"argoproj.io"},
		Resources: []string{"rollouts"}, Verbs: []string{"get", "list"}})
	operator := serviceAccount(t, env, ns, "operator",
		rbacv1.PolicyRule{APIGroups: []string{"argoproj.io"}, Resources: []string{"rollouts"}, Verbs: []string{"get", "list"}},
		rbacv1.PolicyRule{APIGroups: []string{"argoproj.io"}, Resources: []string{"rollouts/status"}, Verbs: []string{"patch"}})
	cfg := dashboardIdentity(t, env)
	d := startDashboard(t, env, cfg, true)
	promote := d.URL + "/api/v1/namespaces/" + ns + "/rollouts/guarded/promote"

	cases := authCases(ns, viewer, operator)
	before := &v1alpha1.Rollout{}
	getRollout(t, env, ns, "guarded", before)
	got := map[string]authAnswer{}
	want := map[string]authAnswer{}
	for name, c := range cases {
		want[name] = c.want
		got[name] = authCall(t, c.method, d.URL+c.path, c.token)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	after := &v1alpha1.Rollout{}
	getRollout(t, env, ns, "guarded", after)
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("refused actions changed the rollout: resourceVersion %s -> %s", before.ResourceVersion, after.ResourceVersion)
	}
	if dashboardMay(t, env, "patch", ns) {
		t.Fatal("the dashboard's own ServiceAccount may patch rollouts/status: the test would not prove impersonation")
	}
	var res server.ActionResult
	if code := call(t, "POST", promote, map[string]string{"Authorization": "Bearer " + operator}, nil, &res); code != 200 {
		t.Fatalf("operator promote: %d %+v", code, res)
	}
	waitStep(t, env, ns, "guarded", 2)
	sessionChecks(t, d.URL, ns, operator)
	for name, tok := range map[string]string{"viewer": viewer, "operator": operator, "dashboard": cfg.BearerToken} {
		if strings.Contains(d.Logs.String(), tok) {
			t.Errorf("the %s token appears in the dashboard's logs", name)
		}
	}
	if !strings.Contains(d.Logs.String(), "dashboard action") {
		t.Errorf("the logs were not captured (no action logged): %q", d.Logs.String())
	}
}

// sessionChecks logs in through the form: a bad token answers 401; a good one sets the
// session cookie (HttpOnly, Secure, SameSite=Strict), whose requests need the CSRF token;
// logging out ends the session.
func sessionChecks(t *testing.T, base, ns, token string) {
	t.Helper()
	if code, _ := login(t, base, "bad-token"); code != http.StatusUnauthorized {
		t.Errorf("login with a bad token: %d, want 401", code)
	}
	code, cookie := login(t, base, token)
	if code != http.StatusSeeOther || cookie == nil {
		t.Fatalf("login: %d, cookie %v", code, cookie)
	}
	if !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteStrictMode || strings.Contains(cookie.Value, token) {
		t.Errorf("session cookie %+v: want HttpOnly, Secure, SameSite=Strict and no token", cookie)
	}
	sess := map[string]string{"Cookie": sessionCookie + "=" + cookie.Value}
	var who map[string]any
	if code := call(t, "GET", base+"/api/v1/whoami", sess, nil, &who); code != 200 || who["user"] != "system:serviceaccount:"+ns+":operator" {
		t.Fatalf("whoami with the session: %d %v", code, who)
	}
	retry := base + "/api/v1/namespaces/" + ns + "/rollouts/guarded/promote"
	var e map[string]any
	if code := call(t, "POST", retry, sess, nil, &e); code != 403 || !strings.Contains(e["message"].(string), "CSRF") {
		t.Errorf("a forged request without the CSRF token: %d %v, want 403", code, e)
	}
	withCSRF := map[string]string{"Cookie": sess["Cookie"], "X-CSRF-Token": who["csrfToken"].(string)}
	if code := call(t, "POST", retry, withCSRF, nil, &e); code != 200 {
		t.Errorf("the session's promote with its CSRF token: %d %v", code, e)
	}
	logout := map[string]string{"Cookie": sess["Cookie"], "X-CSRF-Token": who["csrfToken"].(string)}
	if code := call(t, "POST", base+"/logout", logout, nil, nil); code != http.StatusSeeOther {
		t.Errorf("logout: %d", code)
	}
	if code := call(t, "GET", base+"/api/v1/whoami", sess, nil, nil); code != 401 {
		t.Errorf("the session after logout: %d, want 401", code)
	}
}

const sessionCookie = "vane_session"

func login(t *testing.T, base, token string) (int, *http.Cookie) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(base+"/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			return resp.StatusCode, ck
		}
	}
	return resp.StatusCode, nil
}

// authAnswer is what a request's answer says about authorization.
type authAnswer struct {
	Code     int
	Location string
	Verb     string
	Resource string
	Items    []string
}

// authCall makes a request with a bearer token (none when empty).
func authCall(t *testing.T, method, u, token string) (a authAnswer) {
	t.Helper()
	hdr := map[string]string{}
	if token != "" {
		hdr["Authorization"] = "Bearer " + token
	}
	var body struct {
		Verb     string           `json:"verb"`
		Resource string           `json:"resource"`
		Items    []server.Summary `json:"items"`
	}
	req, _ := http.NewRequest(method, u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a.Code, a.Location = resp.StatusCode, resp.Header.Get("Location")
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = jsonDecode(resp, &body)
	}
	a.Verb, a.Resource = body.Verb, body.Resource
	for _, it := range body.Items {
		a.Items = append(a.Items, it.Name)
	}
	return a
}

// serviceAccount creates a ServiceAccount bound to a Role of rules in ns and returns a token.
func serviceAccount(t *testing.T, env *testenv.Env, ns, name string, rules ...rbacv1.PolicyRule) string {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Rules: rules}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}}}
	if err := env.Client.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, rb); err != nil {
		t.Fatal(err)
	}
	return saToken(t, env, ns, name)
}

// dashboardMay asks whether the dashboard's own ServiceAccount may verb rollouts/status.
func dashboardMay(t *testing.T, env *testenv.Env, verb, ns string) bool {
	t.Helper()
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:vane-system:vane-dashboard",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:vane-system", "system:authenticated"},
		ResourceAttributes: &authzv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: "argoproj.io",
			Resource: "rollouts", Subresource: "status"}}}
	res, err := env.Clientset.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status.Allowed
}

// waitPhase waits for the rollout's phase (read with the admin client).
func waitPhase(t *testing.T, env *testenv.Env, ns, name string, phase v1alpha1.RolloutPhase) {
	t.Helper()
	eventually(t, 60*time.Second, name+" "+string(phase), func() (bool, string) {
		ro := &v1alpha1.Rollout{}
		getRollout(t, env, ns, name, ro)
		return ro.Status.Phase == phase, string(ro.Status.Phase) + " " + ro.Status.Message
	})
}

// waitStep waits for the rollout's current step index.
func waitStep(t *testing.T, env *testenv.Env, ns, name string, step int32) {
	t.Helper()
	eventually(t, 60*time.Second, name+" at a step", func() (bool, string) {
		ro := &v1alpha1.Rollout{}
		getRollout(t, env, ns, name, ro)
		return ptr.Deref(ro.Status.CurrentStepIndex, -1) == step, itoa(ptr.Deref(ro.Status.CurrentStepIndex, -1))
	})
}

// authCase is a request with a token and the answer it gets.
type authCase struct {
	method, path, token string
	want                authAnswer
}

// authCases are the requests whose answers TestDashboardAuth compares.
func authCases(ns, viewer, operator string) map[string]authCase {
	return map[string]authCase{
		"page without a token": {"GET", "/", "", authAnswer{Code: 302, Location: "/login"}},
		"API without a token":  {"GET", "/api/v1/rollouts", "", authAnswer{Code: 401}},
		"a bad token":          {"GET", "/api/v1/rollouts", "not-a-token", authAnswer{Code: 401}},
		"viewer lists":         {"GET", "/api/v1/namespaces/" + ns + "/rollouts", viewer, authAnswer{Code: 200, Items: []string{"guarded"}}},
		"viewer lists all":     {"GET", "/api/v1/rollouts", viewer, authAnswer{Code: 200, Items: []string{"guarded"}}},
		"viewer promotes": {"POST", "/api/v1/namespaces/" + ns + "/rollouts/guarded/promote", viewer,
			authAnswer{Code: 403, Verb: "patch", Resource: "rollouts/status"}},
		"operator pauses": {"POST", "/api/v1/namespaces/" + ns + "/rollouts/guarded/pause", operator,
			authAnswer{Code: 403, Verb: "patch", Resource: "rollouts"}},
		"viewer in kube-system": {"GET", "/api/v1/namespaces/kube-system/rollouts", viewer,
			authAnswer{Code: 403, Verb: "list", Resource: "rollouts"}},
	}
}
