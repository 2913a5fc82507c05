package keptn

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSplitType(t *testing.T) {
	type result struct{ Task, Kind, Err string }
	tests := map[string]struct {
		in   string
		want result
	}{
		"release triggered": {in: "sh.keptn.event.release.triggered", want: result{Task: "release", Kind: "triggered"}},
		"task with a dot":   {in: "sh.keptn.event.prod.delivery.finished", want: result{Task: "prod.delivery", Kind: "finished"}},
		"other prefix":      {in: "com.example.release.triggered", want: result{Err: `type "com.example.release.triggered" is not a Keptn task event (sh.keptn.event.TASK.KIND)`}},
		"no kind":           {in: "sh.keptn.event.release", want: result{Err: `type "sh.keptn.event.release" is not a Keptn task event (sh.keptn.event.TASK.KIND)`}},
		"empty kind":        {in: "sh.keptn.event.release.", want: result{Err: `type "sh.keptn.event.release." is not a Keptn task event (sh.keptn.event.TASK.KIND)`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			task, kind, err := splitType(tc.in)
			got := result{Task: task, Kind: kind}
			if err != nil {
				got.Err = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseTriggered(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    *TriggeredData
		wantErr string
	}{
		"deployment": {
			in: `{"project":"p","stage":"prod","service":"s","configurationChange":{"values":{"image":"i:1"}},"deployment":{"deploymentstrategy":"user_managed"}}`,
			want: &TriggeredData{EventData: EventData{Project: "p", Stage: "prod", Service: "s"},
				ConfigurationChange: &ConfigurationChange{Values: map[string]any{"image": "i:1"}},
				Deployment:          &DeploymentData{DeploymentStrategy: "user_managed"}},
		},
		"empty":          {in: ``, wantErr: "the event has no data"},
		"not an object":  {in: `[1]`, wantErr: "data is not a Keptn event's JSON object: json: cannot unmarshal array into Go value of type keptn.TriggeredData"},
		"no stage":       {in: `{"project":"p","service":"s"}`, wantErr: "data.stage is missing"},
		"bad service":    {in: `{"project":"p","stage":"prod","service":"S_1"}`, wantErr: `data.service "S_1": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`},
		"project number": {in: `{"project":1,"stage":"prod","service":"s"}`, wantErr: "data is not a Keptn event's JSON object: json: cannot unmarshal number into Go struct field TriggeredData.EventData.project of type string"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseTriggered([]byte(tc.in))
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tc.wantErr, gotErr); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("data (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCanaryWait(t *testing.T) {
	type result struct {
		Wait time.Duration
		OK   bool
		Err  string
	}
	tests := map[string]struct {
		test *TestData
		want result
	}{
		"seed's real-user wait": {test: &TestData{TestStrategy: "real-user", CanaryWaitDuration: "2m"}, want: result{Wait: 2 * time.Minute, OK: true}},
		"canarywait strategy":   {test: &TestData{TestStrategy: "canarywait", CanaryWaitDuration: "90s"}, want: result{Wait: 90 * time.Second, OK: true}},
		"performance test":      {test: &TestData{TestStrategy: "performance"}, want: result{}},
		"no test data":          {want: result{}},
		"canarywait, no time":   {test: &TestData{TestStrategy: "canarywait"}, want: result{OK: true, Err: `data.test.canarywaitduration is missing for teststrategy "canarywait"`}},
		"not a duration":        {test: &TestData{CanaryWaitDuration: "2 minutes"}, want: result{OK: true, Err: `data.test.canarywaitduration "2 minutes": time: unknown unit " minutes" in duration "2 minutes"`}},
		"negative":              {test: &TestData{CanaryWaitDuration: "-1m"}, want: result{OK: true, Err: `data.test.canarywaitduration "-1m" must be positive`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			wait, ok, err := canaryWait(&TriggeredData{Test: tc.test})
			got := result{Wait: wait, OK: ok}
			if err != nil {
				got.Err = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestReleases(t *testing.T) {
	type result struct {
		Promote bool
		Why     string
	}
	tests := map[string]struct {
		strategy, result string
		want             result
	}{
		"user_managed, passed": {strategy: "user_managed", result: "pass", want: result{Promote: true}},
		"duplicate, passed":    {strategy: "duplicate", result: "pass", want: result{Promote: true}},
		"user_managed, warning": {strategy: "user_managed", result: "warning",
			want: result{Why: `nothing to do: the previous task's result is "warning", not pass`}},
		"direct, passed": {strategy: "direct", result: "pass",
			want: result{Why: `nothing to do: deployment strategy "direct" is neither user_managed nor duplicate`}},
		"no strategy": {result: "pass",
			want: result{Why: `nothing to do: deployment strategy "" is neither user_managed nor duplicate`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := &TriggeredData{EventData: EventData{Result: tc.result}}
			if tc.strategy != "" {
				d.Deployment = &DeploymentData{DeploymentStrategy: tc.strategy}
			}
			promote, why := releases(d)
			if diff := cmp.Diff(tc.want, result{Promote: promote, Why: why}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
