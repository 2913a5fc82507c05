// Package flagger is the pure engine behind Flagger's Canary (flagger.app/v1beta1): given a
// Canary, what the controller observed of its workloads and routes, and an Oracle for the
// questions only a webhook or a metric server can answer, Decide returns everything one
// analysis tick must do, in Flagger's order: the writes to workloads and routes, the new
// status, the events (each also sent to the Canary's event webhooks), the alerts and the
// post-rollout hooks to call after the writes.
//
// The engine asks the Oracle only the questions the path it takes needs, in the order Flagger
// asks them, because webhooks have effects (a pre-rollout hook may start a load test).
package flagger

import (
	"time"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// Readiness is whether a workload has rolled out.
type Readiness struct {
	// Ready: every replica is updated and enough are available (the ready threshold).
	Ready bool
	// Retriable is false, when not Ready, once the progress deadline has passed.
	Retriable bool
	// Message says why it is not ready, in Flagger's words.
	Message string
}

// Routes are the weights a router applies (out of 100) and whether it mirrors to the canary.
type Routes struct {
	Primary, Canary int
	Mirrored        bool
}

// Observed is what the controller read before deciding.
type Observed struct {
	// Now is the time of the tick.
	Now time.Time
	// Provider is spec.provider, or the controller's default.
	Provider string
	// TargetHash is the hash of the target's pod template (Flagger's lastAppliedSpec form).
	TargetHash string
	// TargetPromoted: the primary already runs the target's pod template (the primary's copy of
	// it, as promotion writes it). A Canary taken over from Flagger, whose hashes Vane's do not
	// reproduce, is then not mistaken for a new revision.
	TargetPromoted bool
	// Configs are the tracked ConfigMaps and Secrets the target uses now (name -> checksum).
	Configs map[string]string
	// Primary and Canary are the readiness of the primary workload and of the target.
	Primary, Canary Readiness
	// Routes are the weights the router applies now.
	Routes Routes
}

// Oracle answers what needs a call out.
type Oracle interface {
	// Hook calls webhook w with phase in the payload; nil when it answered with a 2xx.
	Hook(w flaggerv1.CanaryWebhook, phase flaggerv1.CanaryPhase) error
	// Metrics runs the analysis' metric checks: "" when they pass, else the Warning to record.
	Metrics() string
}

// ActionKind names a write to a workload or to the routes.
type ActionKind string

// Actions, applied in order; the first that fails stops the plan (no status, no events).
const (
	// ReconcileRoutes points the apex Service at the primary and reconciles the router's
	// objects (Flagger does it every tick, once the primary is ready).
	ReconcileRoutes ActionKind = "ReconcileRoutes"
	// ScaleToZero scales the target to zero replicas.
	ScaleToZero ActionKind = "ScaleToZero"
	// ScaleFromZero scales the target up (to its replicas, the primary's or the HPA minimum).
	ScaleFromZero ActionKind = "ScaleFromZero"
	// Promote copies the target's pod template (and configs) into the primary.
	Promote ActionKind = "Promote"
	// SetRoutes sets the router's weights.
	SetRoutes ActionKind = "SetRoutes"
)

// Action is one write.
type Action struct {
	Kind ActionKind
	// Routes, for SetRoutes.
	Routes Routes
}

// Event is a Kubernetes event (reason Synced, as Flagger's) and an event-webhook call.
type Event struct {
	Warning bool
	Message string
	// Phase is the phase the event webhook's payload carries.
	Phase flaggerv1.CanaryPhase
}

// Alert is a message for the Canary's alert providers.
type Alert struct {
	Message string
	// Metadata adds the Canary's fields (target, traffic, thresholds) to the alert.
	Metadata bool
	// Severity is info, warn or error.
	Severity string
}

// Plan is what one tick does.
type Plan struct {
	Actions []Action
	// Status is the new status (nil: unchanged).
	Status *flaggerv1.CanaryStatus
	Events []Event
	Alerts []Alert
	// PostRollout, when set, runs the post-rollout hooks with this phase after the writes.
	PostRollout flaggerv1.CanaryPhase
	// Weights, when set, are the weights to report in flagger_canary_weight.
	Weights *Routes
	// Analysed is set when the tick ran the analysis (its duration is reported).
	Analysed bool
}

// Alert severities.
const (
	SeverityInfo  = "info"
	SeverityWarn  = "warn"
	SeverityError = "error"
)

// Decide returns what one tick does for cd.
func Decide(cd *flaggerv1.Canary, obs Observed, o Oracle) Plan {
	d := &decider{cd: cd, obs: obs, o: o, name: cd.Name + "." + cd.Namespace,
		target: cd.Spec.TargetRef.Name + "." + cd.Namespace}
	d.decide()
	return d.plan
}

type decider struct {
	cd           *flaggerv1.Canary
	obs          Observed
	o            Oracle
	plan         Plan
	name, target string // <canary>.<namespace>, <target>.<namespace>
}

func (d *decider) phase() flaggerv1.CanaryPhase { return d.cd.Status.Phase }

func (d *decider) act(a Action) { d.plan.Actions = append(d.plan.Actions, a) }

func (d *decider) info(format string, args ...any) {
	d.eventAt(d.phase(), false, format, args...)
}

func (d *decider) warn(format string, args ...any) {
	d.eventAt(d.phase(), true, format, args...)
}

func (d *decider) alert(msg string, metadata bool, severity string) {
	d.plan.Alerts = append(d.plan.Alerts, Alert{Message: msg, Metadata: metadata, Severity: severity})
}

func (d *decider) setRoutes(r Routes) {
	d.act(Action{Kind: SetRoutes, Routes: r})
	d.plan.Weights = &r
}

func (d *decider) decide() {
	if d.initialize() {
		return
	}
	if !d.shouldAdvance() {
		return
	}
	if !d.cd.SkipAnalysis() && !d.primaryReady() {
		return
	}
	d.plan.Weights = &Routes{Primary: d.obs.Routes.Primary, Canary: d.obs.Routes.Canary}
	if !d.checkStatus() || d.restartOnRevision() || !d.canaryReady() || d.skipAnalysis() {
		return
	}
	d.progress()
}
