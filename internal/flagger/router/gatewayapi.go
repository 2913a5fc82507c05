package router

import (
	"context"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/traffic/common"
)

const gatewayCRDs = "the Gateway API CRDs"

// gatewayRouter manages the HTTPRoute <apex> of the gatewayapi providers.
type gatewayRouter struct {
	c        client.Client
	gvk      schema.GroupVersionKind
	provider string
	// timeouts is whether spec.service.timeout is written (Flagger's v1 router; its v1beta1
	// router leaves it out)
	timeouts bool
}

func newGatewayAPI(c client.Client, version string) *gatewayRouter {
	return &gatewayRouter{c: c, gvk: schema.GroupVersionKind{Group: gatewayv1.GroupName, Version: version, Kind: "HTTPRoute"},
		provider: "gatewayapi:" + version, timeouts: version == "v1"}
}

// Reconcile creates the HTTPRoute with all traffic to the primary, or rewrites its rules when
// they differ from the Canary's other than by weights (and, during session affinity, the
// sticky rule and cookie filters; during a mirrored analysis, the mirror filter).
func (r *gatewayRouter) Reconcile(ctx context.Context, cd *flaggerv1.Canary) error {
	b, err := newRouteBuilder(cd, r.provider, r.timeouts)
	if err != nil {
		return err
	}
	want := b.initial()
	apex, _, _ := cd.ServiceNames()
	labels, annotations := apexMetadata(cd)
	u, found, err := common.Get(ctx, r.c, r.gvk, cd.Namespace, apex, "", gatewayCRDs)
	if err != nil {
		return err
	}
	if !found {
		u = newObject(r.gvk, cd, apex, labels, annotations)
		if err := common.WriteMember(u, "spec", want); err != nil {
			return err
		}
		return create(ctx, r.c, u)
	}
	orig := u.DeepCopy()
	var have routeSpec
	if err := common.ReadMember("HTTPRoute", u, "spec", &have); err != nil {
		return err
	}
	if !cmp.Equal(have, want, r.ignored(cd)...) {
		want.carry(have)
		if err := common.WriteMember(u, "spec", want); err != nil {
			return err
		}
	}
	mergeMetadata(u, labels, annotations)
	return save(ctx, r.c, orig, u)
}

// ignored are the differences Reconcile leaves to SetRoutes.
func (r *gatewayRouter) ignored(cd *flaggerv1.Canary) []cmp.Option {
	opts := []cmp.Option{
		cmpopts.IgnoreTypes(common.Fields{}),
		cmpopts.IgnoreFields(backendRef{}, "Weight"),
		cmpopts.EquateEmpty(),
		cmp.Comparer(func(a, b *timeouts) bool { return requestTimeout(a) == requestTimeout(b) }),
	}
	if sa := sessionAffinity(cd); sa != nil {
		opts = append(opts,
			cmpopts.IgnoreSliceElements(func(x rule) bool { return x.sticky(sa.CookieName) }),
			cmpopts.IgnoreFields(backendRef{}, "Filters"))
	}
	if cd.Mirror() && inProgress(cd) {
		opts = append(opts, cmpopts.IgnoreFields(rule{}, "Filters"))
	}
	return opts
}

func requestTimeout(t *timeouts) gatewayv1.Duration {
	if t == nil || t.Request == nil {
		return ""
	}
	return *t.Request
}

// SetRoutes rewrites the HTTPRoute's rules with the weights, the mirror filter (blue/green
// only, as Flagger), the session-affinity rules and the A/B rules.
func (r *gatewayRouter) SetRoutes(ctx context.Context, cd *flaggerv1.Canary, primaryWeight, canaryWeight int, mirrored bool) error {
	b, err := newRouteBuilder(cd, r.provider, r.timeouts)
	if err != nil {
		return err
	}
	if mirrored && cd.Iterations() == 0 {
		return unsupportedf(cd, "spec.analysis.iterations", "the %s provider mirrors traffic in blue/green analyses only", r.provider)
	}
	u, have, err := r.read(ctx, cd)
	if err != nil {
		return err
	}
	orig := u.DeepCopy()
	want := b.routes(primaryWeight, canaryWeight, mirrored)
	want.carry(have)
	if err := common.WriteMember(u, "spec", want); err != nil {
		return err
	}
	return save(ctx, r.c, orig, u)
}

func (r *gatewayRouter) read(ctx context.Context, cd *flaggerv1.Canary) (*unstructured.Unstructured, routeSpec, error) {
	apex, _, _ := cd.ServiceNames()
	var spec routeSpec
	u, err := common.GetExisting(ctx, r.c, r.gvk, cd.Namespace, apex, "", gatewayCRDs)
	if err == nil {
		err = common.ReadMember("HTTPRoute", u, "spec", &spec)
	}
	return u, spec, err
}

// GetRoutes reads the weights of the rule that routes to both Services (with session
// affinity, the one whose canary backend sets the cookie) and whether a rule mirrors to the
// canary.
func (r *gatewayRouter) GetRoutes(ctx context.Context, cd *flaggerv1.Canary) (primaryWeight, canaryWeight int, mirrored bool, err error) {
	_, have, err := r.read(ctx, cd)
	if err != nil {
		return 0, 0, false, err
	}
	_, primary, canary := cd.ServiceNames()
	weights := func(x rule) {
		for _, ref := range x.BackendRefs {
			switch string(ref.Name) {
			case primary:
				primaryWeight = int(ptrValue(ref.Weight))
			case canary:
				canaryWeight = int(ptrValue(ref.Weight))
			}
		}
	}
	var cookieRule *rule
	for i, x := range have.Rules {
		if sessionAffinity(cd) != nil && hasBackendFilters(x) {
			cookieRule = &have.Rules[i]
		}
		if len(x.BackendRefs) == 2 {
			weights(x)
		}
		for _, f := range x.Filters {
			if f.Type == gatewayv1.HTTPRouteFilterRequestMirror && f.RequestMirror != nil && string(f.RequestMirror.BackendRef.Name) == canary {
				mirrored = true
			}
		}
	}
	if cookieRule != nil {
		weights(*cookieRule)
	}
	return primaryWeight, canaryWeight, mirrored, nil
}

func hasBackendFilters(x rule) bool {
	for _, ref := range x.BackendRefs {
		if len(ref.Filters) > 0 {
			return true
		}
	}
	return false
}

// ptrValue is *p, or 1 (the weight the HTTPRoute CRD defaults to) when p is nil.
func ptrValue(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// Finalize does nothing: Flagger leaves the HTTPRoute as it is (it goes with the Canary).
func (r *gatewayRouter) Finalize(context.Context, *flaggerv1.Canary) error { return nil }
