// Package job measures a metric by running a Kubernetes Job: the measurement is Successful when
// the Job completes, Failed when it fails. The Job runs in the AnalysisRun's namespace and is
// owned by the run, so it goes away with it; Jobs of older measurements are deleted beyond the
// metric's measurement retention, and a Job still running when the run stops is deleted.
package job

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/provider"
)

// Labels, annotations and metadata keys, as Argo Rollouts names them.
const (
	// RunUIDLabel labels a Job with the UID of its AnalysisRun.
	RunUIDLabel = "analysisrun.argoproj.io/uid"
	// RunNameAnnotation and MetricNameAnnotation annotate a Job with its run and metric.
	RunNameAnnotation    = "analysisrun.argoproj.io/name"
	MetricNameAnnotation = "analysisrun.argoproj.io/metric-name"
	// JobNameKey is the measurement metadata key of the Job's name.
	JobNameKey = "job-name"
)

// PollInterval is how often a Job in progress is looked at besides the events on it.
const PollInterval = 5 * time.Second

// notFoundGrace is how long a Job that was just created may be missing from a cache.
const notFoundGrace = 30 * time.Second

// Provider runs Jobs.
type Provider struct {
	// Client reads Jobs (a cache is fine) and creates and deletes them.
	Client client.Client
	// Clock is the time source.
	Clock clock.PassiveClock
}

// Name returns the name of the Job of the n-th measurement (from 1) of a metric: Argo's
// `<run uid>.<metric>.<n>`, with the metric name made DNS-safe and the whole kept within 63
// characters (the Job name becomes a pod label).
func Name(run *v1alpha1.AnalysisRun, metric string, n int32) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, metric)
	safe = strings.Trim(safe, "-")
	if safe == "" {
		safe = "metric"
	}
	name := fmt.Sprintf("%s.%s.%d", run.UID, safe, n)
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(metric))
	suffix := fmt.Sprintf("-%s.%d", hex.EncodeToString(sum[:])[:8], n)
	keep := 63 - len(run.UID) - 1 - len(suffix)
	return fmt.Sprintf("%s.%s%s", run.UID, strings.Trim(safe[:max(keep, 1)], "-"), suffix)
}

// measurementNumber is the number of the next measurement of a metric, from the run's status.
func measurementNumber(run *v1alpha1.AnalysisRun, metric string) int32 {
	for _, r := range run.Status.MetricResults {
		if r.Name == metric {
			return r.Count + r.Error + 1
		}
	}
	return 1
}

// Measure implements provider.Provider: it creates the Job.
func (p *Provider) Measure(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) (provider.Result, error) {
	jm := metric.Provider.Job
	if jm == nil {
		return provider.Result{}, fmt.Errorf("the metric has no job provider")
	}
	name := Name(run, metric.Name, measurementNumber(run, metric.Name))
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   run.Namespace,
			Labels:      map[string]string{},
			Annotations: map[string]string{},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(run,
				v1alpha1.GroupVersion.WithKind("AnalysisRun"))},
		},
		Spec: *jm.Spec.DeepCopy(),
	}
	for k, v := range jm.Metadata.Labels {
		job.Labels[k] = v
	}
	for k, v := range jm.Metadata.Annotations {
		job.Annotations[k] = v
	}
	job.Labels[RunUIDLabel] = string(run.UID)
	job.Annotations[RunNameAnnotation] = run.Name
	job.Annotations[MetricNameAnnotation] = metric.Name
	res := provider.Result{Phase: v1alpha1.AnalysisPhaseRunning, Metadata: map[string]string{JobNameKey: name}, ResumeAfter: PollInterval}
	if err := p.Client.Create(ctx, job); err != nil {
		if apierrors.IsInvalid(err) {
			return provider.Result{}, provider.Permanent(fmt.Errorf("the job spec is invalid: %w", err))
		}
		if !apierrors.IsAlreadyExists(err) {
			return provider.Result{}, fmt.Errorf("creating job %s: %w", name, err)
		}
		// created by an earlier attempt whose status update was lost: take it over
		var existing batchv1.Job
		if err := p.Client.Get(ctx, client.ObjectKey{Namespace: run.Namespace, Name: name}, &existing); err != nil {
			return provider.Result{}, fmt.Errorf("reading job %s: %w", name, err)
		}
		if existing.Labels[RunUIDLabel] != string(run.UID) {
			return provider.Result{}, fmt.Errorf("job %s exists and does not belong to this AnalysisRun", name)
		}
	}
	return res, nil
}

