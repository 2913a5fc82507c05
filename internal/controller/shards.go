package controller

import (
	"fmt"
	"os"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1beta1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/shard"
)

// inClusterNamespace is where a pod finds its own namespace.
const inClusterNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// shardNamespace is the namespace of the shards' Leases: the leader election namespace if
// given, else the pod's own, else the one the controller is limited to, else "default".
func shardNamespace(o Options) string {
	if o.LeaderElectionNamespace != "" {
		return o.LeaderElectionNamespace
	}
	if b, err := os.ReadFile(inClusterNamespace); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b))
	}
	if o.Namespace != "" {
		return o.Namespace
	}
	return "default"
}

// newRing adds a shard.Ring to mgr when o.Shards is set (nil otherwise). Its Leases are read
// and written directly (no informer on the cluster's Leases); the objects of a shard it takes
// over are listed from mgr's cache.
func newRing(mgr ctrl.Manager, o Options) (*shard.Ring, error) {
	if o.Shards == 0 {
		return nil, nil
	}
	if o.LeaderElection {
		return nil, fmt.Errorf("--shards and --leader-elect: each shard has its own Lease, and every replica acts on its shards; leave --leader-elect out")
	}
	c, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient()})
	if err != nil {
		return nil, fmt.Errorf("creating the shards' Lease client: %w", err)
	}
	ring, err := shard.NewRing(c, mgr.GetCache(), shard.Options{Shards: o.Shards, Namespace: shardNamespace(o),
		InstanceID: o.InstanceID, Identity: o.ShardIdentity})
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(ring); err != nil {
		return nil, fmt.Errorf("adding the shards: %w", err)
	}
	return ring, nil
}

// shardLists are the kinds each controller reconciles, by controller name: a taken shard's
// objects of that kind are enqueued in that controller.
var shardLists = map[string]func() client.ObjectList{
	"rollout":     func() client.ObjectList { return &v1alpha1.RolloutList{} },
	"analysisrun": func() client.ObjectList { return &v1alpha1.AnalysisRunList{} },
	"experiment":  func() client.ObjectList { return &v1alpha1.ExperimentList{} },
	"canary":      func() client.ObjectList { return &flaggerv1beta1.CanaryList{} },
}
