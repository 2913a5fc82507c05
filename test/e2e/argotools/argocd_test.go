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
	"strings"
	"sync"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
// (converted from its JSON form), and the returned table's status and message.
func argoCDHealth(script string, obj map[string]any) (health, error) {
	l := lua.NewState()
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", luaValue(l, obj))
	if err := l.DoString(script); err != nil {
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

// healthWatch evaluates Argo CD's health script on a Rollout read from the API server, as
// Argo CD does on every change, and keeps each distinct verdict in order.
type healthWatch struct {
	t       *testing.T
	env     *testenv.Env
	script  string
	ns      string
	name    string
	history []health
}

func newHealthWatch(t *testing.T, env *testenv.Env, ns, name string) *healthWatch {
	t.Helper()
	return &healthWatch{t: t, env: env, script: string(argoCDFile(t, env.RepoRoot, rolloutHealthScript)), ns: ns, name: name}
}

func (w *healthWatch) eval() (health, *unstructured.Unstructured) {
	w.t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("argoproj.io/v1alpha1")
	u.SetKind("Rollout")
	if err := w.env.Client.Get(context.Background(), client.ObjectKey{Namespace: w.ns, Name: w.name}, u); err != nil {
		w.t.Fatal(err)
	}
	h, err := argoCDHealth(w.script, u.Object)
	if err != nil {
		w.t.Fatalf("Argo CD's health script on rollout %s: %v", w.name, err)
	}
	if n := len(w.history); n == 0 || w.history[n-1] != h {
		w.history = append(w.history, h)
	}
	return h, u
}

// mark forgets the verdicts seen so far.
func (w *healthWatch) mark() { w.history = nil }

// wait evaluates the script every 50ms until it returns want, and returns the Rollout then.
func (w *healthWatch) wait(timeout time.Duration, want health) *unstructured.Unstructured {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		h, u := w.eval()
		if h == want {
			w.t.Logf("Argo CD's health script on rollout %s: %s (verdicts: %v)", w.name, h, w.history)
			return u
		}
		if time.Now().After(deadline) {
			status, _, _ := unstructured.NestedMap(u.Object, "status")
			w.t.Fatalf("Argo CD's health script on rollout %s: waited %s for %s; verdicts: %v\nannotations %v generation %d\nstatus %v",
				w.name, timeout, want, w.history, u.GetAnnotations(), u.GetGeneration(), status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// saw reports whether the script returned h since the last mark.
func (w *healthWatch) saw(h health) bool {
	for _, x := range w.history {
		if x == h {
			return true
		}
	}
	return false
}

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
