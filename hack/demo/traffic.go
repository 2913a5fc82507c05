package main

// The -traffic mode: seed 001's colorapi behind a Gateway that Traefik serves, requests counted
// at each weight.

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/actions"
	"github.com/vanedev/vane/internal/colorapi"
	"github.com/vanedev/vane/internal/localcluster"
)

//go:embed manifests/colorapi-traffic.yaml
var trafficManifest []byte

const (
	image2 = "particule/simplecolorapi:2.0"
	image3 = "particule/simplecolorapi:3.0"
	// batch is how many requests each traffic line counts.
	batch = 200
)

// playTraffic runs the -traffic scenario: 1.0 (red) -> 2.0 (blue) through its steps -> 3.0
// (black, nok), rolled back by the analysis, printing where the requests go at each weight.
func (d *demo) playTraffic(ctx context.Context, root, dir, traefikBin string, cluster *localcluster.Cluster, keep bool) error {
	crds, err := output(root, filepath.Join(root, "hack", "gatewayapi", "crds.sh"))
	if err != nil {
		return fmt.Errorf("locating the Gateway API CRDs: %w", err)
	}
	if err := localcluster.InstallCRDs(ctx, d.c, crds); err != nil {
		return fmt.Errorf("installing the Gateway API CRDs: %w", err)
	}
	objs, err := decode("manifests/colorapi-traffic.yaml", trafficManifest)
	if err != nil {
		return err
	}
	web, api, err := freePorts()
	if err != nil {
		return err
	}
	tf, err := startTraefik(ctx, traefikBin, dir, cluster, d.ns, web, api)
	if err != nil {
		return err
	}
	defer tf.stop()
	say("Traefik %s running: gateway http://127.0.0.1:%d/, API http://127.0.0.1:%d/api/rawdata (log: %s)",
		tf.version, web, api, tf.log)

	// the gateway and the Services, then the played pods on the Services' ClusterIPs
	for _, u := range kinds(objs, "GatewayClass", "Gateway", "Service") {
		if u.GetKind() == "Gateway" { // its listener is Traefik's web entry point
			listeners, _, _ := unstructured.NestedSlice(u.Object, "spec", "listeners")
			if len(listeners) != 1 {
				return fmt.Errorf("Gateway %s: want one listener, has %d", u.GetName(), len(listeners))
			}
			listeners[0].(map[string]any)["port"] = int64(web)
			if err := unstructured.SetNestedSlice(u.Object, listeners, "spec", "listeners"); err != nil {
				return err
			}
		}
		if err := d.create(ctx, u); err != nil {
			return err
		}
	}
	pods := map[string]*colorapi.Server{}
	for _, name := range []string{"colorapi-stable", "colorapi-canary"} {
		s, err := colorapi.Serve(ctx, d.c, d.ns, name, "")
		if err != nil {
			return err
		}
		defer s.Close()
		pods[name] = s
	}
	stable, canary := pods["colorapi-stable"], pods["colorapi-canary"]
	say("playing the pods of colorapi-stable on %s and of colorapi-canary on %s (the analysis's host)", stable.Addr, canary.Addr)
	for _, u := range kinds(objs, "HTTPRoute", "AnalysisTemplate", "Rollout") {
		if u.GetKind() == "Rollout" {
			if err := setAnalysisArg(u, "host", canary.Addr); err != nil {
				return err
			}
			d.t0 = time.Now()
		}
		if err := d.create(ctx, u); err != nil {
			return err
		}
	}

	fmt.Printf("\n%7s  %s\n", "TIME", fmt.Sprintf("WHERE %d REQUESTS THROUGH TRAEFIK GO (at each change) / EVENTS", batch))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &sampler{d: d, tf: tf, stable: stable, canary: canary, changed: make(chan struct{}, 1)}
	ev := &eventPrinter{d: d, seen: map[string]int32{}, show: shown}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.run(ctx) }()
	go func() { defer wg.Done(); ev.run(ctx) }()
	defer wg.Wait()
	defer cancel()

	if err := d.trafficStory(ctx, s); err != nil {
		return err
	}
	if keep {
		say("still running until Ctrl-C: curl http://127.0.0.1:%d/ ; export KUBECONFIG=%s", web, cluster.Kubeconfig)
		<-ctx.Done()
	}
	return nil
}

func setImage(ctx context.Context, d *demo, image string) error {
	return actions.SetImage(ctx, d.c, d.ns, d.name, "colorapi", image)
}

// kinds returns the objects of the given kinds, in that order (then in the manifest's).
func kinds(objs []*unstructured.Unstructured, kinds ...string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, k := range kinds {
		for _, u := range objs {
			if u.GetKind() == k {
				out = append(out, u)
			}
		}
	}
	return out
}

