package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/server"
	"github.com/vanedev/vane/internal/testenv"
)

// Load test sizes: the 200 rollouts and 20 browsers (SSE clients).
const (
	loadRollouts = 200
	loadClients  = 20
	loadProbes   = 30
	// arrivalLimit only keeps a lost page update from hanging the test: the latencies are
	// printed, not asserted (a busy machine makes them long, and a timing is no test).
	arrivalLimit = 3 * time.Minute
)

// watchedResources are the kinds the dashboard watches, as the API server's metrics name them.
var watchedResources = []string{"rollouts", "replicasets", "pods", "analysisruns", "experiments", "events"}

// TestDashboardLoad serves every namespace to 20 SSE clients while 200 canaries step: the API
// server's open WATCH requests grow by exactly one per kind when the dashboard starts and not
// at all with the clients; and each change of a probe rollout reaches every client's page
// (the event, then the page's data fetched again) — the latency distribution is printed.
func TestDashboardLoad(t *testing.T) {
	env := withController(t)
	ns := env.Namespace(t)
	for i := range loadRollouts {
		newCanary(t, env, ns, fmt.Sprintf("load-%03d", i), "load:1", 1, weightStep(25), pauseFor("1s"), weightStep(75), pauseFor("1s"))
	}
	for i := range 10 {
		newCanary(t, env, ns, fmt.Sprintf("probe-%d", i), "probe:1", 1)
	}
	eventually(t, 5*time.Minute, "every rollout Healthy", func() (bool, string) { return countPhase(t, env, ns, "Healthy") })
	before := stableWatches(t, env)
	d := startDashboard(t, env, env.Config, false)
	pages := newProbes()
	for range loadClients {
		go pages.follow(t, d.URL, openStream(t, d.URL+"/api/v1/stream", nil))
	}
	time.Sleep(2 * time.Second)
	after := stableWatches(t, env)
	t.Logf("open WATCH requests per resource: before the dashboard %v, with it and %d clients %v", before, loadClients, after)
	added := map[string]int{}
	for _, r := range watchedResources {
		added[r] = after[r] - before[r]
	}
	want := map[string]int{"rollouts": 1, "replicasets": 1, "pods": 1, "analysisruns": 1, "experiments": 1, "events": 1}
	if diff := cmp.Diff(want, added); diff != "" {
		t.Errorf("watches the dashboard added (-want +got):\n%s", diff)
	}
	t0 := time.Now()
	for i := range loadRollouts {
		setImage(t, env, ns, fmt.Sprintf("load-%03d", i), "load:2")
	}
	t.Logf("200 rollouts updated in %s; probing while they step", time.Since(t0).Round(time.Millisecond))
	for i := range loadProbes {
		pages.probe(t, env, ns, fmt.Sprintf("probe-%d", i%10))
		time.Sleep(300 * time.Millisecond)
	}
	lat, fromAck := pages.wait(t, loadProbes*loadClients, arrivalLimit)
	report(t, "from the write's request", lat)
	report(t, "from the API server's answer to the write", fromAck)
	if ok, last := countPhase(t, env, ns, "Healthy"); !ok {
		t.Logf("rollouts still stepping at the end: %s", last)
	}
	listFragment(t, d.URL)
}

func pauseFor(d string) v1alpha1.CanaryStep {
	dur := v1alpha1.DurationFromString(d)
	return v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{Duration: &dur}}
}

func countPhase(t *testing.T, env *testenv.Env, ns string, phase v1alpha1.RolloutPhase) (bool, string) {
	var list v1alpha1.RolloutList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		return false, err.Error()
	}
	n := 0
	for _, ro := range list.Items {
		if ro.Status.Phase == phase {
			n++
		}
	}
	return n == len(list.Items), fmt.Sprintf("%d of %d %s", n, len(list.Items), phase)
}

// stableWatches reads the API server's open WATCH requests per resource until two reads a
// second apart agree (closed watches take a moment to be counted out).
func stableWatches(t *testing.T, env *testenv.Env) map[string]int {
	t.Helper()
	last := watches(t, env)
	for range 20 {
		time.Sleep(time.Second)
		now := watches(t, env)
		if cmp.Equal(now, last) {
			return now
		}
		last = now
	}
	return last
}

// watches sums apiserver_longrunning_requests{verb="WATCH"} per resource from /metrics.
func watches(t *testing.T, env *testenv.Env) map[string]int {
	t.Helper()
	b, err := env.Clientset.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("reading the API server's metrics: %v", err)
	}
	out := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_longrunning_requests{") || !strings.Contains(line, `verb="WATCH"`) {
			continue
		}
		res := label(line, "resource")
		v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
		if err == nil && contains(watchedResources, res) {
			out[res] += int(v)
		}
	}
	return out
}

