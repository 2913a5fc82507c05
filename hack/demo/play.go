package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/colorapi"
	"github.com/vanedev/vane/internal/strategy"
)

type demo struct {
	c        client.Client
	ns, name string
	pause    time.Duration // replaces the timed pauses when not 0
	last     string
	t0       time.Time
}

// play runs the scenario on the seed: its objects as they are, except the analysis's host,
// pointed at the Service colorapi, which the demo plays.
func (d *demo) play(ctx context.Context, manifest string) error {
	b, err := os.ReadFile(manifest)
	if err != nil {
		return err
	}
	objs, err := decode(manifest, b)
	if err != nil {
		return err
	}
	var srv *colorapi.Server
	for _, u := range kinds(objs, "Service") {
		if err := d.create(ctx, u); err != nil {
			return err
		}
		if srv, err = servePods(ctx, d.c, u); err != nil {
			return err
		}
		defer srv.Close()
		say("playing the pods of Service %s on %s (the analysis's host)", u.GetName(), srv.Addr)
	}
	if srv == nil {
		return fmt.Errorf("%s: no Service", manifest)
	}
	d.t0 = time.Now()
	for _, u := range kinds(objs, "AnalysisTemplate", "Rollout") {
		if u.GetKind() == "Rollout" {
			if err := setAnalysisArg(u, "host", srv.Addr); err != nil {
				return err
			}
		}
		if err := d.create(ctx, u); err != nil {
			return err
		}
	}
	fmt.Printf("\n%7s  %-5s %-7s %-7s %-36s %s\n", "TIME", "STEP", "WEIGHT", "ACTUAL", "REPLICASETS (version role ready/desired)", "PHASE")
	ctx, cancel := context.WithCancel(ctx)
	ev := &eventPrinter{d: d, seen: map[string]int32{}, show: func(ev *corev1.Event) bool {
		return ev.InvolvedObject.Kind == "AnalysisRun" || strings.Contains(ev.Reason, "Analysis") || ev.Reason == "RolloutAborted"
	}}
	done := make(chan struct{})
	go func() { defer close(done); ev.run(ctx) }()
	defer func() { cancel(); <-done }()

	if err := d.watch(ctx, func(ro *v1alpha1.Rollout) bool { return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy }); err != nil {
		return err
	}
	say("set image colorapi=%s", image2)
	if err := setImage(ctx, d, image2); err != nil {
		return err
	}
	if err := d.watch(ctx, healthyOn(image2)); err != nil {
		return err
	}
	say("set image colorapi=%s (answers \"status\": \"nok\")", image3)
	if err := setImage(ctx, d, image3); err != nil {
		return err
	}
	var promoted bool
	if err := d.watch(ctx, func(ro *v1alpha1.Rollout) bool {
		promoted = healthyOn(image3)(ro)
		return promoted || ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && ro.Status.Abort &&
			ro.Status.AvailableReplicas == ptr.Deref(ro.Spec.Replicas, 1) && ro.Status.UpdatedReplicas == 0
	}); err != nil {
		return err
	}
	if promoted {
		return errors.New("3.0 was promoted: its background analysis did not stop it (a -pause below 25s may be too short for it to see two nok answers)")
	}
	time.Sleep(time.Second) // let the last events in
	ro := &v1alpha1.Rollout{}
	if err := d.c.Get(ctx, client.ObjectKey{Namespace: d.ns, Name: d.name}, ro); err != nil {
		return err
	}
	say("done: %s - %s", ro.Status.Phase, ro.Status.Message)
	return nil
}

// servePods plays the pods of a Service on its ClusterIP and port, or on another port of the
// ClusterIP when that one is privileged and the demo is not.
func servePods(ctx context.Context, c client.Client, u *unstructured.Unstructured) (*colorapi.Server, error) {
	var svc corev1.Service
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &svc); err != nil {
		return nil, err
	}
	addr, err := colorapi.ServiceAddr(&svc)
	if err != nil {
		return nil, err
	}
	s, err := colorapi.Serve(ctx, c, svc.Namespace, svc.Name, addr)
	if err != nil && errors.Is(err, syscall.EACCES) {
		s, err = colorapi.Serve(ctx, c, svc.Namespace, svc.Name, net.JoinHostPort(svc.Spec.ClusterIP, "0"))
	}
	return s, err
}

func healthyOn(image string) func(*v1alpha1.Rollout) bool {
	return func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Spec.Template.Spec.Containers[0].Image == image
	}
}

