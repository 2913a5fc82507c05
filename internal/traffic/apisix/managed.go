package apisix

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// headerWeight is the canary backend's weight in a header route, where it is the only backend
// of the Rollout's (Argo writes 100).
const headerWeight = 100

// lastApplied is kubectl's record of what was applied to an object; a header route, which
// nobody applied, does not copy it from the Rollout's ApisixRoute.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// SetHeaderRoute keeps the ApisixRoute named after the managed route: a copy of the Rollout's
// ApisixRoute (its spec, labels and annotations), owned by the Rollout, whose configured rules
// send the requests that have the step's headers (match.exprs, Header Equal or RegexMatch)
// to the canary Service alone, one priority above the rule they copy. It is created when
// missing (also when someone deleted it) and brought back to that shape otherwise. A step
// without match deletes it.
func (r *Router) SetHeaderRoute(ctx context.Context, ro *v1alpha1.Rollout, hr *v1alpha1.SetHeaderRoute) error {
	if hr == nil {
		return nil
	}
	_, tr, _ := common.Canary(ro)
	if err := common.CheckManagedRoute(ro, tr, "setHeaderRoute", hr.Name); err != nil {
		return err
	}
	exprs, err := headerExprs(ro, hr.Match)
	if err != nil {
		return err
	}
	base, err := r.load(ctx, ro)
	if err != nil {
		return err
	}
	cur, err := r.managed(ctx, ro, hr.Name)
	if err != nil {
		return err
	}
	if len(hr.Match) == 0 {
		if cur == nil {
			return nil
		}
		return r.delete(ctx, cur)
	}
	spec, err := headerSpec(base, exprs)
	if err != nil {
		return err
	}
	if cur == nil {
		return r.create(ctx, ro, base.orig, hr.Name, spec)
	}
	obj := cur.DeepCopy()
	if err := common.WriteMember(obj, "spec", spec); err != nil {
		return err
	}
	return common.Patch(ctx, r.c, cur, obj)
}

// managed reads the ApisixRoute of managed route name: nil when there is none; one the
// Rollout does not control is a Conflict.
func (r *Router) managed(ctx context.Context, ro *v1alpha1.Rollout, name string) (*unstructured.Unstructured, error) {
	u, found, err := common.Get(ctx, r.c, gvk, ro.Namespace, name, common.TrafficRoutingPath+".managedRoutes[].name", crds)
	if err != nil || !found {
		return nil, err
	}
	if !common.ControlledBy(u, ro) {
		return nil, common.Conflictf(kind, ro.Namespace, name,
			"exists and is not controlled by Rollout %q; the header route %q needs an ApisixRoute of that name", ro.Name, name)
	}
	return u, nil
}

// headerSpec is the spec of a header route: the Rollout's ApisixRoute's, in which every
// configured rule has lost its stable backend, gives the canary backend headerWeight, has one
// priority more, and matches exprs.
func headerSpec(base *loaded, exprs []expr) (routeSpec, error) {
	var spec routeSpec
	raw, err := common.Encode(base.spec)
	if err == nil {
		err = common.Decode(raw, &spec, "spec") // a copy: the views' lists are not shared
	}
	if err != nil {
		return spec, fmt.Errorf("copying the spec of ApisixRoute %s/%s: %w", base.orig.GetNamespace(), base.orig.GetName(), err)
	}
	for _, ref := range base.rules {
		rl := &spec.HTTP[ref.index]
		canary := rl.Backends[ref.canary]
		canary.Weight = ptr64(headerWeight)
		var bs []backend
		for i, b := range rl.Backends {
			switch i {
			case ref.stable:
			case ref.canary:
				bs = append(bs, canary)
			default:
				bs = append(bs, b)
			}
		}
		rl.Backends = bs
		var p int64
		if rl.Priority != nil {
			p = *rl.Priority
		}
		rl.Priority = ptr64(p + 1)
		if rl.Match == nil {
			rl.Match = &match{}
		}
		rl.Match.Exprs = exprs
	}
	return spec, nil
}

// headerExprs turns a step's header matches into APISIX expressions: exact is Equal, regex
// RegexMatch, prefix an anchored RegexMatch.
func headerExprs(ro *v1alpha1.Rollout, ms []v1alpha1.HeaderRoutingMatch) ([]expr, error) {
	var out []expr
	for i, m := range ms {
		e := expr{Subject: subject{Scope: "Header", Name: m.HeaderName}}
		switch v := m.HeaderValue; {
		case m.HeaderName == "" || v == nil:
		case v.Exact != "":
			e.Op, e.Value = "Equal", v.Exact
		case v.Regex != "":
			e.Op, e.Value = "RegexMatch", v.Regex
		case v.Prefix != "":
			e.Op, e.Value = "RegexMatch", common.PrefixRegex(v.Prefix)
		}
		if e.Op == "" {
			return nil, common.RolloutInvalidf(ro, fmt.Sprintf("spec.strategy.canary.steps[].setHeaderRoute.match[%d]", i),
				"a header match needs headerName and one of exact, prefix or regex")
		}
		out = append(out, e)
	}
	return out, nil
}

// create creates the header route name from the Rollout's ApisixRoute base: its labels and
// annotations, spec, and the Rollout as controller.
func (r *Router) create(ctx context.Context, ro *v1alpha1.Rollout, base *unstructured.Unstructured, name string, spec routeSpec) error {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(ro.Namespace)
	u.SetName(name)
	u.SetLabels(base.GetLabels())
	ann := base.GetAnnotations()
	delete(ann, lastApplied)
	if len(ann) > 0 {
		u.SetAnnotations(ann)
	}
	u.SetOwnerReferences([]metav1.OwnerReference{common.OwnerReference(ro)})
	if err := common.WriteMember(u, "spec", spec); err != nil {
		return err
	}
	if err := r.c.Create(ctx, u); err != nil {
		if apierrors.IsInvalid(err) {
			return common.Invalidf(kind, ro.Namespace, name, "spec", "the API server refused it: %v", err)
		}
		return fmt.Errorf("creating %s %s/%s: %w", kind, ro.Namespace, name, err)
	}
	return nil
}

// delete deletes a header route as it was read.
func (r *Router) delete(ctx context.Context, u *unstructured.Unstructured) error {
	uid, rv := u.GetUID(), u.GetResourceVersion()
	err := r.c.Delete(ctx, u, client.Preconditions{UID: &uid, ResourceVersion: &rv})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s %s/%s: %w", kind, u.GetNamespace(), u.GetName(), err)
	}
	return nil
}

// RemoveManagedRoutes deletes the ApisixRoute of every managed route that the Rollout
// controls; one of that name that it does not control is left alone.
func (r *Router) RemoveManagedRoutes(ctx context.Context, ro *v1alpha1.Rollout) error {
	_, tr, err := common.Canary(ro)
	if err != nil {
		return err
	}
	var owned []*unstructured.Unstructured
	for _, m := range tr.ManagedRoutes {
		u, found, err := common.Get(ctx, r.c, gvk, ro.Namespace, m.Name, common.TrafficRoutingPath+".managedRoutes[].name", crds)
		if err != nil {
			return err
		}
		if found && common.ControlledBy(u, ro) {
			owned = append(owned, u)
		}
	}
	for _, u := range owned {
		if err := r.delete(ctx, u); err != nil {
			return err
		}
	}
	return nil
}
