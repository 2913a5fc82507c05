package v1alpha1

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

func TestDurationParse(t *testing.T) {
	tests := map[string]struct {
		json    string // as written in JSON
		want    time.Duration
		wantErr bool
		number  bool
	}{
		"JSON number is seconds":          {json: `5`, want: 5 * time.Second, number: true},
		"zero":                            {json: `0`, want: 0, number: true},
		"numeric string is seconds":       {json: `"30"`, want: 30 * time.Second},
		"numeric string with spaces":      {json: `" 30 "`, want: 30 * time.Second},
		"Go duration seconds":             {json: `"30s"`, want: 30 * time.Second},
		"Go duration hours":               {json: `"1h"`, want: time.Hour},
		"Go duration compound":            {json: `"1h30m"`, want: 90 * time.Minute},
		"Go duration fractional":          {json: `"1.5s"`, want: 1500 * time.Millisecond},
		"milliseconds":                    {json: `"250ms"`, want: 250 * time.Millisecond},
		"negative number":                 {json: `-5`, want: -5 * time.Second, number: true},
		"negative string":                 {json: `"-2m"`, want: -2 * time.Minute},
		"empty string":                    {json: `""`, wantErr: true},
		"words":                           {json: `"ten minutes"`, wantErr: true},
		"unit without number":             {json: `"s"`, wantErr: true},
		"days are not a Go duration unit": {json: `"1d"`, wantErr: true},
		"huge numeric string":             {json: `"99999999999999999"`, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var d DurationString
			if err := json.Unmarshal([]byte(tc.json), &d); err != nil {
				t.Fatalf("unmarshal %s: %v", tc.json, err)
			}
			if d.IsNumber() != tc.number {
				t.Errorf("IsNumber() = %v, want %v", d.IsNumber(), tc.number)
			}
			got, err := d.Duration()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Duration() error = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && got != tc.want {
				t.Errorf("Duration() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDurationUnmarshalErrors(t *testing.T) {
	for name, in := range map[string]string{
		"fraction":      `1.5`,
		"exponent":      `1e3`,
		"object":        `{}`,
		"list":          `[5]`,
		"bool":          `true`,
		"too big":       `9999999999`,
		"broken string": `"abc`,
	} {
		t.Run(name, func(t *testing.T) {
			var d DurationString
			if err := json.Unmarshal([]byte(in), &d); err == nil {
				t.Errorf("%s was accepted as %v", in, d)
			}
		})
	}
}

// TestDurationRoundTrip checks that a duration is written back the way it
// was read, in JSON and in YAML.
func TestDurationRoundTrip(t *testing.T) {
	tests := map[string]struct{ in, wantYAML string }{
		"number stays a number":          {"interval: 5\n", "interval: 5\n"},
		"numeric string stays a string":  {"interval: \"5\"\n", "interval: \"5\"\n"},
		"duration string stays a string": {"interval: 30s\n", "interval: 30s\n"},
		"quoted duration string":         {"interval: \"1h\"\n", "interval: 1h\n"},
		"absent stays absent":            {"name: m\n", "name: m\n"},
		"explicit zero survives":         {"interval: 0\n", "interval: 0\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var m struct {
				Name     string          `json:"name,omitempty"`
				Interval *DurationString `json:"interval,omitempty"`
			}
			if err := yaml.UnmarshalStrict([]byte(tc.in), &m); err != nil {
				t.Fatal(err)
			}
			out, err := yaml.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantYAML, string(out)); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDurationHelpers(t *testing.T) {
	if got := DurationFromInt(90).String(); got != "90" {
		t.Errorf("DurationFromInt(90).String() = %q", got)
	}
	if got := DurationFromString("2m").String(); got != "2m" {
		t.Errorf("DurationFromString.String() = %q", got)
	}
	if s, err := DurationFromString("2m").Seconds(); err != nil || s != 120 {
		t.Errorf("Seconds() = %d, %v", s, err)
	}
	if !(DurationString{}).IsZero() || DurationFromInt(1).IsZero() || DurationFromString("").IsZero() {
		t.Error("IsZero is wrong")
	}
	if _, err := DurationFromString("x").Seconds(); err == nil {
		t.Error("Seconds() accepted x")
	}
	var d DurationString
	if err := json.Unmarshal([]byte("null"), &d); err != nil || !d.IsZero() {
		t.Errorf("null: %v %v", d, err)
	}
}
