package traffic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
	"github.com/vanedev/vane/internal/traffic/routertest"
)

// fakeRouter records the weights it is set to in log; SetWeight fails with fail[weight].
type fakeRouter struct {
	name string
	log  *[]string
	fail map[int32]error
}

func (f *fakeRouter) Type() string { return f.name }
func (f *fakeRouter) UpdateHash(context.Context, *v1alpha1.Rollout, string, string, []v1alpha1.WeightDestination) error {
	return nil
}

func (f *fakeRouter) SetWeight(_ context.Context, _ *v1alpha1.Rollout, w int32, add []v1alpha1.WeightDestination) error {
	if err := f.fail[w]; err != nil {
		*f.log = append(*f.log, fmt.Sprintf("%s %d failed", f.name, w))
		return err
	}
	*f.log = append(*f.log, fmt.Sprintf("%s %d%s", f.name, w, destinations(add)))
	return nil
}

func destinations(add []v1alpha1.WeightDestination) string {
	var b strings.Builder
	for _, a := range add {
		fmt.Fprintf(&b, " %s=%d", a.ServiceName, a.Weight)
	}
	return b.String()
}

func (f *fakeRouter) SetHeaderRoute(context.Context, *v1alpha1.Rollout, *v1alpha1.SetHeaderRoute) error {
	return nil
}
func (f *fakeRouter) SetMirrorRoute(context.Context, *v1alpha1.Rollout, *v1alpha1.SetMirrorRoute) error {
	return nil
}
func (f *fakeRouter) VerifyWeight(context.Context, *v1alpha1.Rollout, int32, []v1alpha1.WeightDestination) (bool, error) {
	return true, nil
}
func (f *fakeRouter) RemoveManagedRoutes(context.Context, *v1alpha1.Rollout) error { return nil }

var (
	errAPI     = errors.New("the API server is unavailable")
	errMissing = common.Missing("Ingress", "shop", "web", "spec.strategy.canary.trafficRouting.nginx.stableIngress")
)

func TestMultiSetWeight(t *testing.T) {
	cases := map[string]struct {
		last    *v1alpha1.TrafficWeights // status.canary.weights
		weight  int32
		add     []v1alpha1.WeightDestination
		fail    map[string]map[int32]error // by router
		want    []string                   // the calls, in order
		wantErr string
	}{
		"all set, in order": {
			last: weights(20), weight: 50,
			want: []string{"A 50", "B 50", "C 50"},
		},
		"the second fails without changing anything: the first goes back to the recorded weight": {
			last: weights(20), weight: 50, fail: map[string]map[int32]error{"B": {50: errMissing}},
			want:    []string{"A 50", "B 50 failed", "A 20"},
			wantErr: `NotFound: B: Ingress shop/web: spec.strategy.canary.trafficRouting.nginx.stableIngress: Ingress "web" not found in namespace "shop"`,
		},
		"the last fails with an API error: it goes back too, last first": {
			last: weights(20), weight: 50, fail: map[string]map[int32]error{"C": {50: errAPI}},
			want:    []string{"A 50", "B 50", "C 50 failed", "C 20", "B 20", "A 20"},
			wantErr: "C: the API server is unavailable",
		},
		"the first fails: nothing to set back": {
			last: weights(20), weight: 50, fail: map[string]map[int32]error{"A": {50: errMissing}},
			want:    []string{"A 50 failed"},
			wantErr: `NotFound: A: Ingress shop/web: spec.strategy.canary.trafficRouting.nginx.stableIngress: Ingress "web" not found in namespace "shop"`,
		},
		"nothing recorded: back to 0": {
			weight: 20, fail: map[string]map[int32]error{"B": {20: errMissing}},
			want:    []string{"A 20", "B 20 failed", "A 0"},
			wantErr: `NotFound: B: Ingress shop/web: spec.strategy.canary.trafficRouting.nginx.stableIngress: Ingress "web" not found in namespace "shop"`,
		},
		"with an Experiment's destinations: back to the recorded ones": {
			last: withAdditional(weights(20), "exp", 10), weight: 20, add: []v1alpha1.WeightDestination{{ServiceName: "exp", Weight: 20}},
			fail:    map[string]map[int32]error{"C": {20: errMissing}},
			want:    []string{"A 20 exp=20", "B 20 exp=20", "C 20 failed", "B 20 exp=10", "A 20 exp=10"},
			wantErr: `NotFound: C: Ingress shop/web: spec.strategy.canary.trafficRouting.nginx.stableIngress: Ingress "web" not found in namespace "shop"`,
		},
		"the same weights again: nothing to set back": {
			last: weights(20), weight: 20, fail: map[string]map[int32]error{"B": {20: errMissing}},
			want:    []string{"A 20", "B 20 failed"},
			wantErr: `NotFound: B: Ingress shop/web: spec.strategy.canary.trafficRouting.nginx.stableIngress: Ingress "web" not found in namespace "shop"`,
		},
		"an abort (more to the stable) is kept where it was taken": {
			last: weights(50), weight: 0, fail: map[string]map[int32]error{"B": {0: errMissing}},
			want:    []string{"A 0", "B 0 failed"},
			wantErr: `NotFound: B: Ingress shop/web: spec.strategy.canary.trafficRouting.nginx.stableIngress: Ingress "web" not found in namespace "shop"`,
		},
		"a router that cannot be set back either: both errors": {
			last: weights(20), weight: 50, fail: map[string]map[int32]error{"A": {20: errAPI}, "B": {50: errMissing}},
			want: []string{"A 50", "B 50 failed", "A 20 failed"},
			wantErr: `NotFound: B: Ingress shop/web: spec.strategy.canary.trafficRouting.nginx.stableIngress: Ingress "web" not found in namespace "shop"` +
				"\nsetting A back to weight 20: the API server is unavailable",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var log []string
			var m Multi
			for _, n := range []string{"A", "B", "C"} {
				m = append(m, &fakeRouter{name: n, log: &log, fail: tc.fail[n]})
			}
			ro := routertest.Rollout(v1alpha1.RolloutTrafficRouting{})
			ro.Status.Canary.Weights = tc.last
			err := m.SetWeight(context.Background(), ro, tc.weight, tc.add)
			if diff := cmp.Diff(tc.want, log); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			got := routertest.ErrorText(err)
			if e, ok := AsError(err); ok { // the router Error inside, as the controller reports it, and the whole text
				got = string(e.Reason) + ": " + err.Error()
			}
			if diff := cmp.Diff(tc.wantErr, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if tc.fail["C"][tc.weight] == errAPI && !errors.Is(err, errAPI) {
				t.Errorf("the API error is not wrapped: %v", err)
			}
		})
	}
}

