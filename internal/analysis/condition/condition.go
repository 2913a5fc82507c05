// Package condition judges one measured value against a metric's successCondition and
// failureCondition, written in the expr language (github.com/expr-lang/expr) over the variable
// `result`, and says why in words.
//
// The outcome follows Argo Rollouts:
//
//	no condition                      -> Successful
//	only successCondition             -> Successful when true, Failed when false
//	only failureCondition             -> Failed when true, Successful when false
//	both                              -> Failed when failureCondition is true, else Successful when
//	                                     successCondition is true, else Inconclusive
//	an expression that does not compile, does not run or is not a bool -> Error
//
// Besides expr's own functions (len, all, any, filter, map, ...) conditions can call:
//
//	asInt(x)      x (a number or a numeric string) as an integer
//	asFloat(x)    x (a number or a numeric string) as a float
//	isNaN(x)      whether the number x is NaN
//	isInf(x)      whether the number x is +Inf or -Inf
//	isNil()       whether result is nil; isNil(x): whether x is nil
//	default(d)    result, or d when result is nil; default(x, d): x, or d when x is nil
//
// expr's repeat(s, n) is replaced by one that refuses a result of more than maxRepeat bytes
// before making it.
//
// The package is pure: no I/O, no clock.
package condition

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Outcome is the judgement of one measured value.
type Outcome struct {
	// Phase is Successful, Failed, Inconclusive or Error.
	Phase v1alpha1.AnalysisPhase
	// Reason explains the phase, naming the value and the condition, e.g.
	// `result "nok" does not satisfy result == "ok"`. It is empty for a success that needs
	// no explanation (no condition set).
	Reason string
}

// Evaluate judges result against the two conditions (either may be empty).
func Evaluate(successCondition, failureCondition string, result any) Outcome {
	success := strings.TrimSpace(successCondition)
	failure := strings.TrimSpace(failureCondition)
	val := Format(result)
	if success == "" && failure == "" {
		return Outcome{Phase: v1alpha1.AnalysisPhaseSuccessful}
	}
	if failure != "" {
		failed, err := Eval(failure, result)
		if err != nil {
			return errorOutcome(failure, result, err)
		}
		if failed {
			return Outcome{Phase: v1alpha1.AnalysisPhaseFailed,
				Reason: fmt.Sprintf("result %s meets the failure condition %s", val, failure)}
		}
		if success == "" {
			return Outcome{Phase: v1alpha1.AnalysisPhaseSuccessful,
				Reason: fmt.Sprintf("result %s does not meet the failure condition %s", val, failure)}
		}
	}
	ok, err := Eval(success, result)
	switch {
	case err != nil:
		return errorOutcome(success, result, err)
	case ok:
		return Outcome{Phase: v1alpha1.AnalysisPhaseSuccessful,
			Reason: fmt.Sprintf("result %s satisfies %s", val, success)}
	case failure != "":
		return Outcome{Phase: v1alpha1.AnalysisPhaseInconclusive,
			Reason: fmt.Sprintf("result %s satisfies neither the success condition %s nor the failure condition %s", val, success, failure)}
	default:
		return Outcome{Phase: v1alpha1.AnalysisPhaseFailed,
			Reason: fmt.Sprintf("result %s does not satisfy %s", val, success)}
	}
}

func errorOutcome(cond string, result any, err error) Outcome {
	msg := fmt.Sprintf("cannot evaluate %s with result %s: %v", cond, Format(result), err)
	if isEmpty(result) {
		msg += " (the provider returned no data: guard the condition, e.g. len(result) > 0 && ..., or use default(...))"
	}
	return Outcome{Phase: v1alpha1.AnalysisPhaseError, Reason: msg}
}

// isEmpty reports whether v is nil or an empty list.
func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array) && rv.Len() == 0
}

// Eval runs one boolean expression over result.
func Eval(expression string, result any) (bool, error) {
	env := map[string]any{"result": result}
	program, err := expr.Compile(expression, append(functions(result), expr.Env(env), expr.AsBool())...)
	if err != nil {
		return false, cleanError(err)
	}
	out, err := expr.Run(program, env)
	if err != nil {
		return false, cleanError(err)
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("the expression gives %T, not a bool", out)
	}
	return b, nil
}

// cleanError keeps the first line of expr's error (the rest is a source excerpt with a caret).
func cleanError(err error) error {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return errors.New(strings.TrimSpace(msg))
}

