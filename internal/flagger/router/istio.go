package router

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/traffic/common"
)

const istioCRDs = "Istio's CRDs"

var (
	virtualServiceGVK  = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1alpha3", Kind: "VirtualService"}
	destinationRuleGVK = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1alpha3", Kind: "DestinationRule"}
)

// istioRouter manages the VirtualService <apex> and the DestinationRules <apex>-primary and
// <apex>-canary of the istio provider.
type istioRouter struct {
	c client.Client
}

func newIstio(c client.Client) *istioRouter { return &istioRouter{c: c} }

// Reconcile creates or updates the DestinationRules (host and spec.service.trafficPolicy) and
// the VirtualService. A VirtualService whose routes differ from the Canary's other than by
// weights and mirroring (and, with session affinity, the sticky route and cookie headers) gets
// the Canary's routes with all traffic to the primary; the spec it had is kept in the
// flagger.kubernetes.io/original-configuration annotation (unless kubectl's last-applied
// annotation holds it), which Finalize restores.
func (r *istioRouter) Reconcile(ctx context.Context, cd *flaggerv1.Canary) error {
	b, err := newVSBuilder(cd)
	if err != nil {
		return err
	}
	for _, name := range []string{b.canary, b.primary} {
		if err := r.reconcileDestinationRule(ctx, cd, name); err != nil {
			return err
		}
	}
	return r.reconcileVirtualService(ctx, cd, b)
}

func (r *istioRouter) reconcileDestinationRule(ctx context.Context, cd *flaggerv1.Canary, name string) error {
	want := drSpec{Host: name, TrafficPolicy: cd.Spec.Service.TrafficPolicy}
	u, found, err := common.Get(ctx, r.c, destinationRuleGVK, cd.Namespace, name, "", istioCRDs)
	if err != nil {
		return err
	}
	if !found {
		u = newObject(destinationRuleGVK, cd, name, nil, nil)
		if err := common.WriteMember(u, "spec", want); err != nil {
			return err
		}
		return create(ctx, r.c, u)
	}
	var have drSpec
	if err := common.ReadMember("DestinationRule", u, "spec", &have); err != nil {
		return err
	}
	if cmp.Equal(have, want, cmpopts.IgnoreTypes(common.Fields{}), cmpopts.EquateEmpty()) {
		return nil
	}
	orig := u.DeepCopy()
	want.Fields = extra[drSpec](have.Fields)
	if err := common.WriteMember(u, "spec", want); err != nil {
		return err
	}
	return save(ctx, r.c, orig, u)
}

func (r *istioRouter) reconcileVirtualService(ctx context.Context, cd *flaggerv1.Canary, b *vsBuilder) error {
	want := b.initial()
	labels, annotations := apexMetadata(cd)
	u, found, err := common.Get(ctx, r.c, virtualServiceGVK, cd.Namespace, b.apex, "", istioCRDs)
	if err != nil {
		return err
	}
	if !found {
		u = newObject(virtualServiceGVK, cd, b.apex, labels, annotations)
		if err := common.WriteMember(u, "spec", want); err != nil {
			return err
		}
		return create(ctx, r.c, u)
	}
	orig := u.DeepCopy()
	var have vsSpec
	if err := common.ReadMember("VirtualService", u, "spec", &have); err != nil {
		return err
	}
	compared := have
	if ptr.Deref(cd.Spec.Service.Delegation, false) {
		compared.Hosts, compared.Gateways = []string{}, nil
	}
	if !cmp.Equal(compared, want, r.ignored(cd)...) {
		if _, ok := u.GetAnnotations()[kubectlAnnotation]; !ok {
			spec, err := json.Marshal(u.Object["spec"])
			if err != nil {
				return fmt.Errorf("encoding the spec of VirtualService %s/%s: %w", u.GetNamespace(), u.GetName(), err)
			}
			annotations[configAnnotation] = string(spec)
		}
		want.Fields = extra[vsSpec](have.Fields)
		carryHTTP(want.HTTP, have.HTTP)
		carryTCP(want.TCP, have.TCP)
		if err := common.WriteMember(u, "spec", want); err != nil {
			return err
		}
	}
	mergeMetadata(u, labels, annotations)
	return save(ctx, r.c, orig, u)
}

// ignored are the differences Reconcile leaves to SetRoutes.
func (r *istioRouter) ignored(cd *flaggerv1.Canary) []cmp.Option {
	opts := []cmp.Option{
		cmpopts.IgnoreTypes(common.Fields{}),
		cmpopts.IgnoreFields(destination{}, "Weight"),
		cmpopts.IgnoreFields(httpRoute{}, "Mirror", "MirrorPercentage"),
		cmpopts.EquateEmpty(),
	}
	if sessionAffinity(cd) != nil {
		opts = append(opts,
			cmpopts.IgnoreSliceElements(func(h httpRoute) bool { return h.Name == stickyRouteName }),
			cmpopts.IgnoreFields(destination{}, "Headers"))
	}
	return opts
}

