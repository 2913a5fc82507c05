package analysisrun

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis"
	"github.com/vanedev/vane/internal/analysis/condition"
	"github.com/vanedev/vane/internal/analysis/provider"
)

// supported lists the providers Vane implements, for error messages.
var supported = []string{"web", "prometheus", "job", "datadog", "newRelic", "cloudWatch", "wavefront", "graphite", "influxdb", "kayenta", "skywalking"}

// metricState is one metric of the run during a reconcile.
type metricState struct {
	spec     *v1alpha1.Metric // as stored, placeholders and all
	resolved v1alpha1.Metric  // arguments substituted (secret values in clear: never log it)
	limits   analysis.Limits
	result   *v1alpha1.MetricResult
	provider provider.Provider
}

// task is a measurement to take, resume or terminate, and its outcome.
type task struct {
	m        *metricState
	kind     taskKind
	started  time.Time
	previous *v1alpha1.Measurement // the in-progress measurement resumed or terminated
	flight   *flight               // a measurement's call to the provider (see flights)
	res      provider.Result
	err      error
}

type taskKind int

const (
	measure taskKind = iota
	resume
	terminate
)

// sync moves a run that has not completed one step on.
func (r *Reconciler) sync(ctx context.Context, s *syncState) (reconcile.Result, error) {
	run := s.run
	if run.Status.StartedAt == nil {
		run.Status.StartedAt = &metav1.Time{Time: s.now}
	}
	if run.Status.Phase == "" || run.Status.Phase == v1alpha1.AnalysisPhasePending {
		run.Status.Phase = v1alpha1.AnalysisPhaseRunning
	}
	if errs := v1alpha1.ValidateAnalysisRun(run); len(errs) > 0 {
		r.finish(s, v1alpha1.AnalysisPhaseError, "invalid AnalysisRun: "+errs.ToAggregate().Error())
		return s.result(), nil
	}
	args, err := r.resolveArgs(ctx, run)
	if err != nil {
		r.finish(s, v1alpha1.AnalysisPhaseError, args.scrub(err.Error()))
		return s.result(), nil
	}
	metrics, err := r.metricStates(run, args)
	if err != nil {
		r.finish(s, v1alpha1.AnalysisPhaseError, args.scrub(err.Error()))
		return s.result(), nil
	}

	terminating := analysis.Terminating(run)
	for pass := 0; pass < 2; pass++ {
		if err := r.step(ctx, s, metrics, args, terminating); err != nil {
			return reconcile.Result{}, err
		}
		// a metric that just failed stops the others at once
		if terminating || !analysis.Terminating(run) {
			break
		}
		terminating = true
	}

	r.judgeRun(s, metrics)
	return s.result(), nil
}

// metricStates resolves each metric's arguments and limits and picks its provider; the error
// names the metric.
func (r *Reconciler) metricStates(run *v1alpha1.AnalysisRun, args resolvedArgs) ([]*metricState, error) {
	for i := range run.Spec.Metrics {
		ensureResult(run, run.Spec.Metrics[i].Name)
	}
	metrics := make([]*metricState, 0, len(run.Spec.Metrics))
	for i := range run.Spec.Metrics {
		spec := &run.Spec.Metrics[i]
		m := &metricState{spec: spec, result: ensureResult(run, spec.Name)}
		var err error
		if m.resolved, err = analysis.Substitute(spec, args.values); err == nil {
			m.limits, err = analysis.MetricLimits(&m.resolved)
		}
		if err != nil {
			return nil, fmt.Errorf("metric %q: %w", spec.Name, err)
		}
		m.provider = r.providerFor(&m.resolved)
		metrics = append(metrics, m)
	}
	return metrics, nil
}

