package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/argoproj/notifications-engine/pkg/api"
	nctrl "github.com/argoproj/notifications-engine/pkg/controller"
	"github.com/argoproj/notifications-engine/pkg/services"
	"github.com/argoproj/notifications-engine/pkg/subscriptions"
	"github.com/argoproj/notifications-engine/pkg/triggers"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// delivery is one destination of one event's trigger, through the configuration that sends it.
type delivery struct {
	trigger string
	cfg     config
	dest    services.Destination
}

// deliver sends the notifications of a rollout's queued events, in order, skipping those
// already recorded as sent, then records what it sent in one patch of the rollout.
func (n *Notifier) deliver(ctx context.Context, key types.NamespacedName, batch []event) {
	configs, err := n.source.forNamespace(ctx, key.Namespace)
	if err != nil {
		if last := batch[len(batch)-1]; hasSubscriptions(last.ro) {
			n.warn(ctx, last, "%v", err)
		}
		if len(configs) == 0 {
			return
		}
	}
	plans := make([][]delivery, len(batch))
	due := false
	for i, e := range batch {
		plans[i] = n.plan(ctx, configs, e)
		due = due || len(plans[i]) > 0
	}
	if !due { // no subscription: no read, no write
		return
	}
	state, err := n.readState(ctx, key)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "reading the notified annotation; sending anyway", "rollout", key)
	}
	changed := false
	for i, e := range batch {
		if len(plans[i]) == 0 {
			continue
		}
		start := time.Now()
		for _, d := range plans[i] {
			changed = n.notify(ctx, e, d, state) || changed
		}
		if n.opts.Metrics != nil {
			n.opts.Metrics.Observe(key.Namespace, key.Name, time.Since(start).Seconds())
		}
	}
	if changed {
		n.persist(ctx, key, state)
	}
}

// plan lists the destinations subscribed to the event's trigger (annotations and the
// configurations' global subscriptions), each with the configuration that sends it: the
// first, the rollout namespace's before the controller's, that has its service and the
// trigger. A destination no configuration can serve is a NotificationFailed event.
func (n *Notifier) plan(ctx context.Context, configs []config, e event) []delivery {
	trigger := TriggerForReason(e.reason)
	var dests []services.Destination
	seen := map[services.Destination]bool{}
	add := func(ds []services.Destination) {
		for _, d := range ds {
			if !seen[d] {
				seen[d] = true
				dests = append(dests, d)
			}
		}
	}
	for _, c := range configs {
		cfg := c.api.GetConfig()
		byTrigger := cfg.GetGlobalDestinations(e.ro.Labels)
		byTrigger.Merge(subscriptions.NewAnnotations(e.ro.Annotations).GetDestinations(cfg.DefaultTriggers, cfg.ServiceDefaultTriggers))
		add(byTrigger[trigger])
	}
	if len(configs) == 0 {
		if ds := subscriptions.NewAnnotations(e.ro.Annotations).GetDestinations(nil, nil)[trigger]; len(ds) > 0 {
			n.warn(ctx, e, "trigger %s: no ConfigMap %s for the subscriptions of %s", trigger, ConfigMapName, e.ro.Name)
		}
		return nil
	}
	var out []delivery
	for _, d := range dests {
		c, err := pick(configs, trigger, d)
		if err != nil {
			n.warn(ctx, e, "trigger %s, service %s, recipient %s: %v", trigger, d.Service, d.Recipient, err)
			continue
		}
		out = append(out, delivery{trigger: trigger, cfg: c, dest: d})
	}
	return out
}

// pick returns the first configuration with the destination's service and the trigger.
func pick(configs []config, trigger string, d services.Destination) (config, error) {
	hasService := false
	for _, c := range configs {
		if _, ok := c.api.GetNotificationServices()[d.Service]; !ok {
			continue
		}
		hasService = true
		if _, ok := c.api.GetConfig().Triggers[trigger]; ok {
			return c, nil
		}
	}
	if !hasService {
		return config{}, fmt.Errorf("no service %q in %s (add service.%s)", d.Service, ConfigMapName, d.Service)
	}
	return config{}, fmt.Errorf("no trigger %q in %s", trigger, ConfigMapName)
}

