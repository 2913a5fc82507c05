package condition

import (
	"math"
	"strings"
	"testing"

	"github.com/vanedev/vane/api/v1alpha1"
)

const (
	successful   = v1alpha1.AnalysisPhaseSuccessful
	failed       = v1alpha1.AnalysisPhaseFailed
	inconclusive = v1alpha1.AnalysisPhaseInconclusive
	errored      = v1alpha1.AnalysisPhaseError
)

func TestEvaluateOutcomeRules(t *testing.T) {
	for _, tc := range []struct {
		name             string
		success, failure string
		result           any
		want             v1alpha1.AnalysisPhase
		reason           string // substring of the reason
	}{
		{name: "no condition", result: "anything", want: successful},
		{name: "success only, true", success: `result == "ok"`, result: "ok", want: successful, reason: `result "ok" satisfies result == "ok"`},
		{name: "success only, false", success: `result == "ok"`, result: "nok", want: failed, reason: `result "nok" does not satisfy result == "ok"`},
		{name: "failure only, true", failure: `result > 10`, result: 12.0, want: failed, reason: "result 12 meets the failure condition result > 10"},
		{name: "failure only, false", failure: `result > 10`, result: 3.0, want: successful, reason: "does not meet the failure condition"},
		{name: "both, success", success: "result >= 0.9", failure: "result < 0.5", result: 0.95, want: successful},
		{name: "both, failure", success: "result >= 0.9", failure: "result < 0.5", result: 0.2, want: failed},
		{name: "both, neither", success: "result >= 0.9", failure: "result < 0.5", result: 0.7, want: inconclusive,
			reason: "result 0.7 satisfies neither the success condition result >= 0.9 nor the failure condition result < 0.5"},
		{name: "both true: failure wins", success: "result > 0", failure: "result > 1", result: 2.0, want: failed},
		{name: "whitespace-only conditions are unset", success: "  ", failure: "\n", result: 1.0, want: successful},

		{name: "vector index", success: "result[0] >= 0", result: []float64{0.5}, want: successful},
		{name: "range query: all values", success: "all(result, # < 1000)", result: []float64{10, 999}, want: successful},
		{name: "range query: one value too high", success: "all(result, # < 1000)", result: []float64{10, 1001}, want: failed},
		{name: "json object", success: "result.ok && result.successPercent >= 0.90", result: map[string]any{"ok": true, "successPercent": 0.95}, want: successful},
		{name: "int compared with float", success: "result == 1", result: 1.0, want: successful},
		{name: "multi-line condition", success: "result >= 1 &&\n result <= 3", result: 2.0, want: successful},

		{name: "syntax error", success: `result ==`, result: "ok", want: errored, reason: `cannot evaluate result == with result "ok"`},
		{name: "not a bool", success: `result`, result: "ok", want: errored, reason: "bool"},
		{name: "type mismatch", success: `result > 5`, result: "abc", want: errored},
		{name: "unknown variable", success: `foo == 1`, result: 1.0, want: errored, reason: "foo"},
		{name: "empty vector: explained", success: "result[0] >= 0", result: []float64{}, want: errored,
			reason: "the provider returned no data"},
		{name: "nil result indexed", success: "result[0] >= 0", result: nil, want: errored, reason: "no data"},
		{name: "failure condition errors", success: "result > 0", failure: "result ===", result: 1.0, want: errored},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Evaluate(tc.success, tc.failure, tc.result)
			if got.Phase != tc.want {
				t.Fatalf("phase %s (%s), want %s", got.Phase, got.Reason, tc.want)
			}
			if !strings.Contains(got.Reason, tc.reason) {
				t.Errorf("reason %q, want it to contain %q", got.Reason, tc.reason)
			}
			if got.Phase == errored && got.Reason == "" {
				t.Error("an error outcome needs a reason")
			}
		})
	}
}

func TestHelpers(t *testing.T) {
	for _, tc := range []struct {
		expr   string
		result any
		want   bool
		err    string // substring of the error, when one is expected
	}{
		{expr: `asInt(result) == 3`, result: "3", want: true},
		{expr: `asInt(result) == 3`, result: 3.9, want: true},
		{expr: `asInt(result) > 2`, result: " 7 ", want: true},
		{expr: `asInt(result) == 3`, result: "3.5", err: `asInt: "3.5" is not an integer`},
		{expr: `asInt(result) == 3`, result: true, err: "not a number"},
		{expr: `asFloat(result) >= 0.9`, result: "0.95", want: true},
		{expr: `asFloat(result) >= 0.9`, result: 1, want: true},
		{expr: `asFloat(result) >= 0.9`, result: "high", err: `asFloat: "high" is not a number`},
		{expr: `isNaN(result)`, result: math.NaN(), want: true},
		{expr: `isNaN(result[0])`, result: []float64{math.NaN()}, want: true},
		{expr: `isNaN(result)`, result: 1.0, want: false},
		{expr: `isNaN(result)`, result: "x", err: "isNaN"},
		{expr: `isInf(result)`, result: math.Inf(-1), want: true},
		{expr: `isInf(result)`, result: 5, want: false},
		{expr: `isNil()`, result: nil, want: true},
		{expr: `isNil()`, result: "x", want: false},
		{expr: `isNil(result)`, result: nil, want: true},
		{expr: `isNil(result.missing)`, result: map[string]any{"a": 1.0}, want: true},
		{expr: `default(0) == 0`, result: nil, want: true},
		{expr: `default(0) == 4`, result: 4.0, want: true},
		{expr: `default(result.missing, 5) == 5`, result: map[string]any{}, want: true},
		{expr: `default(result.rate, 5) == 1`, result: map[string]any{"rate": 1.0}, want: true},
		{expr: `len(result) == 0 || result[0] > 1`, result: []float64{}, want: true},
		{expr: `asInt()`, result: 1.0, err: "asInt takes one argument"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			got, err := Eval(tc.expr, tc.result)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("%s with result %v = %v, want %v", tc.expr, tc.result, got, tc.want)
			}
		})
	}
}

func TestErrorsAreOneLine(t *testing.T) {
	_, err := Eval("result ==", 1.0)
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q: want one line", err)
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{nil, "nil"},
		{"nok", `"nok"`},
		{0.95, "0.95"},
		{12.0, "12"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "+Inf"},
		{[]float64{1, 0.5}, "[1,0.5]"},
		{[]float64{}, "[]"},
		{true, "true"},
		{map[string]any{"a": 1}, `{"a":1}`},
	} {
		if got := Format(tc.in); got != tc.want {
			t.Errorf("Format(%#v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
