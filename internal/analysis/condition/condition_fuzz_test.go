package condition

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vanedev/vane/api/v1alpha1"
)

// fzTimeout bounds one evaluation of two conditions; expr's memory budget bounds what an
// expression may loop over, so this is far more than any needs.
const fzTimeout = 10 * time.Second

// fzClock finds a condition that reads the clock (expr's now()): two evaluations may differ.
var fzClock = regexp.MustCompile(`\bnow\b`)

// fzConditionLine finds a successCondition or failureCondition in YAML or Markdown.
var fzConditionLine = regexp.MustCompile(`(?m)(?:success|failure)Condition:\s*(.+)$`)

// fzConditions are the conditions of the repository's manifests and documentation, and
// expressions at the edges of expr: a loop past its memory budget, a string built past it
// (testdata/fuzz has the one that ended the process).
func fzConditions(tb testing.TB) []string {
	out := []string{"", `result == "ok"`, "result[0] >= 0", "all(result, # < 1000)", "result.ok && result.successPercent >= 0.90",
		"isNaN(result) || isInf(result)", "asInt(result) > 3", "asFloat(result) < 0.5", "isNil()", "default(0) < 5",
		"default(result, 1) == 1", "result ==", "len(result) > 0 && result[0] <= 0.01", `all(1..1000, all(1..1001, true))`,
		`len(repeat(repeat("a", 999), 1001)) > 0`, `now().Year() > 2000`}
	for _, glob := range []string{"../../../docs/*.md", "../../../examples/seeds/*.yaml", "../../../test/e2e/testdata/analysis/*.yaml",
		"../../../hack/demo/manifests/*.yaml"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			tb.Fatalf("%s: %v", glob, err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				tb.Fatalf("reading %s: %v", f, err)
			}
			for _, m := range fzConditionLine.FindAllStringSubmatch(string(data), -1) {
				out = append(out, fzUnquote(m[1]))
			}
		}
	}
	return out
}

// fzUnquote takes a YAML scalar's quotes or trailing comment off, roughly: a seed need not be
// exact.
func fzUnquote(s string) string {
	s = strings.TrimSpace(strings.TrimRight(s, "`"))
	if strings.HasPrefix(s, `"`) {
		if q, err := strconv.QuotedPrefix(s); err == nil {
			if u, err := strconv.Unquote(q); err == nil {
				return u
			}
		}
	}
	if i := strings.Index(s, " #"); i >= 0 {
		s = s[:i]
	}
	return s
}

// fzResults are measured values as providers return them, as JSON.
var fzResults = []string{`"ok"`, `0.95`, `[0.5]`, `[10, 1001]`, `{"ok": true, "successPercent": 0.95}`, `[]`, `null`, `"12"`,
	`{"service_apdex": {"values": {"values": [{"value": "9950"}]}}}`, `[{"Values": [0.001, 0.002, 0.003, 0.004, 0.005]}]`, `true`}

// fzResult turns the fuzzer's bytes into a measured value of the shape kind picks: decoded
// JSON (what the web, Datadog, New Relic... providers give), a list of floats and a float
// (Prometheus' vector and scalar, NaN and infinities included), or a plain string.
func fzResult(kind byte, data []byte) (any, bool) {
	switch kind % 4 {
	case 0:
		var v any
		return v, json.Unmarshal(data, &v) == nil
	case 1:
		var v []float64
		return v, json.Unmarshal(data, &v) == nil
	case 2:
		var b [8]byte
		copy(b[:], data)
		return math.Float64frombits(binary.LittleEndian.Uint64(b[:])), true
	}
	return string(data), true
}

// FuzzEvaluate judges any measured value against any pair of conditions and checks the
// outcome: no panic, no hang, one of the four phases, Successful without conditions, a reason
// otherwise, the result left as it was, the same outcome again (for a condition that does not
// read the clock), and the outcome Argo's rules give from each condition's own value (Eval).
func FuzzEvaluate(f *testing.F) {
	conds := fzConditions(f)
	for i, c := range conds {
		r := fzResults[i%len(fzResults)]
		f.Add(c, "", []byte(r), byte(0))
		f.Add(c, conds[(i+7)%len(conds)], []byte(r), byte(i))
	}
	f.Fuzz(func(t *testing.T, success, failure string, data []byte, kind byte) {
		result, ok := fzResult(kind, data)
		if !ok {
			return
		}
		before := Format(result)
		var got, again Outcome
		var want v1alpha1.AnalysisPhase
		within(t, fzTimeout, "Evaluate", func() {
			got = Evaluate(success, failure, result)
			again = Evaluate(success, failure, result)
			want = fzExpected(success, failure, result)
		})
		if after := Format(result); after != before {
			t.Fatalf("the result changed: %s -> %s", before, after)
		}
		fzCheckOutcome(t, success, failure, got, want)
		if got != again && !fzClock.MatchString(success+failure) {
			t.Fatalf("not deterministic: %+v, then %+v", got, again)
		}
	})
}

// fzExpected is the phase Argo's rules give from each condition's own value.
func fzExpected(success, failure string, result any) v1alpha1.AnalysisPhase {
	success, failure = strings.TrimSpace(success), strings.TrimSpace(failure)
	if success == "" && failure == "" {
		return v1alpha1.AnalysisPhaseSuccessful
	}
	if failure != "" {
		failed, err := Eval(failure, result)
		switch {
		case err != nil:
			return v1alpha1.AnalysisPhaseError
		case failed:
			return v1alpha1.AnalysisPhaseFailed
		case success == "":
			return v1alpha1.AnalysisPhaseSuccessful
		}
	}
	ok, err := Eval(success, result)
	switch {
	case err != nil:
		return v1alpha1.AnalysisPhaseError
	case ok:
		return v1alpha1.AnalysisPhaseSuccessful
	case failure != "":
		return v1alpha1.AnalysisPhaseInconclusive
	}
	return v1alpha1.AnalysisPhaseFailed
}

func fzCheckOutcome(t *testing.T, success, failure string, got Outcome, want v1alpha1.AnalysisPhase) {
	t.Helper()
	unset := strings.TrimSpace(success) == "" && strings.TrimSpace(failure) == ""
	switch {
	case got.Phase != want && !fzClock.MatchString(success+failure):
		t.Fatalf("phase %s (%s), want %s by the rules", got.Phase, got.Reason, want)
	case unset && (got.Phase != v1alpha1.AnalysisPhaseSuccessful || got.Reason != ""):
		t.Fatalf("no condition gave %+v", got)
	case !unset && got.Reason == "":
		t.Fatalf("phase %s without a reason", got.Phase)
	}
	switch got.Phase {
	case v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseInconclusive, v1alpha1.AnalysisPhaseError:
	default:
		t.Fatalf("phase %q", got.Phase)
	}
}

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
