package ship

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/internal/testenv"
	"github.com/vanedev/vane/internal/testenv/vaneproc"
)

// generateManifests runs what `make manifests` runs, for namespace ns, with the test image's
// digest, and returns the folder.
func generateManifests(t *testing.T, ns string) string {
	t.Helper()
	out := t.TempDir()
	if o, err := goRun(repoRoot(t), "./hack/image", "manifests", "-out", out, "-image-dir", builtImage(t),
		"-repo", "ghcr.io/vanedev/vane", "-namespace", ns); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	return out
}

func readManifests(t *testing.T, dir, file string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return decodeYAML(t, b)
}

// pinnedImage is the reference the manifests must use: the tag and the built index's digest.
func pinnedImage(t *testing.T) string {
	t.Helper()
	d, err := os.ReadFile(filepath.Join(builtImage(t), "digest"))
	if err != nil {
		t.Fatal(err)
	}
	return "ghcr.io/vanedev/vane:" + testVersion + "@" + strings.TrimSpace(string(d))
}

// TestInstallManifests: dist/install.yaml has what the issue lists, applies server-side with
// no warning (its Namespace enforces the restricted Pod Security Standard, so the
// Deployment's pods are checked against it), and the image's binary, run with the
// Deployment's arguments as the install's ServiceAccount, takes the leader Lease and runs a
// canary to completion.
func TestInstallManifests(t *testing.T) {
	env := testenv.Get(t)
	objs := readManifests(t, generateManifests(t, "vane-system"), "install.yaml")
	want := map[string]int{"CustomResourceDefinition": 8, "Namespace": 1, "ServiceAccount": 1, "ClusterRole": 2,
		"ClusterRoleBinding": 2, "Role": 1, "RoleBinding": 1, "Deployment": 1, "Service": 2, "PodDisruptionBudget": 1,
		"NetworkPolicy": 1, "ValidatingWebhookConfiguration": 1}
	for k, n := range want {
		if kinds(objs)[k] != n {
			t.Errorf("install.yaml: %d %s, want %d (all: %v)", kinds(objs)[k], k, n, kinds(objs))
		}
	}
	checkNetworkPolicy(t, find(t, objs, "NetworkPolicy", "vane-controller"))
	image, args := deploymentArgs(t, objs)
	if image != pinnedImage(t) {
		t.Errorf("Deployment image %s, want %s (pinned by digest)", image, pinnedImage(t))
	}
	applyServerSide(t, env, "install.yaml", objs)
	waitDeploymentAvailable(t, env, "vane-system", "vane-controller", 2)

	p := startController(t, hostBinary(t), args, serviceAccountKubeconfig(t, env, "vane-system", "vane-controller"))
	waitLease(t, env, "vane-system", "vane-controller-lock")
	runCanary(t, env, env.Namespace(t), "ship")
	if code, body := vaneproc.Get("http://" + p.metrics + "/metrics"); code != 200 || !strings.Contains(body, `controller_runtime_reconcile_total{controller="rollout"`) {
		t.Errorf("/metrics: %d, want 200 with the rollout controller's reconcile counts", code)
	}
}

// checkNetworkPolicy: ingress to the controller only on the metrics (8090) and webhook (9443)
// ports.
func checkNetworkPolicy(t *testing.T, np *unstructured.Unstructured) {
	t.Helper()
	rules, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
	var ports []string
	for _, r := range rules {
		ps, _, _ := unstructured.NestedSlice(r.(map[string]any), "ports")
		for _, p := range ps {
			ports = append(ports, fmt.Sprint(p.(map[string]any)["port"]))
		}
	}
	types, _, _ := unstructured.NestedStringSlice(np.Object, "spec", "policyTypes")
	if !slices.Equal(ports, []string{"8090", "9443"}) || !slices.Equal(types, []string{"Ingress"}) {
		t.Errorf("NetworkPolicy: ingress ports %v types %v, want [8090 9443] [Ingress]", ports, types)
	}
}

