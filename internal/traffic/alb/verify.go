package alb

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// DefaultResourceIDTag is the tag the AWS Load Balancer Controller puts on a target group to
// name the Ingress, Service and port it is for ("<namespace>/<ingress>-<service>:<port>").
const DefaultResourceIDTag = "ingress.k8s.aws/resource"

// Verifier reads from AWS how a load balancer forwards traffic (Argo's target group
// verification). AWSVerifier implements it with the ELBv2 API.
type Verifier interface {
	// LoadBalancer finds the load balancer whose DNS name is dnsName; nil when there is none.
	LoadBalancer(ctx context.Context, dnsName string) (*LoadBalancer, error)
	// TargetGroups lists the load balancer's target groups with their tags, and the weight its
	// listeners' rules forward to each (nil when no rule forwards to it).
	TargetGroups(ctx context.Context, loadBalancerARN string) ([]TargetGroup, error)
}

// LoadBalancer is an AWS load balancer.
type LoadBalancer struct {
	Name, ARN, DNSName string
}

// TargetGroup is an AWS target group, its tags and the weight it is forwarded.
type TargetGroup struct {
	Name, ARN string
	Tags      map[string]string
	Weight    *int32
}

// Event is something the last VerifyWeight found worth telling, with Argo's reason.
type Event struct {
	Warning         bool
	Reason, Message string
}

// Report is what the last VerifyWeight learned from AWS: status.alb and status.albs (Argo's
// fields: the load balancer and the canary and stable target groups of each Ingress, the
// last one in ALB), and the events to record. Verified is false when AWS did not (yet)
// forward the weights; Checked says AWS was asked at all.
type Report struct {
	Checked, Verified bool
	ALB               *v1alpha1.ALBStatus
	ALBs              []v1alpha1.ALBStatus
	Events            []Event
}

// Report returns what the last VerifyWeight learned from AWS (nothing without a Verifier).
func (r *Router) Report() Report { return r.report }

// VerifyWeight reports whether every Ingress carries the root Service's action with these
// weights and, with a Verifier, at a setWeight step or at the end of an update (Argo's
// ShouldVerifyWeight), whether AWS forwards them: the canary's target group, and each
// additional destination's, has the weight on every Ingress's load balancer. Errors from AWS
// are not returned: they are events (TargetGroupVerifyError) and the weight is not verified.
func (r *Router) VerifyWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, additional []v1alpha1.WeightDestination) (bool, error) {
	ings, err := r.load(ctx, ro)
	if err != nil {
		return false, err
	}
	v := verification(ctx)
	verifier, tagKey := r.verifier, r.tagKey
	if verifier == nil && v != nil {
		verifier = v.Verifier
		if v.ResourceIDTag != "" {
			tagKey = v.ResourceIDTag
		}
	}
	ok := r.verify(ctx, ro, ings, verifier, tagKey, weight, additional)
	if v != nil {
		v.mu.Lock()
		v.reports = append(v.reports, r.report)
		v.mu.Unlock()
	}
	return ok, nil
}

// verify is VerifyWeight once the Ingresses are read.
func (r *Router) verify(ctx context.Context, ro *v1alpha1.Rollout, ings []*ingress, verifier Verifier, tagKey string,
	weight int32, additional []v1alpha1.WeightDestination) bool {
	k := key(ro, "actions", rootService(ro))
	want := weightedAction(ro, common.Split(ro, weight, additional))
	carried := true
	for _, ing := range ings {
		if !sameAction(ing.ann[k], want) {
			carried = false
		}
	}
	r.report = Report{ALB: ro.Status.ALB, ALBs: ro.Status.ALBs}
	if verifier == nil {
		r.report.ALB, r.report.ALBs = nil, nil
		return carried
	}
	if !shouldVerify(ro, weight) && (ro.Status.ALB != nil || ro.Status.ALBs != nil) {
		return carried
	}
	r.report = Report{Checked: true, ALB: &v1alpha1.ALBStatus{}, ALBs: make([]v1alpha1.ALBStatus, len(ings))}
	r.report.Verified = r.verifyAWS(ctx, ro, ings, verifier, tagKey, weight, additional)
	if !shouldVerify(ro, weight) {
		return carried // the status is filled in; nothing to wait for
	}
	return carried && r.report.Verified
}

// sameAction reports whether the annotation s is the action want (as JSON, whatever the
// spacing).
func sameAction(s, want string) bool {
	if s == want {
		return true
	}
	a, err := parseAction(s)
	b, _ := parseAction(want)
	return err == nil && reflect.DeepEqual(a, b)
}

// shouldVerify is Argo's ShouldVerifyWeight: during an update, at a setWeight step, or at the
// end of the steps with the full weight.
func shouldVerify(ro *v1alpha1.Rollout, weight int32) bool {
	st := ro.Status
	if st.StableRS == "" || st.StableRS == st.CurrentPodHash {
		return false
	}
	c := ro.Spec.Strategy.Canary
	idx := st.CurrentStepIndex
	if idx != nil && int(*idx) < len(c.Steps) {
		return c.Steps[*idx].SetWeight != nil
	}
	return weight == c.EffectiveMaxTrafficWeight()
}

// destination is a Service and the weight its target group must be forwarded.
type destination struct {
	svc string
	w   int32
}