func label(line, name string) string {
	i := strings.Index(line, name+`="`)
	if i < 0 {
		return ""
	}
	rest := line[i+len(name)+2:]
	return rest[:strings.IndexByte(rest, '"')]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// probes are changes the test makes (a probe rollout's spec, hence its generation) and the
// times each client's page shows them.
type probes struct {
	mu      sync.Mutex
	sent    map[string][]probe // by rollout name, in the order sent
	lat     []time.Duration    // from the write's request
	fromAck []time.Duration    // from the write's answer
	arrived chan struct{}
}

type probe struct {
	gen   int64     // the generation the change makes
	sent  time.Time // the write request was sent
	acked time.Time // the API server answered it
}

func newProbes() *probes {
	return &probes{sent: map[string][]probe{}, arrived: make(chan struct{}, 100000)}
}

// probe pauses or resumes a probe rollout (a spec change: the generation goes up by one) and
// notes when it was sent, before sending it, so that no client can see it before it is noted.
func (p *probes) probe(t *testing.T, env *testenv.Env, ns, name string) {
	t.Helper()
	ro := &v1alpha1.Rollout{}
	getRollout(t, env, ns, name, ro)
	orig := ro.DeepCopy()
	ro.Spec.Paused = !ro.Spec.Paused
	p.mu.Lock()
	i := len(p.sent[name])
	p.sent[name] = append(p.sent[name], probe{gen: orig.Generation + 1, sent: time.Now()})
	p.mu.Unlock()
	if err := env.Client.Patch(context.Background(), ro, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.sent[name][i].acked = time.Now()
	p.mu.Unlock()
	if ro.Generation != orig.Generation+1 {
		t.Fatalf("probe %s: generation %d after the change, want %d", name, ro.Generation, orig.Generation+1)
	}
}

// follow is one browser: on each change of a probe rollout it fetches the rollout's data as
// its page does; every change the data shows (its generation reached) counts as arrived, at
// that moment.
func (p *probes) follow(t *testing.T, base string, events <-chan sseEvent) {
	shown := map[string]int{} // by rollout: how many of its changes this page showed
	for ev := range events {
		var ref server.Ref
		if ev.Event != "change" || json.Unmarshal([]byte(ev.Data), &ref) != nil || !strings.HasPrefix(ref.Name, "probe-") {
			continue
		}
		resp, err := http.Get(base + "/api/v1/namespaces/" + ref.Namespace + "/rollouts/" + ref.Name)
		if err != nil {
			continue
		}
		var d server.Detail
		_ = json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		now := time.Now()
		p.mu.Lock()
		for _, pr := range p.sent[ref.Name][shown[ref.Name]:] {
			if pr.gen > d.Generation {
				break
			}
			shown[ref.Name]++
			p.lat = append(p.lat, now.Sub(pr.sent))
			fromAck := time.Duration(0) // shown before the write's answer reached the test
			if !pr.acked.IsZero() {
				fromAck = max(0, now.Sub(pr.acked))
			}
			p.fromAck = append(p.fromAck, fromAck)
			p.arrived <- struct{}{}
		}
		p.mu.Unlock()
	}
}

// wait waits for n page updates and returns their latencies from the write's request and
// from its answer.
func (p *probes) wait(t *testing.T, n int, timeout time.Duration) ([]time.Duration, []time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for i := 0; i < n; i++ {
		select {
		case <-p.arrived:
		case <-deadline:
			p.mu.Lock()
			got := len(p.lat)
			p.mu.Unlock()
			t.Fatalf("%d of %d page updates arrived within %s: the others are lost", got, n, timeout)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.lat...), append([]time.Duration(nil), p.fromAck...)
}

// report prints the latency distribution.
func report(t *testing.T, from string, lat []time.Duration) {
	t.Helper()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(f float64) time.Duration {
		return lat[min(int(f*float64(len(lat))), len(lat)-1)].Round(time.Millisecond)
	}
	within := 0
	for _, l := range lat {
		if l <= time.Second {
			within++
		}
	}
	t.Logf("page update latency %s over %d updates (%d clients x %d changes, 200 rollouts stepping): p50 %s p90 %s p99 %s max %s; %d (%.1f%%) within 1s",
		from, len(lat), loadClients, loadProbes, q(0.5), q(0.9), q(0.99), lat[len(lat)-1].Round(time.Millisecond), within, 100*float64(within)/float64(len(lat)))
}

// listFragment times the list page's live part with every rollout (what each browser fetches
// after a change on the list page).
func listFragment(t *testing.T, base string) {
	t.Helper()
	var times []time.Duration
	for range 10 {
		t0 := time.Now()
		resp, err := http.Get(base + "/?fragment=1")
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		times = append(times, time.Since(t0))
		if n := strings.Count(buf.String(), `<tr class="rollout"`); n < loadRollouts+10 {
			t.Fatalf("the list shows %d rollouts, want at least %d", n, loadRollouts+10)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	t.Logf("list fragment with %d+ rollouts: median %s, max %s", loadRollouts+10, times[5].Round(time.Millisecond), times[9].Round(time.Millisecond))
}
