package common

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vanedev/vane/api/v1alpha1"
)

func TestSplit(t *testing.T) {
	type want struct{ Canary, Stable, Total int32 }
	tests := map[string]struct {
		max        *int32
		weight     int32
		additional []v1alpha1.WeightDestination
		want       want
	}{
		"20% of 100":                         {nil, 20, nil, want{20, 80, 100}},
		"maxTrafficWeight 1000":              {ptr(1000), 5, nil, want{5, 995, 1000}},
		"additional destinations":            {nil, 20, []v1alpha1.WeightDestination{{ServiceName: "exp", Weight: 10}}, want{20, 70, 100}},
		"never below 0 for the stable":       {nil, 90, []v1alpha1.WeightDestination{{ServiceName: "exp", Weight: 20}}, want{90, 0, 100}},
		"a weight above the total is capped": {nil, 150, nil, want{100, 0, 100}},
		"a negative weight is 0":             {nil, -5, nil, want{0, 100, 100}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ro := &v1alpha1.Rollout{}
			ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{TrafficRouting: &v1alpha1.RolloutTrafficRouting{MaxTrafficWeight: tc.max}}
			w := Split(ro, tc.weight, tc.additional)
			if diff := cmp.Diff(tc.want, want{w.Canary, w.Stable, w.Total}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestServiceHost(t *testing.T) {
	tests := map[string]struct {
		host string
		want bool
	}{
		"short name":           {"canary", true},
		"with namespace":       {"canary.shop", true},
		"svc":                  {"canary.shop.svc", true},
		"cluster domain":       {"canary.shop.svc.cluster.local", true},
		"other namespace":      {"canary.other.svc.cluster.local", false},
		"other Service":        {"canary2", false},
		"a prefix of the name": {"can", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := ServiceHost(tc.host, "canary", "shop"); got != tc.want {
				t.Errorf("ServiceHost(%q) = %v, want %v", tc.host, got, tc.want)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	e := Invalidf("HTTPRoute", "shop", "web", "spec.rules[0].backendRefs", "no backendRef to Service %q", "canary")
	if got, want := e.Error(), `HTTPRoute shop/web: spec.rules[0].backendRefs: no backendRef to Service "canary"`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	m := Missing("Ingress", "shop", "web", "spec.strategy.canary.trafficRouting.nginx.stableIngress")
	if got, want := m.Error(), `Ingress shop/web: spec.strategy.canary.trafficRouting.nginx.stableIngress: Ingress "web" not found in namespace "shop"`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func ptr(v int32) *int32 { return &v }