// TestNamespaceInstall: dist/namespace-install.yaml, for one namespace, applies with no
// warning; the controller it describes (a Role, --namespace) runs a canary in its namespace
// and leaves a Rollout in another namespace alone, where its ServiceAccount is refused.
func TestNamespaceInstall(t *testing.T) {
	env := testenv.Get(t)
	ns, other := env.Namespace(t), env.Namespace(t)
	objs := readManifests(t, generateManifests(t, ns), "namespace-install.yaml")
	if k := kinds(objs); k["Role"] != 2 || k["RoleBinding"] != 2 || k["ClusterRole"] != 2 || k["Namespace"] != 0 {
		t.Errorf("namespace-install.yaml: %v, want Roles (controller, webhook), ClusterRoles only to read ClusterAnalysisTemplates and patch its webhook configuration, no Namespace", k)
	}
	if rules, _, _ := unstructured.NestedSlice(find(t, objs, "ClusterRole", "vane-clusteranalysistemplates-reader").Object, "rules"); len(rules) != 1 {
		t.Errorf("the namespaced install's ClusterAnalysisTemplate reader has %d rules, want 1", len(rules))
	}
	webhookRole := find(t, objs, "ClusterRole", "vane-validating-webhook-"+ns)
	if names, _, _ := unstructured.NestedSlice(webhookRole.Object, "rules"); len(names) != 1 ||
		fmt.Sprint(names[0].(map[string]any)["resourceNames"]) != "[vane-validating-webhook-"+ns+"]" {
		t.Errorf("the namespaced install's webhook ClusterRole is not limited to its configuration: %v", names)
	}
	_, args := deploymentArgs(t, objs)
	if !slices.Contains(args, "--namespace="+ns) {
		t.Errorf("Deployment args %q lack --namespace=%s", args, ns)
	}
	applyServerSide(t, env, "namespace-install.yaml", objs)
	startController(t, hostBinary(t), args, serviceAccountKubeconfig(t, env, ns, "vane-controller"))

	ctx := context.Background()
	outside := canary(other, "outside", "registry.example/app:1")
	if err := env.Client.Create(ctx, outside); err != nil {
		t.Fatal(err)
	}
	runCanary(t, env, ns, "inside")
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(outside), outside); err != nil {
		t.Fatal(err)
	}
	var sets appsv1.ReplicaSetList
	if err := env.Client.List(ctx, &sets, client.InNamespace(other)); err != nil {
		t.Fatal(err)
	}
	if outside.Status.Phase != "" || len(sets.Items) != 0 {
		t.Errorf("the Rollout in namespace %s was acted on: phase %q, %d ReplicaSets", other, outside.Status.Phase, len(sets.Items))
	}
	sa := "system:serviceaccount:" + ns + ":vane-controller"
	for _, c := range []struct {
		ns, group, resource, sub, verb string
		allowed                        bool
	}{
		{ns, "apps", "replicasets", "", "create", true},
		{ns, "argoproj.io", "rollouts", "status", "patch", true},
		{other, "apps", "replicasets", "", "create", false},
		{other, "argoproj.io", "rollouts", "status", "patch", false},
		{other, "argoproj.io", "rollouts", "", "list", false},
	} {
		if got := can(t, env, sa, c.ns, c.group, c.resource, c.sub, c.verb); got != c.allowed {
			t.Errorf("%s %s %s/%s in %s: allowed=%v, want %v", sa, c.verb, c.resource, c.sub, c.ns, got, c.allowed)
		}
	}
}

// can asks the API server whether user may do verb on the resource in ns.
func can(t *testing.T, env *testenv.Env, user, ns, group, resource, sub, verb string) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               user,
		Groups:             []string{"system:serviceaccounts", "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Group: group, Resource: resource, Subresource: sub, Verb: verb},
	}}
	res, err := env.Clientset.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status.Allowed
}

func waitDeploymentAvailable(t *testing.T, env *testenv.Env, ns, name string, n int32) {
	t.Helper()
	d := &appsv1.Deployment{}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d); err == nil && d.Status.AvailableReplicas == n {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("Deployment %s/%s: %d available replicas, want %d (its pods must pass the restricted Pod Security Standard)", ns, name, d.Status.AvailableReplicas, n)
}

// waitLease waits until the leader Lease has a holder.
func waitLease(t *testing.T, env *testenv.Env, ns, name string) {
	t.Helper()
	l := &coordinationv1.Lease{}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, l); err == nil && ptr.Deref(l.Spec.HolderIdentity, "") != "" {
			t.Logf("leader Lease %s/%s held by %s", ns, name, *l.Spec.HolderIdentity)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("nobody holds the Lease %s/%s", ns, name)
}
