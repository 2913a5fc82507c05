package cli

import (
	"context"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// RolloutInfo is everything `get rollout` shows: the rollout and what it owns.
type RolloutInfo struct {
	Rollout     *v1alpha1.Rollout
	ReplicaSets []ReplicaSetInfo  // newest revision first
	Experiments []ExperimentInfo  // the experiment steps' Experiments, newest first
	Runs        []AnalysisRunInfo // newest first
}

// ReplicaSetInfo is one ReplicaSet with its pods.
type ReplicaSetInfo struct {
	RS       *appsv1.ReplicaSet
	Revision int
	Pods     []*corev1.Pod // by name
}

// AnalysisRunInfo is one AnalysisRun with its Jobs.
type AnalysisRunInfo struct {
	Run  *v1alpha1.AnalysisRun
	Jobs []*batchv1.Job
}

// Collect reads a rollout and what it owns.
func Collect(ctx context.Context, c client.Client, ns, name string) (*RolloutInfo, error) {
	ro := &v1alpha1.Rollout{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
		return nil, err
	}
	info := &RolloutInfo{Rollout: ro}
	var sets appsv1.ReplicaSetList
	if err := c.List(ctx, &sets, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	byUID := map[types.UID]*ReplicaSetInfo{}
	for i := range sets.Items {
		rs := &sets.Items[i]
		if ownedBy(rs, ro.UID) {
			rev, _ := strconv.Atoi(rs.Annotations[v1alpha1.RevisionAnnotation])
			info.ReplicaSets = append(info.ReplicaSets, ReplicaSetInfo{RS: rs, Revision: rev})
		}
	}
	sort.Slice(info.ReplicaSets, func(i, j int) bool { return info.ReplicaSets[i].Revision > info.ReplicaSets[j].Revision })
	for i := range info.ReplicaSets {
		byUID[info.ReplicaSets[i].RS.UID] = &info.ReplicaSets[i]
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if ref := metav1.GetControllerOf(p); ref != nil && byUID[ref.UID] != nil {
			byUID[ref.UID].Pods = append(byUID[ref.UID].Pods, p)
		}
	}
	for _, s := range info.ReplicaSets {
		sort.Slice(s.Pods, func(i, j int) bool { return s.Pods[i].Name < s.Pods[j].Name })
	}
	runs, err := collectRuns(ctx, c, ns, ro.UID)
	if err != nil {
		return nil, err
	}
	info.Runs = runs
	if info.Experiments, err = collectExperiments(ctx, c, ns, ro.UID); err != nil {
		return nil, err
	}
	return info, nil
}

// collectExperiments reads the Experiments a rollout owns (its experiment steps'), newest
// first, each with its ReplicaSets, pods and AnalysisRuns. A cluster without the Experiment CRD
// simply has none.
func collectExperiments(ctx context.Context, c client.Client, ns string, owner types.UID) ([]ExperimentInfo, error) {
	var list v1alpha1.ExperimentList
	if err := c.List(ctx, &list, client.InNamespace(ns)); meta.IsNoMatchError(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []ExperimentInfo
	for i := range list.Items {
		ex := &list.Items[i]
		if !ownedBy(ex, owner) {
			continue
		}
		info, err := CollectExperiment(ctx, c, ns, ex.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, *info)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[j].Experiment.CreationTimestamp.Before(&out[i].Experiment.CreationTimestamp)
	})
	return out, nil
}

// collectRuns reads the AnalysisRuns a rollout owns and their Jobs. A cluster without the
// AnalysisRun CRD simply has none; any other error (forbidden...) is reported.
func collectRuns(ctx context.Context, c client.Client, ns string, owner types.UID) ([]AnalysisRunInfo, error) {
	var runs v1alpha1.AnalysisRunList
	if err := c.List(ctx, &runs, client.InNamespace(ns)); meta.IsNoMatchError(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []AnalysisRunInfo
	for i := range runs.Items {
		if ownedBy(&runs.Items[i], owner) {
			out = append(out, AnalysisRunInfo{Run: &runs.Items[i]})
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	var jobs batchv1.JobList
	if err := c.List(ctx, &jobs, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	for i := range out {
		for j := range jobs.Items {
			if ownedBy(&jobs.Items[j], out[i].Run.UID) {
				out[i].Jobs = append(out[i].Jobs, &jobs.Items[j])
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[j].Run.CreationTimestamp.Before(&out[i].Run.CreationTimestamp)
	})
	return out, nil
}

func ownedBy(o metav1.Object, uid types.UID) bool {
	for _, ref := range o.GetOwnerReferences() {
		if ref.UID == uid {
			return true
		}
	}
	return false
}
