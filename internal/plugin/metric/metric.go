// Package metric measures AnalysisRun metrics with Argo Rollouts metric provider plugins
// (`provider.plugin: {"<name>": config}`): Client speaks the plugins' net/rpc interface
// (Argo's RpcMetricProvider), Provider is the AnalysisRun controller's provider over it.
package metric

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/plugin"
)

// The arguments of the plugins' RPC methods, with Argo Rollouts' names and fields (gob sends
// both); see plugin.Wire for how Vane's API types are sent.
type (
	// RunArgs are Plugin.Run's.
	RunArgs struct {
		AnalysisRun *v1alpha1.AnalysisRun
		Metric      v1alpha1.Metric
	}
	// TerminateAndResumeArgs are Plugin.Resume's and Plugin.Terminate's.
	TerminateAndResumeArgs struct {
		AnalysisRun *v1alpha1.AnalysisRun
		Metric      v1alpha1.Metric
		Measurement v1alpha1.Measurement
	}
	// GarbageCollectArgs are Plugin.GarbageCollect's.
	GarbageCollectArgs struct {
		AnalysisRun *v1alpha1.AnalysisRun
		Metric      v1alpha1.Metric
		Limit       int
	}
	// GetMetadataArgs are Plugin.GetMetadata's.
	GetMetadataArgs struct {
		Metric v1alpha1.Metric
	}
)

func init() {
	plugin.RegisterArgs("RunArgs", RunArgs{})
	plugin.RegisterArgs("TerminateAndResumeArgs", TerminateAndResumeArgs{})
	plugin.RegisterArgs("GarbageCollectArgs", GarbageCollectArgs{})
	plugin.RegisterArgs("GetMetadataArgs", GetMetadataArgs{})
}

// Client calls one metric provider plugin. Errors of the plugin manager (not configured,
// unusable, not starting) are *plugin.Error; a call that fails says which.
type Client struct {
	// Plugins runs the plugin.
	Plugins *plugin.Manager
	// Name is the plugin's name in the ConfigMap.
	Name string
}

func (c Client) call(ctx context.Context, method string, args, reply any) error {
	err := c.Plugins.Call(ctx, plugin.MetricProvider, c.Name, "Plugin."+method, args, reply)
	if err == nil {
		return nil
	}
	if _, ok := plugin.AsError(err); ok {
		return err
	}
	return fmt.Errorf("%s rpc call error: %w", method, err)
}

// Run starts a measurement (the plugin's Run).
func (c Client) Run(ctx context.Context, run *v1alpha1.AnalysisRun, m *v1alpha1.Metric) (v1alpha1.Measurement, error) {
	var out v1alpha1.Measurement
	err := c.call(ctx, "Run", plugin.Wire(RunArgs{AnalysisRun: run, Metric: *m}), &out)
	return out, err
}

// Resume checks on a measurement in progress (the plugin's Resume).
func (c Client) Resume(ctx context.Context, run *v1alpha1.AnalysisRun, m *v1alpha1.Metric, meas *v1alpha1.Measurement) (v1alpha1.Measurement, error) {
	var out v1alpha1.Measurement
	err := c.call(ctx, "Resume", plugin.Wire(TerminateAndResumeArgs{AnalysisRun: run, Metric: *m, Measurement: *meas}), &out)
	return out, err
}

// Terminate stops a measurement in progress (the plugin's Terminate).
func (c Client) Terminate(ctx context.Context, run *v1alpha1.AnalysisRun, m *v1alpha1.Metric, meas *v1alpha1.Measurement) (v1alpha1.Measurement, error) {
	var out v1alpha1.Measurement
	err := c.call(ctx, "Terminate", plugin.Wire(TerminateAndResumeArgs{AnalysisRun: run, Metric: *m, Measurement: *meas}), &out)
	return out, err
}

// GarbageCollect lets the plugin delete what all but the limit most recent measurements left.
func (c Client) GarbageCollect(ctx context.Context, run *v1alpha1.AnalysisRun, m *v1alpha1.Metric, limit int) error {
	var out plugin.RPCError
	if err := c.call(ctx, "GarbageCollect", plugin.Wire(GarbageCollectArgs{AnalysisRun: run, Metric: *m, Limit: limit}), &out); err != nil {
		return err
	}
	if out.HasError() {
		return fmt.Errorf("failed to garbage collect via plugin: %s", out.ErrorString)
	}
	return nil
}

// Type returns the plugin's provider type (Argo's sample says "RPCPlugin").
func (c Client) Type(ctx context.Context) (string, error) {
	var out string
	err := c.call(ctx, "Type", nil, &out)
	return out, err
}

// GetMetadata returns what the plugin keeps on the metric's result (e.g. a resolved query).
func (c Client) GetMetadata(ctx context.Context, m *v1alpha1.Metric) (map[string]string, error) {
	var out map[string]string
	if err := c.call(ctx, "GetMetadata", plugin.Wire(GetMetadataArgs{Metric: *m}), &out); err != nil {
		return nil, err
	}
	if out["error"] != "" {
		out["error"] = "failed to get metadata via plugin: " + out["error"]
	}
	return out, nil
}

