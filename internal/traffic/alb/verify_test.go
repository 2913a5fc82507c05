package alb_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/alb"
	"github.com/vanedev/vane/internal/traffic/alb/albtest"
	"github.com/vanedev/vane/internal/traffic/routertest"
)

// verifyRollout is shop/web at its setWeight step (index 0, 20%) of an update from "s" to
// "c", weights recorded at 20.
func verifyRollout() *v1alpha1.Rollout {
	ro := routertest.Rollout(v1alpha1.RolloutTrafficRouting{ALB: &v1alpha1.ALBTrafficRouting{Ingress: "ingress", ServicePort: 80}})
	c := ro.Spec.Strategy.Canary
	c.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](20)}, {Pause: &v1alpha1.RolloutPause{}}}
	ro.Status.StableRS, ro.Status.CurrentPodHash, ro.Status.CurrentStepIndex = "s", "c", ptr.To[int32](0)
	return ro
}

// albIngress is the Ingress "ingress" at 20% whose status names the load balancer host.
func albIngress(host string) client.Object {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
		"metadata": map[string]any{"name": "ingress", "namespace": routertest.Namespace, "annotations": map[string]any{
			"alb.ingress.kubernetes.io/actions.stable": `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary","ServicePort":"80","Weight":20},{"ServiceName":"stable","ServicePort":"80","Weight":80}]}}`}},
		"spec": map[string]any{"rules": []any{map[string]any{"http": map[string]any{"paths": []any{map[string]any{"path": "/*", "pathType": "ImplementationSpecific",
			"backend": map[string]any{"service": map[string]any{"name": "stable", "port": map[string]any{"name": "use-annotation"}}}}}}}}}}}
	if host != "" {
		u.Object["status"] = map[string]any{"loadBalancer": map[string]any{"ingress": []any{map[string]any{"hostname": host}}}}
	}
	return u
}

