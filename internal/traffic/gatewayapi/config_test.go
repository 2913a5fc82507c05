package gatewayapi

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

func rolloutWith(cfg string) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{}
	ro.Namespace, ro.Name = "shop", "web"
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{CanaryService: "canary", StableService: "stable",
		TrafficRouting: &v1alpha1.RolloutTrafficRouting{Plugins: map[string]json.RawMessage{PluginName: json.RawMessage(cfg)}}}
	return ro
}

func TestParseConfig(t *testing.T) {
	type want struct {
		Routes    []route
		Namespace string
		Reason    common.Reason
		Field     string
	}
	tests := map[string]struct {
		cfg  string
		want want
	}{
		"one route, as the plugin's quick start writes it": {
			cfg:  `{"httpRoute":"argo-rollouts-http-route","namespace":"default"}`,
			want: want{Routes: []route{{name: "argo-rollouts-http-route", headers: true, field: configPath + ".httpRoute"}}, Namespace: "default"},
		},
		"several routes, header routes on one": {
			cfg: `{"httpRoutes":[{"name":"a","useHeaderRoutes":true},{"name":"b"}]}`,
			want: want{Routes: []route{{name: "a", headers: true, field: configPath + ".httpRoutes[0].name"},
				{name: "b", field: configPath + ".httpRoutes[1].name"}}, Namespace: "shop"},
		},
		"the plugin's configMap setting is accepted and ignored": {
			cfg:  `{"httpRoute":"a","configMap":"argo-gatewayapi-configmap"}`,
			want: want{Routes: []route{{name: "a", headers: true, field: configPath + ".httpRoute"}}, Namespace: "shop"},
		},
		"a misspelt setting":         {cfg: `{"httpRoute":"a","namepsace":"x"}`, want: want{Reason: common.Invalid, Field: configPath}},
		"no route":                   {cfg: `{"namespace":"x"}`, want: want{Reason: common.Invalid, Field: configPath + ".httpRoute"}},
		"both forms":                 {cfg: `{"httpRoute":"a","httpRoutes":[{"name":"b"}]}`, want: want{Reason: common.Invalid, Field: configPath}},
		"a route listed twice":       {cfg: `{"httpRoutes":[{"name":"a"},{"name":"a"}]}`, want: want{Reason: common.Invalid, Field: configPath + ".httpRoutes[1].name"}},
		"an unnamed route":           {cfg: `{"httpRoutes":[{"useHeaderRoutes":true}]}`, want: want{Reason: common.Invalid, Field: configPath + ".httpRoutes[0].name"}},
		"not an object":              {cfg: `"a"`, want: want{Reason: common.Invalid, Field: configPath}},
		"TCPRoutes are not done yet": {cfg: `{"tcpRoutes":[{"name":"a"}]}`, want: want{Reason: common.Unsupported, Field: configPath + ".tcpRoutes"}},
		"route selectors neither":    {cfg: `{"httpRouteSelector":{"matchLabels":{"a":"b"}}}`, want: want{Reason: common.Unsupported, Field: configPath + ".httpRouteSelector"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ro := rolloutWith(tc.cfg)
			cfg, err := ParseConfig(ro)
			var got want
			if err != nil {
				e, ok := common.AsError(err)
				if !ok {
					t.Fatalf("not a router error: %v", err)
				}
				got.Reason, got.Field = e.Reason, e.Field
			} else {
				got.Routes, got.Namespace = cfg.routes(), cfg.namespace(ro)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(route{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestInProgressLabel(t *testing.T) {
	tests := map[string]struct {
		cfg       Config
		key, val  string
		wantLabel bool
	}{
		"the plugin's default":  {Config{}, DefaultInProgressLabelKey, DefaultInProgressLabelValue, true},
		"customised":            {Config{InProgressLabelKey: "canary", InProgressLabelValue: "on"}, "canary", "on", true},
		"disabled":              {Config{DisableInProgressLabel: true}, "", "", false},
		"customised value only": {Config{InProgressLabelValue: "yes"}, DefaultInProgressLabelKey, "yes", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			k, v, ok := tc.cfg.inProgressLabel()
			if k != tc.key || v != tc.val || ok != tc.wantLabel {
				t.Errorf("got %q=%q %v, want %q=%q %v", k, v, ok, tc.key, tc.val, tc.wantLabel)
			}
		})
	}
}
