package strategy

// Helpers of the fuzz targets (canary_fuzz_test.go, bluegreen_fuzz_test.go,
// replay_fuzz_test.go): a reader that turns the fuzzer's bytes into small choices, the seed
// Rollouts of the repository, a hang guard and the checks every plan must pass.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/api/v1alpha1"
)

// fzT0 is the fuzz targets' clock origin.
var fzT0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// fzHashes are the ReplicaSets a fuzzed rollout may have: the new one, the stable one (the
// names the table tests use), and two older ones.
var fzHashes = []string{"n", "s", "o1", "o2"}

// fzDecisionTimeout bounds one engine decision; a decision takes microseconds, so running
// out of it means a loop that does not end.
const fzDecisionTimeout = 5 * time.Second

// fuzzBytes hands out the fuzzer's bytes as small choices; once they run out every choice is
// the zero one, so that a short input is a simple world.
type fuzzBytes struct{ b []byte }

func (r *fuzzBytes) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// intn returns a number in [0, n).
func (r *fuzzBytes) intn(n int) int {
	if n <= 0 {
		return 0
	}
	v := int(r.byte())<<8 | int(r.byte())
	return v % n
}

func (r *fuzzBytes) bool() bool { return r.byte()&1 == 1 }

// pick returns one of choices.
func pick[T any](r *fuzzBytes, choices ...T) T { return choices[r.intn(len(choices))] }

// within runs fn and fails t when fn panics (with its stack) or does not return within d.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	var panicked any
	var stack []byte
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				panicked, stack = p, debug.Stack()
			}
		}()
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %s", what, d)
	}
	if panicked != nil {
		t.Fatalf("%s panicked: %v\n%s", what, panicked, stack)
	}
}

// fzSeedFiles are the repository's manifests the seed corpora come from.
var fzSeedFiles = []string{"../../examples/seeds/*.yaml", "../../testdata/argo/corpus/*.yaml", "../../hack/demo/manifests/*.yaml"}

// fzSeedDocs returns, as JSON, every document of kind in the repository's example manifests.
func fzSeedDocs(tb testing.TB, kind string) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, glob := range fzSeedFiles {
		files, err := filepath.Glob(glob)
		if err != nil {
			tb.Fatalf("seed files %s: %v", glob, err)
		}
		for _, file := range files {
			out = append(out, fzDocsOfKind(tb, file, kind)...)
		}
	}
	if len(out) == 0 {
		tb.Fatalf("no %s in %v", kind, fzSeedFiles)
	}
	return out
}

func fzDocsOfKind(tb testing.TB, file, kind string) [][]byte {
	data, err := os.ReadFile(file)
	if err != nil {
		tb.Fatalf("reading seed file: %v", err)
	}
	var out [][]byte
	rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatalf("%s: %v", file, err)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			tb.Fatalf("%s: %v", file, err)
		}
		var head struct{ Kind string }
		if json.Unmarshal(js, &head) == nil && head.Kind == kind {
			out = append(out, js)
		}
	}
}

// fzValidSeed gives a table test's rollout the selector and template validation asks for, and
// returns it as JSON.
func fzValidSeed(tb testing.TB, ro *v1alpha1.Rollout) []byte {
	tb.Helper()
	labels := map[string]string{"app": "fuzz"}
	ro.Spec.Selector = &metav1.LabelSelector{MatchLabels: labels}
	ro.Spec.Template.Labels = labels
	if len(ro.Spec.Template.Spec.Containers) == 0 {
		ro.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Image: "app:1"}}
	}
	js, err := json.Marshal(ro)
	if err != nil {
		tb.Fatalf("encoding seed: %v", err)
	}
	return js
}

// fzDecode decodes a Rollout the controller would act on: valid, with steps the engine plays.
func fzDecode(data []byte) (*v1alpha1.Rollout, bool) {
	var ro v1alpha1.Rollout
	if json.Unmarshal(data, &ro) != nil {
		return nil, false
	}
	if len(v1alpha1.ValidateRollout(&ro)) > 0 || len(UnsupportedSteps(&ro)) > 0 {
		return nil, false
	}
	return &ro, true
}

