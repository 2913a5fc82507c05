package server

import (
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/cli"
)

// StepView is one canary step on the track.
type StepView struct {
	Index int    `json:"index"`
	Text  string `json:"text"`
	// State is done, current or pending.
	State string `json:"state"`
}

// PauseView is one reason the rollout is paused; Until is set for a timed pause.
type PauseView struct {
	Reason string     `json:"reason"`
	Since  time.Time  `json:"since"`
	Until  *time.Time `json:"until,omitempty"`
}

// UntilRFC3339 is the end of a timed pause for the page's countdown ("" when not timed).
func (p PauseView) UntilRFC3339() string {
	if p.Until == nil {
		return ""
	}
	return p.Until.UTC().Format(time.RFC3339)
}

// Left is the time left in a timed pause, rounded to the second.
func (p PauseView) Left(now time.Time) string {
	if p.Until == nil {
		return ""
	}
	return max(p.Until.Sub(now), 0).Round(time.Second).String()
}

// stepTrack describes the canary steps and the pauses holding the rollout.
func stepTrack(ro *v1alpha1.Rollout) ([]StepView, []PauseView) {
	var track []StepView
	var pauses []PauseView
	cur := int(ptr.Deref(ro.Status.CurrentStepIndex, 0))
	var steps []v1alpha1.CanaryStep
	if c := ro.Spec.Strategy.Canary; c != nil {
		steps = c.Steps
	}
	for i, s := range steps {
		state := "pending"
		switch {
		case i < cur:
			state = "done"
		case i == cur:
			state = "current"
		}
		track = append(track, StepView{Index: i + 1, Text: stepText(s), State: state})
	}
	if ro.Spec.Paused {
		pauses = append(pauses, PauseView{Reason: "Paused by a user (spec.paused)"})
	}
	for _, pc := range ro.Status.PauseConditions {
		p := PauseView{Reason: string(pc.Reason), Since: pc.StartTime.Time}
		if pc.Reason == v1alpha1.PauseReasonCanaryPauseStep && cur < len(steps) && steps[cur].Pause != nil {
			if d := steps[cur].Pause.Duration; d != nil {
				if dur, err := d.Duration(); err == nil {
					until := pc.StartTime.Add(dur)
					p.Until = &until
				}
			}
		}
		pauses = append(pauses, p)
	}
	return track, pauses
}

// stepText says what a step does in a few words.
func stepText(s v1alpha1.CanaryStep) string {
	switch {
	case s.SetWeight != nil:
		return fmt.Sprintf("weight %d%%", *s.SetWeight)
	case s.Pause != nil && s.Pause.Duration != nil:
		return "pause " + s.Pause.Duration.String()
	case s.Pause != nil:
		return "pause until promoted"
	case s.Analysis != nil:
		var names []string
		for _, t := range s.Analysis.Templates {
			names = append(names, t.TemplateName)
		}
		return "analysis " + strings.Join(names, ", ")
	case s.Experiment != nil:
		return fmt.Sprintf("experiment (%d templates)", len(s.Experiment.Templates))
	case s.SetCanaryScale != nil:
		return "set canary scale"
	case s.SetHeaderRoute != nil:
		return "header route " + s.SetHeaderRoute.Name
	case s.SetMirrorRoute != nil:
		return "mirror route " + s.SetMirrorRoute.Name
	case s.Plugin != nil:
		return "plugin " + s.Plugin.Name
	}
	return "step"
}

// TrafficView is the traffic split as the router carries it now.
type TrafficView struct {
	Router   string `json:"router"`
	Canary   int32  `json:"canary"`
	Stable   int32  `json:"stable"`
	Verified *bool  `json:"verified,omitempty"`
	// ByPods: no router; the split is the share of available pods.
	ByPods bool `json:"byPods"`
}

func trafficView(ro *v1alpha1.Rollout, sets []*appsv1.ReplicaSet) *TrafficView {
	c := ro.Spec.Strategy.Canary
	if c == nil {
		return nil
	}
	tr := c.TrafficRouting
	if tr == nil {
		w := cli.ActualWeight(ro, sets)
		return &TrafficView{Router: "none (share of pods)", Canary: w, Stable: 100 - w, ByPods: true}
	}
	v := &TrafficView{Router: routerNames(tr)}
	if w := ro.Status.Canary.Weights; w != nil {
		v.Canary, v.Stable, v.Verified = w.Canary.Weight, w.Stable.Weight, w.Verified
	} else {
		v.Stable = 100
	}
	return v
}

func routerNames(tr *v1alpha1.RolloutTrafficRouting) string {
	var names []string
	for name, set := range map[string]bool{"istio": tr.Istio != nil, "nginx": tr.Nginx != nil, "alb": tr.ALB != nil,
		"smi": tr.SMI != nil, "ambassador": tr.Ambassador != nil, "appMesh": tr.AppMesh != nil,
		"traefik": tr.Traefik != nil, "apisix": tr.Apisix != nil} {
		if set {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "plugin"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// BlueGreenView shows the active and preview sides and whether the switch happened.
type BlueGreenView struct {
	ActiveService  string   `json:"activeService"`
	PreviewService string   `json:"previewService,omitempty"`
	Active         string   `json:"activeReplicaSet,omitempty"`
	ActiveImages   []string `json:"activeImages,omitempty"`
	Preview        string   `json:"previewReplicaSet,omitempty"`
	PreviewImages  []string `json:"previewImages,omitempty"`
	// Switched: the active service selects the current template (the new version is live).
	Switched bool `json:"switched"`
}

func blueGreenView(ro *v1alpha1.Rollout, sets []*appsv1.ReplicaSet) *BlueGreenView {
	bg := ro.Spec.Strategy.BlueGreen
	if bg == nil {
		return nil
	}
	st := ro.Status.BlueGreen
	v := &BlueGreenView{ActiveService: bg.ActiveService, PreviewService: bg.PreviewService,
		Switched: st.ActiveSelector != "" && st.ActiveSelector == ro.Status.CurrentPodHash}
	for _, rs := range sets {
		var imgs []string
		for _, c := range rs.Spec.Template.Spec.Containers {
			imgs = append(imgs, c.Image)
		}
		switch hashOf(rs) {
		case st.ActiveSelector:
			v.Active, v.ActiveImages = rs.Name, imgs
		case st.PreviewSelector:
			v.Preview, v.PreviewImages = rs.Name, imgs
		}
	}
	return v
}
