package server

import (
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/cli"
	"github.com/vanedev/vane/internal/strategy"
)

// Summary is one rollout as the list shows it (and the JSON API returns it).
type Summary struct {
	Namespace    string  `json:"namespace"`
	Name         string  `json:"name"`
	Strategy     string  `json:"strategy"`
	Status       string  `json:"status"`
	Icon         string  `json:"icon"`
	Message      string  `json:"message,omitempty"`
	Step         int32   `json:"step"`
	Steps        int32   `json:"steps"`
	SetWeight    int32   `json:"setWeight"`
	ActualWeight int32   `json:"actualWeight"`
	Images       []Image `json:"images"`
	Ready        int32   `json:"ready"`
	Desired      int32   `json:"desired"`
	Paused       bool    `json:"paused"`
	Aborted      bool    `json:"aborted"`
	Generation   int64   `json:"generation"`
}

// Image is a container image with the role of the ReplicaSets running it.
type Image struct {
	Image string `json:"image"`
	Role  string `json:"role,omitempty"`
}

// Status words the dashboard shows.
const (
	stHealthy     = "Healthy"
	stProgressing = "Progressing"
	stPaused      = "Paused"
	stDegraded    = "Degraded"
)

var icons = map[string]string{stHealthy: "✔", stProgressing: "◌", stPaused: "‖", stDegraded: "✖"}

// StepText is "i/n" (or "-" for a rollout without steps).
func (s Summary) StepText() string {
	if s.Steps == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", s.Step, s.Steps)
}

// Canary reports a canary rollout.
func (s Summary) Canary() bool { return s.Strategy == "Canary" }

// summarize builds a rollout's summary from it and its ReplicaSets (any order).
func summarize(ro *v1alpha1.Rollout, sets []*appsv1.ReplicaSet) Summary {
	st := ro.Status
	s := Summary{Namespace: ro.Namespace, Name: ro.Name, Strategy: "BlueGreen", Status: string(st.Phase),
		Message: st.Message, Ready: st.ReadyReplicas, Desired: ro.Spec.EffectiveReplicas(),
		Paused: ro.Spec.Paused || len(st.PauseConditions) > 0, Aborted: st.Abort, Generation: ro.Generation}
	if s.Status == "" {
		s.Status = stProgressing
	}
	s.Icon = icons[s.Status]
	if s.Icon == "" {
		s.Icon = "?"
	}
	if c := ro.Spec.Strategy.Canary; c != nil {
		s.Strategy = "Canary"
		s.Step = ptr.Deref(st.CurrentStepIndex, 0)
		s.Steps = int32(len(c.Steps))
		s.SetWeight = strategy.CurrentWeight(c.Steps, s.Step)
		if st.Abort {
			s.SetWeight = 0
		}
		s.ActualWeight = cli.ActualWeight(ro, sets)
	}
	s.Images = images(ro, sets)
	return s
}

func hashOf(rs *appsv1.ReplicaSet) string { return rs.Labels[v1alpha1.PodTemplateHashLabel] }

// images lists the images of the ReplicaSets with pods (or the template's when none has).
func images(ro *v1alpha1.Rollout, sets []*appsv1.ReplicaSet) []Image {
	var out []Image
	seen := map[string]int{}
	for _, rs := range sets {
		r := cli.Roles(ro, rs)
		if len(r) == 0 || ptr.Deref(rs.Spec.Replicas, 0) == 0 && rs.Status.Replicas == 0 {
			continue
		}
		for _, c := range rs.Spec.Template.Spec.Containers {
			if i, ok := seen[c.Image]; ok {
				out[i].Role = joinRoles(out[i].Role, r)
				continue
			}
			seen[c.Image] = len(out)
			out = append(out, Image{Image: c.Image, Role: strings.Join(r, ", ")})
		}
	}
	if len(out) == 0 {
		for _, c := range ro.Spec.Template.Spec.Containers {
			out = append(out, Image{Image: c.Image})
		}
	}
	slices.SortFunc(out, func(a, b Image) int { return strings.Compare(a.Image, b.Image) })
	return out
}

func joinRoles(have string, more []string) string {
	parts := strings.Split(have, ", ")
	for _, m := range more {
		if !slices.Contains(parts, m) {
			parts = append(parts, m)
		}
	}
	return strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), ", ")
}

// controllerOf is the object's controlling owner, if any.
func controllerOf(o metav1.Object) *metav1.OwnerReference { return metav1.GetControllerOf(o) }