// maxRepeat is the longest string repeat makes, expr's memory budget. expr's own repeat
// bounds only the count, so that repeat(repeat("a", 999999), 1000000) asked for a terabyte,
// which is a fatal error that ends the whole process.
const maxRepeat = 1_000_000

// repeat is expr's repeat(s, n), which refuses a result longer than maxRepeat.
func repeat(p ...any) (any, error) {
	if len(p) != 2 {
		return nil, fmt.Errorf("repeat takes two arguments, got %d", len(p))
	}
	s, ok := p[0].(string)
	if !ok {
		return nil, fmt.Errorf("repeat: %s is not a string", Format(p[0]))
	}
	n, err := AsInt(p[1])
	if err != nil {
		return nil, fmt.Errorf("repeat: %w", err)
	}
	switch {
	case n < 0:
		return nil, fmt.Errorf("repeat: the count %d is negative", n)
	case n > 0 && int64(len(s)) > maxRepeat/n:
		return nil, fmt.Errorf("repeat: %d times %d bytes is more than %d bytes", n, len(s), maxRepeat)
	}
	return strings.Repeat(s, int(n)), nil
}

func functions(result any) []expr.Option {
	return []expr.Option{
		expr.Function("repeat", repeat, new(func(string, int) string)),
		expr.Function("asInt", func(p ...any) (any, error) {
			if len(p) != 1 {
				return nil, fmt.Errorf("asInt takes one argument, got %d", len(p))
			}
			return AsInt(p[0])
		}),
		expr.Function("asFloat", func(p ...any) (any, error) {
			if len(p) != 1 {
				return nil, fmt.Errorf("asFloat takes one argument, got %d", len(p))
			}
			return AsFloat(p[0])
		}),
		expr.Function("isNaN", func(p ...any) (any, error) {
			if len(p) != 1 {
				return nil, fmt.Errorf("isNaN takes one argument, got %d", len(p))
			}
			f, err := number(p[0])
			if err != nil {
				return nil, fmt.Errorf("isNaN: %w", err)
			}
			return math.IsNaN(f), nil
		}),
		expr.Function("isInf", func(p ...any) (any, error) {
			if len(p) != 1 {
				return nil, fmt.Errorf("isInf takes one argument, got %d", len(p))
			}
			f, err := number(p[0])
			if err != nil {
				return nil, fmt.Errorf("isInf: %w", err)
			}
			return math.IsInf(f, 0), nil
		}),
		expr.Function("isNil", func(p ...any) (any, error) {
			switch len(p) {
			case 0:
				return isNil(result), nil
			case 1:
				return isNil(p[0]), nil
			}
			return nil, fmt.Errorf("isNil takes at most one argument, got %d", len(p))
		}),
		expr.Function("default", func(p ...any) (any, error) {
			switch len(p) {
			case 1:
				if isNil(result) {
					return p[0], nil
				}
				return result, nil
			case 2:
				if isNil(p[0]) {
					return p[1], nil
				}
				return p[0], nil
			}
			return nil, fmt.Errorf("default takes one or two arguments, got %d", len(p))
		}),
	}
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Func, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

// AsInt converts a number or a numeric string to an int64.
func AsInt(v any) (int64, error) {
	switch x := v.(type) {
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("asInt: %q is not an integer", x)
		}
		return n, nil
	case json.Number:
		return AsInt(string(x))
	case bool, nil:
		return 0, fmt.Errorf("asInt: %s is not a number", Format(v))
	}
	f, err := number(v)
	if err != nil {
		return 0, fmt.Errorf("asInt: %w", err)
	}
	return int64(f), nil
}

// AsFloat converts a number or a numeric string to a float64.
func AsFloat(v any) (float64, error) {
	switch x := v.(type) {
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("asFloat: %q is not a number", x)
		}
		return f, nil
	case json.Number:
		return AsFloat(string(x))
	}
	f, err := number(v)
	if err != nil {
		return 0, fmt.Errorf("asFloat: %w", err)
	}
	return f, nil
}

// number returns a numeric value as a float64.
func number(v any) (float64, error) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), nil
	}
	return 0, fmt.Errorf("%s is not a number", Format(v))
}

// Format writes a measured value the way explanations show it: strings quoted, numbers as
// numbers, lists and objects as JSON, nil as nil.
func Format(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case string:
		return strconv.Quote(x)
	case float64:
		return formatFloat(x)
	case float32:
		return formatFloat(float64(x))
	case []float64:
		parts := make([]string, len(x))
		for i, f := range x {
			parts[i] = formatFloat(f)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
