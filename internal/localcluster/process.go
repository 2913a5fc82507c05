package localcluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pidsFile lists "name pid" for every process a cluster started, in start order.
const pidsFile = "pids"

// process is one started component of the control plane.
type process struct {
	name string
	pid  int
	log  string
	cmd  *exec.Cmd     // nil when the process was found through the pids file
	done chan struct{} // closed when cmd.Wait returns (attached processes only)
	// how it was started, so that it can be started again (not known from a pids file)
	bin      string
	args     []string
	detached bool
}

// startProcess starts bin with args, its output going to dir/logs/<name>.log. A detached process
// gets its own session and outlives the caller; an attached one is killed with the caller.
func startProcess(dir, name, bin string, detached bool, args ...string) (*process, error) {
	logPath := filepath.Join(dir, "logs", name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening log for %s: %w", name, err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if detached {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	p := &process{name: name, pid: cmd.Process.Pid, log: logPath, cmd: cmd, done: make(chan struct{}),
		bin: bin, args: args, detached: detached}
	go func() { _ = cmd.Wait(); close(p.done) }()
	f, err := os.OpenFile(filepath.Join(dir, pidsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return p, fmt.Errorf("recording pid of %s: %w", name, err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%s %d\n", name, p.pid); err != nil {
		return p, fmt.Errorf("recording pid of %s: %w", name, err)
	}
	return p, nil
}

// alive reports whether the process still runs. A zombie counts as gone: the sandbox's init
// reaps orphans only every second or so, and a zombie has released everything it held.
func (p *process) alive() bool {
	if p.done != nil {
		select {
		case <-p.done:
			return false
		default:
			return true
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return false
	}
	// /proc/PID/stat: "pid (comm) state ..."; comm may hold spaces, so read after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] != 'Z' && s[i+2] != 'X'
}

// stop sends SIGTERM and waits up to grace for the process to exit, then sends SIGKILL.
// It reports whether SIGKILL was needed.
func (p *process) stop(grace time.Duration) (killed bool) {
	if !p.alive() {
		return false
	}
	_ = syscall.Kill(p.pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !p.alive() {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(p.pid, syscall.SIGKILL)
	for i := 0; i < 100 && p.alive(); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// readPids returns the processes recorded in dir's pids file, in start order.
func readPids(dir string) ([]*process, error) {
	f, err := os.Open(filepath.Join(dir, pidsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading pids: %w", err)
	}
	defer f.Close()
	var procs []*process
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			continue
		}
		pid, err := strconv.Atoi(fields[1])
		if err != nil || pid <= 1 {
			continue
		}
		if !runs(pid, fields[0]) {
			continue // gone, or the pid now belongs to another program
		}
		procs = append(procs, &process{name: fields[0], pid: pid, log: filepath.Join(dir, "logs", fields[0]+".log")})
	}
	return procs, sc.Err()
}

// runs reports whether pid is a process whose program file is named name.
func runs(pid int, name string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	argv0, _, _ := strings.Cut(string(b), "\x00")
	return filepath.Base(argv0) == name
}

// stopAll stops procs in reverse start order (the apiserver before etcd: an apiserver whose etcd
// vanished first can hang on shutdown for minutes) and returns one line per process.
func stopAll(procs []*process, grace time.Duration) []string {
	var report []string
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		if !p.alive() {
			continue
		}
		if p.stop(grace) {
			report = append(report, fmt.Sprintf("killed %s (pid %d) after %s", p.name, p.pid, grace))
		} else {
			report = append(report, fmt.Sprintf("stopped %s (pid %d)", p.name, p.pid))
		}
	}
	return report
}
