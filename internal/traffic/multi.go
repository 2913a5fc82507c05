package traffic

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// Multi drives several routers at once (Argo's "multiple providers"), in the order New puts
// them. Every call goes to each router in turn and stops at the first error; VerifyWeight needs
// all of them.
//
// SetWeight keeps the routers at one weight. When a router fails, the routers already set (and
// the failing one, unless its error is a router Error, which promises nothing changed) are set
// back, last first, to the weights they all carried before: status.canary.weights (0 when it
// records none). The next reconcile tries the new weight again. The one exception is a weight
// that gives the stable Service more than it had (an abort, a lower step): the routers that
// took it keep it, since setting them back would send the canary more traffic again.
type Multi []Router

// Type joins the routers' types.
func (m Multi) Type() string {
	ts := make([]string, len(m))
	for i, r := range m {
		ts[i] = r.Type()
	}
	return strings.Join(ts, ",")
}

func (m Multi) each(f func(Router) error) error {
	for _, r := range m {
		if err := f(r); err != nil {
			return fmt.Errorf("%s: %w", r.Type(), err)
		}
	}
	return nil
}

// UpdateHash calls every router.
func (m Multi) UpdateHash(ctx context.Context, ro *v1alpha1.Rollout, canaryHash, stableHash string, add []v1alpha1.WeightDestination) error {
	return m.each(func(r Router) error { return r.UpdateHash(ctx, ro, canaryHash, stableHash, add) })
}

// SetWeight sets the weights on every router in turn; when one fails, the others are set back
// to the weights they last had in common (see Multi). The error names the router that failed,
// and each router that could not be set back.
func (m Multi) SetWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, add []v1alpha1.WeightDestination) error {
	for i, r := range m {
		err := r.SetWeight(ctx, ro, weight, add)
		if err == nil {
			continue
		}
		err = fmt.Errorf("%s: %w", r.Type(), err)
		set := m[:i]
		if _, unchanged := AsError(err); !unchanged {
			set = m[:i+1] // an API error may come after some of its objects were written
		}
		return m.setBack(ctx, ro, set, weight, add, err)
	}
	return nil
}

// setBack sets routers (last first) back to the weights status.canary.weights records, after
// failed, unless the weight they were set to gives the stable more than those did.
func (m Multi) setBack(ctx context.Context, ro *v1alpha1.Rollout, routers []Router, weight int32, add []v1alpha1.WeightDestination, failed error) error {
	last, lastAdd := lastWeights(ro)
	now, before := common.Split(ro, weight, add), common.Split(ro, last, lastAdd)
	if len(routers) == 0 || now.Stable > before.Stable || (weight == last && sameDestinations(add, lastAdd)) {
		return failed
	}
	errs := []error{failed}
	for j := len(routers) - 1; j >= 0; j-- {
		r := routers[j]
		if err := r.SetWeight(ctx, ro, last, lastAdd); err != nil {
			errs = append(errs, fmt.Errorf("setting %s back to weight %d: %w", r.Type(), last, err))
		}
	}
	log.FromContext(ctx).Info("a traffic router failed; the routers set before it are back at the weight they had in common",
		"failed", failed.Error(), "weight", weight, "back to", last, "routers", Multi(routers).Type(), "errors", len(errs)-1)
	return errors.Join(errs...)
}

// lastWeights are the weights every router carried before this reconcile: status.canary.weights,
// or 0 and no additional destinations when the Rollout records none.
func lastWeights(ro *v1alpha1.Rollout) (int32, []v1alpha1.WeightDestination) {
	if w := ro.Status.Canary.Weights; w != nil {
		return w.Canary.Weight, w.Additional
	}
	return 0, nil
}

func sameDestinations(a, b []v1alpha1.WeightDestination) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ServiceName != b[i].ServiceName || a[i].Weight != b[i].Weight {
			return false
		}
	}
	return true
}

// SetHeaderRoute calls every router; a router that cannot route by header is skipped when
// another one does.
func (m Multi) SetHeaderRoute(ctx context.Context, ro *v1alpha1.Rollout, route *v1alpha1.SetHeaderRoute) error {
	return m.some(func(r Router) error { return r.SetHeaderRoute(ctx, ro, route) })
}

// SetMirrorRoute calls every router; a router that cannot mirror is skipped when another one
// does.
func (m Multi) SetMirrorRoute(ctx context.Context, ro *v1alpha1.Rollout, route *v1alpha1.SetMirrorRoute) error {
	return m.some(func(r Router) error { return r.SetMirrorRoute(ctx, ro, route) })
}

// some runs f on every router and tolerates Unsupported errors as long as one router did it.
func (m Multi) some(f func(Router) error) error {
	var unsupported error
	done := false
	for _, r := range m {
		err := f(r)
		if e, ok := AsError(err); ok && e.Reason == Unsupported {
			unsupported = err
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", r.Type(), err)
		}
		done = true
	}
	if !done {
		return unsupported
	}
	return nil
}

// VerifyWeight is true when every router applies the weights.
func (m Multi) VerifyWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, add []v1alpha1.WeightDestination) (bool, error) {
	for _, r := range m {
		ok, err := r.VerifyWeight(ctx, ro, weight, add)
		if err != nil {
			return false, fmt.Errorf("%s: %w", r.Type(), err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// RemoveManagedRoutes calls every router.
func (m Multi) RemoveManagedRoutes(ctx context.Context, ro *v1alpha1.Rollout) error {
	return m.each(func(r Router) error { return r.RemoveManagedRoutes(ctx, ro) })
}