func weights(canary int32) *v1alpha1.TrafficWeights {
	return &v1alpha1.TrafficWeights{Canary: v1alpha1.WeightDestination{Weight: canary}, Stable: v1alpha1.WeightDestination{Weight: 100 - canary}}
}

func withAdditional(w *v1alpha1.TrafficWeights, svc string, weight int32) *v1alpha1.TrafficWeights {
	w.Additional = append(w.Additional, v1alpha1.WeightDestination{ServiceName: svc, Weight: weight})
	w.Stable.Weight -= weight
	return w
}

// TestNew: the routers of a Rollout, in Argo's order, and the refused ones.
func TestNew(t *testing.T) {
	gw := map[string]json.RawMessage{"argoproj-labs/gatewayAPI": json.RawMessage(`{"httpRoute":"web"}`)}
	all := v1alpha1.RolloutTrafficRouting{
		Plugins:    gw,
		Apisix:     &v1alpha1.ApisixTrafficRouting{Route: &v1alpha1.ApisixRoute{Name: "web"}},
		Traefik:    &v1alpha1.TraefikTrafficRouting{WeightedTraefikServiceName: "web"},
		Ambassador: &v1alpha1.AmbassadorTrafficRouting{Mappings: []string{"web"}},
		SMI:        &v1alpha1.SMITrafficRouting{},
		Nginx:      &v1alpha1.NginxTrafficRouting{StableIngress: "web"},
		Istio:      &v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "web"}},
	}
	cases := map[string]struct {
		tr       v1alpha1.RolloutTrafficRouting
		opts     []Option
		wantType string
		wantErr  string
	}{
		"every router, in Argo's order":      {tr: all, wantType: "Istio,Nginx,SMI,Ambassador,Traefik,Apisix,GatewayAPI"},
		"traefik alone":                      {tr: v1alpha1.RolloutTrafficRouting{Traefik: all.Traefik}, wantType: "Traefik"},
		"traefik v2":                         {tr: v1alpha1.RolloutTrafficRouting{Traefik: all.Traefik}, opts: []Option{WithTraefikAPIVersion("traefik.containo.us/v1alpha1")}, wantType: "Traefik"},
		"ambassador with AmbassadorMappings": {tr: v1alpha1.RolloutTrafficRouting{Ambassador: all.Ambassador}, opts: []Option{WithAmbassadorAPIVersion("x.getambassador.io/v3alpha1")}, wantType: "Ambassador"},
		"apisix and nginx":                   {tr: v1alpha1.RolloutTrafficRouting{Apisix: all.Apisix, Nginx: all.Nginx}, wantType: "Nginx,Apisix"},
		"app mesh is refused": {tr: v1alpha1.RolloutTrafficRouting{AppMesh: &v1alpha1.AppMeshTrafficRouting{}},
			wantErr: "Unsupported: Rollout shop/web: spec.strategy.canary.trafficRouting.appMesh: this traffic router is not supported by Vane; use the Gateway API, nginx, istio, smi, alb, ambassador, traefik or apisix"},
		"a bad router among good ones": {tr: v1alpha1.RolloutTrafficRouting{Nginx: all.Nginx, Apisix: &v1alpha1.ApisixTrafficRouting{}},
			wantErr: "Invalid: Rollout shop/web: spec.strategy.canary.trafficRouting.apisix.route.name: name the ApisixRoute"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r, err := New(routertest.Rollout(tc.tr), nil, tc.opts...)
			if diff := cmp.Diff(tc.wantErr, routertest.ErrorText(err)); diff != "" {
				t.Fatalf("error (-want +got):\n%s", diff)
			}
			if err == nil && r.Type() != tc.wantType {
				t.Errorf("Type() = %q, want %q", r.Type(), tc.wantType)
			}
		})
	}
}