// wait polls the rollout until done says so (five minutes at most).
func (d *demo) wait(ctx context.Context, what string, done func(*v1alpha1.Rollout) bool) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		ro := &v1alpha1.Rollout{}
		if err := d.c.Get(ctx, client.ObjectKey{Namespace: d.ns, Name: d.name}, ro); err != nil {
			return err
		}
		if ro.Status.ObservedGeneration == fmt.Sprint(ro.Generation) && done(ro) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("waiting for %s: %w", what, errTimeout)
}

// --- the traffic ---------------------------------------------------------------------------

// sampler sends batches of requests through Traefik and prints where they went whenever that
// changes: the weight Traefik serves, or the colors that answer.
type sampler struct {
	d              *demo
	tf             *traefikProc
	stable, canary *colorapi.Server

	mu      sync.Mutex
	printed string // the last line's summary: weight and colors
	weight  int
	colors  []string
	changed chan struct{}
}

// state is what a batch depends on: the weights Traefik serves and the pods behind each Service.
func (s *sampler) state() (string, int) {
	canary, stable, err := s.tf.weights()
	if err != nil || canary < 0 {
		return "", -1
	}
	return fmt.Sprintf("%d/%d %v %v", canary, stable, s.stable.Images(), s.canary.Images()), canary * 100 / (canary + stable)
}

