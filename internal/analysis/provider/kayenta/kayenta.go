// Package kayenta measures a metric with a Kayenta canary judgement, as Argo Rollouts' Kayenta
// provider does.
//
// A measurement looks up the id of `canaryConfigName` among the application's canary
// configurations (GET <address>/canaryConfig), starts a canary execution comparing each
// scope's experimentScope with its controlScope (POST <address>/canary/<config id>), and is
// Running until Kayenta reports it complete (GET <address>/canary/<execution id>, every 15s).
// The score decides the phase by itself, as Kayenta's thresholds do: score >= threshold.pass
// is Successful, >= threshold.marginal Inconclusive, below Failed; the measurement's value is
// the score and its metadata the canaryExecutionId.
//
// A scope without start and end covers, from start to end: with `lookback: true` the time
// since the analysis started, else the metric's interval before the measurement, up to the
// measurement. Each call is bounded by CallTimeout and retried while it can pass (package
// apicall).
//
// Unlike Argo Rollouts, which sends the storage account as configurationAccountName when it
// looks the configuration up, Vane sends configurationAccountName.
package kayenta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
	"github.com/vanedev/vane/internal/analysis/provider/apicall"
)

const (
	// CallTimeout bounds each call to Kayenta (Argo's client timeout).
	CallTimeout = 15 * time.Second
	// ResumeDelay is the wait between two looks at a canary execution.
	ResumeDelay = 15 * time.Second
	// ExecutionIDKey is the measurement metadata key of the canary execution's id.
	ExecutionIDKey = "canaryExecutionId"
)

// Provider runs Kayenta canary judgements.
type Provider struct {
	// Clock gives the end of scopes without one.
	Clock clock.PassiveClock
	// HTTP sends the requests (http.DefaultClient when nil).
	HTTP *http.Client
	// Timeout bounds each call (CallTimeout when 0).
	Timeout time.Duration
}

// New returns a Kayenta Provider taking its time from clk.
func New(clk clock.PassiveClock) *Provider { return &Provider{Clock: clk} }

// Measure implements provider.Provider: it starts a canary execution.
func (p *Provider) Measure(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) (provider.Result, error) {
	k := metric.Provider.Kayenta
	if k == nil {
		return provider.Result{}, errors.New("the metric has no kayenta provider")
	}
	base, err := address(k.Address)
	if err != nil {
		return provider.Result{}, provider.Permanent(err)
	}
	req, err := p.request(run, metric)
	if err != nil {
		return provider.Result{}, provider.Permanent(err)
	}
	configID, err := p.configID(ctx, base, k)
	if err != nil {
		return provider.Result{}, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return provider.Result{}, fmt.Errorf("kayenta: encoding the request: %w", err)
	}
	q := url.Values{"application": {k.Application}, "metricsAccountName": {k.MetricsAccountName},
		"configurationAccountName": {k.ConfigurationAccountName}, "storageAccountName": {k.StorageAccountName}}
	call := apicall.Call{API: "kayenta", Method: http.MethodPost, URL: base + "/canary/" + url.PathEscape(configID) + "?" + q.Encode(),
		Body: body, Header: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}}
	var started struct {
		ID any `json:"canaryExecutionId"`
	}
	if err := p.do(ctx, call, &started); err != nil {
		return provider.Result{}, err
	}
	id := ""
	if started.ID != nil {
		id = fmt.Sprint(started.ID)
	}
	if id == "" {
		return provider.Result{}, call.Errorf("the answer has no canaryExecutionId")
	}
	return provider.Result{Phase: v1alpha1.AnalysisPhaseRunning, Metadata: map[string]string{ExecutionIDKey: id}, ResumeAfter: ResumeDelay}, nil
}

