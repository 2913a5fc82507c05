package e2e

import (
	"context"
	"net/netip"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/internal/localcluster"
	"github.com/vanedev/vane/internal/testenv"
)

var (
	podRange     = netip.MustParsePrefix(localcluster.PodCIDR)
	serviceRange = netip.MustParsePrefix(localcluster.ServiceCIDR)
)

// TestDeploymentPodsBecomeReady: the controller-manager, scheduler and kwok turn a Deployment
// into Ready pods on kwok nodes, with pod IPs inside the loopback pod range.
func TestDeploymentPodsBecomeReady(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels),
		},
	}
	if err := env.Client.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	waitFor(t, 60*time.Second, "3 Ready replicas", func(ctx context.Context) (bool, error) {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(dep), dep); err != nil {
			return false, err
		}
		return dep.Status.ReadyReplicas == 3 && dep.Status.UpdatedReplicas == 3, nil
	})
	t.Logf("deployment of 3 replicas Ready %.2fs after creation", time.Since(t0).Seconds())

	var pods corev1.PodList
	if err := env.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 3 {
		t.Fatalf("want 3 pods, got %d", len(pods.Items))
	}
	for _, p := range pods.Items {
		if !podReady(&p) || p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s: phase %s, ready %v; want Running and Ready", p.Name, p.Status.Phase, podReady(&p))
		}
		var node corev1.Node
		if err := env.Client.Get(ctx, client.ObjectKey{Name: p.Spec.NodeName}, &node); err != nil {
			t.Errorf("pod %s: node %q: %v", p.Name, p.Spec.NodeName, err)
		} else if node.Annotations[localcluster.KwokNodeAnnotation] != "fake" {
			t.Errorf("pod %s runs on %s, which is not a kwok node", p.Name, node.Name)
		}
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil || !podRange.Contains(ip) {
			t.Errorf("pod %s: IP %q is not in %s", p.Name, p.Status.PodIP, podRange)
		}
	}
}

// TestPodReadinessControlledByLabel: a pod labelled vane.dev/kwok-ready=false runs but stays
// unready while an identical pod without the label becomes Ready; removing the label makes it Ready.
func TestPodReadinessControlledByLabel(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	ready := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ready", Namespace: ns}, Spec: podTemplate(nil).Spec}
	unready := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "unready", Namespace: ns,
		Labels: map[string]string{"vane.dev/kwok-ready": "false"}}, Spec: podTemplate(nil).Spec}
	for _, p := range []*corev1.Pod{unready, ready} {
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "pod 'ready' Ready and 'unready' Running", func(ctx context.Context) (bool, error) {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ready), ready); err != nil {
			return false, err
		}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(unready), unready); err != nil {
			return false, err
		}
		return podReady(ready) && unready.Status.Phase == corev1.PodRunning, nil
	})
	// Give kwok time to (wrongly) make it Ready: it handles both pods in the same pass.
	time.Sleep(time.Second)
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(unready), unready); err != nil {
		t.Fatal(err)
	}
	if podReady(unready) {
		t.Fatalf("pod labelled vane.dev/kwok-ready=false became Ready: %+v", unready.Status.Conditions)
	}
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"labels":{"vane.dev/kwok-ready":null}}}`))
	if err := env.Client.Patch(ctx, unready, patch); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "pod Ready once the label is gone", func(ctx context.Context) (bool, error) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(unready), unready)
		return err == nil && podReady(unready), err
	})
}

// TestJobResultControlledByLabel: a Job's pod succeeds, or fails when labelled
// vane.dev/kwok-job-result=failed, and the Job controller records the outcome.
func TestJobResultControlledByLabel(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	for name, want := range map[string]batchv1.JobConditionType{"passes": batchv1.JobComplete, "fails": batchv1.JobFailed} {
		tmpl := podTemplate(nil)
		tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
		if want == batchv1.JobFailed {
			tmpl.Labels = map[string]string{"vane.dev/kwok-job-result": "failed"}
		}
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Template: tmpl}}
		if err := env.Client.Create(ctx, job); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 60*time.Second, "job "+name+" "+string(want), func(ctx context.Context) (bool, error) {
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), job); err != nil {
				return false, err
			}
			for _, c := range job.Status.Conditions {
				if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
					if c.Type != want {
						t.Fatalf("job %s ended %s, want %s", name, c.Type, want)
					}
					return true, nil
				}
			}
			return false, nil
		})
	}
}

// TestServiceClusterIPInLoopbackRange: ClusterIPs come from the loopback service range.
func TestServiceClusterIPInLoopbackRange(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80}}}}
	if err := env.Client.Create(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || !serviceRange.Contains(ip) {
		t.Fatalf("ClusterIP %q is not in %s", svc.Spec.ClusterIP, serviceRange)
	}
}

// TestCustomResourceRoundTrip: a CRD with a schema and status subresource is served; an instance
// is created and read back; the schema rejects a wrong type with the apiserver's own message.
func TestCustomResourceRoundTrip(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.smoke.vane.dev"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "smoke.vane.dev",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: "Widget", ListKind: "WidgetList", Plural: "widgets", Singular: "widget"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"size": {Type: "integer", Minimum: ptr.To[float64](0)},
						}},
						"status": {Type: "object", XPreserveUnknownFields: ptr.To(true)},
					},
				}},
			}},
		},
	}
	if err := env.Client.Create(ctx, crd); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if err := testenv.WaitEstablished(ctx, env.Client, crd.Name); err != nil {
		t.Fatalf("CRD not established: %v", err)
	}
	w := &unstructured.Unstructured{}
	w.SetAPIVersion("smoke.vane.dev/v1")
	w.SetKind("Widget")
	w.SetNamespace(ns)
	w.SetName("w1")
	_ = unstructured.SetNestedField(w.Object, int64(3), "spec", "size")
	if err := env.Client.Create(ctx, w); err != nil {
		t.Fatal(err)
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(w.GroupVersionKind())
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "w1"}, got); err != nil {
		t.Fatal(err)
	}
	if size, _, _ := unstructured.NestedInt64(got.Object, "spec", "size"); size != 3 {
		t.Fatalf("read back spec.size=%d, want 3", size)
	}
	bad := w.DeepCopy()
	bad.SetName("w2")
	bad.SetResourceVersion("")
	_ = unstructured.SetNestedField(bad.Object, "three", "spec", "size")
	err := env.Client.Create(ctx, bad)
	if !apierrors.IsInvalid(err) {
		t.Fatalf("creating a widget with a string size: got %v, want an Invalid error", err)
	}
}

func podTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}}},
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitFor polls cond every 100ms until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond wait.ConditionWithContextFunc) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
