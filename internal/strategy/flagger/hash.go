package flagger

import (
	"fmt"
	"hash/fnv"

	"github.com/davecgh/go-spew/spew"
	"k8s.io/apimachinery/pkg/util/rand"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// Hash is Flagger's hash of a value (lastAppliedSpec, lastPromotedSpec, the webhook payload's
// checksum): FNV-32a over go-spew's sorted, method-free dump, written with Kubernetes' safe
// alphabet. For a pod template it matches Flagger's own when both are built with the same
// k8s.io/api types.
func Hash(v any) string {
	h := fnv.New32a()
	printer := spew.ConfigState{Indent: " ", SortKeys: true, DisableMethods: true, SpewKeys: true}
	printer.Fprintf(h, "%#v", v)
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// Checksum is the checksum a webhook payload carries: the hash of the tracked configs and the
// last applied spec.
func Checksum(s *flaggerv1.CanaryStatus) string {
	var tracked *map[string]string
	if s.TrackedConfigs != nil {
		m := s.TrackedConfigs
		tracked = &m
	}
	return Hash(struct {
		TrackedConfigs  *map[string]string
		LastAppliedSpec string
	}{tracked, s.LastAppliedSpec})
}