// decode reads the objects of a YAML manifest.
func decode(name string, b []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return objs, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// create creates u in the demo's namespace (unless it is cluster-scoped) and fills it with what
// the API server stored (a Service's ClusterIP). A Rollout's timed pauses take d.pause when set.
func (d *demo) create(ctx context.Context, u *unstructured.Unstructured) error {
	if u.GetKind() == "Rollout" && d.pause > 0 {
		if err := setPauses(u, d.pause); err != nil {
			return err
		}
	}
	if u.GetKind() != "GatewayClass" {
		u.SetNamespace(d.ns)
	}
	if err := d.c.Create(ctx, u); err != nil {
		return fmt.Errorf("creating %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	say("created %s %s", u.GetKind(), u.GetName())
	return nil
}

// setPauses sets the duration of the canary steps' timed pauses.
func setPauses(u *unstructured.Unstructured, pause time.Duration) error {
	steps, _, err := unstructured.NestedSlice(u.Object, "spec", "strategy", "canary", "steps")
	if err != nil {
		return err
	}
	for _, s := range steps {
		if p, ok := s.(map[string]any)["pause"].(map[string]any); ok && p["duration"] != nil {
			p["duration"] = pause.String()
		}
	}
	return unstructured.SetNestedSlice(u.Object, steps, "spec", "strategy", "canary", "steps")
}

// setAnalysisArg sets the value of a background analysis argument of a Rollout.
func setAnalysisArg(u *unstructured.Unstructured, name, value string) error {
	args, _, err := unstructured.NestedSlice(u.Object, "spec", "strategy", "canary", "analysis", "args")
	if err != nil {
		return err
	}
	for _, a := range args {
		if m, ok := a.(map[string]any); ok && m["name"] == name {
			m["value"] = value
			return unstructured.SetNestedSlice(u.Object, args, "spec", "strategy", "canary", "analysis", "args")
		}
	}
	return fmt.Errorf("Rollout %s: no analysis argument %q", u.GetName(), name)
}

// watch prints a line whenever the rollout's state changes, until done says so.
func (d *demo) watch(ctx context.Context, done func(*v1alpha1.Rollout) bool) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		ro := &v1alpha1.Rollout{}
		if err := d.c.Get(ctx, client.ObjectKey{Namespace: d.ns, Name: d.name}, ro); err != nil {
			return err
		}
		line, err := d.describe(ctx, ro)
		if err != nil {
			return err
		}
		if ro.Status.ObservedGeneration != "" && line != d.last {
			d.emit(line)
			d.last = line
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
	return errTimeout
}

// describe is one line of the demo's table.
func (d *demo) describe(ctx context.Context, ro *v1alpha1.Rollout) (string, error) {
	var list appsv1.ReplicaSetList
	if err := d.c.List(ctx, &list, client.InNamespace(d.ns)); err != nil {
		return "", err
	}
	steps := ro.Spec.Strategy.Canary.Steps
	idx := ptr.Deref(ro.Status.CurrentStepIndex, 0)
	weight := strategy.CurrentWeight(steps, idx)
	if ro.Status.Abort {
		weight = 0
	}
	var sets []string
	var canaryAvail, totalAvail int32
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref == nil || ref.UID != ro.UID || ptr.Deref(rs.Spec.Replicas, 0)+rs.Status.Replicas == 0 {
			continue
		}
		hash := rs.Labels[v1alpha1.PodTemplateHashLabel]
		role := "canary"
		if hash == ro.Status.StableRS {
			role = "stable"
		}
		if hash == ro.Status.CurrentPodHash {
			canaryAvail += rs.Status.AvailableReplicas
		}
		totalAvail += rs.Status.AvailableReplicas
		img := rs.Spec.Template.Spec.Containers[0].Image
		sets = append(sets, fmt.Sprintf("%s %s %d/%d", img[strings.LastIndexByte(img, ':')+1:], role,
			rs.Status.ReadyReplicas, ptr.Deref(rs.Spec.Replicas, 0)))
	}
	sort.Strings(sets)
	phase := string(ro.Status.Phase)
	if ro.Status.Message != "" {
		phase += " (" + ro.Status.Message + ")"
	}
	return fmt.Sprintf("%-5s %-7s %-7s %-36s %s", fmt.Sprintf("%d/%d", idx, len(steps)), fmt.Sprintf("%d%%", weight),
		fmt.Sprintf("%d%%", strategy.ActualWeight(canaryAvail, totalAvail)), strings.Join(sets, " | "), phase), nil
}
