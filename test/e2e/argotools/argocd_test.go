package argotools

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/internal/testenv"
)

// argoCDModule is the Go module Argo CD publishes; its resource_customizations folder holds
// the Lua health scripts Argo CD runs for custom resources. The version is pinned by
// ARGO_CD_VERSION in hack/tools/argo/version.env. The module is only read, never built.
const argoCDModule = "github.com/argoproj/argo-cd/v3"

// rolloutHealthScript is the script Argo CD judges a Rollout's health with.
const rolloutHealthScript = "resource_customizations/argoproj.io/Rollout/health.lua"

var (
	argoCDZipOnce sync.Once
	argoCDZipPath string
	argoCDZipErr  error
)

// argoCDVersion reads ARGO_CD_VERSION from hack/tools/argo/version.env.
func argoCDVersion(root string) (string, error) {
	f, err := os.Open(filepath.Join(root, "hack", "tools", "argo", "version.env"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "ARGO_CD_VERSION="); ok {
			return strings.Trim(v, `"'`), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("hack/tools/argo/version.env has no ARGO_CD_VERSION")
}

// argoCDZip returns the pinned Argo CD module's zip in the Go module cache, downloading it
// through the module proxy (`go mod download`) when it is not there yet.
func argoCDZip(t *testing.T, root string) (string, string) {
	t.Helper()
	version, err := argoCDVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	argoCDZipOnce.Do(func() {
		tmp, err := os.MkdirTemp("", "argocd-download-")
		if err != nil {
			argoCDZipErr = err
			return
		}
		defer os.RemoveAll(tmp)
		// outside any module, so that the main module's go.mod is not involved
		cmd := exec.Command("go", "mod", "download", "-json", argoCDModule+"@"+version)
		cmd.Dir = tmp
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, runErr := cmd.Output()
		var info struct{ Zip, Error string }
		if err := json.Unmarshal(out, &info); err != nil {
			argoCDZipErr = fmt.Errorf("go mod download %s@%s: %v (%v)", argoCDModule, version, runErr, err)
			return
		}
		// A module whose go.mod asks for a newer Go than the one running is still downloaded
		// (only building it needs that Go): the zip is what counts.
		if fi, err := os.Stat(info.Zip); info.Zip == "" || err != nil || fi.Size() == 0 {
			argoCDZipErr = fmt.Errorf("go mod download %s@%s: %v %s", argoCDModule, version, runErr, info.Error)
			return
		}
		argoCDZipPath = info.Zip
	})
	if argoCDZipErr != nil {
		t.Fatalf("Argo CD's module (ARGO_CD_VERSION in hack/tools/argo/version.env): %v", argoCDZipErr)
	}
	return argoCDZipPath, version
}

// argoCDFile reads one file of the pinned Argo CD module (a path inside the module).
func argoCDFile(t *testing.T, root, name string) []byte {
	t.Helper()
	zipPath, version := argoCDZip(t, root)
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatalf("opening %s: %v", zipPath, err)
	}
	defer zr.Close()
	want := argoCDModule + "@" + version + "/" + name
	for _, f := range zr.File {
		if f.Name != want {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Fatalf("%s has no %s", zipPath, want)
	return nil
}

// health is what an Argo CD health script returns.
type health struct{ Status, Message string }

func (h health) String() string { return fmt.Sprintf("%s %q", h.Status, h.Message) }

// argoCDHealth runs an Argo CD health script on obj as Argo CD's Lua VM does (util/lua in the
// Argo CD module): a fresh gopher-lua state with the standard libraries open (Argo CD opens them
// for its built-in scripts), a one-second deadline, the object as the global table `obj`
// (converted from its JSON form), and the returned table's status and message. A script error
// is returned as is: Argo CD (gitops-engine's GetResourceHealth) then shows the resource as
// Unknown with the error as the message, and Unknown is the worst health an Application can
// take from one of its resources.
func argoCDHealth(script string, obj map[string]any) (health, error) {
	l := lua.NewState()
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", luaValue(l, obj))
	if err := l.DoString(script); err != nil {
		// Argo CD drops the Lua stack trace of a run-time error: the message is what it shows
		if apiErr, ok := err.(*lua.ApiError); ok && apiErr.Type == lua.ApiErrorRun {
			apiErr.StackTrace = ""
		}
		return health{}, err
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return health{}, fmt.Errorf("the script returned %s, not a table", l.Get(-1).Type())
	}
	h := health{Status: luaString(ret.RawGetString("status")), Message: luaString(ret.RawGetString("message"))}
	switch h.Status {
	case "Unknown", "Progressing", "Suspended", "Healthy", "Degraded", "Missing":
		return h, nil
	}
	// Argo CD turns a status it does not know into Unknown
	return health{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
}

func luaString(v lua.LValue) string {
	if s, ok := v.(lua.LString); ok {
		return string(s)
	}
	return ""
}

// luaValue converts a value decoded from JSON (or an unstructured object) into Lua: maps become
// tables with string keys, lists become arrays, numbers Lua numbers.
func luaValue(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case []any:
		tbl := l.CreateTable(len(v), 0)
		for _, item := range v {
			tbl.Append(luaValue(l, item))
		}
		return tbl
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for k, item := range v {
			tbl.RawSetH(lua.LString(k), luaValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}

// TestArgoCDHealthHarness: the harness that runs Argo CD's Rollout health script judges Argo
// CD's own test cases for that script (health_test.yaml and its inputs, from the same module)
// as Argo CD's unit test expects, so its verdicts on Vane's rollouts are Argo CD's.
func TestArgoCDHealthHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads Argo CD's module; skipped by -short like the package's other tests")
	}
	root := repoRoot(t)
	script := string(argoCDFile(t, root, rolloutHealthScript))
	dir := path.Dir(rolloutHealthScript)
	var cases struct {
		Tests []struct {
			HealthStatus health `json:"healthStatus"`
			InputPath    string `json:"inputPath"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(argoCDFile(t, root, dir+"/health_test.yaml"), &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases.Tests) < 10 {
		t.Fatalf("Argo CD's health_test.yaml for Rollouts has %d cases", len(cases.Tests))
	}
	for _, c := range cases.Tests {
		var obj map[string]any
		if err := yaml.Unmarshal(argoCDFile(t, root, dir+"/"+c.InputPath), &obj); err != nil {
			t.Fatalf("%s: %v", c.InputPath, err)
		}
		got, err := argoCDHealth(script, obj)
		if err != nil {
			t.Errorf("%s: %v", c.InputPath, err)
		} else if got != c.HealthStatus {
			t.Errorf("%s: %s, Argo CD expects %s", c.InputPath, got, c.HealthStatus)
		}
	}
}

// repoRoot finds the repository without needing the control plane.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "hack", "tools", "argo", "version.env")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no repository root above %s", dir)
		}
	}
}

// healthWatch runs Argo CD's health script on every version of a Rollout the API server
// stores, as Argo CD does on each change its watch delivers, and keeps the distinct verdicts in
// order. A script error is kept as the verdict Argo CD shows for it: Unknown, with the error as
// the message.
type healthWatch struct {
	t      *testing.T
	script string
	name   string
	stop   context.CancelFunc

	mu       sync.Mutex
	history  []health // distinct verdicts since the last mark
	last     health
	lastObj  *unstructured.Unstructured
	failures []string // script errors not reported yet
}

var rolloutGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}

// newHealthWatch starts watching rollout name in ns (before it exists, so that its first
// version is seen too); the watch stops with the test.
func newHealthWatch(t *testing.T, env *testenv.Env, ns, name string) *healthWatch {
	t.Helper()
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &healthWatch{t: t, script: string(argoCDFile(t, env.RepoRoot, rolloutHealthScript)), name: name, stop: cancel}
	ri := dyn.Resource(rolloutGVR).Namespace(ns)
	opts := metav1.ListOptions{FieldSelector: "metadata.name=" + name}
	first, err := ri.Watch(ctx, opts)
	if err != nil {
		t.Fatalf("watching rollout %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		wi := first
		for {
			for ev := range wi.ResultChan() {
				if u, ok := ev.Object.(*unstructured.Unstructured); ok && (ev.Type == watch.Added || ev.Type == watch.Modified) {
					opts.ResourceVersion = u.GetResourceVersion()
					w.judge(u)
				}
			}
			if ctx.Err() != nil {
				return
			}
			// the server ended the watch: go on from the last version seen
			if wi, err = ri.Watch(ctx, opts); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func (w *healthWatch) judge(u *unstructured.Unstructured) {
	h, err := argoCDHealth(w.script, u.Object)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		h = health{Status: "Unknown", Message: err.Error()}
		status, _ := json.Marshal(u.Object["status"])
		w.failures = append(w.failures, fmt.Sprintf("resourceVersion %s, generation %d, status %s: %v",
			u.GetResourceVersion(), u.GetGeneration(), status, err))
	}
	if n := len(w.history); n == 0 || w.history[n-1] != h {
		w.history = append(w.history, h)
	}
	w.last, w.lastObj = h, u
}

// mark forgets the verdicts seen so far (but the current one).
func (w *healthWatch) mark() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.history = []health{w.last}
}

// verdicts returns the verdicts since the last mark.
func (w *healthWatch) verdicts() []health {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.history)
}

// current returns the latest verdict and the Rollout it was made on.
func (w *healthWatch) current() (health, *unstructured.Unstructured) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.lastObj
}

// wait waits until the latest verdict is want and returns the Rollout it was made on. Script
// errors seen meanwhile fail the test: Argo CD would have shown the rollout as Unknown.
func (w *healthWatch) wait(timeout time.Duration, want health) *unstructured.Unstructured {
	w.t.Helper()
	defer w.reportFailures()
	deadline := time.Now().Add(timeout)
	for {
		h, u := w.current()
		if h == want {
			w.t.Logf("Argo CD's health script on rollout %s: %s (verdicts: %v)", w.name, h, w.verdicts())
			return u
		}
		if time.Now().After(deadline) {
			var ann map[string]string
			var gen int64
			var status map[string]any
			if u != nil {
				ann, gen = u.GetAnnotations(), u.GetGeneration()
				status, _, _ = unstructured.NestedMap(u.Object, "status")
			}
			w.t.Fatalf("Argo CD's health script on rollout %s: waited %s for %s; verdicts: %v\nannotations %v generation %d\nstatus %v",
				w.name, timeout, want, w.verdicts(), ann, gen, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *healthWatch) reportFailures() {
	w.t.Helper()
	w.mu.Lock()
	failures := w.failures
	w.failures = nil
	w.mu.Unlock()
	for _, f := range failures {
		w.t.Errorf("Argo CD's health script fails on a version of rollout %s that Vane stored (Argo CD shows Unknown): %s", w.name, f)
	}
}

// healthyDuringUpdate fails the test when the script said Healthy after the last mark (a new
// template) and before the update reached the verdict the test waited for: once the spec
// changes, Argo's controller writes status.observedGeneration only together with the status
// computed for the new spec, so Argo CD never sees the previous Healthy as the new spec's.
func (w *healthWatch) healthyDuringUpdate(what string) {
	w.t.Helper()
	v := w.verdicts()
	if len(v) > 2 && slices.Contains(v[1:len(v)-1], health{"Healthy", ""}) {
		w.t.Errorf("Argo CD's health script said Healthy for rollout %s after %s, before the update was done; verdicts: %v", w.name, what, v)
	}
}

// saw reports whether the script returned h since the last mark.
func (w *healthWatch) saw(h health) bool { return slices.Contains(w.verdicts(), h) }

// trackingID is the annotation Argo CD 3 puts on every resource it syncs (annotation-based
// resource tracking is its default), so a Rollout Argo CD deploys always has annotations.
func trackingID(ns, name string) map[string]string {
	return map[string]string{"argocd.argoproj.io/tracking-id": "shop:argoproj.io/Rollout:" + ns + "/" + name}
}

// inProgress is a Progressing verdict that comes from the Rollout's status (phase and message),
// not from a spec change the controller has not observed yet.
func inProgress(history []health) bool {
	for _, h := range history {
		if h.Status == "Progressing" && h.Message != "Waiting for rollout spec update to be observed" {
			return true
		}
	}
	return false
}