// verifyAWS asks AWS, for each Ingress's load balancer (by the hostnames of its status),
// whether the canary's and the additional destinations' target groups have their weights.
func (r *Router) verifyAWS(ctx context.Context, ro *v1alpha1.Rollout, ings []*ingress, verifier Verifier, tagKey string,
	weight int32, additional []v1alpha1.WeightDestination) bool {
	stable, canary := services(ro)
	port := ro.Spec.Strategy.Canary.TrafficRouting.ALB.ServicePort
	verified := 0
	for i, ing := range ings {
		id := func(svc string) string { return fmt.Sprintf("%s/%s-%s:%d", ro.Namespace, ing.ref.name, svc, port) }
		wants := map[string]destination{id(canary): {canary, weight}}
		for _, d := range additional {
			wants[id(d.ServiceName)] = destination{d.ServiceName, d.Weight}
		}
		for _, host := range hostnames(ing) {
			lb, err := verifier.LoadBalancer(ctx, host)
			if err != nil {
				r.warn("TargetGroupVerifyError", "Failed to verify Service %s (TargetGroup %s): %s", canary, "unknown", err)
				return false
			}
			if lb == nil || lb.ARN == "" {
				r.warn("LoadBalancerNotFound", "Failed to find load balancer: %s", host)
				return false
			}
			r.report.ALBs[i].Ingress, r.report.ALB.Ingress = ing.ref.name, ing.ref.name
			loadBalancerStatus(&r.report.ALBs[i], lb)
			loadBalancerStatus(r.report.ALB, lb)
			tgs, err := verifier.TargetGroups(ctx, lb.ARN)
			if err != nil {
				r.warn("TargetGroupVerifyError", "Failed to verify Service %s (TargetGroup %s): %s", canary, "unknown", err)
				return false
			}
			for _, tg := range tgs {
				rid := tg.Tags[tagKey]
				for _, st := range []*v1alpha1.ALBStatus{&r.report.ALBs[i], r.report.ALB} {
					targetGroupStatus(st, tg, rid == id(canary), rid == id(stable))
				}
				want, ok := wants[rid]
				if !ok || tg.Weight == nil {
					continue
				}
				if *tg.Weight == want.w {
					verified++
					r.note("TargetGroupVerified", "Service %s (TargetGroup %s) verified: canary weight %d set", want.svc, tg.ARN, want.w)
				} else {
					r.warn("TargetGroupUnverified", "Service %s (TargetGroup %s) not verified: canary weight %d not yet set (current: %d)",
						want.svc, tg.ARN, want.w, *tg.Weight)
				}
			}
		}
	}
	return verified == len(ings)*(1+len(additional))
}

func (r *Router) note(reason, format string, args ...any) {
	r.report.Events = append(r.report.Events, Event{Reason: reason, Message: fmt.Sprintf(format, args...)})
}

func (r *Router) warn(reason, format string, args ...any) {
	r.report.Events = append(r.report.Events, Event{Warning: true, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

// hostnames are the load balancer hostnames of an Ingress's status.
func hostnames(ing *ingress) []string {
	list, _, _ := unstructured.NestedSlice(ing.orig.Object, "status", "loadBalancer", "ingress")
	var out []string
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			if h, ok := m["hostname"].(string); ok && h != "" {
				out = append(out, h)
			}
		}
	}
	return out
}

// loadBalancerStatus records the load balancer; its full name is the ARN's path after its
// type, as Argo takes it ("<name>/<id>" of ".../loadbalancer/app/<name>/<id>").
func loadBalancerStatus(st *v1alpha1.ALBStatus, lb *LoadBalancer) {
	st.LoadBalancer = v1alpha1.AwsResourceRef{Name: lb.Name, ARN: lb.ARN}
	if parts := strings.Split(lb.ARN, "/"); len(parts) > 2 {
		st.LoadBalancer.FullName = strings.Join(parts[2:], "/")
	}
}

// targetGroupStatus records tg as the canary's or the stable's target group (its full name
// is the ARN after "targetgroup/").
func targetGroupStatus(st *v1alpha1.ALBStatus, tg TargetGroup, canary, stable bool) {
	ref := v1alpha1.AwsResourceRef{Name: tg.Name, ARN: tg.ARN}
	if parts := strings.Split(tg.ARN, "/"); len(parts) > 1 {
		ref.FullName = strings.Join(parts[1:], "/")
	}
	switch {
	case canary:
		st.CanaryTargetGroup = ref
	case stable:
		st.StableTargetGroup = ref
	}
}

// Verification is target group verification for the routers a context reaches (see
// NewContext): the Verifier, the resource-id tag, and the reports of the VerifyWeight calls
// made with it. A caller that builds routers through traffic.New (without options) passes
// the verification this way.
type Verification struct {
	// Verifier asks AWS (nil: the annotations only, and status.alb is cleared).
	Verifier Verifier
	// ResourceIDTag is the target groups' resource-id tag (DefaultResourceIDTag when empty).
	ResourceIDTag string

	mu      sync.Mutex
	reports []Report
}

// Reports are the reports of the VerifyWeight calls made with v so far.
func (v *Verification) Reports() []Report {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.reports)
}

type verificationKey struct{}

// NewContext returns ctx carrying v: a Router without its own Verifier verifies with v's and
// adds its reports to v.
func NewContext(ctx context.Context, v *Verification) context.Context {
	return context.WithValue(ctx, verificationKey{}, v)
}

// verification is the Verification of ctx, or nil.
func verification(ctx context.Context) *Verification {
	v, _ := ctx.Value(verificationKey{}).(*Verification)
	return v
}