// fzPods is a ReplicaSet's observed pods: a size up to twice spec.replicas, some existing,
// some of those available.
func fzPods(r *fuzzBytes, replicas int32) Pods {
	limit := int(min(int64(replicas)*2+2, 1<<15))
	spec := int32(r.intn(limit + 1))
	current := int32(r.intn(limit + 1))
	return Pods{Spec: spec, Current: current, Available: int32(r.intn(int(current) + 1))}
}

// fzPhase is a run's or an Experiment's phase, "" while not picked up.
func fzPhase(r *fuzzBytes) v1alpha1.AnalysisPhase {
	return pick(r, "", v1alpha1.AnalysisPhasePending, v1alpha1.AnalysisPhaseRunning, v1alpha1.AnalysisPhaseSuccessful,
		v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseInconclusive)
}

// fzRecord is a run record of the status, nil or named name.
func fzRecord(r *fuzzBytes, name string) *v1alpha1.RolloutAnalysisRunStatus {
	if !r.bool() {
		return nil
	}
	return &v1alpha1.RolloutAnalysisRunStatus{Name: name, Status: fzPhase(r)}
}

// fzRun is the run the controller found for a status record (nil: none recorded, or gone).
func fzRun(r *fuzzBytes, rec *v1alpha1.RolloutAnalysisRunStatus) *Run {
	if rec == nil || !r.bool() {
		return nil
	}
	return &Run{Name: rec.Name, Phase: fzPhase(r), Message: "metric \"m\" failed"}
}

// fzRuns are the runs the status records, as the controller found them.
func fzRuns(r *fuzzBytes, st *v1alpha1.RolloutStatus, nSteps int) Runs {
	runs := Runs{Background: fzRun(r, st.Canary.CurrentBackgroundAnalysisRunStatus),
		Step: fzRun(r, st.Canary.CurrentStepAnalysisRunStatus), StepIndex: int32(r.intn(nSteps+3) - 1),
		PrePromotion: fzRun(r, st.BlueGreen.PrePromotionAnalysisRunStatus), PostPromotion: fzRun(r, st.BlueGreen.PostPromotionAnalysisRunStatus)}
	return runs
}

// fzPauses are pause conditions of any reason, started some time before fzT0.
func fzPauses(r *fuzzBytes) []v1alpha1.PauseCondition {
	var out []v1alpha1.PauseCondition
	for range r.intn(3) {
		out = append(out, v1alpha1.PauseCondition{Reason: pick(r, v1alpha1.PauseReasonCanaryPauseStep, v1alpha1.PauseReasonBlueGreenPause,
			v1alpha1.PauseReasonInconclusiveAnalysis, v1alpha1.PauseReasonInconclusiveExperiment),
			StartTime: metav1.NewTime(fzT0.Add(-time.Duration(r.intn(3600)) * time.Second))})
	}
	return out
}

// fzCommonStatus fuzzes the status fields both strategies read; the status is the user's to
// patch (kubectl argo rollouts promote, abort, retry; Argo CD's actions), so anything goes.
func fzCommonStatus(st *v1alpha1.RolloutStatus, r *fuzzBytes) {
	st.StableRS = pick(r, "", "s", "n", "o1", "gone")
	st.CurrentPodHash = pick(r, "", "n", "s")
	st.Abort, st.ControllerPause, st.PromoteFull = r.bool(), r.bool(), r.bool()
	st.AbortedAt = nil
	if r.bool() {
		st.AbortedAt = &metav1.Time{Time: fzT0.Add(-time.Duration(r.intn(3600)) * time.Second)}
	}
	st.PauseConditions = fzPauses(r)
	st.Replicas, st.UpdatedReplicas, st.AvailableReplicas = int32(r.intn(12)), int32(r.intn(12)), int32(r.intn(12))
	st.ObservedGeneration = pick(r, "", "3", "2")
	st.Conditions = nil
	for range r.intn(3) {
		st.Conditions = append(st.Conditions, v1alpha1.RolloutCondition{
			Type:           pick(r, v1alpha1.RolloutProgressing, v1alpha1.RolloutPaused, v1alpha1.RolloutAvailable, v1alpha1.InvalidSpec),
			Status:         pick(r, corev1.ConditionTrue, corev1.ConditionFalse),
			Reason:         pick(r, "ReplicaSetUpdated", ReasonPaused, ReasonAborted, ReasonDeadlineExceeded, "NewReplicaSetAvailable"),
			LastUpdateTime: metav1.NewTime(fzT0.Add(-fzSeconds(r, 7200))), LastTransitionTime: metav1.NewTime(fzT0.Add(-time.Hour))})
	}
}

