// Package vaneproc runs controllers (`vane controller`, Argo Rollouts' controller) as child
// processes of end-to-end tests, as a team runs them: a test can stop one (SIGTERM), kill it
// (SIGKILL), start it again with the same arguments, and read its log, its metrics and its
// memory.
//
//	bin := vaneproc.Build(t, env.RepoRoot)
//	p := vaneproc.Start(t, vaneproc.Options{Name: "vane", Bin: bin, Args: []string{"controller", ...}})
//	p.Kill()
//	p = vaneproc.Start(t, p.Options()) // the same log file, appended to
//
// A process never outlives its test: it gets SIGKILL when the test ends, and when the test
// process dies (Pdeathsig). When the test fails, the end of its log is printed.
package vaneproc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BinEnv names a prebuilt `vane` binary that Build returns instead of building one.
const BinEnv = "VANE_BIN"

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// Build builds ./cmd/vane of repoRoot once per test process and returns the binary's path
// ($VANE_BIN when set). It fails the test when the build fails.
func Build(t testing.TB, repoRoot string) string {
	t.Helper()
	buildOnce.Do(func() {
		if builtBin = os.Getenv(BinEnv); builtBin != "" {
			return
		}
		dir, err := os.MkdirTemp("", "vane-e2e-bin-")
		if err != nil {
			buildErr = fmt.Errorf("a folder for the vane binary: %w", err)
			return
		}
		builtBin = filepath.Join(dir, "vane")
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/vane")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/vane: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// Options say how to run a process.
type Options struct {
	// Name names the process in the test's log and its log file (default: the binary's name).
	Name string
	// Bin is the program to run and Args its arguments.
	Bin  string
	Args []string
	// Env is added to the test process's environment.
	Env []string
	// LogDir is the folder of the log file <Name>.log (default: a temporary folder per test,
	// kept and named in the test's log when the test fails). A process started again with the
	// same options appends to the same file.
	LogDir string
}

// Process is one run of a program.
type Process struct {
	t       testing.TB
	opts    Options
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	started time.Time
}

// Start starts the program as o says and fails the test when it cannot.
func Start(t testing.TB, o Options) *Process {
	t.Helper()
	if o.Name == "" {
		o.Name = filepath.Base(o.Bin)
	}
	if o.LogDir == "" {
		o.LogDir = logDir(t)
	}
	p := &Process{t: t, opts: o, logPath: filepath.Join(o.LogDir, o.Name+".log"), done: make(chan struct{})}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("opening the log of %s: %v", o.Name, err)
	}
	defer logf.Close()
	p.cmd = exec.Command(o.Bin, o.Args...)
	p.cmd.Env = append(os.Environ(), o.Env...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s (%s): %v", o.Name, o.Bin, err)
	}
	p.started = time.Now()
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Logf("%s started (pid %d, log %s): %s %s", o.Name, p.Pid(), p.logPath, filepath.Base(o.Bin), strings.Join(o.Args, " "))
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() && firstReport(p.logPath) {
			t.Logf("%s log (end):\n%s", o.Name, p.Tail(6000))
		}
	})
	return p
}

// Options returns the options the process was started with (Name and LogDir filled in), to
// start it again.
func (p *Process) Options() Options { return p.opts }

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Started is when the process was started.
func (p *Process) Started() time.Time { return p.started }

// LogPath is the file the process's standard output and error go to.
func (p *Process) LogPath() string { return p.logPath }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and how.
func (p *Process) Exited() (bool, *os.ProcessState) {
	select {
	case <-p.done:
		return true, p.cmd.ProcessState
	default:
		return false, nil
	}
}

// RequireRunning fails the test, with the end of the log, when the process has exited.
func (p *Process) RequireRunning() {
	p.t.Helper()
	if exited, state := p.Exited(); exited {
		p.t.Fatalf("%s exited: %v\n%s", p.opts.Name, state, p.Tail(4000))
	}
}

// Kill sends SIGKILL, as an OOM kill or a node's loss would, and waits until the process is
// gone. A process that has exited is left as it is.
func (p *Process) Kill() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// Stop sends SIGTERM, as a Deployment scaled down would, waits up to grace for the process to
// exit, then kills it; it reports whether SIGKILL was needed.
func (p *Process) Stop(grace time.Duration) (killed bool) {
	select {
	case <-p.done:
		return false
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return false
	case <-time.After(grace):
		p.Kill()
		return true
	}
}

// Tail returns the last n bytes of the log.
func (p *Process) Tail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// LogLines returns the lines of the log (every run with the same options) that contain s.
func (p *Process) LogLines(s string) []string {
	b, _ := os.ReadFile(p.logPath)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// RSS returns the process's resident memory in bytes (VmRSS of /proc/<pid>/status).
func (p *Process) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0, fmt.Errorf("reading the memory of %s: %w", p.opts.Name, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS of %s: %w", p.opts.Name, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for %s (pid %d): has it exited?", p.opts.Name, p.Pid())
}

var (
	logMu    sync.Mutex
	logDirs  = map[testing.TB]string{}
	reported = map[string]bool{}
)

// logDir is a temporary folder for the test's logs, kept when the test fails.
func logDir(t testing.TB) string {
	t.Helper()
	logMu.Lock()
	defer logMu.Unlock()
	if d, ok := logDirs[t]; ok {
		return d
	}
	d, err := os.MkdirTemp("", "vane-e2e-logs-")
	if err != nil {
		t.Fatalf("a folder for the test's logs: %v", err)
	}
	logDirs[t] = d
	t.Cleanup(func() {
		logMu.Lock()
		delete(logDirs, t)
		logMu.Unlock()
		if t.Failed() {
			t.Logf("process logs kept in %s", d)
			return
		}
		_ = os.RemoveAll(d)
	})
	return d
}

// firstReport reports whether the log at path is printed for the first time.
func firstReport(path string) bool {
	logMu.Lock()
	defer logMu.Unlock()
	if reported[path] {
		return false
	}
	reported[path] = true
	return true
}
