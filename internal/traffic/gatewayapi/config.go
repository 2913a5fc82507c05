// Package gatewayapi routes canary traffic with Gateway API HTTPRoutes: it sets the weights of
// the backendRefs to the canary and stable Services, adds rules for setHeaderRoute and
// setMirrorRoute steps and removes them again. It reads the configuration Argo Rollouts' Gateway
// API plugin users already write, under
// spec.strategy.canary.trafficRouting.plugins["argoproj-labs/gatewayAPI"].
//
// HTTPRoutes are read as unstructured data; their spec is decoded into the small views of
// views.go, edited there and encoded back into the route as read, so members the router does
// not edit (including those of Gateway API versions newer than Vane's) are kept as they were.
package gatewayapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// PluginName is the key of trafficRouting.plugins that selects this router.
const PluginName = "argoproj-labs/gatewayAPI"

// Defaults of the label that marks a route while a canary runs, as the plugin has them.
const (
	DefaultInProgressLabelKey   = "rollouts.argoproj.io/gatewayapi-canary"
	DefaultInProgressLabelValue = "in-progress"
)

// Config is the plugin configuration.
type Config struct {
	// HTTPRoute names one HTTPRoute (header and mirror routes are added to it).
	HTTPRoute string `json:"httpRoute,omitempty"`
	// HTTPRoutes names several HTTPRoutes.
	HTTPRoutes []HTTPRouteRef `json:"httpRoutes,omitempty"`
	// Namespace of the routes; the Rollout's by default.
	Namespace string `json:"namespace,omitempty"`
	// InProgressLabelKey and InProgressLabelValue mark the routes while the canary has weight.
	InProgressLabelKey   string `json:"inProgressLabelKey,omitempty"`
	InProgressLabelValue string `json:"inProgressLabelValue,omitempty"`
	// DisableInProgressLabel leaves the routes' labels alone.
	DisableInProgressLabel bool `json:"disableInProgressLabel,omitempty"`
}

// HTTPRouteRef is one entry of httpRoutes.
type HTTPRouteRef struct {
	Name string `json:"name"`
	// UseHeaderRoutes adds the setHeaderRoute and setMirrorRoute rules to this route.
	UseHeaderRoutes bool `json:"useHeaderRoutes,omitempty"`
}

// route is one HTTPRoute the router edits.
type route struct {
	name    string
	headers bool   // header and mirror rules go here
	field   string // the Rollout field naming it
}

// configPath is the Rollout field of the plugin configuration.
var configPath = common.TrafficRoutingPath + `.plugins["` + PluginName + `"]`

// fields the plugin knows that Vane does not implement (yet): a clear error instead of a
// silently ignored setting.
var unsupportedFields = map[string]string{
	"grpcRoute": "GRPCRoutes", "grpcRoutes": "GRPCRoutes", "tcpRoute": "TCPRoutes", "tcpRoutes": "TCPRoutes",
	"tlsRoute": "TLSRoutes", "tlsRoutes": "TLSRoutes", "httpRouteSelector": "route selectors",
	"grpcRouteSelector": "route selectors", "tcpRouteSelector": "route selectors",
}

// ignoredFields are plugin settings with no meaning here: the plugin keeps its managed-route
// bookkeeping in a ConfigMap, Vane in the routes' rule names.
var ignoredFields = map[string]bool{"configMap": true}

// ParseConfig reads the plugin configuration of the Rollout.
func ParseConfig(ro *v1alpha1.Rollout) (Config, error) {
	_, tr, err := common.Canary(ro)
	if err != nil {
		return Config{}, err
	}
	raw, ok := tr.Plugins[PluginName]
	if !ok {
		return Config{}, common.RolloutInvalidf(ro, configPath, "not set")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Config{}, common.RolloutInvalidf(ro, configPath, "must be an object: %v", err)
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if what, ok := unsupportedFields[k]; ok {
			return Config{}, common.Unsupportedf(ro, configPath+"."+k, "%s are not supported by Vane's Gateway API router yet; use httpRoute or httpRoutes", what)
		}
		if ignoredFields[k] {
			delete(fields, k)
		}
	}
	cleaned, _ := json.Marshal(fields)
	dec := json.NewDecoder(bytes.NewReader(cleaned))
	dec.DisallowUnknownFields()
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, common.RolloutInvalidf(ro, configPath, "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if cfg.HTTPRoute == "" && len(cfg.HTTPRoutes) == 0 {
		return Config{}, common.RolloutInvalidf(ro, configPath+".httpRoute", "name the HTTPRoute to edit (httpRoute or httpRoutes)")
	}
	if cfg.HTTPRoute != "" && len(cfg.HTTPRoutes) > 0 {
		return Config{}, common.RolloutInvalidf(ro, configPath, "set httpRoute or httpRoutes, not both")
	}
	seen := map[string]bool{}
	for i, r := range cfg.HTTPRoutes {
		if r.Name == "" {
			return Config{}, common.RolloutInvalidf(ro, fmt.Sprintf("%s.httpRoutes[%d].name", configPath, i), "name the HTTPRoute")
		}
		if seen[r.Name] {
			return Config{}, common.RolloutInvalidf(ro, fmt.Sprintf("%s.httpRoutes[%d].name", configPath, i), "HTTPRoute %q is listed twice", r.Name)
		}
		seen[r.Name] = true
	}
	return cfg, nil
}

func (c Config) namespace(ro *v1alpha1.Rollout) string {
	if c.Namespace != "" {
		return c.Namespace
	}
	return ro.Namespace
}

func (c Config) routes() []route {
	if c.HTTPRoute != "" {
		return []route{{name: c.HTTPRoute, headers: true, field: configPath + ".httpRoute"}}
	}
	out := make([]route, len(c.HTTPRoutes))
	for i, r := range c.HTTPRoutes {
		out[i] = route{name: r.Name, headers: r.UseHeaderRoutes, field: fmt.Sprintf("%s.httpRoutes[%d].name", configPath, i)}
	}
	return out
}

func (c Config) inProgressLabel() (key, value string, ok bool) {
	if c.DisableInProgressLabel {
		return "", "", false
	}
	key, value = c.InProgressLabelKey, c.InProgressLabelValue
	if key == "" {
		key = DefaultInProgressLabelKey
	}
	if value == "" {
		value = DefaultInProgressLabelValue
	}
	return key, value, true
}