// notify runs the trigger on the rollout as it was at the event and sends each firing
// condition's templates, unless the state records them as sent for this occurrence. It
// reports whether it recorded a new send in state.
func (n *Notifier) notify(ctx context.Context, e event, d delivery, state nctrl.NotificationsState) bool {
	obj, err := ObjectMap(e.ro)
	if err != nil {
		n.warn(ctx, e, "trigger %s, service %s, recipient %s: %v", d.trigger, d.dest.Service, d.dest.Recipient, err)
		return false
	}
	results, err := runTrigger(d.cfg.api, d.trigger, obj)
	if err != nil {
		n.warn(ctx, e, "trigger %s, service %s, recipient %s: %v", d.trigger, d.dest.Service, d.dest.Recipient, err)
		return false
	}
	occ := Occurrence(e.ro, e.eventType, e.reason, e.message)
	changed := false
	for i, res := range results {
		if !Fires(d.cfg.api.GetConfig().Triggers[d.trigger], i, res) {
			continue
		}
		k := StateKey(d.cfg.selfService, d.cfg.namespace, d.trigger, res, d.dest, occ)
		if _, sent := state[k]; sent {
			ctrl.LoggerFrom(ctx).V(1).Info("already sent", "rollout", client.ObjectKeyFromObject(e.ro), "key", k)
			continue
		}
		if err := n.send(ctx, d.cfg.api, obj, res.Templates, d.dest); err != nil {
			n.warn(ctx, e, "trigger %s, service %s, recipient %s: %v", d.trigger, d.dest.Service, d.dest.Recipient, err)
			continue
		}
		state[k] = time.Now().Unix()
		changed = true
		if n.opts.Metrics != nil {
			n.opts.Metrics.Sent(e.ro.Namespace, e.ro.Name, e.eventType, e.reason)
		}
	}
	return changed
}

// Fires tells whether the i-th condition of a trigger sends: its `when` is true, or it has
// none (Argo's built-in triggers have none: the event alone fires them).
func Fires(conds []triggers.Condition, i int, res triggers.ConditionResult) bool {
	return res.Triggered || (i < len(conds) && conds[i].When == "")
}

// runTrigger evaluates a trigger, a panic in the engine becoming an error.
func runTrigger(a api.API, trigger string, obj map[string]any) (res []triggers.ConditionResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("evaluating the trigger panicked: %v", r)
		}
	}()
	return a.RunTrigger(trigger, obj)
}

// send sends to one destination, giving up after the send timeout (the engine's services take
// no context: a send that hangs is left to finish on its own).
func (n *Notifier) send(ctx context.Context, a api.API, obj map[string]any, templates []string, dest services.Destination) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("sending panicked: %v", r)
			}
		}()
		done <- a.Send(obj, templates, dest)
	}()
	timer := time.NewTimer(n.opts.SendTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("no answer within %s", n.opts.SendTimeout)
	case <-ctx.Done():
		return fmt.Errorf("controller stopping: %w", ctx.Err())
	}
}

// readState reads what was already sent for the rollout, from the API server (not the
// cache, which may not have the notifier's last patch yet).
func (n *Notifier) readState(ctx context.Context, key types.NamespacedName) (nctrl.NotificationsState, error) {
	ro := &v1alpha1.Rollout{}
	if err := n.reader.Get(ctx, key, ro); err != nil {
		if apierrors.IsNotFound(err) {
			return nctrl.NotificationsState{}, nil
		}
		return nctrl.NotificationsState{}, fmt.Errorf("reading rollout %s: %w", key, err)
	}
	return nctrl.NewStateFromRes(ro), nil
}

// persist writes the notified annotation with a merge patch of that one key: it carries no
// resourceVersion, so it never conflicts (the reconciler's next optimistic status patch may,
// once, and is retried).
func (n *Notifier) persist(ctx context.Context, key types.NamespacedName, state nctrl.NotificationsState) {
	ro := &v1alpha1.Rollout{}
	ro.Namespace, ro.Name = key.Namespace, key.Name
	annotations, err := state.Persist(ro) // keeps the newest 100 keys
	if err == nil {
		var patch []byte
		patch, err = json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{
			subscriptions.NotifiedAnnotationKey(): annotations[subscriptions.NotifiedAnnotationKey()]}}})
		if err == nil {
			err = n.client.Patch(ctx, ro, client.RawPatch(types.MergePatchType, patch))
		}
	}
	if err != nil && !apierrors.IsNotFound(err) {
		ctrl.LoggerFrom(ctx).Error(err, "recording the notifications sent failed: a re-recorded event may notify again", "rollout", key)
	}
}

// subscribePrefix starts every subscription annotation (with or without a trigger).
const subscribePrefix = "notifications.argoproj.io/subscribe"

// mayNotify tells whether a rollout may have a destination at all: it carries a subscription
// annotation, or a configuration may subscribe it globally. Events and changes of the other
// rollouts are not queued.
func (n *Notifier) mayNotify(ro *v1alpha1.Rollout) bool {
	for k := range ro.Annotations {
		if strings.HasPrefix(k, subscribePrefix) {
			return true
		}
	}
	return n.source == nil || n.source.mayHaveGlobal()
}

// hasSubscriptions tells whether a rollout carries subscription annotations.
func hasSubscriptions(ro *v1alpha1.Rollout) bool {
	return len(subscriptions.NewAnnotations(ro.Annotations).GetDestinations(nil, nil)) > 0
}
