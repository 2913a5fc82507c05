package cli

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// ExperimentInfo is everything `get experiment` shows: the experiment and what it owns.
type ExperimentInfo struct {
	Experiment  *v1alpha1.Experiment
	ReplicaSets []ReplicaSetInfo  // one per template (<experiment>-<template>), by name
	Runs        []AnalysisRunInfo // newest first
}

// templateAnnotation names the experiment template a ReplicaSet runs (Argo's key).
const templateAnnotation = "experiment.argoproj.io/template-name"

// CollectExperiment reads an experiment, the ReplicaSets it owns with their pods, and the
// AnalysisRuns it owns with their Jobs.
func CollectExperiment(ctx context.Context, c client.Client, ns, name string) (*ExperimentInfo, error) {
	ex := &v1alpha1.Experiment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ex); err != nil {
		return nil, err
	}
	info := &ExperimentInfo{Experiment: ex}
	sets, err := ownedReplicaSets(ctx, c, ns, ex.UID)
	if err != nil {
		return nil, err
	}
	info.ReplicaSets = sets
	if info.Runs, err = collectRuns(ctx, c, ns, ex.UID); err != nil {
		return nil, err
	}
	return info, nil
}

// ownedReplicaSets reads the ReplicaSets owner owns, by name, each with its pods (by name).
func ownedReplicaSets(ctx context.Context, c client.Client, ns string, owner types.UID) ([]ReplicaSetInfo, error) {
	var sets appsv1.ReplicaSetList
	if err := c.List(ctx, &sets, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var out []ReplicaSetInfo
	for i := range sets.Items {
		if ownedBy(&sets.Items[i], owner) {
			out = append(out, ReplicaSetInfo{RS: &sets.Items[i]})
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RS.Name < out[j].RS.Name })
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	for i := range out {
		for j := range pods.Items {
			if ref := metav1.GetControllerOf(&pods.Items[j]); ref != nil && ref.UID == out[i].RS.UID {
				out[i].Pods = append(out[i].Pods, &pods.Items[j])
			}
		}
		sort.Slice(out[i].Pods, func(a, b int) bool { return out[i].Pods[a].Name < out[i].Pods[b].Name })
	}
	return out, nil
}

// GetExperiment prints an experiment's header and tree; with watch it keeps printing until ctx
// ends, as GetRollout does: redrawn in place on a terminal, a new frame only when something
// changed otherwise.
func GetExperiment(ctx context.Context, o *Options, name string, watch bool) error {
	collect := func() (*ExperimentInfo, error) {
		info, err := CollectExperiment(ctx, o.Client, o.Namespace, name)
		return info, o.Explain(err, "experiment", name)
	}
	return showFrames(ctx, o, watch, collect, RenderExperiment)
}

// RetryExperiment runs `retry experiment NAME...` as Argo's plugin does: the status is cleared
// (through the status subresource, or the object itself when the CRD has none, as Argo's own
// CRD), so that the controller runs the experiment again from Pending.
func RetryExperiment(ctx context.Context, o *Options, names []string) error {
	for _, name := range names {
		ex := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: name}}
		patch := client.RawPatch(types.MergePatchType, []byte(`{"status":null}`))
		err := o.Client.Status().Patch(ctx, ex, patch)
		if apierrors.IsNotFound(err) {
			err = o.Client.Patch(ctx, ex, patch)
		}
		if err != nil {
			return o.Explain(err, "experiment", name)
		}
		fmt.Fprintf(o.Out, "experiment '%s' retried\n", name)
	}
	return nil
}
