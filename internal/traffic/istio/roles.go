package istio

import (
	"fmt"
	"slices"

	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// roles tells canary and stable destinations apart: by subset with a DestinationRule, by
// host otherwise.
type roles struct {
	canarySvc, stableSvc, ns string
	canarySub, stableSub     string
}

func rolesOf(ro *v1alpha1.Rollout) roles {
	c := ro.Spec.Strategy.Canary
	rl := roles{canarySvc: c.CanaryService, stableSvc: c.StableService, ns: ro.Namespace}
	if dr := c.TrafficRouting.Istio.DestinationRule; dr != nil {
		rl.canarySub, rl.stableSub = dr.CanarySubsetName, dr.StableSubsetName
	}
	return rl
}

func (rl roles) subsets() bool { return rl.canarySub != "" }

// of returns "canary", "stable" or "" (another destination).
func (rl roles) of(d weighted) string {
	if rl.subsets() {
		switch d.Destination.Subset {
		case rl.canarySub:
			return "canary"
		case rl.stableSub:
			return "stable"
		}
		return ""
	}
	switch host := d.Destination.Host; {
	case common.ServiceHost(host, rl.canarySvc, rl.ns):
		return "canary"
	case common.ServiceHost(host, rl.stableSvc, rl.ns):
		return "stable"
	}
	return ""
}

func (rl roles) describe(role string) string {
	if rl.subsets() {
		sub := rl.canarySub
		if role == "stable" {
			sub = rl.stableSub
		}
		return fmt.Sprintf("the %s subset %q", role, sub)
	}
	svc := rl.canarySvc
	if role == "stable" {
		svc = rl.stableSvc
	}
	return fmt.Sprintf("the %s Service %q", role, svc)
}

// find returns the index of the destination with role in a route's destinations, or -1.
func (rl roles) find(ds []weighted, role string) int {
	return slices.IndexFunc(ds, func(d weighted) bool { return rl.of(d) == role })
}

// check returns an error unless a route's destinations have a canary and a stable one.
func (rl roles) check(l *loadedVS, ds []weighted, field string) error {
	for _, role := range []string{"canary", "stable"} {
		if rl.find(ds, role) < 0 {
			return l.invalid(field+".route", "has no destination to %s", rl.describe(role))
		}
	}
	return nil
}

// weigh returns a route's destinations with the weights: canary and stable with theirs, the
// additional destinations after them (copies of the canary's with the host changed when the
// route has none); other destinations are dropped (their weights would not add up).
func (rl roles) weigh(ds []weighted, w common.Weights) []weighted {
	var out []weighted
	seen := map[string]bool{}
	for _, d := range ds {
		switch rl.of(d) {
		case "canary":
			d.Weight = ptr.To(int64(w.Canary))
		case "stable":
			d.Weight = ptr.To(int64(w.Stable))
		default:
			aw, ok := w.AdditionalWeight(d.Destination.Host)
			if !ok {
				continue
			}
			seen[d.Destination.Host] = true
			d.Weight = ptr.To(int64(aw))
		}
		out = append(out, d)
	}
	canary := rl.find(ds, "canary")
	for _, a := range w.Additional {
		if seen[a.ServiceName] || canary < 0 {
			continue
		}
		d := ds[canary]
		d.Destination.Host, d.Destination.Subset = a.ServiceName, ""
		d.Weight = ptr.To(int64(a.Weight))
		out = append(out, d)
	}
	return out
}

// weighs reports whether a route's destinations carry the weights (a destination without a
// weight has 100 when it is the only one, 0 otherwise).
func (rl roles) weighs(ds []weighted, w common.Weights) bool {
	got := map[string]int64{}
	for _, d := range ds {
		wt := ptr.Deref(d.Weight, 0)
		if d.Weight == nil && len(ds) == 1 {
			wt = 100
		}
		if role := rl.of(d); role != "" {
			got[role] = wt
		} else {
			got["+"+d.Destination.Host] = wt
		}
	}
	if got["canary"] != int64(w.Canary) || got["stable"] != int64(w.Stable) {
		return false
	}
	for _, a := range w.Additional {
		if got["+"+a.ServiceName] != int64(a.Weight) {
			return false
		}
	}
	return true
}