func (r *istioRouter) read(ctx context.Context, cd *flaggerv1.Canary) (*unstructured.Unstructured, vsSpec, error) {
	apex, _, _ := cd.ServiceNames()
	var spec vsSpec
	u, err := common.GetExisting(ctx, r.c, virtualServiceGVK, cd.Namespace, apex, "", istioCRDs)
	if err == nil {
		err = common.ReadMember("VirtualService", u, "spec", &spec)
	}
	return u, spec, err
}

// SetRoutes rewrites the VirtualService's HTTP routes (TCP routes for appProtocol tcp) with
// the weights, the mirror, the session-affinity routes and the A/B routes; its other members
// stay as they are.
func (r *istioRouter) SetRoutes(ctx context.Context, cd *flaggerv1.Canary, primaryWeight, canaryWeight int, mirrored bool) error {
	b, err := newVSBuilder(cd)
	if err != nil {
		return err
	}
	if mirrored && b.tcp {
		return unsupportedf(cd, "spec.service.appProtocol", "Istio mirrors HTTP traffic only, and the service is tcp")
	}
	u, spec, err := r.read(ctx, cd)
	if err != nil {
		return err
	}
	orig := u.DeepCopy()
	if b.tcp {
		routes := b.tcpRoutes(primaryWeight, canaryWeight)
		carryTCP(routes, spec.TCP)
		spec.TCP = routes
	} else {
		routes := b.httpRoutes(primaryWeight, canaryWeight, mirrored)
		carryHTTP(routes, spec.HTTP)
		spec.HTTP = routes
	}
	if err := common.WriteMember(u, "spec", spec); err != nil {
		return err
	}
	return save(ctx, r.c, orig, u)
}

// GetRoutes reads the weights of the (last) route with a canary destination (with session
// affinity, of the destinations that set the cookie) and whether that route mirrors.
func (r *istioRouter) GetRoutes(ctx context.Context, cd *flaggerv1.Canary) (primaryWeight, canaryWeight int, mirrored bool, err error) {
	b, err := newVSBuilder(cd)
	if err != nil {
		return 0, 0, false, err
	}
	u, spec, err := r.read(ctx, cd)
	if err != nil {
		return 0, 0, false, err
	}
	weigh := func(route []destination, cookieOnly bool) {
		for _, d := range route {
			if cookieOnly && d.Headers == nil {
				continue
			}
			switch d.Destination.Host {
			case b.primary:
				primaryWeight = d.Weight
			case b.canary:
				canaryWeight = d.Weight
			}
		}
	}
	if b.tcp {
		var route []destination
		for _, t := range spec.TCP {
			if routesTo(t.Route, b.canary) {
				route = t.Route
			}
		}
		weigh(route, false)
	} else {
		var last httpRoute
		for _, h := range spec.HTTP {
			if routesTo(h.Route, b.canary) {
				last = h
			}
		}
		weigh(last.Route, false)
		mirrored = last.Mirror != nil && last.Mirror.Host != ""
		if sessionAffinity(cd) != nil {
			for _, h := range spec.HTTP {
				weigh(h.Route, true)
			}
		}
	}
	if primaryWeight == 0 && canaryWeight == 0 {
		return 0, 0, false, common.Invalidf("VirtualService", u.GetNamespace(), u.GetName(), "spec",
			"has no route to %s and %s", b.primary, b.canary)
	}
	return primaryWeight, canaryWeight, mirrored, nil
}

func routesTo(route []destination, host string) bool {
	for _, d := range route {
		if d.Destination.Host == host {
			return true
		}
	}
	return false
}

// Finalize restores the VirtualService's spec that kubectl last applied, or else the one
// Reconcile kept in the original-configuration annotation; without either it does nothing.
func (r *istioRouter) Finalize(ctx context.Context, cd *flaggerv1.Canary) error {
	u, _, err := r.read(ctx, cd)
	if err != nil {
		return err
	}
	ann := u.GetAnnotations()
	var spec any
	switch {
	case ann[kubectlAnnotation] != "":
		var applied map[string]any
		if err := utiljson.Unmarshal([]byte(ann[kubectlAnnotation]), &applied); err != nil {
			return common.Invalidf("VirtualService", u.GetNamespace(), u.GetName(), "metadata.annotations["+kubectlAnnotation+"]",
				"cannot be decoded: %v", err)
		}
		spec = applied["spec"]
	case ann[configAnnotation] != "":
		if err := utiljson.Unmarshal([]byte(ann[configAnnotation]), &spec); err != nil {
			return common.Invalidf("VirtualService", u.GetNamespace(), u.GetName(), "metadata.annotations["+configAnnotation+"]",
				"cannot be decoded: %v", err)
		}
	default:
		log.FromContext(ctx).Info("VirtualService has no original configuration to revert to", "namespace", u.GetNamespace(), "name", u.GetName())
		return nil
	}
	orig := u.DeepCopy()
	u.Object["spec"] = spec
	return save(ctx, r.c, orig, u)
}
