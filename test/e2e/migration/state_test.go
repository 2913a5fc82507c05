package migration

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"github.com/vanedev/vane/internal/testenv"
)

// kind is one resource the migration must leave as it was, and the parts of it compared.
type kind struct {
	name  string
	gvr   schema.GroupVersionResource
	parts func(u *unstructured.Unstructured) map[string]any
}

var (
	rolloutsGVR     = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}
	runsGVR         = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "analysisruns"}
	templatesGVR    = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "analysistemplates"}
	replicaSetsGVR  = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	deploymentsGVR  = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	podsGVR         = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	servicesGVR     = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	eventsGVR       = schema.GroupVersionResource{Version: "v1", Resource: "events"}
	comparedKinds   = []kind{rolloutKind, replicaSetKind, podKind, serviceKind, deploymentKind, runKind}
	rolloutKind     = kind{"Rollout", rolloutsGVR, rolloutParts}
	replicaSetKind  = kind{"ReplicaSet", replicaSetsGVR, replicaSetParts}
	podKind         = kind{"Pod", podsGVR, podParts}
	serviceKind     = kind{"Service", servicesGVR, serviceParts}
	deploymentKind  = kind{"Deployment", deploymentsGVR, deploymentParts}
	runKind         = kind{"AnalysisRun", runsGVR, runParts}
	conditionsTimes = []string{"lastUpdateTime", "lastTransitionTime"}
)

func meta(u *unstructured.Unstructured, out map[string]any) map[string]any {
	out["uid"] = string(u.GetUID())
	if l := u.GetLabels(); len(l) > 0 {
		out["labels"] = l
	}
	if a := u.GetAnnotations(); len(a) > 0 {
		out["annotations"] = a
	}
	var owners []string
	for _, o := range u.GetOwnerReferences() {
		owners = append(owners, fmt.Sprintf("%s/%s uid=%s controller=%v", o.Kind, o.Name, o.UID, o.Controller != nil && *o.Controller))
	}
	if len(owners) > 0 {
		out["owners"] = owners
	}
	if u.GetDeletionTimestamp() != nil {
		out["deleting"] = true
	}
	return out
}

// rolloutParts: the whole spec and status; the conditions' timestamps go under a path of their
// own, ~conditionTimes, whose changes are notes rather than differences.
func rolloutParts(u *unstructured.Unstructured) map[string]any {
	out := meta(u, map[string]any{"generation": u.GetGeneration(), "finalizers": u.GetFinalizers()})
	out["spec"] = u.Object["spec"]
	status, _, _ := unstructured.NestedMap(u.Object, "status")
	if conds, ok := status["conditions"].([]any); ok {
		var cs []any
		times := map[string]any{}
		for _, c := range conds {
			m, _ := c.(map[string]any)
			m = copyMap(m)
			for _, k := range conditionsTimes {
				times[fmt.Sprintf("%v.%s", m["type"], k)] = m[k]
				delete(m, k)
			}
			cs = append(cs, m)
		}
		status["conditions"] = cs
		out[notePrefix+"conditionTimes"] = times
	}
	out["status"] = status
	return out
}

// notePrefix starts the paths whose changes are reported as notes, not as differences.
const notePrefix = "~"

// isNote: a difference line about a note path.
func isNote(l string) bool { return strings.Contains(l, " "+notePrefix) }

func replicaSetParts(u *unstructured.Unstructured) map[string]any {
	out := meta(u, map[string]any{})
	spec, _, _ := unstructured.NestedMap(u.Object, "spec")
	out["spec"] = spec
	return out
}

func podParts(u *unstructured.Unstructured) map[string]any { return meta(u, map[string]any{}) }

func serviceParts(u *unstructured.Unstructured) map[string]any {
	out := meta(u, map[string]any{})
	sel, _, _ := unstructured.NestedStringMap(u.Object, "spec", "selector")
	out["selector"] = sel
	return out
}

func deploymentParts(u *unstructured.Unstructured) map[string]any {
	out := meta(u, map[string]any{"generation": u.GetGeneration()})
	out["spec"] = u.Object["spec"]
	return out
}

