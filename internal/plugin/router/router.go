// Package router splits a canary's traffic through an Argo Rollouts traffic router plugin
// (`trafficRouting.plugins: {"<name>": config}`): Router has the methods of internal/traffic's
// Router interface and makes the plugin's net/rpc calls (Argo's RpcTrafficRoutingReconciler).
//
// A plugin that is not configured or cannot be used (its binary missing or tampered with) is
// an Invalid traffic Error naming the plugin at its first call, which the rollout reconciler
// reports as InvalidSpec; an error the plugin returns, or a plugin that does not start, is a
// plain error, retried.
package router

import (
	"context"
	"fmt"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/plugin"
	"github.com/vanedev/vane/internal/traffic/common"
)

// The arguments and answers of the plugins' RPC methods, with Argo Rollouts' names and fields
// (gob sends both); see plugin.Wire for how Vane's API types are sent.
type (
	// UpdateHashArgs are Plugin.UpdateHash's.
	UpdateHashArgs struct {
		Rollout                v1alpha1.Rollout
		CanaryHash             string
		StableHash             string
		AdditionalDestinations []v1alpha1.WeightDestination
	}
	// SetWeightAndVerifyWeightArgs are Plugin.SetWeight's and Plugin.VerifyWeight's.
	SetWeightAndVerifyWeightArgs struct {
		Rollout                v1alpha1.Rollout
		DesiredWeight          int32
		AdditionalDestinations []v1alpha1.WeightDestination
	}
	// SetHeaderArgs are Plugin.SetHeaderRoute's.
	SetHeaderArgs struct {
		Rollout        v1alpha1.Rollout
		SetHeaderRoute v1alpha1.SetHeaderRoute
	}
	// SetMirrorArgs are Plugin.SetMirrorRoute's.
	SetMirrorArgs struct {
		Rollout        v1alpha1.Rollout
		SetMirrorRoute v1alpha1.SetMirrorRoute
	}
	// RemoveManagedRoutesArgs are Plugin.RemoveManagedRoutes's.
	RemoveManagedRoutesArgs struct {
		Rollout v1alpha1.Rollout
	}
	// VerifyWeightResponse is Plugin.VerifyWeight's answer.
	VerifyWeightResponse struct {
		Verified Verified
		Err      plugin.RPCError
	}
)

// Verified is a plugin's answer to VerifyWeight (Argo's RpcVerified).
type Verified int32

// The answers to VerifyWeight.
const (
	NotVerified Verified = iota
	WeightVerified
	NotImplemented
)

func init() {
	plugin.RegisterArgs("UpdateHashArgs", UpdateHashArgs{})
	plugin.RegisterArgs("SetWeightAndVerifyWeightArgs", SetWeightAndVerifyWeightArgs{})
	plugin.RegisterArgs("SetHeaderArgs", SetHeaderArgs{})
	plugin.RegisterArgs("SetMirrorArgs", SetMirrorArgs{})
	plugin.RegisterArgs("RemoveManagedRoutesArgs", RemoveManagedRoutesArgs{})
}

// Router is one traffic router plugin of a Rollout.
type Router struct {
	plugins *plugin.Manager
	name    string
}

// New returns the router of the plugin name, run by plugins. It does no I/O: whether the
// plugin is configured and usable is found at the first call.
func New(plugins *plugin.Manager, name string) *Router {
	return &Router{plugins: plugins, name: name}
}

// Serves reports whether the ConfigMap plugins read lists a traffic router plugin of that name
// (usable or not): internal/traffic asks it before serving "argoproj-labs/gatewayAPI" itself.
func Serves(ctx context.Context, plugins *plugin.Manager, name string) bool {
	return plugins != nil && plugins.Configured(ctx, plugin.TrafficRouter, name)
}

// Type names the router: "plugin <name>".
func (r *Router) Type() string { return "plugin " + r.name }

// PluginType asks the plugin its own type name (the sample nginx plugin says "plugin-nginx").
func (r *Router) PluginType(ctx context.Context, ro *v1alpha1.Rollout) (string, error) {
	var out string
	err := r.call(ctx, ro, "Type", nil, &out)
	return out, err
}