// TestVerifyWithAWS runs the verification against the ELBv2 stand-in through the SDK.
func TestVerifyWithAWS(t *testing.T) {
	lb := albtest.ForIngress(routertest.Namespace, "ingress", 80, map[string]int32{"canary": 20, "stable": 80}, "canary", "stable")
	wantStatus := &v1alpha1.ALBStatus{Ingress: "ingress",
		LoadBalancer:      v1alpha1.AwsResourceRef{Name: lb.Name, ARN: lb.ARN, FullName: lb.Name + "/50dc6c495c0c9188"},
		CanaryTargetGroup: v1alpha1.AwsResourceRef{Name: lb.TargetGroups[0].Name, ARN: lb.TargetGroups[0].ARN, FullName: "k8s-shop-canary/73e2d6bc24d8a060"},
		StableTargetGroup: v1alpha1.AwsResourceRef{Name: lb.TargetGroups[1].Name, ARN: lb.TargetGroups[1].ARN, FullName: "k8s-shop-stable/73e2d6bc24d8a061"}}
	cases := map[string]struct {
		host       string
		awsWeights map[string]int32
		fail       string
		mod        func(*v1alpha1.Rollout)
		want       bool
		wantReport alb.Report
		wantCalls  []string
	}{
		"verified: the canary's target group is forwarded 20": {
			host: lb.DNSName, want: true,
			wantReport: alb.Report{Checked: true, Verified: true, ALB: wantStatus, ALBs: []v1alpha1.ALBStatus{*wantStatus},
				Events: []alb.Event{{Reason: "TargetGroupVerified", Message: "Service canary (TargetGroup " + lb.TargetGroups[0].ARN + ") verified: canary weight 20 set"}}},
			wantCalls: []string{"DescribeLoadBalancers", "DescribeTargetGroups", "DescribeTags", "DescribeListeners", "DescribeRules"},
		},
		"not yet verified: AWS still forwards 0": {
			host: lb.DNSName, awsWeights: map[string]int32{"canary": 0, "stable": 100},
			wantReport: alb.Report{Checked: true, ALB: wantStatus, ALBs: []v1alpha1.ALBStatus{*wantStatus},
				Events: []alb.Event{{Warning: true, Reason: "TargetGroupUnverified", Message: "Service canary (TargetGroup " + lb.TargetGroups[0].ARN + ") not verified: canary weight 20 not yet set (current: 0)"}}},
			wantCalls: []string{"DescribeLoadBalancers", "DescribeTargetGroups", "DescribeTags", "DescribeListeners", "DescribeRules"},
		},
		"no load balancer of that name": {
			host: "elsewhere.elb.amazonaws.com",
			wantReport: alb.Report{Checked: true, ALB: &v1alpha1.ALBStatus{}, ALBs: []v1alpha1.ALBStatus{{}},
				Events: []alb.Event{{Warning: true, Reason: "LoadBalancerNotFound", Message: "Failed to find load balancer: elsewhere.elb.amazonaws.com"}}},
			wantCalls: []string{"DescribeLoadBalancers"},
		},
		"no load balancer allocated yet": {
			wantReport: alb.Report{Checked: true, ALB: &v1alpha1.ALBStatus{}, ALBs: []v1alpha1.ALBStatus{{}}},
		},
		"AWS refuses: an event, not verified, no error": {
			host: lb.DNSName, fail: "AccessDenied",
			wantReport: alb.Report{Checked: true, ALB: &v1alpha1.ALBStatus{}, ALBs: []v1alpha1.ALBStatus{{}},
				Events: []alb.Event{{Warning: true, Reason: "TargetGroupVerifyError",
					Message: "Failed to verify Service canary (TargetGroup unknown): DescribeLoadBalancers: operation error Elastic Load Balancing v2: DescribeLoadBalancers, https response error StatusCode: 400, RequestID: req-1, api error AccessDenied: stand-in failure of DescribeLoadBalancers"}}},
			wantCalls: []string{"DescribeLoadBalancers"},
		},
		"at a pause with the status known: no call to AWS": {
			host: lb.DNSName, awsWeights: map[string]int32{"canary": 0},
			mod: func(ro *v1alpha1.Rollout) {
				ro.Status.CurrentStepIndex, ro.Status.ALB = ptr.To[int32](1), wantStatus
			},
			want: true, wantReport: alb.Report{ALB: wantStatus},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			elb := albtest.Start(t, lb)
			if tc.awsWeights != nil {
				elb.SetWeights(lb.DNSName, tc.awsWeights)
			}
			if tc.fail != "" {
				elb.Fail("DescribeLoadBalancers", tc.fail)
			}
			ro := verifyRollout()
			if tc.mod != nil {
				tc.mod(ro)
			}
			r, err := alb.New(ro, routertest.Client(t, albIngress(tc.host)), alb.WithVerifier(elb.Verifier(t)))
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.VerifyWeight(context.Background(), ro, 20, nil)
			if err != nil || got != tc.want {
				t.Errorf("VerifyWeight = %v, %v; want %v", got, err, tc.want)
			}
			if diff := cmp.Diff(tc.wantReport, r.Report()); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantCalls, elb.Calls()); diff != "" {
				t.Errorf("ELBv2 calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVerifyWithoutVerifier: without --aws-verify-target-group the status fields are cleared
// and only the annotations count, as in Argo.
func TestVerifyWithoutVerifier(t *testing.T) {
	ro := verifyRollout()
	ro.Status.ALB = &v1alpha1.ALBStatus{Ingress: "ingress"}
	r, err := alb.New(ro, routertest.Client(t, albIngress("")))
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.VerifyWeight(context.Background(), ro, 20, nil)
	if err != nil || !got {
		t.Errorf("VerifyWeight = %v, %v; want true", got, err)
	}
	if diff := cmp.Diff(alb.Report{}, r.Report()); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}

// TestVerifyThroughContext: a router built without options (as traffic.New builds it)
// verifies with the Verification its context carries, and reports there.
func TestVerifyThroughContext(t *testing.T) {
	lb := albtest.ForIngress(routertest.Namespace, "ingress", 80, map[string]int32{"canary": 0, "stable": 100}, "canary", "stable")
	cases := map[string]struct {
		awsCanary    int32
		want         bool
		wantVerified bool
	}{
		"AWS forwards the canary 20": {awsCanary: 20, want: true, wantVerified: true},
		"AWS still forwards 0":       {awsCanary: 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			elb := albtest.Start(t, lb)
			elb.SetWeights(lb.DNSName, map[string]int32{"canary": tc.awsCanary})
			ro := verifyRollout()
			r, err := alb.New(ro, routertest.Client(t, albIngress(lb.DNSName)))
			if err != nil {
				t.Fatal(err)
			}
			v := &alb.Verification{Verifier: elb.Verifier(t), ResourceIDTag: alb.DefaultResourceIDTag}
			got, err := r.VerifyWeight(alb.NewContext(context.Background(), v), ro, 20, nil)
			if err != nil || got != tc.want {
				t.Errorf("VerifyWeight = %v, %v; want %v", got, err, tc.want)
			}
			reports := v.Reports()
			if len(reports) != 1 || !reports[0].Checked || reports[0].Verified != tc.wantVerified {
				t.Errorf("reports %+v; want one, checked, verified %v", reports, tc.wantVerified)
			}
		})
	}
}
