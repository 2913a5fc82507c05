// Package step runs Argo Rollouts step plugins (canary `steps[].plugin`): Client makes the
// plugins' net/rpc calls (Argo's RpcStep: Run, Terminate, Abort, Type), Step keeps a step's
// entries of status.canary.stepPluginStatuses the way Argo Rollouts does (executions, backoff,
// phases), and status.go has what the rollout controller needs to act on them.
package step

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/plugin"
)

// Phase is the phase a step plugin reports (Argo's StepPhase).
type Phase string

// The phases of a step plugin operation.
const (
	PhaseRunning    Phase = "Running"
	PhaseSuccessful Phase = "Successful"
	PhaseFailed     Phase = "Failed"
	PhaseError      Phase = "Error"
)

// Validate returns an error for a phase that is none of the four.
func (p Phase) Validate() error {
	switch p {
	case PhaseRunning, PhaseSuccessful, PhaseFailed, PhaseError:
		return nil
	}
	return fmt.Errorf("phase %q is not valid", p)
}

// Context is what a plugin is told about the step (Argo's RpcStepContext).
type Context struct {
	// PluginName is the plugin's name.
	PluginName string
	// Config is the step's plugin.config.
	Config json.RawMessage
	// Status is the plugin's own state from the previous call of the operation.
	Status json.RawMessage
}

// Result is a plugin's answer (Argo's RpcStepResult).
type Result struct {
	// Phase of the operation.
	Phase Phase
	// Message explains it.
	Message string
	// RequeueAfter is when to call Run again while it is Running.
	RequeueAfter time.Duration
	// Status is the plugin's state, given back at the next call.
	Status json.RawMessage
}

// The arguments and answer of the plugins' RPC methods, with Argo Rollouts' fields; gob knows
// the arguments as "step.RunArgs", "step.TerminateArgs" and "step.AbortArgs".
type (
	// RunArgs are Plugin.Run's.
	RunArgs struct {
		Rollout *v1alpha1.Rollout
		Context *Context
	}
	// TerminateArgs are Plugin.Terminate's.
	TerminateArgs struct {
		Rollout *v1alpha1.Rollout
		Context *Context
	}
	// AbortArgs are Plugin.Abort's.
	AbortArgs struct {
		Rollout *v1alpha1.Rollout
		Context *Context
	}
	// Response is the answer of Run, Terminate and Abort.
	Response struct {
		Result Result
		Error  plugin.RPCError
	}
)

func init() {
	plugin.RegisterArgs("step.RunArgs", RunArgs{})
	plugin.RegisterArgs("step.TerminateArgs", TerminateArgs{})
	plugin.RegisterArgs("step.AbortArgs", AbortArgs{})
}

// Client calls one step plugin. Errors of the plugin manager are *plugin.Error; an error the
// plugin returns, or a call that fails, is an error that says which call.
type Client struct {
	// Plugins runs the plugin.
	Plugins *plugin.Manager
	// Name is the plugin's name in the ConfigMap.
	Name string
}

func (c Client) call(ctx context.Context, method string, args any) (Result, error) {
	var out Response
	err := c.Plugins.Call(ctx, plugin.Step, c.Name, "Plugin."+method, args, &out)
	if err != nil {
		if _, ok := plugin.AsError(err); ok {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("%s rpc call error: %w", method, err)
	}
	if out.Error.HasError() {
		return out.Result, out.Error
	}
	return out.Result, nil
}

// Run runs (or checks on) the step.
func (c Client) Run(ctx context.Context, ro *v1alpha1.Rollout, sc *Context) (Result, error) {
	return c.call(ctx, "Run", plugin.Wire(RunArgs{Rollout: ro, Context: sc}))
}

// Terminate stops a Run still in progress (the rollout was fully promoted).
func (c Client) Terminate(ctx context.Context, ro *v1alpha1.Rollout, sc *Context) (Result, error) {
	return c.call(ctx, "Terminate", plugin.Wire(TerminateArgs{Rollout: ro, Context: sc}))
}

// Abort undoes what Run did (the rollout was aborted).
func (c Client) Abort(ctx context.Context, ro *v1alpha1.Rollout, sc *Context) (Result, error) {
	return c.call(ctx, "Abort", plugin.Wire(AbortArgs{Rollout: ro, Context: sc}))
}

// Type asks the plugin its type name.
func (c Client) Type(ctx context.Context) (string, error) {
	var out string
	if err := c.Plugins.Call(ctx, plugin.Step, c.Name, "Plugin.Type", nil, &out); err != nil {
		if _, ok := plugin.AsError(err); ok {
			return "", err
		}
		return "", fmt.Errorf("Type rpc call error: %w", err)
	}
	return out, nil
}
