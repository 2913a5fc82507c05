// Command rollouts measures Vane's controller at scale: it starts a local control plane
// (internal/localcluster) with enough kwok nodes, runs `vane controller` as a subprocess, creates
// N canary Rollouts (setWeight 50, pause {}), updates them all, promotes them all, and prints how
// long each phase took, the controller's peak memory and the API requests it made per rollout.
//
//	go run ./test/bench/rollouts -n 200      # make bench
//
// It prints figures; it asserts nothing about them. It fails (exit 1) only when the rollouts do
// not reach the expected state within -timeout, and then says which ones and where they stand.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/actions"
	"github.com/vanedev/vane/internal/controller"
	"github.com/vanedev/vane/internal/localcluster"
	"github.com/vanedev/vane/internal/testenv"
)

const (
	namespace = "bench"
	imageV1   = "bench/app:1"
	imageV2   = "bench/app:2"
	// parallel requests of the driver when it creates, updates or promotes
	driverParallelism = 32
	progressEvery     = 5 * time.Second
)

type config struct {
	n, replicas, nodes, workers int
	keep                        bool
	timeout                     time.Duration
}

func main() {
	var cfg config
	flag.IntVar(&cfg.n, "n", 200, "number of Rollouts")
	flag.IntVar(&cfg.replicas, "replicas", 3, "replicas per Rollout")
	flag.IntVar(&cfg.nodes, "nodes", 0, "kwok nodes (110 pods each; 0: enough for twice n*replicas pods)")
	flag.IntVar(&cfg.workers, "workers", 0, "controller --workers (0: the controller's default)")
	flag.BoolVar(&cfg.keep, "keep", false, "leave the cluster running at the end (the controller is stopped)")
	flag.DurationVar(&cfg.timeout, "timeout", 9*time.Minute, "bound on the whole run, cluster start included")
	flag.Parse()
	if cfg.n < 1 || cfg.replicas < 1 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: rollouts [-n N] [-replicas R] [-nodes K] [-workers W] [-keep] [-timeout D]")
		os.Exit(2)
	}
	if cfg.nodes <= 0 {
		cfg.nodes = max(3, (2*cfg.n*cfg.replicas+109)/110)
	}
	if err := run(cfg); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "\nbench: interrupted:", err)
		} else {
			fmt.Fprintln(os.Stderr, "\nbench: FAILED:", err)
		}
		os.Exit(1)
	}
}

// bench holds what the phases share.
type bench struct {
	cfg     config
	c       client.WithWatch
	ctrl    *controllerProc
	procs   []namedPid
	oldHash map[string]string // the first revision's pod-template hash, per rollout
}

// phase is what one phase measured.
type phase struct {
	name       string
	issue      time.Duration // time the driver took to send its requests
	wall       time.Duration // from the first request to the last rollout in the wanted state
	doneAt     []time.Duration
	api        apiCounts
	cpu0, cpu1 cpuSnapshot
	mem        memory // the controller's, at the end of the phase
	podsMade   int
	podsSpan   time.Duration
	rsMade     int
	rsSpan     time.Duration
	scrapeEnd  scrape
	scrapeBase scrape
}

