package cli

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1beta1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/gate"
)

// podinfoCanary is the Canary of Flagger's podinfo tutorial, with a status set as the
// controller would.
func podinfoCanary(phase flaggerv1beta1.CanaryPhase, weight, iterations, failed int32) *flaggerv1beta1.Canary {
	return &flaggerv1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test", CreationTimestamp: ago(time.Hour)},
		Spec: flaggerv1beta1.CanarySpec{
			TargetRef: flaggerv1beta1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   flaggerv1beta1.CanaryService{Port: 9898},
			Analysis: &flaggerv1beta1.CanaryAnalysis{Interval: "1m", Threshold: ptr.To[int32](5), MaxWeight: ptr.To[int32](50), StepWeight: ptr.To[int32](10),
				Webhooks: []flaggerv1beta1.CanaryWebhook{
					{Name: "gate", Type: "confirm-rollout", URL: "http://flagger-loadtester.test/gate/check"},
					{Name: "load-test", URL: "http://flagger-loadtester.test/"},
					{Name: "rollback", Type: "rollback", URL: "http://flagger-loadtester.test/rollback/check"},
				}},
		},
		Status: flaggerv1beta1.CanaryStatus{Phase: phase, CanaryWeight: weight, Iterations: iterations, FailedChecks: failed,
			LastTransitionTime: ptr.To(ago(3 * time.Minute)),
			Conditions: []flaggerv1beta1.CanaryCondition{{Type: "Promoted", Status: "Unknown", Reason: "Progressing",
				Message: "New revision detected, progressing canary analysis."}}},
	}
}

func service(name, ip string, port int32) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "test"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: ip,
			Ports: []corev1.ServicePort{{Port: port, Protocol: corev1.ProtocolTCP}}}}
}

func TestRenderCanary(t *testing.T) {
	blueGreen := podinfoCanary(flaggerv1beta1.CanaryPhase("Progressing"), 0, 3, 0)
	blueGreen.Spec.Provider = "kubernetes"
	blueGreen.Spec.Analysis = &flaggerv1beta1.CanaryAnalysis{Iterations: ptr.To[int32](10)}
	blueGreen.Spec.Suspend = ptr.To(true)
	daemons := podinfoCanary("", 0, 0, 0)
	daemons.Spec.TargetRef.Kind = "DaemonSet"
	daemons.Status = flaggerv1beta1.CanaryStatus{}
	daemons.Spec.Analysis = &flaggerv1beta1.CanaryAnalysis{StepWeights: []int32{5, 10, 20}}
	services := []ServiceInfo{{Role: RoleApex, Name: "podinfo", Service: service("podinfo", "10.0.0.10", 9898)},
		{Role: RolePrimary, Name: "podinfo-primary", Service: service("podinfo-primary", "10.0.0.11", 9898)},
		{Role: RoleCanary, Name: "podinfo-canary", Service: service("podinfo-canary", "10.0.0.12", 9898)}}
	deployments := []WorkloadInfo{{Role: RolePrimary, Kind: "Deployment", Name: "podinfo-primary", Found: true, Desired: 2, Ready: 2, Updated: 2, Available: 2},
		{Role: RoleCanary, Kind: "Deployment", Name: "podinfo", Found: true, Desired: 1, Ready: 0, Updated: 1}}
	tests := map[string]*CanaryInfo{
		// mid-analysis: weight 20 of steps of 10 up to 50, one failed check of five, the
		// confirmation gate open in the namespace's ConfigMap
		"flagger-progressing": {Canary: podinfoCanary("Progressing", 20, 0, 1), Workloads: deployments, Services: services,
			Gates: &CanaryGates{Confirm: true}},
		"flagger-succeeded": {Canary: podinfoCanary("Succeeded", 0, 0, 0), Workloads: deployments, Services: services},
		"flagger-failed": {Canary: podinfoCanary("Failed", 0, 0, 5), Workloads: deployments, Services: services,
			Gates: &CanaryGates{Rollback: true}},
		// iterations of a blue/green analysis: x/N; suspended; no gate ConfigMap readable
		"flagger-bluegreen-suspended": {Canary: blueGreen, Workloads: deployments, Services: services,
			GatesError: errors.New(`configmaps "vane-gate" is forbidden`)},
		// no controller has looked yet: nothing generated, no status
		"flagger-new-daemonset": {Canary: daemons, Services: []ServiceInfo{{Role: RoleApex, Name: "podinfo"},
			{Role: RolePrimary, Name: "podinfo-primary"}, {Role: RoleCanary, Name: "podinfo-canary"}},
			Workloads: []WorkloadInfo{{Role: RolePrimary, Kind: "DaemonSet", Name: "podinfo-primary"}, {Role: RoleCanary, Kind: "DaemonSet", Name: "podinfo"}}},
	}
	for name, info := range tests {
		for _, color := range []bool{false, true} {
			file := name + ".golden"
			if color {
				file = name + ".color.golden"
			}
			t.Run(file, func(t *testing.T) {
				var buf bytes.Buffer
				RenderCanary(&buf, info, now, color)
				checkGolden(t, file, buf.String())
			})
		}
	}
}

