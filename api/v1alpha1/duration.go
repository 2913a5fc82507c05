package v1alpha1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// DurationString is a duration the way people write it in manifests.
//
//   - A bare number, as a JSON/YAML number (`interval: 5`) or as a numeric
//     string (`duration: "30"`), is a number of seconds.
//   - Any other string is a Go duration (`30s`, `5m`, `1h30m`).
//
// The value remembers how it was written and marshals back the same way,
// so decoding and re-encoding a manifest never changes it: `interval: 5`
// stays the number 5 and `interval: "5"` stays the string "5".
//
// In the CRD schema it is an int-or-string (x-kubernetes-int-or-string),
// the same schema Argo Rollouts uses for pause.duration. Argo itself only
// accepts strings for metric intervals; accepting a bare number there is a
// Vane extension. Use Duration to get a time.Duration; it reports an error
// for values that cannot be parsed, which validation turns into a field
// error.
//
// The type is defined on intstr.IntOrString so that the CRD generator gives
// it the int-or-string schema; use the methods below rather than the
// underlying fields.
type DurationString intstr.IntOrString

// DurationFromInt returns a DurationString of the given number of seconds,
// written as a number.
func DurationFromInt(seconds int) DurationString {
	return DurationString(intstr.FromInt32(int32(seconds)))
}

// DurationFromString returns a DurationString written as the string s
// (for example "30s" or "90").
func DurationFromString(s string) DurationString {
	return DurationString(intstr.FromString(s))
}

// DurationPtr is a helper for optional duration fields.
func DurationPtr(d DurationString) *DurationString { return &d }

// IsNumber reports whether the duration was written as a JSON number.
func (d DurationString) IsNumber() bool { return d.Type == intstr.Int }

// IsZero reports whether d is the zero value (which encodes as the number 0).
func (d DurationString) IsZero() bool {
	return d.Type == intstr.Int && d.IntVal == 0 && d.StrVal == ""
}

// String returns the duration as written: "5" for the number 5, "30s" for
// the string "30s".
func (d DurationString) String() string {
	if d.Type == intstr.String {
		return d.StrVal
	}
	return strconv.FormatInt(int64(d.IntVal), 10)
}

// Duration converts d to a time.Duration. Numbers and numeric strings are
// seconds; other strings are parsed with time.ParseDuration. An empty
// string or an unparsable value is an error.
func (d DurationString) Duration() (time.Duration, error) {
	if d.Type != intstr.String {
		return time.Duration(d.IntVal) * time.Second, nil
	}
	s := strings.TrimSpace(d.StrVal)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		const maxSeconds = int64(1<<63-1) / int64(time.Second)
		if n > maxSeconds || n < -maxSeconds {
			return 0, fmt.Errorf("duration %q is out of range", d.StrVal)
		}
		return time.Duration(n) * time.Second, nil
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use a number of seconds or a Go duration such as 30s, 5m or 1h", d.StrVal)
	}
	return dur, nil
}

// Seconds returns the duration in whole seconds, or an error if it cannot
// be parsed.
func (d DurationString) Seconds() (int64, error) {
	dur, err := d.Duration()
	if err != nil {
		return 0, err
	}
	return int64(dur / time.Second), nil
}

// MarshalJSON writes the duration the way it was read.
func (d DurationString) MarshalJSON() ([]byte, error) {
	if d.Type == intstr.String {
		return json.Marshal(d.StrVal)
	}
	return []byte(strconv.FormatInt(int64(d.IntVal), 10)), nil
}

// UnmarshalJSON accepts a JSON string or a JSON integer.
func (d *DurationString) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return fmt.Errorf("duration: empty value")
	}
	if bytes.Equal(data, []byte("null")) {
		*d = DurationString{}
		return nil
	}
	if data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("duration: %w", err)
		}
		*d = DurationFromString(s)
		return nil
	}
	n, err := strconv.ParseInt(string(data), 10, 32)
	if err != nil {
		return fmt.Errorf("duration: %s is not a whole number of seconds or a string", string(data))
	}
	*d = DurationString(intstr.FromInt32(int32(n)))
	return nil
}