func run(cfg config) (err error) {
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	go func() { <-sigCtx.Done(); stopSignals() }() // a second Ctrl-C kills at once
	ctx, cancel := context.WithTimeout(sigCtx, cfg.timeout)
	defer cancel()
	t0 := time.Now()

	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := localcluster.RepoRoot(wd)
	if err != nil {
		return err
	}
	fmt.Println("== Vane rollout benchmark ==")
	for _, l := range machineInfo() {
		fmt.Println(l)
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("loadavg: %s (at start)\n", strings.TrimSpace(string(b)))
	}
	fmt.Println("code:    " + codeVersion(root))
	fmt.Printf("command: %s %s\n", filepath.Base(os.Args[0]), strings.Join(os.Args[1:], " "))
	fmt.Printf("settings: -n=%d -replicas=%d -nodes=%d -workers=%d -timeout=%s -keep=%t\n\n",
		cfg.n, cfg.replicas, cfg.nodes, cfg.workers, cfg.timeout, cfg.keep)

	binDir, err := localcluster.DefaultBinDir(root)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "vane-bench-")
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) {
		fmt.Printf("%7.1fs  %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
	}

	logf("building ./cmd/vane")
	vane, err := buildVane(ctx, root, dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	logf("starting the control plane (%d kwok nodes) in %s", cfg.nodes, dir)
	cl, err := localcluster.Start(ctx, localcluster.Options{BinDir: binDir, Dir: dir, Nodes: cfg.nodes,
		Detached: cfg.keep, Logf: logf, Timeout: 3 * time.Minute})
	if err != nil {
		return err
	}
	defer func() {
		switch {
		case cfg.keep:
			fmt.Printf("\ncluster kept: export KUBECONFIG=%s\n  controller log: %s\n  stop it: go run ./hack/cluster/localcluster down -dir %s -wipe\n",
				cl.Kubeconfig, filepath.Join(dir, "logs", "vane-controller.log"), dir)
		case err != nil:
			cl.Stop()
			fmt.Printf("\ncluster stopped; logs kept in %s\n", filepath.Join(dir, "logs"))
		default:
			cl.Stop()
			_ = os.RemoveAll(dir)
		}
	}()

	b := &bench{cfg: cfg, oldHash: map[string]string{}}
	if b.c, err = newClient(cl.Config); err != nil {
		return err
	}
	if err := testenv.InstallCRDs(ctx, b.c, filepath.Join(root, "config", "crd", "bases")); err != nil {
		return fmt.Errorf("installing CRDs: %w", err)
	}
	if err := createNamespace(ctx, b.c); err != nil {
		return err
	}
	// the client's first request for a kind runs discovery: keep it out of the first phase
	if err := b.c.List(ctx, &v1alpha1.RolloutList{}, client.InNamespace(namespace)); err != nil {
		return fmt.Errorf("listing rollouts: %w", err)
	}
	logf("CRDs installed, namespace %q ready", namespace)

	b.ctrl, err = startController(ctx, vane, cl.Kubeconfig, filepath.Join(dir, "logs", "vane-controller.log"), cfg.workers)
	if err != nil {
		return err
	}
	defer b.ctrl.stop()
	b.procs = append(clusterPids(dir), namedPid{"vane controller", b.ctrl.pid}, namedPid{"bench driver", os.Getpid()})
	defer func() {
		if err != nil {
			b.reportLog()
		}
	}()
	logf("controller running; %d rollouts x %d replicas", cfg.n, cfg.replicas)

	var phases []*phase
	runPhase := func(name string, act func(ctx context.Context, name string) error, done func(*v1alpha1.Rollout) bool) error {
		p, err := b.phase(ctx, name, act, done, logf)
		if p != nil {
			phases = append(phases, p)
		}
		return err
	}
	if err := runPhase("create -> all Healthy", b.create, b.firstHealthy); err != nil {
		return err
	}
	b.recordHashes(ctx)
	if err := runPhase("update -> all Paused at step 1", b.update, b.pausedAtStep1); err != nil {
		return err
	}
	if err := runPhase("promote -> all Healthy on the new image", b.promote, b.promotedHealthy); err != nil {
		return err
	}
	check, err := b.finalCheck(ctx)
	if err != nil {
		return err
	}
	mem, merr := memKB(b.ctrl.pid)
	if merr != nil {
		return fmt.Errorf("reading the controller's memory: %w", merr)
	}
	b.report(phases, check, mem)
	return nil
}

func newClient(base *rest.Config) (client.WithWatch, error) {
	cfg := rest.CopyConfig(base)
	cfg.QPS, cfg.Burst = 1000, 2000
	scheme, err := controller.Scheme()
	if err != nil {
		return nil, err
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return client.NewWithWatch(cfg, client.Options{Scheme: scheme})
}

func createNamespace(ctx context.Context, c client.Client) error {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return fmt.Errorf("creating namespace: %w", err)
	}
	// pods are refused until the namespace's default ServiceAccount exists
	for {
		var sa corev1.ServiceAccount
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "default"}, &sa); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s has no default ServiceAccount: %w", namespace, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func rolloutName(i int) string { return fmt.Sprintf("app-%04d", i) }

func newRollout(name string, replicas int32) *v1alpha1.Rollout {
	labels := map[string]string{"app": name}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: imageV1}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
				{SetWeight: ptr.To[int32](50)},
				{Pause: &v1alpha1.RolloutPause{}},
			}}},
		},
	}
}

