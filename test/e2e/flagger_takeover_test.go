package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/api/v1alpha1"
)

// TestFlaggerTakeover: a Canary that Flagger promoted (its status carries Flagger's hashes, the
// primary runs the target's template) is taken over without a new analysis and without touching
// the primary; the next image change is analysed as usual.
func TestFlaggerTakeover(t *testing.T) {
	t.Parallel()
	env := withController(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	target := apiGatewayDeployment(ns, "registry.example/api-gateway:1.0")
	target.Spec.Replicas = new(int32)
	must(t, "target", env.Client.Create(ctx, target))
	primary := apiGatewayDeployment(ns, "registry.example/api-gateway:1.0")
	primary.Name, primary.Labels = "api-gateway-primary", map[string]string{"app": "api-gateway-primary"}
	primary.Spec.Selector.MatchLabels = map[string]string{"app": "api-gateway-primary"}
	primary.Spec.Template.Labels = map[string]string{"app": "api-gateway-primary"}
	primary.Spec.Template.Annotations = map[string]string{"flagger-id": "0f6ad1e2-5c3b-4d7e-9a41-7b2d8c1e4f60"}
	must(t, "primary", env.Client.Create(ctx, primary))

	// created for another controller instance, so that Vane leaves it until its status is Flagger's
	cd := seedCanaryIn(t, env, ns, func(cd *flaggerv1.Canary) {
		cd.Spec.Analysis.Interval, cd.Spec.Analysis.Webhooks = "1s", nil
		cd.Labels = map[string]string{v1alpha1.InstanceIDLabel: "flagger"}
	})
	must(t, "Canary", env.Client.Create(ctx, cd))
	now := metav1.Now()
	cd.Status = flaggerv1.CanaryStatus{Phase: flaggerv1.PhaseSucceeded, LastAppliedSpec: "5f9c7d8b6", LastPromotedSpec: "5f9c7d8b6",
		LastTransitionTime: &now, Conditions: []flaggerv1.CanaryCondition{{Type: "Promoted", Status: "True", Reason: "Succeeded",
			Message: "Canary analysis completed successfully, promotion finished."}}}
	must(t, "Flagger's status", env.Client.Status().Update(ctx, cd))
	patch := client.MergeFrom(cd.DeepCopy())
	cd.Labels = nil
	must(t, "handing the Canary to Vane", env.Client.Patch(ctx, cd, patch))

	waitCanary(t, env, ns, "api-gateway", 30*time.Second, "Vane's hash adopted", func(cd *flaggerv1.Canary) bool {
		return cd.Status.LastAppliedSpec != "5f9c7d8b6"
	})
	time.Sleep(3 * time.Second)
	got := waitCanary(t, env, ns, "api-gateway", 10*time.Second, "still Succeeded", phaseIs(flaggerv1.PhaseSucceeded))
	if got.Status.LastPromotedSpec != got.Status.LastAppliedSpec {
		t.Errorf("lastPromotedSpec %s, lastAppliedSpec %s: want the same", got.Status.LastPromotedSpec, got.Status.LastAppliedSpec)
	}
	p := deployment(t, env, ns, "api-gateway-primary")
	if p.Spec.Template.Annotations["flagger-id"] != "0f6ad1e2-5c3b-4d7e-9a41-7b2d8c1e4f60" || p.Generation != 1 {
		t.Errorf("the primary was rewritten (generation %d, annotations %v)", p.Generation, p.Spec.Template.Annotations)
	}
	if r := replicas(deployment(t, env, ns, "api-gateway")); r != 0 {
		t.Errorf("the target was scaled to %d", r)
	}
	if events := canaryEvents(t, env, ns, "api-gateway"); slices.ContainsFunc(events, func(e string) bool {
		return strings.Contains(e, "New revision detected")
	}) {
		t.Errorf("an analysis started:\n%s", strings.Join(events, "\n"))
	}

	setDeploymentImage(t, env, ns, "api-gateway", "registry.example/api-gateway:2.0")
	waitCanary(t, env, ns, "api-gateway", 60*time.Second, "Succeeded with 2.0", func(cd *flaggerv1.Canary) bool {
		return cd.Status.Phase == flaggerv1.PhaseSucceeded && image(deployment(t, env, ns, "api-gateway-primary")) == "registry.example/api-gateway:2.0"
	})
}
