package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1beta1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/gate"
)

// CanaryInfo is everything `get canary` shows: a Flagger Canary, the workloads and Services
// Flagger makes for its target, and its gates in `vane gate`'s ConfigMap.
type CanaryInfo struct {
	Canary *flaggerv1beta1.Canary
	// Workloads are the primary (<target>-primary) and the canary (<target>) workloads of a
	// Deployment or DaemonSet target; none for a Service target.
	Workloads []WorkloadInfo
	// Services are the apex, primary and canary Services, in that order.
	Services []ServiceInfo
	// Gates is the canary's gates, nil when the namespace has no gate ConfigMap.
	Gates *CanaryGates
	// GatesError says why the gates could not be read (forbidden...); the rest is shown.
	GatesError error
}

// WorkloadInfo is the primary or the canary workload of a Canary.
type WorkloadInfo struct {
	Role, Kind, Name string
	// Found is false when the workload does not exist (yet).
	Found                              bool
	Desired, Ready, Updated, Available int32
}

// ServiceInfo is one of a Canary's Services.
type ServiceInfo struct {
	Role, Name string
	// Service is nil when the Service does not exist (yet).
	Service *corev1.Service
}

// CanaryGates is the state of a canary's gates as `vane gate` keeps it (internal/gate).
type CanaryGates struct {
	// Confirm is the confirmation gate /gate/check answers (confirm-rollout and the other
	// confirm-* webhooks pointed at it).
	Confirm bool `json:"confirm"`
	// Rollback is the switch /rollback/check answers.
	Rollback bool `json:"rollback"`
}

// Roles of a Canary's workloads and Services.
const (
	RoleApex    = "apex"
	RolePrimary = "primary"
	RoleCanary  = "canary"
)

// CollectCanary reads a Canary, its workloads, Services and gates. A missing workload or
// Service is reported as such, not as an error; a gate ConfigMap that cannot be read is noted
// in GatesError.
func CollectCanary(ctx context.Context, c client.Client, ns, name string) (*CanaryInfo, error) {
	cn := &flaggerv1beta1.Canary{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cn); err != nil {
		return nil, err
	}
	info := &CanaryInfo{Canary: cn}
	var err error
	if info.Workloads, err = canaryWorkloads(ctx, c, cn); err != nil {
		return nil, err
	}
	apex, primary, canary := CanaryServiceNames(cn)
	for _, s := range []ServiceInfo{{Role: RoleApex, Name: apex}, {Role: RolePrimary, Name: primary}, {Role: RoleCanary, Name: canary}} {
		svc := &corev1.Service{}
		switch err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: s.Name}, svc); {
		case err == nil:
			s.Service = svc
		case !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("reading Service %s/%s: %w", ns, s.Name, err)
		}
		info.Services = append(info.Services, s)
	}
	info.Gates, info.GatesError = ReadGates(ctx, c, ns, name)
	return info, nil
}

// canaryWorkloads reads the primary and canary Deployments (or DaemonSets) of the target.
func canaryWorkloads(ctx context.Context, c client.Client, cn *flaggerv1beta1.Canary) ([]WorkloadInfo, error) {
	kind, target := cn.Spec.TargetRef.Kind, cn.Spec.TargetRef.Name
	if kind != "Deployment" && kind != "DaemonSet" {
		return nil, nil
	}
	var out []WorkloadInfo
	for _, w := range []WorkloadInfo{{Role: RolePrimary, Kind: kind, Name: target + "-primary"}, {Role: RoleCanary, Kind: kind, Name: target}} {
		key := client.ObjectKey{Namespace: cn.Namespace, Name: w.Name}
		var err error
		if kind == "Deployment" {
			d := &appsv1.Deployment{}
			if err = c.Get(ctx, key, d); err == nil {
				w.Found, w.Desired, w.Ready, w.Updated, w.Available = true, replicasOf(d.Spec.Replicas), d.Status.ReadyReplicas,
					d.Status.UpdatedReplicas, d.Status.AvailableReplicas
			}
		} else {
			ds := &appsv1.DaemonSet{}
			if err = c.Get(ctx, key, ds); err == nil {
				st := ds.Status
				w.Found, w.Desired, w.Ready, w.Updated, w.Available = true, st.DesiredNumberScheduled, st.NumberReady,
					st.UpdatedNumberScheduled, st.NumberAvailable
			}
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading %s %s/%s: %w", kind, cn.Namespace, w.Name, err)
		}
		out = append(out, w)
	}
	return out, nil
}