// Provider is the AnalysisRun controller's provider of plugin metrics: it measures, resumes,
// terminates and garbage-collects through the plugin the metric names. The plugin judges its
// measurements itself (it evaluates the metric's conditions).
type Provider struct {
	plugins *plugin.Manager
	clock   clock.PassiveClock
}

// New returns a Provider over the plugins of plugins.
func New(plugins *plugin.Manager, clk clock.PassiveClock) *Provider {
	return &Provider{plugins: plugins, clock: clk}
}

// PluginName returns the one plugin a metric names in provider.plugin.
func PluginName(m *v1alpha1.Metric) (string, error) {
	var names []string
	for name := range m.Provider.Plugin {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) != 1 {
		return "", fmt.Errorf("provider.plugin must name exactly one plugin, not %d (%s)", len(names), strings.Join(names, ", "))
	}
	return names[0], nil
}

func (p *Provider) client(m *v1alpha1.Metric) (Client, error) {
	name, err := PluginName(m)
	if err != nil {
		return Client{}, provider.Permanent(err)
	}
	return Client{Plugins: p.plugins, Name: name}, nil
}

// Measure implements provider.Provider: the plugin's Run, and its metadata for the metric's
// result.
func (p *Provider) Measure(ctx context.Context, run *v1alpha1.AnalysisRun, m *v1alpha1.Metric) (provider.Result, error) {
	c, err := p.client(m)
	if err != nil {
		return provider.Result{}, err
	}
	meas, err := c.Run(ctx, run, m)
	if err != nil {
		return provider.Result{}, classify(err)
	}
	res, err := p.result(meas, "run")
	if err != nil {
		return res, err
	}
	if md, err := c.GetMetadata(ctx, m); err == nil && len(md) > 0 {
		res.MetricMetadata = md
	}
	return res, nil
}

// Resume implements provider.Resumer: the plugin's Resume.
func (p *Provider) Resume(ctx context.Context, run *v1alpha1.AnalysisRun, m *v1alpha1.Metric, prev *v1alpha1.Measurement) (provider.Result, error) {
	c, err := p.client(m)
	if err != nil {
		return provider.Result{}, err
	}
	meas, err := c.Resume(ctx, run, m, prev)
	if err != nil {
		return provider.Result{}, classify(err)
	}
	return p.result(meas, "resume")
}

// Terminate implements provider.Resumer: the plugin's Terminate.
func (p *Provider) Terminate(ctx context.Context, run *v1alpha1.AnalysisRun, m *v1alpha1.Metric, prev *v1alpha1.Measurement) error {
	c, err := p.client(m)
	if err != nil {
		return err
	}
	meas, err := c.Terminate(ctx, run, m, prev)
	if err != nil {
		return classify(err)
	}
	if meas.Phase == v1alpha1.AnalysisPhaseError {
		return fmt.Errorf("failed to terminate via plugin: %s", meas.Message)
	}
	return nil
}

// GarbageCollect implements provider.Collector: the plugin's GarbageCollect. A plugin that
// cannot be used left nothing behind: its measurements already say why.
func (p *Provider) GarbageCollect(ctx context.Context, run *v1alpha1.AnalysisRun, m *v1alpha1.Metric, keep int) error {
	c, err := p.client(m)
	if err != nil {
		return nil
	}
	err = c.GarbageCollect(ctx, run, m, keep)
	if e, ok := plugin.AsError(err); ok && e.Permanent {
		return nil
	}
	return err
}

// result turns the plugin's measurement into the controller's result: the plugin's phase,
// message and value; an Error phase is an error with Argo's message.
func (p *Provider) result(m v1alpha1.Measurement, op string) (provider.Result, error) {
	res := provider.Result{Phase: m.Phase, Message: m.Message, Display: m.Value, Value: m.Value, Metadata: m.Metadata}
	switch m.Phase {
	case v1alpha1.AnalysisPhaseError:
		return provider.Result{Metadata: m.Metadata}, fmt.Errorf("failed to %s via plugin: %s", op, m.Message)
	case v1alpha1.AnalysisPhaseRunning:
		if m.ResumeAt != nil {
			res.ResumeAfter = max(m.ResumeAt.Sub(p.clock.Now()), time.Millisecond)
		}
		return res, nil
	case v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseInconclusive:
		return res, nil
	}
	return provider.Result{}, fmt.Errorf("failed to %s via plugin: the plugin returned a measurement in phase %q", op, m.Phase)
}

// classify marks the plugin manager's permanent errors (plugin not configured or unusable) as
// permanent for the controller: the metric errors at once, naming the plugin.
func classify(err error) error {
	if e, ok := plugin.AsError(err); ok && e.Permanent {
		return provider.Permanent(err)
	}
	return err
}
