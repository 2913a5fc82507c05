// Package keptn lets Vane take Keptn's delivery tasks itself: a CloudEvents receiver for
// Keptn's `sh.keptn.event.<task>.triggered` events (deployment, release, rollback and the
// canary-wait test), a scheduler that acts on the Rollout through internal/actions and answers
// with `.started` and `.finished` events, and a record of every task kept in the cluster (one
// ConfigMap per rollout) so that a retried event acts once and a restart resumes pending waits.
//
// The event data types below are written from Keptn's published CloudEvents specification
// (github.com/keptn/spec, cloudevents.md, spec version 0.2.x).
package keptn

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// EventTypePrefix starts the type of every Keptn task event.
const EventTypePrefix = "sh.keptn.event."

// The tasks Vane handles.
const (
	TaskDeployment = "deployment"
	TaskRelease    = "release"
	TaskRollback   = "rollback"
	TaskTest       = "test"
)

// The kinds of a task's events.
const (
	KindTriggered = "triggered"
	KindStarted   = "started"
	KindFinished  = "finished"
)

// Results and statuses of a finished task, as Keptn's spec names them.
const (
	ResultPass      = "pass"
	ResultFail      = "fail"
	StatusSucceeded = "succeeded"
	StatusErrored   = "errored"
)

// Extension attributes Keptn adds to its CloudEvents.
const (
	ExtContext     = "shkeptncontext"
	ExtTriggeredID = "triggeredid"
	ExtSpecVersion = "shkeptnspecversion"
)

// SpecVersion is the version of Keptn's spec the events Vane sends follow.
const SpecVersion = "0.2.4"

// EventData is what the data of every Keptn task event carries.
type EventData struct {
	Project string            `json:"project"`
	Stage   string            `json:"stage"`
	Service string            `json:"service"`
	Labels  map[string]string `json:"labels,omitempty"`
	Status  string            `json:"status,omitempty"`
	Result  string            `json:"result,omitempty"`
	Message string            `json:"message,omitempty"`
}

// ConfigurationChange is the change a deployment.triggered event asks for.
type ConfigurationChange struct {
	Values map[string]any `json:"values,omitempty"`
}

// DeploymentData is the `deployment` part of deployment, release and test events.
type DeploymentData struct {
	DeploymentStrategy   string   `json:"deploymentstrategy,omitempty"`
	DeploymentURIsLocal  []string `json:"deploymentURIsLocal,omitempty"`
	DeploymentURIsPublic []string `json:"deploymentURIsPublic,omitempty"`
	DeploymentNames      []string `json:"deploymentNames,omitempty"`
	GitCommit            string   `json:"gitCommit,omitempty"`
}

// TestData is the `test` part of test events; the shipyard's task properties (teststrategy,
// canarywaitduration) arrive in it on test.triggered, start and end leave in test.finished.
type TestData struct {
	TestStrategy       string `json:"teststrategy,omitempty"`
	CanaryWaitDuration string `json:"canarywaitduration,omitempty"`
	Start              string `json:"start,omitempty"`
	End                string `json:"end,omitempty"`
}

// TriggeredData is the data of a `.triggered` event Vane reads.
type TriggeredData struct {
	EventData
	ConfigurationChange *ConfigurationChange `json:"configurationChange,omitempty"`
	Deployment          *DeploymentData      `json:"deployment,omitempty"`
	Test                *TestData            `json:"test,omitempty"`
}

// FinishedData is the data of the `.started` and `.finished` events Vane sends.
type FinishedData struct {
	EventData
	Deployment *DeploymentData `json:"deployment,omitempty"`
	Test       *TestData       `json:"test,omitempty"`
}

// CanaryWaitStrategy is the test strategy whose only step is the canary wait.
const CanaryWaitStrategy = "canarywait"

// splitType returns the task and kind of a Keptn event type (sh.keptn.event.TASK.KIND).
func splitType(t string) (task, kind string, err error) {
	rest, ok := strings.CutPrefix(t, EventTypePrefix)
	if !ok {
		return "", "", fmt.Errorf("type %q is not a Keptn task event (%sTASK.KIND)", t, EventTypePrefix)
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 || i == len(rest)-1 {
		return "", "", fmt.Errorf("type %q is not a Keptn task event (%sTASK.KIND)", t, EventTypePrefix)
	}
	return rest[:i], rest[i+1:], nil
}

// parseTriggered decodes and checks a triggered event's data.
func parseTriggered(raw []byte) (*TriggeredData, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("the event has no data")
	}
	d := &TriggeredData{}
	if err := json.Unmarshal(raw, d); err != nil {
		return nil, fmt.Errorf("data is not a Keptn event's JSON object: %w", err)
	}
	for _, f := range []struct{ name, value string }{
		{"project", d.Project}, {"stage", d.Stage}, {"service", d.Service},
	} {
		if f.value == "" {
			return nil, fmt.Errorf("data.%s is missing", f.name)
		}
		if errs := validation.IsDNS1123Label(f.value); len(errs) > 0 {
			return nil, fmt.Errorf("data.%s %q: %s", f.name, f.value, strings.Join(errs, "; "))
		}
	}
	return d, nil
}

// canaryWait returns the wait a test.triggered event asks Vane for: ok is false when the test
// is not a canary wait (another service runs it).
func canaryWait(d *TriggeredData) (wait time.Duration, ok bool, err error) {
	if d.Test == nil || (d.Test.CanaryWaitDuration == "" && d.Test.TestStrategy != CanaryWaitStrategy) {
		return 0, false, nil
	}
	if d.Test.CanaryWaitDuration == "" {
		return 0, true, fmt.Errorf("data.test.canarywaitduration is missing for teststrategy %q", CanaryWaitStrategy)
	}
	wait, err = time.ParseDuration(d.Test.CanaryWaitDuration)
	if err != nil {
		return 0, true, fmt.Errorf("data.test.canarywaitduration %q: %w", d.Test.CanaryWaitDuration, err)
	}
	if wait <= 0 {
		return 0, true, fmt.Errorf("data.test.canarywaitduration %q must be positive", d.Test.CanaryWaitDuration)
	}
	return wait, true, nil
}

// releases reports whether a release.triggered event asks for a promotion: the deployment
// strategy is user_managed or duplicate and the previous task (the approval) passed.
func releases(d *TriggeredData) (bool, string) {
	strategy := ""
	if d.Deployment != nil {
		strategy = d.Deployment.DeploymentStrategy
	}
	if strategy != "user_managed" && strategy != "duplicate" {
		return false, fmt.Sprintf("nothing to do: deployment strategy %q is neither user_managed nor duplicate", strategy)
	}
	if d.Result != ResultPass {
		return false, fmt.Sprintf("nothing to do: the previous task's result is %q, not pass", d.Result)
	}
	return true, ""
}

// imageOf returns configurationChange.values.image ("" when absent).
func imageOf(d *TriggeredData) string {
	if d.ConfigurationChange == nil {
		return ""
	}
	s, _ := d.ConfigurationChange.Values["image"].(string)
	return s
}
