package main

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"path/filepath"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/argoproj/argo-rollouts/utils/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/randfill"
)

// randomStepCases is how many random step lists steps.json holds.
const randomStepCases = 300

// StepCase is a list of canary steps, encoded as Argo encodes it, and Argo's step hash of it.
type StepCase struct {
	Steps    json.RawMessage `json:"steps"`
	StepHash string          `json:"stepHash"`
}

// writeRandomSteps writes steps.json: step lists with every field of Argo's step types filled
// at random (a fixed seed, so the file only changes with Argo's types), so that a field Vane's
// types lack or encode differently changes the hash.
func writeRandomSteps(dir string) error {
	f := randfill.NewWithSeed(12).NilChance(0.3).NumElements(0, 2).MaxDepth(8).Funcs(
		func(d *v1alpha1.DurationString, c randfill.Continue) {
			*d = v1alpha1.DurationString(fmt.Sprintf("%ds", c.Intn(600)))
		},
		func(v *intstr.IntOrString, c randfill.Continue) {
			if c.Bool() {
				*v = intstr.FromInt32(int32(c.Intn(600)))
			} else {
				*v = intstr.FromString(fmt.Sprintf("%dm", c.Intn(60)))
			}
		},
		func(m *json.RawMessage, c randfill.Continue) {
			*m = json.RawMessage(fmt.Sprintf(`{"k%d":[%d,"v"]}`, c.Intn(9), c.Intn(100)))
		},
		func(s *metav1.LabelSelector, c randfill.Continue) {
			s.MatchLabels = map[string]string{"app": fmt.Sprint("a", c.Intn(9))}
		},
		func(s *string, c randfill.Continue) { *s = randomWord(c.Rand) },
	)
	var cases []StepCase
	for range randomStepCases {
		var steps []v1alpha1.CanaryStep
		f.Fill(&steps)
		ro := &v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{
			Canary: &v1alpha1.CanaryStrategy{Steps: steps}}}}
		raw, err := json.Marshal(steps)
		if err != nil {
			return err
		}
		cases = append(cases, StepCase{Steps: raw, StepHash: conditions.ComputeStepHash(ro)})
	}
	return writeJSON(filepath.Join(dir, "steps.json"), cases)
}

// randomWord is a short printable word: the hash covers field names and structure, not exotic
// strings, which both sides escape with encoding/json alike.
func randomWord(r *rand.Rand) string {
	const letters = "abcdefghijklmnopqrstuvwxyz-"
	b := make([]byte, 1+r.Intn(6))
	for i := range b {
		b[i] = letters[r.Intn(len(letters))]
	}
	return string(b)
}