func (s *sampler) run(ctx context.Context) {
	for ctx.Err() == nil {
		before, weight := s.state()
		if weight >= 0 {
			counts := s.tf.send(ctx, batch)
			if after, _ := s.state(); after == before && ctx.Err() == nil { // else the batch straddles a change
				s.report(weight, counts)
			} else {
				continue
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// report prints a batch's line when its weight or colors differ from the last line's.
func (s *sampler) report(weight int, counts map[colorapi.Response]int) {
	var colors []string
	for r := range counts {
		colors = append(colors, r.Color)
	}
	sort.Strings(colors)
	summary := fmt.Sprintf("%d %v", weight, colors)
	s.mu.Lock()
	defer s.mu.Unlock()
	if summary == s.printed {
		return
	}
	s.printed, s.weight, s.colors = summary, weight, colors
	line := fmt.Sprintf("%d%% canary: %s", weight, describeCounts(counts, s.canary.Images()))
	if canary, stable := s.canary.Images(), s.stable.Images(); weight > 0 && len(canary) > 0 && len(stable) > 0 && canary[0] == stable[0] {
		// at completion or an abort, the controller points the canary Service at the stable
		// pods a moment before Traefik applies the weight that goes with it
		line += fmt.Sprintf(" (both Services select %s)", tag(canary[0]))
	}
	s.d.emit(line)
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// describeCounts is "40/200 blue, 160/200 red": the canary's colors first, then by count.
func describeCounts(counts map[colorapi.Response]int, canaryImages []string) string {
	canary := map[string]bool{}
	for _, img := range canaryImages {
		canary[colorapi.Answer(img).Color] = true
	}
	total := 0
	var rs []colorapi.Response
	for r, n := range counts {
		rs = append(rs, r)
		total += n
	}
	sort.Slice(rs, func(i, j int) bool {
		if ci, cj := canary[rs[i].Color], canary[rs[j].Color]; ci != cj {
			return ci
		}
		if counts[rs[i]] != counts[rs[j]] {
			return counts[rs[i]] < counts[rs[j]]
		}
		return rs[i].Color < rs[j].Color
	})
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		p := fmt.Sprintf("%d/%d %s", counts[r], total, r.Color)
		switch {
		case r.Color == "":
			p = fmt.Sprintf("%d/%d failed (%s)", counts[r], total, r.Status)
		case r.Status != "ok":
			p += fmt.Sprintf(" (status %s)", r.Status)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// tag is an image's tag.
func tag(image string) string { return image[strings.LastIndexByte(image, ':')+1:] }

// waitFor waits until a line with that weight and only that color was printed.
func (s *sampler) waitFor(ctx context.Context, weight int, color string) error {
	deadline := time.After(time.Minute)
	for {
		s.mu.Lock()
		ok := s.weight == weight && len(s.colors) == 1 && s.colors[0] == color
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("waiting for all requests through Traefik to answer %s at %d%% canary: %w", color, weight, errTimeout)
		case <-s.changed:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// --- events --------------------------------------------------------------------------------

// eventPrinter prints the events of the rollout and its AnalysisRuns as they come.
type eventPrinter struct {
	d    *demo
	seen map[string]int32         // event UID -> count printed
	show func(*corev1.Event) bool // which events to print
}

// shownEvents are the rollout's events the demo prints (the others repeat what the traffic
// lines or these say); Warnings and analysis events are always printed.
var shownEvents = map[string]bool{"RolloutUpdated": true, "TrafficWeightUpdated": true, "RolloutStepCompleted": true,
	"RolloutCompleted": true, "RolloutAborted": true}

func shown(ev *corev1.Event) bool {
	return shownEvents[ev.Reason] || ev.Type == corev1.EventTypeWarning || strings.Contains(ev.Reason, "Analysis") ||
		ev.InvolvedObject.Kind == "AnalysisRun"
}

func (e *eventPrinter) run(ctx context.Context) {
	for ctx.Err() == nil {
		var list corev1.EventList
		if err := e.d.c.List(ctx, &list, client.InNamespace(e.d.ns)); err == nil {
			sort.SliceStable(list.Items, func(i, j int) bool { return eventOrder(&list.Items[i]) < eventOrder(&list.Items[j]) })
			for _, ev := range list.Items {
				o := ev.InvolvedObject
				if !(o.Kind == "Rollout" && o.Name == e.d.name || o.Kind == "AnalysisRun") || !e.show(&ev) {
					continue
				}
				if n := max(ev.Count, 1); e.seen[string(ev.UID)] < n {
					e.seen[string(ev.UID)] = n
					who := ""
					if o.Kind != "Rollout" {
						who = o.Kind + " " + o.Name + " "
					}
					e.d.emit(fmt.Sprintf("  event %s%s: %s", who, ev.Reason, ev.Message))
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// eventOrder is when an event was first recorded, in nanoseconds: client-go's recorder names
// events <object>.<UnixNano in hex>, finer than their timestamps (seconds).
func eventOrder(ev *corev1.Event) int64 {
	if i := strings.LastIndexByte(ev.Name, '.'); i >= 0 {
		if n, err := strconv.ParseInt(ev.Name[i+1:], 16, 64); err == nil {
			return n
		}
	}
	return ev.CreationTimestamp.UnixNano()
}

// --- Traefik -------------------------------------------------------------------------------

// traefikBinary is the Traefik that `make traefik` (hack/traefik/install.sh) caches.
func traefikBinary(root string) (string, error) {
	dir, err := output(root, filepath.Join(root, "hack", "traefik", "bindir.sh"))
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "traefik")
	if fi, err := os.Stat(bin); err != nil || fi.Size() == 0 {
		return "", fmt.Errorf("Traefik is not built in %s: run `make traefik` first (once, 6 to 15 minutes), or `make demo-traffic`", dir)
	}
	return bin, nil
}

type traefikProc struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	web     int
	api     int
	client  *http.Client
	log     string
	version string
}

// startTraefik runs Traefik's Kubernetes Gateway API provider against the local API server,
// on namespace ns, every entry point on 127.0.0.1: web (the Gateway's listener port) and the
// API. nativeLBByDefault sends each backend's requests to the Service's ClusterIP: the local
// cluster has no endpoints.
func startTraefik(ctx context.Context, bin, dir string, cluster *localcluster.Cluster, ns string, web, api int) (*traefikProc, error) {
	token := filepath.Join(dir, "traefik-token")
	if err := os.WriteFile(token, []byte(cluster.Config.BearerToken), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "logs", "traefik.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	version := "?"
	if out, err := exec.Command(bin, "version").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Version:"); ok {
				version = strings.TrimSpace(v)
			}
		}
	}
	cmd := exec.Command(bin,
		"--global.checkNewVersion=false", "--global.sendAnonymousUsage=false", "--log.level=INFO",
		fmt.Sprintf("--entryPoints.web.address=127.0.0.1:%d", web),
		fmt.Sprintf("--entryPoints.traefik.address=127.0.0.1:%d", api),
		"--api.insecure=true", "--ping=true",
		"--providers.kubernetesGateway=true",
		"--providers.kubernetesGateway.endpoint="+cluster.Config.Host,
		"--providers.kubernetesGateway.token="+token,
		"--providers.kubernetesGateway.certAuthFilePath="+cluster.Config.TLSClientConfig.CAFile,
		"--providers.kubernetesGateway.namespaces="+ns,
		"--providers.kubernetesGateway.nativeLBByDefault=true",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the demo
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting Traefik: %w", err)
	}
	tf := &traefikProc{cmd: cmd, exited: make(chan struct{}), web: web, api: api, log: logPath, version: version,
		client: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	go func() { _ = cmd.Wait(); close(tf.exited) }()
	for deadline := time.Now().Add(30 * time.Second); ; {
		select {
		case <-tf.exited:
			return nil, fmt.Errorf("Traefik exited; log in %s", logPath)
		case <-ctx.Done():
			tf.stop()
			return nil, ctx.Err()
		default:
		}
		if resp, err := tf.client.Get(fmt.Sprintf("http://127.0.0.1:%d/ping", api)); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return tf, nil
			}
		}
		if time.Now().After(deadline) {
			tf.stop()
			return nil, fmt.Errorf("Traefik did not answer its ping in 30s; log in %s", logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (tf *traefikProc) stop() {
	_ = tf.cmd.Process.Kill()
	<-tf.exited
}

// weights are the canary and stable Services' weights in the weighted service Traefik built
// for the route (-1 when it has none yet).
func (tf *traefikProc) weights() (canary, stable int, err error) {
	var services []struct {
		Weighted *struct {
			Services []struct {
				Name   string `json:"name"`
				Weight *int   `json:"weight"`
			} `json:"services"`
		} `json:"weighted"`
	}
	if err := tf.getJSON("/api/http/services", &services); err != nil {
		return -1, -1, err
	}
	for _, s := range services {
		if s.Weighted == nil {
			continue
		}
		canary, stable = -1, -1
		for _, child := range s.Weighted.Services {
			w := ptr.Deref(child.Weight, 1)
			switch {
			case strings.HasPrefix(child.Name, "default-colorapi-canary-"):
				canary = w
			case strings.HasPrefix(child.Name, "default-colorapi-stable-"):
				stable = w
			}
		}
		if canary >= 0 && stable >= 0 && canary+stable > 0 {
			return canary, stable, nil
		}
	}
	return -1, -1, nil
}

func (tf *traefikProc) getJSON(path string, v any) error {
	resp, err := tf.client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", tf.api, path))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// send makes n requests through the gateway, one after the other, and counts the answers;
// a failed request counts as a Response with no color and the error as its status.
func (tf *traefikProc) send(ctx context.Context, n int) map[colorapi.Response]int {
	counts := map[colorapi.Response]int{}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", tf.web), nil)
		resp, err := tf.client.Do(req)
		if err != nil {
			counts[colorapi.Response{Status: "error"}]++
			continue
		}
		var r colorapi.Response
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &r) != nil || r.Color == "" {
			r = colorapi.Response{Status: fmt.Sprintf("HTTP %d", resp.StatusCode)}
		}
		counts[r]++
	}
	return counts
}

// --- helpers -------------------------------------------------------------------------------

// output runs a command in dir and returns its output's last line.
func output(dir string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Stderr = dir, os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Base(name), err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}

// freePorts are two free ports on 127.0.0.1.
func freePorts() (int, int, error) {
	var ports []int
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports[0], ports[1], nil
}

// trafficStory plays seed 001 once the demo runs: 1.0 healthy (all red), 2.0 promoted through
// its steps (red -> blue), 3.0 rolled back by its background analysis (back to all blue).
func (d *demo) trafficStory(ctx context.Context, s *sampler) error {
	if err := d.wait(ctx, "1.0 to be Healthy", func(ro *v1alpha1.Rollout) bool { return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy }); err != nil {
		return err
	}
	if err := s.waitFor(ctx, 0, "red"); err != nil {
		return err
	}
	say("set image colorapi=%s", image2)
	if err := setImage(ctx, d, image2); err != nil {
		return err
	}
	if err := d.wait(ctx, "2.0 to be Healthy", healthyOn(image2)); err != nil {
		return err
	}
	if err := s.waitFor(ctx, 0, "blue"); err != nil {
		return err
	}
	say("set image colorapi=%s (answers \"status\": \"nok\")", image3)
	if err := setImage(ctx, d, image3); err != nil {
		return err
	}
	var promoted bool
	if err := d.wait(ctx, "3.0 to be rolled back", func(ro *v1alpha1.Rollout) bool {
		promoted = healthyOn(image3)(ro)
		return ro.Status.Abort || promoted
	}); err != nil {
		return err
	}
	if promoted {
		return fmt.Errorf("3.0 was promoted: its background analysis did not stop it (a -pause below 10s may be too short for it to see two nok answers)")
	}
	if err := d.wait(ctx, "the abort to complete", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && ro.Status.Canary.Weights != nil &&
			ro.Status.Canary.Weights.Canary.Weight == 0
	}); err != nil {
		return err
	}
	if err := s.waitFor(ctx, 0, "blue"); err != nil {
		return err
	}
	time.Sleep(time.Second) // let the last events in
	ro := &v1alpha1.Rollout{}
	if err := d.c.Get(ctx, client.ObjectKey{Namespace: d.ns, Name: d.name}, ro); err != nil {
		return err
	}
	say("done: %s - %s", ro.Status.Phase, ro.Status.Message)
	return nil
}
