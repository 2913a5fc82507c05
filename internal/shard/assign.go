// Package shard splits the objects of one controller between its replicas (`vane controller
// --shards N`): each object belongs to one of N shards by a hash of its namespace and name, each
// shard is held by one replica at a time through a Lease, and a replica reconciles only the
// objects of the shards it holds. Replicas announce themselves with a member Lease each; every
// replica takes its fair share of the shards (Quota), gives back what it holds above it when
// another replica joins, and takes over the shards of a replica whose Leases expired.
package shard

import (
	"fmt"
	"hash/fnv"
	"slices"
)

// Of is the shard, among n, of the object namespace/name: FNV-1a of "namespace/name" modulo n.
// It is the same in every replica and every version of Vane, so that replicas of different
// versions agree during an upgrade.
func Of(namespace, name string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(namespace + "/" + name))
	return int(h.Sum32() % uint32(n))
}

// Quota is how many of n shards the replica me should hold when members are the live
// replicas: n divided by their number, the first n mod len(members) of them (in identity
// order) holding one more. A replica not among members (not announced yet) holds none.
func Quota(n int, me string, members []string) int {
	sorted := slices.Clone(members)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	rank := slices.Index(sorted, me)
	if rank < 0 {
		return 0
	}
	q := n / len(sorted)
	if rank < n%len(sorted) {
		q++
	}
	return q
}

// LeaseName is the name of the Lease that holds shard i of n; prefix tells controller
// instances apart ("vane-shard", or "vane-shard-<instance id>").
func LeaseName(prefix string, i, n int) string {
	return fmt.Sprintf("%s-%d-of-%d", prefix, i, n)
}
