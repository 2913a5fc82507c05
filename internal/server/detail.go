package server

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/cli"
)

// Detail is one rollout as its page shows it.
type Detail struct {
	Summary
	Track       []StepView       `json:"track,omitempty"`
	Pauses      []PauseView      `json:"pauses,omitempty"`
	Revisions   []RevisionView   `json:"revisions"`
	Traffic     *TrafficView     `json:"traffic,omitempty"`
	BlueGreen   *BlueGreenView   `json:"blueGreen,omitempty"`
	Runs        []RunView        `json:"analysisRuns,omitempty"`
	Experiments []ExperimentView `json:"experiments,omitempty"`
	Events      []EventView      `json:"events,omitempty"`
	// Hidden names the kinds the user may not read in the namespace (their sections are empty).
	Hidden []string `json:"hidden,omitempty"`
}

// RevisionView is one revision: its ReplicaSet and pods.
type RevisionView struct {
	Revision int       `json:"revision"`
	Name     string    `json:"replicaSet"`
	Roles    string    `json:"roles,omitempty"`
	Images   []string  `json:"images"`
	Desired  int32     `json:"desired"`
	Ready    int32     `json:"ready"`
	Pods     []PodView `json:"pods"`
}

// PodView is one pod.
type PodView struct {
	Name     string `json:"name"`
	Status   string `json:"status"`
	Ready    string `json:"ready"`
	Restarts int32  `json:"restarts"`
	Age      string `json:"age"`
}

