package rollout

import (
	"encoding/binary"
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/davecgh/go-spew/spew"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/vanedev/vane/api/v1alpha1"
)

// PodTemplateHash computes the rollouts-pod-template-hash of a template the way Argo Rollouts
// (and Deployments) do: FNV-32a over a deterministic dump of the template, then the collision
// count as 8 little-endian bytes, printed as a decimal and safe-encoded.
func PodTemplateHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	t := template.DeepCopy()
	delete(t.Labels, v1alpha1.PodTemplateHashLabel)
	h := fnv.New32a()
	deepHash(h, *t)
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// deepHash writes a stable dump of obj: pointers followed, map keys sorted, no Stringer methods.
func deepHash(h hash.Hash, obj any) {
	h.Reset()
	printer := spew.ConfigState{Indent: " ", SortKeys: true, DisableMethods: true, SpewKeys: true}
	printer.Fprintf(h, "%#v", obj)
}

// fnvHash is FNV-32a over a stable dump of obj.
func fnvHash(obj any) uint32 {
	h := fnv.New32a()
	deepHash(h, obj)
	return h.Sum32()
}
