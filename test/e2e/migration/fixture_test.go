package migration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/vanedev/vane/internal/testenv"
)

// fixture is one namespace of the test cluster, read and written without Vane's Go types, so
// that every field either controller writes is seen as the API server stores it.
type fixture struct {
	t   *testing.T
	env *testenv.Env
	dyn dynamic.Interface
	ns  string
}

var gvrOfKind = map[string]schema.GroupVersionResource{
	"Rollout":          rolloutsGVR,
	"AnalysisTemplate": templatesGVR,
	"Deployment":       deploymentsGVR,
	"Service":          servicesGVR,
}

// create creates every document of a YAML text in the namespace.
func (f *fixture) create(what string, docs []*unstructured.Unstructured) {
	f.t.Helper()
	for _, u := range docs {
		gvr, ok := gvrOfKind[u.GetKind()]
		if !ok {
			f.t.Fatalf("%s: no resource for kind %s", what, u.GetKind())
		}
		u.SetNamespace(f.ns)
		if _, err := f.dyn.Resource(gvr).Namespace(f.ns).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
			f.t.Fatalf("%s: creating %s %s: %v", what, u.GetKind(), u.GetName(), err)
		}
	}
}

func (f *fixture) get(gvr schema.GroupVersionResource, name string) *unstructured.Unstructured {
	f.t.Helper()
	u, err := f.dyn.Resource(gvr).Namespace(f.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("getting %s %s: %v", gvr.Resource, name, err)
	}
	return u
}