func TestRenderCanaryList(t *testing.T) {
	a := podinfoCanary("Progressing", 20, 0, 0)
	b := podinfoCanary("Succeeded", 0, 0, 0)
	b.Name, b.Namespace = "backend", "prod"
	c := podinfoCanary("", 0, 0, 0)
	c.Name, c.Status = "frontend", flaggerv1beta1.CanaryStatus{}
	tests := map[string]struct {
		items []flaggerv1beta1.Canary
		all   bool
	}{
		"flagger-list.golden":      {items: []flaggerv1beta1.Canary{*a, *c}},
		"flagger-list-all.golden":  {items: []flaggerv1beta1.Canary{*a, *b, *c}, all: true},
		"flagger-list-none.golden": {},
	}
	for file, tc := range tests {
		t.Run(file, func(t *testing.T) {
			var buf bytes.Buffer
			renderCanaryList(&buf, tc.items, tc.all)
			checkGolden(t, file, buf.String())
		})
	}
}

// TestCollectCanary reads what Flagger generates for a target: the primary and canary
// Deployments, the three Services (the apex named by spec.service.name), and the gates.
func TestCollectCanary(t *testing.T) {
	type got struct {
		Workloads []WorkloadInfo
		Services  map[string]bool // name: found
		Gates     *CanaryGates
	}
	deploy := func(name string, replicas, ready int32) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "test"},
			Spec:   appsv1.DeploymentSpec{Replicas: &replicas},
			Status: appsv1.DeploymentStatus{ReadyReplicas: ready, UpdatedReplicas: ready, AvailableReplicas: ready}}
	}
	gates := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: gate.ConfigMapName, Namespace: "test"},
		Data: map[string]string{"gate.podinfo": "open", "rollback.podinfo": "closed", "gate.other": "closed"}}
	named := podinfoCanary("Progressing", 10, 0, 0)
	named.Spec.Service.Name = "web"
	tests := map[string]struct {
		canary *flaggerv1beta1.Canary
		objs   []client.Object
		want   got
	}{
		"everything generated, gate open": {canary: podinfoCanary("Progressing", 10, 0, 0),
			objs: []client.Object{deploy("podinfo-primary", 2, 2), deploy("podinfo", 1, 0), service("podinfo", "10.0.0.1", 80),
				service("podinfo-primary", "10.0.0.2", 80), service("podinfo-canary", "10.0.0.3", 80), gates},
			want: got{Workloads: []WorkloadInfo{
				{Role: "primary", Kind: "Deployment", Name: "podinfo-primary", Found: true, Desired: 2, Ready: 2, Updated: 2, Available: 2},
				{Role: "canary", Kind: "Deployment", Name: "podinfo", Found: true, Desired: 1}},
				Services: map[string]bool{"podinfo": true, "podinfo-primary": true, "podinfo-canary": true},
				Gates:    &CanaryGates{Confirm: true}}},
		"nothing generated yet, no gate ConfigMap": {canary: named, objs: []client.Object{deploy("podinfo", 3, 3)},
			want: got{Workloads: []WorkloadInfo{
				{Role: "primary", Kind: "Deployment", Name: "podinfo-primary"},
				{Role: "canary", Kind: "Deployment", Name: "podinfo", Found: true, Desired: 3, Ready: 3, Updated: 3, Available: 3}},
				Services: map[string]bool{"web": false, "web-primary": false, "web-canary": false}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := fakeClient(t, append(tc.objs, tc.canary)...)
			info, err := CollectCanary(context.Background(), c, "test", "podinfo")
			if err != nil {
				t.Fatal(err)
			}
			g := got{Workloads: info.Workloads, Gates: info.Gates, Services: map[string]bool{}}
			for _, s := range info.Services {
				g.Services[s.Name] = s.Service != nil
			}
			if diff := cmp.Diff(tc.want, g); diff != "" {
				t.Errorf("collected (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExplainCanary: a cluster without Flagger's CRD is told as such (not as Argo's group
// missing); a missing canary names itself and the namespace.
func TestExplainCanary(t *testing.T) {
	o, _, _ := testOptions(nil)
	canaries := schema.GroupResource{Group: "flagger.app", Resource: "canaries"}
	tests := map[string]struct {
		err  error
		name string
		want string
	}{
		"no such kind": {err: &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "flagger.app", Kind: "Canary"}, SearchedVersions: []string{"v1beta1"}},
			want: "the cluster at https://127.0.0.1:6443 does not serve flagger.app/v1beta1 Canaries: the CRD canaries.flagger.app is not installed (kubectl apply -k config/crd)"},
		"no such canary": {err: apierrors.NewNotFound(canaries, "podinfo"), name: "podinfo",
			want: `canary "podinfo" not found in namespace "default"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, o.explainCanary(tc.err, "canary", tc.name).Error()); diff != "" {
				t.Errorf("explained (-want +got):\n%s", diff)
			}
		})
	}
}