// fzCheckProgress judges progress and the phase as the controller does after a plan (read:
// the status as read; st: the plan's) and checks the verdict holds together.
func fzCheckProgress(t *testing.T, spec *v1alpha1.RolloutSpec, read, st *v1alpha1.RolloutStatus, now time.Time) {
	t.Helper()
	var p Progress
	var phase v1alpha1.RolloutPhase
	var recheck time.Duration
	within(t, fzDecisionTimeout, "JudgeProgress", func() {
		p = JudgeProgress(ProgressInput{Spec: spec, Generation: 3, Read: read, Status: st, Now: now, NewRS: "ro-n"})
		phase, _ = RolloutPhase(spec, st)
		recheck = ProgressRecheck(spec, st, p, now)
	})
	if p.DeadlineExceeded && (p.Healthy || p.Progressing || !p.TimedOut) {
		t.Errorf("deadline exceeded, yet healthy, progressing or not timed out: %+v", p)
	}
	if p.Abort && p.Completed {
		t.Errorf("the progress deadline aborts a completed update: %+v", p)
	}
	if phase == "" {
		t.Error("no phase")
	}
	if recheck < 0 {
		t.Errorf("progress recheck in %s", recheck)
	}
}

// fzDeadline is a scale-down deadline: none, past or to come.
func fzDeadline(r *fuzzBytes) time.Time {
	if !r.bool() {
		return time.Time{}
	}
	return fzT0.Add(time.Duration(r.intn(1200)-600) * time.Second)
}

// fzSameOutcome fails t when two decisions on the same input differ.
func fzSameOutcome(t *testing.T, what string, a, b any) {
	t.Helper()
	if reflect.DeepEqual(a, b) { // cheap; cmp explains a difference
		return
	}
	if diff := cmp.Diff(a, b, cmp.Comparer(func(x, y time.Time) bool { return x.Equal(y) })); diff != "" {
		t.Fatalf("%s is not deterministic (-first +second):\n%s", what, diff)
	}
}

// fzUnchanged fails t when the engine changed its input.
func fzUnchanged(t *testing.T, before, after any) {
	t.Helper()
	if reflect.DeepEqual(before, after) { // cheap; the encodings show a difference
		return
	}
	b1, _ := json.Marshal(before)
	b2, _ := json.Marshal(after)
	if !bytes.Equal(b1, b2) {
		t.Fatalf("the engine changed its input:\nbefore: %s\nafter:  %s", b1, b2)
	}
}

// fzCheckReplicas checks the plan's replica counts: only for observed ReplicaSets, never
// negative, never above bound.
func fzCheckReplicas(t *testing.T, replicas map[string]int32, observed map[string]bool, bound int64) {
	t.Helper()
	for h, n := range replicas {
		if !observed[h] {
			t.Errorf("replicas for ReplicaSet %q, which was not observed", h)
		}
		if n < 0 || int64(n) > bound {
			t.Errorf("replicas[%s] = %d, want within 0..%d", h, n, bound)
		}
	}
}

// fzCheckDeadlines checks that scale-down deadlines are set only on observed ReplicaSets.
func fzCheckDeadlines(t *testing.T, deadlines map[string]time.Time, observed map[string]bool) {
	t.Helper()
	for h := range deadlines {
		if !observed[h] {
			t.Errorf("scale-down deadline for ReplicaSet %q, which was not observed", h)
		}
	}
}

// fzCheckEvents checks that every event has a reason and a message.
func fzCheckEvents(t *testing.T, events []Event) {
	t.Helper()
	for _, e := range events {
		if e.Reason == "" || e.Message == "" {
			t.Errorf("event without reason or message: %+v", e)
		}
	}
}

// fzMaxObserved is the largest spec.replicas among the observed ReplicaSets.
func fzMaxObserved(specs ...int32) int64 {
	var m int64
	for _, s := range specs {
		m = max(m, int64(s))
	}
	return m
}

func fzDescribe(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

// fzSeconds is a duration of up to n seconds.
func fzSeconds(r *fuzzBytes, n int) time.Duration { return time.Duration(r.intn(n)) * time.Second }