// Resume implements provider.Resumer: it looks at the Job.
func (p *Provider) Resume(ctx context.Context, run *v1alpha1.AnalysisRun, _ *v1alpha1.Metric, m *v1alpha1.Measurement) (provider.Result, error) {
	name := m.Metadata[JobNameKey]
	res := provider.Result{Phase: v1alpha1.AnalysisPhaseRunning, Metadata: m.Metadata, ResumeAfter: PollInterval}
	if name == "" {
		return provider.Result{}, fmt.Errorf("the measurement names no job")
	}
	var job batchv1.Job
	if err := p.Client.Get(ctx, client.ObjectKey{Namespace: run.Namespace, Name: name}, &job); err != nil {
		if apierrors.IsNotFound(err) {
			if m.StartedAt != nil && p.Clock.Since(m.StartedAt.Time) < notFoundGrace {
				return res, nil
			}
			return provider.Result{}, fmt.Errorf("job %s is gone (deleted before it finished)", name)
		}
		return provider.Result{}, fmt.Errorf("reading job %s: %w", name, err)
	}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			res.Phase, res.Display, res.Value = v1alpha1.AnalysisPhaseSuccessful, "Complete", "Complete"
			res.Message = fmt.Sprintf("job %s completed (%d succeeded)", name, job.Status.Succeeded)
			return res, nil
		case batchv1.JobFailed:
			res.Phase, res.Display, res.Value = v1alpha1.AnalysisPhaseFailed, "Failed", "Failed"
			res.Message = fmt.Sprintf("job %s failed (%d failed pods): %s", name, job.Status.Failed, reason(c))
			return res, nil
		}
	}
	return res, nil
}

// number returns the measurement number at the end of a Job's name (0 when there is none).
func number(name string) int {
	n, _ := strconv.Atoi(name[strings.LastIndexByte(name, '.')+1:])
	return n
}

func reason(c batchv1.JobCondition) string {
	switch {
	case c.Reason != "" && c.Message != "":
		return c.Reason + ": " + c.Message
	case c.Message != "":
		return c.Message
	}
	return c.Reason
}

// Terminate implements provider.Resumer: it deletes the Job.
func (p *Provider) Terminate(ctx context.Context, run *v1alpha1.AnalysisRun, _ *v1alpha1.Metric, m *v1alpha1.Measurement) error {
	name := m.Metadata[JobNameKey]
	if name == "" {
		return nil
	}
	return p.delete(ctx, run.Namespace, name)
}

func (p *Provider) delete(ctx context.Context, namespace, name string) error {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	err := p.Client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting job %s: %w", name, err)
	}
	return nil
}

// GarbageCollect implements provider.Collector: it deletes the metric's Jobs but the newest keep.
func (p *Provider) GarbageCollect(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric, keep int) error {
	var list batchv1.JobList
	if err := p.Client.List(ctx, &list, client.InNamespace(run.Namespace), client.MatchingLabels{RunUIDLabel: string(run.UID)}); err != nil {
		return fmt.Errorf("listing jobs: %w", err)
	}
	var jobs []batchv1.Job
	for _, j := range list.Items {
		if j.Annotations[MetricNameAnnotation] == metric.Name && j.DeletionTimestamp == nil {
			jobs = append(jobs, j)
		}
	}
	if len(jobs) <= keep {
		return nil
	}
	// oldest first: by measurement number (the name's last part), then by creation
	sort.Slice(jobs, func(i, k int) bool {
		if a, b := number(jobs[i].Name), number(jobs[k].Name); a != b {
			return a < b
		}
		a, b := jobs[i].CreationTimestamp, jobs[k].CreationTimestamp
		return a.Before(&b)
	})
	for _, j := range jobs[:len(jobs)-keep] {
		if err := p.delete(ctx, j.Namespace, j.Name); err != nil {
			return err
		}
	}
	return nil
}