// replicasOf is a Deployment's spec.replicas (1 when unset, as the API server defaults it).
func replicasOf(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// ReadGates reads a canary's gates from the ConfigMap internal/gate keeps them in: nil when
// the namespace has no such ConfigMap (no gate was ever set there), else the confirmation gate
// and the rollback switch as /gate/check and /rollback/check would answer.
func ReadGates(ctx context.Context, c client.Client, ns, name string) (*CanaryGates, error) {
	var cm corev1.ConfigMap
	switch err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: gate.ConfigMapName}, &cm); {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading ConfigMap %s/%s: %w", ns, gate.ConfigMapName, err)
	}
	store := &gate.ConfigMapStore{Client: c}
	confirm, err := store.IsOpen(ctx, gate.Key{Kind: gate.Confirm, Namespace: ns, Name: name})
	if err != nil {
		return nil, err
	}
	rollback, err := store.IsOpen(ctx, gate.Key{Kind: gate.Rollback, Namespace: ns, Name: name})
	if err != nil {
		return nil, err
	}
	return &CanaryGates{Confirm: confirm, Rollback: rollback}, nil
}

// CanaryServiceNames are the apex Service (spec.service.name, else the target's name) and
// the primary and canary Services Flagger names after it (-primary, -canary).
func CanaryServiceNames(cn *flaggerv1beta1.Canary) (apex, primary, canary string) {
	apex = cn.Spec.TargetRef.Name
	if cn.Spec.Service.Name != "" {
		apex = cn.Spec.Service.Name
	}
	return apex, apex + "-primary", apex + "-canary"
}

// GetCanary prints a Canary as `get canary` shows it; with watch it keeps printing until ctx
// ends, as GetRollout does: redrawn in place on a terminal, a new frame only when something
// changed otherwise.
func GetCanary(ctx context.Context, o *Options, name string, watch bool) error {
	collect := func() (*CanaryInfo, error) {
		info, err := CollectCanary(ctx, o.Client, o.Namespace, name)
		return info, o.explainCanary(err, "canary", name)
	}
	return showFrames(ctx, o, watch, collect, RenderCanary)
}

// ListCanaries prints a table of the Canaries in the namespace (or all, with -A) with the
// columns of `kubectl get canaries`; with watch it prints it again whenever it changes.
func ListCanaries(ctx context.Context, o *Options, watch bool) error {
	collect := func() ([]flaggerv1beta1.Canary, error) {
		var list flaggerv1beta1.CanaryList
		var opts []client.ListOption
		if !o.AllNamespaces {
			opts = append(opts, client.InNamespace(o.Namespace))
		}
		err := o.Client.List(ctx, &list, opts...)
		return list.Items, o.explainCanary(err, "canaries", "")
	}
	render := func(w io.Writer, items []flaggerv1beta1.Canary, _ time.Time, _ bool) {
		renderCanaryList(w, items, o.AllNamespaces)
	}
	return showFrames(ctx, o, watch, collect, render)
}

// explainCanary is Explain, with a cluster that does not serve flagger.app/v1beta1 told as
// such (Explain names Argo's group).
func (o *Options) explainCanary(err error, kind, name string) error {
	if meta.IsNoMatchError(err) || discovery.IsGroupDiscoveryFailedError(err) {
		return fmt.Errorf("the cluster at %s does not serve %s Canaries: the CRD canaries.flagger.app is not installed (kubectl apply -k config/crd)",
			o.Server, flaggerv1beta1.GroupVersion)
	}
	return o.Explain(err, kind, name)
}