// setDeploymentImage changes the first container's image of a Deployment (a workloadRef's).
func (f *fixture) setDeploymentImage(name, image string) {
	f.t.Helper()
	d := f.get(deploymentsGVR, name)
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	c := containers[0].(map[string]any)
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":%q,"image":%q}]}}}}`, c["name"], image)
	if _, err := f.dyn.Resource(deploymentsGVR).Namespace(f.ns).Patch(context.Background(), name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// rs is one ReplicaSet of a rollout.
type rs struct {
	hash, uid, image, revision string
	replicas, ready, current   int64
	deadline                   time.Time // scale-down-deadline annotation (Argo's or Vane's)
}

// view is what the scenarios assert on a rollout.
type view struct {
	Phase, Message, PodHash, Stable string
	Step                            int64 // -1: none
	Steps                           int
	Abort, ControllerPause          bool
	Pauses                          []string
	PauseStart                      time.Time // of the first pause condition
	Generation                      int64
	Observed                        string
	Replicas                        int64
	Active, Preview                 string
	BackgroundRun, BackgroundPhase  string
	Sets                            map[string]rs // by pod-template hash
}

func (f *fixture) view(name string) view {
	f.t.Helper()
	u := f.get(rolloutsGVR, name)
	o := u.Object
	v := view{Step: -1, Generation: u.GetGeneration(), Sets: map[string]rs{}}
	v.Phase, _, _ = unstructured.NestedString(o, "status", "phase")
	v.Message, _, _ = unstructured.NestedString(o, "status", "message")
	v.PodHash, _, _ = unstructured.NestedString(o, "status", "currentPodHash")
	v.Stable, _, _ = unstructured.NestedString(o, "status", "stableRS")
	if s, ok, _ := unstructured.NestedInt64(o, "status", "currentStepIndex"); ok {
		v.Step = s
	}
	steps, _, _ := unstructured.NestedSlice(o, "spec", "strategy", "canary", "steps")
	v.Steps = len(steps)
	v.Abort, _, _ = unstructured.NestedBool(o, "status", "abort")
	v.ControllerPause, _, _ = unstructured.NestedBool(o, "status", "controllerPause")
	pcs, _, _ := unstructured.NestedSlice(o, "status", "pauseConditions")
	for i, pc := range pcs {
		v.Pauses = append(v.Pauses, fmt.Sprint(pc.(map[string]any)["reason"]))
		if at, err := time.Parse(time.RFC3339, fmt.Sprint(pc.(map[string]any)["startTime"])); err == nil && i == 0 {
			v.PauseStart = at
		}
	}
	v.Observed, _, _ = unstructured.NestedString(o, "status", "observedGeneration")
	v.Replicas, _, _ = unstructured.NestedInt64(o, "spec", "replicas")
	v.Active, _, _ = unstructured.NestedString(o, "status", "blueGreen", "activeSelector")
	v.Preview, _, _ = unstructured.NestedString(o, "status", "blueGreen", "previewSelector")
	v.BackgroundRun, _, _ = unstructured.NestedString(o, "status", "canary", "currentBackgroundAnalysisRunStatus", "name")
	v.BackgroundPhase, _, _ = unstructured.NestedString(o, "status", "canary", "currentBackgroundAnalysisRunStatus", "status")
	list, err := f.dyn.Resource(replicaSetsGVR).Namespace(f.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, r := range list.Items {
		owned := false
		for _, ref := range r.GetOwnerReferences() {
			owned = owned || ref.UID == u.GetUID()
		}
		if !owned {
			continue
		}
		x := rs{hash: r.GetLabels()["rollouts-pod-template-hash"], uid: string(r.GetUID()), revision: r.GetAnnotations()["rollout.argoproj.io/revision"]}
		for _, k := range []string{"scale-down-deadline", "argo-rollouts.argoproj.io/scale-down-deadline"} {
			if d, err := time.Parse(time.RFC3339, r.GetAnnotations()[k]); err == nil {
				x.deadline = d
			}
		}
		x.replicas, _, _ = unstructured.NestedInt64(r.Object, "spec", "replicas")
		x.ready, _, _ = unstructured.NestedInt64(r.Object, "status", "availableReplicas")
		x.current, _, _ = unstructured.NestedInt64(r.Object, "status", "replicas")
		cs, _, _ := unstructured.NestedSlice(r.Object, "spec", "template", "spec", "containers")
		if len(cs) > 0 {
			x.image = fmt.Sprint(cs[0].(map[string]any)["image"])
		}
		v.Sets[x.hash] = x
	}
	return v
}

func (v view) String() string {
	var sets []string
	for h, r := range v.Sets {
		role := ""
		switch h {
		case v.Stable:
			role = " stable"
		case v.PodHash:
			role = " current"
		}
		sets = append(sets, fmt.Sprintf("%s(%s rev %s%s)=%d/%d", h, r.image, r.revision, role, r.replicas, r.ready))
	}
	sort.Strings(sets)
	return fmt.Sprintf("phase=%s step=%d/%d abort=%v pauses=%v currentPodHash=%s stableRS=%s active=%s preview=%s bgRun=%s(%s) observedGeneration=%s/%d message=%q sets=[%s]",
		v.Phase, v.Step, v.Steps, v.Abort, v.Pauses, v.PodHash, v.Stable, v.Active, v.Preview, v.BackgroundRun, v.BackgroundPhase,
		v.Observed, v.Generation, v.Message, strings.Join(sets, " "))
}

// previousSet is the ReplicaSet other than the stable one that still has pods and a
// scale-down deadline.
func previousSet(v view) (rs, bool) {
	for h, r := range v.Sets {
		if h != v.Stable && r.replicas > 0 && !r.deadline.IsZero() {
			return r, true
		}
	}
	return rs{}, false
}

func (v view) observed() bool { return v.Observed == fmt.Sprint(v.Generation) }

// settled: the ReplicaSet of hash has all its pods available.
func (v view) settled(hash string, want int64) bool {
	r, ok := v.Sets[hash]
	return ok && r.replicas == want && r.ready == want && r.current == want
}

// completed: the update is done, the current template is the stable one and runs every pod;
// a canary has no older ReplicaSet with pods left.
func (v view) completed() bool {
	if v.Phase != "Healthy" || v.PodHash == "" || v.PodHash != v.Stable || !v.observed() || !v.settled(v.Stable, v.Replicas) {
		return false
	}
	if v.Active != "" {
		return v.Active == v.PodHash
	}
	for h, r := range v.Sets {
		if h != v.Stable && (r.replicas > 0 || r.current > 0) {
			return false
		}
	}
	return v.Step == int64(v.Steps)
}

// pausedAt: a canary waits at step index i for a promotion, its pods all available.
func (v view) pausedAt(i int64) bool {
	if v.Phase != "Paused" || v.Step != i || len(v.Pauses) == 0 || v.Abort || !v.observed() || v.PodHash == v.Stable {
		return false
	}
	c, s := v.Sets[v.PodHash], v.Sets[v.Stable]
	return c.replicas == c.ready && c.ready > 0 && s.replicas == s.ready
}

// aborted: the update was aborted and the stable ReplicaSet runs every pod again.
func (v view) aborted() bool {
	return v.Abort && v.Phase == "Degraded" && v.observed() && v.settled(v.Stable, v.Replicas) &&
		v.Sets[v.PodHash].replicas == 0 && v.Sets[v.PodHash].current == 0
}

// previewing: a blue/green waits for its promotion with the new version on the preview.
func (v view) previewing() bool {
	return v.Phase == "Paused" && len(v.Pauses) == 1 && v.Pauses[0] == "BlueGreenPause" && v.observed() &&
		v.PodHash != v.Stable && v.Preview == v.PodHash && v.Active == v.Stable && v.settled(v.PodHash, v.Replicas)
}

// wait waits for cond on the rollout; on timeout it reports the last view with t.Errorf (and
// stops the test when fatal) and returns false.
func (f *fixture) wait(name, want string, timeout time.Duration, fatal bool, cond func(view) bool) (view, bool) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := f.view(name)
		if cond(v) {
			return v, true
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("rollout %s: not %s after %s:\n  %s", name, want, timeout, v)
			if fatal {
				f.t.Fatal(msg)
			}
			f.t.Error(msg)
			return v, false
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// waitQuiet waits until no Rollout, ReplicaSet or Service of the namespace has changed for
// 2s: the controller has written everything it had to.
func (f *fixture) waitQuiet() {
	f.t.Helper()
	versions := func() string {
		var out []string
		for _, gvr := range []schema.GroupVersionResource{rolloutsGVR, replicaSetsGVR, servicesGVR} {
			list, err := f.dyn.Resource(gvr).Namespace(f.ns).List(context.Background(), metav1.ListOptions{})
			if err != nil {
				f.t.Fatal(err)
			}
			for _, u := range list.Items {
				out = append(out, u.GetName()+"@"+u.GetResourceVersion())
			}
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	deadline := time.Now().Add(30 * time.Second)
	last, since := versions(), time.Now()
	for time.Since(since) < 2*time.Second {
		if time.Now().After(deadline) {
			f.t.Logf("namespace %s still changing after 30s; going on", f.ns)
			return
		}
		time.Sleep(200 * time.Millisecond)
		if v := versions(); v != last {
			last, since = v, time.Now()
		}
	}
}

// runs lists the namespace's AnalysisRuns by name.
func (f *fixture) runs() map[string]*unstructured.Unstructured {
	f.t.Helper()
	list, err := f.dyn.Resource(runsGVR).Namespace(f.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]*unstructured.Unstructured{}
	for i := range list.Items {
		out[list.Items[i].GetName()] = &list.Items[i]
	}
	return out
}

// measurements is how many measurements a run holds for its first metric.
func measurements(u *unstructured.Unstructured) int {
	results, _, _ := unstructured.NestedSlice(u.Object, "status", "metricResults")
	if len(results) == 0 {
		return 0
	}
	ms, _ := results[0].(map[string]any)["measurements"].([]any)
	return len(ms)
}

func runPhase(u *unstructured.Unstructured) string {
	p, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	return p
}

// standIn is the loopback web service the analysis measures: it always answers ok and counts
// the requests.
type standIn struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits []time.Time
}

var (
	standInOnce sync.Once
	theStandIn  *standIn
)

// sharedStandIn is the package's one stand-in (both scenarios' templates name the same URL);
// it lives as long as the test process.
func sharedStandIn() *standIn {
	standInOnce.Do(func() { theStandIn = newStandIn() })
	return theStandIn
}

func newStandIn() *standIn {
	s := &standIn{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits = append(s.hits, time.Now())
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
	}))
	return s
}

// hitsSince counts the requests received after at.
func (s *standIn) hitsSince(at time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, h := range s.hits {
		if h.After(at) {
			n++
		}
	}
	return n
}

// cli is the command line a team uses with the controller it runs: Argo's kubectl plugin or
// Vane's CLI, which take the same verbs.
type cli struct {
	f   *fixture
	bin string
}

func (c cli) do(args ...string) { c.f.t.Helper(); run(c.f.t, c.f.env, c.f.ns, c.bin, args...) }

func (c cli) setImage(name, container, image string) {
	c.f.t.Helper()
	c.do("set", "image", name, container+"="+image)
}

// manifests are the rollouts both scenarios migrate, at their first version.
func manifests(t *testing.T, env *testenv.Env, webURL string) []*unstructured.Unstructured {
	t.Helper()
	var docs []*unstructured.Unstructured
	docs = append(docs, decodeDocs(t, "timed", []byte(canaryYAML("timed", 4, fmt.Sprintf("steps: [{setWeight: 50}, {pause: {duration: %s}}]", timedPause))))...)
	healthyDocs := decodeDocs(t, "healthy", []byte(canaryYAML("healthy", 4, "steps: [{setWeight: 50}, {pause: {duration: 1s}}]")))
	// a team's own annotation: Argo copies a Rollout's annotations to its new ReplicaSets
	healthyDocs[0].SetAnnotations(map[string]string{"example.com/owner": "team-a"})
	docs = append(docs, healthyDocs...)

	// seed gradual-rollout.yaml as it is, but its 30s pauses
	for _, u := range readDocs(t, filepath.Join(env.RepoRoot, "examples", "seeds", "gradual-rollout.yaml")) {
		if u.GetKind() == "Rollout" {
			steps, _, _ := unstructured.NestedSlice(u.Object, "spec", "strategy", "canary", "steps")
			for _, s := range steps {
				if p, ok := s.(map[string]any)["pause"].(map[string]any); ok && p["duration"] != nil {
					p["duration"] = int64(1)
				}
			}
			_ = unstructured.SetNestedSlice(u.Object, steps, "spec", "strategy", "canary", "steps")
		}
		docs = append(docs, u)
	}

	docs = append(docs, decodeDocs(t, "aborted", []byte(canaryYAML("aborted", 4, "steps: [{setWeight: 50}, {pause: {}}]",
		"stableService: aborted-stable", "canaryService: aborted-canary")+
		serviceYAML("aborted-stable", "aborted")+serviceYAML("aborted-canary", "aborted")))...)

	docs = append(docs, decodeDocs(t, "bluegreen", []byte(`
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: bluegreen
spec:
  replicas: 3
  revisionHistoryLimit: 2
  selector:
    matchLabels: {app: bluegreen}
  template:
    metadata:
      labels: {app: bluegreen}
    spec:
      containers:
      - name: app
        image: app:1
        ports: [{containerPort: 8080}]
  strategy:
    blueGreen:
      activeService: bluegreen-active
      previewService: bluegreen-preview
      autoPromotionEnabled: false
`+serviceYAML("bluegreen-active", "bluegreen")+serviceYAML("bluegreen-preview", "bluegreen")))...)

	docs = append(docs, decodeDocs(t, "promoted", []byte(`
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: promoted
spec:
  replicas: 3
  revisionHistoryLimit: 2
  selector:
    matchLabels: {app: promoted}
  template:
    metadata:
      labels: {app: promoted}
    spec:
      containers:
      - name: app
        image: app:1
  strategy:
    blueGreen:
      activeService: promoted-active
      previewService: promoted-preview
      autoPromotionEnabled: false
      scaleDownDelaySeconds: 25
`+serviceYAML("promoted-active", "promoted")+serviceYAML("promoted-preview", "promoted")))...)

	// seed rollouts-demo-bluegreen-workloadref.yaml with 3 replicas and a preview Service
	for _, u := range readDocs(t, filepath.Join(env.RepoRoot, "examples", "seeds", "rollouts-demo-bluegreen-workloadref.yaml")) {
		if u.GetKind() == "Rollout" {
			_ = unstructured.SetNestedField(u.Object, int64(3), "spec", "replicas")
			_ = unstructured.SetNestedField(u.Object, "rollouts-demo-preview", "spec", "strategy", "blueGreen", "previewService")
		}
		docs = append(docs, u)
	}
	docs = append(docs, decodeDocs(t, "bluegreen preview", []byte(serviceYAML("rollouts-demo-preview", "rollouts-demo")))...)

	docs = append(docs, decodeDocs(t, "analysis", []byte(fmt.Sprintf(`
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: always-ok
spec:
  metrics:
  - name: status
    interval: 2s
    successCondition: result == "ok"
    provider:
      web:
        url: %s/status
        jsonPath: "{$.status}"
`, webURL)+"---\n"+canaryYAML("analysis", 3, "steps: [{setWeight: 34}, {pause: {}}]",
		"analysis: {templates: [{templateName: always-ok}]}")))...)
	return docs
}

// canaryYAML is a canary Rollout of image app:1; lines are the fields of its strategy.canary.
func canaryYAML(name string, replicas int, lines ...string) string {
	return fmt.Sprintf(`
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: %[1]s
spec:
  replicas: %[2]d
  revisionHistoryLimit: 3
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
      - name: app
        image: app:1
  strategy:
    canary:
      %[3]s
`, name, replicas, strings.Join(lines, "\n      "))
}

func serviceYAML(name, app string) string {
	return fmt.Sprintf(`
---
apiVersion: v1
kind: Service
metadata:
  name: %s
spec:
  ports: [{port: 80, targetPort: 8080, protocol: TCP, name: http}]
  selector: {app: %s}
`, name, app)
}
