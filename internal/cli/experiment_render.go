package cli

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
)

// analysisIcons are the icons Argo's plugin gives an Experiment's and an AnalysisRun's phase.
var analysisIcons = map[string]string{
	string(v1alpha1.AnalysisPhasePending): "◷", string(v1alpha1.AnalysisPhaseRunning): "◌",
	string(v1alpha1.AnalysisPhaseSuccessful): "✔", string(v1alpha1.AnalysisPhaseFailed): "✖",
	string(v1alpha1.AnalysisPhaseError): "⚠", string(v1alpha1.AnalysisPhaseInconclusive): "?",
}

// analysisColors are their ANSI colours.
var analysisColors = map[string]string{
	string(v1alpha1.AnalysisPhasePending): "33", string(v1alpha1.AnalysisPhaseRunning): "33",
	string(v1alpha1.AnalysisPhaseSuccessful): "32", string(v1alpha1.AnalysisPhaseFailed): "31",
	string(v1alpha1.AnalysisPhaseError): "31", string(v1alpha1.AnalysisPhaseInconclusive): "33",
}

// analysisPhase is a phase as shown: Pending until the controller has set one.
func analysisPhase(p v1alpha1.AnalysisPhase) string {
	if p == "" {
		return string(v1alpha1.AnalysisPhasePending)
	}
	return string(p)
}

func analysisIcon(phase string) string {
	if icon := analysisIcons[phase]; icon != "" {
		return icon
	}
	return icons[stUnknown]
}

// RenderExperiment writes the header and the tree of `get experiment`, as Argo's plugin
// shows them: name, namespace, status (phase icon and phase), message and the images of the
// templates with pods (each tagged Σ:<template>), then the experiment with its ReplicaSets
// (<experiment>-<template>), their pods, and its AnalysisRuns with their measurement counts.
func RenderExperiment(w io.Writer, info *ExperimentInfo, now time.Time, color bool) {
	p := painter{color: color}
	ex := info.Experiment
	phase := analysisPhase(ex.Status.Phase)
	kv := func(k, v string) { fmt.Fprintf(w, "%-16s %s\n", k+":", v) }
	kv("Name", ex.Name)
	kv("Namespace", ex.Namespace)
	kv("Status", p.rowStatus(row{status: phase, statusIcon: analysisIcon(phase)}))
	if ex.Status.Message != "" {
		kv("Message", ex.Status.Message)
	}
	for i, img := range experimentImages(info) {
		if i == 0 {
			kv("Images", img)
		} else {
			fmt.Fprintf(w, "%-16s %s\n", "", img)
		}
	}
	fmt.Fprintln(w)
	writeRows(w, experimentTree(info, now), p)
}

// experimentImages lists the images of the ReplicaSets that have pods, sorted, each with the
// templates that run it: "image (Σ:template, ...)".
func experimentImages(info *ExperimentInfo) []string {
	templates := map[string][]string{}
	for _, s := range info.ReplicaSets {
		if s.RS.Status.Replicas == 0 {
			continue
		}
		tmpl := s.RS.Annotations[templateAnnotation]
		for _, c := range s.RS.Spec.Template.Spec.Containers {
			tags := templates[c.Image]
			if tag := "Σ:" + tmpl; tmpl != "" && !slices.Contains(tags, tag) {
				tags = append(tags, tag)
			}
			templates[c.Image] = tags
		}
	}
	var out []string
	for img, tags := range templates {
		if len(tags) > 0 {
			img += " (" + strings.Join(tags, ", ") + ")"
		}
		out = append(out, img)
	}
	sort.Strings(out)
	return out
}

// experimentTree: the experiment, then each ReplicaSet with its pods under it, then each
// AnalysisRun with its Jobs under it.
func experimentTree(info *ExperimentInfo, now time.Time) []row {
	ex := info.Experiment
	phase := analysisPhase(ex.Status.Phase)
	root := row{icon: "Σ", name: ex.Name, kind: "Experiment", status: phase, statusIcon: analysisIcon(phase),
		age: age(now, ex.CreationTimestamp.Time)}
	var children [][]row
	for _, s := range info.ReplicaSets {
		rs := s.RS
		group := []row{{icon: "⧉", name: rs.Name, kind: "ReplicaSet", status: replicaSetStatus(rs),
			age: age(now, rs.CreationTimestamp.Time), info: scaleDownDelay(rs, now)}}
		children = append(children, append(group, podRows(s.Pods, "", now)...))
	}
	for _, r := range info.Runs {
		children = append(children, analysisRunRows(r, now))
	}
	return tree(root, children)
}

// analysisRunRows are runRows with the run's phase shown with Argo's analysis icons (Running
// is ◌ there, not a pod's ✔), in a rollout's tree as in an experiment's.
func analysisRunRows(r AnalysisRunInfo, now time.Time) []row {
	group := runRows(r, now)
	group[0].status = analysisPhase(r.Run.Status.Phase)
	group[0].statusIcon = analysisIcon(group[0].status)
	return group
}