// runParts: the run's spec, phase and each metric's phase (not its measurements, which go on).
func runParts(u *unstructured.Unstructured) map[string]any {
	out := meta(u, map[string]any{})
	out["spec"] = u.Object["spec"]
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	out["phase"] = phase
	started, _, _ := unstructured.NestedString(u.Object, "status", "startedAt")
	out["startedAt"] = started
	results, _, _ := unstructured.NestedSlice(u.Object, "status", "metricResults")
	var rs []string
	for _, r := range results {
		m, _ := r.(map[string]any)
		rs = append(rs, fmt.Sprintf("%v=%v", m["name"], m["phase"]))
	}
	out["metrics"] = rs
	return out
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// flatten turns a value into path -> JSON scalar. Lists of objects with a type, reason or name
// are keyed by it, so that an order change is not a difference.
func flatten(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			return
		}
		for k, e := range x {
			flatten(join(prefix, k), e, out)
		}
	case map[string]string:
		for k, e := range x {
			flatten(join(prefix, k), e, out)
		}
	case []any:
		for i, e := range x {
			flatten(fmt.Sprintf("%s[%s]", prefix, listKey(e, i)), e, out)
		}
	case []string:
		for i, e := range x {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), e, out)
		}
	case nil:
	default:
		b, _ := json.Marshal(x)
		out[prefix] = string(b)
	}
}

func listKey(e any, i int) string {
	if m, ok := e.(map[string]any); ok {
		for _, k := range []string{"type", "reason", "name"} {
			if s, ok := m[k].(string); ok {
				return k + "=" + s
			}
		}
	}
	return fmt.Sprint(i)
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// state is every compared object of a namespace: "Kind/name" -> path -> value.
type state map[string]map[string]string

func flat(k kind, u *unstructured.Unstructured) map[string]string {
	out := map[string]string{}
	flatten("", k.parts(u), out)
	return out
}

// capture lists the compared kinds in ns; rvs are the lists' resource versions (to watch from).
func capture(t *testing.T, dyn dynamic.Interface, ns string) (state, map[string]string) {
	t.Helper()
	s, rvs := state{}, map[string]string{}
	for _, k := range comparedKinds {
		list, err := dyn.Resource(k.gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatalf("listing %s: %v", k.name, err)
		}
		rvs[k.name] = list.GetResourceVersion()
		for i := range list.Items {
			s[k.name+"/"+list.Items[i].GetName()] = flat(k, &list.Items[i])
		}
	}
	return s, rvs
}

// diffObj describes how b differs from a, one line per path.
func diffObj(key string, a, b map[string]string) []string {
	switch {
	case a == nil && b == nil:
		return nil
	case a == nil:
		return []string{fmt.Sprintf("%s created (uid %s)", key, b["uid"])}
	case b == nil:
		return []string{fmt.Sprintf("%s deleted (uid %s)", key, a["uid"])}
	case a["uid"] != b["uid"]:
		return []string{fmt.Sprintf("%s replaced (uid %s -> %s)", key, a["uid"], b["uid"])}
	}
	var out []string
	for p, av := range a {
		if bv, ok := b[p]; !ok {
			out = append(out, fmt.Sprintf("%s %s: %s -> (unset)", key, p, av))
		} else if bv != av {
			out = append(out, fmt.Sprintf("%s %s: %s -> %s", key, p, av, bv))
		}
	}
	for p, bv := range b {
		if _, ok := a[p]; !ok {
			out = append(out, fmt.Sprintf("%s %s: (unset) -> %s", key, p, bv))
		}
	}
	sort.Strings(out)
	return out
}

func diffState(a, b state) []string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var sorted []string
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var out []string
	for _, k := range sorted {
		out = append(out, diffObj(k, a[k], b[k])...)
	}
	return out
}

