// Package podhash computes the two hashes Argo Rollouts writes into the objects it manages, with
// Argo's algorithm, so that a controller switch in either direction finds its ReplicaSets and
// its step bookkeeping where the other left them:
//
//   - the rollouts-pod-template-hash label (ReplicaSet names, Services' selectors,
//     status.currentPodHash, status.stableRS, AnalysisRun and Experiment names);
//   - status.currentStepHash, which tells whether the canary steps changed.
//
// Both are FNV-32a over the encoding/json encoding of the object, printed as a decimal and
// safe-encoded (k8s.io/apimachinery/pkg/util/rand). testdata/argo/hashes.json holds the values
// Argo's own code computes for a corpus of templates and step lists (`make argo-golden`).
package podhash

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"

	"github.com/davecgh/go-spew/spew"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Template returns the rollouts-pod-template-hash of a Rollout's pod template (or of the
// template its workloadRef resolves to), as Argo computes it: the template is hashed exactly as
// the Rollout carries it, then the collision count, when set, as 8 little-endian bytes.
func Template(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	h.Write(mustJSON(template))
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// Steps returns status.currentStepHash for a canary's steps as Argo computes it. A nil list and
// an empty one hash differently, as they do in Argo (JSON null and []). It fails only for a
// step that does not encode (a plugin config that is not JSON).
func Steps(steps []v1alpha1.CanaryStep) (string, error) {
	b, err := json.Marshal(steps)
	if err != nil {
		return "", fmt.Errorf("encoding the canary steps: %w", err)
	}
	h := fnv.New32a()
	h.Write(b)
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32())), nil
}

// mustJSON encodes a pod template. Its types hold nothing that fails to encode (their only
// custom encoders, for quantities, times and int-or-strings, return no error).
func mustJSON(v *corev1.PodTemplateSpec) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("podhash: encoding a pod template: %v", err))
	}
	return b
}

// Legacy returns the hash Kubernetes' Deployment controller gives a template (FNV-32a over a
// deterministic dump of the Go value, then the collision count), which Vane also used before it
// hashed as Argo does. Argo looks a rollout's ReplicaSet up by this hash when its own finds
// none, and so does Vane: ReplicaSets named that way are adopted, not replaced.
func Legacy(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	printer := spew.ConfigState{Indent: " ", SortKeys: true, DisableMethods: true, SpewKeys: true}
	printer.Fprintf(h, "%#v", *template)
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}