// Resume implements provider.Resumer: it looks at the canary execution, and judges its score
// once it is complete.
func (p *Provider) Resume(ctx context.Context, _ *v1alpha1.AnalysisRun, metric *v1alpha1.Metric, m *v1alpha1.Measurement) (provider.Result, error) {
	k := metric.Provider.Kayenta
	if k == nil {
		return provider.Result{}, errors.New("the metric has no kayenta provider")
	}
	base, err := address(k.Address)
	if err != nil {
		return provider.Result{}, provider.Permanent(err)
	}
	id := m.Metadata[ExecutionIDKey]
	if id == "" {
		return provider.Result{}, errors.New("kayenta: the measurement has no canaryExecutionId to look at")
	}
	call := apicall.Call{API: "kayenta", Method: http.MethodGet, URL: base + "/canary/" + url.PathEscape(id), Header: http.Header{"Accept": {"application/json"}}}
	var exec execution
	if err := p.do(ctx, call, &exec); err != nil {
		return provider.Result{}, err
	}
	if exec.Complete == nil {
		return provider.Result{}, call.Errorf("the canary execution %s has no complete status", id)
	}
	if !*exec.Complete {
		return provider.Result{Phase: v1alpha1.AnalysisPhaseRunning, ResumeAfter: ResumeDelay}, nil
	}
	if exec.Result == nil || exec.Result.JudgeResult == nil || exec.Result.JudgeResult.Score == nil || exec.Result.JudgeResult.Score.Score == nil {
		return provider.Result{}, call.Errorf("the canary execution %s completed without a score%s", id, exec.why())
	}
	score := int64(*exec.Result.JudgeResult.Score.Score)
	phase, msg := judge(score, k.Threshold)
	return provider.Result{Phase: phase, Message: msg, Display: strconv.FormatInt(score, 10)}, nil
}

// Terminate implements provider.Resumer: a canary execution is left to finish (Kayenta has
// no way to stop one that Argo uses either).
func (p *Provider) Terminate(context.Context, *v1alpha1.AnalysisRun, *v1alpha1.Metric, *v1alpha1.Measurement) error {
	return nil
}

// execution is the part of a canary execution's status read.
type execution struct {
	Complete *bool  `json:"complete"`
	Status   string `json:"status"`
	Result   *struct {
		JudgeResult *struct {
			Score *struct {
				Score *float64 `json:"score"`
			} `json:"score"`
		} `json:"judgeResult"`
	} `json:"result"`
	Exception *struct {
		Details struct {
			Errors []string `json:"errors"`
		} `json:"details"`
	} `json:"exception"`
}

func (e execution) why() string {
	var parts []string
	if e.Status != "" {
		parts = append(parts, "status "+e.Status)
	}
	if e.Exception != nil && len(e.Exception.Details.Errors) > 0 {
		parts = append(parts, strings.Join(e.Exception.Details.Errors, "; "))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ": ") + ")"
}

// judge gives the phase of a score.
func judge(score int64, t v1alpha1.KayentaThreshold) (v1alpha1.AnalysisPhase, string) {
	switch {
	case score >= t.Pass:
		return v1alpha1.AnalysisPhaseSuccessful, ""
	case score >= t.Marginal:
		return v1alpha1.AnalysisPhaseInconclusive, fmt.Sprintf("score %d is marginal (pass %d, marginal %d)", score, t.Pass, t.Marginal)
	default:
		return v1alpha1.AnalysisPhaseFailed, fmt.Sprintf("score %d is below the marginal score %d (pass %d)", score, t.Marginal, t.Pass)
	}
}

// configID finds the id of the metric's canary configuration.
func (p *Provider) configID(ctx context.Context, base string, k *v1alpha1.KayentaMetric) (string, error) {
	q := url.Values{"application": {k.Application}, "configurationAccountName": {k.ConfigurationAccountName}}
	call := apicall.Call{API: "kayenta", Method: http.MethodGet, URL: base + "/canaryConfig?" + q.Encode(), Header: http.Header{"Accept": {"application/json"}}}
	var configs []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := p.do(ctx, call, &configs); err != nil {
		return "", err
	}
	for _, c := range configs {
		if c.Name == k.CanaryConfigName {
			return c.ID, nil
		}
	}
	return "", call.Errorf("no canary configuration %q for application %q (%d found)", k.CanaryConfigName, k.Application, len(configs))
}

// do makes a call bounded by the Provider's Timeout and decodes its JSON answer into out.
func (p *Provider) do(ctx context.Context, call apicall.Call, out any) error {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = CallTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := apicall.Do(ctx, p.HTTP, call)
	if err != nil {
		return err
	}
	if !resp.OK() {
		return call.StatusError(resp)
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return call.Errorf("the answer of %s %s is not what Kayenta answers (%v)%s", call.Method, call.URL, err, apicall.Excerpt(resp.Body))
	}
	return nil
}

func address(a string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(a))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("kayenta.address %q is not an http:// or https:// URL", a)
	}
	return strings.TrimRight(u.String(), "/"), nil
}