// observer watches the compared kinds of a namespace from a captured state and records every
// difference any version of an object shows against that state, with the time it was first
// seen: a ReplicaSet created and deleted, or a phase that flips and comes back, are recorded
// even though the final state matches.
type observer struct {
	t     *testing.T
	since time.Time
	ref   state
	mu    sync.Mutex
	seen  map[string]bool
	lines []string
	// events counts the watch events by kind and type, to show what the observer saw
	events map[string]int
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

func observe(t *testing.T, dyn dynamic.Interface, ns string, ref state, rvs map[string]string) *observer {
	ctx, cancel := context.WithCancel(context.Background())
	o := &observer{t: t, since: time.Now(), ref: ref, seen: map[string]bool{}, stop: cancel, events: map[string]int{}}
	for _, k := range comparedKinds {
		o.wg.Add(1)
		go func() { defer o.wg.Done(); o.watch(ctx, dyn, ns, k, rvs[k.name]) }()
	}
	t.Cleanup(o.close)
	return o
}

func (o *observer) watch(ctx context.Context, dyn dynamic.Interface, ns string, k kind, rv string) {
	ri := dyn.Resource(k.gvr).Namespace(ns)
	for ctx.Err() == nil {
		w, err := ri.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			o.note(fmt.Sprintf("(watch of %s failed: %v; relisting)", k.name, err))
			rv = o.relist(ctx, ri, k)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		for ev := range w.ResultChan() {
			if ctx.Err() != nil {
				break
			}
			o.count(k.name, ev.Type)
			switch ev.Type {
			case watch.Error:
				if ctx.Err() != nil {
					continue
				}
				o.note(fmt.Sprintf("(watch of %s: %v; relisting)", k.name, ev.Object))
				rv = o.relist(ctx, ri, k)
				w.Stop()
			case watch.Added, watch.Modified, watch.Deleted, watch.Bookmark:
				u, ok := ev.Object.(*unstructured.Unstructured)
				if !ok {
					continue
				}
				rv = u.GetResourceVersion()
				if ev.Type == watch.Bookmark {
					continue
				}
				key := k.name + "/" + u.GetName()
				var cur map[string]string
				if ev.Type != watch.Deleted {
					cur = flat(k, u)
				}
				for _, l := range diffObj(key, o.ref[key], cur) {
					o.note(l)
				}
			}
		}
	}
}

func (o *observer) relist(ctx context.Context, ri dynamic.ResourceInterface, k kind) string {
	list, err := ri.List(ctx, metav1.ListOptions{})
	if err != nil {
		return ""
	}
	names := map[string]bool{}
	for i := range list.Items {
		key := k.name + "/" + list.Items[i].GetName()
		names[key] = true
		for _, l := range diffObj(key, o.ref[key], flat(k, &list.Items[i])) {
			o.note(l)
		}
	}
	for key, v := range o.ref {
		if strings.HasPrefix(key, k.name+"/") && !names[key] {
			for _, l := range diffObj(key, v, nil) {
				o.note(l)
			}
		}
	}
	return list.GetResourceVersion()
}

func (o *observer) count(kind string, typ watch.EventType) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events[kind+" "+string(typ)]++
}

// summary says how many watch events of each kind and type the observer saw.
func (o *observer) summary() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for k, n := range o.events {
		out = append(out, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func (o *observer) note(l string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen[l] {
		return
	}
	o.seen[l] = true
	o.lines = append(o.lines, fmt.Sprintf("+%.1fs %s", time.Since(o.since).Seconds(), l))
}

func (o *observer) close() {
	o.stop()
	o.wg.Wait()
}

// result stops the observer and returns what it saw.
func (o *observer) result() []string {
	o.close()
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.lines...)
}

// kubeEvent is one Event of the namespace.
type kubeEvent struct {
	rv                                       int64
	at                                       time.Time
	kind, name, typ, reason, message, source string
}

func (e kubeEvent) String() string {
	return fmt.Sprintf("%s/%s %s %s: %s (%s)", e.kind, e.name, e.typ, e.reason, e.message, e.source)
}

// eventsSince lists the events of ns recorded at or after since, oldest first.
func eventsSince(t *testing.T, dyn dynamic.Interface, ns string, since time.Time) []kubeEvent {
	t.Helper()
	list, err := dyn.Resource(eventsGVR).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var evs []kubeEvent
	for _, e := range list.Items {
		at := eventTime(e)
		if at.Before(since.Truncate(time.Second)) {
			continue
		}
		str := func(path ...string) string { s, _, _ := unstructured.NestedString(e.Object, path...); return s }
		ev := kubeEvent{at: at, kind: str("involvedObject", "kind"), name: str("involvedObject", "name"), typ: str("type"),
			reason: str("reason"), message: str("message"), source: str("source", "component")}
		ev.rv, _ = strconv.ParseInt(e.GetResourceVersion(), 10, 64)
		if ev.source == "" {
			ev.source = str("reportingComponent")
		}
		evs = append(evs, ev)
	}
	// in the order they were last written (their times have a precision of one second)
	sort.Slice(evs, func(i, j int) bool { return evs[i].rv < evs[j].rv })
	return evs
}

func eventTime(e unstructured.Unstructured) time.Time {
	for _, f := range []string{"lastTimestamp", "eventTime", "firstTimestamp"} {
		if s, _, _ := unstructured.NestedString(e.Object, f); s != "" {
			if at, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return at
			}
		}
	}
	return e.GetCreationTimestamp().Time
}

func dynamicClient(t *testing.T, env *testenv.Env) dynamic.Interface {
	t.Helper()
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return dyn
}