// judgeRun judges the run from its metrics: it finishes a completed run, and says of a running
// one what holds a metric back (errors in a row).
func (r *Reconciler) judgeRun(s *syncState, metrics []*metricState) {
	run := s.run
	states := make([]analysis.MetricState, 0, len(metrics))
	for _, m := range metrics {
		states = append(states, analysis.MetricState{Name: m.spec.Name, DryRun: m.result.DryRun, Phase: m.result.Phase, Message: m.result.Message})
	}
	a := analysis.AssessRun(states)
	run.Status.RunSummary, run.Status.DryRunSummary = a.Summary, a.DryRun
	if a.Phase.Completed() {
		msg := a.Message
		if run.Spec.Terminate && msg == "" {
			msg = "Run Terminated"
		}
		r.finish(s, a.Phase, msg)
		return
	}
	var notes []string
	for _, m := range metrics {
		if !m.result.Phase.Completed() && m.result.Message != "" {
			notes = append(notes, fmt.Sprintf("metric %q: %s", m.spec.Name, m.result.Message))
		}
	}
	run.Status.Phase, run.Status.Message = v1alpha1.AnalysisPhaseRunning, strings.Join(notes, "; ")
}

// step takes the measurements that are due (or, when terminating, stops the ones in progress)
// and assesses every metric.
func (r *Reconciler) step(ctx context.Context, s *syncState, metrics []*metricState, args resolvedArgs, terminating bool) error {
	run := s.run
	var tasks []*task
	for _, m := range metrics {
		if m.result.Phase.Completed() {
			continue
		}
		var last *v1alpha1.Measurement
		if n := len(m.result.Measurements); n > 0 && !m.result.Measurements[n-1].Phase.Completed() {
			last = m.result.Measurements[n-1].DeepCopy()
		}
		switch {
		case last != nil && terminating:
			tasks = append(tasks, &task{m: m, kind: terminate, previous: last})
		case last != nil:
			tasks = append(tasks, &task{m: m, kind: resume, previous: last})
		case terminating:
		default:
			at, ok, err := analysis.NextMeasurement(&m.resolved, m.limits, m.result, run.Status.StartedAt.Time)
			if err != nil {
				return fmt.Errorf("metric %q: %w", m.spec.Name, err) // validation rules this out
			}
			if !ok {
				continue
			}
			if at.After(s.now) {
				s.wakeAt(at)
				continue
			}
			tasks = append(tasks, &task{m: m, kind: measure})
		}
	}
	finished := r.run(ctx, run, tasks)
	if len(finished) < len(tasks) {
		s.wakeAt(s.now.Add(inFlightPoll)) // to record the measurements still in progress
	}
	for _, t := range finished {
		r.apply(ctx, s, t, args)
	}
	for _, m := range metrics {
		r.assess(ctx, s, m, terminating)
	}
	return nil
}

// run carries out the tasks at the same time and returns those that finished. A measurement
// still running after measureBudget goes on in the background and is returned by a later
// reconcile (see flights); resuming or terminating one in progress is waited for (each
// provider call is bounded by its timeout).
func (r *Reconciler) run(ctx context.Context, run *v1alpha1.AnalysisRun, tasks []*task) []*task {
	budget := make(chan struct{})
	timer := time.AfterFunc(measureBudget, func() { close(budget) })
	defer timer.Stop()
	var wg sync.WaitGroup
	for _, t := range tasks {
		if t.kind == measure {
			r.startMeasure(ctx, run, t)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.started = r.Clock.Now()
			res, ok := t.m.provider.(provider.Resumer)
			switch {
			case t.kind == resume && ok:
				t.res, t.err = res.Resume(ctx, run, &t.m.resolved, t.previous)
			case t.kind == resume:
				t.err = fmt.Errorf("the measurement was left in progress and its provider cannot resume it")
			case ok:
				t.err = res.Terminate(ctx, run, &t.m.resolved, t.previous)
			}
		}()
	}
	wg.Wait()
	finished := make([]*task, 0, len(tasks))
	for _, t := range tasks {
		if t.kind == measure {
			if !t.flight.wait(budget) {
				continue
			}
			t.started, t.res, t.err = t.flight.started, t.flight.res, t.flight.err
			inFlight.collect(flightKey(run, t.m.spec.Name))
		}
		finished = append(finished, t)
	}
	return finished
}

