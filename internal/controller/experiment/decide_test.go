package experiment

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time { return &metav1.Time{Time: t0.Add(d)} }

const (
	successful  = v1alpha1.AnalysisPhaseSuccessful
	running     = v1alpha1.AnalysisPhaseRunning
	pending     = v1alpha1.AnalysisPhasePending
	failed      = v1alpha1.AnalysisPhaseFailed
	errored     = v1alpha1.AnalysisPhaseError
	inconclusiv = v1alpha1.AnalysisPhaseInconclusive
)

// runs builds analysis statuses "name=phase".
func runs(phases map[string]v1alpha1.AnalysisPhase) []v1alpha1.ExperimentAnalysisRunStatus {
	var out []v1alpha1.ExperimentAnalysisRunStatus
	for _, name := range []string{"a", "b"} {
		if p, ok := phases[name]; ok {
			out = append(out, v1alpha1.ExperimentAnalysisRunStatus{Name: name, Phase: p, Message: name + " says " + string(p)})
		}
	}
	return out
}

func refs(required ...bool) []v1alpha1.ExperimentAnalysisTemplateRef {
	names := []string{"a", "b"}
	var out []v1alpha1.ExperimentAnalysisTemplateRef
	for i, r := range required {
		out = append(out, v1alpha1.ExperimentAnalysisTemplateRef{Name: names[i], TemplateName: "t", RequiredForCompletion: r})
	}
	return out
}