// EventView is one event of the rollout.
type EventView struct {
	Time    time.Time `json:"time"`
	Age     string    `json:"age"`
	Type    string    `json:"type"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Count   int32     `json:"count"`
}

// kindAllowed says whether the viewer may list a kind (a resource name) in a namespace.
type kindAllowed func(resource string) bool

// collect reads a rollout and what belongs to it from the cache.
func collect(ctx context.Context, r client.Reader, ns, name string, may kindAllowed, now time.Time) (*Detail, error) {
	ro := &v1alpha1.Rollout{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
		return nil, fmt.Errorf("rollout %s/%s: %w", ns, name, err)
	}
	sets, err := ownedSets(ctx, r, ro)
	if err != nil {
		return nil, err
	}
	d := &Detail{Summary: summarize(ro, sets)}
	d.Track, d.Pauses = stepTrack(ro)
	d.Traffic, d.BlueGreen = trafficView(ro, sets), blueGreenView(ro, sets)
	if may("replicasets") {
		var pods []corev1.Pod
		if may("pods") {
			for _, rs := range sets {
				var list corev1.PodList
				if err := r.List(ctx, &list, append(ownedBy("ReplicaSet", rs.Name), client.InNamespace(ns))...); err != nil {
					return nil, fmt.Errorf("listing pods: %w", err)
				}
				pods = append(pods, list.Items...)
			}
		} else {
			d.Hidden = append(d.Hidden, "pods")
		}
		d.Revisions = revisions(ro, sets, pods, now)
	} else {
		d.Hidden = append(d.Hidden, "replicasets")
	}
	if err := d.readOwned(ctx, r, ro, may, now); err != nil {
		return nil, err
	}
	return d, nil
}

// readOwned fills the analysis runs, experiments and events the viewer may read.
func (d *Detail) readOwned(ctx context.Context, r client.Reader, ro *v1alpha1.Rollout, may kindAllowed, now time.Time) error {
	ns := ro.Namespace
	if may("analysisruns") {
		var runs v1alpha1.AnalysisRunList
		if err := r.List(ctx, &runs, append(ownedBy("Rollout", ro.Name), client.InNamespace(ns))...); err != nil {
			return fmt.Errorf("listing analysis runs: %w", err)
		}
		d.Runs = runViews(ro, runs.Items)
	} else {
		d.Hidden = append(d.Hidden, "analysisruns")
	}
	if may("experiments") {
		var exps v1alpha1.ExperimentList
		if err := r.List(ctx, &exps, append(ownedBy("Rollout", ro.Name), client.InNamespace(ns))...); err != nil {
			return fmt.Errorf("listing experiments: %w", err)
		}
		d.Experiments = experimentViews(ro, exps.Items)
	} else {
		d.Hidden = append(d.Hidden, "experiments")
	}
	if may("events") {
		var evs corev1.EventList
		if err := r.List(ctx, &evs, append(ownedBy("Rollout", ro.Name), client.InNamespace(ns))...); err != nil {
			return fmt.Errorf("listing events: %w", err)
		}
		d.Events = eventViews(ro, evs.Items, now)
	} else {
		d.Hidden = append(d.Hidden, "events")
	}
	return nil
}

// ownedSets lists the rollout's ReplicaSets.
func ownedSets(ctx context.Context, r client.Reader, ro *v1alpha1.Rollout) ([]*appsv1.ReplicaSet, error) {
	var list appsv1.ReplicaSetList
	if err := r.List(ctx, &list, append(ownedBy("Rollout", ro.Name), client.InNamespace(ro.Namespace))...); err != nil {
		return nil, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	var out []*appsv1.ReplicaSet
	for i := range list.Items {
		if ref := controllerOf(&list.Items[i]); ref != nil && ref.UID == ro.UID {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

// revisions groups the ReplicaSets and their pods by revision, newest first.
func revisions(ro *v1alpha1.Rollout, sets []*appsv1.ReplicaSet, pods []corev1.Pod, now time.Time) []RevisionView {
	var out []RevisionView
	for _, rs := range sets {
		rev, _ := strconv.Atoi(rs.Annotations[v1alpha1.RevisionAnnotation])
		v := RevisionView{Revision: rev, Name: rs.Name, Roles: joinRoles("", cli.Roles(ro, rs)),
			Desired: ptr.Deref(rs.Spec.Replicas, 0), Ready: rs.Status.ReadyReplicas}
		for _, c := range rs.Spec.Template.Spec.Containers {
			v.Images = append(v.Images, c.Image)
		}
		for i := range pods {
			if ref := controllerOf(&pods[i]); ref != nil && ref.UID == rs.UID {
				v.Pods = append(v.Pods, podView(&pods[i], now))
			}
		}
		sort.Slice(v.Pods, func(i, j int) bool { return v.Pods[i].Name < v.Pods[j].Name })
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision > out[j].Revision })
	return out
}

func podView(p *corev1.Pod, now time.Time) PodView {
	v := PodView{Name: p.Name, Status: string(p.Status.Phase), Age: age(now, p.CreationTimestamp.Time)}
	var ready int
	for _, c := range p.Status.ContainerStatuses {
		v.Restarts += c.RestartCount
		if c.Ready {
			ready++
		}
		if w := c.State.Waiting; w != nil && w.Reason != "" {
			v.Status = w.Reason
		}
	}
	if p.DeletionTimestamp != nil {
		v.Status = "Terminating"
	}
	v.Ready = fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers))
	return v
}

// eventViews lists the rollout's events, newest first (at most 50).
func eventViews(ro *v1alpha1.Rollout, evs []corev1.Event, now time.Time) []EventView {
	var out []EventView
	for _, e := range evs {
		if e.InvolvedObject.Kind != "Rollout" || e.InvolvedObject.Name != ro.Name {
			continue
		}
		t := e.LastTimestamp.Time
		if t.IsZero() {
			t = e.EventTime.Time
		}
		if t.IsZero() {
			t = e.CreationTimestamp.Time
		}
		out = append(out, EventView{Time: t, Age: age(now, t), Type: e.Type, Reason: e.Reason, Message: e.Message, Count: max(e.Count, 1)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	if len(out) > 50 {
		out = out[:50]
	}
	return out
}

// age is a short duration like kubectl's: 5s, 3m, 2h, 4d.
func age(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(int(d.Seconds()), 0))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
