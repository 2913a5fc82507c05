package canary

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/flagger/webhook"
	engine "github.com/vanedev/vane/internal/strategy/flagger"
)

// queueSize bounds the announcements waiting to be sent; a full queue makes the tick wait.
const queueSize = 1024

func (r *Reconciler) hooks() *webhook.Caller { return &webhook.Caller{Client: r.HTTP} }

// Start sends the announcements (event webhooks, alerts, post-rollout hooks) one after the
// other, in the order of the ticks that made them, until ctx ends. It is the manager's
// runnable; without it, announcements are sent in the tick.
func (r *Reconciler) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case f := <-r.queue():
			f()
		}
	}
}

func (r *Reconciler) queue() chan func() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.after == nil {
		r.after = make(chan func(), queueSize)
	}
	return r.after
}

// announce sends, after the tick's status is stored, its events to the event webhooks, its
// alerts to the alert providers and runs the post-rollout hooks; and reports the metrics.
func (r *Reconciler) announce(ctx context.Context, cd *flaggerv1.Canary, events []engine.Event, plan engine.Plan, took time.Duration) {
	r.report(cd, plan, took)
	ctx = context.WithoutCancel(ctx)
	r.queue() <- func() {
		for _, e := range events {
			r.sendEvent(ctx, cd, e)
		}
		for _, a := range plan.Alerts {
			if r.Alerts == nil {
				break
			}
			if err := r.Alerts.Alert(ctx, cd, a.Message, a.Metadata, a.Severity); err != nil {
				log.FromContext(ctx).Error(err, "alert not sent", "canary", cd.Name)
			}
		}
		if plan.PostRollout != "" {
			r.postRollout(ctx, cd, plan.PostRollout)
		}
	}
}

// report sets Flagger's metrics from the tick's outcome.
func (r *Reconciler) report(cd *flaggerv1.Canary, plan engine.Plan, took time.Duration) {
	if r.Stats == nil {
		return
	}
	phase := cd.Status.Phase
	if plan.Status != nil {
		phase = plan.Status.Phase
	}
	r.Stats.SetStatus(cd, phase)
	if plan.Weights != nil {
		r.Stats.SetWeight(cd, plan.Weights.Primary, plan.Weights.Canary)
	}
	if plan.Analysed {
		r.Stats.ObserveDuration(cd, took)
	}
}

// sendEvent posts an event to the Canary's event webhooks, or to the controller's when it has none.
func (r *Reconciler) sendEvent(ctx context.Context, cd *flaggerv1.Canary, e engine.Event) {
	kind := corev1.EventTypeNormal
	if e.Warning {
		kind = corev1.EventTypeWarning
	}
	hooks := eventHooks(cd)
	if len(hooks) == 0 && r.EventWebhook != "" {
		hooks = []flaggerv1.CanaryWebhook{{Name: "events", URL: r.EventWebhook}}
	}
	for _, w := range hooks {
		err := r.hooks().Event(ctx, cd, e.Phase, engine.Checksum(&cd.Status), w, e.Message, kind, r.Clock.Now())
		if err != nil {
			log.FromContext(ctx).Error(err, "error sending event to webhook", "canary", cd.Name, "webhook", w.Name)
		}
	}
}

func eventHooks(cd *flaggerv1.Canary) []flaggerv1.CanaryWebhook {
	var out []flaggerv1.CanaryWebhook
	for _, w := range cd.AnalysisSpec().Webhooks {
		if w.Type == flaggerv1.HookEvent {
			out = append(out, w)
		}
	}
	return out
}

// postRollout runs the post-rollout hooks with the phase the analysis ended in; each result is
// an event.
func (r *Reconciler) postRollout(ctx context.Context, cd *flaggerv1.Canary, phase flaggerv1.CanaryPhase) {
	for _, w := range cd.AnalysisSpec().Webhooks {
		if w.Type != flaggerv1.HookPostRollout {
			continue
		}
		e := engine.Event{Message: "Post-rollout check " + w.Name + " passed", Phase: cd.Status.Phase}
		if err := r.hooks().Call(ctx, cd, phase, engine.Checksum(&cd.Status), w); err != nil {
			e = engine.Event{Warning: true, Message: "Post-rollout hook " + w.Name + " failed " + err.Error(), Phase: cd.Status.Phase}
		}
		kind := corev1.EventTypeNormal
		if e.Warning {
			kind = corev1.EventTypeWarning
		}
		r.Recorder.Event(cd, kind, reasonSynced, e.Message)
		r.sendEvent(ctx, cd, e)
		if e.Warning {
			return
		}
	}
}