// TestAssessAnalyses: the worst run phase in Argo's order (Successful, Running, Pending,
// Inconclusive, Error, Failed), Pending read as Running, and "Required AnalysisRuns completed"
// once every required run succeeded and none is running.
func TestAssessAnalyses(t *testing.T) {
	type want struct {
		Phase v1alpha1.AnalysisPhase
		Msg   string
	}
	cases := map[string]struct {
		analyses []v1alpha1.ExperimentAnalysisTemplateRef
		runs     map[string]v1alpha1.AnalysisPhase
		want     want
	}{
		"no analysis":                      {want: want{successful, ""}},
		"not started yet (empty phase)":    {refs(false), map[string]v1alpha1.AnalysisPhase{"a": ""}, want{successful, ""}},
		"pending reads running":            {refs(false), map[string]v1alpha1.AnalysisPhase{"a": pending}, want{running, "a says Pending"}},
		"running and successful":           {refs(false, false), map[string]v1alpha1.AnalysisPhase{"a": running, "b": successful}, want{running, "a says Running"}},
		"failed is worse than error":       {refs(false, false), map[string]v1alpha1.AnalysisPhase{"a": errored, "b": failed}, want{failed, "b says Failed"}},
		"inconclusive beats running":       {refs(false, false), map[string]v1alpha1.AnalysisPhase{"a": running, "b": inconclusiv}, want{inconclusiv, "b says Inconclusive"}},
		"required all successful":          {refs(true, true), map[string]v1alpha1.AnalysisPhase{"a": successful, "b": successful}, want{successful, msgRequiredCompleted}},
		"required done, another running":   {refs(true, false), map[string]v1alpha1.AnalysisPhase{"a": successful, "b": running}, want{running, "b says Running"}},
		"required done, another failed":    {refs(true, false), map[string]v1alpha1.AnalysisPhase{"a": successful, "b": failed}, want{failed, "b says Failed"}},
		"one of two required still going":  {refs(true, true), map[string]v1alpha1.AnalysisPhase{"a": successful, "b": running}, want{running, "b says Running"}},
		"no required, all successful":      {refs(false, false), map[string]v1alpha1.AnalysisPhase{"a": successful, "b": successful}, want{successful, ""}},
		"required successful, other empty": {refs(true, false), map[string]v1alpha1.AnalysisPhase{"a": successful, "b": ""}, want{successful, msgRequiredCompleted}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, msg := assessAnalyses(tc.analyses, runs(tc.runs))
			if diff := cmp.Diff(tc.want, want{p, msg}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestAssessTemplates: the worst template status (a template without one is Progressing),
// Progressing read as Pending, with the worst template's message.
func TestAssessTemplates(t *testing.T) {
	templates := []v1alpha1.TemplateSpec{{Name: "x"}, {Name: "y"}}
	st := func(x, y v1alpha1.TemplateStatusCode) []v1alpha1.TemplateStatus {
		out := []v1alpha1.TemplateStatus{{Name: "x", Status: x, Message: "x is " + string(x)}}
		if y != "" {
			out = append(out, v1alpha1.TemplateStatus{Name: "y", Status: y, Message: "y is " + string(y)})
		}
		return out
	}
	type want struct {
		Phase v1alpha1.AnalysisPhase
		Msg   string
	}
	cases := map[string]struct {
		statuses []v1alpha1.TemplateStatus
		want     want
	}{
		"no status yet":           {nil, want{pending, ""}},
		"one without status":      {st(v1alpha1.TemplateStatusRunning, ""), want{pending, "x is Running"}},
		"both running":            {st(v1alpha1.TemplateStatusRunning, v1alpha1.TemplateStatusRunning), want{running, "x is Running"}},
		"progressing is pending":  {st(v1alpha1.TemplateStatusRunning, v1alpha1.TemplateStatusProgressing), want{pending, "y is Progressing"}},
		"both successful":         {st(v1alpha1.TemplateStatusSuccessful, v1alpha1.TemplateStatusSuccessful), want{successful, ""}},
		"failed is worst":         {st(v1alpha1.TemplateStatusFailed, v1alpha1.TemplateStatusError), want{failed, "x is Failed"}},
		"error beats progressing": {st(v1alpha1.TemplateStatusProgressing, v1alpha1.TemplateStatusError), want{errored, "y is Error"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, msg := assessTemplates(templates, tc.statuses)
			if diff := cmp.Diff(tc.want, want{p, msg}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestExperimentPhase combines the verdicts as Argo's calculateStatus does; the cases named
// after Argo's tests (experiments/analysisrun_test.go) give their expectations.
func TestExperimentPhase(t *testing.T) {
	type want struct {
		Phase v1alpha1.AnalysisPhase
		Msg   string
	}
	cases := map[string]struct {
		analyses  []v1alpha1.ExperimentAnalysisTemplateRef
		runs      map[string]v1alpha1.AnalysisPhase
		templates v1alpha1.AnalysisPhase
		want      want
	}{
		"templates pending":                                           {nil, nil, pending, want{pending, "templates"}},
		"templates running, runs running":                             {refs(false), map[string]v1alpha1.AnalysisPhase{"a": running}, running, want{running, "templates"}},
		"TestFailExperimentWhenAnalysisFails":                         {refs(false, false), map[string]v1alpha1.AnalysisPhase{"a": failed, "b": successful}, running, want{failed, "a says Failed"}},
		"a run errs while still pending":                              {refs(false), map[string]v1alpha1.AnalysisPhase{"a": errored}, pending, want{errored, "a says Error"}},
		"inconclusive ends it":                                        {refs(false), map[string]v1alpha1.AnalysisPhase{"a": inconclusiv}, running, want{inconclusiv, "a says Inconclusive"}},
		"all successful, none required":                               {refs(false, false), map[string]v1alpha1.AnalysisPhase{"a": successful, "b": successful}, running, want{running, "templates"}},
		"TestCompleteExperimentOnSuccessfulRequiredAnalysisRun":       {refs(true), map[string]v1alpha1.AnalysisPhase{"a": successful}, pending, want{successful, msgRequiredCompleted}},
		"TestDoNotCompleteExperimentWithRemainingRequiredAnalysisRun": {refs(true, true), map[string]v1alpha1.AnalysisPhase{"a": successful, "b": running}, running, want{running, "templates"}},
		"required done, another still running":                        {refs(true, false), map[string]v1alpha1.AnalysisPhase{"a": successful, "b": running}, running, want{running, "b says Running"}},
		"duration passed, runs going, none required":                  {refs(false), map[string]v1alpha1.AnalysisPhase{"a": running}, successful, want{successful, "templates"}},
		"duration passed, runs done, none required":                   {refs(false), map[string]v1alpha1.AnalysisPhase{"a": successful}, successful, want{successful, ""}},
		"TestAssessAnalysisRunStatusesAfterTemplateSuccess/running":   {refs(true, true), map[string]v1alpha1.AnalysisPhase{"a": running, "b": successful}, successful, want{running, "a says Running"}},
		"TestAssessAnalysisRunStatusesAfterTemplateSuccess/failed":    {refs(true, true), map[string]v1alpha1.AnalysisPhase{"a": successful, "b": failed}, successful, want{failed, "b says Failed"}},
		"TestAssessAnalysisRunStatusesAfterTemplateSuccess/all":       {refs(true, true), map[string]v1alpha1.AnalysisPhase{"a": successful, "b": successful}, successful, want{successful, msgRequiredCompleted}},
		"a template failed":                                           {refs(false), map[string]v1alpha1.AnalysisPhase{"a": running}, failed, want{failed, "templates"}},
		"a template errored":                                          {refs(true), map[string]v1alpha1.AnalysisPhase{"a": successful}, errored, want{errored, "templates"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rs := runs(tc.runs)
			v := verdict{templates: tc.templates, templatesMsg: "templates"}
			v.runs, v.runsMsg = assessAnalyses(tc.analyses, rs)
			p, msg := experimentPhase(tc.analyses, rs, v)
			if diff := cmp.Diff(tc.want, want{p, msg}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestJudgeTemplate: a template's status from its counts, the duration, termination and its
// progress deadline (30 s here), Argo's message when the deadline passes.
func TestJudgeTemplate(t *testing.T) {
	type want struct {
		Status v1alpha1.TemplateStatusCode
		Msg    string
	}
	cases := map[string]struct {
		status             v1alpha1.TemplateStatusCode
		desired, available int32
		lastTransition     *metav1.Time
		passed, ending     bool
		want               want
	}{
		"at its replicas":            {"", 1, 1, at(0), false, false, want{v1alpha1.TemplateStatusRunning, ""}},
		"duration passed":            {v1alpha1.TemplateStatusRunning, 1, 1, at(0), true, false, want{v1alpha1.TemplateStatusSuccessful, ""}},
		"terminated at its replicas": {v1alpha1.TemplateStatusRunning, 0, 0, at(0), false, true, want{v1alpha1.TemplateStatusSuccessful, ""}},
		"short of replicas":          {"", 2, 1, at(0), false, false, want{v1alpha1.TemplateStatusProgressing, ""}},
		"no transition time yet":     {"", 1, 0, nil, false, false, want{v1alpha1.TemplateStatusProgressing, ""}},
		"deadline passed":            {v1alpha1.TemplateStatusProgressing, 1, 0, at(-31 * time.Second), false, false, want{v1alpha1.TemplateStatusFailed, "Template 'x' exceeded its progressDeadlineSeconds (30)"}},
		"deadline not passed":        {v1alpha1.TemplateStatusProgressing, 1, 0, at(-30 * time.Second), false, false, want{v1alpha1.TemplateStatusProgressing, ""}},
		"ending while scaling down":  {v1alpha1.TemplateStatusRunning, 0, 1, at(0), false, true, want{v1alpha1.TemplateStatusSuccessful, ""}},
		"completed stays":            {v1alpha1.TemplateStatusFailed, 1, 1, at(0), false, false, want{v1alpha1.TemplateStatusFailed, ""}},
		"deadline beats ending":      {v1alpha1.TemplateStatusRunning, 0, 1, at(-time.Hour), false, true, want{v1alpha1.TemplateStatusFailed, "Template 'x' exceeded its progressDeadlineSeconds (30)"}},
		"running loses pods":         {v1alpha1.TemplateStatusRunning, 2, 1, at(0), false, false, want{v1alpha1.TemplateStatusProgressing, ""}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ts := v1alpha1.TemplateStatus{Name: "x", Status: tc.status, AvailableReplicas: tc.available, LastTransitionTime: tc.lastTransition}
			judgeTemplate(&ts, tc.desired, tc.passed, tc.ending, 30, t0)
			if diff := cmp.Diff(tc.want, want{ts.Status, ts.Message}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestTerminatingAndDesired: what makes an experiment end, and the replicas a template then
// gets.
func TestTerminatingAndDesired(t *testing.T) {
	type want struct {
		Ending  bool
		Desired int32
	}
	cases := map[string]struct {
		edit func(*v1alpha1.Experiment)
		want want
	}{
		"running":            {func(*v1alpha1.Experiment) {}, want{false, 3}},
		"terminate":          {func(e *v1alpha1.Experiment) { e.Spec.Terminate = true }, want{true, 0}},
		"completed":          {func(e *v1alpha1.Experiment) { e.Status.Phase = successful }, want{true, 0}},
		"a template errored": {func(e *v1alpha1.Experiment) { e.Status.TemplateStatuses[1].Status = v1alpha1.TemplateStatusError }, want{true, 0}},
		"a run inconclusive": {func(e *v1alpha1.Experiment) { e.Status.AnalysisRuns[0].Phase = inconclusiv }, want{true, 0}},
		"required succeeded": {func(e *v1alpha1.Experiment) {
			e.Spec.Analyses[0].RequiredForCompletion = true
			e.Status.AnalysisRuns[0].Phase = successful
		}, want{true, 0}},
		"a successful run not required": {func(e *v1alpha1.Experiment) { e.Status.AnalysisRuns[0].Phase = successful }, want{false, 3}},
		"its own status completed":      {func(e *v1alpha1.Experiment) { e.Status.TemplateStatuses[0].Status = v1alpha1.TemplateStatusSuccessful }, want{false, 0}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ex := &v1alpha1.Experiment{
				Spec: v1alpha1.ExperimentSpec{
					Templates: []v1alpha1.TemplateSpec{{Name: "x", Replicas: ptr.To[int32](3)}, {Name: "y"}},
					Analyses:  refs(false),
				},
				Status: v1alpha1.ExperimentStatus{Phase: running,
					TemplateStatuses: []v1alpha1.TemplateStatus{{Name: "x", Status: v1alpha1.TemplateStatusRunning}, {Name: "y", Status: v1alpha1.TemplateStatusRunning}},
					AnalysisRuns:     runs(map[string]v1alpha1.AnalysisPhase{"a": running})},
			}
			tc.edit(ex)
			got := want{terminating(ex), desiredReplicas(ex, &ex.Spec.Templates[0])}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestWakeTime: the end of the duration or the earliest progress deadline of a template short
// of its replicas; nothing for an ending experiment.
func TestWakeTime(t *testing.T) {
	base := func() *v1alpha1.Experiment {
		return &v1alpha1.Experiment{Spec: v1alpha1.ExperimentSpec{
			Templates:               []v1alpha1.TemplateSpec{{Name: "x"}},
			ProgressDeadlineSeconds: ptr.To[int32](60),
		}}
	}
	cases := map[string]struct {
		duration string
		status   v1alpha1.ExperimentStatus
		want     time.Time
	}{
		"pending, short of pods": {"", v1alpha1.ExperimentStatus{Phase: pending, TemplateStatuses: []v1alpha1.TemplateStatus{
			{Name: "x", Status: v1alpha1.TemplateStatusProgressing, LastTransitionTime: at(-10 * time.Second)}}}, t0.Add(50 * time.Second)},
		"running with a duration": {"5m", v1alpha1.ExperimentStatus{Phase: running, AvailableAt: at(-time.Minute), TemplateStatuses: []v1alpha1.TemplateStatus{
			{Name: "x", Status: v1alpha1.TemplateStatusRunning, AvailableReplicas: 1, LastTransitionTime: at(-time.Minute)}}}, t0.Add(4 * time.Minute)},
		"running without a duration": {"", v1alpha1.ExperimentStatus{Phase: running, AvailableAt: at(-time.Minute), TemplateStatuses: []v1alpha1.TemplateStatus{
			{Name: "x", Status: v1alpha1.TemplateStatusRunning, AvailableReplicas: 1, LastTransitionTime: at(-time.Minute)}}}, time.Time{}},
		"a pod lost before the duration ends": {"5m", v1alpha1.ExperimentStatus{Phase: running, AvailableAt: at(-time.Minute), TemplateStatuses: []v1alpha1.TemplateStatus{
			{Name: "x", Status: v1alpha1.TemplateStatusRunning, LastTransitionTime: at(0)}}}, t0.Add(time.Minute)},
		"ending": {"5m", v1alpha1.ExperimentStatus{Phase: successful, AvailableAt: at(-time.Minute)}, time.Time{}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ex := base()
			if tc.duration != "" {
				ex.Spec.Duration = ptr.To(v1alpha1.DurationFromString(tc.duration))
			}
			if got := wakeTime(ex, tc.status, t0); !got.Equal(tc.want) {
				t.Errorf("wakeTime = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestResolvePlaceholders: Argo's experiment placeholders in argument values.
func TestResolvePlaceholders(t *testing.T) {
	values := map[string]string{"templates.baseline.podTemplateHash": "abc123", "experiment.availableAt": "2025-03-01T10:00:00Z"}
	cases := map[string]struct {
		in, want, err string
	}{
		"plain":            {in: "purple", want: "purple"},
		"hash":             {in: "{{templates.baseline.podTemplateHash}}", want: "abc123"},
		"spaces and text":  {in: "hash={{ templates.baseline.podTemplateHash }}, at {{experiment.availableAt}}", want: "hash=abc123, at 2025-03-01T10:00:00Z"},
		"unknown":          {in: "{{templates.canary.podTemplateHash}}", err: "failed to resolve {{templates.canary.podTemplateHash}}"},
		"unclosed":         {in: "{{templates.baseline", err: `cannot find end tag="}}" in the template="{{templates.baseline" starting from "templates.baseline"`},
		"args are unknown": {in: "{{args.host}}", err: "failed to resolve {{args.host}}"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := resolvePlaceholders(tc.in, values)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tc.err || (err == nil && got != tc.want) {
				t.Errorf("resolvePlaceholders(%q) = %q, %q; want %q, %q", tc.in, got, gotErr, tc.want, tc.err)
			}
		})
	}
}