// startMeasure starts the task's measurement, or joins the one an earlier reconcile started
// for the metric. The provider gets copies: the run changes while it measures.
func (r *Reconciler) startMeasure(ctx context.Context, run *v1alpha1.AnalysisRun, t *task) {
	p, runCopy, metric := t.m.provider, run.DeepCopy(), t.m.resolved.DeepCopy()
	t.flight = inFlight.start(ctx, flightKey(run, t.m.spec.Name), r.Clock.Now(),
		func(ctx context.Context) (provider.Result, error) { return p.Measure(ctx, runCopy, metric) }, r.Clock.Now)
}

// apply records a task's outcome as a measurement.
func (r *Reconciler) apply(ctx context.Context, s *syncState, t *task, args resolvedArgs) {
	m, res := t.m, t.res
	now := r.Clock.Now()
	meas := v1alpha1.Measurement{StartedAt: &metav1.Time{Time: t.started}}
	if t.previous != nil {
		meas = *t.previous
	}
	if len(res.Metadata) > 0 {
		meas.Metadata = scrubMap(res.Metadata, args)
	}
	judgeMeasurement(s, t, &meas, now)
	if meas.Phase.Completed() {
		meas.FinishedAt = &metav1.Time{Time: now}
		meas.ResumeAt = nil
	}
	meas.Value, meas.Message = args.scrub(meas.Value), args.scrub(meas.Message)
	analysis.Record(m.result, meas)
	if len(res.MetricMetadata) > 0 {
		if m.result.Metadata == nil {
			m.result.Metadata = map[string]string{}
		}
		maps.Copy(m.result.Metadata, scrubMap(res.MetricMetadata, args))
	}
	if t.err != nil && provider.IsPermanent(t.err) {
		m.result.Phase = v1alpha1.AnalysisPhaseError
		m.result.Message = fmt.Sprintf("metric %q errored: %s (not retried)", m.spec.Name, meas.Message)
		s.event(true, "MetricError", "%s", m.result.Message)
	}
	keep := v1alpha1.EffectiveMeasurementRetention(m.spec.Name, s.run.Spec.MeasurementRetention)
	analysis.Trim(m.result, keep)
	if meas.Phase.Completed() {
		if gc, ok := m.provider.(provider.Collector); ok {
			if err := gc.GarbageCollect(ctx, s.run, &m.resolved, int(max(keep, 1))); err != nil {
				log.FromContext(ctx).Error(err, "cleaning up after the metric's measurements", "metric", m.spec.Name)
			}
		}
	}
	if meas.Phase == v1alpha1.AnalysisPhaseRunning && meas.ResumeAt == nil && t.kind == measure {
		s.wakeAt(now.Add(time.Second)) // a provider that gave no hint: look again soon
	}
}

// judgeMeasurement gives a measurement its phase, message and value from the task's outcome:
// terminated, errored, still running (resumed later), judged by the provider, or judged by the
// metric's conditions.
func judgeMeasurement(s *syncState, t *task, meas *v1alpha1.Measurement, now time.Time) {
	m, res := t.m, t.res
	switch {
	case t.kind == terminate:
		meas.Phase, meas.Message = v1alpha1.AnalysisPhaseSuccessful, "Metric Terminated: the run stopped before the measurement finished"
		if t.err != nil {
			meas.Message += " (" + t.err.Error() + ")"
		}
	case t.err != nil:
		meas.Phase, meas.Message = v1alpha1.AnalysisPhaseError, t.err.Error()
	case res.Phase == v1alpha1.AnalysisPhaseRunning:
		meas.Phase = v1alpha1.AnalysisPhaseRunning
		if res.ResumeAfter > 0 {
			meas.ResumeAt = &metav1.Time{Time: now.Add(res.ResumeAfter)}
			s.wakeAt(meas.ResumeAt.Time)
		}
	case res.Phase != "":
		meas.Phase, meas.Message, meas.Value = res.Phase, res.Message, res.Display
	default:
		out := condition.Evaluate(m.resolved.SuccessCondition, m.resolved.FailureCondition, res.Value)
		meas.Phase, meas.Value = out.Phase, res.Display
		if out.Phase != v1alpha1.AnalysisPhaseSuccessful {
			meas.Message = out.Reason
		}
	}
}

