package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat (100 on Linux).
const clockTicks = 100

// controllerProc is the `vane controller` subprocess.
type controllerProc struct {
	cmd     *exec.Cmd
	pid     int
	log     string
	metrics string // URL of /metrics
	done    chan struct{}
}

// buildVane compiles ./cmd/vane from root into dir.
func buildVane(ctx context.Context, root, dir string) (string, error) {
	out := filepath.Join(dir, "vane")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/vane")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/vane: %w", err)
	}
	return out, nil
}

// startController runs `vane controller` with args against kubeconfig, its output going to
// logPath. It dies with this process (Pdeathsig) and waits until the metrics endpoint answers.
func startController(ctx context.Context, bin, kubeconfig, logPath string, args []string) (*controllerProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args = append([]string{"controller", "--kubeconfig", kubeconfig,
		"--metrics-bind-address", "127.0.0.1:" + strconv.Itoa(port), "--health-probe-bind-address", "0"}, args...)
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the controller: %w", err)
	}
	p := &controllerProc{cmd: cmd, pid: cmd.Process.Pid, log: logPath, done: make(chan struct{}),
		metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", port)}
	go func() { _ = cmd.Wait(); close(p.done) }()
	fmt.Printf("controller: %s %s (pid %d, log %s)\n", bin, strings.Join(args, " "), p.pid, logPath)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := scrapeMetrics(ctx, p.metrics); err == nil {
			return p, nil
		} else if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop()
			return nil, fmt.Errorf("controller metrics endpoint not answering: %v; log:\n%s", err, tail(logPath, 20))
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("controller exited at start; log:\n%s", tail(logPath, 20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *controllerProc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, then SIGKILL after 10 s.
func (p *controllerProc) stop() {
	if !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// memory is a process' resident set, in KiB.
type memory struct {
	hwm  int64 // VmHWM: the peak resident set
	rss  int64 // VmRSS: the resident set now
	anon int64 // RssAnon: the part of it that is not mapped from files (the heap, stacks)
}

// memKB reads a process' memory from /proc/<pid>/status.
func memKB(pid int) (m memory, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmHWM":
			m.hwm = n
		case "VmRSS":
			m.rss = n
		case "RssAnon":
			m.anon = n
		}
	}
	return m, sc.Err()
}

// resetPeak makes the kernel start a process' VmHWM afresh (clear_refs 5), so that the next
// reading is the peak since now.
func resetPeak(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// loadavg is /proc/loadavg (the 1, 5 and 15 minute load averages first).
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// cpuSeconds is the user+system CPU time a process has used so far.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	// after "pid (comm)": state is field 3; utime and stime are fields 14 and 15
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

// machineCPU returns the busy and total jiffies of all CPUs (/proc/stat).
func machineCPU() (busy, total float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		if i >= 7 { // guest and guest_nice are already counted in user and nice
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// namedPid is a process the report follows.
type namedPid struct {
	name string
	pid  int
}

// clusterPids reads the "name pid" lines localcluster records in dir/pids.
func clusterPids(dir string) []namedPid {
	b, err := os.ReadFile(filepath.Join(dir, "pids"))
	if err != nil {
		return nil
	}
	var out []namedPid
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if pid, err := strconv.Atoi(f[1]); err == nil {
			out = append(out, namedPid{f[0], pid})
		}
	}
	return out
}

// cpuSnapshot is the CPU used so far by the machine and by each followed process.
type cpuSnapshot struct {
	at          time.Time
	busy, total float64
	procs       map[string]float64
}

func takeCPU(procs []namedPid) cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), procs: map[string]float64{}}
	s.busy, s.total = machineCPU()
	for _, p := range procs {
		s.procs[p.name] = cpuSeconds(p.pid)
	}
	return s
}

// machineInfo describes the machine in one line each.
func machineInfo() []string {
	var out []string
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	out = append(out, fmt.Sprintf("cpus:    %d (nproc)  %s", runtime.NumCPU(), model))
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k == "MemTotal" {
				kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
				out = append(out, fmt.Sprintf("memory:  %.1f GiB", kb/1024/1024))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		out = append(out, fmt.Sprintf("kernel:  %s %s/%s", strings.TrimSpace(string(b)), runtime.GOOS, runtime.GOARCH))
	}
	out = append(out, "go:      "+runtime.Version())
	return out
}

// codeVersion names the commit the controller is built from, and whether the tree differs.
func codeVersion(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "(unknown: not a git checkout)"
	}
	v := "commit " + strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		v += " with uncommitted changes"
	}
	return v
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log at %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logFindings counts the controller log's error lines and client-side throttling notices and
// returns a few distinct error lines.
func logFindings(path string, max int) (errors, throttled int, samples []string) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, nil
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "Waited before sending request") || strings.Contains(line, "client-side throttling") {
			throttled++
		}
		if strings.Contains(line, `"level":"error"`) || strings.HasPrefix(line, "E") && len(line) > 5 && line[1] >= '0' && line[1] <= '9' {
			errors++
			key := line
			if i := strings.Index(line, `"msg"`); i >= 0 {
				key = line[i:]
				if len(key) > 160 {
					key = key[:160]
				}
			}
			if !seen[key] && len(samples) < max {
				seen[key] = true
				samples = append(samples, line)
			}
		}
	}
	return errors, throttled, samples
}