// forEach runs f for every rollout index, driverParallelism at a time, and returns the first error.
func (b *bench) forEach(ctx context.Context, f func(ctx context.Context, name string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idx := make(chan int)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range driverParallelism {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				if err := f(ctx, rolloutName(i)); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := range b.cfg.n {
		select {
		case idx <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(idx)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}

func (b *bench) create(ctx context.Context, name string) error {
	return b.c.Create(ctx, newRollout(name, int32(b.cfg.replicas)))
}

func (b *bench) update(ctx context.Context, name string) error {
	return actions.SetImage(ctx, b.c, namespace, name, "*", imageV2)
}

func (b *bench) promote(ctx context.Context, name string) error {
	_, err := actions.Promote(ctx, b.c, namespace, name, false)
	return err
}

func observed(ro *v1alpha1.Rollout) bool {
	return ro.Status.ObservedGeneration == fmt.Sprint(ro.Generation)
}

func (b *bench) firstHealthy(ro *v1alpha1.Rollout) bool {
	st := ro.Status
	return observed(ro) && st.Phase == v1alpha1.RolloutPhaseHealthy && st.StableRS != "" &&
		st.StableRS == st.CurrentPodHash && st.AvailableReplicas == int32(b.cfg.replicas)
}

func (b *bench) pausedAtStep1(ro *v1alpha1.Rollout) bool {
	st := ro.Status
	return observed(ro) && st.Phase == v1alpha1.RolloutPhasePaused && ptr.Deref(st.CurrentStepIndex, -1) == 1 &&
		st.CurrentPodHash != "" && st.CurrentPodHash != b.oldHash[ro.Name]
}

func (b *bench) promotedHealthy(ro *v1alpha1.Rollout) bool {
	st := ro.Status
	return observed(ro) && st.Phase == v1alpha1.RolloutPhaseHealthy && st.StableRS == st.CurrentPodHash &&
		st.StableRS != b.oldHash[ro.Name] && ptr.Deref(st.CurrentStepIndex, -1) == 2 &&
		st.AvailableReplicas == int32(b.cfg.replicas) && st.UpdatedReplicas == int32(b.cfg.replicas)
}

func (b *bench) recordHashes(ctx context.Context) {
	var list v1alpha1.RolloutList
	if err := b.c.List(ctx, &list, client.InNamespace(namespace)); err == nil {
		for _, ro := range list.Items {
			b.oldHash[ro.Name] = ro.Status.StableRS
		}
	}
}

// phase scrapes the controller, runs act on every rollout, waits until done holds for all of
// them and scrapes again.
func (b *bench) phase(ctx context.Context, name string, act func(context.Context, string) error,
	done func(*v1alpha1.Rollout) bool, logf func(string, ...any)) (*phase, error) {
	base, err := scrapeMetrics(ctx, b.ctrl.metrics)
	if err != nil {
		return nil, fmt.Errorf("scraping the controller: %w", err)
	}
	p := &phase{name: name, scrapeBase: base, cpu0: takeCPU(b.procs)}
	logf("%s: sending %d requests", name, b.cfg.n)
	start := time.Now()
	if err := b.forEach(ctx, act); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p.issue = time.Since(start)
	logf("%s: sent in %.1fs, waiting", name, p.issue.Seconds())
	p.doneAt, err = b.waitAll(ctx, name, start, done, logf)
	p.wall = time.Since(start)
	p.cpu1 = takeCPU(b.procs)
	if err != nil {
		return nil, err
	}
	logf("%s: done in %.1fs", name, p.wall.Seconds())
	if p.scrapeEnd, err = b.scrapeSettled(ctx); err != nil {
		return nil, fmt.Errorf("scraping the controller: %w", err)
	}
	p.api = countsBetween(p.scrapeBase, p.scrapeEnd)
	p.mem, _ = memKB(b.ctrl.pid)
	p.podsMade, p.podsSpan = b.createdSince(ctx, &corev1.PodList{}, start)
	p.rsMade, p.rsSpan = b.createdSince(ctx, &appsv1.ReplicaSetList{}, start)
	return p, nil
}

// scrapeSettled scrapes the controller until its request count holds still for half a second
// (at most 10 s), so that the events it sends asynchronously after the last status change count
// in the phase that caused them.
func (b *bench) scrapeSettled(ctx context.Context) (scrape, error) {
	prev, err := scrapeMetrics(ctx, b.ctrl.metrics)
	for i := 0; err == nil && i < 20; i++ {
		time.Sleep(500 * time.Millisecond)
		cur, cerr := scrapeMetrics(ctx, b.ctrl.metrics)
		if cerr != nil {
			return nil, cerr
		}
		if cur.sum(mRequests, nil) == prev.sum(mRequests, nil) {
			return cur, nil
		}
		prev = cur
	}
	return prev, err
}

// createdSince counts the objects of list's kind created since start and the time between the
// first and the last creation (creationTimestamp has one-second resolution).
func (b *bench) createdSince(ctx context.Context, list client.ObjectList, start time.Time) (int, time.Duration) {
	if err := b.c.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return 0, 0
	}
	var times []time.Time
	add := func(m metav1.Object) {
		if t := m.GetCreationTimestamp().Time; !t.Before(start.Truncate(time.Second)) {
			times = append(times, t)
		}
	}
	switch l := list.(type) {
	case *corev1.PodList:
		for i := range l.Items {
			add(&l.Items[i])
		}
	case *appsv1.ReplicaSetList:
		for i := range l.Items {
			add(&l.Items[i])
		}
	}
	if len(times) == 0 {
		return 0, 0
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	return len(times), times[len(times)-1].Sub(times[0])
}

// waitAll watches the rollouts until done holds for every one, printing progress, and returns
// when each first did (from start). On timeout it reports the rollouts still not there.
// Watching, rather than listing in a loop, keeps the driver's load on the apiserver negligible.
func (b *bench) waitAll(ctx context.Context, name string, start time.Time, done func(*v1alpha1.Rollout) bool,
	logf func(string, ...any)) ([]time.Duration, error) {
	doneAt := map[string]time.Duration{}
	latest := map[string]*v1alpha1.Rollout{}
	observe := func(ro *v1alpha1.Rollout) {
		latest[ro.Name] = ro
		if _, ok := doneAt[ro.Name]; !ok && done(ro) {
			doneAt[ro.Name] = time.Since(start)
		}
	}
	progress := time.NewTicker(progressEvery)
	defer progress.Stop()
	for {
		var list v1alpha1.RolloutList
		if err := b.c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s: %d/%d rollouts there after %.0fs (%w)\n%s", name, len(doneAt), b.cfg.n,
					time.Since(start).Seconds(), ctx.Err(), stuck(latest, doneAt))
			}
			time.Sleep(time.Second)
			continue
		}
		for i := range list.Items {
			observe(&list.Items[i])
		}
		w, err := b.c.Watch(ctx, &v1alpha1.RolloutList{}, client.InNamespace(namespace),
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		if err != nil {
			w = nil // list again below
		}
	events:
		for len(doneAt) < b.cfg.n {
			var ch <-chan watch.Event
			if w != nil {
				ch = w.ResultChan()
			}
			select {
			case ev, ok := <-ch:
				if !ok {
					break events // the apiserver closed the watch: list again
				}
				if ro, isRollout := ev.Object.(*v1alpha1.Rollout); isRollout && ev.Type != watch.Deleted {
					observe(ro)
				}
			case <-progress.C:
				logf("%s: %d/%d done; not done by phase: %s", name, len(doneAt), b.cfg.n, phaseCounts(latest, doneAt))
				if !b.ctrl.alive() {
					stopWatch(w)
					return nil, fmt.Errorf("%s: the controller exited; log:\n%s", name, tail(b.ctrl.log, 20))
				}
				if w == nil {
					break events
				}
			case <-ctx.Done():
				stopWatch(w)
				return nil, fmt.Errorf("%s: %d/%d rollouts there after %.0fs (%w)\n%s", name, len(doneAt), b.cfg.n,
					time.Since(start).Seconds(), ctx.Err(), stuck(latest, doneAt))
			}
		}
		stopWatch(w)
		if len(doneAt) >= b.cfg.n {
			out := make([]time.Duration, 0, len(doneAt))
			for _, d := range doneAt {
				out = append(out, d)
			}
			sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
			return out, nil
		}
	}
}

func stopWatch(w watch.Interface) {
	if w != nil {
		w.Stop()
	}
}

func phaseCounts(latest map[string]*v1alpha1.Rollout, doneAt map[string]time.Duration) string {
	counts := map[string]int{}
	for _, ro := range latest {
		if _, ok := doneAt[ro.Name]; ok {
			continue
		}
		key := string(ro.Status.Phase)
		if key == "" {
			key = "(none)"
		}
		if !observed(ro) {
			key += "(stale generation)"
		}
		counts[key]++
	}
	var parts []string
	for k, v := range counts {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// stuck describes up to 20 rollouts that never got there.
func stuck(latest map[string]*v1alpha1.Rollout, doneAt map[string]time.Duration) string {
	var lines []string
	for _, ro := range latest {
		if _, ok := doneAt[ro.Name]; ok {
			continue
		}
		st := ro.Status
		lines = append(lines, fmt.Sprintf("  %s: generation %d observed %q phase=%s step=%d stable=%s current=%s replicas=%d/%d/%d message=%q",
			ro.Name, ro.Generation, st.ObservedGeneration, st.Phase, ptr.Deref(st.CurrentStepIndex, -1), st.StableRS,
			st.CurrentPodHash, st.Replicas, st.UpdatedReplicas, st.AvailableReplicas, st.Message))
	}
	sort.Strings(lines)
	n := len(lines)
	if n > 20 {
		lines = append(lines[:20], fmt.Sprintf("  ... and %d more", n-20))
	}
	return fmt.Sprintf("%d rollouts not there:\n%s", n, strings.Join(lines, "\n"))
}

// finalCheck verifies the end state from the ReplicaSets and pods, not only the status.
func (b *bench) finalCheck(ctx context.Context) (string, error) {
	var ros v1alpha1.RolloutList
	var sets appsv1.ReplicaSetList
	var pods corev1.PodList
	for _, l := range []client.ObjectList{&ros, &sets, &pods} {
		if err := b.c.List(ctx, l, client.InNamespace(namespace)); err != nil {
			return "", err
		}
	}
	byUID := map[string]*v1alpha1.Rollout{}
	for i := range ros.Items {
		byUID[string(ros.Items[i].UID)] = &ros.Items[i]
	}
	good := 0
	var problems []string
	for i := range sets.Items {
		rs := &sets.Items[i]
		ref := metav1.GetControllerOf(rs)
		if ref == nil || byUID[string(ref.UID)] == nil {
			continue
		}
		ro := byUID[string(ref.UID)]
		hash := rs.Labels[v1alpha1.PodTemplateHashLabel]
		img := rs.Spec.Template.Spec.Containers[0].Image
		want := int32(0)
		if hash == ro.Status.StableRS {
			want = int32(b.cfg.replicas)
		}
		switch {
		case hash == ro.Status.StableRS && img == imageV2 && ptr.Deref(rs.Spec.Replicas, -1) == want:
			good++
		case ptr.Deref(rs.Spec.Replicas, -1) != want || (hash == ro.Status.StableRS && img != imageV2):
			problems = append(problems, fmt.Sprintf("%s: ReplicaSet %s image %s replicas %d (stable %s)",
				ro.Name, rs.Name, img, ptr.Deref(rs.Spec.Replicas, -1), ro.Status.StableRS))
		}
	}
	podsBy := map[string]int{}
	terminating := 0
	for i := range pods.Items {
		if pods.Items[i].DeletionTimestamp != nil {
			terminating++
			continue
		}
		podsBy[pods.Items[i].Spec.Containers[0].Image]++
	}
	msg := fmt.Sprintf("%d/%d rollouts have their stable ReplicaSet on %s at %d replicas, every other ReplicaSet at 0; pods: %d on %s, %d on %s, %d terminating",
		good, b.cfg.n, imageV2, b.cfg.replicas, podsBy[imageV2], imageV2, podsBy[imageV1], imageV1, terminating)
	if len(problems) > 0 || good != b.cfg.n {
		if len(problems) > 20 {
			problems = problems[:20]
		}
		return "", errors.New("final check: " + msg + "\n  " + strings.Join(problems, "\n  "))
	}
	return msg, nil
}

func (b *bench) reportLog() {
	errs, throttled, samples := logFindings(b.ctrl.log, 8)
	fmt.Printf("\ncontroller log (%s): %d error lines, %d client-side throttling notices\n", b.ctrl.log, errs, throttled)
	for _, s := range samples {
		if len(s) > 400 {
			s = s[:400] + "..."
		}
		fmt.Println("  " + s)
	}
}

func (b *bench) report(phases []*phase, check string, mem memory) {
	n := float64(b.cfg.n)
	fmt.Printf("\n== results: %d rollouts x %d replicas, canary setWeight 50 -> pause{} ==\n", b.cfg.n, b.cfg.replicas)
	fmt.Println("final state: " + check)
	var total time.Duration
	fmt.Printf("\n%-42s %9s %9s %22s\n", "phase", "wall", "sent in", "per rollout p50/p90/max")
	for _, p := range phases {
		total += p.wall
		fmt.Printf("%-42s %8.1fs %8.1fs %8.1fs %6.1fs %6.1fs\n", p.name, p.wall.Seconds(), p.issue.Seconds(),
			pct(p.doneAt, 0.5), pct(p.doneAt, 0.9), pct(p.doneAt, 1))
	}
	fmt.Printf("%-42s %8.1fs\n", "total", total.Seconds())

	mib := func(kb int64) float64 { return float64(kb) / 1024 }
	fmt.Printf("\ncontroller memory: peak RSS (VmHWM) %.1f MiB, current RSS (VmRSS) %.1f MiB, of it anonymous (RssAnon) %.1f MiB",
		mib(mem.hwm), mib(mem.rss), mib(mem.anon))
	for _, p := range phases {
		fmt.Printf("; after %s %.1f MiB (anonymous %.1f)", strings.Fields(p.name)[0], mib(p.mem.rss), mib(p.mem.anon))
	}
	fmt.Println()

	if len(phases) == 3 {
		upd := countsBetween(phases[1].scrapeBase, phases[2].scrapeEnd)
		fmt.Printf("\nAPI requests per rollout update (controller's rest_client_requests_total, from before the update to the final Healthy, / %d): %.1f (%.0f requests)\n",
			b.cfg.n, upd.requests/n, upd.requests)
		printCounts("  ", upd, n, phases[2].scrapeEnd.has(mRequests, "method"))
	}
	for _, p := range phases {
		fmt.Printf("\n%s: %.0f controller requests (%.1f per rollout)\n", p.name, p.api.requests, p.api.requests/n)
		printCounts("  ", p.api, n, p.scrapeEnd.has(mRequests, "method"))
		if p.podsMade > 0 {
			fmt.Printf("  pods created: %d within %.0fs of each other; ReplicaSets created: %d within %.0fs\n",
				p.podsMade, p.podsSpan.Seconds(), p.rsMade, p.rsSpan.Seconds())
		}
		printCPU("  ", p.cpu0, p.cpu1)
	}
	b.reportLog()
}

func printCounts(indent string, c apiCounts, n float64, haveMethod bool) {
	if haveMethod {
		var parts []string
		for _, k := range c.methodKeys {
			parts = append(parts, fmt.Sprintf("%s %.0f (%.2f)", k, c.byMethod[k], c.byMethod[k]/n))
		}
		fmt.Printf("%sby method (per rollout): %s\n", indent, strings.Join(parts, ", "))
	}
	var parts []string
	for _, k := range c.codeKeys {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, c.byCode[k]))
	}
	fmt.Printf("%sby response code: %s\n", indent, strings.Join(parts, ", "))
	parts = nil
	for _, k := range c.reconcileKeys {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, c.reconciles[k]))
	}
	avgRec, avgQ := 0.0, 0.0
	if c.reconcileN > 0 {
		avgRec = c.reconcileSecs / c.reconcileN * 1000
	}
	if c.queueN > 0 {
		avgQ = c.queueSecs / c.queueN * 1000
	}
	fmt.Printf("%sreconciles: %.0f (%.1f per rollout; %s), errors %.0f, retries %.0f; mean reconcile %.1f ms, mean wait in queue %.1f ms\n",
		indent, c.reconcileN, c.reconcileN/n, strings.Join(parts, ", "), c.reconcileErrors, c.retries, avgRec, avgQ)
}

func printCPU(indent string, a, b cpuSnapshot) {
	secs := b.at.Sub(a.at).Seconds()
	busy := 0.0
	if dt := b.total - a.total; dt > 0 {
		busy = (b.busy - a.busy) / dt * 100
	}
	type row struct {
		name string
		cpu  float64
	}
	var rows []row
	for name, v := range b.procs {
		rows = append(rows, row{name, v - a.procs[name]})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].cpu > rows[j].cpu })
	var parts []string
	followed := 0.0
	for _, r := range rows {
		parts = append(parts, fmt.Sprintf("%s %.1f", r.name, r.cpu))
		followed += r.cpu
	}
	// whatever else ran on the machine meanwhile (other builds or tests skew the figures)
	others := max((b.busy-a.busy)/clockTicks-followed, 0)
	fmt.Printf("%smachine CPU busy %.0f%% over %.1fs; CPU seconds: %s, other processes %.1f\n",
		indent, busy, secs, strings.Join(parts, ", "), others)
}

// pct returns the q-quantile of sorted durations, in seconds.
func pct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = min(max(i, 0), len(sorted)-1)
	return sorted[i].Seconds()
}