// call makes a call; a plugin that is not configured or unusable is an Invalid traffic Error
// on the Rollout's plugins["<name>"] field.
func (r *Router) call(ctx context.Context, ro *v1alpha1.Rollout, method string, args, reply any) error {
	if r.plugins == nil {
		return common.Unsupportedf(ro, r.field(), "traffic router plugins are not enabled in this controller")
	}
	err := r.plugins.Call(ctx, plugin.TrafficRouter, r.name, "Plugin."+method, args, reply)
	if err == nil {
		return nil
	}
	if e, ok := plugin.AsError(err); ok {
		if e.Permanent {
			return common.RolloutInvalidf(ro, r.field(), "%v", e)
		}
		return err
	}
	return fmt.Errorf("%s rpc call error: %w", method, err)
}

func (r *Router) field() string { return common.TrafficRoutingPath + `.plugins["` + r.name + `"]` }

// answer turns the plugin's error answer into an error saying which call failed.
func answer(out plugin.RPCError, what string) error {
	if out.HasError() {
		return fmt.Errorf("failed to %s via plugin: %s", what, out.ErrorString)
	}
	return nil
}

// UpdateHash tells the plugin the canary's and the stable's pod-template hashes.
func (r *Router) UpdateHash(ctx context.Context, ro *v1alpha1.Rollout, canaryHash, stableHash string, additional []v1alpha1.WeightDestination) error {
	var out plugin.RPCError
	args := UpdateHashArgs{Rollout: *ro, CanaryHash: canaryHash, StableHash: stableHash, AdditionalDestinations: additional}
	if err := r.call(ctx, ro, "UpdateHash", plugin.Wire(args), &out); err != nil {
		return err
	}
	return answer(out, "update hash")
}

// SetWeight asks the plugin to send weight to the canary (and the additional destinations
// theirs).
func (r *Router) SetWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, additional []v1alpha1.WeightDestination) error {
	var out plugin.RPCError
	args := SetWeightAndVerifyWeightArgs{Rollout: *ro, DesiredWeight: weight, AdditionalDestinations: additional}
	if err := r.call(ctx, ro, "SetWeight", plugin.Wire(args), &out); err != nil {
		return err
	}
	return answer(out, "set weight")
}

// SetHeaderRoute asks the plugin to add (or remove) a header route.
func (r *Router) SetHeaderRoute(ctx context.Context, ro *v1alpha1.Rollout, route *v1alpha1.SetHeaderRoute) error {
	var out plugin.RPCError
	if err := r.call(ctx, ro, "SetHeaderRoute", plugin.Wire(SetHeaderArgs{Rollout: *ro, SetHeaderRoute: *route}), &out); err != nil {
		return err
	}
	return answer(out, "set header route")
}

// SetMirrorRoute asks the plugin to add (or remove) a mirror route.
func (r *Router) SetMirrorRoute(ctx context.Context, ro *v1alpha1.Rollout, route *v1alpha1.SetMirrorRoute) error {
	var out plugin.RPCError
	if err := r.call(ctx, ro, "SetMirrorRoute", plugin.Wire(SetMirrorArgs{Rollout: *ro, SetMirrorRoute: *route}), &out); err != nil {
		return err
	}
	return answer(out, "set mirror route")
}

// VerifyWeight asks the plugin whether it applies the weights. A plugin that does not verify
// weights (NotImplemented) counts as applying them, as in Argo Rollouts, which then goes on.
func (r *Router) VerifyWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, additional []v1alpha1.WeightDestination) (bool, error) {
	var out VerifyWeightResponse
	args := SetWeightAndVerifyWeightArgs{Rollout: *ro, DesiredWeight: weight, AdditionalDestinations: additional}
	if err := r.call(ctx, ro, "VerifyWeight", plugin.Wire(args), &out); err != nil {
		return false, err
	}
	if err := answer(out.Err, "verify weight"); err != nil {
		return false, err
	}
	return out.Verified == WeightVerified || out.Verified == NotImplemented, nil
}

// RemoveManagedRoutes asks the plugin to remove every header and mirror route it added.
func (r *Router) RemoveManagedRoutes(ctx context.Context, ro *v1alpha1.Rollout) error {
	var out plugin.RPCError
	if err := r.call(ctx, ro, "RemoveManagedRoutes", plugin.Wire(RemoveManagedRoutesArgs{Rollout: *ro}), &out); err != nil {
		return err
	}
	return answer(out, "remove managed routes")
}