// assess updates a metric's phase and message, and announces its completion.
func (r *Reconciler) assess(ctx context.Context, s *syncState, m *metricState, terminating bool) {
	res := m.result
	if res.Phase.Completed() {
		return
	}
	phase, msg := analysis.AssessMetric(m.spec.Name, m.limits, res, terminating)
	if !phase.Completed() {
		res.Phase, res.Message = phase, ""
		n := len(res.Measurements)
		if n > 0 && res.Measurements[n-1].Phase == v1alpha1.AnalysisPhaseError {
			res.Message = fmt.Sprintf("measurement error (%d in a row, limit %d): %s",
				res.ConsecutiveError, m.limits.ConsecutiveErrorLimit, res.Measurements[n-1].Message)
		}
		// when to look again: the measurement in progress, or the next one
		if n > 0 && res.Measurements[n-1].ResumeAt != nil {
			s.wakeAt(res.Measurements[n-1].ResumeAt.Time)
		} else if inFlight.running(flightKey(s.run, m.spec.Name)) {
			s.wakeAt(s.now.Add(inFlightPoll))
		} else if at, ok, err := analysis.NextMeasurement(&m.resolved, m.limits, res, s.run.Status.StartedAt.Time); err == nil && ok {
			s.wakeAt(at)
		}
		return
	}
	res.Phase, res.Message = phase, msg
	log.FromContext(ctx).V(1).Info("metric completed", "metric", m.spec.Name, "phase", phase, "dryRun", res.DryRun)
	text := fmt.Sprintf("metric %q completed: %s", m.spec.Name, phase)
	if msg != "" {
		text = msg
	}
	if res.DryRun {
		text += " (dry run)"
	}
	s.event(phase != v1alpha1.AnalysisPhaseSuccessful, "Metric"+string(phase), "%s", text)
}

// finish completes the run.
func (r *Reconciler) finish(s *syncState, phase v1alpha1.AnalysisPhase, msg string) {
	run := s.run
	run.Status.Phase, run.Status.Message = phase, msg
	run.Status.CompletedAt = &metav1.Time{Time: s.now}
	text := "analysis " + strings.ToLower(string(phase))
	if msg != "" {
		text += ": " + msg
	}
	s.event(phase != v1alpha1.AnalysisPhaseSuccessful, "AnalysisRun"+string(phase), "%s", text)
	if ttl := ttlFor(run); ttl != nil {
		s.wakeAt(run.Status.CompletedAt.Add(time.Duration(*ttl) * time.Second))
	}
}

// ensureResult returns the run's result for the named metric, adding a Pending one if needed
// (which moves the others: take pointers only once every metric has its result).
func ensureResult(run *v1alpha1.AnalysisRun, name string) *v1alpha1.MetricResult {
	for i := range run.Status.MetricResults {
		if run.Status.MetricResults[i].Name == name {
			return &run.Status.MetricResults[i]
		}
	}
	run.Status.MetricResults = append(run.Status.MetricResults, v1alpha1.MetricResult{
		Name: name, Phase: v1alpha1.AnalysisPhasePending, DryRun: v1alpha1.IsDryRun(name, run.Spec.DryRun),
	})
	return &run.Status.MetricResults[len(run.Status.MetricResults)-1]
}

// providerFor returns the provider that measures m.
func (r *Reconciler) providerFor(m *v1alpha1.Metric) provider.Provider {
	name := provider.Name(&m.Provider)
	if p, ok := r.Providers[name]; ok {
		return p
	}
	if p := r.pluginProvider(m); p != nil {
		return p
	}
	return provider.Unsupported{Provider: name, Supported: supported}
}

func scrubMap(in map[string]string, args resolvedArgs) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = args.scrub(v)
	}
	return out
}
